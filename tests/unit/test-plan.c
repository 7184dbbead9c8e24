/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The planner as a specification: one row per situation (facts) with the expected plan. Every
 * finding of the adversarial review that a decision caused has its row here. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plan.h"
#include "test-util.h"

#define NOW 1800000000
#define DAY 86400

/* ---- plan_admit ---------------------------------------------------------------------------- */

typedef struct AdmitRow {
        const char *name;
        PlanKind kind;
        /* facts */
        const char *host_version;
        int active;
        const char *active_version;
        const char *live;               /* one more version seen somewhere (a force namespace), or NULL */
        const char *floor;
        int slot_auth;                  /* auth of slot 1 (staged/rollback target) */
        /* manifest */
        const char *version;
        const char *min_version;
        time_t expires;                 /* 0: never */
        const char *os_id;
        /* expected */
        int error;
} AdmitRow;

static const AdmitRow admit_rows[] = {
        { "newer than everything: allowed", PLAN_APPLY, "1", -1, NULL, NULL, NULL, 0, "2", NULL, 0, "demo", 0 },
        { "same as the host: refused", PLAN_APPLY, "2", -1, NULL, NULL, NULL, 0, "2", NULL, 0, "demo", -ESTALE },
        { "older than the host: refused", PLAN_APPLY, "3", -1, NULL, NULL, NULL, 0, "2", NULL, 0, "demo", -ESTALE },
        /* Finding 1: the host defers (still shows 1), force namespaces run 3; a signed 2 must not go in. */
        { "host defers, 3 live elsewhere, 2 offered", PLAN_APPLY, "1", 0, "3", "3", NULL, 0, "2", NULL, 0, "demo", -ESTALE },
        { "host defers, active slot recorded 3, 2 offered", PLAN_APPLY, "1", 0, "3", NULL, NULL, 0, "2", NULL, 0, "demo", -ESTALE },
        { "host defers, 4 offered over 3", PLAN_APPLY, "1", 0, "3", "3", NULL, 0, "4", NULL, 0, "demo", 0 },
        { "fetch obeys the same rule", PLAN_FETCH, "1", 0, "3", NULL, NULL, 0, "2", NULL, 0, "demo", -ESTALE },
        { "below the floor", PLAN_APPLY, "1", -1, NULL, NULL, "5", 0, "4", NULL, 0, "demo", -ESTALE },
        { "expired", PLAN_APPLY, "1", -1, NULL, NULL, NULL, 0, "2", NULL, NOW - 1, "demo", -EKEYEXPIRED },
        { "another OS", PLAN_APPLY, "1", -1, NULL, NULL, NULL, 0, "2", NULL, 0, "other", -EMEDIUMTYPE },
        { "min_version not reached", PLAN_APPLY, "1", -1, NULL, NULL, NULL, 0, "3", "2", 0, "demo", -ENOPKG },
        { "min_version reached by a namespace", PLAN_APPLY, "1", 0, "2", NULL, NULL, 0, "3", "2", 0, "demo", 0 },
        /* Finding 2: apply --staged decides again, now. */
        { "staged, floor raised since", PLAN_STAGED, "1", -1, NULL, NULL, "9", 0, "2", NULL, 0, "demo", -ESTALE },
        { "staged, expired since", PLAN_STAGED, "1", -1, NULL, NULL, NULL, 0, "2", NULL, NOW - 1, "demo", -EKEYEXPIRED },
        { "staged, newer went live meanwhile", PLAN_STAGED, "1", 0, "3", NULL, NULL, 0, "2", NULL, 0, "demo", -ESTALE },
        { "staged, fine", PLAN_STAGED, "1", -1, NULL, NULL, NULL, 0, "2", NULL, 0, "demo", 0 },
        /* Finding 3: a slot at rest that no longer authenticates never goes live. */
        { "staged, untrusted signer", PLAN_STAGED, "1", -1, NULL, NULL, NULL, -EKEYREJECTED, "2", NULL, 0, "demo", -EKEYREJECTED },
        { "staged, altered manifest", PLAN_STAGED, "1", -1, NULL, NULL, NULL, -EBADMSG, "2", NULL, 0, "demo", -EBADMSG },
        { "rollback, untrusted signer", PLAN_ROLLBACK, "3", 0, "3", NULL, NULL, -EKEYREJECTED, "2", NULL, 0, "demo", -EKEYREJECTED },
        /* The one deliberate step back, never below the floor; expiry does not hold it back. */
        { "rollback to an older authentic slot", PLAN_ROLLBACK, "3", 0, "3", NULL, NULL, 0, "2", NULL, 0, "demo", 0 },
        { "rollback to an expired authentic slot", PLAN_ROLLBACK, "3", 0, "3", NULL, NULL, 0, "2", NULL, NOW - 1, "demo", 0 },
        { "rollback below the floor", PLAN_ROLLBACK, "3", 0, "3", NULL, "3", 0, "2", NULL, 0, "demo", -ESTALE },
        { "rollback to another OS", PLAN_ROLLBACK, "3", 0, "3", NULL, NULL, 0, "2", NULL, 0, "other", -EMEDIUMTYPE },
};

