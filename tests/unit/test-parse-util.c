/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test-util.h"

#include "cleanup.h"
#include "parse-util.h"

#define SEC UINT64_C(1000000)

static void test_parse_uint64_valid(void **state) {
        uint64_t v;

        assert_int_equal(parse_uint64("0", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(parse_uint64("42", &v), 0);
        assert_int_equal(v, 42);
        assert_int_equal(parse_uint64("007", &v), 0);
        assert_int_equal(v, 7);
        assert_int_equal(parse_uint64("18446744073709551615", &v), 0);
        assert_true(v == UINT64_MAX);
}

static void test_parse_uint64_overflow(void **state) {
        uint64_t v = 4711;

        assert_int_equal(parse_uint64("18446744073709551616", &v), -ERANGE);
        assert_int_equal(parse_uint64("99999999999999999999999999", &v), -ERANGE);
        /* Output parameters are written only on success. */
        assert_int_equal(v, 4711);
}

static void test_parse_uint64_garbage(void **state) {
        static const char *const bad[] = { "", "-1", "+1", " 1", "1 ", "1a", "0x10", "abc", "1.0", "1\n" };
        uint64_t v = 4711;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                print_message("parse_uint64(\"%s\")\n", bad[i]);
                assert_int_equal(parse_uint64(bad[i], &v), -EINVAL);
        }
        assert_int_equal(parse_uint64(NULL, &v), -EINVAL);
        assert_int_equal(v, 4711);
}

static void test_parse_unsigned(void **state) {
        unsigned u = 4711;

        assert_int_equal(parse_unsigned("0", &u), 0);
        assert_int_equal(u, 0);
        assert_int_equal(parse_unsigned("4294967295", &u), 0);
        assert_int_equal(u, UINT_MAX);
        u = 4711;
        assert_int_equal(parse_unsigned("4294967296", &u), -ERANGE);
        assert_int_equal(parse_unsigned("18446744073709551616", &u), -ERANGE);
        assert_int_equal(parse_unsigned("-1", &u), -EINVAL);
        assert_int_equal(parse_unsigned("12x", &u), -EINVAL);
        assert_int_equal(u, 4711);
}

static void test_parse_boolean(void **state) {
        static const char *const yes[] = { "1", "yes", "y", "true", "on", "YES", "True", "ON" };
        static const char *const no[] = { "0", "no", "n", "false", "off", "NO", "False", "oFF" };
        static const char *const bad[] = { "", "2", "yess", "true ", " no", "nope", "enable" };
        bool b;

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                b = false;
                assert_int_equal(parse_boolean(yes[i], &b), 0);
                assert_true(b);
        }
        for (size_t i = 0; i < ELEMENTSOF(no); i++) {
                b = true;
                assert_int_equal(parse_boolean(no[i], &b), 0);
                assert_false(b);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                b = true;
                print_message("parse_boolean(\"%s\")\n", bad[i]);
                assert_int_equal(parse_boolean(bad[i], &b), -EINVAL);
                assert_true(b);
        }
}

static void test_parse_timespan_valid(void **state) {
        static const struct {
                const char *s;
                uint64_t usec;
        } cases[] = {
                { "30min", 30 * 60 * SEC },
                { "2h 5s", (2 * 3600 + 5) * SEC },
                { "500ms", 500000 },
                { "10", 10 * SEC },
                { "0", 0 },
                { "7d", 7 * 86400 * SEC },
                { "1w", 7 * 86400 * SEC },
                { "3us", 3 },
                { "1msec", 1000 },
                { "1m", 60 * SEC },
                { "5 s", 5 * SEC },
                { "1h30min", 90 * 60 * SEC },
                { "2 hours 1 minute", (2 * 3600 + 60) * SEC },
                { "1hr", 3600 * SEC },
                { "3sec", 3 * SEC },
                { "1day 2weeks", 15 * 86400 * SEC },
                { " 4s ", 4 * SEC },
                { "18446744073709551615us", UINT64_MAX },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v = 4711;

                print_message("parse_timespan(\"%s\")\n", cases[i].s);
                assert_int_equal(parse_timespan(cases[i].s, &v), 0);
                assert_true(v == cases[i].usec);
        }
}

static void test_parse_timespan_invalid(void **state) {
        static const char *const bad[] = { "", " ", "min", "5x", "1.5h", "-5s", "+5s", "5s garbage", "5 parsecs",
                                           "5s,6s", "s5" };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                uint64_t v = 4711;

                print_message("parse_timespan(\"%s\")\n", bad[i]);
                assert_int_equal(parse_timespan(bad[i], &v), -EINVAL);
                assert_int_equal(v, 4711);
        }
}

