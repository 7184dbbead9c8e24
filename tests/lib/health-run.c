/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* health-run CONFIG [VERSION [PREVIOUS]]: loads CONFIG as osupdate does (config_load()) and runs its
 * [Agent] health checks (health_run()) for VERSION (default "2"), the previous one PREVIOUS (default
 * "1"; "-" for none). Prints "verdict: passed" or "verdict: failed", then "output: " and the
 * output, then "children: none" if no child of ours is left unreaped and "fds: same" if as many
 * fds are open as before (or what differs). Exits 0 passed, 1 failed, 2 the agent's own error (printed with its errno),
 * 3 usage or configuration. A test driver, not installed. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cleanup.h"
#include "config.h"
#include "health.h"
#include "log.h"

static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        int n = 0;

        if (!d)
                return -errno;
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char *output = NULL;
        const char *version = argc > 2 ? argv[2] : "2", *previous = argc > 3 ? argv[3] : "1";
        Config c;
        int r, fds_before, fds_after;

        log_setup_from_env();
        if (argc < 2 || argc > 4) {
                fprintf(stderr, "Usage: %s CONFIG [VERSION [PREVIOUS|-]]\n", argv[0]);
                return 3;
        }
        if (strcmp(previous, "-") == 0)
                previous = NULL;
        r = config_load(argv[1], &c);
        if (r < 0) {
                fprintf(stderr, "health-run: cannot load %s: %s\n", argv[1], strerror(-r));
                return 3;
        }
        fds_before = count_fds();
        r = health_run(&c.agent, version, previous, &output);
        fds_after = count_fds();
        config_done(&c);
        if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
                printf("children: none\n");
        else
                printf("children: left behind\n");
        if (fds_before == fds_after)
                printf("fds: same\n");
        else
                printf("fds: %d before, %d after\n", fds_before, fds_after);
        if (r < 0) {
                printf("error: %s (%s)\n", strerror(-r), strerrorname_np(-r) ?: "?");
                return 2;
        }
        printf("verdict: %s\noutput: %s\n", r > 0 ? "passed" : "failed", output);
        return r > 0 ? 0 : 1;
}
