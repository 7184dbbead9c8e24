/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "mount.h"
#include "nsexec.h"
#include "pending.h"
#include "plan.h"
#include "policy-load.h"
#include "propagate.h"
#include "release.h"

static int own_inode(pid_t pid, unsigned long long *ret) {
        char p[64];
        struct stat st;

        snprintf(p, sizeof p, "/proc/%d/ns/mnt", pid > 0 ? (int) pid : (int) getpid());
        if (stat(p, &st) < 0)
                return -errno;
        *ret = (unsigned long long) st.st_ino;
        return 0;
}

/* Moves the recorded namespace forward. -ESRCH: it is gone. */
static int finish_one(const Config *cfg, const Pending *e) {
        _cleanup_close_ int fd = nsexec_open(e->pid, e->inode, NULL);

        if (fd < 0)
                return fd;
        return nsexec_run(&fd, 1, cfg->target, -EBADF, nsexec_op_remove_stale_tops);
}

/* Loads the records and finds the one of pid's namespace (pid 0: ours). */
static int lookup(const Config *cfg, pid_t pid, PendingList *ret, ssize_t *ret_idx) {
        unsigned long long ino = 0;
        int r;

        r = own_inode(pid, &ino);
        if (r == -ENOENT)
                return log_debug_errno(ESRCH, "No such process %d.", (int) pid);
        if (r < 0)
                return log_debug_errno(r, "Cannot look at the mount namespace of process %d: %m", (int) pid);
        r = pending_load(cfg, ret);
        if (r < 0)
                return r;
        *ret_idx = pending_find(ret, ino);
        return 0;
}

int release_namespace(const Config *cfg, pid_t pid) {
        _cleanup_(pending_list_done) PendingList pend = {};
        ssize_t i;
        int r;

        r = lookup(cfg, pid, &pend, &i);
        if (r < 0 || i < 0)
                return r;
        r = finish_one(cfg, &pend.items[i]);
        if (r < 0)
                return log_debug_errno(r, "Cannot drop the old /usr: %m");
        pending_remove(&pend, (size_t) i);
        r = pending_save(cfg, &pend);
        return r < 0 ? r : 1;
}

int release_check(const Config *cfg, pid_t pid, char **ret_version, time_t *ret_deadline) {
        _cleanup_(pending_list_done) PendingList pend = {};
        ssize_t i;
        int r;

        r = lookup(cfg, pid, &pend, &i);
        if (r < 0 || i < 0)
                return r;
        *ret_version = pend.items[i].version ? strdup(pend.items[i].version) : NULL;
        *ret_deadline = pend.items[i].deadline;
        return 1;
}

/* Ends the records marked in end[]; those whose namespace is gone are forgotten. */
static int finish_marked(const Config *cfg, PendingList *pend, const bool *end, const char *why) {
        _cleanup_free_ bool *keep = calloc(pend->n + 1, sizeof(bool));
        size_t forced = 0;
        bool changed = false;
        int r;

        if (!keep)
                return -ENOMEM;
        for (size_t i = 0; i < pend->n; i++) {
                keep[i] = true;
                if (!end[i]) {
                        /* Not to end now, but forgotten if its namespace is gone. */
                        _cleanup_close_ int fd = nsexec_open(pend->items[i].pid, pend->items[i].inode, NULL);
                        if (fd == -ESRCH)
                                keep[i] = false;
                        continue;
                }
                r = finish_one(cfg, &pend->items[i]);
                if (r == -ESRCH)
                        keep[i] = false;
                else if (r < 0)
                        /* Kept: the next run tries again. */
                        log_warning("Cannot switch the namespace of pid %d: %s", (int) pend->items[i].pid, strerror(-r));
                else {
                        log_info("%s: switched the namespace of pid %d.", why, (int) pend->items[i].pid);
                        keep[i] = false;
                        forced++;
                }
        }
        for (size_t i = pend->n; i > 0; i--)
                if (!keep[i - 1]) {
                        /* pending_remove moves the last record into i-1: keep[] follows. */
                        keep[i - 1] = keep[pend->n - 1];
                        pending_remove(pend, i - 1);
                        changed = true;
                }
        if (changed) {
                r = pending_save(cfg, pend);
                if (r < 0)
                        return r;
        }
        return (int) forced;
}

int release_expired(const Config *cfg) {
        _cleanup_(pending_list_done) PendingList pend = {};
        _cleanup_free_ time_t *deadlines = NULL;
        _cleanup_free_ bool *end = NULL;
        int r;

        r = pending_load(cfg, &pend);
        if (r < 0 || pend.n == 0)
                return r;
        deadlines = calloc(pend.n, sizeof(time_t));
        end = calloc(pend.n, sizeof(bool));
        if (!deadlines || !end)
                return -ENOMEM;
        for (size_t i = 0; i < pend.n; i++)
                deadlines[i] = pend.items[i].deadline;
        plan_expire(deadlines, pend.n, time(NULL), false, end);
        return finish_marked(cfg, &pend, end, "Deadline passed");
}

int release_holding(const Config *cfg, const MountNamespace *l, size_t n, unsigned slot_mask) {
        _cleanup_(pending_list_done) PendingList pend = {};
        _cleanup_free_ bool *end = NULL;
        int r;

        r = pending_load(cfg, &pend);
        if (r < 0 || pend.n == 0)
                return r;
        end = calloc(pend.n, sizeof(bool));
        if (!end)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                ssize_t k = pending_find(&pend, l[i].inode);
                if (k >= 0 && (l[i].slots_at_target & slot_mask))
                        end[k] = true;
        }
        return finish_marked(cfg, &pend, end, "Its old image is needed for a newer update");
}

