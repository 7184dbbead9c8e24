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
#include "release.h"
#include "slot-seal.h"
#include "facts.h"
#include "failpoint.h"
#include "plan.h"
#include "slot.h"
#include "verity-activate.h"
#include "version.h"

#define BOOT_TRIES 3

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

void dry_run_done(DryRun *d) {
        free(d->newest_live);
        switch_plan_done(&d->plan);
        for (size_t i = 0; i < d->n_ns; i++) {
                free(d->ns[i].version);
                free(d->ns[i].rule);
        }
        free(d->ns);
        *d = (DryRun) { .slot = -1 };
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
        (void) release_expired(cfg);
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
                        r = slot_unseal_and_clear(cfg->state_directory, i);
                        if (r < 0)
                                return r;
                        if (s->slots[i].state != SLOT_EMPTY) {
                                slot_forget(s, i);
                                changed = true;
                        }
                }

        if (s->switching >= 0) {
                int x = s->switching;
                bool switched = false;

                /* From the write-ahead records and what is mounted where: unrecorded stacks move
                 * forward (finishing the switch), recorded deferrals keep their deadlines. */
                r = release_recover(cfg, 1U << x, &switched);
                if (r < 0)
                        return r;
                if (switched) {
                        log_debug("Recovering: the switch to slot %s went in; it is active.", slot_name(x));
                        s->active = x;
                        s->next_boot = x;
                        s->staged = -1;
                        s->boot_tries = BOOT_TRIES;
                        s->good = false;
                } else
                        log_debug("Recovering: the switch to slot %s had not started; slot stays staged.", slot_name(x));
                s->switching = -1;
                changed = true;
        }
        return changed ? save(cfg, s) : 0;
}

/* A slot whose image turned out not to be a usable /usr for its manifest: emptied, so nothing
 * ever tries it again. */
static int slot_reject(const Config *cfg, State *s, int slot, int error) {
        (void) slot_unseal_and_clear(cfg->state_directory, slot);
        slot_forget(s, slot);
        (void) save(cfg, s);
        return error;
}

/* Trust at use: the slot's signed manifest is authenticated again, the planner admits it for this
 * kind of switch, then the image is attached, bound to the signed root hash (dm-verity, or the
 * whole tree checked over the very loop device that is then mounted), mounted, its own os-release
 * checked against the manifest, tucked beneath Target, and the switch plan carried out. State is
 * written before the tuck (switching = slot) and after (active = slot). */
