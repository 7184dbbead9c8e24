/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "log.h"
#include "mountinfo.h"
#include "namespace.h"
#include "os-release.h"

#define FACTS_MAX 64U

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

/* From mountinfo: the propagation tags (peer group, master) of the mount *under* the target
 * mount stack at `target` (its parent), and how many mounts are stacked at target. */
typedef struct Propagation {
        int shared;     /* peer group, 0: none */
        int master;     /* master group, 0: none */
        unsigned mounts_at_target;
        bool found;
} Propagation;


static int read_propagation(pid_t pid, const char *target, Propagation *ret) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        char path[64], parent_path[PATH_MAX];
        size_t cap = 0, best_len = 0;
        Propagation p = {};
        const char *slash;

        /* The target's parent directory is where a mount placed beneath gets its propagation. */
        slash = strrchr(target, '/');
        if (!slash)
                return -EINVAL;
        if (slash == target)
                strcpy(parent_path, "/");
        else
                snprintf(parent_path, sizeof parent_path, "%.*s", (int) (slash - target), target);

        snprintf(path, sizeof path, "/proc/%d/mountinfo", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (getline(&line, &cap, f) > 0) {
                char mp[PATH_MAX], *sep, *tok, *save = NULL;
                size_t l;
                int fields = 0;

                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
                        continue;
                mountinfo_unescape(mp);
                if (strcmp(mp, target) == 0) {
                        p.mounts_at_target++;
                        continue;
                }
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

static void facts_add_process(NamespaceFacts *facts, pid_t pid) {
        char p[64], exe[PATH_MAX];
        _cleanup_free_ char *cg = NULL;
        ssize_t n;

        snprintf(p, sizeof p, "/proc/%d/exe", (int) pid);
        n = readlink(p, exe, sizeof exe - 1);
        if (n > 0) {
                exe[n] = 0;
                (void) strv_add_unique(&facts->executables, exe);
        }
        snprintf(p, sizeof p, "/proc/%d/cgroup", (int) pid);
        if (read_full_file(p, 64 * 1024, &cg, NULL) >= 0) {
                /* cgroup v2: "0::/system.slice/web.service" */
                char *path = strstr(cg, "::");
                if (path) {
                        char *nl = strchr(path, '\n'), *last;
                        path += 2;
                        if (nl)
                                *nl = 0;
                        (void) strv_add_unique(&facts->cgroups, path);
                        last = strrchr(path, '/');
                        last = last ? last + 1 : path;
                        if (strstr(last, ".service") || strstr(last, ".scope"))
                                (void) strv_add_unique(&facts->units, last);
                }
        }
}

static void read_version(pid_t pid, const char *target, char **ret) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        OsRelease o = {};

        /* /proc/PID/root resolves in that process's mount namespace: no setns needed to look. */
        if (asprintf(&p, "/proc/%d/root%s", (int) pid, target) < 0)
                return;
        fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || os_release_read_at(fd, "lib/os-release", &o) < 0)
                return;
        *ret = TAKE_PTR(o.version);
        os_release_done(&o);
}

int namespace_discover(const char *target, MountNamespace **ret, size_t *ret_n) {
        MountNamespace *l = NULL;
        size_t n = 0;
        struct stat self;
        Propagation host = {};
        struct dirent *de;
        DIR *d;
        int r;

        if (stat("/proc/self/ns/mnt", &self) < 0)
                return -errno;
        r = read_propagation(getpid(), target, &host);
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
                        n++;
                }
                l[i].n_pids++;
                if (l[i].n_pids <= FACTS_MAX)
                        facts_add_process(&l[i].facts, pid);
        }
        closedir(d);

        for (size_t i = 0; i < n; i++) {
                MountNamespace *m = &l[i];
                Propagation p = {};

                m->facts.host = m->inode == (unsigned long long) self.st_ino;
                m->parent = -1;
                if (m->facts.host) {
                        m->relation = NS_RELATION_HOST;
                        m->mounts_at_target = host.mounts_at_target;
                        m->peer_group = host.shared;
                } else if (read_propagation(m->pid, target, &p) < 0 || !p.found || p.mounts_at_target == 0)
                        m->relation = NS_RELATION_NO_TARGET;
                else {
                        m->mounts_at_target = p.mounts_at_target;
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
                m->facts.container = m->relation == NS_RELATION_OWN_GROUP;
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
        }
        free(l);
}
