/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "bundle-reader.h"
#include "fileio.h"
#include "install.h"
#include "log.h"
#include "loop.h"
#include "mount.h"
#include "os-release.h"
#include "policy-load.h"
#include "propagate.h"
#include "slot.h"
#include "verity-activate.h"
#include "version.h"

#define BOOT_TRIES 3

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

/* OSUPDATE_FAILPOINT=<name> kills the process at that step, as a crash would (tests only). */
static void failpoint(const char *name) {
        const char *f = getenv("OSUPDATE_FAILPOINT");

        if (f && strcmp(f, name) == 0)
                (void) raise(SIGKILL);
}

void apply_result_done(ApplyResult *r) {
        free(r->version);
        free(r->previous_version);
        *r = (ApplyResult) { .slot = -1 };
}

int update_lock(const Config *cfg, int *ret_fd) {
        return update_lock_full(cfg, false, ret_fd);
}

int update_lock_full(const Config *cfg, bool wait, int *ret_fd) {
        _cleanup_free_ char *p = path_join(cfg->runtime_directory, "lock");
        _cleanup_close_ int fd = -EBADF;

        if (!p)
                return -ENOMEM;
        if (mkdir(cfg->runtime_directory, 0755) < 0 && errno != EEXIST)
                return log_debug_errno(errno, "Cannot create %s: %m", cfg->runtime_directory);
        fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return log_debug_errno(errno, "Cannot open %s: %m", p);
        if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
                if (errno == EWOULDBLOCK)
                        return log_debug_errno(EBUSY, "Another update is in progress (%s is locked).", p);
                return log_debug_errno(errno, "Cannot lock %s: %m", p);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int update_live_os(const Config *cfg, char **ret_id, char **ret_version) {
        _cleanup_close_ int fd = -EBADF;
        OsRelease o = {};
        int r;

        fd = open(cfg->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_debug_errno(errno, "Cannot open target %s: %m", cfg->target);
        r = os_release_read_at(fd, "lib/os-release", &o);
        if (r < 0)
                return log_debug_errno(r, "Cannot read %s/lib/os-release: %m", cfg->target);
        *ret_id = o.id;
        *ret_version = o.version;
        return 0;
}

/* Every state-changing command starts here: the lock, then state.json (a corrupt one changes
 * nothing and says so), then, if asked, recovery from an interrupted run. */
static int begin(const Config *cfg, bool recover, int *ret_lock, State *ret_state) {
        _cleanup_(state_done) State s = {};
        _cleanup_close_ int lock = -EBADF;
        int r;

        r = update_lock(cfg, &lock);
        if (r < 0)
                return r;
        (void) propagate_enforce_deadlines(cfg);
        r = state_load(cfg->state_directory, &s);
        if (r == -EUCLEAN)
                return log_debug_errno(ENOTRECOVERABLE, "%s/state.json is corrupt: %s Nothing was changed; "
                                       "move it aside to start over.", cfg->state_directory, log_detail() ?: "");
        if (r < 0)
                return r;
        if (recover) {
                r = update_recover(cfg, &s);
                if (r < 0)
                        return r;
        }
        *ret_lock = TAKE_FD(lock);
        *ret_state = s;
        state_init(&s);
        return 0;
}

static int save(const Config *cfg, const State *s) {
        int r = state_save(cfg->state_directory, s);
        if (r < 0)
                return log_debug_errno(r, "Cannot record the new state in %s: %m", cfg->state_directory);
        return 0;
}

static void slot_forget(State *s, int slot) {
        free(s->slots[slot].version);
        free(s->slots[slot].fstype);
        s->slots[slot] = (SlotInfo) { .state = SLOT_EMPTY };
        if (s->next_boot == slot)
                s->next_boot = s->active;
        if (s->staged == slot)
                s->staged = -1;
        if (s->switching == slot)
                s->switching = -1;
}

int update_recover(const Config *cfg, State *s) {
        bool changed = false;
        int r;

        for (int i = 0; i < SLOT_MAX; i++)
                if (s->slots[i].state != SLOT_READY) {
                        _cleanup_(slot_resume_done) SlotResume res = {};

                        /* A download with a resume record stays, to be continued (and verified again). */
                        if (slot_resume_load(cfg->state_directory, i, &res) >= 0)
                                continue;
                        /* Leftovers of an interrupted write: nothing in them was trusted yet. */
                        r = slot_clear(cfg->state_directory, i);
                        if (r < 0)
                                return r;
                        if (s->slots[i].state != SLOT_EMPTY) {
                                slot_forget(s, i);
                                changed = true;
                        }
                }

        if (s->switching >= 0) {
                int x = s->switching, n = mount_count_at(cfg->target);
                _cleanup_free_ char *id = NULL, *live = NULL;

                if (n >= 2) {
                        /* The new image is beneath the old top: finish the switch by removing the top,
                         * which can only move every namespace forward. */
                        log_debug("Recovering: finishing the interrupted switch to slot %s.", slot_name(x));
                        r = mount_remove_top(cfg->target);
                        if (r < 0)
                                return r;
                }
                if (update_live_os(cfg, &id, &live) >= 0 && live && s->slots[x].version &&
                    version_compare(live, s->slots[x].version) == 0) {
                        s->active = x;
                        s->next_boot = x;
                        s->boot_tries = BOOT_TRIES;
                        s->good = false;
                } else
                        log_debug("Recovering: the switch to slot %s had not started; slot stays staged.", slot_name(x));
                s->switching = -1;
                changed = true;
        }
        return changed ? save(cfg, s) : 0;
}

/* Attaches, verifies and mounts the slot's image, checks the image's own os-release against the
 * manifest, then tucks it beneath Target and removes the old top. State is written before the
 * tuck (switching = slot) and after the top is gone (active = slot). */
static int switch_to_slot(const Config *cfg, State *s, int slot, bool *ret_degraded, bool *ret_staged_only) {
        _cleanup_(policy_set_done) PolicySet policies = {};
        PropagateReport rep = {};
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *dir = slot_path(cfg->state_directory, slot), *image = NULL, *tree = NULL, *loopdev = NULL,
                            *device = NULL, *name = NULL;
        _cleanup_close_ int loop_fd = -EBADF, mnt = -EBADF;
        const ManifestImage *img;
        OsRelease o = {};
        uint64_t t_verified;
        bool kernel;
        int r;

        if (!dir || !(image = path_join(dir, SLOT_IMAGE)) || !(tree = path_join(dir, SLOT_TREE)))
                return -ENOMEM;
        r = policy_load(cfg, &policies);
        if (r < 0)
                return r;
        r = slot_load_manifest(cfg->state_directory, slot, &m);
        if (r < 0)
                return r;
        img = &m->images[0];

        r = loop_attach(image, &loop_fd, &loopdev);
        if (r < 0)
                return r;
        failpoint("after-loop-attach");

        kernel = verity_kernel_available();
        if (cfg->verity == VERITY_MODE_KERNEL && !kernel)
                return log_debug_errno(ENODEV, "Verity=kernel, but this kernel has no device-mapper (/dev/mapper/control).");
        if (cfg->verity == VERITY_MODE_USERSPACE)
                kernel = false;
        if (asprintf(&name, "osupdate-usr-%s", slot_name(slot)) < 0)
                return -ENOMEM;
        r = verity_open(loopdev, tree, &img->verity, img->root_hash, img->root_hash_size, kernel, name, &device);
        if (r < 0)
                return r;
        *ret_degraded = !kernel;
        log_debug("Slot %s verified by dm-verity %s: mounting %s.", slot_name(slot), kernel ? "in the kernel" : "in userspace", device);
        failpoint("after-verity");
        t_verified = now_usec();

        r = mount_image_detached(device, img->fstype, &mnt);
        if (r < 0)
                goto fail_verity;
        /* The loop device now lives as long as the mount (autoclear). */
        loop_fd = safe_close(loop_fd);

        r = os_release_read_at(mnt, "lib/os-release", &o);
        if (r < 0) {
                r = log_debug_errno(EILSEQ, "The image has no readable lib/os-release: it does not look like a /usr image.");
                goto fail_verity;
        }
        if (!o.id || strcmp(o.id, m->os_id) != 0 || !o.version || version_compare(o.version, m->version) != 0) {
                r = log_debug_errno(EILSEQ, "The image's lib/os-release says %s %s, its manifest %s %s.",
                                    o.id ?: "(no ID)", o.version ?: "(no version)", m->os_id, m->version);
                os_release_done(&o);
                goto fail_verity;
        }
        os_release_done(&o);

        failpoint("before-state-write");
        s->switching = slot;
        r = save(cfg, s);
        if (r < 0)
                goto fail_verity;

        /* If the host itself still defers an earlier update, move it forward to that one first:
         * beneath the top means right under it, above the older images it covers. */
        if (mount_count_at(cfg->target) >= 2) {
                r = mount_remove_stale_tops(-EBADF, cfg->target);
                if (r < 0)
                        goto fail_verity;
        }
        r = mount_tuck_beneath(mnt, cfg->target);
        if (r == -EOPNOTSUPP) {
                /* Kernels before 6.5: nothing is mounted or unmounted; the next boot uses the slot. */
                s->switching = -1;
                s->staged = slot;
                s->next_boot = slot;
                s->boot_tries = BOOT_TRIES;
                s->good = false;
                *ret_staged_only = true;
                if (kernel)
                        (void) verity_close(name); /* deferred: goes with our detached mount */
                r = save(cfg, s);
                if (r < 0)
                        return r;
                return log_debug_errno(EOPNOTSUPP, "This kernel cannot mount beneath %s (Linux >= 6.5 needed): version %s is staged in slot %s for the next boot.",
                                       cfg->target, m->version, slot_name(slot));
        }
        if (r < 0) {
                s->switching = -1;
                (void) save(cfg, s);
                goto fail_verity;
        }
        failpoint("after-tuck");

        /* The old top goes per policy: for force namespaces the host's unmount propagates (it follows
         * the parent: the new mount), defer namespaces keep theirs until they release it. */
        r = propagate_switch(cfg, &policies, mnt, m->version, m->critical, &rep);
        if (r < 0)
                return r;
        if (rep.deferred > 0)
                log_info("%u namespace(s) deferred, %u forced, %u skipped%s.", rep.deferred, rep.forced, rep.skipped,
                         rep.next_deadline ? "; the deadline forces them later" : "");
        /* bench/apply reads this: from "image verified" to "every namespace shows it". */
        if (getenv("OSUPDATE_TIMING"))
                fprintf(stderr, "timing: verified-to-switched %.3f ms\n", (double) (now_usec() - t_verified) / 1000.0);

        if (s->active >= 0 && s->active != slot && kernel) {
                _cleanup_free_ char *old = NULL;
                /* Deferred: the old device goes once the last namespace lets go of it. */
                if (asprintf(&old, "osupdate-usr-%s", slot_name(s->active)) >= 0)
                        (void) verity_close(old);
        }
        s->active = slot;
        s->next_boot = slot;
        s->switching = -1;
        s->staged = -1;
        s->boot_tries = BOOT_TRIES;
        s->good = false;
        r = save(cfg, s);
        if (r < 0)
                return r;
        failpoint("after-state-write");
        return 0;

fail_verity:
        if (kernel)
                (void) verity_close(name);
        return r;
}

typedef struct ApplyContext {
        const Config *cfg;
        State *state;
        int slot;
        InstallFacts facts;
        bool marked;
        bool resuming;          /* the slot holds the start of this very download */
} ApplyContext;

/* Called with the authentic manifest, before a payload byte is written. */
static int apply_check(const Manifest *m, void *userdata) {
        ApplyContext *c = userdata;
        int r;

        r = install_check(m, &c->facts);
        if (r < 0)
                return r;
        if (c->resuming) {
                /* Same URL, same file (If-Range held): the slot's partial image continues. */
                c->marked = true;
                return 0;
        }
        /* Only now is the slot touched. Its files are *.partial until the whole bundle verified, and
         * a slot that is not "ready" in state.json is never used: a crash from here on leaves
         * partial files that recovery removes (or a download to resume). If the slot held an
         * older version, state.json forgets it first; an empty slot needs no state change. */
        r = slot_clear(c->cfg->state_directory, c->slot);
        if (r < 0)
                return r;
        c->marked = true;
        if (c->state->slots[c->slot].state == SLOT_EMPTY)
                return 0;
        slot_forget(c->state, c->slot);
        return save(c->cfg, c->state);
}

static int pick_slot_once(const Config *cfg, const State *s, int *ret_busy) {
        *ret_busy = 0;
        for (int i = 0; i < SLOT_MAX; i++) {
                int r;

                if (i == s->booted || i == s->active)
                        continue;
                r = slot_is_busy(cfg->state_directory, i);
                if (r < 0)
                        return r;
                if (r > 0) {
                        (*ret_busy)++;
                        continue;
                }
                return i;
        }
        return -ETXTBSY;
}

static int pick_slot(const Config *cfg, const State *s) {
        int r, busy;

        /* A loop device with autoclear is released by the kernel shortly *after* the last unmount
         * returns: right after a switch, the previous slot may look busy for a few milliseconds. */
        for (unsigned i = 0; i < 100; i++) {
                r = pick_slot_once(cfg, s, &busy);
                if (r != -ETXTBSY || busy == 0)
                        break;
                (void) usleep(20000);
        }
        if (r == -ETXTBSY)
                return log_debug_errno(ETXTBSY, "No slot can be written: %s.",
                                       busy ? "the inactive slot is still mounted in some namespace" : "both slots are booted or live");
        return r;
}

/* Failures of the network, after which a partial download is worth keeping for a later run. */
static bool network_error(int r) {
        return r == -ECOMM || r == -ETIMEDOUT || r == -EREMOTEIO || r == -ECONNABORTED;
}

/* What a resumed download reads: the bundle's head and the image's verified-before bytes from the
 * slot (through the verifier again: nothing on disk is trusted), then the network from there. */
typedef struct ResumeSource {
        int head_fd, image_fd;
        uint64_t head_left, image_left;
        Fetch *fetch;
} ResumeSource;

static ssize_t resume_read(void *userdata, void *buf, size_t len) {
        ResumeSource *s = userdata;
        uint64_t *left = s->head_left > 0 ? &s->head_left : s->image_left > 0 ? &s->image_left : NULL;
        ssize_t n;

        if (!left)
                return fetch_read(s->fetch, buf, len);
        n = loop_read(left == &s->head_left ? s->head_fd : s->image_fd, buf, (size_t) MIN((uint64_t) len, *left));
        if (n < 0)
                return n;
        if (n == 0)
                return log_debug_errno(EIO, "The partial download in the slot shrank.");
        *left -= (uint64_t) n;
        return n;
}

static int read_into_slot(ApplyContext *ctx, SlotWriter *w, const Keyring *keyring, BundleReadFunc fn, void *userdata) {
        BundleReadOptions opts = {
                .keyring = keyring,
                .signatures_required = ctx->cfg->signatures_required,
                .now = ctx->facts.now,
                .sink = &w->sink,
        };
        int r;

        r = bundle_read(fn, userdata, &opts, NULL, NULL);
        if (r >= 0)
                r = slot_writer_commit(w);
        return r;
}

static int install_from_url(ApplyContext *ctx, SlotWriter *w, const Keyring *keyring, const char *url,
                            const InstallOptions *o) {
        const NetworkConfig *n = &ctx->cfg->network;
        FetchOptions fo = {
                .ca_file = n->ca_file,
                .client_certificate = n->client_certificate,
                .client_key = n->client_key,
                .user_agent = n->user_agent,
                .headers = n->headers,
                .connect_timeout_usec = n->connect_timeout_usec,
                .low_speed_limit = n->low_speed_limit,
                .low_speed_time_usec = n->low_speed_time_usec,
                .retries = n->retries,
                .retry_delay_usec = n->retry_delay_usec,
                .max_bytes = n->max_bytes,
                .progress = o->progress,
                .userdata = o->userdata,
        };
        _cleanup_(slot_resume_done) SlotResume res = {};
        _cleanup_close_ int head_fd = -EBADF, image_fd = -EBADF;
        Fetch *f = NULL;
        bool have;
        int r;

        have = ctx->state->slots[ctx->slot].state != SLOT_READY &&
               slot_resume_load(ctx->cfg->state_directory, ctx->slot, &res) >= 0 && strcmp(res.url, url) == 0;
        if (have) {
                _cleanup_free_ char *dir = slot_path(ctx->cfg->state_directory, ctx->slot), *hp = NULL, *ip = NULL;
                if (!dir || !(hp = path_join(dir, SLOT_HEAD)) || !(ip = path_join(dir, SLOT_IMAGE ".partial")))
                        return -ENOMEM;
                head_fd = open(hp, O_RDONLY | O_CLOEXEC);
                image_fd = open(ip, O_RDONLY | O_CLOEXEC);
                have = head_fd >= 0 && image_fd >= 0;
        }

        r = fetch_open(&fo, url, have ? res.head_size + res.image_size : 0, have ? res.validator : NULL, &f);
        if (r < 0)
                return r;
        if (have && !fetch_resumed(f))
                log_debug("%s changed on the server (or ignores ranges): downloading it whole again.", url);
        ctx->resuming = have && fetch_resumed(f);
        w->url = url;
        w->validator = fetch_validator(f);
        w->image_on_disk = ctx->resuming ? res.image_size : 0;
        if (ctx->resuming) {
                ResumeSource src = {
                        .head_fd = head_fd,
                        .image_fd = image_fd,
                        .head_left = res.head_size,
                        .image_left = res.image_size,
                        .fetch = f,
                };
                log_debug("Resuming %s at byte %llu (%llu image bytes already in slot %s).", url,
                          (unsigned long long) (res.head_size + res.image_size), (unsigned long long) res.image_size,
                          slot_name(ctx->slot));
                r = read_into_slot(ctx, w, keyring, resume_read, &src);
        } else
                r = read_into_slot(ctx, w, keyring, fetch_read, f);
        /* Both point into what is freed here and by the caller. */
        w->url = w->validator = NULL;
        fetch_free(f);
        return r;
}

static int install_source(ApplyContext *ctx, SlotWriter *w, const Keyring *keyring, const InstallOptions *o) {
        _cleanup_close_ int fd = -EBADF;
        const char *base;
        int r;

        if (!source_is_url(o->source)) {
                fd = open(o->source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        return log_debug_errno(errno, "Cannot open bundle %s: %m", o->source);
                return read_into_slot(ctx, w, keyring, bundle_fd_read, &fd);
        }

        /* The URL itself, then each Mirror= with the same file name. */
        r = install_from_url(ctx, w, keyring, o->source, o);
        base = strrchr(o->source, '/');
        for (char **m = ctx->cfg->network.mirrors; m && *m && network_error(r) && base; m++) {
                _cleanup_free_ char *url = NULL;
                size_t l = strlen(*m);

                if (asprintf(&url, "%s%s", *m, (l > 0 && (*m)[l - 1] == '/') ? base + 1 : base) < 0)
                        return -ENOMEM;
                log_debug("Trying mirror %s.", url);
                slot_writer_done(w);
                r = slot_writer_init(w, ctx->cfg->state_directory, ctx->slot);
                if (r < 0)
                        return r;
                w->check = apply_check;
                w->userdata = ctx;
                r = install_from_url(ctx, w, keyring, url, o);
        }
        return r;
}

int update_apply(const Config *cfg, const Keyring *keyring, const InstallOptions *o, ApplyResult *ret) {
        _cleanup_free_ char *live_id = NULL, *live_version = NULL;
        _cleanup_(state_done) State s = {};
        _cleanup_(slot_writer_done) SlotWriter w = {};
        _cleanup_(policy_set_done) PolicySet policies = {};
        _cleanup_close_ int lock = -EBADF;
        ApplyContext ctx = { .cfg = cfg, .state = &s };
        struct utsname u;
        int r;

        log_detail_clear();
        *ret = (ApplyResult) { .slot = -1 };
        r = begin(cfg, false, &lock, &s);
        if (r < 0)
                return r;

        /* A broken policy is refused before anything changes. */
        r = policy_load(cfg, &policies);
        if (r < 0)
                return r;

        r = mount_is_mount_point(cfg->target);
        if (r < 0)
                return log_debug_errno(r, "Cannot inspect target %s: %m", cfg->target);
        if (r == 0)
                return log_debug_errno(ENOTBLK, "Target %s is not a mount point: there is no running image to update.", cfg->target);

        r = update_recover(cfg, &s);
        if (r < 0)
                return r;

        r = update_live_os(cfg, &live_id, &live_version);
        if (r < 0 && !cfg->os_id)
                return log_debug_errno(EMEDIUMTYPE, "Cannot tell which OS runs: no %s/lib/os-release and no OSId= in the configuration.",
                                       cfg->target);
        if (uname(&u) < 0)
                return -errno;
        ctx.facts = (InstallFacts) {
                .os_id = cfg->os_id ?: live_id,
                .architecture = u.machine,
                .running_version = live_version,
                .version_floor = s.version_floor,
                .now = time(NULL),
        };
        if (!ctx.facts.os_id)
                return log_debug_errno(EMEDIUMTYPE, "%s/lib/os-release has no ID= and OSId= is not set.", cfg->target);

        ctx.slot = pick_slot(cfg, &s);
        if (ctx.slot == -ETXTBSY && propagate_force_pending(cfg) > 0)
                /* Namespaces deferring an older version held the only slot to write: they moved
                 * forward to the live version, which frees it. */
                ctx.slot = pick_slot(cfg, &s);
        if (ctx.slot < 0)
                return ctx.slot;

        r = slot_writer_init(&w, cfg->state_directory, ctx.slot);
        if (r < 0)
                return r;
        w.check = apply_check;
        w.userdata = &ctx;
        r = install_source(&ctx, &w, keyring, o);
        if (r < 0) {
                /* A download cut by the network keeps what it verified so far, for the next run to
                 * resume. Any other failure: the slot is emptied, nothing is mounted, and the
                 * active slot and the live /usr are as before. Until the slot was marked, nothing
                 * of it was touched at all. */
                if (ctx.marked && !(network_error(r) && source_is_url(o->source)))
                        (void) slot_clear(cfg->state_directory, ctx.slot);
                return r;
        }

        s.slots[ctx.slot] = (SlotInfo) { .state = SLOT_READY, .version = TAKE_PTR(w.version), .fstype = TAKE_PTR(w.fstype) };
        if (!o->activate)
                s.staged = ctx.slot;
        r = save(cfg, &s);
        if (r < 0)
                return r;
        failpoint("after-slot-write");

        ret->slot = ctx.slot;
        ret->version = strdup(s.slots[ctx.slot].version);
        ret->previous_version = live_version ? strdup(live_version) : NULL;
        if (!o->activate)
                return 0;
        return switch_to_slot(cfg, &s, ctx.slot, &ret->degraded, &ret->staged_only);
}

int update_apply_staged(const Config *cfg, ApplyResult *ret) {
        _cleanup_(state_done) State s = {};
        _cleanup_close_ int lock = -EBADF;
        int r;

        log_detail_clear();
        *ret = (ApplyResult) { .slot = -1 };
        r = begin(cfg, true, &lock, &s);
        if (r < 0)
                return r;
        if (s.staged < 0 || s.slots[s.staged].state != SLOT_READY)
                return log_debug_errno(ENOMEDIUM, "No slot is staged: run 'osupdate fetch' first.");
        ret->slot = s.staged;
        ret->version = strdup(s.slots[s.staged].version);
        if (s.active >= 0)
                ret->previous_version = strdup(s.slots[s.active].version);
        return switch_to_slot(cfg, &s, s.staged, &ret->degraded, &ret->staged_only);
}

int update_rollback(const Config *cfg, ApplyResult *ret) {
        _cleanup_(state_done) State s = {};
        _cleanup_close_ int lock = -EBADF;
        int r, prev = -1;

        log_detail_clear();
        *ret = (ApplyResult) { .slot = -1 };
        r = begin(cfg, true, &lock, &s);
        if (r < 0)
                return r;

        for (int i = 0; i < SLOT_MAX; i++)
                if (i != s.active && s.slots[i].state == SLOT_READY)
                        prev = i;
        if (prev < 0)
                return log_debug_errno(ENOMEDIUM, "There is no other complete slot to roll back to.");
        if (s.version_floor && version_compare(s.slots[prev].version, s.version_floor) < 0)
                return log_debug_errno(ESTALE, "Slot %s holds version %s, below the version floor %s: refusing to roll back.",
                                       slot_name(prev), s.slots[prev].version, s.version_floor);
        ret->slot = prev;
        ret->version = strdup(s.slots[prev].version);
        if (s.active >= 0)
                ret->previous_version = strdup(s.slots[s.active].version);
        return switch_to_slot(cfg, &s, prev, &ret->degraded, &ret->staged_only);
}

int update_mark_good(const Config *cfg, bool raise_floor) {
        _cleanup_(state_done) State s = {};
        _cleanup_close_ int lock = -EBADF;
        int r;

        r = begin(cfg, true, &lock, &s);
        if (r < 0)
                return r;
        if (s.active < 0)
                return log_debug_errno(ENOMEDIUM, "No slot is active: nothing to mark good.");
        s.good = true;
        s.boot_tries = -1;
        if (raise_floor) {
                char *v = strdup(s.slots[s.active].version);
                if (!v)
                        return -ENOMEM;
                free(s.version_floor);
                s.version_floor = v;
        }
        return save(cfg, &s);
}

int update_gc(const Config *cfg) {
        _cleanup_(state_done) State s = {};
        _cleanup_close_ int lock = -EBADF;
        int r, freed = 0;

        r = begin(cfg, true, &lock, &s);
        if (r < 0)
                return r;
        for (int i = 0; i < SLOT_MAX; i++) {
                if (i == s.active || i == s.booted || i == s.next_boot || i == s.staged || s.slots[i].state == SLOT_EMPTY)
                        continue;
                r = slot_is_busy(cfg->state_directory, i);
                if (r != 0)
                        continue;
                r = slot_clear(cfg->state_directory, i);
                if (r < 0)
                        return r;
                slot_forget(&s, i);
                freed++;
        }
        if (freed > 0) {
                r = save(cfg, &s);
                if (r < 0)
                        return r;
        }
        return freed;
}
