/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fleet agent's decisions as a specification: rollout buckets, wariness, maintenance windows,
 * and the step planner, one row per situation (facts) with the expected plan. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "test-util.h"

#include "agent.h"
#include "cleanup.h"

/* Rows start from a common base and override a few facts: the override is the point of each row. */
#pragma GCC diagnostic ignored "-Woverride-init"

#define NOW 1800000000ULL

/* The tests link no libm. */
static double absd(double x) {
        return x < 0 ? -x : x;
}

/* ---- Buckets --------------------------------------------------------------------------------- */

/* The bucket recomputed here from its definition, independently of agent.c's code: the first 8
 * bytes of SHA-256("osupdate-rollout\0" M "\0" C "\0" V), big-endian, as a fraction of 2^64. */
static double reference_bucket(const char *m, const char *c, const char *v) {
        unsigned char buf[512], digest[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        long double x = 0;
        int n;

        n = snprintf((char *) buf, sizeof buf, "osupdate-rollout%c%s%c%s%c%s", 0, m, 0, c, 0, v);
        assert_true(n > 0 && (size_t) n < sizeof buf);
        assert_int_equal(EVP_Digest(buf, (size_t) n, digest, &len, EVP_sha256(), NULL), 1);
        for (int i = 0; i < 8; i++)
                x = x * 256 + digest[i];
        return (double) (x / 18446744073709551616.0L * 100);
}

static void test_bucket_definition(void **state) {
        static const char *const ids[] = { "0123456789abcdef0123456789abcdef", "f00dfeedf00dfeedf00dfeedf00dfeed", "",
                                           "x" };

        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                double b = agent_bucket(ids[i], "stable", "2.1"), r = reference_bucket(ids[i], "stable", "2.1");

                print_message("bucket(%s) = %.6f (reference %.6f)\n", ids[i], b, r);
                assert_true(absd(b - r) < 1e-9);
                assert_true(b >= 0 && b < 100);
        }
}

static void test_bucket_stable(void **state) {
        const char *m = "4a2b9c0d1e2f30415263748596a7b8c9";
        double b = agent_bucket(m, "stable", "2.1");

        /* Same triple, same place: every poll, every restart. */
        for (int i = 0; i < 100; i++)
                assert_true(agent_bucket(m, "stable", "2.1") == b);
        /* Another channel, another version or another machine: another place. */
        assert_true(agent_bucket(m, "beta", "2.1") != b);
        assert_true(agent_bucket(m, "stable", "2.2") != b);
        assert_true(agent_bucket("4a2b9c0d1e2f30415263748596a7b8ca", "stable", "2.1") != b);
        /* The separators count: moving a byte between fields moves the bucket. */
        assert_true(agent_bucket("ab", "c", "d") != agent_bucket("a", "bc", "d"));
        assert_true(agent_bucket("a", "bc", "d") != agent_bucket("a", "b", "cd"));
        /* NULL reads as "", never crashes. */
        assert_true(agent_bucket(NULL, NULL, NULL) == agent_bucket("", "", ""));
}

/* splitmix64: a fixed stream of ids, so the test is the same on every run. */
static uint64_t next_random(uint64_t *s) {
        uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

#define FLEET 10000

static void test_bucket_distribution(void **state) {
        static const double cuts[] = { 10, 50, 90 };
        size_t below[ELEMENTSOF(cuts)] = {}, first_a = 0, first_both = 0;
        uint64_t seed = 11;
        double lo = 100, hi = 0;

        for (size_t i = 0; i < FLEET; i++) {
                char id[33];
                double a, b;
                uint64_t x = next_random(&seed), y = next_random(&seed);

                (void) snprintf(id, sizeof id, "%016llx%016llx", (unsigned long long) x, (unsigned long long) y);
                a = agent_bucket(id, "stable", "2.1");
                b = agent_bucket(id, "stable", "2.2");
                assert_true(a >= 0 && a < 100);
                lo = MIN(lo, a);
                hi = MAX(hi, a);
                for (size_t k = 0; k < ELEMENTSOF(cuts); k++)
                        below[k] += a < cuts[k];
                /* The first wave of one release says nothing about the next one's. */
                if (a < 10) {
                        first_a++;
                        first_both += b < 10;
                }
        }

        for (size_t k = 0; k < ELEMENTSOF(cuts); k++) {
                double share = 100.0 * (double) below[k] / FLEET;

                print_message("below %.0f: %.2f %%\n", cuts[k], share);
                assert_true(absd(share - cuts[k]) <= 1.5);
        }
        print_message("range [%.3f, %.3f]; first wave of 2.1 also first in 2.2: %zu of %zu\n", lo, hi, first_both,
                      first_a);
        assert_true(lo < 0.1 && hi > 99.9);
        /* Independent: about 10 % of the 2.1 first wave is in the 2.2 first wave (binomial, n ≈ 1000). */
        assert_true(first_both > first_a * 5 / 100 && first_both < first_a * 15 / 100);
}

/* ---- Rollout progress and wariness ------------------------------------------------------------ */

typedef struct ReachedRow {
        const char *name;
        Rollout r;
        uint64_t now;
        double reached;
} ReachedRow;

/* clang-format off */
static const ReachedRow reached_rows[] = {
        { "percent 0", { .percent = 0 }, NOW, 0 },
        { "percent 34.2", { .percent = 34.2 }, NOW, 34.2 },
        { "percent 100", { .percent = 100 }, NOW, 100 },
        { "percent below 0 clamps", { .percent = -5 }, NOW, 0 },
        { "percent above 100 clamps", { .percent = 150 }, NOW, 100 },
        { "linear, before the start", { .linear = true, .start = NOW + 1, .duration = 3600 }, NOW, 0 },
        { "linear, at the start", { .linear = true, .start = NOW, .duration = 3600 }, NOW, 0 },
        { "linear, a quarter", { .linear = true, .start = NOW - 900, .duration = 3600 }, NOW, 25 },
        { "linear, half", { .linear = true, .start = NOW - 1800, .duration = 3600 }, NOW, 50 },
        { "linear, one second before the end", { .linear = true, .start = NOW - 3599, .duration = 3600 }, NOW, 3599.0 / 36 },
        { "linear, at the end", { .linear = true, .start = NOW - 3600, .duration = 3600 }, NOW, 100 },
        { "linear, long after", { .linear = true, .start = 1, .duration = 3600 }, NOW, 100 },
        { "linear, duration 0, before", { .linear = true, .start = NOW + 1 }, NOW, 0 },
        { "linear, duration 0, at the start", { .linear = true, .start = NOW }, NOW, 100 },
        { "linear, end past 2^64", { .linear = true, .start = UINT64_MAX - 10, .duration = 100 }, UINT64_MAX, 10 },
        { "linear, percent ignored", { .linear = true, .percent = 80, .start = NOW + 10, .duration = 100 }, NOW, 0 },
};
/* clang-format on */

static void test_rollout_reached(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(reached_rows); i++) {
                const ReachedRow *row = &reached_rows[i];
                double got = rollout_reached(&row->r, row->now);

                print_message("reached: %-40s -> %.4f\n", row->name, got);
                assert_true(absd(got - row->reached) < 1e-9);
        }

        /* NaN from a broken document: nobody. */
        assert_true(rollout_reached(&(Rollout){ .percent = NAN }, NOW) == 0);

        /* Over a linear rollout's day, the share only grows. */
        Rollout r = { .linear = true, .start = NOW, .duration = 86400 };
        double last = -1;
        for (uint64_t t = NOW - 3600; t <= NOW + 90000; t += 600) {
                double v = rollout_reached(&r, t);
                assert_true(v >= last && v >= 0 && v <= 100);
                last = v;
        }
        assert_true(last == 100);
}