static int switch_to_slot(const Config *cfg, const Keyring *keyring, State *s, int slot, PlanKind kind, ApplyResult *ret) {
        _cleanup_(policy_set_done) PolicySet policies = {};
        _cleanup_(facts_done) Facts facts = {};
        _cleanup_(switch_plan_done) SwitchPlan plan = {};
        _cleanup_free_ SwitchNamespace *sns = NULL;
        PropagateReport rep = {};
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *dir = slot_path(cfg->state_directory, slot), *image = NULL, *tree = NULL, *loopdev = NULL,
                            *device = NULL, *name = NULL;
        _cleanup_close_ int loop_fd = -EBADF, mnt = -EBADF;
        const ManifestImage *img;
        Verdict v;
        OsRelease o = {};
        uint64_t t_verified;
        bool kernel;
        int r;

        if (!dir || !(image = path_join(dir, SLOT_IMAGE)) || !(tree = path_join(dir, SLOT_TREE)))
                return -ENOMEM;
        r = policy_load(cfg, &policies);
        if (r < 0)
                return r;
        r = facts_gather(cfg, keyring, s, time(NULL), &facts);
        if (r < 0)
                return r;
        r = facts_authenticate_slot(cfg, keyring, slot, &m);
        if (r < 0)
                return log_debug_errno(r, "Slot %s: its stored signed manifest does not authenticate with today's keys (%s): "
                                       "refusing to put it live.", slot_name(slot), strerror(-r));
        plan_admit(&facts.device, m, kind, slot, &v);
        if (v.error < 0)
                return log_debug_errno(v.error, "%s", v.reason);
        img = &m->images[0];
        ret->version = strdup(m->version);

        r = slot_seal(cfg->state_directory, slot, true);
        if (r < 0)
                return r;
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
        ret->degraded = !kernel;
        log_debug("Slot %s verified by dm-verity %s: mounting %s.", slot_name(slot), kernel ? "in the kernel" : "in userspace", device);
        failpoint("after-verity");
        t_verified = now_usec();

        r = mount_image_detached(device, img->fstype, &mnt);
        if (r == -EMEDIUMTYPE) {
                if (kernel)
                        (void) verity_close(name);
                return slot_reject(cfg, s, slot, r);
        }
        if (r < 0)
                goto fail_verity;
        /* The loop device now lives as long as the mount (autoclear). */
        loop_fd = safe_close(loop_fd);

        r = os_release_read_at(mnt, "lib/os-release", &o);
        if (r < 0) {
                r = log_debug_errno(EILSEQ, "The image has no readable lib/os-release: it does not look like a /usr image.");
                goto fail_reject;
        }
        if (!o.id || strcmp(o.id, m->os_id) != 0 || !o.version || version_compare(o.version, m->version) != 0) {
                r = log_debug_errno(EILSEQ, "The image's lib/os-release says %s %s, its manifest %s %s.",
                                    o.id ?: "(no ID)", o.version ?: "(no version)", m->os_id, m->version);
                os_release_done(&o);
                goto fail_reject;
        }
        os_release_done(&o);

        /* Planned now, so deadlines count from the switch, not from before the verification. */
        sns = calloc(facts.n_ns + 1, sizeof(SwitchNamespace));
        if (!sns) {
                r = -ENOMEM;
                goto fail_verity;
        }
        propagate_switch_facts(facts.ns, facts.n_ns, sns);
        r = plan_switch(&policies, sns, facts.n_ns, m->critical, time(NULL), &plan);
        if (r < 0)
                goto fail_verity;

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
                ret->staged_only = true;
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

        r = propagate_execute(cfg, &plan, facts.ns, facts.n_ns, mnt, m->version, &rep);
        if (r < 0)
                return r;
        for (size_t i = 0; i < plan.n_steps; i++) {
                if (plan.steps[i].overridden && plan.steps[i].action == SWITCH_NOW)
                        log_info("Critical update: namespace of pid %d (rule %s) is switched now, not deferred.",
                                 (int) facts.ns[i].pid, plan.steps[i].rule ?: "default");
                if (plan.steps[i].follows_parent)
                        log_info("Namespace of pid %d follows its parent service (pid %d), which is switched now.",
                                 (int) facts.ns[i].pid, facts.ns[i].parent >= 0 ? (int) facts.ns[facts.ns[i].parent].pid : 0);
        }
        if (rep.deferred > 0)
                log_info("%u namespace(s) deferred, %u forced, %u skipped; the deadline forces them later.", rep.deferred,
                         rep.forced, rep.skipped);
        /* bench/apply reads this: from "image verified" to "every namespace shows it". */
        if (getenv("OSUPDATE_TIMING"))
                fprintf(stderr, "timing: verified-to-switched %.3f ms\n", (double) (now_usec() - t_verified) / 1000.0);

        if (s->active >= 0 && s->active != slot) {
                if (kernel) {
                        _cleanup_free_ char *old = NULL;
                        /* Deferred: the old device goes once the last namespace lets go of it. */
                        if (asprintf(&old, "osupdate-usr-%s", slot_name(s->active)) >= 0)
                                (void) verity_close(old);
                }
                /* The previous slot stays sealed while anything still has it mounted; it is unsealed
                 * only when it is written again. */
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

fail_reject:
        if (kernel)
                (void) verity_close(name);
        mnt = safe_close(mnt);
        return slot_reject(cfg, s, slot, r);
fail_verity:
        if (kernel)
                (void) verity_close(name);
        return r;
}

typedef struct ApplyContext {
        const Config *cfg;
        State *state;
        int slot;
        const DeviceFacts *device;
        PlanKind kind;
        bool dry_run;           /* verify and plan only: the slot is not touched */
        bool marked;
        bool resuming;          /* the slot holds the start of this very download */
        Manifest *manifest;     /* dry run: the authentic manifest, for the plan */
} ApplyContext;

/* Called with the authentic manifest, before a payload byte is written. */
static int apply_check(const Manifest *m, void *userdata) {
        ApplyContext *c = userdata;
        Verdict v;
        int r;

        plan_admit(c->device, m, c->kind, -1, &v);
        if (v.error < 0)
                return log_debug_errno(v.error, "%s", v.reason);
        if (c->dry_run)
                return 0;
        if (c->resuming) {
                /* Same URL, same file (If-Range held): the slot's partial image continues. */
                c->marked = true;
                return 0;
        }
        /* Only now is the slot touched. Its files are *.partial until the whole bundle verified, and
         * a slot that is not "ready" in state.json is never used: a crash from here on leaves
         * partial files that recovery removes (or a download to resume). If the slot held an
         * older version, state.json forgets it first; an empty slot needs no state change. */
        r = slot_unseal_and_clear(c->cfg->state_directory, c->slot);
        if (r < 0)
                return r;
        c->marked = true;
        if (c->state->slots[c->slot].state == SLOT_EMPTY)
                return 0;
        slot_forget(c->state, c->slot);
        return save(c->cfg, c->state);
}

/* The slot a new bundle goes to, as the planner chooses it. A loop device with autoclear is
 * released by the kernel shortly *after* the last unmount returns: right after a switch, the
 * previous slot may look busy for a few milliseconds, so a busy slot held by nobody is asked
 * about again for a while. */
static int choose_slot(const Config *cfg, Facts *facts, bool dry_run, SlotPlan *ret) {
        int r;

        for (unsigned i = 0;; i++) {
                bool lagging = false;

                plan_slot(&facts->device, ret);
                if (ret->slot >= 0 && !ret->force_deferrals)
                        return 0;
                for (int k = 0; k < SLOT_MAX; k++)
                        if (k != facts->device.active && k != facts->device.booted && facts->device.slots[k].busy &&
                            !facts->device.slots[k].held_by_deferrals) {
                                bool held = false;
                                for (size_t j = 0; j < facts->n_ns; j++)
                                        held = held || ((facts->ns[j].slots_at_target | facts->ns[j].slots_elsewhere) & (1U << k));
                                lagging = lagging || !held;
                        }
                if (!lagging || i >= 100)
                        break;
                (void) usleep(20000);
                r = facts_refresh_busy(cfg, facts);
                if (r < 0)
                        return r;
        }
        if (ret->slot < 0)
                return log_debug_errno(ret->verdict.error, "%s", ret->verdict.reason);
        if (dry_run)
                return 0;
        /* Deferrals of an older version hold the only slot to write: they move forward, to the
         * live version, which frees it. Only those: others keep waiting. */
        r = release_holding(cfg, facts->ns, facts->n_ns, 1U << ret->slot);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < 100; i++) {
                r = slot_is_busy(cfg->state_directory, ret->slot);
                if (r <= 0)
                        return r;
                (void) usleep(20000);
        }
        return log_debug_errno(ETXTBSY, "No slot can be written: slot %s is still in use after its deferrals ended "
                               "(files open on the old /usr keep it).", slot_name(ret->slot));
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
                .now = ctx->device->now,
                .sink = ctx->dry_run ? NULL : &w->sink,
        };
        int r;

        if (ctx->dry_run) {
                /* Every byte verified, nothing written: the manifest goes to the planner after. */
                manifest_free(ctx->manifest);
                ctx->manifest = NULL;
                r = bundle_read(fn, userdata, &opts, &ctx->manifest, NULL);
                return r < 0 ? r : apply_check(ctx->manifest, ctx);
        }
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

        have = !ctx->dry_run && ctx->state->slots[ctx->slot].state != SLOT_READY &&
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

