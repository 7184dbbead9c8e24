/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replays fuzz corpora without libFuzzer, so gcc builds run every corpus file as a test:
 * each argument is a file or a directory of files, each fed once to LLVMFuzzerTestOneInput. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
        char *buf = NULL;
        size_t len = 0;
        int r;

        r = read_full_file(path, 64U * 1024U * 1024U, &buf, &len);
        if (r < 0) {
                fprintf(stderr, "cannot read %s: %s\n", path, strerror(-r));
                return -1;
        }
        (void) LLVMFuzzerTestOneInput((const uint8_t *) buf, len);
        free(buf);
        return 0;
}

int main(int argc, char *argv[]) {
        unsigned n = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "cannot stat %s\n", argv[i]);
                        return 1;
                }
                if (S_ISDIR(st.st_mode)) {
                        struct dirent **list;
                        int m = scandir(argv[i], &list, NULL, alphasort);
                        if (m < 0)
                                return 1;
                        for (int j = 0; j < m; j++) {
                                char *p;
                                if (list[j]->d_name[0] != '.' && asprintf(&p, "%s/%s", argv[i], list[j]->d_name) >= 0) {
                                        if (run_file(p) < 0)
                                                return 1;
                                        n++;
                                        free(p);
                                }
                                free(list[j]);
                        }
                        free(list);
                } else {
                        if (run_file(argv[i]) < 0)
                                return 1;
                        n++;
                }
        }
        if (n == 0) {
                fprintf(stderr, "no corpus files given\n");
                return 1;
        }
        printf("%u corpus files replayed\n", n);
        return 0;
}
