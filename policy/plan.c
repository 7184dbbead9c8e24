/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "install.h"
#include "log.h"
#include "plan.h"
#include "version.h"

static const char *const kind_table[_PLAN_KIND_MAX] = {
        [PLAN_APPLY] = "apply",
        [PLAN_FETCH] = "fetch",
        [PLAN_STAGED] = "apply --staged",
        [PLAN_ROLLBACK] = "rollback",
};

const char *plan_kind_to_string(PlanKind k) {
        return k >= 0 && k < _PLAN_KIND_MAX ? kind_table[k] : NULL;
}

static const char *const action_table[_SWITCH_ACTION_MAX] = {
        [SWITCH_NOW] = "now",
        [SWITCH_DEFER] = "defer",
        [SWITCH_SKIP] = "skip",
        [SWITCH_NONE] = "none",
};

const char *switch_action_to_string(SwitchAction a) {
        return a >= 0 && a < _SWITCH_ACTION_MAX ? action_table[a] : NULL;
}

_printf_(3, 4) static void verdict_refuse(Verdict *v, int error, const char *fmt, ...) {
        va_list ap;

        v->error = -abs(error);
        va_start(ap, fmt);
        (void) vsnprintf(v->reason, sizeof v->reason, fmt, ap);
        va_end(ap);
        log_debug_errno(error, "%s", v->reason);
}

static const char *newer(const char *a, const char *b) {
        if (!a)
                return b;
        if (!b)
                return a;
        return version_compare(a, b) >= 0 ? a : b;
}

const char *plan_newest_live(const DeviceFacts *f) {
        const char *v = f->host_version;

        if (f->active >= 0 && f->active < PLAN_SLOTS) {
                /* Committed in state: what it records counts even if its files changed since. */
                v = newer(v, f->slots[f->active].version);
                v = newer(v, f->slots[f->active].recorded_version);
        }
        for (size_t i = 0; i < f->n_live_versions; i++)
                v = newer(v, f->live_versions[i]);
        return v;
}

void plan_slot(const DeviceFacts *f, SlotPlan *ret) {
        int freeable = -1;
        unsigned busy = 0;

        *ret = (SlotPlan) { .slot = -1 };
        for (int i = 0; i < PLAN_SLOTS; i++) {
                if (i == f->booted || i == f->active)
                        continue;
                /* A user's own namespace holding a copy of an old image must not keep security
                 * fixes out: it keeps its copy, the slot gets new files. */
                if (!f->slots[i].busy || f->slots[i].held_by_untrusted) {
                        ret->slot = i;
                        return;
                }
                busy++;
                /* A loop device with autoclear goes a moment *after* the last unmount returns. */
                if (!f->slots[i].held)
                        ret->retry = true;
                if (f->slots[i].held_by_deferrals && freeable < 0)
                        freeable = i;
        }
        /* Only deferrals that a newer update may end hold it: they move forward, to the live
         * version, which frees the slot. Anything else holding it stays untouched, and so do the
         * deferrals: ending them would not help. */
        if (freeable >= 0) {
                ret->slot = freeable;
                ret->force_deferrals = true;
                return;
        }
        verdict_refuse(&ret->verdict, ETXTBSY, "No slot can be written: %s.",
                       busy ? "the inactive slot is still mounted in some namespace that does not defer an update"
                            : "both slots are booted or live");
}

void plan_rollback_slot(const DeviceFacts *f, SlotPlan *ret) {
        *ret = (SlotPlan) { .slot = -1 };
        for (int i = 0; i < PLAN_SLOTS; i++)
                if (i != f->active && f->slots[i].ready)
                        ret->slot = i;
        if (ret->slot < 0)
                verdict_refuse(&ret->verdict, ENOMEDIUM, "There is no other complete slot to roll back to.");
}

void plan_gc(const DeviceFacts *f, bool ret_free[PLAN_SLOTS]) {
        for (int i = 0; i < PLAN_SLOTS; i++)
                ret_free[i] = i != f->active && i != f->booted && i != f->next_boot && i != f->staged && !f->slots[i].empty &&
                              !f->slots[i].busy;
}

