/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replays fuzz corpora without libFuzzer, so gcc builds run every seed as a test. Each argument
 * is a file or a directory of files; each file goes once through the target's fuzz_verdict(), and
 * the parser's verdict must be the one the file's name promises (seed-name.h): a valid-… seed
 * accepted, any other refused, a bad-EXXX-… seed with exactly -EXXX.
 *
 * A crash, or an abort() from one of the target's checks, ends the run at once. A verdict that
 * breaks its name's promise does not: every seed runs, each prints one line, and the run fails at
 * the end if any seed, or none at all, failed its promise.
 *
 * With --names first, nothing is checked: for each file whose name does not state the verdict it
 * gets exactly (valid-…, or bad-EXXX-… with its errno), a `mv -n` command that renames it so, for
 * new inputs from a libFuzzer run (hex names) before they join a corpus. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "fuzz-target.h"
#include "seed-name.h"

typedef struct Tally {
        bool names; /* --names: suggest names instead of checking them */
        unsigned replayed, accepted, refused, wrong;
} Tally;

/* s in single quotes for sh. */
static void print_quoted(const char *s) {
        putchar('\'');
        for (; *s; s++)
                if (*s == '\'')
                        fputs("'\\''", stdout);
                else
                        putchar(*s);
        putchar('\'');
}

/* Prints a `mv -n` command giving path the name its verdict r calls for, unless it has it already:
 * valid-<rest> or bad-EXXX-<rest>, where <rest> is the old name without the verdict it claimed. */
static void suggest_name(const char *path, const SeedExpect *e, int r) {
        const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path, *rest = seed_name_description(base);
        char *to;

        if (r >= 0 ? e->accept : (!e->accept && e->error == r))
                return;
        if (asprintf(&to, "%.*s%s%s%s%s", (int) (base - path), path, r >= 0 ? "valid" : "bad-",
                     r >= 0 ? "" : strerrorname_np(-r) ?: "E", "-", rest) < 0) {
                perror("asprintf");
                exit(EXIT_FAILURE);
        }
        fputs("mv -n ", stdout);
        print_quoted(path);
        putchar(' ');
        print_quoted(to);
        putchar('\n');
        free(to);
}

/* -1 only when the file cannot be read or its name cannot be understood; a wrong verdict is
 * counted in t. */
static int run_file(const char *path, Tally *t) {
        char *buf = NULL, got[32], want[64];
        SeedExpect e;
        size_t len = 0;
        int r;

        if (seed_name_expect(path, &e) < 0) {
                if (!t->names) {
                        fprintf(stderr, "%s: the name starts bad-E… but does not name an errno (see docs/fuzzing.md)\n",
                                path);
                        return -1;
                }
                e = (SeedExpect){}; /* --names renames it anyway */
        }
        r = read_full_file(path, 64U * 1024U * 1024U, &buf, &len);
        if (r < 0) {
                fprintf(stderr, "cannot read %s: %s\n", path, strerror(-r));
                return -1;
        }
        if (t->names) {
                r = fuzz_verdict((const uint8_t *) buf, len);
                free(buf);
                suggest_name(path, &e, r);
                t->replayed++;
                return 0;
        }
        /* The name first: if the target crashes, the last line names the seed that did it. */
        printf("%s: ", path);
        fflush(stdout);
        r = fuzz_verdict((const uint8_t *) buf, len);
        free(buf);

        t->replayed++;
        if (r >= 0)
                t->accepted++;
        else
                t->refused++;
        seed_verdict_to_string(r, got, sizeof got);
        if (seed_expect_met(&e, r))
                printf("%s, as named\n", got);
        else {
                t->wrong++;
                printf("WRONG: the parser returned %d (%s), the name says %s\n", r, got,
                       seed_expect_to_string(&e, want, sizeof want));
        }
        return 0;
}

static int run_dir(const char *dir, Tally *t) {
        struct dirent **list;
        int m, r = 0;

        /* Name order, so that the output and any crash come in the same order on every run. */
        m = scandir(dir, &list, NULL, alphasort);
        if (m < 0) {
                fprintf(stderr, "cannot list %s: %s\n", dir, strerror(errno));
                return -1;
        }
        for (int j = 0; j < m; j++) {
                char *p;

                if (r >= 0 && list[j]->d_name[0] != '.') {
                        if (asprintf(&p, "%s/%s", dir, list[j]->d_name) < 0)
                                r = -1;
                        else {
                                r = run_file(p, t);
                                free(p);
                        }
                }
                free(list[j]);
        }
        free(list);
        return r;
}

int main(int argc, char *argv[]) {
        Tally t = {};
        int i = 1;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc > 1 && strcmp(argv[1], "--names") == 0) {
                t.names = true;
                i++;
        }
        for (; i < argc; i++) {
                struct stat st;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "cannot stat %s: %s\n", argv[i], strerror(errno));
                        return EXIT_FAILURE;
                }
                if ((S_ISDIR(st.st_mode) ? run_dir(argv[i], &t) : run_file(argv[i], &t)) < 0)
                        return EXIT_FAILURE;
        }
        if (t.replayed == 0) {
                fprintf(stderr, "no corpus files given\n");
                return EXIT_FAILURE;
        }
        if (t.names)
                return EXIT_SUCCESS;
        printf("%u corpus files replayed: %u accepted, %u refused", t.replayed, t.accepted, t.refused);
        if (t.wrong > 0) {
                printf("; %u against the verdict their names promise (WRONG above)\n", t.wrong);
                return EXIT_FAILURE;
        }
        printf(", each as its name promises\n");
        return EXIT_SUCCESS;
}
