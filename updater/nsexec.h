/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Running mount operations inside other mount namespaces. setns(CLONE_NEWNS) needs a process that
 * shares its filesystem context with no other thread, so the work happens in a child. */

/* An operation run inside a namespace. proc_fd is the host's /proc, opened before entering (after
 * setns into a container, its own /proc may belong to another pid namespace). */
typedef int (*NsOp)(int proc_fd, const char *target, int mount_fd);

/* Runs op in each namespace in turn, in one child, which is killed if it takes longer than
 * NSEXEC_TIMEOUT_SEC. Returns 0, or the negative errno of the first namespace where it failed (the
 * later ones are still tried); -ETIMEDOUT if the child had to be killed. */
#define NSEXEC_TIMEOUT_SEC 10
int nsexec_run(const int *ns_fds, size_t n, const char *target, int mount_fd, NsOp op);

/* The mount namespace of pid, if it is still the one recorded (inode 0: any). When pid is gone or
 * lives elsewhere now, another process still in that namespace is looked for. -ESRCH when the
 * namespace is gone; any other error (EACCES, …) is not "gone". */
int nsexec_open(pid_t pid, unsigned long long inode, pid_t *ret_pid);

/* The two operations every caller needs: remove old tops while a newer image lies beneath (never
 * leaving the namespace without one), and tuck a clone beneath from inside (a container). */
int nsexec_op_remove_stale_tops(int proc_fd, const char *target, int mount_fd);
int nsexec_op_tuck_clone(int proc_fd, const char *target, int clone_fd);
/* The same, then the old top goes: the namespace shows the clone. */
int nsexec_op_tuck_clone_and_switch(int proc_fd, const char *target, int clone_fd);