/* The host's top is the new image once it moved forward (unless it defers): a clone of it goes
 * beneath the container's target, from inside, and its old top goes. */
static int recover_tuck(const Config *cfg, const MountNamespace *m, bool host_defers, bool defer) {
        _cleanup_close_ int clone = -EBADF, fd = -EBADF;

        if (host_defers)
                return -EAGAIN;
        clone = open_tree(AT_FDCWD, cfg->target, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (clone < 0)
                return -errno;
        fd = nsexec_open(m->pid, m->inode, NULL);
        if (fd < 0)
                return fd;
        return nsexec_run(&fd, 1, cfg->target, clone, defer ? nsexec_op_tuck_clone : nsexec_op_tuck_clone_and_switch);
}

int release_recover(const Config *cfg, unsigned switching_mask, const char *version, bool *ret_switched) {
        _cleanup_(pending_list_done) PendingList pend = {};
        _cleanup_(policy_set_done) PolicySet ps = {};
        _cleanup_(switch_plan_done) SwitchPlan plan = {};
        _cleanup_free_ SwitchNamespace *sns = NULL;
        _cleanup_free_ RecoverNamespace *facts = NULL;
        _cleanup_free_ RecoverAction *act = NULL;
        _cleanup_free_ char *slots = path_join(cfg->state_directory, "slots");
        MountNamespace *l = NULL;
        size_t n = 0;
        bool changed = false;
        int r;

        if (!slots)
                return -ENOMEM;
        r = pending_load(cfg, &pend);
        if (r == -EUCLEAN) {
                log_warning("%s/pending.json is corrupt: starting a new one.", cfg->runtime_directory);
                pend = (PendingList) {};
        } else if (r < 0)
                return r;
        r = namespace_discover(cfg->target, slots, &l, &n);
        if (r < 0)
                return log_debug_errno(r, "Cannot list mount namespaces: %m");
        facts = calloc(n + 1, sizeof(RecoverNamespace));
        act = calloc(n + 1, sizeof(RecoverAction));
        sns = calloc(n + 1, sizeof(SwitchNamespace));
        if (!facts || !act || !sns) {
                namespace_list_free(l, n);
                return -ENOMEM;
        }
        /* What today's policy says of each namespace (a broken policy: nobody is given anything
         * new here; the next apply refuses it anyway). */
        propagate_switch_facts(l, n, sns);
        if (policy_load(cfg, &ps) < 0 || plan_switch(&ps, sns, n, false, time(NULL), &plan) < 0)
                plan = (SwitchPlan) {};
        for (size_t i = 0; i < n; i++)
                facts[i] = (RecoverNamespace) {
                        .host = l[i].facts.host,
                        .mounts_at_target = l[i].mounts_at_target,
                        .recorded = pending_find(&pend, l[i].inode) >= 0,
                        .holds_switching = (l[i].slots_at_target & switching_mask) != 0,
                        .container = l[i].relation == NS_RELATION_OWN_GROUP,
                        .holds_other_slot = (l[i].slots_at_target & ~switching_mask) != 0,
                        .planned = plan.steps ? plan.steps[i].action : SWITCH_SKIP,
                };
        plan_recover(facts, n, act, ret_switched);

        /* The host first: a container's clone is taken from its top once it moved forward. Its
         * unmount reaches no recorded deferral: the new mount was made private before any record. */
        for (size_t i = 0; i < n; i++) {
                if (act[i] == RECOVER_FORWARD) {
                        Pending e = { .inode = l[i].inode, .pid = l[i].pid };
                        r = i == 0 ? mount_remove_stale_tops(-EBADF, cfg->target) : finish_one(cfg, &e);
                        if (r < 0 && r != -ESRCH)
                                log_warning("Recovering: cannot move the namespace of pid %d forward: %s", (int) l[i].pid, strerror(-r));
                        else
                                log_info("Recovering: moved the namespace of pid %d forward (an interrupted switch left no record for it).",
                                         (int) l[i].pid);
                } else if (act[i] == RECOVER_TUCK || act[i] == RECOVER_TUCK_DEFER) {
                        bool defer = act[i] == RECOVER_TUCK_DEFER;

                        if (defer) {
                                /* Recorded first, as the switch itself does. */
                                r = pending_put(&pend, l[i].inode, l[i].pid, version, plan.steps[i].deadline);
                                if (r >= 0)
                                        r = pending_save(cfg, &pend);
                                if (r < 0)
                                        return r;
                        }
                        r = recover_tuck(cfg, &l[i], facts[0].recorded, defer);
                        if (r < 0)
                                log_warning("Recovering: cannot give the container namespace of pid %d the new image: %s",
                                            (int) l[i].pid, strerror(-r));
                        else
                                log_info("Recovering: the container namespace of pid %d got the new image%s.", (int) l[i].pid,
                                         defer ? " beneath, deferred" : "");
                } else if (act[i] == RECOVER_FORGET) {
                        pending_remove(&pend, (size_t) pending_find(&pend, l[i].inode));
                        changed = true;
                }
        }
        namespace_list_free(l, n);
        return changed ? pending_save(cfg, &pend) : 0;
}
