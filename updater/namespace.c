/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/nsfs.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "log.h"
#include "mountinfo.h"
#include "namespace.h"
#include "os-release.h"

/* Processes looked at per namespace: every one in practice; a bound only against a flood. */
#define FACTS_MAX 4096U

static const char *const relation_table[_NS_RELATION_MAX] = {
        [NS_RELATION_HOST] = "host",
        [NS_RELATION_PEER] = "peer",
        [NS_RELATION_SLAVE] = "slave",
        [NS_RELATION_OWN_GROUP] = "own-group",
        [NS_RELATION_PRIVATE] = "private",
        [NS_RELATION_NO_TARGET] = "no-target",
};

const char *ns_relation_to_string(NamespaceRelation r) {
        return r >= 0 && r < _NS_RELATION_MAX ? relation_table[r] : NULL;
}

static int strv_add_unique(char ***l, const char *s) {
        size_t n = 0;
        char **nl;

        for (; *l && (*l)[n]; n++)
                if (strcmp((*l)[n], s) == 0)
                        return 0;
        if (n >= FACTS_MAX)
                return 0;
        nl = realloc(*l, sizeof(char *) * (n + 2));
        if (!nl)
                return -ENOMEM;
        *l = nl;
        nl[n] = strdup(s);
        nl[n + 1] = NULL;
        return nl[n] ? 0 : -ENOMEM;
}

static int slot_of_backing(const char *backing, const char *slots_real) {
        size_t l = strlen(slots_real);

        /* "<slots>/<a|b>/image" */
        if (strncmp(backing, slots_real, l) != 0 || backing[l] != '/' || !backing[l + 1] || backing[l + 2] != '/')
                return -1;
        /* An unlinked file: an old image the slot no longer holds. */
        if (strstr(backing, " (deleted)"))
                return -1;
        return backing[l + 1] == 'a' ? 0 : backing[l + 1] == 'b' ? 1 : -1;
}

static void slot_devices_add(SlotDevices *m, const char *sysname, int slot) {
        _cleanup_free_ char *p = NULL, *dev = NULL;
        unsigned ma, mi;

        if (m->n >= ELEMENTSOF(m->d) || asprintf(&p, "/sys/block/%s/dev", sysname) < 0)
                return;
        if (read_full_file(p, 64, &dev, NULL) < 0 || sscanf(dev, "%u:%u", &ma, &mi) != 2)
                return;
        m->d[m->n++] = (SlotDevice) { ma, mi, slot };
}

static void slot_devices_load(const char *slots_dir, SlotDevices *ret) {
        char real[PATH_MAX];
        struct dirent *de;
        DIR *d;

        *ret = (SlotDevices) {};
        if (!slots_dir || !realpath(slots_dir, real))
                return;
        d = opendir("/sys/block");
        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL, *backing = NULL;
                int slot;

                if (strncmp(de->d_name, "loop", 4) != 0)
                        continue;
                if (asprintf(&p, "/sys/block/%s/loop/backing_file", de->d_name) < 0)
                        break;
                if (read_full_file(p, PATH_MAX, &backing, NULL) < 0)
                        continue;
                slot = slot_of_backing(backing, real);
                if (slot < 0)
                        continue;
                slot_devices_add(ret, de->d_name, slot);
                /* dm-verity on top of it (kernel verity): /sys/block/<loop>/holders/dm-N */
                {
                        _cleanup_free_ char *h = NULL;
                        DIR *hd;
                        struct dirent *he;

                        if (asprintf(&h, "/sys/block/%s/holders", de->d_name) < 0)
                                continue;
                        hd = opendir(h);
                        if (!hd)
                                continue;
                        while ((he = readdir(hd)))
                                if (he->d_name[0] != '.')
                                        slot_devices_add(ret, he->d_name, slot);
                        closedir(hd);
                }
        }
        closedir(d);
}

int slot_devices_find(const SlotDevices *m, unsigned ma, unsigned mi) {
        for (size_t i = 0; i < m->n; i++)
                if (m->d[i].major == ma && m->d[i].minor == mi)
                        return m->d[i].slot;
        return -1;
}