static void test_wariness(void **state) {
        assert_true(agent_bucket_wary(40, 0) == 40);
        assert_true(absd(agent_bucket_wary(40, 0.5) - 70) < 1e-9);
        assert_true(absd(agent_bucket_wary(61, 0.3) - 72.7) < 1e-9);
        assert_true(agent_bucket_wary(40, -1) == 40);                      /* clamped to 0 */
        assert_true(agent_bucket_wary(40, 2) == agent_bucket_wary(40, 1)); /* clamped to 1 */
        assert_true(agent_bucket_wary(40, NAN) == 40);
        /* Wariness 1: the last place, still below 100, taken only when the rollout completes. */
        assert_true(agent_bucket_wary(0, 1) < 100);
        assert_false(rollout_includes(99.99, agent_bucket_wary(0, 1)));
        assert_true(rollout_includes(100, agent_bucket_wary(0, 1)));
        /* Wariness only moves a machine later. */
        for (double b = 0; b < 100; b += 7.5)
                for (double w = 0; w <= 1; w += 0.25)
                        assert_true(agent_bucket_wary(b, w) >= b);

        assert_true(rollout_includes(100, 99.99));
        assert_true(rollout_includes(50.1, 50));
        assert_false(rollout_includes(50, 50));
        assert_false(rollout_includes(0, 0));
        assert_false(rollout_includes(34.2, 61));
}

/* ---- Maintenance windows ---------------------------------------------------------------------- */

#define MON (1U << 0)
#define TUE (1U << 1)
#define WED (1U << 2)
#define THU (1U << 3)
#define FRI (1U << 4)
#define SAT (1U << 5)
#define SUN (1U << 6)

typedef struct ParseRow {
        const char *s;
        int error;
        unsigned days, start, length;
} ParseRow;

/* clang-format off */
static const ParseRow parse_rows[] = {
        { "Mon..Fri 02:00 90min", 0, MON | TUE | WED | THU | FRI, 120, 90 },
        { "Sat,Sun 23:30 1h", 0, SAT | SUN, 1410, 60 },
        { "* 00:00 24h", 0, 0x7f, 0, 1440 },
        { "Fri..Mon 22:00 4h", 0, FRI | SAT | SUN | MON, 1320, 240 },
        { "mon,WED..thu,Sun 7:05 1h 30min", 0, MON | WED | THU | SUN, 425, 90 },
        { "Tue 23:59 7d", 0, TUE, 1439, 10080 },
        { "Sun..Sun 00:00 1min", 0, SUN, 0, 1 },
        { "Sat..Fri 12:00 1h", 0, 0x7f, 720, 60 },
        { "Mon,Mon 01:00 1h", 0, MON, 60, 60 },
        { "Sun,Mon..Tue,Fri 18:45 2h", 0, SUN | MON | TUE | FRI, 1125, 120 },
        { "  Mon\t 02:00   2h  ", 0, MON, 120, 120 },
        { "Wed 12:00 120", 0, WED, 720, 2 },                    /* a bare number is seconds */
        { "Thu 00:00 1w", 0, THU, 0, 10080 },
        { "", -EINVAL, 0, 0, 0 },
        { "Mon", -EINVAL, 0, 0, 0 },
        { "Mon 02:00", -EINVAL, 0, 0, 0 },
        { "Mon 02:00 0", -EINVAL, 0, 0, 0 },
        { "Mon 02:00 30s", -EINVAL, 0, 0, 0 },
        { "Mon 02:00 90s", -EINVAL, 0, 0, 0 },                  /* not whole minutes */
        { "Mon 02:00 7d 1min", -EINVAL, 0, 0, 0 },              /* longer than a week */
        { "Mon 02:00 8d", -EINVAL, 0, 0, 0 },
        { "Mon 02:00 99999999999999999999h", -EINVAL, 0, 0, 0 },
        { "Mon 02:00 -1h", -EINVAL, 0, 0, 0 },
        { "Mon 02:00 1.5h", -EINVAL, 0, 0, 0 },
        { "Mon 02:00 1h junk", -EINVAL, 0, 0, 0 },
        { "Mon 02:00 1x", -EINVAL, 0, 0, 0 },
        { "Mon 24:00 1h", -EINVAL, 0, 0, 0 },
        { "Mon 23:60 1h", -EINVAL, 0, 0, 0 },
        { "Mon 2:0 1h", -EINVAL, 0, 0, 0 },
        { "Mon 002:00 1h", -EINVAL, 0, 0, 0 },
        { "Mon 02-00 1h", -EINVAL, 0, 0, 0 },
        { "Mon :00 1h", -EINVAL, 0, 0, 0 },
        { "Mon +2:00 1h", -EINVAL, 0, 0, 0 },
        { "Monday 02:00 1h", -EINVAL, 0, 0, 0 },
        { "Mo 02:00 1h", -EINVAL, 0, 0, 0 },
        { "Xyz 02:00 1h", -EINVAL, 0, 0, 0 },
        { "Mon..Fri..Sun 02:00 1h", -EINVAL, 0, 0, 0 },
        { "Mon.Fri 02:00 1h", -EINVAL, 0, 0, 0 },
        { "Mon...Fri 02:00 1h", -EINVAL, 0, 0, 0 },
        { "Mon.. 02:00 1h", -EINVAL, 0, 0, 0 },
        { "..Fri 02:00 1h", -EINVAL, 0, 0, 0 },
        { "Mon, 02:00 1h", -EINVAL, 0, 0, 0 },
        { ",Mon 02:00 1h", -EINVAL, 0, 0, 0 },
        { "Mon,,Tue 02:00 1h", -EINVAL, 0, 0, 0 },
        { "*,Mon 02:00 1h", -EINVAL, 0, 0, 0 },
        { "** 02:00 1h", -EINVAL, 0, 0, 0 },
        { "02:00 1h", -EINVAL, 0, 0, 0 },
        { "Mon 1h 02:00", -EINVAL, 0, 0, 0 },
};
/* clang-format on */

static void test_window_parse(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(parse_rows); i++) {
                const ParseRow *row = &parse_rows[i];
                Window w = { .days = 0xff, .start_minute = 4242, .length_minutes = 4242 };
                int r = window_parse(row->s, &w);

                print_message("window: %-36s -> %d\n", row->s, r);
                assert_int_equal(r, row->error);
                if (r < 0) {
                        /* ret untouched on failure */
                        assert_int_equal(w.days, 0xff);
                        assert_int_equal(w.start_minute, 4242);
                        continue;
                }
                assert_int_equal(w.days, row->days);
                assert_int_equal(w.start_minute, row->start);
                assert_int_equal(w.length_minutes, row->length);
        }
        assert_int_equal(window_parse(NULL, &(Window){}), -EINVAL);
}

/* Days as in the header: 0 = Monday … 6 = Sunday. */
enum { D_MON, D_TUE, D_WED, D_THU, D_FRI, D_SAT, D_SUN };
#define HM(h, m) (60 * (h) + (m))

typedef struct WhenRow {
        const char *windows[3];
        unsigned weekday, minute;
        bool contains;
        uint32_t next_open;
} WhenRow;