static void test_admit(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(admit_rows); i++) {
                const AdmitRow *row = &admit_rows[i];
                const char *live[1] = { row->live };
                DeviceFacts f = {
                        .booted = -1,
                        .active = row->active,
                        .staged = 1,
                        .version_floor = row->floor,
                        .host_version = row->host_version,
                        .os_id = "demo",
                        .architecture = "x86_64",
                        .live_versions = live,
                        .n_live_versions = row->live ? 1 : 0,
                        .now = NOW,
                };
                Manifest m = {
                        .os_id = (char *) row->os_id,
                        .architecture = (char *) "x86_64",
                        .version = (char *) row->version,
                        .min_version = (char *) row->min_version,
                        .expires = row->expires,
                        .has_expires = row->expires != 0,
                };
                Verdict v;

                if (row->active >= 0)
                        f.slots[row->active] = (SlotFacts) { .ready = true, .version = row->active_version };
                f.slots[1] = (SlotFacts) { .ready = true, .version = row->version, .auth = row->slot_auth };
                plan_admit(&f, &m, row->kind, 1, &v);
                print_message("admit: %-45s -> %d %s\n", row->name, v.error, v.reason);
                assert_int_equal(v.error, row->error);
                assert_true((v.error == 0) == (v.reason[0] == 0));
        }
}

/* ---- plan_newest_live ----------------------------------------------------------------------- */

static void test_newest_live(void **state) {
        const char *live[] = { "2.10", "2.9" };
        DeviceFacts f = { .booted = -1, .active = 1, .host_version = "1", .live_versions = live, .n_live_versions = 2 };

        f.slots[1].version = "2.1";
        assert_string_equal(plan_newest_live(&f), "2.10");
        f.n_live_versions = 0;
        assert_string_equal(plan_newest_live(&f), "2.1");
        f.active = -1;
        assert_string_equal(plan_newest_live(&f), "1");
        f.host_version = NULL;
        assert_null(plan_newest_live(&f));
}

/* ---- plan_slot ------------------------------------------------------------------------------ */

typedef struct SlotRow {
        const char *name;
        int booted, active;
        bool busy[2], held_by_deferrals[2];
        int slot;
        bool force;
        int error;
        bool held[2];
        bool retry;
} SlotRow;

static const SlotRow slot_rows[] = {
        { "fresh device", -1, -1, { false, false }, { false, false }, 0, false, 0, { false, false }, false },
        { "a active: b", -1, 0, { true, false }, { false, false }, 1, false, 0, { false, false }, false },
        { "b active: a", -1, 1, { false, true }, { false, false }, 0, false, 0, { false, false }, false },
        { "booted a, active b: none", 0, 1, { true, true }, { false, false }, -1, false, -ETXTBSY, { false, false }, false },
        /* Deferrals of an older version hold the only slot: they end (forward), it is written. */
        { "inactive held by deferrals only", -1, 1, { true, true }, { true, false }, 0, true, 0, { false, false }, false },
        /* Finding 7: held by something else: refused, and no deferral is ended. */
        { "inactive held by an unrecorded mount", -1, 1, { true, true }, { false, false }, -1, false, -ETXTBSY, { true, true }, false },
        /* Busy but mounted nowhere: an autoclear loop device letting go; ask again. */
        { "inactive letting go of its loop device", -1, 1, { true, true }, { false, false }, -1, false, -ETXTBSY, { false, true }, true },
};