int namespace_parse_mountinfo(FILE *f, const char *target, const SlotDevices *devs, MountinfoFacts *ret) {
        _cleanup_free_ char *line = NULL;
        char parent_path[PATH_MAX];
        size_t cap = 0, best_len = 0;
        MountinfoFacts p = {};
        const char *slash;

        /* The target's parent directory is where a mount placed beneath gets its propagation. */
        slash = strrchr(target, '/');
        if (!slash)
                return -EINVAL;
        if (slash == target)
                strcpy(parent_path, "/");
        else
                snprintf(parent_path, sizeof parent_path, "%.*s", (int) (slash - target), target);

        while (getline(&line, &cap, f) > 0) {
                char mp[PATH_MAX], *sep, *tok, *save = NULL;
                unsigned ma, mi;
                size_t l;
                int fields = 0, slot;

                if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &ma, &mi, mp) != 3)
                        continue;
                mountinfo_unescape(mp);
                slot = slot_devices_find(devs, ma, mi);
                if (strcmp(mp, target) == 0) {
                        p.mounts_at_target++;
                        if (slot >= 0)
                                p.slots_at_target |= 1U << slot;
                        continue;
                }
                if (slot >= 0)
                        p.slots_elsewhere |= 1U << slot;
                /* The longest mount point that contains the parent directory is its mount; the
                 * last line for it is the top of its stack. */
                l = strlen(mp);
                if (!(strcmp(mp, "/") == 0 || (strncmp(parent_path, mp, l) == 0 && (parent_path[l] == '/' || parent_path[l] == 0))))
                        continue;
                if (l < best_len)
                        continue;
                best_len = l;
                p.shared = p.master = 0;
                p.found = true;
                sep = strstr(line, " - ");
                if (sep)
                        *sep = 0;
                for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                        if (++fields <= 6)
                                continue;
                        if (strncmp(tok, "shared:", 7) == 0)
                                p.shared = atoi(tok + 7);
                        else if (strncmp(tok, "master:", 7) == 0)
                                p.master = atoi(tok + 7);
                }
        }
        *ret = p;
        return 0;
}

static int read_propagation(pid_t pid, const char *target, const SlotDevices *devs, MountinfoFacts *ret) {
        _cleanup_fclose_ FILE *f = NULL;
        char path[64];

        /* Generated by the kernel: reading it cannot block on anything the namespace's owner mounts. */
        snprintf(path, sizeof path, "/proc/%d/mountinfo", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        return namespace_parse_mountinfo(f, target, devs, ret);
}

/* Is the mount namespace of pid owned by the user namespace we run in? One that a user created in
 * a user namespace of their own is theirs: what its processes look like proves nothing. */
static bool namespace_trusted(pid_t pid, unsigned long long own_userns) {
        char p[64];
        struct stat st;
        int fd, u;

        snprintf(p, sizeof p, "/proc/%d/ns/mnt", (int) pid);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        u = ioctl(fd, NS_GET_USERNS);
        close(fd);
        if (u < 0)
                return false;
        if (fstat(u, &st) < 0) {
                close(u);
                return false;
        }
        close(u);
        return (unsigned long long) st.st_ino == own_userns;
}

static bool cgroup_is_user(const char *cg) {
        return strstr(cg, "/user.slice") || strstr(cg, "/user@");
}

/* A process's attributes count only when an unprivileged user cannot forge them: its executable
 * is root-owned and not writable by group or others (a copy of a binary, named to match a rule,
 * is owned by whoever copied it), and it runs as root or in a system unit. */
static int process_facts_load(pid_t pid, ProcessFacts *ret) {
        char p[64], exe[PATH_MAX];
        _cleanup_free_ char *cg = NULL;
        struct stat st, self;
        ProcessFacts info = { .pid = pid };
        char *path, *nl, *last;
        ssize_t n;

        snprintf(p, sizeof p, "/proc/%d", (int) pid);
        if (stat(p, &self) < 0)
                return -errno;
        snprintf(p, sizeof p, "/proc/%d/exe", (int) pid);
        if (stat(p, &st) < 0)
                return -errno;
        if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) || !S_ISREG(st.st_mode))
                return -EPERM;
        n = readlink(p, exe, sizeof exe - 1);
        if (n <= 0)
                return -EPERM;
        exe[n] = 0;
        snprintf(p, sizeof p, "/proc/%d/cgroup", (int) pid);
        if (read_full_file(p, 64 * 1024, &cg, NULL) < 0)
                return -EPERM;
        /* cgroup v2: "0::/system.slice/web.service" */
        path = strstr(cg, "0::");
        if (!path)
                return -EPERM;
        path += 3;
        nl = strchr(path, '\n');
        if (nl)
                *nl = 0;
        last = strrchr(path, '/');
        last = last ? last + 1 : path;
        if (cgroup_is_user(path) || (self.st_uid != 0 && !strstr(last, ".service")))
                return -EPERM;
        info.executable = strdup(exe);
        info.cgroup = strdup(path);
        if (!cgroup_is_user(path) && (strstr(last, ".service") || strstr(last, ".scope")))
                info.unit = strdup(last);
        if (!info.executable || !info.cgroup) {
                process_facts_done(&info);
                return -ENOMEM;
        }
        *ret = info;
        return 0;
}

void process_facts_done(ProcessFacts *p) {
        free(p->executable);
        free(p->cgroup);
        free(p->unit);
        *p = (ProcessFacts) {};
}

static void facts_add_process(MountNamespace *m, pid_t pid) {
        ProcessFacts info;
        ProcessFacts *nl;

        if (m->n_procs >= FACTS_MAX || process_facts_load(pid, &info) < 0)
                return;
        nl = realloc(m->procs, sizeof(ProcessFacts) * (m->n_procs + 1));
        if (!nl) {
                process_facts_done(&info);
                return;
        }
        m->procs = nl;
        (void) strv_add_unique(&m->facts.executables, info.executable);
        (void) strv_add_unique(&m->facts.cgroups, info.cgroup);
        if (info.unit)
                (void) strv_add_unique(&m->facts.units, info.unit);
        m->procs[m->n_procs++] = info;
}

