/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "failpoint.h"
#include "log.h"
#include "mount.h"
#include "nsexec.h"
#include "pending.h"
#include "propagate.h"

void propagate_switch_facts(const MountNamespace *l, size_t n, SwitchNamespace *ns) {
        for (size_t i = 0; i < n; i++)
                ns[i] = (SwitchNamespace) {
                        .host = l[i].facts.host,
                        .reach = l[i].relation == NS_RELATION_PEER || l[i].relation == NS_RELATION_SLAVE ? NS_REACH_PROPAGATION :
                                 l[i].relation == NS_RELATION_OWN_GROUP ? NS_REACH_OWN_GROUP : NS_REACH_NONE,
                        .parent = l[i].parent,
                        .trusted = l[i].trusted,
                        .facts = &l[i].facts,
                        .procs = l[i].procs,
                        .n_procs = l[i].n_procs,
                };
}

/* Signals only processes still in the namespace the plan saw them in (a pid may be reused). */
static void notify(const MountNamespace *m, const SwitchStep *s) {
        for (size_t k = 0; k < s->n_notify; k++) {
                pid_t p = -1;
                int fd = nsexec_open(s->notify[k], m->inode, &p);

                if (fd < 0)
                        continue;
                (void) close(fd);
                if (p == s->notify[k])
                        (void) kill(p, s->signal);
        }
}

static int record_deferrals(const Config *cfg, const SwitchPlan *plan, const MountNamespace *l, size_t n, const char *version) {
        _cleanup_(pending_list_done) PendingList pend = {};
        int r;

        r = pending_load(cfg, &pend);
        if (r == -EUCLEAN)
                log_warning("%s/pending.json is corrupt: starting a new one.", cfg->runtime_directory);
        else if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (plan->steps[i].action != SWITCH_DEFER)
                        continue;
                r = pending_put(&pend, l[i].inode, l[i].pid, version, plan->steps[i].deadline);
                if (r < 0)
                        return r;
        }
        return pending_save(cfg, &pend);
}