static void test_slot(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(slot_rows); i++) {
                const SlotRow *row = &slot_rows[i];
                DeviceFacts f = { .booted = row->booted, .active = row->active, .staged = -1 };
                SlotPlan p;

                for (int k = 0; k < 2; k++)
                        f.slots[k] = (SlotFacts) { .busy = row->busy[k], .held_by_deferrals = row->held_by_deferrals[k],
                                                   .held = row->held[k] || row->held_by_deferrals[k] || !row->busy[k] };
                plan_slot(&f, &p);
                print_message("slot: %-40s -> %d%s %d\n", row->name, p.slot, p.force_deferrals ? " (force)" : "", p.verdict.error);
                assert_int_equal(p.slot, row->slot);
                assert_int_equal(p.force_deferrals, row->force);
                assert_int_equal(p.verdict.error, row->error);
                assert_int_equal(p.retry, row->retry);
        }
}

static void test_rollback_slot_and_gc(void **state) {
        DeviceFacts f = { .booted = -1, .active = 1, .staged = -1, .next_boot = 1 };
        SlotPlan p;
        bool freed[2];

        /* Rollback: the other complete slot, else nothing. */
        f.slots[0] = (SlotFacts) { .ready = true };
        f.slots[1] = (SlotFacts) { .ready = true };
        plan_rollback_slot(&f, &p);
        assert_int_equal(p.slot, 0);
        f.slots[0].ready = false;
        plan_rollback_slot(&f, &p);
        assert_int_equal(p.slot, -1);
        assert_int_equal(p.verdict.error, -ENOMEDIUM);

        /* gc: not active, booted, next boot or staged; not empty; not in use. */
        f.slots[0] = (SlotFacts) { .ready = true };
        plan_gc(&f, freed);
        assert_true(freed[0]);
        assert_false(freed[1]);
        f.slots[0].busy = true;
        plan_gc(&f, freed);
        assert_false(freed[0]);
        f.slots[0] = (SlotFacts) { .ready = true };
        f.staged = 0;
        plan_gc(&f, freed);
        assert_false(freed[0]);
        f.staged = -1;
        f.slots[0].empty = true;
        plan_gc(&f, freed);
        assert_false(freed[0]);
}

/* osupdate provision: only into a state that records nothing in use. */
typedef struct ProvisionRow {
        const char *name;
        bool empty[2];
        int active, booted, next_boot, staged;
        int slot;
        int error;
} ProvisionRow;

static const ProvisionRow provision_rows[] = {
        { "no state at all", { true, true }, -1, -1, -1, -1, 0, 0 },
        { "slot a ready (provisioned before)", { false, true }, -1, -1, -1, -1, -1, -ETXTBSY },
        { "slot b partly written", { true, false }, -1, -1, -1, -1, -1, -ETXTBSY },
        { "both ready, a active and booted", { false, false }, 0, 0, 0, -1, -1, -ETXTBSY },
        { "empty slots but an active one recorded", { true, true }, 0, -1, -1, -1, -1, -ETXTBSY },
        { "empty slots but booted recorded", { true, true }, -1, 1, -1, -1, -1, -ETXTBSY },
        { "empty slots but next boot recorded", { true, true }, -1, -1, 1, -1, -1, -ETXTBSY },
        { "empty slots but staged recorded", { true, true }, -1, -1, -1, 1, -1, -ETXTBSY },
};

static void test_provision(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(provision_rows); i++) {
                const ProvisionRow *row = &provision_rows[i];
                DeviceFacts f = { .active = row->active, .booted = row->booted, .next_boot = row->next_boot, .staged = row->staged };
                SlotPlan p;

                for (int k = 0; k < 2; k++)
                        f.slots[k] = (SlotFacts) { .empty = row->empty[k], .ready = !row->empty[k] };
                plan_provision(&f, &p);
                print_message("provision: %-40s -> %d %d %s\n", row->name, p.slot, p.verdict.error, p.verdict.reason);
                assert_int_equal(p.slot, row->slot);
                assert_int_equal(p.verdict.error, row->error);
                assert_int_equal(p.verdict.error == 0, p.verdict.reason[0] == 0);
        }
}

static void test_may_empty_slot(void **state) {
        DeviceFacts f = { .booted = 0, .active = 1, .staged = -1, .next_boot = 1 };

        /* The booted and the active slot are never emptied (review finding: a read error in
         * rollback emptied the booted slot). */
        assert_false(plan_may_empty_slot(&f, 0));
        assert_false(plan_may_empty_slot(&f, 1));
        f.booted = -1;
        assert_true(plan_may_empty_slot(&f, 0));
        assert_false(plan_may_empty_slot(&f, -1));
        assert_false(plan_may_empty_slot(&f, 2));
}