/* The version another (trusted) namespace shows at target: through its root, never following a
 * symlink (a namespace's own symlink could point at a file it may not read) nor leaving it. */
static void read_version(pid_t pid, const char *target, char **ret) {
        _cleanup_close_ int root = -EBADF, fd = -EBADF;
        struct open_how how = {
                .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        char p[64];
        OsRelease o = {};

        snprintf(p, sizeof p, "/proc/%d/root", (int) pid);
        root = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return;
        fd = (int) syscall(SYS_openat2, root, target, &how, sizeof how);
        if (fd < 0 || os_release_read_at(fd, "lib/os-release", &o) < 0)
                return;
        *ret = TAKE_PTR(o.version);
        os_release_done(&o);
}

int namespace_discover(const char *target, const char *slots_dir, MountNamespace **ret, size_t *ret_n) {
        MountNamespace *l = NULL;
        size_t n = 0;
        struct stat self, userns;
        MountinfoFacts host = {};
        SlotDevices devs;
        struct dirent *de;
        DIR *d;
        int r;

        if (stat("/proc/self/ns/mnt", &self) < 0 || stat("/proc/self/ns/user", &userns) < 0)
                return -errno;
        slot_devices_load(slots_dir, &devs);
        r = read_propagation(getpid(), target, &devs, &host);
        if (r < 0)
                return r;

        d = opendir("/proc");
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char p[64];
                struct stat st;
                pid_t pid;
                size_t i;

                if (!isdigit((unsigned char) de->d_name[0]))
                        continue;
                pid = (pid_t) atoi(de->d_name);
                snprintf(p, sizeof p, "/proc/%d/ns/mnt", (int) pid);
                if (stat(p, &st) < 0)
                        continue; /* gone, or a kernel thread */
                for (i = 0; i < n; i++)
                        if (l[i].inode == (unsigned long long) st.st_ino)
                                break;
                if (i == n) {
                        MountNamespace *nl = realloc(l, sizeof(MountNamespace) * (n + 1));
                        if (!nl) {
                                closedir(d);
                                namespace_list_free(l, n);
                                return -ENOMEM;
                        }
                        l = nl;
                        l[n] = (MountNamespace) { .inode = (unsigned long long) st.st_ino, .pid = pid };
                        l[n].trusted = st.st_ino == self.st_ino || namespace_trusted(pid, (unsigned long long) userns.st_ino);
                        n++;
                }
                l[i].n_pids++;
                if (l[i].trusted)
                        facts_add_process(&l[i], pid);
        }
        closedir(d);

        for (size_t i = 0; i < n; i++) {
                MountNamespace *m = &l[i];
                MountinfoFacts p = {};

                m->facts.host = m->inode == (unsigned long long) self.st_ino;
                m->parent = -1;
                if (m->facts.host) {
                        m->relation = NS_RELATION_HOST;
                        p = host;
                        m->peer_group = host.shared;
                } else if (read_propagation(m->pid, target, &devs, &p) < 0 || !p.found || p.mounts_at_target == 0)
                        m->relation = NS_RELATION_NO_TARGET;
                else {
                        m->peer_group = p.shared;
                        m->master_group = p.master;
                        if (host.shared && p.shared == host.shared)
                                m->relation = NS_RELATION_PEER;
                        else if (p.master)
                                m->relation = NS_RELATION_SLAVE;
                        else if (p.shared)
                                m->relation = NS_RELATION_OWN_GROUP;
                        else
                                m->relation = NS_RELATION_PRIVATE;
                }
                m->mounts_at_target = p.mounts_at_target;
                m->slots_at_target = p.slots_at_target;
                m->slots_elsewhere = p.slots_elsewhere;
                m->facts.container = m->relation == NS_RELATION_OWN_GROUP;
                if (m->trusted && m->relation != NS_RELATION_NO_TARGET)
                        read_version(m->pid, target, &m->version);
        }

        /* Ours first. */
        for (size_t i = 1; i < n; i++)
                if (l[i].facts.host) {
                        MountNamespace t = l[0];
                        l[0] = l[i];
                        l[i] = t;
                }
        /* Who propagates to whom: a slave's master group is another namespace's peer group. */
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; l[i].master_group && j < n; j++)
                        if (j != i && l[j].peer_group == l[i].master_group) {
                                l[i].parent = (ssize_t) j;
                                break;
                        }
        *ret = l;
        *ret_n = n;
        return 0;
}

void namespace_list_free(MountNamespace *l, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(l[i].version);
                strv_free(l[i].facts.units);
                strv_free(l[i].facts.cgroups);
                strv_free(l[i].facts.executables);
                for (size_t k = 0; k < l[i].n_procs; k++)
                        process_facts_done(&l[i].procs[k]);
                free(l[i].procs);
        }
        free(l);
}