void plan_provision(const DeviceFacts *f, SlotPlan *ret) {
        *ret = (SlotPlan) { .slot = -1 };
        for (int i = 0; i < PLAN_SLOTS; i++)
                if (!f->slots[i].empty)
                        return (void) verdict_refuse(&ret->verdict, ETXTBSY,
                                                     "The root's state already records slot %c (%s): provisioning is for an "
                                                     "image under construction. Remove its state directory to start over.",
                                                     'a' + i, f->slots[i].recorded_version ?: "partly written");
        if (f->active >= 0 || f->booted >= 0 || f->next_boot >= 0 || f->staged >= 0)
                return (void) verdict_refuse(&ret->verdict, ETXTBSY,
                                             "The root's state already records a slot active, booted, staged or next to boot: "
                                             "provisioning is for an image under construction. Remove its state directory "
                                             "to start over.");
        ret->slot = 0;
}

bool plan_may_empty_slot(const DeviceFacts *f, int slot) {
        return slot >= 0 && slot < PLAN_SLOTS && slot != f->booted && slot != f->active;
}

/* Exactly the signed strings: "2.00" sorts equal to "2.0" but is not what was signed. */
void plan_image_matches(const Manifest *m, const char *os_id, const char *version, Verdict *ret) {
        *ret = (Verdict) {};
        if (!os_id || strcmp(os_id, m->os_id) != 0 || !version || strcmp(version, m->version) != 0)
                verdict_refuse(ret, EILSEQ, "The image's lib/os-release says %s %s, its manifest %s %s.", os_id ?: "(no ID)",
                               version ?: "(no version)", m->os_id, m->version);
}

static const char *const modules_action_table[_MODULES_ACTION_MAX] = {
        [MODULES_LIVE] = "live",
        [MODULES_STAGE] = "stage",
        [MODULES_DEPENDS] = "depends",
};

const char *modules_action_to_string(ModulesAction a) {
        return a >= 0 && a < _MODULES_ACTION_MAX ? modules_action_table[a] : NULL;
}

static bool release_is_file_name(const char *r) {
        return r && r[0] && !strchr(r, '/') && strcmp(r, ".") != 0 && strcmp(r, "..") != 0;
}

void plan_modules(const char *release, int old_has, int new_has, ModulesPlan *ret) {
        *ret = (ModulesPlan) { .action = MODULES_LIVE };
        /* Nothing the running kernel loads from the live /usr: nothing to lose by switching. */
        if (!release_is_file_name(release) || old_has <= 0 || new_has > 0)
                return;
        if (new_has < 0) {
                ret->action = MODULES_DEPENDS;
                (void) snprintf(ret->verdict.reason, sizeof ret->verdict.reason,
                                "live if the new image has lib/modules/%s of the running kernel; "
                                "if it lacks them, staged for the next boot",
                                release);
                return;
        }
        ret->action = MODULES_STAGE;
        verdict_refuse(&ret->verdict, ELIBACC,
                       "staged for the next boot: the new image lacks lib/modules/%s of the running kernel", release);
}

void plan_admit(const DeviceFacts *f, const Manifest *m, PlanKind kind, int slot, Verdict *ret) {
        const char *newest = plan_newest_live(f);
        InstallFacts facts = {
                .os_id = f->os_id,
                .architecture = f->architecture,
                .version_floor = f->version_floor,
                .now = f->now,
        };
        int r;

        *ret = (Verdict) {};
        if (kind == PLAN_STAGED || kind == PLAN_ROLLBACK) {
                if (slot < 0 || slot >= PLAN_SLOTS || !f->slots[slot].ready)
                        return verdict_refuse(ret, ENOMEDIUM, "%s: the slot is not complete.", plan_kind_to_string(kind));
                /* Trust at use: the slot's files rested on a disk someone may have had offline. */
                if (f->slots[slot].auth < 0)
                        return verdict_refuse(ret, f->slots[slot].auth,
                                              "The signed manifest stored in the slot does not authenticate with today's keys: "
                                              "refusing to put it live (%s).", strerror(-f->slots[slot].auth));
        }
        if (!m)
                return verdict_refuse(ret, EINVAL, "No manifest to decide on.");

        if (kind == PLAN_ROLLBACK) {
                /* The deliberate step back: to any authentic version of this OS not below the floor.
                 * An expired manifest may be rolled back to: expiry protects fresh installs from a
                 * frozen mirror, not the device from its own previous image. */
                facts.now = 0;
                r = install_check(m, &facts);
        } else {
                facts.running_version = newest;
                r = install_check(m, &facts);
        }
        if (r < 0) {
                const char *why = log_detail();
                return verdict_refuse(ret, r, "%s", why ? why : strerror(-r));
        }
}