static void test_image_matches(void **state) {
        Manifest m = { .os_id = (char *) "demo", .version = (char *) "2.0" };
        Verdict v;

        plan_image_matches(&m, "demo", "2.0", &v);
        assert_int_equal(v.error, 0);
        plan_image_matches(&m, "demo", "2", &v);
        assert_int_equal(v.error, -EILSEQ);
        /* Equal by version order, not the signed string. */
        plan_image_matches(&m, "demo", "2.00", &v);
        assert_int_equal(v.error, -EILSEQ);
        plan_image_matches(&m, "demo", "2.0_", &v);
        assert_int_equal(v.error, -EILSEQ);
        plan_image_matches(&m, "other", "2.0", &v);
        assert_int_equal(v.error, -EILSEQ);
        plan_image_matches(&m, NULL, "2.0", &v);
        assert_int_equal(v.error, -EILSEQ);
        plan_image_matches(&m, "demo", NULL, &v);
        assert_int_equal(v.error, -EILSEQ);
}

/* ---- plan_modules ---------------------------------------------------------------------------- */

static void test_modules(void **state) {
        static const struct {
                const char *release;
                int old_has, new_has;
                ModulesAction want;
        } rows[] = {
                /* old has them, new lacks them: the running kernel would lose its modules */
                { "6.18.0-1-amd64", 1, 0, MODULES_STAGE },
                /* both have them, or the old /usr had none to lose: live */
                { "6.18.0-1-amd64", 1, 1, MODULES_LIVE },
                { "6.18.0-1-amd64", 0, 0, MODULES_LIVE },
                { "6.18.0-1-amd64", 0, 1, MODULES_LIVE },
                /* a dry run: the new image is not mounted */
                { "6.18.0-1-amd64", 1, -1, MODULES_DEPENDS },
                { "6.18.0-1-amd64", 0, -1, MODULES_LIVE },
                /* the old /usr not known: nothing to keep */
                { "6.18.0-1-amd64", -1, 0, MODULES_LIVE },
                /* a release that is no file name names nothing to keep */
                { NULL, 1, 0, MODULES_LIVE },
                { "", 1, 0, MODULES_LIVE },
                { ".", 1, 0, MODULES_LIVE },
                { "..", 1, 0, MODULES_LIVE },
                { "6.18/../x", 1, 0, MODULES_LIVE },
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                ModulesPlan p;

                plan_modules(rows[i].release, rows[i].old_has, rows[i].new_has, &p);
                if (p.action != rows[i].want)
                        fail_msg("row %zu (%s, old %d, new %d): %s, want %s", i, rows[i].release ?: "(null)", rows[i].old_has,
                                 rows[i].new_has, modules_action_to_string(p.action), modules_action_to_string(rows[i].want));
                assert_int_equal(p.verdict.error, p.action == MODULES_STAGE ? -ELIBACC : 0);
                if (p.action == MODULES_STAGE) {
                        assert_non_null(strstr(p.verdict.reason, "staged for the next boot"));
                        assert_non_null(strstr(p.verdict.reason, "lib/modules/6.18.0-1-amd64"));
                } else if (p.action == MODULES_DEPENDS)
                        assert_non_null(strstr(p.verdict.reason, "lib/modules/6.18.0-1-amd64"));
                else
                        assert_string_equal(p.verdict.reason, "");
        }
        assert_string_equal(modules_action_to_string(MODULES_STAGE), "stage");
        assert_null(modules_action_to_string(_MODULES_ACTION_MAX));
}

/* ---- plan_switch ---------------------------------------------------------------------------- */

static char *defer_exe[] = { (char *) "/opt/svc/appserver", NULL };
static const NamespaceFacts app_facts = { .executables = defer_exe };
static ProcessFacts app_procs[] = {
        { .pid = 1, .executable = (char *) "/opt/svc/appserver" },
        { .pid = 40, .executable = (char *) "/opt/svc/appserver" },
        { .pid = 41, .executable = (char *) "/usr/bin/bash" },
};

static PolicyRule defer_rule = {
        .name = (char *) "10-app.conf",
        .executable = (char *) "*/appserver",
        .container = -1,
        .mode = POLICY_DEFER,
        .notify = (char *) "SIGHUP",
};

typedef struct SwitchRow {
        const char *name;
        /* namespaces: [0] host, [1] service, [2] nested in [1], [3] container */
        bool host_matches, svc_matches, nested_matches, ctr_matches;
        bool svc_trusted;
        uint64_t deadline_usec;
        bool critical;
        SwitchAction host, svc, nested, ctr;
        bool per_namespace;
        size_t svc_notified;
} SwitchRow;

