/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "log.h"
#include "mountinfo.h"
#include "mount.h"

/* Debian 12's headers predate it (Linux 6.5). */
#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x00000200
#endif

/* The filesystem context's own error messages ("e erofs: …"), for a clearer failure. */
static void log_fs_context(int fs) {
        char buf[512];
        ssize_t n;

        while ((n = read(fs, buf, sizeof buf - 1)) > 0) {
                buf[n] = 0;
                log_debug("fs context: %s", buf);
        }
}

int mount_image_detached(const char *device, const char *fstype, int *ret_mount_fd) {
        _cleanup_close_ int fs = -EBADF;
        int mnt;

        fs = fsopen(fstype, FSOPEN_CLOEXEC);
        if (fs < 0)
                return log_debug_errno(errno, "fsopen(%s) failed: %m", fstype);
        /* The superblock itself must be read-only: a read-only loop device refuses a writable
         * superblock with EACCES, and MOUNT_ATTR_RDONLY below is only the mount's flag. */
        if (fsconfig(fs, FSCONFIG_SET_STRING, "source", device, 0) < 0 ||
            fsconfig(fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0 || fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
                int e = errno;
                log_fs_context(fs);
                /* Verified bytes that are not the filesystem the manifest names: the image is wrong. */
                if (e == EINVAL)
                        return log_debug_errno(EMEDIUMTYPE, "The image is not a %s filesystem (its manifest says it is).", fstype);
                return log_debug_errno(e, "Cannot create a %s superblock on %s: %m", fstype, device);
        }
        mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
        if (mnt < 0)
                return log_debug_errno(errno, "fsmount failed: %m");
        *ret_mount_fd = mnt;
        return 0;
}

int mount_is_mount_point(const char *path) {
        struct statx sx;

        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0)
                return -errno;
        if (!(sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
                return -EOPNOTSUPP;
        return !!(sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

int mount_tuck_beneath(int mount_fd, const char *target) {
        int r;

        r = mount_is_mount_point(target);
        if (r < 0)
                return log_debug_errno(r, "Cannot inspect %s: %m", target);
        if (r == 0)
                return log_debug_errno(ENOTBLK, "%s is not a mount point: there is nothing to put the new image beneath.", target);

        if (move_mount(mount_fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_BENEATH) < 0) {
                /* Kernels before 6.5 do not know the flag and say EINVAL; the target is a mount
                 * point, so that is what EINVAL means here. */
                if (errno == EINVAL)
                        return log_debug_errno(EOPNOTSUPP, "This kernel cannot mount beneath (MOVE_MOUNT_BENEATH needs Linux 6.5).");
                return log_debug_errno(errno, "Cannot put the new image beneath %s: %m", target);
        }
        return 0;
}

int mount_remove_top(const char *target) {
        if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                return log_debug_errno(errno, "Cannot remove the old top mount at %s: %m", target);
        return 0;
}


int mount_count_at(const char *path) {
        return mount_count_at_in(-EBADF, path);
}

int mount_count_at_in(int proc_fd, const char *path) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        int n = 0, fd;

        fd = proc_fd >= 0 ? openat(proc_fd, "self/mountinfo", O_RDONLY | O_CLOEXEC) :
                            open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "re");
        if (!f) {
                close(fd);
                return -errno;
        }
        while (getline(&line, &cap, f) > 0) {
                char mp[4096];

                /* id parent major:minor root mount-point … */
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
                        continue;
                mountinfo_unescape(mp);
                if (strcmp(mp, path) == 0)
                        n++;
        }
        return n;
}

int mount_beneath_supported(void) {
        pid_t pid;
        int status;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                char dir[] = "/tmp/osupdate-probe.XXXXXX";
                int fd, ok;

                /* A private namespace: nothing done here is seen anywhere else. */
                if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                        _exit(2);
                if (!mkdtemp(dir))
                        _exit(2);
                if (mount("probe", dir, "tmpfs", 0, "size=4k") < 0) {
                        rmdir(dir);
                        _exit(2);
                }
                fd = open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                if (fd < 0 || mount("probe2", dir, "tmpfs", 0, "size=4k") < 0)
                        _exit(2);
                ok = move_mount(fd, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_BENEATH) >= 0;
                (void) umount2(dir, MNT_DETACH);
                (void) umount2(dir, MNT_DETACH);
                (void) umount2(dir, MNT_DETACH);
                (void) rmdir(dir);
                _exit(ok ? 0 : 1);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) == 2)
                return -EPERM;
        return WEXITSTATUS(status) == 0;
}

int mount_remove_stale_tops(int proc_fd, const char *target) {
        for (;;) {
                int n = mount_count_at_in(proc_fd, target);
                if (n < 0)
                        return n;
                if (n < 2)
                        return 0;
                if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                        return -errno;
        }
}
