/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* watcher FILE REPORT: reads FILE (a version number) in a tight loop, by path each time so every
 * read walks the mount stack, until SIGTERM; then writes to REPORT:
 *   reads=N errors=N empty=N backsteps=N first=V last=V seen=V1,V2,… notified=N [error=<first errno text>]
 * An error (ENOENT, EIO, …), an empty read or a version lower than the one before is exactly
 * what a downgrade window looks like. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop, notified;

static void on_term(int sig) {
        (void) sig;
        stop = 1;
}

/* A cooperative service hears of a pending update by SIGHUP (Notify=SIGHUP): count it. */
static void on_hup(int sig) {
        (void) sig;
        notified++;
}

int main(int argc, char *argv[]) {
        unsigned long reads = 0, errors = 0, empty = 0, backsteps = 0;
        long first = -1, last = -1;
        char seen[4096] = "", first_error[128] = "";
        struct sigaction sa = { .sa_handler = on_term };
        FILE *f;

        if (argc != 3) {
                fprintf(stderr, "usage: watcher FILE REPORT\n");
                return 2;
        }
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        {
                struct sigaction hup = { .sa_handler = on_hup };
                sigaction(SIGHUP, &hup, NULL);
        }

        while (!stop) {
                char buf[64];
                ssize_t n;
                long v;
                int fd;

                reads++;
                fd = open(argv[1], O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        if (!first_error[0])
                                snprintf(first_error, sizeof first_error, "open: %s", strerror(errno));
                        errors++;
                        continue;
                }
                n = read(fd, buf, sizeof buf - 1);
                if (n < 0 && !first_error[0])
                        snprintf(first_error, sizeof first_error, "read: %s", strerror(errno));
                close(fd);
                if (n < 0) {
                        errors++;
                        continue;
                }
                if (n == 0) {
                        empty++;
                        continue;
                }
                buf[n] = 0;
                v = strtol(buf, NULL, 10);
                if (first < 0)
                        first = v;
                if (last >= 0 && v < last)
                        backsteps++;
                if (v != last) {
                        size_t l = strlen(seen);
                        snprintf(seen + l, sizeof seen - l, "%s%ld", l ? "," : "", v);
                }
                last = v;
        }

        f = fopen(argv[2], "we");
        if (!f)
                return 1;
        fprintf(f, "reads=%lu errors=%lu empty=%lu backsteps=%lu first=%ld last=%ld seen=%s notified=%d%s%s\n", reads, errors,
                empty, backsteps, first, last, seen, (int) notified, first_error[0] ? " error=" : "", first_error);
        fclose(f);
        return 0;
}