static const SwitchRow switch_rows[] = {
        { "no rule matches: everyone now, one unmount", false, false, false, false, true, 0, false,
          SWITCH_NOW, SWITCH_NOW, SWITCH_NOW, SWITCH_SKIP, false, 0 },
        { "service defers, notified: its matched pids only, not pid 1", false, true, false, false, true, 0, false,
          SWITCH_NOW, SWITCH_DEFER, SWITCH_NOW, SWITCH_SKIP, true, 1 },
        /* Finding 4: an untrusted namespace's processes prove nothing. */
        { "untrusted service looks like the app: now", false, true, false, false, false, 0, false,
          SWITCH_NOW, SWITCH_NOW, SWITCH_NOW, SWITCH_SKIP, false, 0 },
        { "host named by a rule defers", true, false, false, false, true, 0, false,
          SWITCH_DEFER, SWITCH_NOW, SWITCH_NOW, SWITCH_SKIP, true, 0 },
        { "nested defer in a forced service follows it", false, false, true, false, true, 0, false,
          SWITCH_NOW, SWITCH_NOW, SWITCH_NOW, SWITCH_SKIP, false, 0 },
        { "container matched: clone tucked, deferred", false, false, false, true, true, 0, false,
          SWITCH_NOW, SWITCH_NOW, SWITCH_NOW, SWITCH_DEFER, false, 0 },
        { "critical: defer becomes now", false, true, false, false, true, 0, true,
          SWITCH_NOW, SWITCH_NOW, SWITCH_NOW, SWITCH_SKIP, false, 0 },
        { "deadline from the rule", false, true, false, false, true, 60ULL * 1000000, false,
          SWITCH_NOW, SWITCH_DEFER, SWITCH_NOW, SWITCH_SKIP, true, 1 },
};

static void test_switch(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(switch_rows); i++) {
                const SwitchRow *row = &switch_rows[i];
                static const NamespaceFacts nothing = {};
                PolicyRule rule = defer_rule;
                PolicySet ps = { .rules = &rule, .n_rules = 1, .default_mode = POLICY_FORCE };
                SwitchNamespace ns[4] = {
                        { .host = true, .reach = NS_REACH_PROPAGATION, .parent = -1, .trusted = true,
                          .facts = row->host_matches ? &app_facts : &nothing, .procs = app_procs, .n_procs = row->host_matches ? 3 : 0 },
                        { .reach = NS_REACH_PROPAGATION, .parent = 0, .trusted = row->svc_trusted,
                          .facts = row->svc_matches ? &app_facts : &nothing, .procs = app_procs, .n_procs = row->svc_matches ? 3 : 0 },
                        { .reach = NS_REACH_PROPAGATION, .parent = 1, .trusted = true,
                          .facts = row->nested_matches ? &app_facts : &nothing },
                        { .reach = NS_REACH_OWN_GROUP, .parent = -1, .trusted = true,
                          .facts = row->ctr_matches ? &app_facts : &nothing },
                };
                SwitchPlan p;

                rule.deadline_usec = row->deadline_usec;
                assert_int_equal(plan_switch(&ps, ns, 4, row->critical, NOW, &p), 0);
                print_message("switch: %-55s -> %s %s %s %s%s\n", row->name, switch_action_to_string(p.steps[0].action),
                              switch_action_to_string(p.steps[1].action), switch_action_to_string(p.steps[2].action),
                              switch_action_to_string(p.steps[3].action), p.per_namespace ? " per-namespace" : "");
                assert_int_equal(p.steps[0].action, row->host);
                assert_int_equal(p.steps[1].action, row->svc);
                assert_int_equal(p.steps[2].action, row->nested);
                assert_int_equal(p.steps[3].action, row->ctr);
                assert_int_equal(p.per_namespace, row->per_namespace);
                assert_int_equal(p.host_unmount, row->host == SWITCH_NOW);
                assert_int_equal(p.steps[1].n_notify, row->svc_notified);
                for (size_t k = 0; k < p.steps[1].n_notify; k++) {
                        assert_int_not_equal(p.steps[1].notify[k], 1);
                        assert_int_equal(p.steps[1].notify[k], 40); /* not the bash (41) */
                }
                /* Every deferral ends: the rule's deadline, or a day. */
                for (size_t k = 0; k < 4; k++)
                        if (p.steps[k].action == SWITCH_DEFER)
                                assert_int_equal(p.steps[k].deadline,
                                                 NOW + (row->deadline_usec ? (time_t) (row->deadline_usec / 1000000) : DAY));
                if (row->svc == SWITCH_DEFER)
                        assert_int_equal(p.steps[1].signal, SIGHUP);
                assert_true(p.steps[3].tuck_clone == (row->ctr != SWITCH_SKIP));
                assert_true(p.steps[2].follows_parent == (row->nested_matches && row->svc == SWITCH_NOW));
                if (row->per_namespace)
                        assert_true(p.steps[1].action != SWITCH_NOW || p.steps[1].from_inside);
                switch_plan_done(&p);
        }
}