static int signal_from_string(const char *s) {
        static const struct {
                const char *name;
                int signo;
        } table[] = {
                { "SIGHUP", SIGHUP }, { "SIGUSR1", SIGUSR1 }, { "SIGUSR2", SIGUSR2 },
                { "SIGTERM", SIGTERM }, { "SIGINT", SIGINT }, { "SIGWINCH", SIGWINCH },
        };

        for (size_t i = 0; s && i < sizeof table / sizeof table[0]; i++)
                if (strcmp(s, table[i].name) == 0)
                        return table[i].signo;
        return 0;
}

/* Notify= reaches the processes the deciding rule matched (all trusted ones for a rule that names
 * none), never PID 1. */
static int pick_notified(const PolicySet *ps, ssize_t rule, const SwitchNamespace *ns, SwitchStep *s) {
        const PolicyRule *r = rule >= 0 && (size_t) rule < ps->n_rules ? &ps->rules[rule] : NULL;

        s->notify = calloc(ns->n_procs + 1, sizeof(pid_t));
        if (!s->notify)
                return -ENOMEM;
        for (size_t k = 0; k < ns->n_procs; k++) {
                const ProcessFacts *pf = &ns->procs[k];

                if (pf->pid <= 1)
                        continue;
                if (r && policy_rule_names_processes(r) && !policy_rule_matches_process(r, pf))
                        continue;
                s->notify[s->n_notify++] = pf->pid;
        }
        return 0;
}

/* A namespace nested in a forced service switches with it whatever its own policy: its copy of
 * the new mount is a slave of its parent's, and unmount propagation follows that parent. */
static void follow_parents(const SwitchNamespace *ns, size_t n, SwitchStep *s) {
        for (size_t i = 1; i < n; i++) {
                if (s[i].action == SWITCH_NOW || ns[i].reach != NS_REACH_PROPAGATION)
                        continue;
                for (ssize_t p = ns[i].parent, depth = 0; p > 0 && (size_t) p < n && depth < 64; p = ns[p].parent, depth++)
                        if (s[p].action == SWITCH_NOW) {
                                s[i].action = SWITCH_NOW;
                                s[i].follows_parent = true;
                                break;
                        }
        }
}