static void dry_run_report(const Facts *facts, const SlotPlan *sp, const Manifest *m, const PolicySet *ps, DryRun *ret) {
        _cleanup_free_ SwitchNamespace *sns = calloc(facts->n_ns + 1, sizeof(SwitchNamespace));

        ret->slot = sp->slot;
        ret->force_deferrals = sp->force_deferrals;
        ret->newest_live = plan_newest_live(&facts->device) ? strdup(plan_newest_live(&facts->device)) : NULL;
        if (!sns)
                return;
        propagate_switch_facts(facts->ns, facts->n_ns, sns);
        if (plan_switch(ps, sns, facts->n_ns, m && m->critical, facts->device.now, &ret->plan) < 0)
                return;
        ret->n_ns = facts->n_ns;
        ret->ns = calloc(facts->n_ns + 1, sizeof(DryRunNamespace));
        for (size_t i = 0; ret->ns && i < facts->n_ns; i++)
                ret->ns[i] = (DryRunNamespace) {
                        .pid = facts->ns[i].pid,
                        .inode = facts->ns[i].inode,
                        .relation = facts->ns[i].relation,
                        .trusted = facts->ns[i].trusted,
                        .version = facts->ns[i].version ? strdup(facts->ns[i].version) : NULL,
                        .rule = ret->plan.steps[i].rule ? strdup(ret->plan.steps[i].rule) : NULL,
                };
        /* The plan's rule names point into the policy set, freed when the apply returns. */
        for (size_t i = 0; i < ret->plan.n_steps; i++)
                ret->plan.steps[i].rule = NULL;
}