static void test_parse_timespan_overflow(void **state) {
        static const char *const big[] = { "18446744073709551616", "18446744073709551615s", "100000000w",
                                           "18446744073709551615us 1us", "10000000w 10000000w 10000000w 10000000w" };

        for (size_t i = 0; i < ELEMENTSOF(big); i++) {
                uint64_t v = 4711;

                print_message("parse_timespan(\"%s\")\n", big[i]);
                assert_int_equal(parse_timespan(big[i], &v), -ERANGE);
                assert_int_equal(v, 4711);
        }
}

static void test_parse_timestamp_rfc3339(void **state) {
        time_t t = 4711;

        assert_int_equal(parse_timestamp("2026-11-25T13:00:00Z", 0, &t), 0);
        assert_int_equal(t, 1795611600);
        assert_int_equal(parse_timestamp("2026-11-25", 0, &t), 0);
        assert_int_equal(t, 1795564800);
        assert_int_equal(parse_timestamp("1970-01-01T00:00:00Z", 12345, &t), 0);
        assert_int_equal(t, 0);
        assert_int_equal(parse_timestamp("2000-02-29T00:00:00Z", 0, &t), 0);
        assert_int_equal(t, 951782400);
        assert_int_equal(parse_timestamp("2038-01-19T03:14:08Z", 0, &t), 0);
        assert_int_equal(t, INT64_C(2147483648));
}

static void test_parse_timestamp_epoch(void **state) {
        time_t t = 4711;

        assert_int_equal(parse_timestamp("@0", 999, &t), 0);
        assert_int_equal(t, 0);
        assert_int_equal(parse_timestamp("@1795611600", 0, &t), 0);
        assert_int_equal(t, 1795611600);
        assert_int_equal(parse_timestamp("@9223372036854775807", 0, &t), 0);
        assert_true(t == INT64_MAX);

        t = 4711;
        assert_int_equal(parse_timestamp("@9223372036854775808", 0, &t), -ERANGE);
        assert_int_equal(parse_timestamp("@18446744073709551616", 0, &t), -ERANGE);
        assert_int_equal(parse_timestamp("@", 0, &t), -EINVAL);
        assert_int_equal(parse_timestamp("@-1", 0, &t), -EINVAL);
        assert_int_equal(parse_timestamp("@1x", 0, &t), -EINVAL);
        assert_int_equal(parse_timestamp("@ 1", 0, &t), -EINVAL);
        assert_int_equal(t, 4711);
}

static void test_parse_timestamp_relative(void **state) {
        const time_t now = 1795611600;
        time_t t = 4711;

        assert_int_equal(parse_timestamp("+1d", now, &t), 0);
        assert_int_equal(t, now + 86400);
        assert_int_equal(parse_timestamp("+30min", now, &t), 0);
        assert_int_equal(t, now + 1800);
        assert_int_equal(parse_timestamp("+2h 5s", now, &t), 0);
        assert_int_equal(t, now + 7205);
        assert_int_equal(parse_timestamp("+0", now, &t), 0);
        assert_int_equal(t, now);
        /* Sub-second spans round down to whole seconds. */
        assert_int_equal(parse_timestamp("+1500ms", now, &t), 0);
        assert_int_equal(t, now + 1);
        assert_int_equal(parse_timestamp("+10s", INT64_MAX - 10, &t), 0);
        assert_true(t == INT64_MAX);

        t = 4711;
        assert_int_equal(parse_timestamp("+11s", INT64_MAX - 10, &t), -ERANGE);
        assert_int_equal(parse_timestamp("+18446744073709551615s", now, &t), -ERANGE);
        assert_int_equal(parse_timestamp("+", now, &t), -EINVAL);
        assert_int_equal(parse_timestamp("+-1d", now, &t), -EINVAL);
        assert_int_equal(parse_timestamp("+1 fortnight", now, &t), -EINVAL);
        assert_int_equal(t, 4711);
}

static void test_parse_timestamp_garbage(void **state) {
        static const char *const bad[] = {
                "",
                "tomorrow",
                "2026-11-25T13:00:00",
                "2026-11-25T13:00:00+01:00",
                "2026-11-25T13:00:00Zjunk",
                "2026-11-25 13:00:00Z",
                "2026-11-25x",
                "2026-13-01",
                "2026-00-10",
                "2026-11-25T25:00:00Z",
                "2026-11-25T13:60:00Z",
                "20261125",
                "-2026-11-25",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                time_t t = 4711;

                print_message("parse_timestamp(\"%s\")\n", bad[i]);
                assert_int_equal(parse_timestamp(bad[i], 0, &t), -EINVAL);
                assert_int_equal(t, 4711);
        }
}