int plan_switch(const PolicySet *ps, const SwitchNamespace *ns, size_t n, bool critical, time_t now, SwitchPlan *ret) {
        SwitchPlan p = {};
        int r;

        if (n == 0 || !ns[0].host)
                return -EINVAL;
        p.steps = calloc(n, sizeof(SwitchStep));
        if (!p.steps)
                return -ENOMEM;
        p.n_steps = n;

        for (size_t i = 0; i < n; i++) {
                /* Attributes of an untrusted namespace's processes are the user's to choose: its
                 * namespace is judged as if it had none (the defaults and catch-all rules). */
                static const NamespaceFacts none = {};
                NamespaceFacts f = ns[i].trusted && ns[i].facts ? *ns[i].facts : none;
                PolicyDecision d;
                SwitchStep *s = &p.steps[i];

                f.host = ns[i].host;
                f.container = ns[i].reach == NS_REACH_OWN_GROUP;
                if (!ns[i].host && ns[i].reach == NS_REACH_NONE) {
                        s->action = SWITCH_NONE;
                        continue;
                }
                r = policy_decide(ps, &f, critical, &d);
                if (r < 0) {
                        switch_plan_done(&p);
                        return r;
                }
                s->action = d.mode == POLICY_FORCE ? SWITCH_NOW : d.mode == POLICY_DEFER ? SWITCH_DEFER : SWITCH_SKIP;
                /* The host is always updated: skip means force there. */
                if (ns[i].host && s->action == SWITCH_SKIP)
                        s->action = SWITCH_NOW;
                s->overridden = d.overridden;
                s->rule = d.rule;
                if (s->action == SWITCH_DEFER) {
                        uint64_t usec = d.deadline_usec ? d.deadline_usec : PLAN_DEFERRAL_MAX_USEC;
                        s->deadline = now + (time_t) (usec / 1000000);
                        s->signal = signal_from_string(d.notify);
                        if (s->signal && ns[i].trusted) {
                                r = pick_notified(ps, d.rule_index, &ns[i], s);
                                if (r < 0) {
                                        switch_plan_done(&p);
                                        return r;
                                }
                        }
                }
                s->tuck_clone = ns[i].reach == NS_REACH_OWN_GROUP && s->action != SWITCH_SKIP;
        }
        follow_parents(ns, n, p.steps);

        /* When the host keeps its old top, its unmount cannot carry the others along; when any
         * namespace that receives propagation keeps its own, the host's must not reach it. Then the
         * new mount is made private and each namespace that switches does so from inside. */
        p.per_namespace = p.steps[0].action != SWITCH_NOW;
        for (size_t i = 1; i < n; i++)
                if (ns[i].reach == NS_REACH_PROPAGATION && p.steps[i].action != SWITCH_NOW)
                        p.per_namespace = true;
        p.host_unmount = p.steps[0].action == SWITCH_NOW;

        for (size_t i = 0; i < n; i++) {
                SwitchStep *s = &p.steps[i];

                if (i > 0 && s->action == SWITCH_NOW)
                        s->from_inside = ns[i].reach == NS_REACH_OWN_GROUP || p.per_namespace;
                if (s->overridden && s->action == SWITCH_NOW)
                        p.n_overridden++;
                switch (s->action) {
                case SWITCH_NOW: p.n_now++; break;
                case SWITCH_DEFER:
                        p.n_defer++;
                        if (!p.next_deadline || s->deadline < p.next_deadline)
                                p.next_deadline = s->deadline;
                        break;
                case SWITCH_SKIP: p.n_skip++; break;
                default: break;
                }
        }
        *ret = p;
        return 0;
}

void switch_plan_done(SwitchPlan *p) {
        for (size_t i = 0; i < p->n_steps; i++)
                free(p->steps[i].notify);
        free(p->steps);
        *p = (SwitchPlan) {};
}

void plan_recover(const RecoverNamespace *ns, size_t n, RecoverAction *ret, bool *ret_switched) {
        bool switched = false;

        /* The host is where the new image is tucked: it holds it exactly when the tuck happened. (A
         * deferring namespace may hold the same slot as an old top: a rollback's target.) */
        for (size_t i = 0; i < n; i++)
                if (ns[i].host)
                        switched = ns[i].holds_switching;
        for (size_t i = 0; i < n; i++) {
                if (ns[i].mounts_at_target >= 2 && !ns[i].recorded)
                        ret[i] = RECOVER_FORWARD;
                else if (switched && ns[i].container && !ns[i].recorded && !ns[i].holds_switching &&
                         (ns[i].planned == SWITCH_NOW || ns[i].planned == SWITCH_DEFER))
                        /* A container the plan updates; the crash came before its turn. Left as it is,
                         * it would hold the other slot for ever. One the plan skips stays as it is. */
                        ret[i] = ns[i].planned == SWITCH_NOW ? RECOVER_TUCK : RECOVER_TUCK_DEFER;
                else if (ns[i].recorded && ns[i].mounts_at_target < 2)
                        ret[i] = RECOVER_FORGET;
                else
                        ret[i] = RECOVER_KEEP;
        }
        *ret_switched = switched;
}

time_t plan_merge_deadline(time_t recorded, time_t planned) {
        if (recorded <= 0)
                return planned;
        if (planned <= 0)
                return recorded;
        return recorded < planned ? recorded : planned;
}

void plan_expire(const time_t *deadlines, size_t n, time_t now, bool all, bool *ret) {
        for (size_t i = 0; i < n; i++)
                ret[i] = all || deadlines[i] == 0 || deadlines[i] <= now;
}