/* clang-format off */
static const WhenRow when_rows[] = {
        { { "Mon..Fri 02:00 90min" }, D_MON, HM(2, 0), true, 0 },
        { { "Mon..Fri 02:00 90min" }, D_MON, HM(3, 29), true, 0 },
        { { "Mon..Fri 02:00 90min" }, D_MON, HM(3, 30), false, HM(22, 30) },
        { { "Mon..Fri 02:00 90min" }, D_MON, HM(1, 59), false, 1 },
        { { "Mon..Fri 02:00 90min" }, D_MON, HM(1, 0), false, 60 },
        { { "Mon..Fri 02:00 90min" }, D_FRI, HM(3, 0), true, 0 },
        { { "Mon..Fri 02:00 90min" }, D_FRI, HM(4, 0), false, HM(20, 0) + 2 * 1440 + HM(2, 0) },
        { { "Mon..Fri 02:00 90min" }, D_SAT, HM(2, 30), false, 1440 + HM(23, 30) },
        { { "Mon..Fri 02:00 90min" }, D_SUN, HM(23, 59), false, 121 },
        /* Past midnight into the next day, and past Sunday into Monday. */
        { { "Sun 23:30 1h" }, D_MON, HM(0, 15), true, 0 },
        { { "Sun 23:30 1h" }, D_MON, HM(0, 29), true, 0 },
        { { "Sun 23:30 1h" }, D_MON, HM(0, 30), false, 6 * 1440 + HM(23, 0) },
        { { "Sun 23:30 1h" }, D_SUN, HM(23, 29), false, 1 },
        { { "Sun 23:30 1h" }, D_SUN, HM(23, 59), true, 0 },
        { { "Sat,Sun 23:30 1h" }, D_SUN, HM(0, 10), true, 0 },
        { { "Fri..Mon 22:00 4h" }, D_TUE, HM(1, 0), true, 0 },
        { { "Fri..Mon 22:00 4h" }, D_TUE, HM(2, 0), false, 3 * 1440 + HM(20, 0) },
        { { "Fri..Mon 22:00 4h" }, D_WED, HM(23, 0), false, 1440 + HM(23, 0) },
        { { "Fri..Mon 22:00 4h" }, D_SAT, HM(1, 59), true, 0 },
        { { "* 00:00 24h" }, D_THU, HM(13, 37), true, 0 },
        { { "* 00:00 24h" }, D_SUN, HM(23, 59), true, 0 },
        { { "Sat 12:00 7d" }, D_SAT, HM(11, 59), true, 0 },
        { { "Wed 12:00 1min" }, D_WED, HM(12, 1), false, 7 * 1440 - 1 },
        /* Several windows: any of them; the next to open. */
        { { "Mon 02:00 1h", "Thu 14:00 30min" }, D_THU, HM(14, 10), true, 0 },
        { { "Mon 02:00 1h", "Thu 14:00 30min" }, D_WED, HM(0, 0), false, 1440 + HM(14, 0) },
        { { "Mon 02:00 1h", "Thu 14:00 30min" }, D_THU, HM(14, 30), false, 3 * 1440 + HM(9, 30) + HM(2, 0) },
        /* No windows: never open. */
        { {}, D_MON, HM(2, 0), false, UINT32_MAX },
};
/* clang-format on */

static void test_window_when(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(when_rows); i++) {
                const WhenRow *row = &when_rows[i];
                Window w[3];
                size_t n = 0;

                for (; n < ELEMENTSOF(row->windows) && row->windows[n]; n++)
                        assert_int_equal(window_parse(row->windows[n], &w[n]), 0);
                print_message("when: %-22s + %zu, day %u %02u:%02u -> %d, %u\n", row->windows[0] ?: "(none)",
                              n ? n - 1 : 0, row->weekday, row->minute / 60, row->minute % 60,
                              window_contains(w, n, row->weekday, row->minute),
                              window_next_open(w, n, row->weekday, row->minute));
                assert_int_equal(window_contains(w, n, row->weekday, row->minute), row->contains);
                assert_int_equal(window_next_open(w, n, row->weekday, row->minute), row->next_open);
        }
}

/* Every minute of a week: contains ⇔ next_open == 0, and waiting next_open minutes opens one. */
static void test_window_consistent(void **state) {
        static const char *const specs[] = { "Mon..Fri 02:00 90min", "Sat,Sun 23:30 1h", "Fri..Mon 22:00 4h" };
        Window w[ELEMENTSOF(specs)];

        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                assert_int_equal(window_parse(specs[i], &w[i]), 0);
        for (size_t n = 1; n <= ELEMENTSOF(specs); n++)
                for (unsigned m = 0; m < 7 * 1440; m++) {
                        unsigned d = m / 1440, mm = m % 1440;
                        uint32_t next = window_next_open(w, n, d, mm);
                        unsigned then = (m + next) % (7 * 1440);

                        assert_int_equal(window_contains(w, n, d, mm), next == 0);
                        assert_true(next < 7 * 1440);
                        assert_true(window_contains(w, n, then / 1440, then % 1440));
                        if (next > 0) {
                                unsigned before = (m + next - 1) % (7 * 1440);
                                assert_false(window_contains(w, n, before / 1440, before % 1440));
                        }
                }
}

/* ---- String tables ---------------------------------------------------------------------------- */

static void test_strings(void **state) {
        static const char *const strategies[] = { "immediate", "periodic", "fleet-lock" };
        static const char *const phases[] = { "none",      "locking",      "installing", "checking",
                                              "rebooting", "rolling-back", "releasing",  "done" };
        static const char *const results[] = { "none", "success", "failure", "canceled" };
        static const char *const steps[] = { "idle",      "refuse",   "accept",    "lock",     "install",
                                             "health",    "mark-good", "rollback", "wait-boot", "release",
                                             "finish",    "download", "switch",    "cancel",   "confirm" };
        static const char *const reports[] = { "none", "success", "failure" };
        static const char *const cancels[] = { "none", "accept", "too-late" };

        assert_int_equal(ELEMENTSOF(strategies), _AGENT_STRATEGY_MAX);
        assert_int_equal(ELEMENTSOF(phases), _AGENT_PHASE_MAX);
        assert_int_equal(ELEMENTSOF(results), _AGENT_RESULT_MAX);
        assert_int_equal(ELEMENTSOF(steps), _AGENT_STEP_MAX);

        for (int i = 0; i < _AGENT_STRATEGY_MAX; i++) {
                assert_string_equal(agent_strategy_to_string((AgentStrategy) i), strategies[i]);
                assert_int_equal(agent_strategy_from_string(strategies[i]), i);
        }
        for (int i = 0; i < _AGENT_PHASE_MAX; i++) {
                assert_string_equal(agent_phase_to_string((AgentPhase) i), phases[i]);
                assert_int_equal(agent_phase_from_string(phases[i]), i);
        }
        for (int i = 0; i < _AGENT_RESULT_MAX; i++) {
                assert_string_equal(agent_result_to_string((AgentResult) i), results[i]);
                assert_int_equal(agent_result_from_string(results[i]), i);
        }
        for (int i = 0; i < _AGENT_STEP_MAX; i++)
                assert_string_equal(agent_step_to_string((AgentStep) i), steps[i]);
        assert_int_equal(ELEMENTSOF(reports), _AGENT_REPORT_MAX);
        assert_int_equal(ELEMENTSOF(cancels), _AGENT_CANCEL_MAX);
        for (int i = 0; i < _AGENT_REPORT_MAX; i++)
                assert_string_equal(agent_report_to_string((AgentReport) i), reports[i]);
        for (int i = 0; i < _AGENT_CANCEL_MAX; i++)
                assert_string_equal(agent_cancel_reply_to_string((AgentCancelReply) i), cancels[i]);
        assert_null(agent_report_to_string(_AGENT_REPORT_MAX));
        assert_null(agent_cancel_reply_to_string(_AGENT_CANCEL_INVALID));

        assert_null(agent_strategy_to_string(_AGENT_STRATEGY_MAX));
        assert_null(agent_strategy_to_string(_AGENT_STRATEGY_INVALID));
        assert_null(agent_phase_to_string(_AGENT_PHASE_MAX));
        assert_null(agent_result_to_string(_AGENT_RESULT_INVALID));
        assert_null(agent_step_to_string(_AGENT_STEP_MAX));
        assert_int_equal(agent_strategy_from_string("fleet_lock"), _AGENT_STRATEGY_INVALID);
        assert_int_equal(agent_strategy_from_string("Immediate"), _AGENT_STRATEGY_INVALID);
        assert_int_equal(agent_strategy_from_string(""), _AGENT_STRATEGY_INVALID);
        assert_int_equal(agent_strategy_from_string(NULL), _AGENT_STRATEGY_INVALID);
        assert_int_equal(agent_phase_from_string("rolling_back"), _AGENT_PHASE_INVALID);
        assert_int_equal(agent_phase_from_string(NULL), _AGENT_PHASE_INVALID);
        assert_int_equal(agent_result_from_string("ok"), _AGENT_RESULT_INVALID);
        assert_int_equal(agent_result_from_string(NULL), _AGENT_RESULT_INVALID);
}