int propagate_execute(const Config *cfg, const SwitchPlan *plan, const MountNamespace *l, size_t n, int mount_fd,
                      const char *version, PropagateReport *ret) {
        _cleanup_free_ int *fds = NULL;
        size_t n_fds = 0;
        PropagateReport rep = {
                .forced = plan->n_now,
                .deferred = plan->n_defer,
                .skipped = plan->n_skip,
                .overridden = plan->n_overridden,
                .next_deadline = plan->next_deadline,
        };
        int r;

        if (plan->n_steps != n)
                return -EINVAL;
        if (plan->per_namespace) {
                /* Keep the host's unmount from reaching any other namespace. First: once a deferral
                 * is on record, recovery after a kill removes the host's old top, and that must not
                 * reach the deferring namespaces either. */
                struct mount_attr attr = { .propagation = MS_PRIVATE };
                if (mount_setattr(mount_fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
                        return log_debug_errno(errno, "Cannot make the new mount private: %m");
        }
        /* Write-ahead: a kill from here on leaves every deferral recorded with its deadline. */
        if (plan->n_defer > 0) {
                r = record_deferrals(cfg, plan, l, n, version);
                if (r < 0)
                        return log_debug_errno(r, "Cannot record the deferrals in %s: %m", cfg->runtime_directory);
        }
        failpoint("after-record");
        if (plan->host_unmount) {
                r = mount_remove_top(cfg->target);
                if (r < 0)
                        return r;
        }
        failpoint("after-host-switch");

        fds = calloc(n + 1, sizeof(int));
        if (!fds)
                return -ENOMEM;
        for (size_t i = 1; i < n; i++) {
                const SwitchStep *s = &plan->steps[i];
                _cleanup_close_ int ns_fd = -EBADF;

                if (!s->tuck_clone && !s->from_inside)
                        continue;
                ns_fd = nsexec_open(l[i].pid, l[i].inode, NULL);
                if (ns_fd < 0) {
                        if (ns_fd != -ESRCH)
                                log_warning("Cannot enter the namespace of pid %d: %s", (int) l[i].pid, strerror(-ns_fd));
                        continue;
                }
                if (s->tuck_clone) {
                        /* No propagation reaches a container: a clone of the new mount goes beneath its
                         * target from inside. */
                        _cleanup_close_ int clone = open_tree(mount_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
                        r = clone < 0 ? -errno : nsexec_run(&ns_fd, 1, cfg->target, clone, nsexec_op_tuck_clone);
                        if (r < 0) {
                                log_warning("Cannot update the container namespace of pid %d: %s", (int) l[i].pid, strerror(-r));
                                continue;
                        }
                }
                if (s->action == SWITCH_NOW)
                        fds[n_fds++] = TAKE_FD(ns_fd);
        }
        /* All namespaces that switch from inside, in one child. */
        r = nsexec_run(fds, n_fds, cfg->target, -EBADF, nsexec_op_remove_stale_tops);
        for (size_t i = 0; i < n_fds; i++)
                safe_close(fds[i]);
        if (r < 0)
                log_warning("Could not switch every namespace: %s", strerror(-r));
        failpoint("after-switch");

        /* Told only once their deferral is on record. */
        for (size_t i = 0; i < n; i++)
                if (plan->steps[i].action == SWITCH_DEFER && plan->steps[i].signal)
                        notify(&l[i], &plan->steps[i]);
        failpoint("after-notify");
        if (plan->next_deadline)
                propagate_schedule_deadline(cfg, plan->next_deadline);
        if (ret)
                *ret = rep;
        return 0;
}

/* Deadlines without a resident daemon: a detached child sleeps until the earliest one and runs
 * `osupdate release --expired`; if it dies, the next osupdate command enforces them anyway. */
void propagate_schedule_deadline(const Config *cfg, time_t when) {
        pid_t child;

        /* Where systemd runs, a transient timer does it (osupdate-expire.timer also sweeps every
         * minute); elsewhere, and if systemd-run fails, the detached child below. */
        if (access("/run/systemd/system", F_OK) == 0) {
                char secs[32], unit[64], self[4096];
                ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
                int status;

                /* The transient service runs elsewhere: it needs our binary's real path. */
                if (l <= 0)
                        goto detached;
                self[l] = 0;
                snprintf(secs, sizeof secs, "%llds", (long long) MAX(when - time(NULL), (time_t) 1));
                snprintf(unit, sizeof unit, "osupdate-deadline-%lld", (long long) when);
                child = fork();
                if (child == 0) {
                        (void) close_range(3, ~0U, 0);
                        if (cfg->path)
                                execlp("systemd-run", "systemd-run", "--quiet", "--unit", unit, "--on-active", secs,
                                       self, "release", "--expired", "--config", cfg->path, (char *) NULL);
                        else
                                execlp("systemd-run", "systemd-run", "--quiet", "--unit", unit, "--on-active", secs,
                                       self, "release", "--expired", (char *) NULL);
                        _exit(127);
                }
                if (child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0)
                        return;
                log_debug("systemd-run failed; using a detached timer instead.");
        }

detached:
        child = fork();

        if (child != 0) {
                if (child > 0)
                        (void) waitpid(child, NULL, 0);
                return;
        }
        if (fork() != 0)
                _exit(0);
        /* Hold nothing of the apply that started us: not its lock, not its mounts. */
        (void) close_range(3, ~0U, 0);
        (void) setsid();
        {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0) {
                        (void) dup2(null, STDIN_FILENO);
                        (void) dup2(null, STDOUT_FILENO);
                        (void) dup2(null, STDERR_FILENO);
                }
        }
        {
                /* Exec at once, so nothing of this (possibly old) binary or its /usr stays in use
                 * while waiting: the new target's osupdate if it has one. */
                char at[32], exe[4096];
                snprintf(at, sizeof at, "%lld", (long long) when);
                snprintf(exe, sizeof exe, "%s/bin/osupdate", cfg->target);
                if (access(exe, X_OK) < 0)
                        snprintf(exe, sizeof exe, "/proc/self/exe");
                (void) chdir("/");
                if (cfg->path)
                        execl(exe, "osupdate", "release", "--not-before", at, "--config", cfg->path, (char *) NULL);
                else
                        execl(exe, "osupdate", "release", "--not-before", at, (char *) NULL);
        }
        _exit(127);
}