static void test_switch_needs_host_first(void **state) {
        PolicySet ps = { .default_mode = POLICY_FORCE };
        SwitchNamespace ns[1] = { { .reach = NS_REACH_PROPAGATION } };
        SwitchPlan p;

        assert_int_equal(plan_switch(&ps, ns, 1, false, NOW, &p), -EINVAL);
        assert_int_equal(plan_switch(&ps, ns, 0, false, NOW, &p), -EINVAL);
}

/* ---- plan_expire, plan_recover -------------------------------------------------------------- */

static void test_merge_deadline(void **state) {
        assert_int_equal(plan_merge_deadline(0, NOW), NOW);
        assert_int_equal(plan_merge_deadline(NOW, 0), NOW);
        assert_int_equal(plan_merge_deadline(NOW, NOW + 60), NOW); /* never postponed */
        assert_int_equal(plan_merge_deadline(NOW + 60, NOW), NOW);
}

static void test_expire(void **state) {
        const time_t deadlines[] = { NOW - 1, NOW, NOW + 1, 0 };
        bool end[4];

        plan_expire(deadlines, 4, NOW, false, end);
        assert_true(end[0]);
        assert_true(end[1]);
        assert_false(end[2]);
        assert_true(end[3]); /* a record without a deadline (older versions) ends */
        plan_expire(deadlines, 4, NOW, true, end);
        assert_true(end[2]);
}

typedef struct RecoverRow {
        const char *name;
        RecoverNamespace ns[3];
        RecoverAction expect[3];
        bool switched;
} RecoverRow;

/* host, images at the target, recorded, holds the new slot, container, holds another slot, plan */
#define NS(h, m, rec, sw, ctr, other, planned) { h, m, rec, sw, ctr, other, planned }

static const RecoverRow recover_rows[] = {
        { "killed before the tuck",
          { NS(true, 1, false, false, false, true, SWITCH_NOW), NS(false, 1, false, false, false, true, SWITCH_NOW), NS(false, 1, false, false, false, true, SWITCH_DEFER) },
          { RECOVER_KEEP, RECOVER_KEEP, RECOVER_KEEP }, false },
        { "killed after the tuck, nothing removed",
          { NS(true, 2, false, true, false, true, SWITCH_NOW), NS(false, 2, false, true, false, true, SWITCH_NOW), NS(false, 2, true, true, false, true, SWITCH_DEFER) },
          { RECOVER_FORWARD, RECOVER_FORWARD, RECOVER_KEEP }, true },
        /* Finding 6: a deferring namespace left with no record is moved forward, never left behind. */
        { "killed before the records (old code)",
          { NS(true, 1, false, true, false, false, SWITCH_NOW), NS(false, 1, false, true, false, false, SWITCH_NOW), NS(false, 2, false, true, false, true, SWITCH_DEFER) },
          { RECOVER_KEEP, RECOVER_KEEP, RECOVER_FORWARD }, true },
        { "a record whose namespace already moved",
          { NS(true, 1, false, true, false, false, SWITCH_NOW), NS(false, 1, true, true, false, false, SWITCH_DEFER), NS(false, 2, true, true, false, true, SWITCH_DEFER) },
          { RECOVER_KEEP, RECOVER_FORGET, RECOVER_KEEP }, true },
        /* A container the kill came before: it would hold the old slot for ever. */
        { "container the plan updates, not reached yet",
          { NS(true, 1, false, true, false, false, SWITCH_NOW), NS(false, 1, false, true, false, false, SWITCH_NOW), NS(false, 1, false, false, true, true, SWITCH_NOW) },
          { RECOVER_KEEP, RECOVER_KEEP, RECOVER_TUCK }, true },
        { "container on the image the machine booted with (not a slot)",
          { NS(true, 1, false, true, false, false, SWITCH_NOW), NS(false, 1, false, true, false, false, SWITCH_NOW), NS(false, 1, false, false, true, false, SWITCH_NOW) },
          { RECOVER_KEEP, RECOVER_KEEP, RECOVER_TUCK }, true },
        { "deferring container not reached yet",
          { NS(true, 1, false, true, false, false, SWITCH_NOW), NS(false, 1, false, true, false, false, SWITCH_NOW), NS(false, 1, false, false, true, true, SWITCH_DEFER) },
          { RECOVER_KEEP, RECOVER_KEEP, RECOVER_TUCK_DEFER }, true },
        { "container the plan skips stays as it is",
          { NS(true, 1, false, true, false, false, SWITCH_NOW), NS(false, 1, false, true, false, false, SWITCH_NOW), NS(false, 1, false, false, true, true, SWITCH_SKIP) },
          { RECOVER_KEEP, RECOVER_KEEP, RECOVER_KEEP }, true },
        { "the host defers, recorded",
          { NS(true, 2, true, true, false, true, SWITCH_DEFER), NS(false, 1, false, true, false, false, SWITCH_NOW), NS(false, 1, false, true, false, false, SWITCH_NOW) },
          { RECOVER_KEEP, RECOVER_KEEP, RECOVER_KEEP }, true },
        /* A rollback's target may already be an old top in a deferring namespace: only the host
         * tells whether the tuck happened. */
        { "rollback killed before the tuck",
          { NS(true, 1, false, false, false, true, SWITCH_NOW), NS(false, 1, false, false, false, true, SWITCH_NOW), NS(false, 2, true, true, false, true, SWITCH_DEFER) },
          { RECOVER_KEEP, RECOVER_KEEP, RECOVER_KEEP }, false },
};