/* ---- The step planner ------------------------------------------------------------------------- */

static const char *const failed_21[] = { "2.1" };
static const char *const failed_others[] = { NULL, "2.0.1", "1.9" };

/* A new document (serial 8 after 7) names 2.1 over the running 2.0, fully rolled out. */
/* clang-format off */
#define BASE                                                                                                           \
        .channel = "stable", .serial = 8, .last_serial = 7, .last_serial_known = true, .target = "2.1",                \
        .rollout = { .percent = 100 }, .running = "2.0", .bucket = 50, .now = NOW, .strategy = AGENT_STRATEGY_IMMEDIATE, \
        .health = -1

/* An action on 2.1 in progress. */
#define ACTION(p) BASE, .phase = (p), .action_version = "2.1"
/* clang-format on */

typedef struct PlanRow {
        const char *name;
        AgentFacts f;
        AgentStep step;
        AgentResult result;
        bool give_up;
        bool new_action;
        int error;
        const char *reason; /* a part of the reason a person reads */
} PlanRow;

/* clang-format off */
static const PlanRow plan_rows[] = {
        /* No action: the channel decides. */
        { "new serial, rollout complete", { BASE }, AGENT_STEP_INSTALL, 0, false, true, 0, "update to 2.1" },
        { "first document ever", { BASE, .last_serial_known = false, .last_serial = 0 }, AGENT_STEP_INSTALL, 0, false, true, 0, "installing" },
        /* 1. Serials. */
        { "serial lower than accepted", { BASE, .serial = 6 }, AGENT_STEP_REFUSE, 0, false, false, -EBADE,
          "serial 6 is lower than the accepted 7" },
        { "serial lower, newer target: still refused", { BASE, .serial = 6, .target = "3.0" }, AGENT_STEP_REFUSE, 0, false, false, -EBADE, "freeze" },
        { "serial lower, older target: serial first", { BASE, .serial = 6, .target = "1.9" }, AGENT_STEP_REFUSE, 0, false, false, -EBADE, "rollback" },
        { "same serial, same bytes", { BASE, .serial = 7, .same_document = true }, AGENT_STEP_INSTALL, 0, false, true, 0, NULL },
        { "same serial, other bytes", { BASE, .serial = 7, .same_document = false }, AGENT_STEP_REFUSE, 0, false, false, -EBADE, "other content" },
        { "serial 0 when nothing accepted", { BASE, .serial = 0, .last_serial = 0, .last_serial_known = false }, AGENT_STEP_INSTALL, 0, false, true, 0, NULL },
        /* 2. No downgrade, nothing below the floor. */
        { "target older than running", { BASE, .target = "1.9" }, AGENT_STEP_REFUSE, 0, false, false, -ESTALE, "older than the running 2.0" },
        { "target older, even paused", { BASE, .target = "1.9", .paused = true }, AGENT_STEP_REFUSE, 0, false, false, -ESTALE, NULL },
        { "target below the floor", { BASE, .version_floor = "2.2" }, AGENT_STEP_REFUSE, 0, false, false, -ESTALE, "floor 2.2" },
        { "target at the floor", { BASE, .version_floor = "2.1" }, AGENT_STEP_INSTALL, 0, false, true, 0, NULL },
        { "running unknown: installable, said so", { BASE, .running = NULL }, AGENT_STEP_INSTALL, 0, false, true, 0, "running version is unknown" },
        { "running unknown, below the floor", { BASE, .running = NULL, .version_floor = "3" }, AGENT_STEP_REFUSE, 0, false, false, -ESTALE, NULL },
        /* 3. Nothing to do. */
        { "up to date", { BASE, .running = "2.1" }, AGENT_STEP_ACCEPT, 0, false, false, 0, "up to date (2.1)" },
        { "up to date, paused and not reached", { BASE, .running = "2.1", .paused = true, .rollout = { .percent = 0 } }, AGENT_STEP_ACCEPT, 0, false, false, 0, "up to date" },
        { "failed here before", { BASE, .failed_versions = failed_21, .n_failed_versions = 1 }, AGENT_STEP_ACCEPT, 0, false, false, 0,
          "2.1 failed here before: not retried automatically" },
        { "other versions failed here", { BASE, .failed_versions = failed_others, .n_failed_versions = 3 }, AGENT_STEP_INSTALL, 0, false, true, 0, NULL },
        /* 4. Not now. */
        { "paused", { BASE, .paused = true }, AGENT_STEP_IDLE, 0, false, false, 0, "paused" },
        { "rollout below the bucket", { BASE, .rollout = { .percent = 34.2 }, .bucket = 61 }, AGENT_STEP_IDLE, 0, false, false, 0,
          "rollout of 2.1 at 34.2 %, this machine's bucket is 61.0: not yet" },
        { "rollout at the bucket: not yet", { BASE, .rollout = { .percent = 50 }, .bucket = 50 }, AGENT_STEP_IDLE, 0, false, false, 0, "not yet" },
        { "rollout past the bucket", { BASE, .rollout = { .percent = 70 }, .bucket = 61 }, AGENT_STEP_INSTALL, 0, false, true, 0, NULL },
        { "wariness moves it later", { BASE, .rollout = { .percent = 70 }, .bucket = 61, .wariness = 0.3 }, AGENT_STEP_IDLE, 0, false, false, 0,
          "(72.7 with wariness 0.3): not yet" },
        { "wariness 1 yields at 100 %", { BASE, .bucket = 99, .wariness = 1 }, AGENT_STEP_INSTALL, 0, false, true, 0, NULL },
        { "linear, not started", { BASE, .rollout = { .linear = true, .start = NOW + 3600, .duration = 3600 }, .bucket = 0 },
          AGENT_STEP_IDLE, 0, false, false, 0, "at 0.0 %" },
        { "linear, halfway, bucket 40", { BASE, .rollout = { .linear = true, .start = NOW - 1800, .duration = 3600 }, .bucket = 40 },
          AGENT_STEP_INSTALL, 0, false, true, 0, "rollout at 50.0 %" },
        { "linear, halfway, bucket 60", { BASE, .rollout = { .linear = true, .start = NOW - 1800, .duration = 3600 }, .bucket = 60 },
          AGENT_STEP_IDLE, 0, false, false, 0, NULL },
        { "periodic, outside every window", { BASE, .strategy = AGENT_STRATEGY_PERIODIC }, AGENT_STEP_IDLE, 0, false, false, 0,
          "outside every maintenance window" },
        { "periodic, not reached: the rollout says so first", { BASE, .strategy = AGENT_STRATEGY_PERIODIC, .rollout = { .percent = 1 } },
          AGENT_STEP_IDLE, 0, false, false, 0, "not yet" },
        { "periodic, in a window", { BASE, .strategy = AGENT_STRATEGY_PERIODIC, .in_window = true }, AGENT_STEP_INSTALL, 0, false, true, 0, NULL },
        { "immediate ignores windows", { BASE, .in_window = false }, AGENT_STEP_INSTALL, 0, false, true, 0, NULL },
        /* 5. A new action. */
        { "fleet-lock: take a slot first", { BASE, .strategy = AGENT_STRATEGY_FLEET_LOCK }, AGENT_STEP_LOCK, 0, false, true, 0, "slot" },
        { "fleet-lock, paused", { BASE, .strategy = AGENT_STRATEGY_FLEET_LOCK, .paused = true }, AGENT_STEP_IDLE, 0, false, false, 0, NULL },
        { "after a finished action", { BASE, .phase = AGENT_PHASE_DONE, .action_version = "2.0" }, AGENT_STEP_INSTALL, 0, false, true, 0, NULL },
        { "after a finished action, up to date", { BASE, .phase = AGENT_PHASE_DONE, .action_version = "2.1", .running = "2.1" },
          AGENT_STEP_ACCEPT, 0, false, false, 0, NULL },
        { "after a failed action: given up", { BASE, .phase = AGENT_PHASE_DONE, .action_version = "2.1", .failed_versions = failed_21, .n_failed_versions = 1 },
          AGENT_STEP_ACCEPT, 0, false, false, 0, "failed here before" },

        /* LOCKING */
        { "locking: slot held", { ACTION(AGENT_PHASE_LOCKING), .lock_held = true }, AGENT_STEP_INSTALL, 0, false, false, 0, "installing 2.1" },
        { "locking: semaphore full", { ACTION(AGENT_PHASE_LOCKING), .lock_refused = true }, AGENT_STEP_IDLE, 0, false, false, 0,
          "the semaphore is full: waiting for a slot" },
        { "locking: try", { ACTION(AGENT_PHASE_LOCKING) }, AGENT_STEP_LOCK, 0, false, false, 0, NULL },
        { "locking goes on whatever the channel says", { ACTION(AGENT_PHASE_LOCKING), .serial = 3, .paused = true, .target = "1.0" },
          AGENT_STEP_LOCK, 0, false, false, 0, NULL },
        /* INSTALLING */
        { "installing: not yet", { ACTION(AGENT_PHASE_INSTALLING), .lock_held = true }, AGENT_STEP_INSTALL, 0, false, false, 0, NULL },
        { "installing: live", { ACTION(AGENT_PHASE_INSTALLING), .installed_live = true, .running = "2.1" }, AGENT_STEP_HEALTH, 0, false, false, 0, "health" },
        { "installing: staged", { ACTION(AGENT_PHASE_INSTALLING), .installed_staged = true }, AGENT_STEP_WAIT_BOOT, 0, false, false, 0, "next boot" },
        { "installing: live wins over a stale failure", { ACTION(AGENT_PHASE_INSTALLING), .installed_live = true, .install_failed = true },
          AGENT_STEP_HEALTH, 0, false, false, 0, NULL },
        { "installing failed, slot held", { ACTION(AGENT_PHASE_INSTALLING), .install_failed = true, .lock_held = true },
          AGENT_STEP_RELEASE, AGENT_RESULT_FAILURE, false, false, 0, "tries again" },
        { "installing failed, no slot", { ACTION(AGENT_PHASE_INSTALLING), .install_failed = true }, AGENT_STEP_FINISH, AGENT_RESULT_FAILURE, false, false, 0, NULL },
        /* CHECKING */
        { "checking: run the checks", { ACTION(AGENT_PHASE_CHECKING), .running = "2.1" }, AGENT_STEP_HEALTH, 0, false, false, 0, NULL },
        { "checking: healthy", { ACTION(AGENT_PHASE_CHECKING), .running = "2.1", .health = 1, .lock_held = true },
          AGENT_STEP_MARK_GOOD, AGENT_RESULT_SUCCESS, false, false, 0, "marking it good" },
        { "checking: unhealthy", { ACTION(AGENT_PHASE_CHECKING), .running = "2.1", .health = 0, .lock_held = true },
          AGENT_STEP_ROLLBACK, AGENT_RESULT_FAILURE, true, false, 0, "rolling back" },
        { "checking: rolled back meanwhile, slot held", { ACTION(AGENT_PHASE_CHECKING), .running = "2.0", .health = 1, .lock_held = true },
          AGENT_STEP_RELEASE, AGENT_RESULT_FAILURE, true, false, 0, "rolled back meanwhile" },
        { "checking: rolled back meanwhile, no slot", { ACTION(AGENT_PHASE_CHECKING), .running = "2.0" },
          AGENT_STEP_FINISH, AGENT_RESULT_FAILURE, true, false, 0, NULL },
        { "checking: running unknown, slot says live", { ACTION(AGENT_PHASE_CHECKING), .running = NULL, .installed_live = true, .health = 1 },
          AGENT_STEP_MARK_GOOD, AGENT_RESULT_SUCCESS, false, false, 0, NULL },
        { "checking: running unknown, not live", { ACTION(AGENT_PHASE_CHECKING), .running = NULL, .installed_live = false },
          AGENT_STEP_FINISH, AGENT_RESULT_FAILURE, true, false, 0, "(unknown)" },
        /* ROLLING_BACK */
        { "rolling back: still live", { ACTION(AGENT_PHASE_ROLLING_BACK), .running = "2.1", .lock_held = true },
          AGENT_STEP_ROLLBACK, AGENT_RESULT_FAILURE, true, false, 0, NULL },
        { "rolling back: done, slot held", { ACTION(AGENT_PHASE_ROLLING_BACK), .running = "2.0", .lock_held = true },
          AGENT_STEP_RELEASE, AGENT_RESULT_FAILURE, true, false, 0, "rolled back from 2.1" },
        { "rolling back: done, no slot", { ACTION(AGENT_PHASE_ROLLING_BACK), .running = "2.0" }, AGENT_STEP_FINISH, AGENT_RESULT_FAILURE, true, false, 0, NULL },
        /* REBOOTING */
        { "rebooting: not yet booted", { ACTION(AGENT_PHASE_REBOOTING), .lock_held = true }, AGENT_STEP_WAIT_BOOT, 0, false, false, 0, NULL },
        { "rebooting: booted, not yet good", { ACTION(AGENT_PHASE_REBOOTING), .booted_target = true, .running = "2.1" },
          AGENT_STEP_WAIT_BOOT, 0, false, false, 0, NULL },
        { "rebooting: booted and good, slot held", { ACTION(AGENT_PHASE_REBOOTING), .booted_target = true, .booted_good = true, .running = "2.1", .lock_held = true },
          AGENT_STEP_RELEASE, AGENT_RESULT_SUCCESS, false, false, 0, "marked good" },
        { "rebooting: booted and good, no slot", { ACTION(AGENT_PHASE_REBOOTING), .booted_target = true, .booted_good = true, .running = "2.1" },
          AGENT_STEP_FINISH, AGENT_RESULT_SUCCESS, false, false, 0, NULL },
        { "rebooting: the boot gave up", { ACTION(AGENT_PHASE_REBOOTING), .boot_gave_up = true, .lock_held = true },
          AGENT_STEP_RELEASE, AGENT_RESULT_FAILURE, true, false, 0, "passed 2.1 over" },
        { "rebooting: gave up, no slot", { ACTION(AGENT_PHASE_REBOOTING), .boot_gave_up = true }, AGENT_STEP_FINISH, AGENT_RESULT_FAILURE, true, false, 0, NULL },
        /* RELEASING: the verdict is already recorded (result none keeps it). */
        { "releasing: slot held", { ACTION(AGENT_PHASE_RELEASING), .lock_held = true }, AGENT_STEP_RELEASE, AGENT_RESULT_NONE, false, false, 0, NULL },
        { "releasing: slot gone", { ACTION(AGENT_PHASE_RELEASING) }, AGENT_STEP_FINISH, AGENT_RESULT_NONE, false, false, 0, NULL },
        { "releasing: no version recorded", { ACTION(AGENT_PHASE_RELEASING), .action_version = NULL, .lock_held = true },
          AGENT_STEP_RELEASE, AGENT_RESULT_NONE, false, false, 0, NULL },
        /* A state that names a phase but no version: ended, nothing given up. */
        { "installing without a version", { ACTION(AGENT_PHASE_INSTALLING), .action_version = NULL, .lock_held = true },
          AGENT_STEP_RELEASE, AGENT_RESULT_FAILURE, false, false, 0, "names no version" },
};
/* clang-format on */

