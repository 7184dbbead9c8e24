/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "fileio.h"
#include "test-util.h"

char *tu_make_tmpdir(void) {
        char *d = NULL;

        /* program_invocation_short_name (_GNU_SOURCE): e.g. /tmp/test-fileio.XXXXXX, so that a directory left
         * behind tells which test made it. */
        if (asprintf(&d, "/tmp/%s.XXXXXX", program_invocation_short_name) < 0)
                return NULL;
        if (!mkdtemp(d)) {
                free(d);
                return NULL;
        }
        return d;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

int tu_remove_tree(const char *path) {
        return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int tu_setup_tmpdir(void **state) {
        char *d = tu_make_tmpdir();

        if (!d)
                return -1;
        *state = d;
        return 0;
}

int tu_teardown_tmpdir(void **state) {
        char *d = *state;
        int r;

        r = tu_remove_tree(d);
        free(d);
        return r;
}

char *tu_join(const char *a, const char *b) {
        char *p = path_join(a, b);

        assert_non_null(p);
        return p;
}

char *tu_find_tool(const char *name) {
        _cleanup_free_ char *dirs = NULL;
        const char *path = getenv("PATH");
        char *saveptr = NULL;

        /* The sbin directories too: they are not in every user's PATH. */
        if (asprintf(&dirs, "%s:/usr/sbin:/sbin", path ? path : "") < 0)
                return NULL;
        for (char *d = strtok_r(dirs, ":", &saveptr); d; d = strtok_r(NULL, ":", &saveptr)) {
                char *p = path_join(d, name);

                if (p && access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

int tu_run(const char *const *argv, const char *out_path) {
        pid_t pid;
        int status;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

                if (out < 0 || null < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0)
                        _exit(126);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                assert_int_equal(errno, EINTR);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int tu_no_test_cases(const char *group) {
        fprintf(stderr, "%s: the group \"%s\" has no test cases; a test that checks nothing fails\n",
                program_invocation_short_name, group);
        return 1;
}