static void test_recover(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(recover_rows); i++) {
                const RecoverRow *row = &recover_rows[i];
                RecoverAction act[3];
                bool switched;

                plan_recover(row->ns, 3, act, &switched);
                print_message("recover: %-40s -> %d %d %d %s\n", row->name, act[0], act[1], act[2], switched ? "switched" : "not");
                for (int k = 0; k < 3; k++)
                        assert_int_equal(act[k], row->expect[k]);
                assert_int_equal(switched, row->switched);
        }
}

/* ---- plan_boot ------------------------------------------------------------------------------ */

typedef struct BootRow {
        const char *name;
        BootSlotFacts slots[2];
        int next_boot, forced;
        const char *floor;
        unsigned limit;
        int slot, fallback;
        bool trial;
        int tries_left;
        unsigned unconfirmed;
        bool last_resort;
        int error;
        const char *passed_over;        /* a piece of the other slot's reason, NULL: empty */
} BootRow;

/* Slot facts: ready, auth, version, tries, good, unconfirmed, failed_now. */
#define GOOD(v) { true, 0, v, -1, true, 0, false }
#define TRIAL(v, t) { true, 0, v, t, false, 0, false }
static const BootRow boot_rows[] = {
        { "next boot on trial", { GOOD("2"), TRIAL("3", 3) }, 1, -1, NULL, 3, 1, 0, true, 2, 1, false, 0, NULL },
        { "last trial boot", { GOOD("2"), TRIAL("3", 1) }, 1, -1, NULL, 3, 1, 0, true, 0, 1, false, 0, NULL },
        { "trial used up: the good one", { GOOD("2"), TRIAL("3", 0) }, 1, -1, NULL, 3, 0, 1, false, -1, 1, false, 0,
          "used all its trial boots" },
        { "next boot does not authenticate", { GOOD("2"), { true, -EKEYREJECTED, "3", 3, false, 0, false } }, 1, -1, NULL, 3,
          0, -1, false, -1, 1, false, 0, "does not authenticate" },
        { "no state: the newest authentic", { GOOD("2"), GOOD("3") }, -1, -1, NULL, 3, 1, 0, false, -1, 1, false, 0, NULL },
        { "no state: the newest, whichever slot", { GOOD("4"), GOOD("3") }, -1, -1, NULL, 3, 0, 1, false, -1, 1, false, 0, NULL },
        { "kernel command line picks a", { GOOD("2"), TRIAL("3", 3) }, 1, 0, NULL, 3, 0, 1, false, -1, 1, false, 0, NULL },
        { "kernel command line: even past its count", { { true, 0, "2", -1, true, 7, false }, TRIAL("3", 3) }, 1, 0, NULL, 3,
          0, 1, false, -1, 8, false, 0, NULL },
        { "kernel command line names a slot that cannot boot", { { true, -EKEYREJECTED, "2", -1, true, 0, false }, GOOD("3") },
          1, 0, NULL, 3, 1, -1, false, -1, 1, false, 0, "does not authenticate" },
        { "below the floor never boots", { GOOD("2"), TRIAL("3", 3) }, 0, -1, "3", 3, 1, -1, true, 2, 1, false, 0,
          "below the version floor 3" },
        { "good, under the limit", { { true, 0, "2", -1, true, 2, false }, GOOD("1") }, 0, -1, NULL, 3, 0, 1, false, -1, 3,
          false, 0, NULL },
        { "good, at the limit: the other", { { true, 0, "2", -1, true, 3, false }, GOOD("1") }, 0, -1, NULL, 3, 1, 0, false, -1,
          1, false, 0, "3 times in a row" },
        { "limit 0: never counted out", { { true, 0, "2", -1, true, 50, false }, GOOD("1") }, 0, -1, NULL, 0, 0, 1, false, -1,
          51, false, 0, NULL },
        { "both used up: the one that was not next, loudly", { { true, 0, "2", -1, true, 3, false }, TRIAL("3", 0) }, 0, -1,
          NULL, 3, 1, 0, false, 0, 1, true, 0, "3 times in a row" },
        { "… and then back: they alternate", { { true, 0, "2", -1, true, 3, false }, { true, 0, "3", 0, false, 1, false } }, 1,
          -1, NULL, 3, 0, 1, false, -1, 4, true, 0, "used all its trial boots" },
        { "failed to set up now: the other", { { true, 0, "2", -1, true, 0, true }, GOOD("1") }, 0, -1, NULL, 3, 1, -1, false,
          -1, 1, false, 0, "could not be set up in this boot" },
        { "failed now, other used up: last resort", { { true, 0, "2", -1, true, 0, true }, TRIAL("3", 0) }, 0, -1, NULL, 3, 1,
          -1, false, 0, 1, true, 0, "could not be set up" },
        { "nothing can boot", { { false, 0, NULL, -1, false, 0, false }, { true, -EBADMSG, "3", 3, false, 0, false } }, 1, -1,
          NULL, 3, -1, -1, false, -1, 0, false, -ENOMEDIUM, NULL },
        { "all below the floor", { GOOD("1"), GOOD("2") }, 1, -1, "3", 3, -1, -1, false, -1, 0, false, -ENOMEDIUM, NULL },
};

