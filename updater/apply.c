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
#include "session.h"
#include "slot.h"
#include "source.h"
#include "switch.h"
#include "verity-activate.h"
#include "version.h"


void dry_run_done(DryRun *d) {
        free(d->newest_live);
        free(d->kernel_release);
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

typedef struct ApplyContext {
        const Config *cfg;
        State *state;
        int slot;
        const DeviceFacts *device;
        PlanKind kind;
        bool dry_run;           /* verify and plan only: the slot is not touched */
        bool marked;
        const char *expect_version;
        Source src;
} ApplyContext;

/* Called with the authentic manifest, before a payload byte is written. */
static int apply_check(const Manifest *m, void *userdata) {
        ApplyContext *c = userdata;
        Verdict v;
        int r;

        if (c->expect_version && strcmp(m->version, c->expect_version) != 0)
                return log_debug_errno(EBADMSG, "The bundle is version %s, but it was announced as %s: refused.", m->version,
                                       c->expect_version);
        plan_admit(c->device, m, c->kind, -1, &v);
        if (v.error < 0)
                return log_debug_errno(v.error, "%s", v.reason);
        if (c->dry_run)
                return 0;
        if (c->src.resuming) {
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
        session_forget_slot(c->state, c->slot);
        return session_save(c->cfg, c->state);
}

/* The slot a new bundle goes to, as the planner chooses it. A loop device with autoclear is
 * released by the kernel shortly *after* the last unmount returns: right after a switch, the
 * previous slot may look busy for a few milliseconds, so a busy slot held by nobody is asked
 * about again for a while. */
static int choose_slot(const Config *cfg, Facts *facts, bool dry_run, SlotPlan *ret) {
        int r;

        for (unsigned i = 0;; i++) {
                plan_slot(&facts->device, ret);
                if ((ret->slot >= 0 && !ret->force_deferrals) || !ret->retry || i >= 100)
                        break;
                (void) usleep(20000);
                r = facts_refresh_busy(cfg, facts);
                if (r < 0)
                        return r;
        }
        if (ret->slot < 0)
                return log_debug_errno(ret->verdict.error, "%s", ret->verdict.reason);
        if (dry_run || !ret->force_deferrals)
                return 0;
        /* Deferrals of an older version hold the only slot to write: they move forward, to the
         * live version, which frees it. Only those: others keep waiting. */
        r = release_holding(cfg, facts->ns, facts->n_ns, 1U << ret->slot);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < 100; i++) {
                SlotPlan again;

                r = facts_refresh_namespaces(cfg, facts);
                if (r < 0)
                        return r;
                plan_slot(&facts->device, &again);
                if (again.slot == ret->slot && !again.force_deferrals)
                        return 0;
                (void) usleep(20000);
        }
        return log_debug_errno(ETXTBSY, "No slot can be written: slot %s is still in use after its deferrals ended "
                               "(files open on the old /usr keep it).", slot_name(ret->slot));
}

static void dry_run_report(const Facts *facts, const SlotPlan *sp, const Manifest *m, const PolicySet *ps, DryRun *ret) {
        _cleanup_free_ SwitchNamespace *sns = calloc(facts->n_ns + 1, sizeof(SwitchNamespace));

        ret->slot = sp->slot;
        ret->force_deferrals = sp->force_deferrals;
        ret->newest_live = plan_newest_live(&facts->device) ? strdup(plan_newest_live(&facts->device)) : NULL;
        ret->kernel_release = strdup(facts->uts.release);
        /* The image is not mounted in a dry run: whether it has the running kernel's modules is
         * told when it is (-1: not known). */
        plan_modules(facts->uts.release, facts->modules_live, -1, &ret->modules);
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
        ApplyContext ctx = { .cfg = cfg, .state = &s, .kind = o->activate ? PLAN_APPLY : PLAN_FETCH, .dry_run = o->dry_run,
                             .expect_version = o->expect_version };
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
                if (r >= 0)
                        state_apply_booted(cfg->runtime_directory, &s);
                if (r >= 0 && s.switching >= 0)
                        log_warning("A switch to slot %s was interrupted: the real apply recovers it first, which may change this plan.",
                                    slot_name(s.switching));
        } else
                r = session_begin(cfg, false, &lock, &s);
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
        ctx.src = (Source) {
                .cfg = cfg,
                .slot = ctx.slot,
                .slot_ready = s.slots[ctx.slot].state == SLOT_READY,
                .dry_run = o->dry_run,
                .now = facts.device.now,
                .check = apply_check,
                .userdata = &ctx,
        };
        r = source_read(&ctx.src, &w, keyring, o);
        if (o->dry_run) {
                if (r >= 0 && ret->dry)
                        dry_run_report(&facts, &sp, ctx.src.manifest, &policies, ret->dry);
                if (ctx.src.manifest)
                        ret->version = strdup(ctx.src.manifest->version);
                ret->slot = sp.slot;
                manifest_free(ctx.src.manifest);
                return r;
        }
        if (r < 0) {
                /* A download cut by the network keeps what it verified so far, for the next run to
                 * resume. Any other failure: the slot is emptied, nothing is mounted, and the
                 * active slot and the live /usr are as before. Until the slot was marked, nothing
                 * of it was touched at all. */
                if (ctx.marked && !(source_network_error(r) && source_is_url(o->source)))
                        (void) slot_clear(cfg->state_directory, ctx.slot);
                return r;
        }

        slot_info_done(&s.slots[ctx.slot]);
        s.slots[ctx.slot] = (SlotInfo) { .state = SLOT_READY, .version = TAKE_PTR(w.version), .fstype = TAKE_PTR(w.fstype) };
        if (!o->activate)
                s.staged = ctx.slot;
        r = session_save(cfg, &s);
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
        r = session_begin(cfg, true, &lock, &s);
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
        _cleanup_(facts_done) Facts facts = {};
        SlotPlan sp;
        _cleanup_close_ int lock = -EBADF;
        int r, prev = -1;

        log_detail_clear();
        *ret = (ApplyResult) { .slot = -1 };
        r = session_begin(cfg, true, &lock, &s);
        if (r < 0)
                return r;

        r = facts_gather(cfg, keyring, &s, time(NULL), &facts);
        if (r < 0)
                return r;
        plan_rollback_slot(&facts.device, &sp);
        if (sp.slot < 0)
                return log_debug_errno(sp.verdict.error, "%s", sp.verdict.reason);
        prev = sp.slot;
        ret->slot = prev;
        if (s.active >= 0 && s.slots[s.active].version)
                ret->previous_version = strdup(s.slots[s.active].version);
        return switch_to_slot(cfg, keyring, &s, prev, PLAN_ROLLBACK, ret);
}

