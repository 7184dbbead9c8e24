/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test-util.h"

#include "policy.h"

#define MIN30 (30ULL * 60 * 1000000)
#define HOUR (3600ULL * 1000000)

static PolicyRule rule(const char *name, const char *unit, const char *exe, int container, PolicyMode mode,
                       uint64_t deadline, const char *notify) {
        return (PolicyRule) {
                .name = (char *) name,
                .unit = (char *) unit,
                .executable = (char *) exe,
                .container = container,
                .mode = mode,
                .deadline_usec = deadline,
                .notify = (char *) notify,
        };
}

static char *web_units[] = { (char *) "web.service", NULL };
static char *web_exes[] = { (char *) "/usr/bin/nginx", (char *) "/usr/bin/bash", NULL };
static char *db_units[] = { (char *) "postgresql@15-main.service", NULL };
static char *host_units[] = { (char *) "init.scope", NULL };

static const NamespaceFacts web = { .units = web_units, .executables = web_exes };
static const NamespaceFacts db = { .units = db_units };
static const NamespaceFacts ctr = { .container = true };
static const NamespaceFacts host = { .host = true, .units = host_units };

static PolicyDecision decide(const PolicySet *s, const NamespaceFacts *ns, bool critical) {
        PolicyDecision d;
        assert_int_equal(policy_decide(s, ns, critical, &d), 0);
        return d;
}

static void test_defaults(void **state) {
        PolicySet s = { .default_mode = POLICY_FORCE };
        PolicyDecision d = decide(&s, &web, false);

        assert_int_equal(d.mode, POLICY_FORCE);
        assert_null(d.rule);
        assert_string_equal(d.notify, "none");

        s.default_mode = POLICY_DEFER;
        s.default_deadline_usec = HOUR;
        d = decide(&s, &web, false);
        assert_int_equal(d.mode, POLICY_DEFER);
        assert_int_equal(d.deadline_usec, HOUR);
        /* The host switches at once whatever the default says… */
        assert_int_equal(decide(&s, &host, false).mode, POLICY_FORCE);
}

static void test_match_and_merge(void **state) {
        PolicyRule rules[] = {
                rule("10-all.conf", NULL, NULL, -1, POLICY_DEFER, MIN30, NULL),
                rule("20-web.conf", "web.*", NULL, -1, _POLICY_MODE_INVALID, HOUR, "SIGHUP"),
                rule("30-postgres.conf", "postgresql@*.service", NULL, -1, POLICY_SKIP, 0, NULL),
                rule("40-nginx.conf", NULL, "/usr/bin/ngin?", -1, POLICY_DEFER, 0, NULL),
        };
        PolicySet s = { .rules = rules, .n_rules = 4, .default_mode = POLICY_FORCE };
        PolicyDecision d;

        /* Every matching rule applies, later files win, unset keys keep earlier values. */
        d = decide(&s, &web, false);
        assert_int_equal(d.mode, POLICY_DEFER);
        assert_int_equal(d.deadline_usec, HOUR);
        assert_string_equal(d.notify, "SIGHUP");
        assert_string_equal(d.rule, "40-nginx.conf");

        d = decide(&s, &db, false);
        assert_int_equal(d.mode, POLICY_SKIP);
        assert_int_equal(d.deadline_usec, MIN30);
        assert_string_equal(d.rule, "30-postgres.conf");

        /* …and a catch-all rule does not hold the host back. */
        d = decide(&s, &host, false);
        assert_int_equal(d.mode, POLICY_FORCE);
        assert_null(d.rule);
}

static void test_host_named_by_a_rule(void **state) {
        PolicyRule rules[] = { rule("50-host.conf", "init.scope", NULL, -1, POLICY_DEFER, HOUR, NULL) };
        PolicySet s = { .rules = rules, .n_rules = 1, .default_mode = POLICY_FORCE };

        assert_int_equal(decide(&s, &host, false).mode, POLICY_DEFER);
}

static void test_containers(void **state) {
        PolicyRule rules[] = {
                rule("10-no-containers.conf", NULL, NULL, 1, POLICY_SKIP, 0, NULL),
                rule("20-services.conf", NULL, NULL, 0, POLICY_DEFER, 0, NULL),
        };
        PolicySet s = { .rules = rules, .n_rules = 2, .default_mode = POLICY_FORCE };

        assert_int_equal(decide(&s, &ctr, false).mode, POLICY_SKIP);
        assert_int_equal(decide(&s, &db, false).mode, POLICY_DEFER);
        assert_false(policy_rule_matches(&rules[0], &db));
        assert_true(policy_rule_matches(&rules[0], &ctr));
}

static void test_containers_skipped_by_default(void **state) {
        PolicySet s = { .default_mode = POLICY_FORCE };
        PolicyRule rules[] = { rule("10-ctr.conf", NULL, NULL, 1, POLICY_FORCE, 0, NULL) };

        assert_int_equal(decide(&s, &ctr, false).mode, POLICY_SKIP);
        s.rules = rules;
        s.n_rules = 1;
        assert_int_equal(decide(&s, &ctr, false).mode, POLICY_FORCE);
}

static void test_critical_overrides_defer_only(void **state) {
        PolicyRule rules[] = {
                rule("10-all.conf", NULL, NULL, -1, POLICY_DEFER, MIN30, NULL),
                rule("30-postgres.conf", "postgresql@*", NULL, -1, POLICY_SKIP, 0, NULL),
        };
        PolicySet s = { .rules = rules, .n_rules = 2, .default_mode = POLICY_FORCE };
        PolicyDecision d;

        d = decide(&s, &web, true);
        assert_int_equal(d.mode, POLICY_FORCE);
        assert_true(d.overridden);
        d = decide(&s, &web, false);
        assert_int_equal(d.mode, POLICY_DEFER);
        assert_false(d.overridden);
        d = decide(&s, &db, true);
        assert_int_equal(d.mode, POLICY_SKIP);
        assert_false(d.overridden);
}

static void test_no_match_on_missing_facts(void **state) {
        PolicyRule r = rule("x.conf", "web.service", NULL, -1, POLICY_SKIP, 0, NULL);
        NamespaceFacts none = {};

        assert_false(policy_rule_matches(&r, &none));
        r.unit = NULL;
        r.cgroup = (char *) "/system.slice/*";
        assert_false(policy_rule_matches(&r, &web));
}

static void test_modes(void **state) {
        PolicySet bad = { .default_mode = _POLICY_MODE_INVALID };
        PolicyDecision d;

        assert_int_equal(policy_mode_from_string("force"), POLICY_FORCE);
        assert_int_equal(policy_mode_from_string("defer"), POLICY_DEFER);
        assert_int_equal(policy_mode_from_string("skip"), POLICY_SKIP);
        assert_int_equal(policy_mode_from_string("later"), _POLICY_MODE_INVALID);
        assert_string_equal(policy_mode_to_string(POLICY_DEFER), "defer");
        assert_null(policy_mode_to_string(_POLICY_MODE_MAX));
        assert_int_equal(policy_decide(&bad, &web, false, &d), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_match_and_merge),
                cmocka_unit_test(test_host_named_by_a_rule),
                cmocka_unit_test(test_containers),
                cmocka_unit_test(test_containers_skipped_by_default),
                cmocka_unit_test(test_critical_overrides_defer_only),
                cmocka_unit_test(test_no_match_on_missing_facts),
                cmocka_unit_test(test_modes),
        };
        return tu_run_group_tests(tests, NULL, NULL);
}