static void test_parse_timestamp_nonexistent_date(void **state) {
        /* Days that do not exist are refused, not normalized into the next month. */
        static const char *const bad[] = { "2026-02-31", "2026-02-29", "2026-04-31T00:00:00Z", "2100-02-29" };
        time_t t;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                t = 4711;
                print_message("parse_timestamp(\"%s\")\n", bad[i]);
                assert_int_equal(parse_timestamp(bad[i], 0, &t), -EINVAL);
                assert_int_equal(t, 4711);
        }
        assert_int_equal(parse_timestamp("2024-02-29T12:34:56Z", 0, &t), 0);
        assert_int_equal(t, 1709210096);
}

static void test_format_timestamp(void **state) {
        char buf[21];

        assert_string_equal(format_timestamp(buf, sizeof buf, 0), "1970-01-01T00:00:00Z");
        assert_string_equal(format_timestamp(buf, sizeof buf, 1795611600), "2026-11-25T13:00:00Z");
        assert_string_equal(format_timestamp(buf, sizeof buf, 253402300799), "9999-12-31T23:59:59Z");
        assert_ptr_equal(format_timestamp(buf, sizeof buf, 1), buf);
}

static void test_format_parse_round_trip(void **state) {
        static const time_t times[] = { 0, 1, 59, 86399, 86400, 951782400, 1709210096, 1795611600, 2147483647,
                                        2147483648, 4102444799, 253402300799 };

        for (size_t i = 0; i < ELEMENTSOF(times); i++) {
                char buf[21];
                time_t t = -1;

                format_timestamp(buf, sizeof buf, times[i]);
                print_message("%lld -> %s\n", (long long) times[i], buf);
                assert_int_equal(strlen(buf), 20);
                assert_int_equal(parse_timestamp(buf, 0, &t), 0);
                assert_int_equal(t, times[i]);
        }
}

/* One row per command line: the words it must split into ("|" between words in `want`), or NULL
 * when it must be refused with -EINVAL. */
static void test_strv_split_quoted(void **state) {
        static const struct {
                const char *line;
                const char *want;
        } table[] = {
                { "/bin/true", "/bin/true" },
                { "  check   a\tb \n", "check|a|b" },
                { "echo \"a b\" c", "echo|a b|c" },
                { "echo 'a b'  'c'", "echo|a b|c" },
                { "echo a\"b c\"d", "echo|ab cd" },
                { "echo \"it's\" 'say \"hi\"'", "echo|it's|say \"hi\"" },
                { "echo a\\ b", "echo|a b" },
                { "echo \\\"x\\\" \\'y\\' \\\\z", "echo|\"x\"|'y'|\\z" },
                { "echo \"a\\\"b\"", "echo|a\"b" },
                { "printf a\\nb\\tc\\sd", "printf|a\nb\tc d" },
                { "echo \"\" x", "echo||x" },
                { "echo ''", "echo|" },
                { "sh -c 'exit 3'", "sh|-c|exit 3" },
                { "", NULL },
                { "   \t ", NULL },
                { "echo \"unterminated", NULL },
                { "echo 'unterminated", NULL },
                { "echo trailing\\", NULL },
                { "echo \\q", NULL },
                { "echo \"\\", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_strv_free_ char **l = NULL;
                _cleanup_free_ char *joined = NULL;
                size_t len = 0;
                int r;

                print_message("strv_split_quoted(\"%s\")\n", table[i].line);
                r = strv_split_quoted(table[i].line, &l);
                if (!table[i].want) {
                        assert_int_equal(r, -EINVAL);
                        assert_null(l);
                        continue;
                }
                assert_int_equal(r, 0);
                assert_non_null(l);
                for (char **w = l; *w; w++)
                        len += strlen(*w) + 1;
                joined = calloc(1, len + 1);
                assert_non_null(joined);
                for (char **w = l; *w; w++) {
                        if (w != l)
                                strcat(joined, "|");
                        strcat(joined, *w);
                }
                assert_string_equal(joined, table[i].want);
        }
        assert_int_equal(strv_split_quoted(NULL, &(char **) { NULL }), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_uint64_valid),
                cmocka_unit_test(test_parse_uint64_overflow),
                cmocka_unit_test(test_parse_uint64_garbage),
                cmocka_unit_test(test_parse_unsigned),
                cmocka_unit_test(test_parse_boolean),
                cmocka_unit_test(test_parse_timespan_valid),
                cmocka_unit_test(test_parse_timespan_invalid),
                cmocka_unit_test(test_parse_timespan_overflow),
                cmocka_unit_test(test_parse_timestamp_rfc3339),
                cmocka_unit_test(test_parse_timestamp_epoch),
                cmocka_unit_test(test_parse_timestamp_relative),
                cmocka_unit_test(test_parse_timestamp_garbage),
                cmocka_unit_test(test_parse_timestamp_nonexistent_date),
                cmocka_unit_test(test_format_timestamp),
                cmocka_unit_test(test_format_parse_round_trip),
                cmocka_unit_test(test_strv_split_quoted),
        };

        return tu_run_group_tests(tests, NULL, NULL);
}
