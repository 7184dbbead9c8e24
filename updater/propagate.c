/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "mount.h"
#include "namespace.h"
#include "propagate.h"

#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x00000200
#endif

typedef struct Pending {
        unsigned long long inode;
        pid_t pid;
        char *version;
        time_t deadline;        /* 0: none */
} Pending;

static char *pending_path(const Config *cfg) {
        return path_join(cfg->runtime_directory, "pending.json");
}

static void pending_free(Pending *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(p[i].version);
        free(p);
}

static int pending_load(const Config *cfg, Pending **ret, size_t *ret_n) {
        _cleanup_free_ char *path = pending_path(cfg), *buf = NULL;
        _cleanup_(json_object_putp) json_object *root = NULL;
        json_object *arr;
        Pending *p;
        size_t n, len;
        int r;

        *ret = NULL;
        *ret_n = 0;
        if (!path)
                return -ENOMEM;
        r = read_full_file(path, 1024 * 1024, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (json_parse_strict(buf, len, &root) < 0 || json_get_array(root, "pending", false, &arr) < 0)
                return log_debug_errno(EUCLEAN, "%s is corrupt.", path);
        n = json_object_array_length(arr);
        p = calloc(n + 1, sizeof(Pending));
        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(arr, i);
                uint64_t ino = 0, pid = 0, deadline = 0;
                const char *v = NULL;

                if (json_get_u64(e, "inode", false, UINT64_MAX - 1, &ino) < 0 || json_get_u64(e, "pid", false, INT32_MAX, &pid) < 0 ||
                    json_get_u64(e, "deadline", true, INT64_MAX, &deadline) < 0 || json_get_string(e, "version", true, &v) < 0) {
                        pending_free(p, i);
                        return log_debug_errno(EUCLEAN, "%s is corrupt.", path);
                }
                p[i] = (Pending) { .inode = ino, .pid = (pid_t) pid, .deadline = (time_t) deadline, .version = v ? strdup(v) : NULL };
        }
        *ret = p;
        *ret_n = n;
        return 0;
}

static int pending_save(const Config *cfg, const Pending *p, size_t n) {
        _cleanup_free_ char *path = pending_path(cfg);
        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        json_object *arr = json_object_new_array();
        const char *text;

        if (!path || !root || !arr)
                return -ENOMEM;
        json_object_object_add(root, "pending", arr);
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_new_object();
                json_object_object_add(e, "inode", json_object_new_uint64(p[i].inode));
                json_object_object_add(e, "pid", json_object_new_int(p[i].pid));
                json_object_object_add(e, "version", p[i].version ? json_object_new_string(p[i].version) : NULL);
                json_object_object_add(e, "deadline", json_object_new_int64(p[i].deadline));
                json_object_array_add(arr, e);
        }
        text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
        if (mkdir(cfg->runtime_directory, 0755) < 0 && errno != EEXIST)
                return -errno;
        return write_file_atomic(path, text, strlen(text), 0644);
}

/* The namespace a pid is in, if it is still the one we recorded. */
static int ns_fd_of(pid_t pid, unsigned long long inode) {
        char p[64];
        struct stat st;
        int fd;

        snprintf(p, sizeof p, "/proc/%d/ns/mnt", (int) pid);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (inode != 0 && (fstat(fd, &st) < 0 || (unsigned long long) st.st_ino != inode)) {
                close(fd);
                return -ESRCH; /* the pid now lives elsewhere */
        }
        return fd;
}

/* The host's /proc, opened before entering a namespace (see mount_count_at_in()). */
static int ns_proc_fd = -EBADF;

/* Runs op inside another mount namespace, in a child: setns(CLONE_NEWNS) needs a process that
 * shares its filesystem context with no other thread. */
typedef int (*NsOp)(const char *target, int mount_fd);

/* Old tops go only where a newer image is beneath them: never leave a namespace without one.
 * A namespace that deferred several updates holds them all: propagation puts each newer image at
 * the bottom of its stack (beneath everything, on the parent), so everything above the bottom is
 * older and goes, top first: each step shows a newer version, the last the newest. (A tuck from
 * inside puts the new image right under the top instead, so op_tuck_clone() first clears what a
 * namespace still defers.) */
static int op_remove_top(const char *target, int mount_fd) {
        return mount_remove_stale_tops(ns_proc_fd, target);
}

/* Runs op in each namespace in turn, in one child. Returns 0, or the negative errno of the first
 * namespace where it failed (the later ones are still tried). */