/* The server's side (hawkBit): its handling of the offer, cancellations, confirmation, and what
 * the agent reports. Columns: step, result, report, cancel reply, new action. */
typedef struct ServerRow {
        const char *name;
        AgentFacts f;
        AgentStep step;
        AgentResult result;
        AgentReport report;
        AgentCancelReply cancel;
        bool new_action;
        const char *reason;
} ServerRow;

#define HB BASE, .report_download = true

/* clang-format off */
static const ServerRow server_rows[] = {
        /* Offers: attempt (the agent's own rules) and forced (Window= does not hold it back). */
        { "attempt: download first", { HB }, AGENT_STEP_DOWNLOAD, 0, 0, 0, true, "downloading 2.1" },
        { "attempt, periodic, outside the windows", { HB, .strategy = AGENT_STRATEGY_PERIODIC }, AGENT_STEP_IDLE, 0, 0, 0, false, "outside every maintenance window" },
        { "forced, periodic, outside the windows", { HB, .strategy = AGENT_STRATEGY_PERIODIC, .forced = true }, AGENT_STEP_DOWNLOAD, 0, 0, 0, true, "forced by the server" },
        { "forced still takes a slot of the semaphore", { HB, .strategy = AGENT_STRATEGY_FLEET_LOCK, .forced = true }, AGENT_STEP_LOCK, 0, 0, 0, true, NULL },
        { "channel back-end: one step", { BASE }, AGENT_STEP_INSTALL, 0, 0, 0, true, NULL },
        { "already downloaded: switch", { HB, .downloaded = true }, AGENT_STEP_SWITCH, 0, 0, 0, true, "switching" },
        /* skip, and the maintenance window. */
        { "download: skip", { HB, .download_held = true }, AGENT_STEP_IDLE, 0, 0, 0, false, "download: skip" },
        { "download: skip and update held", { HB, .download_held = true, .update_held = true }, AGENT_STEP_IDLE, 0, 0, 0, false, "skip" },
        { "window unavailable: download ahead", { HB, .update_held = true }, AGENT_STEP_DOWNLOAD, 0, 0, 0, false, "ahead" },
        { "window unavailable, downloaded: wait", { HB, .update_held = true, .downloaded = true }, AGENT_STEP_IDLE, 0, 0, 0, false, "holds the update" },
        { "window unavailable, download failed on the network", { HB, .update_held = true, .install_failed = true, .install_transient = true },
          AGENT_STEP_IDLE, 0, AGENT_REPORT_NONE, 0, false, "tries again" },
        { "window unavailable, bundle refused", { HB, .update_held = true, .install_failed = true }, AGENT_STEP_IDLE, 0, AGENT_REPORT_FAILURE, 0, false, NULL },
        { "window available again: switch to what was fetched", { HB, .downloaded = true }, AGENT_STEP_SWITCH, 0, 0, 0, true, NULL },
        { "window unavailable mid-action, downloaded", { ACTION(AGENT_PHASE_INSTALLING), .report_download = true, .update_held = true, .downloaded = true },
          AGENT_STEP_IDLE, 0, 0, 0, false, "holds the update" },
        { "installing, downloaded", { ACTION(AGENT_PHASE_INSTALLING), .report_download = true, .downloaded = true }, AGENT_STEP_SWITCH, 0, 0, 0, false, NULL },
        { "installing, not downloaded", { ACTION(AGENT_PHASE_INSTALLING), .report_download = true }, AGENT_STEP_DOWNLOAD, 0, 0, 0, false, NULL },
        { "locking, slot held, downloaded", { ACTION(AGENT_PHASE_LOCKING), .lock_held = true, .downloaded = true }, AGENT_STEP_SWITCH, 0, 0, 0, false, "slot held" },
        /* Reports. */
        { "offered what runs: success", { HB, .running = "2.1" }, AGENT_STEP_ACCEPT, 0, AGENT_REPORT_SUCCESS, 0, false, "up to date" },
        { "offered what failed here: failure", { HB, .failed_versions = failed_21, .n_failed_versions = 1 }, AGENT_STEP_ACCEPT, 0, AGENT_REPORT_FAILURE, 0, false, NULL },
        { "offered a downgrade: failure", { HB, .target = "1.9" }, AGENT_STEP_REFUSE, 0, AGENT_REPORT_FAILURE, 0, false, "older" },
        { "healthy: success only at the end", { ACTION(AGENT_PHASE_CHECKING), .running = "2.1", .health = 1 }, AGENT_STEP_MARK_GOOD, AGENT_RESULT_SUCCESS, AGENT_REPORT_NONE, 0, false, NULL },
        { "released after success", { ACTION(AGENT_PHASE_RELEASING), .action_result = AGENT_RESULT_SUCCESS }, AGENT_STEP_FINISH, 0, AGENT_REPORT_SUCCESS, 0, false, NULL },
        { "released after failure", { ACTION(AGENT_PHASE_RELEASING), .lock_held = true, .action_result = AGENT_RESULT_FAILURE }, AGENT_STEP_RELEASE, 0, AGENT_REPORT_FAILURE, 0, false, NULL },
        { "booted and good", { ACTION(AGENT_PHASE_REBOOTING), .booted_target = true, .booted_good = true, .running = "2.1" }, AGENT_STEP_FINISH, AGENT_RESULT_SUCCESS, AGENT_REPORT_SUCCESS, 0, false, NULL },
        { "staged: nothing reported yet", { ACTION(AGENT_PHASE_REBOOTING) }, AGENT_STEP_WAIT_BOOT, 0, AGENT_REPORT_NONE, 0, false, NULL },
        { "boot gave up", { ACTION(AGENT_PHASE_REBOOTING), .boot_gave_up = true }, AGENT_STEP_FINISH, AGENT_RESULT_FAILURE, AGENT_REPORT_FAILURE, 0, false, NULL },
        { "rolled back", { ACTION(AGENT_PHASE_ROLLING_BACK), .running = "2.0" }, AGENT_STEP_FINISH, AGENT_RESULT_FAILURE, AGENT_REPORT_FAILURE, 0, false, NULL },
        { "install failed on the network: not reported", { ACTION(AGENT_PHASE_INSTALLING), .install_failed = true, .install_transient = true },
          AGENT_STEP_FINISH, AGENT_RESULT_FAILURE, AGENT_REPORT_NONE, 0, false, "tries again" },
        { "bundle refused: reported", { ACTION(AGENT_PHASE_INSTALLING), .install_failed = true }, AGENT_STEP_FINISH, AGENT_RESULT_FAILURE, AGENT_REPORT_FAILURE, 0, false, NULL },
        /* Cancellations. */
        { "cancel, nothing in progress", { HB, .cancel_requested = true, .target = NULL }, AGENT_STEP_IDLE, 0, 0, AGENT_CANCEL_ACCEPT, false, NULL },
        { "cancel while waiting for a slot", { ACTION(AGENT_PHASE_LOCKING), .cancel_requested = true, .cancel_is_ours = true },
          AGENT_STEP_CANCEL, AGENT_RESULT_CANCELED, 0, 0, false, "before its switch" },
        { "cancel while installing, slot held", { ACTION(AGENT_PHASE_INSTALLING), .lock_held = true, .downloaded = true, .cancel_requested = true, .cancel_is_ours = true },
          AGENT_STEP_CANCEL, AGENT_RESULT_CANCELED, 0, 0, false, "giving the slot back" },
        { "cancel after the switch: too late", { ACTION(AGENT_PHASE_INSTALLING), .installed_live = true, .running = "2.1", .cancel_requested = true, .cancel_is_ours = true },
          AGENT_STEP_HEALTH, 0, 0, AGENT_CANCEL_TOO_LATE, false, NULL },
        { "cancel while checking: too late", { ACTION(AGENT_PHASE_CHECKING), .running = "2.1", .cancel_requested = true, .cancel_is_ours = true },
          AGENT_STEP_HEALTH, 0, 0, AGENT_CANCEL_TOO_LATE, false, NULL },
        { "cancel when staged for the boot: too late", { ACTION(AGENT_PHASE_REBOOTING), .cancel_requested = true, .cancel_is_ours = true },
          AGENT_STEP_WAIT_BOOT, 0, 0, AGENT_CANCEL_TOO_LATE, false, NULL },
        { "cancel of another action", { ACTION(AGENT_PHASE_CHECKING), .running = "2.1", .cancel_requested = true },
          AGENT_STEP_HEALTH, 0, 0, AGENT_CANCEL_ACCEPT, false, NULL },
        { "cancelled action released: confirmed", { ACTION(AGENT_PHASE_RELEASING), .action_result = AGENT_RESULT_CANCELED },
          AGENT_STEP_FINISH, 0, AGENT_REPORT_NONE, AGENT_CANCEL_ACCEPT, false, NULL },
        /* Confirmation. */
        { "waits for confirmation, AutoConfirm=no", { HB, .target = NULL, .confirm_waiting = true }, AGENT_STEP_IDLE, 0, 0, 0, false, "AutoConfirm=yes" },
        { "waits for confirmation, AutoConfirm=yes", { HB, .target = NULL, .confirm_waiting = true, .auto_confirm = true }, AGENT_STEP_CONFIRM, 0, 0, 0, false, "confirming" },
};
/* clang-format on */

