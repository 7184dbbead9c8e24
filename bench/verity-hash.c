/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-verity-hash DATA TREE [THREADS]: writes DATA's dm-verity tree (sha256, 4 KiB blocks, a
 * fixed salt) in veritysetup's format to TREE and prints "<seconds> <salt hex> <root hex>".
 * bench/verity times it against `veritysetup format` of the same file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "hex.h"
#include "verity-hash.h"

int main(int argc, char *argv[]) {
        VerityParams p = { .hash_name = "sha256", .data_block_size = 4096, .hash_block_size = 4096, .salt_size = 32 };
        uint8_t root[VERITY_MAX_DIGEST_SIZE];
        size_t root_len;
        struct timespec a, b;
        struct stat st;
        unsigned threads;
        char *salt, *rh;
        int fd, tfd, r;

        if (argc < 3) {
                fprintf(stderr, "usage: %s DATA TREE [THREADS]\n", argv[0]);
                return 2;
        }
        threads = argc > 3 ? (unsigned) atoi(argv[3]) : verity_default_threads();
        for (size_t i = 0; i < p.salt_size; i++)
                p.salt[i] = (uint8_t) (i * 7 + 1);

        clock_gettime(CLOCK_MONOTONIC, &a);
        fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        tfd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || tfd < 0 || fstat(fd, &st) < 0) {
                perror("open");
                return 1;
        }
        p.data_size = (uint64_t) st.st_size;
        r = verity_hash_fd(fd, &p, tfd, threads, root, &root_len);
        if (r < 0) {
                fprintf(stderr, "hashing failed: %s\n", strerror(-r));
                return 1;
        }
        close(tfd);
        close(fd);
        clock_gettime(CLOCK_MONOTONIC, &b);

        salt = hex_encode(p.salt, p.salt_size);
        rh = hex_encode(root, root_len);
        printf("%.3f %s %s\n", (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9, salt, rh);
        free(salt);
        free(rh);
        return 0;
}