static void test_boot(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(boot_rows); i++) {
                const BootRow *row = &boot_rows[i];
                BootFacts f = { .next_boot = row->next_boot, .forced = row->forced, .version_floor = row->floor, .limit = row->limit };
                BootPlan p;
                int other;

                f.slots[0] = row->slots[0];
                f.slots[1] = row->slots[1];
                plan_boot(&f, &p);
                other = p.slot >= 0 ? 1 - p.slot : (row->next_boot >= 0 ? 1 - row->next_boot : 1);
                print_message("boot: %-50s -> %d (fallback %d%s) %s | %s\n", row->name, p.slot, p.fallback,
                              p.last_resort ? ", last resort" : "", p.verdict.reason, p.passed_over[other]);
                assert_int_equal(p.slot, row->slot);
                assert_int_equal(p.fallback, row->fallback);
                assert_int_equal(p.trial, row->trial);
                assert_int_equal(p.tries_left, row->tries_left);
                assert_int_equal(p.unconfirmed, row->unconfirmed);
                assert_int_equal(p.last_resort, row->last_resort);
                assert_int_equal(p.verdict.error, row->error);
                if (p.slot >= 0)
                        assert_string_equal(p.passed_over[p.slot], "");
                if (row->passed_over)
                        assert_non_null(strstr(p.passed_over[other], row->passed_over));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_admit),
                cmocka_unit_test(test_newest_live),
                cmocka_unit_test(test_slot),
                cmocka_unit_test(test_rollback_slot_and_gc),
                cmocka_unit_test(test_image_matches),
                cmocka_unit_test(test_modules),
                cmocka_unit_test(test_may_empty_slot),
                cmocka_unit_test(test_provision),
                cmocka_unit_test(test_switch),
                cmocka_unit_test(test_switch_needs_host_first),
                cmocka_unit_test(test_expire),
                cmocka_unit_test(test_merge_deadline),
                cmocka_unit_test(test_recover),
                cmocka_unit_test(test_boot),
        };
        return tu_run_group_tests(tests, NULL, NULL);
}