/* Can slot i be set up at all? If not, why (into why, if given). */
static bool boot_usable(const BootFacts *f, int i, char *why, size_t n) {
        const BootSlotFacts *s = &f->slots[i];

        if (!s->ready || !s->version) {
                if (why && s->ready)
                        snprintf(why, n, "its signed manifest does not authenticate with the keys of this initramfs (%s)",
                                 strerror(-(s->auth < 0 ? s->auth : -EBADMSG)));
                else if (why)
                        snprintf(why, n, "it holds no complete image");
                return false;
        }
        if (s->auth < 0) {
                if (why)
                        snprintf(why, n, "its signed manifest does not authenticate with the keys of this initramfs (%s)",
                                 strerror(-s->auth));
                return false;
        }
        if (f->version_floor && version_compare(s->version, f->version_floor) < 0) {
                if (why)
                        snprintf(why, n, "version %s is below the version floor %s", s->version, f->version_floor);
                return false;
        }
        if (s->failed_now) {
                if (why)
                        snprintf(why, n, "it could not be set up in this boot");
                return false;
        }
        return true;
}

static bool boot_on_trial(const BootSlotFacts *s) {
        return !s->good && s->tries >= 0;
}

/* Has slot i used up its count: a trial with no boots left, or a good slot Limit boots in a row
 * without mark-good? */
static bool boot_counted_out(const BootFacts *f, int i, char *why, size_t n) {
        const BootSlotFacts *s = &f->slots[i];

        if (boot_on_trial(s)) {
                if (s->tries > 0)
                        return false;
                if (why)
                        snprintf(why, n, "version %s used all its trial boots without reaching mark-good", s->version);
                return true;
        }
        if (f->limit == 0 || s->unconfirmed < f->limit)
                return false;
        if (why)
                snprintf(why, n, "version %s booted %u times in a row without reaching mark-good (Limit=%u)", s->version,
                         s->unconfirmed, f->limit);
        return true;
}

static bool boot_candidate(const BootFacts *f, int i) {
        return i >= 0 && i < PLAN_SLOTS && boot_usable(f, i, NULL, 0) && !boot_counted_out(f, i, NULL, 0);
}

void plan_boot(const BootFacts *f, BootPlan *ret) {
        int first = -1, other = -1;

        *ret = (BootPlan) { .slot = -1, .fallback = -1, .tries_left = -1 };
        for (int i = 0; i < PLAN_SLOTS; i++)
                if (boot_usable(f, i, ret->passed_over[i], sizeof ret->passed_over[i]))
                        (void) boot_counted_out(f, i, ret->passed_over[i], sizeof ret->passed_over[i]);

        if (f->forced >= 0 && f->forced < PLAN_SLOTS && boot_usable(f, f->forced, NULL, 0))
                first = f->forced; /* the operator's choice, even past its count */
        else if (boot_candidate(f, f->next_boot))
                first = f->next_boot;
        else
                /* The next boot is used up or unusable, or no record: the newest other candidate. */
                for (int i = 0; i < PLAN_SLOTS; i++)
                        if (boot_candidate(f, i) &&
                            (first < 0 || version_compare(f->slots[i].version, f->slots[first].version) > 0))
                                first = i;
        if (first < 0) {
                /* Last resort: rather than not booting, a slot that authenticates but used up its count. */
                for (int i = 0; i < PLAN_SLOTS; i++)
                        if (boot_usable(f, i, NULL, 0) && (first < 0 || first == f->next_boot))
                                first = i;
                ret->last_resort = first >= 0;
        }
        if (first < 0)
                return verdict_refuse(&ret->verdict, ENOMEDIUM,
                                      "none holds a complete image that authenticates with this initramfs's keys, is at or "
                                      "above the version floor and can be set up.");

        for (int i = 0; i < PLAN_SLOTS; i++)
                if (i != first && boot_usable(f, i, NULL, 0) && (other < 0 || boot_candidate(f, i)))
                        other = i;
        ret->slot = first;
        ret->passed_over[first][0] = 0;
        ret->fallback = other;
        ret->trial = boot_on_trial(&f->slots[first]) && f->slots[first].tries > 0;
        ret->tries_left = ret->trial ? f->slots[first].tries - 1 : boot_on_trial(&f->slots[first]) ? 0 : -1;
        ret->unconfirmed = f->slots[first].unconfirmed + 1;
}