static int in_namespaces(const int *fds, size_t n, const char *target, int mount_fd, NsOp op) {
        _cleanup_close_ int proc = -EBADF;
        pid_t child;
        int status;

        if (n == 0)
                return 0;
        /* Opened here, in the host: see mount_count_at_in(). */
        proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (proc < 0)
                return -errno;
        ns_proc_fd = proc;
        child = fork();
        if (child < 0)
                return -errno;
        if (child == 0) {
                int first = 0;
                for (size_t i = 0; i < n; i++) {
                        int r = setns(fds[i], CLONE_NEWNS) < 0 ? -errno : op(target, mount_fd);
                        if (r < 0 && first == 0)
                                first = r;
                }
                _exit((-first) & 0xff);
        }
        while (waitpid(child, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!WIFEXITED(status))
                return -EIO;
        return -WEXITSTATUS(status);
}

static int in_namespace(int ns_fd, const char *target, int mount_fd, NsOp op) {
        return in_namespaces(&ns_fd, 1, target, mount_fd, op);
}

static int op_tuck_clone(const char *target, int clone_fd) {
        int r;

        /* Beneath the top means between the top and what it covers: move forward to what this
         * namespace still deferred first, or the new image would land above an older one. */
        r = mount_remove_stale_tops(ns_proc_fd, target);
        if (r < 0)
                return r;
        if (move_mount(clone_fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_BENEATH) < 0)
                return -errno;
        return 0;
}

static void notify_namespace(unsigned long long inode, const char *sig) {
        int signo = strcmp(sig, "SIGHUP") == 0 ? SIGHUP : strcmp(sig, "SIGUSR1") == 0 ? SIGUSR1 :
                    strcmp(sig, "SIGUSR2") == 0 ? SIGUSR2 : strcmp(sig, "SIGTERM") == 0 ? SIGTERM :
                    strcmp(sig, "SIGINT") == 0 ? SIGINT : strcmp(sig, "SIGWINCH") == 0 ? SIGWINCH : 0;
        MountNamespace *l = NULL;
        size_t n = 0;

        if (signo == 0 || namespace_discover("/", &l, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++)
                if (l[i].inode == inode)
                        (void) kill(l[i].pid, signo);
        namespace_list_free(l, n);
}

/* Deadlines without a resident daemon: a detached child sleeps until the earliest one and runs
 * `osupdate release --expired`; if it dies, the next osupdate command enforces them anyway. */
static void schedule_deadline(const Config *cfg, time_t when) {
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

unsigned propagate_effective(const MountNamespace *l, size_t n, PolicyDecision *dec, bool verbose) {
        unsigned changed = 0;

        for (size_t i = 1; i < n; i++) {
                if (dec[i].mode == POLICY_FORCE || l[i].relation != NS_RELATION_SLAVE)
                        continue;
                for (ssize_t p = l[i].parent, depth = 0; p > 0 && depth < 64; p = l[p].parent, depth++)
                        if (dec[p].mode == POLICY_FORCE) {
                                log_full_errno(verbose ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG, 0,
                                               "Namespace of pid %d follows its parent service (pid %d), which is forced: %s is not possible for it.",
                                               (int) l[i].pid, (int) l[p].pid, policy_mode_to_string(dec[i].mode));
                                dec[i].mode = POLICY_FORCE;
                                dec[i].overridden = true;
                                changed++;
                                break;
                        }
        }
        return changed;
}

static bool receives_propagation(NamespaceRelation r) {
        return r == NS_RELATION_PEER || r == NS_RELATION_SLAVE;
}

int propagate_switch(const Config *cfg, const PolicySet *ps, int mount_fd, const char *version, bool critical,
                     PropagateReport *ret) {
        _cleanup_free_ PolicyDecision *dec = NULL;
        MountNamespace *l = NULL;
        Pending *pend = NULL;
        int *force_fds = NULL;
        size_t n = 0, n_pend = 0, n_force = 0;
        PropagateReport rep = {};
        bool per_namespace = false;
        time_t now = time(NULL);
        int r;

        /* No rules: every namespace that receives propagation is forced, containers are left alone.
         * One unmount in the host does it all; no need to look at the other namespaces. */
        if (ps->n_rules == 0 && ps->default_mode == POLICY_FORCE) {
                r = mount_remove_top(cfg->target);
                if (r >= 0 && ret)
                        *ret = (PropagateReport) { .forced = 1 };
                return r;
        }

        r = namespace_discover(cfg->target, &l, &n);
        if (r < 0)
                return log_debug_errno(r, "Cannot list mount namespaces: %m");
        dec = calloc(n + 1, sizeof(PolicyDecision));
        if (!dec) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < n; i++) {
                r = policy_decide(ps, &l[i].facts, critical, &dec[i]);
                if (r < 0)
                        goto finish;
                if (dec[i].overridden) {
                        log_info("Critical update: namespace of pid %d (rule %s) is switched now, not deferred.", (int) l[i].pid,
                                 dec[i].rule ?: "default");
                        rep.overridden++;
                }
        }
        (void) propagate_effective(l, n, dec, true);
        /* When the host keeps its old top, its unmount cannot carry the others along either. */
        per_namespace = dec[0].mode != POLICY_FORCE;
        for (size_t i = 1; i < n; i++)
                if (receives_propagation(l[i].relation) && dec[i].mode != POLICY_FORCE)
                        per_namespace = true;

        /* Before any mount changes: a pending.json that cannot be read is started afresh. */
        r = pending_load(cfg, &pend, &n_pend);
        if (r == -EUCLEAN) {
                log_warning("%s/pending.json is corrupt: starting a new one.", cfg->runtime_directory);
                n_pend = 0;
        } else if (r < 0)
                goto finish;

        if (per_namespace) {
                /* Keep the host's unmount from reaching any other namespace. */
                struct mount_attr attr = { .propagation = MS_PRIVATE };
                if (mount_setattr(mount_fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
                        r = log_debug_errno(errno, "Cannot make the new mount private: %m");
                        goto finish;
                }
        }

        /* The host: l[0]. Its unmount propagates to every slave copy unless made private above. */
        if (dec[0].mode == POLICY_FORCE) {
                r = mount_remove_top(cfg->target);
                if (r < 0)
                        goto finish;
                rep.forced++;
        }

        force_fds = calloc(n + 1, sizeof(int));
        if (!force_fds) {
                r = -ENOMEM;
                goto finish;
        }

        for (size_t i = 0; i < n; i++) {
                MountNamespace *m = &l[i];
                bool container = m->relation == NS_RELATION_OWN_GROUP;
                _cleanup_close_ int ns_fd = -EBADF;

                if (i > 0 && !receives_propagation(m->relation) && !container)
                        continue;
                if (i > 0 && dec[i].mode == POLICY_SKIP) {
                        rep.skipped++;
                        continue;
                }
                if (i > 0 && (container || per_namespace)) {
                        ns_fd = ns_fd_of(m->pid, m->inode);
                        if (ns_fd < 0)
                                continue; /* gone meanwhile */
                }
                if (i > 0 && container) {
                        /* No propagation reaches it: put a clone of the new mount beneath its target
                         * from inside. */
                        _cleanup_close_ int clone = open_tree(mount_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
                        if (clone < 0 || (r = in_namespace(ns_fd, cfg->target, clone, op_tuck_clone)) < 0) {
                                log_warning("Cannot update the container namespace of pid %d: %s", (int) m->pid,
                                            strerror(clone < 0 ? errno : -r));
                                continue;
                        }
                }
                if (dec[i].mode == POLICY_FORCE) {
                        if (i > 0 && (container || per_namespace))
                                force_fds[n_force++] = TAKE_FD(ns_fd);
                        if (i > 0)
                                rep.forced++;
                        continue;
                }
                /* Defer: on its current version until it releases, or its deadline. */
                {
                        Pending *np = realloc(pend, sizeof(Pending) * (n_pend + 1));
                        if (!np) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        pend = np;
                        /* A newer update replaces an older pending one for the same namespace. */
                        for (size_t k = 0; k < n_pend; k++)
                                if (pend[k].inode == m->inode) {
                                        free(pend[k].version);
                                        pend[k] = pend[--n_pend];
                                        break;
                                }
                        pend[n_pend++] = (Pending) {
                                .inode = m->inode,
                                .pid = m->pid,
                                .version = strdup(version),
                                .deadline = dec[i].deadline_usec ? now + (time_t) (dec[i].deadline_usec / 1000000) : 0,
                        };
                        if (pend[n_pend - 1].deadline && (!rep.next_deadline || pend[n_pend - 1].deadline < rep.next_deadline))
                                rep.next_deadline = pend[n_pend - 1].deadline;
                        rep.deferred++;
                        if (strcmp(dec[i].notify, "none") != 0)
                                notify_namespace(m->inode, dec[i].notify);
                }
        }
        /* All force namespaces from inside, in one child. */
        r = in_namespaces(force_fds, n_force, cfg->target, -EBADF, op_remove_top);
        if (r < 0)
                log_warning("Could not switch every force namespace: %s", strerror(-r));
        r = pending_save(cfg, pend, n_pend);
        if (r < 0)
                goto finish;
        if (rep.next_deadline)
                schedule_deadline(cfg, rep.next_deadline);
        if (ret)
                *ret = rep;
        r = 0;
finish:
        for (size_t i = 0; i < n_force; i++)
                safe_close(force_fds[i]);
        free(force_fds);
        pending_free(pend, n_pend);
        namespace_list_free(l, n);
        return r;
}

static int own_inode(pid_t pid, unsigned long long *ret) {
        char p[64];
        struct stat st;

        snprintf(p, sizeof p, "/proc/%d/ns/mnt", pid > 0 ? (int) pid : (int) getpid());
        if (stat(p, &st) < 0)
                return -errno;
        *ret = (unsigned long long) st.st_ino;
        return 0;
}

static int release_entry(const Config *cfg, const Pending *e, pid_t via) {
        _cleanup_close_ int ns_fd = ns_fd_of(via, via == e->pid ? e->inode : 0);

        if (ns_fd < 0)
                return ns_fd;
        return in_namespace(ns_fd, cfg->target, -EBADF, op_remove_top);
}

/* Loads the pending list and finds the entry of pid's namespace (pid 0: ours): its index, or -1. */
static int pending_lookup(const Config *cfg, pid_t pid, Pending **ret, size_t *ret_n, ssize_t *ret_idx) {
        unsigned long long ino = 0;
        int r;

        r = own_inode(pid, &ino);
        if (r < 0)
                return log_debug_errno(ESRCH, "No such process %d.", (int) pid);
        r = pending_load(cfg, ret, ret_n);
        if (r < 0)
                return r;
        *ret_idx = -1;
        for (size_t i = 0; i < *ret_n; i++)
                if ((*ret)[i].inode == ino) {
                        *ret_idx = (ssize_t) i;
                        break;
                }
        return 0;
}

int propagate_release(const Config *cfg, pid_t pid) {
        Pending *pend = NULL;
        size_t n = 0;
        ssize_t i;
        int r;

        r = pending_lookup(cfg, pid, &pend, &n, &i);
        if (r < 0 || i < 0) {
                pending_free(pend, n);
                return r;
        }
        r = release_entry(cfg, &pend[i], pid > 0 ? pid : getpid());
        if (r < 0) {
                pending_free(pend, n);
                return log_debug_errno(r, "Cannot drop the old /usr: %m");
        }
        free(pend[i].version);
        pend[i] = pend[--n];
        r = pending_save(cfg, pend, n);
        pending_free(pend, n);
        return r < 0 ? r : 1;
}

int propagate_check(const Config *cfg, pid_t pid, char **ret_version, time_t *ret_deadline) {
        Pending *pend = NULL;
        size_t n = 0;
        ssize_t i;
        int r;

        r = pending_lookup(cfg, pid, &pend, &n, &i);
        if (r >= 0 && i >= 0) {
                *ret_version = pend[i].version ? strdup(pend[i].version) : NULL;
                *ret_deadline = pend[i].deadline;
                r = 1;
        }
        pending_free(pend, n);
        return r;
}

static int enforce(const Config *cfg, bool all);

int propagate_enforce_deadlines(const Config *cfg) {
        return enforce(cfg, false);
}

int propagate_force_pending(const Config *cfg) {
        return enforce(cfg, true);
}

static int enforce(const Config *cfg, bool all) {
        Pending *pend = NULL;
        size_t n = 0, forced = 0;
        time_t now = time(NULL);
        bool changed = false;
        int r;

        r = pending_load(cfg, &pend, &n);
        if (r < 0 || n == 0) {
                pending_free(pend, n);
                return r;
        }
        for (size_t i = 0; i < n;) {
                _cleanup_close_ int fd = ns_fd_of(pend[i].pid, pend[i].inode);

                if (fd < 0 || all || (pend[i].deadline && pend[i].deadline <= now)) {
                        if (fd >= 0) {
                                r = in_namespace(fd, cfg->target, -EBADF, op_remove_top);
                                if (r < 0) {
                                        /* Keep it: the next run tries again. */
                                        log_warning("Cannot force the namespace of pid %d: %s", (int) pend[i].pid, strerror(-r));
                                        i++;
                                        continue;
                                } else {
                                        log_info("%s: switched the namespace of pid %d.",
                                                 all ? "Its old image is needed for a newer update" : "Deadline passed", (int) pend[i].pid);
                                        forced++;
                                }
                        }
                        free(pend[i].version);
                        pend[i] = pend[--n];
                        changed = true;
                        continue;
                }
                i++;
        }
        if (changed)
                r = pending_save(cfg, pend, n);
        pending_free(pend, n);
        return r < 0 ? r : (int) forced;
}
