/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* remount-baseline TARGET DEVICE FSTYPE: the traditional switch, "unmount old, mount new"
 * (the one with a downgrade window), timed in-process like osupdate's own switch:
 * umount2(TARGET, MNT_DETACH) + mount(DEVICE, TARGET, FSTYPE, MS_RDONLY). Prints milliseconds. */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/mount.h>
#include <time.h>

int main(int argc, char *argv[]) {
        struct timespec a, b;

        if (argc != 4) {
                fprintf(stderr, "usage: remount-baseline TARGET DEVICE FSTYPE\n");
                return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (umount2(argv[1], MNT_DETACH) < 0 || mount(argv[2], argv[1], argv[3], MS_RDONLY | MS_NODEV | MS_NOSUID, NULL) < 0) {
                fprintf(stderr, "remount failed: %s\n", strerror(errno));
                return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("%.3f\n", (double) (b.tv_sec - a.tv_sec) * 1e3 + (double) (b.tv_nsec - a.tv_nsec) / 1e6);
        return 0;
}
