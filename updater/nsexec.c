/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "mount.h"
#include "nsexec.h"

#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x00000200
#endif

static int wait_child(pid_t child) {
        _cleanup_close_ int pidfd = (int) syscall(SYS_pidfd_open, child, 0);
        int status;

        if (pidfd >= 0) {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };
                int r;

                do
                        r = poll(&p, 1, NSEXEC_TIMEOUT_SEC * 1000);
                while (r < 0 && errno == EINTR);
                if (r == 0) {
                        /* Something in that namespace blocks us: give up on it, never hang. */
                        (void) kill(child, SIGKILL);
                        (void) waitpid(child, NULL, 0);
                        return log_debug_errno(ETIMEDOUT, "An operation inside another mount namespace took longer than %ds.",
                                               NSEXEC_TIMEOUT_SEC);
                }
        }
        while (waitpid(child, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!WIFEXITED(status))
                return -EIO;
        return -WEXITSTATUS(status);
}

int nsexec_run(const int *ns_fds, size_t n, const char *target, int mount_fd, NsOp op) {
        _cleanup_close_ int proc = -EBADF;
        pid_t child, parent;

        if (n == 0)
                return 0;
        proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (proc < 0)
                return -errno;
        parent = getpid();
        child = fork();
        if (child < 0)
                return -errno;
        if (child == 0) {
                int first = 0;

                /* It holds what we hold (the lock among them): it must not outlive us. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(EIO);
                for (size_t i = 0; i < n; i++) {
                        int r = setns(ns_fds[i], CLONE_NEWNS) < 0 ? -errno : op(proc, target, mount_fd);
                        if (r < 0 && first == 0)
                                first = r;
                }
                _exit((-first) & 0xff);
        }
        return wait_child(child);
}

static int open_ns(pid_t pid, unsigned long long inode) {
        char p[64];
        struct stat st;
        int fd;

        snprintf(p, sizeof p, "/proc/%d/ns/mnt", (int) pid);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (inode != 0 && (unsigned long long) st.st_ino != inode) {
                close(fd);
                return -ESRCH; /* the pid now lives elsewhere */
        }
        return fd;
}

int nsexec_open(pid_t pid, unsigned long long inode, pid_t *ret_pid) {
        struct dirent *de;
        DIR *d;
        int fd;

        fd = open_ns(pid, inode);
        if (fd != -ESRCH || inode == 0) {
                if (fd >= 0 && ret_pid)
                        *ret_pid = pid;
                return fd;
        }
        /* The recorded process is gone; the namespace may live on in others. */
        d = opendir("/proc");
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                pid_t p;

                if (!isdigit((unsigned char) de->d_name[0]))
                        continue;
                p = (pid_t) atoi(de->d_name);
                fd = open_ns(p, inode);
                if (fd >= 0) {
                        if (ret_pid)
                                *ret_pid = p;
                        break;
                }
                fd = -ESRCH;
        }
        closedir(d);
        return fd;
}

int nsexec_op_remove_stale_tops(int proc_fd, const char *target, int mount_fd) {
        return mount_remove_stale_tops(proc_fd, target);
}

int nsexec_op_tuck_clone(int proc_fd, const char *target, int clone_fd) {
        int r;

        /* Beneath the top means between the top and what it covers: move forward to what this
         * namespace still deferred first, or the new image would land above an older one. */
        r = mount_remove_stale_tops(proc_fd, target);
        if (r < 0)
                return r;
        if (move_mount(clone_fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_BENEATH) < 0)
                return -errno;
        return 0;
}

int nsexec_op_tuck_clone_and_switch(int proc_fd, const char *target, int clone_fd) {
        int r = nsexec_op_tuck_clone(proc_fd, target, clone_fd);
        if (r < 0)
                return r;
        return mount_remove_stale_tops(proc_fd, target);
}
