/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "apply.h"
#include "facts.h"
#include "fileio.h"
#include "log.h"
#include "slot.h"

int facts_authenticate_slot(const Config *cfg, const Keyring *keyring, int slot, Manifest **ret) {
        return slot_authenticate(cfg->state_directory, slot, keyring, cfg->signatures_required, ret);
}

static int gather_busy(const Config *cfg, Facts *f) {
        for (int i = 0; i < SLOT_MAX; i++) {
                SlotFacts *sf = &f->device.slots[i];
                bool any = false, trusted = false, only_deferrals = true;
                int r = slot_is_busy(cfg->state_directory, i);

                if (r < 0)
                        return r;
                sf->busy = r > 0;
                for (size_t k = 0; k < f->n_ns; k++) {
                        const MountNamespace *m = &f->ns[k];
                        unsigned bit = 1U << i;

                        if (!((m->slots_at_target | m->slots_elsewhere) & bit))
                                continue;
                        any = true;
                        /* A user's own namespace keeps its copy whatever happens to the slot. */
                        if (!m->trusted)
                                continue;
                        trusted = true;
                        if ((m->slots_elsewhere & bit) || pending_find(&f->pending, m->inode) < 0)
                                only_deferrals = false;
                }
                sf->held = any;
                sf->held_by_untrusted = sf->busy && any && !trusted;
                sf->held_by_deferrals = sf->busy && trusted && only_deferrals;
        }
        return 0;
}

/* Live anywhere: what trusted namespaces show, what deferrals wait for, and the version of every
 * slot mounted at the target in any namespace (an untrusted one included: its files are not read,
 * but which of our images it holds is the kernel's word). */
static int gather_live(Facts *f) {
        size_t n_live = 0;

        free(f->live);
        f->live = calloc(f->n_ns + f->pending.n + 2 * SLOT_MAX + 1, sizeof(char *));
        if (!f->live)
                return -ENOMEM;
        for (size_t i = 0; i < f->n_ns; i++)
                if (f->ns[i].trusted && f->ns[i].version)
                        f->live[n_live++] = f->ns[i].version;
        for (size_t i = 0; i < f->pending.n; i++)
                if (f->pending.items[i].version)
                        f->live[n_live++] = f->pending.items[i].version;
        for (int i = 0; i < SLOT_MAX; i++) {
                bool mounted = false;
                for (size_t k = 0; k < f->n_ns; k++)
                        mounted = mounted || (f->ns[k].slots_at_target & (1U << i));
                if (mounted && f->device.slots[i].version)
                        f->live[n_live++] = f->device.slots[i].version;
                if (mounted && f->device.slots[i].recorded_version)
                        f->live[n_live++] = f->device.slots[i].recorded_version;
        }
        f->device.live_versions = f->live;
        f->device.n_live_versions = n_live;
        return 0;
}

int facts_refresh_busy(const Config *cfg, Facts *f) {
        return gather_busy(cfg, f);
}

int facts_refresh_namespaces(const Config *cfg, Facts *f) {
        _cleanup_free_ char *slots = path_join(cfg->state_directory, "slots");
        int r;

        if (!slots)
                return -ENOMEM;
        namespace_list_free(f->ns, f->n_ns);
        f->ns = NULL;
        f->n_ns = 0;
        /* live[] points into the lists about to go. */
        f->device.n_live_versions = 0;
        pending_list_done(&f->pending);
        r = pending_load(cfg, &f->pending);
        if (r < 0 && r != -EUCLEAN)
                return r;
        r = namespace_discover(cfg->target, slots, &f->ns, &f->n_ns);
        if (r < 0)
                return r;
        r = gather_busy(cfg, f);
        if (r < 0)
                return r;
        return gather_live(f);
}

int facts_has_modules_at(int dir_fd, const char *release) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct open_how how = {
                .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };

        if (!release || !release[0] || strchr(release, '/') || strcmp(release, ".") == 0 || strcmp(release, "..") == 0)
                return 0;
        if (asprintf(&path, "lib/modules/%s", release) < 0)
                return -ENOMEM;
        fd = (int) syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
        if (fd >= 0)
                return 1;
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV)
                return 0;
        return -errno;
}

/* The live /usr: its kernel modules are what the running kernel loads from. Not known: as if it
 * had them (a switch is then live only to an image that has them too). */
static int gather_modules_live(const Config *cfg, const char *release) {
        _cleanup_close_ int fd = open(cfg->target, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int r;

        if (fd < 0)
                r = -errno;
        else
                r = facts_has_modules_at(fd, release);
        if (r < 0) {
                log_debug_errno(r, "Cannot tell whether %s has lib/modules/%s: %m", cfg->target, release);
                return 1;
        }
        return r;
}

int facts_gather(const Config *cfg, const Keyring *keyring, const State *s, time_t now, Facts *ret) {
        _cleanup_free_ char *slots = path_join(cfg->state_directory, "slots");
        Facts *f = ret;
        int r;

        *f = (Facts) {};
        if (!slots)
                return -ENOMEM;
        (void) update_live_os(cfg, &f->host_id, &f->host_version);
        if (uname(&f->uts) < 0)
                return -errno;
        f->modules_live = gather_modules_live(cfg, f->uts.release);
        r = pending_load(cfg, &f->pending);
        if (r == -EUCLEAN) {
                log_warning("%s/pending.json is corrupt: starting a new one.", cfg->runtime_directory);
                f->pending = (PendingList) {};
        } else if (r < 0)
                return r;
        r = namespace_discover(cfg->target, slots, &f->ns, &f->n_ns);
        if (r < 0) {
                facts_done(f);
                return log_debug_errno(r, "Cannot list mount namespaces: %m");
        }

        f->device = (DeviceFacts) {
                .booted = s->booted,
                .active = s->active,
                .staged = s->staged,
                .next_boot = s->next_boot,
                .version_floor = s->version_floor,
                .host_version = f->host_version,
                .os_id = cfg->os_id ?: f->host_id,
                .architecture = f->uts.machine,
                .now = now,
        };
        for (int i = 0; i < SLOT_MAX; i++) {
                SlotFacts *sf = &f->device.slots[i];

                sf->ready = s->slots[i].state == SLOT_READY;
                sf->auth = -ENOMEDIUM;
                if (sf->ready)
                        sf->auth = facts_authenticate_slot(cfg, keyring, i, &f->manifests[i]);
                sf->empty = s->slots[i].state == SLOT_EMPTY;
                sf->version = f->manifests[i] ? f->manifests[i]->version : NULL;
                sf->recorded_version = s->slots[i].version;
        }
        r = gather_busy(cfg, f);
        if (r < 0) {
                facts_done(f);
                return r;
        }

        r = gather_live(f);
        if (r < 0) {
                facts_done(f);
                return r;
        }
        return 0;
}

void facts_done(Facts *f) {
        for (int i = 0; i < SLOT_MAX; i++)
                manifest_free(f->manifests[i]);
        free(f->host_id);
        free(f->host_version);
        namespace_list_free(f->ns, f->n_ns);
        pending_list_done(&f->pending);
        free(f->live);
        *f = (Facts) {};
}