int update_apply(const Config *cfg, const Keyring *keyring, const InstallOptions *o, ApplyResult *ret) {
        _cleanup_(state_done) State s = {};
        _cleanup_(slot_writer_done) SlotWriter w = {};
        _cleanup_(policy_set_done) PolicySet policies = {};
        _cleanup_(facts_done) Facts facts = {};
        _cleanup_close_ int lock = -EBADF;
        ApplyContext ctx = { .cfg = cfg, .state = &s, .kind = o->activate ? PLAN_APPLY : PLAN_FETCH, .dry_run = o->dry_run };
        SlotPlan sp;
        int r;

        log_detail_clear();
        *ret = (ApplyResult) { .slot = -1, .dry = ret->dry };
        if (o->dry_run) {
                /* A dry run takes no lock, enforces no deadline, recovers nothing: it only reads. */
                state_init(&s);
                r = state_load(cfg->state_directory, &s);
                if (r == -EUCLEAN)
                        return log_debug_errno(ENOTRECOVERABLE, "%s/state.json is corrupt: %s", cfg->state_directory, log_detail() ?: "");
        } else
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

        if (!o->dry_run) {
                r = update_recover(cfg, &s);
                if (r < 0)
                        return r;
        }
        r = facts_gather(cfg, keyring, &s, time(NULL), &facts);
        if (r < 0)
                return r;
        if (!facts.device.os_id)
                return log_debug_errno(EMEDIUMTYPE, "Cannot tell which OS runs: %s/lib/os-release has no ID= and OSId= is not set.",
                                       cfg->target);
        ctx.device = &facts.device;

        r = choose_slot(cfg, &facts, o->dry_run, &sp);
        if (r < 0)
                return r;
        ctx.slot = sp.slot;

        r = slot_writer_init(&w, cfg->state_directory, ctx.slot);
        if (r < 0)
                return r;
        w.check = apply_check;
        w.userdata = &ctx;
        r = install_source(&ctx, &w, keyring, o);
        if (o->dry_run) {
                if (r >= 0 && ret->dry)
                        dry_run_report(&facts, &sp, ctx.manifest, &policies, ret->dry);
                if (ctx.manifest)
                        ret->version = strdup(ctx.manifest->version);
                ret->slot = sp.slot;
                manifest_free(ctx.manifest);
                return r;
        }
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
        ret->previous_version = facts.host_version ? strdup(facts.host_version) : NULL;
        if (!o->activate) {
                ret->version = strdup(s.slots[ctx.slot].version);
                return 0;
        }
        return switch_to_slot(cfg, keyring, &s, ctx.slot, PLAN_APPLY, ret);
}

int update_apply_staged(const Config *cfg, const Keyring *keyring, ApplyResult *ret) {
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
        if (s.active >= 0 && s.slots[s.active].version)
                ret->previous_version = strdup(s.slots[s.active].version);
        return switch_to_slot(cfg, keyring, &s, s.staged, PLAN_STAGED, ret);
}

int update_rollback(const Config *cfg, const Keyring *keyring, ApplyResult *ret) {
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
        ret->slot = prev;
        if (s.active >= 0 && s.slots[s.active].version)
                ret->previous_version = strdup(s.slots[s.active].version);
        return switch_to_slot(cfg, keyring, &s, prev, PLAN_ROLLBACK, ret);
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
                r = slot_unseal_and_clear(cfg->state_directory, i);
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