int update_mark_good(const Config *cfg, bool raise_floor) {
        _cleanup_(state_done) State s = {};
        _cleanup_close_ int lock = -EBADF;
        int r;

        r = session_begin(cfg, true, &lock, &s);
        if (r < 0)
                return r;
        if (s.active < 0)
                return log_debug_errno(ENOMEDIUM, "No slot is active: nothing to mark good.");
        /* The active slot is good; the trial recorded (boot_tries, good) is the next boot's, so it
         * ends only if that is the same slot: a slot staged for the next boot stays on trial. */
        if (s.next_boot == s.active) {
                s.good = true;
                s.boot_tries = -1;
        }
        s.slots[s.active].good = true;
        s.slots[s.active].unconfirmed = 0;
        free(s.slots[s.active].failed);
        s.slots[s.active].failed = NULL;
        {
                BootRecord *b = state_last_boot(&s, s.active);
                if (b && b->result == BOOT_RESULT_BOOTING && s.active == s.booted)
                        b->result = BOOT_RESULT_GOOD;
        }
        if (raise_floor) {
                char *v = strdup(s.slots[s.active].version);
                if (!v)
                        return -ENOMEM;
                free(s.version_floor);
                s.version_floor = v;
        }
        return session_save(cfg, &s);
}

int update_gc(const Config *cfg) {
        _cleanup_(state_done) State s = {};
        _cleanup_(facts_done) Facts facts = {};
        _cleanup_close_ int lock = -EBADF;
        bool free_slot[SLOT_MAX];
        int r, freed = 0;

        r = session_begin(cfg, true, &lock, &s);
        if (r < 0)
                return r;
        for (int i = 0; i < SLOT_MAX; i++)
                /* An interrupted download nobody resumed: its partial files are of no use. */
                if (s.slots[i].state != SLOT_READY) {
                        r = slot_clear_download(cfg->state_directory, i);
                        if (r < 0)
                                return r;
                }
        r = facts_gather(cfg, NULL, &s, time(NULL), &facts);
        if (r < 0)
                return r;
        plan_gc(&facts.device, free_slot);
        for (int i = 0; i < SLOT_MAX; i++) {
                if (!free_slot[i])
                        continue;
                r = slot_unseal_and_clear(cfg->state_directory, i);
                if (r < 0)
                        return r;
                session_forget_slot(&s, i);
                freed++;
        }
        if (freed > 0) {
                r = session_save(cfg, &s);
                if (r < 0)
                        return r;
        }
        return freed;
}
