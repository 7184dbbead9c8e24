/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bundle-writer.h"
#include "fileio.h"
#include "image.h"
#include "log.h"

#define EROFS_MAGIC 0xE0F5E1E2U
#define EROFS_SUPER_OFFSET 1024
#define SQUASHFS_MAGIC 0x73717368U

static int run(char *const argv[]) {
        pid_t parent = getpid(), pid;
        int status;

        bundle_temp_signals_block(true);
        pid = fork();
        if (pid < 0) {
                bundle_temp_signals_block(false);
                return log_error_errno(errno, "fork failed: %m");
        }
        if (pid == 0) {
                int null;

                bundle_temp_signals_block(false);

                /* Dies with us: a signal that ends us removes the temporary image, which mkfs must
                 * not go on writing (or create anew). */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(127);
                null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null >= 0)
                        (void) dup2(null, STDOUT_FILENO);
                /* We pass the timestamps explicitly. With SOURCE_DATE_EPOCH in its environment
                 * mkfs.erofs merely clamps newer mtimes (older ones survive) and mksquashfs refuses
                 * to run alongside -mkfs-time/-all-time. */
                (void) unsetenv("SOURCE_DATE_EPOCH");
                execvp(argv[0], argv);
                fprintf(stderr, "osupdate: error: cannot run %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        bundle_temp_child(pid);
        bundle_temp_signals_block(false);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        bundle_temp_child(0);
                        return log_error_errno(errno, "waitpid failed: %m");
                }
        bundle_temp_child(0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return log_error_errno(EIO, "%s failed (%s %d).", argv[0],
                                       WIFEXITED(status) ? "exit status" : "signal",
                                       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return 0;
}

static void derive_uuid(const char *os_id, const char *version, char out[37]) {
        uint8_t d[32];
        unsigned int len = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        memset(d, 0, sizeof d);
        if (ctx) {
                (void) EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
                (void) EVP_DigestUpdate(ctx, "osupdate-image", 15);
                (void) EVP_DigestUpdate(ctx, os_id, strlen(os_id) + 1);
                (void) EVP_DigestUpdate(ctx, version, strlen(version) + 1);
                (void) EVP_DigestFinal_ex(ctx, d, &len);
                EVP_MD_CTX_free(ctx);
        }
        /* A name-based UUID: version 5 layout, variant 1. */
        d[6] = (d[6] & 0x0f) | 0x50;
        d[8] = (d[8] & 0x3f) | 0x80;
        snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2],
                 d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]);
}

int image_build(const char *tree, const char *fstype, const char *os_id, const char *version, time_t epoch,
                const char *out) {
        char uuid[37], t[32], uopt[40], topt[40];

        derive_uuid(os_id, version, uuid);
        snprintf(t, sizeof t, "%lld", (long long) epoch);

        if (strcmp(fstype, "erofs") == 0) {
                snprintf(uopt, sizeof uopt, "-U%s", uuid);
                snprintf(topt, sizeof topt, "-T%s", t);
                char *argv[] = { (char *) "mkfs.erofs", (char *) "--quiet", (char *) "--all-root", topt, uopt,
                                 (char *) out, (char *) tree, NULL };
                return run(argv);
        }
        if (strcmp(fstype, "squashfs") == 0) {
                /* squashfs has no UUID; its timestamps are all fixed (32-bit ones). Directory
                 * entries are sorted and -reproducible is mksquashfs' default, so neither the
                 * order files were created in nor the threads change a byte. The image is padded
                 * to 4 KiB. */
                if ((uint64_t) epoch > UINT32_MAX)
                        return log_error_errno(EINVAL, "squashfs stores 32-bit timestamps: %lld is past 2106.",
                                               (long long) epoch);
                char *argv[] = { (char *) "mksquashfs", (char *) tree, (char *) out, (char *) "-noappend",
                                 (char *) "-quiet", (char *) "-no-progress", (char *) "-all-root",
                                 (char *) "-mkfs-time", t, (char *) "-all-time", t, NULL };
                return run(argv);
        }
        return log_error_errno(EINVAL, "Unsupported filesystem type \"%s\" (erofs or squashfs).", fstype);
}

int image_detect_fstype(const char *path, const char **ret) {
        _cleanup_close_ int fd = -EBADF;
        uint8_t b[4];

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (pread(fd, b, 4, 0) == 4 && (uint32_t) (b[0] | b[1] << 8 | b[2] << 16 | (uint32_t) b[3] << 24) == SQUASHFS_MAGIC) {
                *ret = "squashfs";
                return 0;
        }
        if (pread(fd, b, 4, EROFS_SUPER_OFFSET) == 4 &&
            (uint32_t) (b[0] | b[1] << 8 | b[2] << 16 | (uint32_t) b[3] << 24) == EROFS_MAGIC) {
                *ret = "erofs";
                return 0;
        }
        *ret = NULL;
        return -EMEDIUMTYPE;
}