static void test_plan_server(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(server_rows); i++) {
                const ServerRow *row = &server_rows[i];
                AgentPlan p;

                memset(&p, 0xaa, sizeof p);
                agent_plan(&row->f, &p);
                print_message("server: %-52s -> %-9s %-8s report %-7s cancel %-8s%s | %s\n", row->name,
                              agent_step_to_string(p.step), agent_result_to_string(p.result), agent_report_to_string(p.report),
                              agent_cancel_reply_to_string(p.cancel_reply), p.new_action ? " new" : "", p.reason);
                assert_string_equal(agent_step_to_string(p.step), agent_step_to_string(row->step));
                assert_int_equal(p.result, row->result);
                assert_int_equal(p.report, row->report);
                assert_int_equal(p.cancel_reply, row->cancel);
                assert_int_equal(p.new_action, row->new_action);
                assert_null(strstr(p.reason, "(null)"));
                if (row->reason && !strstr(p.reason, row->reason))
                        fail_msg("%s: reason \"%s\" lacks \"%s\"", row->name, p.reason, row->reason);
        }
}

/* How an action ends: a verdict kept in the history, or a failed install dropped; a rollback with
 * nowhere to go ends the action instead of trying again and again. */
static void test_plan_endings(void **state) {
        static const struct {
                const char *name;
                AgentFacts f;
                AgentStep step;
                bool give_up, history;
        } rows[] = {
                { "healthy, released", { ACTION(AGENT_PHASE_RELEASING), .action_result = AGENT_RESULT_SUCCESS }, AGENT_STEP_FINISH, false, true },
                { "install failed: not history", { ACTION(AGENT_PHASE_INSTALLING), .install_failed = true }, AGENT_STEP_FINISH, false, false },
                { "install failed, slot held: not history", { ACTION(AGENT_PHASE_INSTALLING), .install_failed = true, .lock_held = true },
                  AGENT_STEP_RELEASE, false, false },
                { "rolled back: history", { ACTION(AGENT_PHASE_ROLLING_BACK), .running = "2.0" }, AGENT_STEP_FINISH, true, true },
                { "boot gave up: history", { ACTION(AGENT_PHASE_REBOOTING), .boot_gave_up = true }, AGENT_STEP_FINISH, true, true },
                { "rollback impossible: ends, stays live", { ACTION(AGENT_PHASE_ROLLING_BACK), .running = "2.1", .rollback_impossible = true },
                  AGENT_STEP_FINISH, true, true },
                { "rollback impossible, slot held: given back", { ACTION(AGENT_PHASE_ROLLING_BACK), .running = "2.1", .lock_held = true,
                  .rollback_impossible = true }, AGENT_STEP_RELEASE, true, true },
                { "rollback possible: rolls back", { ACTION(AGENT_PHASE_ROLLING_BACK), .running = "2.1" }, AGENT_STEP_ROLLBACK, true, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                AgentPlan p;

                memset(&p, 0xaa, sizeof p);
                p.history = false;
                agent_plan(&rows[i].f, &p);
                print_message("ending: %-44s -> %-9s give-up %d history %d | %s\n", rows[i].name, agent_step_to_string(p.step),
                              p.give_up_version, p.history, p.reason);
                assert_string_equal(agent_step_to_string(p.step), agent_step_to_string(rows[i].step));
                assert_int_equal(p.give_up_version, rows[i].give_up);
                if (p.step == AGENT_STEP_RELEASE || p.step == AGENT_STEP_FINISH)
                        assert_int_equal(p.history, rows[i].history);
        }
}

/* hawkBit's handling types and maintenance window as the planner's facts. */
static void test_handling(void **state) {
        static const struct {
                const char *download, *update, *window;
                bool download_held, update_held, forced;
        } rows[] = {
                { "forced", "forced", NULL, false, false, true },
                { "attempt", "attempt", NULL, false, false, false },
                { "forced", "attempt", NULL, false, false, false },     /* update decides when */
                { "attempt", "forced", NULL, false, false, true },
                { "forced", NULL, NULL, false, false, true },            /* update absent: download's */
                { "attempt", NULL, NULL, false, false, false },
                { "skip", "skip", NULL, true, true, false },
                { "skip", NULL, NULL, true, false, false },
                { "forced", "skip", NULL, false, true, false },          /* download-only */
                { "forced", "forced", "unavailable", false, true, true },
                { "forced", "skip", "unavailable", false, true, false },
                { "forced", "forced", "available", false, false, true },
                { NULL, NULL, NULL, false, false, false },
                { "Forced", "sometimes", "maybe", false, false, false },  /* unknown: attempt */
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                AgentHandling h = agent_handling(rows[i].download, rows[i].update, rows[i].window);

                print_message("handling: %-8s %-8s %-12s -> held %d/%d forced %d\n", rows[i].download ?: "-",
                              rows[i].update ?: "-", rows[i].window ?: "-", h.download_held, h.update_held, h.forced);
                assert_int_equal(h.download_held, rows[i].download_held);
                assert_int_equal(h.update_held, rows[i].update_held);
                assert_int_equal(h.forced, rows[i].forced);
        }
}

/* config.polling.sleep: HH:MM:SS within [1 s, 24 h]; anything else is not an interval. */
static void test_server_interval(void **state) {
        static const struct {
                const char *s;
                uint64_t sec;
        } rows[] = {
                { "00:05:00", 300 }, { "00:00:01", 1 }, { "01:00:00", 3600 }, { "24:00:00", 86400 },
                { "00:00:00", 1 },      /* a server cannot make the agent spin */
                { "99:59:59", 86400 },  /* nor silence it for days */
                { "23:59:59", 86399 },
                { NULL, 0 }, { "", 0 }, { "5:00", 0 }, { "0:05:00", 0 }, { "00:60:00", 0 }, { "00:00:60", 0 },
                { "-1:00:00", 0 }, { " 1:00:00", 0 }, { "00:05:00 ", 0 }, { "00:05:0x", 0 }, { "aa:bb:cc", 0 },
                { "00-05-00", 0 }, { "000:05:00", 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                print_message("server interval \"%s\" -> %llu s\n", rows[i].s ?: "(null)",
                              (unsigned long long) (agent_server_interval_usec(rows[i].s) / 1000000));
                assert_int_equal(agent_server_interval_usec(rows[i].s), rows[i].sec * 1000000ULL);
        }
}

/* The delay before the next poll: the server's interval wins, ± 10 %; failures back off with jitter. */
static void test_next_poll(void **state) {
        const uint64_t s = 1000000ULL, interval = 3600 * s;

        assert_int_equal(agent_next_poll_usec(interval, 0, 0, 0.5), interval);
        assert_int_equal(agent_next_poll_usec(interval, 0, 0, 0), interval * 9 / 10);
        assert_true(agent_next_poll_usec(interval, 0, 0, 0.999999) <= interval * 11 / 10);
        assert_int_equal(agent_next_poll_usec(interval, 30 * s, 0, 0.5), 30 * s);
        /* Backoff: Interval=/8 capped at 5 min, doubling to Interval=, into [b/2, b]. */
        assert_int_equal(agent_next_poll_usec(interval, 30 * s, 1, 0), 150 * s);
        assert_int_equal(agent_next_poll_usec(interval, 0, 1, 0.999999999) / s, 299);
        assert_int_equal(agent_next_poll_usec(interval, 0, 2, 0), 300 * s);
        assert_int_equal(agent_next_poll_usec(interval, 0, 4, 0), 1200 * s);
        assert_int_equal(agent_next_poll_usec(interval, 0, 5, 0), 1800 * s);
        assert_int_equal(agent_next_poll_usec(interval, 0, 60, 0), 1800 * s);
        assert_int_equal(agent_next_poll_usec(interval, 0, UINT32_MAX, 0), 1800 * s);
        /* Short intervals: at least 1 s before jitter. */
        assert_int_equal(agent_next_poll_usec(4 * s, 0, 1, 0), s / 2);
        assert_int_equal(agent_next_poll_usec(4 * s, 0, 2, 0), s);
        assert_int_equal(agent_next_poll_usec(4 * s, 0, 9, 0), 2 * s);
        /* A bad random number is taken as 0.5, never as a huge factor. */
        assert_int_equal(agent_next_poll_usec(interval, 0, 0, 7), interval);
        assert_int_equal(agent_next_poll_usec(interval, 0, 0, -1), interval);
        /* Jitter: spread over the range, not one value. */
        uint64_t lo = UINT64_MAX, hi = 0;
        for (int i = 0; i < 100; i++) {
                uint64_t d = agent_next_poll_usec(8 * s, 0, 3, i / 100.0);
                lo = MIN(lo, d);
                hi = MAX(hi, d);
        }
        assert_int_equal(lo, 2 * s);
        assert_true(hi > 39 * s / 10 && hi < 4 * s);
}

static void test_plan(void **state) {
        assert_true(ELEMENTSOF(plan_rows) >= 30);

        for (size_t i = 0; i < ELEMENTSOF(plan_rows); i++) {
                const PlanRow *row = &plan_rows[i];
                double reached = rollout_reached(&row->f.rollout, row->f.now),
                       wary = agent_bucket_wary(row->f.bucket, row->f.wariness);
                AgentPlan p;

                memset(&p, 0xaa, sizeof p);
                agent_plan(&row->f, &p);
                print_message("plan: %-50s -> %-9s %-7s%s%s %d | %s\n", row->name, agent_step_to_string(p.step),
                              agent_result_to_string(p.result), p.give_up_version ? " give-up" : "",
                              p.new_action ? " new" : "", p.error, p.reason);
                assert_string_equal(agent_step_to_string(p.step), agent_step_to_string(row->step));
                assert_int_equal(p.result, row->result);
                assert_int_equal(p.give_up_version, row->give_up);
                assert_int_equal(p.new_action, row->new_action);
                assert_int_equal(p.error, row->error);
                assert_true((p.step == AGENT_STEP_REFUSE) == (p.error != 0));
                /* One line, for people, always. */
                assert_true(strlen(p.reason) > 0 && strlen(p.reason) < sizeof p.reason);
                assert_null(strchr(p.reason, '\n'));
                assert_null(strstr(p.reason, "(null)"));
                if (row->reason && !strstr(p.reason, row->reason))
                        fail_msg("%s: reason \"%s\" lacks \"%s\"", row->name, p.reason, row->reason);
                /* Filled in every case: dry runs and status show them. */
                assert_true(p.reached == reached);
                assert_true(p.wary_bucket == wary);
                assert_int_equal(p.takes_release, rollout_includes(reached, wary));
        }
}

/* Nothing known at all: no crash, no "(null)" in the reason, nothing started. */
static void test_plan_nulls(void **state) {
        AgentFacts f = { .health = -1 };
        AgentPlan p;

        agent_plan(&f, &p);
        assert_int_equal(p.step, AGENT_STEP_IDLE);
        assert_false(p.new_action);
        assert_null(strstr(p.reason, "(null)"));
        assert_false(p.takes_release);

        f.target = "2.1";
        f.rollout.percent = 100;
        agent_plan(&f, &p);
        assert_int_equal(p.step, AGENT_STEP_INSTALL);
        assert_true(p.takes_release);
        assert_non_null(strstr(p.reason, "unknown"));
        assert_null(strstr(p.reason, "(null)"));

        for (int ph = AGENT_PHASE_LOCKING; ph < AGENT_PHASE_DONE; ph++) {
                f.phase = (AgentPhase) ph;
                agent_plan(&f, &p);
                assert_null(strstr(p.reason, "(null)"));
                assert_false(p.new_action);
        }

        /* A phase from a newer agent's state file: nothing done. */
        f.phase = (AgentPhase) 42;
        f.action_version = "2.1";
        agent_plan(&f, &p);
        assert_int_equal(p.step, AGENT_STEP_IDLE);

        /* Long names are cut, never overrun. */
        char longv[200];
        memset(longv, '9', sizeof longv - 1);
        longv[sizeof longv - 1] = 0;
        f = (AgentFacts){ .channel = longv, .target = longv, .running = "1", .rollout.percent = 100, .health = -1 };
        agent_plan(&f, &p);
        assert_int_equal(p.step, AGENT_STEP_INSTALL);
        assert_true(strlen(p.reason) < sizeof p.reason);
}

/* The whole life of one action, the way the agent drives it: plan, record, gather, plan again. */
static void test_plan_walk(void **state) {
        AgentFacts f = { BASE, .strategy = AGENT_STRATEGY_FLEET_LOCK };
        AgentPlan p;

        agent_plan(&f, &p);
        assert_int_equal(p.step, AGENT_STEP_LOCK);
        f.phase = AGENT_PHASE_LOCKING;
        f.action_version = f.target;
        f.lock_refused = true;
        agent_plan(&f, &p);
        assert_int_equal(p.step, AGENT_STEP_IDLE);
        f.lock_refused = false;
        f.lock_held = true;
        agent_plan(&f, &p);
        assert_int_equal(p.step, AGENT_STEP_INSTALL);
        f.phase = AGENT_PHASE_INSTALLING;
        f.installed_live = true;
        f.running = "2.1";
        agent_plan(&f, &p);
        assert_int_equal(p.step, AGENT_STEP_HEALTH);
        f.phase = AGENT_PHASE_CHECKING;
        f.health = 1;
        agent_plan(&f, &p);
        assert_int_equal(p.step, AGENT_STEP_MARK_GOOD);
        assert_int_equal(p.result, AGENT_RESULT_SUCCESS);
        f.phase = AGENT_PHASE_RELEASING;
        f.health = -1;
        agent_plan(&f, &p);
        assert_int_equal(p.step, AGENT_STEP_RELEASE);
        f.lock_held = false;
        agent_plan(&f, &p);
        assert_int_equal(p.step, AGENT_STEP_FINISH);
        f.phase = AGENT_PHASE_DONE;
        f.last_serial = f.serial;
        f.same_document = true;
        agent_plan(&f, &p);
        assert_int_equal(p.step, AGENT_STEP_ACCEPT);
        assert_non_null(strstr(p.reason, "up to date (2.1)"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bucket_definition),
                cmocka_unit_test(test_bucket_stable),
                cmocka_unit_test(test_bucket_distribution),
                cmocka_unit_test(test_rollout_reached),
                cmocka_unit_test(test_wariness),
                cmocka_unit_test(test_window_parse),
                cmocka_unit_test(test_window_when),
                cmocka_unit_test(test_window_consistent),
                cmocka_unit_test(test_strings),
                cmocka_unit_test(test_plan),
                cmocka_unit_test(test_plan_nulls),
                cmocka_unit_test(test_plan_walk),
                cmocka_unit_test(test_plan_server),
                cmocka_unit_test(test_plan_endings),
                cmocka_unit_test(test_handling),
                cmocka_unit_test(test_server_interval),
                cmocka_unit_test(test_next_poll),
        };
        return tu_run_group_tests(tests, NULL, NULL);
}
