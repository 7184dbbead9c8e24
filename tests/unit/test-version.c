/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test-util.h"

#include "cleanup.h"
#include "version.h"

static int sign(int x) {
        return (x > 0) - (x < 0);
}

/* Every pair in an ascending list: order, antisymmetry, reflexivity. */
static void assert_ascending(const char *const *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < n; j++) {
                        int expected = (i > j) - (i < j), got = sign(version_compare(v[i], v[j]));

                        if (got != expected)
                                fail_msg("version_compare(\"%s\", \"%s\") = %d, expected %d", v[i], v[j], got,
                                         expected);
                        assert_int_equal(sign(version_compare(v[j], v[i])), -got);
                }
}

static void assert_older(const char *older, const char *newer) {
        if (version_compare(older, newer) >= 0 || version_compare(newer, older) <= 0)
                fail_msg("\"%s\" must be older than \"%s\"", older, newer);
}

static void assert_same(const char *a, const char *b) {
        if (version_compare(a, b) != 0 || version_compare(b, a) != 0)
                fail_msg("\"%s\" and \"%s\" must compare equal", a, b);
}

static void test_version_basic_order(void **state) {
        assert_older("1", "2");
        assert_older("2", "10");
        assert_older("1.9", "1.10");
        assert_older("1.10", "1.10.1");
        assert_older("99999999999999999999998", "99999999999999999999999");
        assert_older("9", "10000000000000000000000000000000");
}

static void test_version_prerelease(void **state) {
        /* '~' sorts before everything, even the end of the string. */
        assert_older("1~rc1", "1");
        assert_older("1~rc1", "1~rc2");
        assert_older("1~alpha", "1~beta");
        assert_older("1.0~rc1~git123", "1.0~rc1");
        assert_older("1.0~rc1", "1.0~rc1^git1");
        assert_older("1.0^git1~pre", "1.0^git1");
        assert_older("1.2~rc1", "1.2");
        assert_older("1.1", "1.2~rc1");
}

static void test_version_more_segments_newer(void **state) {
        assert_older("1", "1.0");
        assert_older("123", "123.");
        assert_older("123", "123.0");
        assert_older("2.0", "2.0.1");
        assert_older("123", "123_0");
}

static void test_version_separators(void **state) {
        /* '-' (release) < '^' (patch) < '.' (point release) < no separator. */
        assert_older("1-2", "1.1");
        assert_older("1-9", "1^1");
        assert_older("1^9", "1.1");
        assert_older("1.9", "1a");
        assert_older("123-99.99", "123.45-67.89");
        assert_older("123^45-67.89", "123.45-67.89");
        assert_older("123^aa2-67.89", "123aa2-67.89");
        assert_older("123.aa2-67.89", "123aa2-67.89");
        assert_older("123..0", "123.0");
        /* A patch level is newer than the plain version. */
        assert_older("1", "1^1");
        assert_older("1.0", "1.0^git1");
        assert_older("1.0^git1", "1.0^git2");
        assert_older("1.0^git1", "1.01");
        assert_older("1.0^20160101", "1.0.1");
        assert_older("1.0^20160101^git1", "1.0^20160102");
}

static void test_version_letters_and_numbers(void **state) {
        /* A numeric segment is newer than an alphabetic one in the same place. */
        assert_older("1.a", "1.1");
        assert_older("a", "1");
        assert_older("xyz.4", "2");
        assert_older("6.0", "6.0.rc1");
        /* Letters directly after a number: a further segment, newer than the bare number. */
        assert_older("2.0.1", "2.0.1a");
        assert_older("123", "123a");
        /* ...but older than a point release, which has a '.' where "1a" has a letter. */
        assert_older("1.1", "1a");
        assert_older("5.5p1", "5.5p2");
        assert_older("5.5p1", "5.5p10");
        assert_older("5.5p2", "5.6p1");
        assert_older("10a2", "10b2");
        assert_older("1.0a", "1.0aa");
        assert_older("abc", "abcd");
        assert_older("10.1xyz", "10xyz");
}

static void test_version_equal(void **state) {
        assert_same("1", "1");
        assert_same("123", "0123");
        assert_same("1.0", "1.00");
        assert_same("10.0001", "10.1");
        assert_same("0001", "1");
        /* Characters outside [A-Za-z0-9~^.-] are skipped. */
        assert_same("123_aa2-67.89", "123aa+2-67.89");
        assert_same("0_", "0");
        assert_same("_0", "0");
        assert_same("0", "0___");
        assert_same("2_0", "2_0");
}

static void test_version_systemd_vectors(void **state) {
        /* The ascending list of systemd's test of strverscmp_improved(), the empty string included:
         * comparing is defined for any string, validity (version_is_valid()) is another question. */
        static const char *const v[] = { "~1",         "",        "ab",      "abb",      "abc",     "0001",
                                         "002",        "12",      "122",     "122.9",    "123~rc1", "123",
                                         "123-a",      "123-a.1", "123-a1",  "123-a1.1", "123-3",   "123-3.1",
                                         "123^patch1", "123^1",   "123.a-1", "123.1-1",  "123a-1",  "124" };

        assert_ascending(v, ELEMENTSOF(v));

        assert_older("123.45-67.88", "123.45-67.89");
        assert_older("123.45-67.89", "123.45-67.89a");
        assert_older("123.45-67.ab", "123.45-67.89");
        assert_older("123.45-67.9", "123.45-67.89");
        assert_older("123.45-67", "123.45-67.89");
        assert_older("123.45-66.89", "123.45-67.89");
        assert_older("123.45-9.99", "123.45-67.89");
        assert_older("123.42-99.99", "123.45-67.89");
        assert_older("123~rc1-99.99", "123.45-67.89");
        assert_older("123~rc1-99.99", "123~rc2-67.89");
        assert_older("12_3", "123");
        assert_older("12", "12_3");
        assert_older("12.3", "12_3");
}

static void test_version_empty(void **state) {
        /* The empty string is a version with no segment: newer than '~' prefixed ones, older than
         * anything with a segment, equal to strings of skipped characters only. NULL is "". */
        assert_same("", "");
        assert_same("", NULL);
        assert_same(NULL, NULL);
        assert_same("", "_");
        assert_same("_", "_");
        assert_same("", "+_+");
        assert_same("~", "~");
        assert_same("~", "_~");
        /* A quirk kept from strverscmp_improved(): the end is checked right after a '~', before the
         * next skip, so a skipped character there still counts as "more". */
        assert_older("~", "~_");
        assert_older("~", "~~");
        assert_older("~~", "~1");
        assert_older("~~", "");
        /* ...and is compared as a char there, so a byte outside ASCII sorts before the end where
         * char is signed (x86), after it where unsigned (arm64), as in systemd built there. */
        assert_int_equal(sign(version_compare("~\351", "~")), (char) 0xe9 < 0 ? -1 : 1);
        assert_int_equal(sign(version_compare("~", "~\351")), (char) 0xe9 < 0 ? 1 : -1);
        assert_older("~", "");
        assert_older("~", NULL);
        assert_older("~1", "");
        assert_older("~", "~1");
        assert_older("~", "_");
        assert_older("", "a");
        assert_older("", "0");
        assert_older("", "-1");
        assert_older("", "^1");
        assert_older("", ".1");
        assert_older(NULL, "1");
        assert_older("_", "1");
}

typedef struct VersionRow {
        const char *a, *b;
        int expected;
} VersionRow;

static void test_version_rpm_vectors(void **state) {
        /* rpm's rpmvercmp cases as systemd keeps them for strverscmp_improved(), with its reversals
         * ("10xyz" > "10.1xyz", "2_0" > "2.0", "1b.fc17" > "1.fc17") and with non-ASCII bytes
         * skipped like any other character outside [A-Za-z0-9~^.-]. */
        static const VersionRow rows[] = {
                { "1.0", "1.0", 0 },
                { "1.0", "2.0", -1 },
                { "2.0.1", "2.0.1", 0 },
                { "2.0", "2.0.1", -1 },
                { "2.0.1a", "2.0.1", 1 },
                { "5.5p1", "5.5p2", -1 },
                { "5.5p10", "5.5p1", 1 },
                { "10xyz", "10.1xyz", 1 },
                { "xyz10", "xyz10.1", -1 },
                { "xyz.4", "8", -1 },
                { "xyz.4", "2", -1 },
                { "5.6p1", "6.5p1", -1 },
                { "6.0.rc1", "6.0", 1 },
                { "10b2", "10a1", 1 },
                { "1.0aa", "1.0a", 1 },
                { "10.0001", "10.1", 0 },
                { "10.0001", "10.0039", -1 },
                { "4.999.9", "5.0", -1 },
                { "20101121", "20101122", -1 },
                { "2.0", "2_0", -1 },
                { "a+", "a_", 0 },
                { "+a", "_a", 0 },
                { "_+", "+_", 0 },
                { "+", "_", 0 },
                { "1.0~rc1", "1.0", -1 },
                { "1.0~rc1~git123", "1.0~rc1", -1 },
                { "1.0^", "1.0", 1 },
                { "1.0^git1", "1.01", -1 },
                { "1.0^20160102", "1.0^20160101^git1", 1 },
                { "1.0~rc1^git1", "1.0~rc1", 1 },
                { "1.0^git1~pre", "1.0^git1", -1 },
                { "1b.fc17", "1.fc17", 1 },
                { "1g.fc17", "1.fc17", 1 },
                { "1.1.\316\261", "1.1.\316\262", 0 },
                { "1.1.\316\261\316\261", "1.1.\316\261", 0 },
                /* Arabic-Indic digits are not digits. */
                { "1\331\240\331\241", "1", 0 },
                { "123.", "123", 1 },
                { "12_3", "12", 1 },
                { "123_0", "123", 1 },
                { "_0_", "0", 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                int got = sign(version_compare(rows[i].a, rows[i].b)),
                    back = sign(version_compare(rows[i].b, rows[i].a));

                if (got != rows[i].expected || back != -rows[i].expected)
                        fail_msg("version_compare(\"%s\", \"%s\") = %d (reversed %d), expected %d", rows[i].a,
                                 rows[i].b, got, back, rows[i].expected);
        }
}

static void test_version_sorted_list(void **state) {
        /* Versions as an OS would publish them, ascending. */
        static const char *const v[] = { "0.9",  "1~alpha", "1~rc1",      "1~rc2",   "1",       "1-2",  "1^1",
                                         "1.0",  "1.0.1",   "1.0a",       "1.1",     "1.2~rc1", "1.2",  "1.9",
                                         "1.10", "1.10.1",  "2",          "10",      "123",     "123a", "123b",
                                         "124",  "2026.1",  "2026.11.25", "20261125" };

        assert_ascending(v, ELEMENTSOF(v));
}

static void test_version_is_valid(void **state) {
        static const char *const good[] = { "1",           "1.0", "2.1~rc1", "1^git1", "1-2", "a1",
                                            "v2026.11.25", "1_2", "1+2",     "A",      "0",   "9z" };
        /* "\303\244" is "ä" in UTF-8; an octal escape takes at most three digits, so "\303\2441" is "ä1". */
        static const char *const bad[] = { "",    "~1",  ".1",  "-1",  "^1",        "_1",        "+1", "1 2",
                                           "1/2", "1:2", "1,2", "1\n", "\303\2441", "1\303\244", "1*" };
        char longest[130];

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!version_is_valid(good[i]))
                        fail_msg("\"%s\" must be valid", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (version_is_valid(bad[i]))
                        fail_msg("\"%s\" must be invalid", bad[i]);
        assert_false(version_is_valid(NULL));

        memset(longest, '1', 128);
        longest[128] = 0;
        assert_true(version_is_valid(longest));
        longest[128] = '1';
        longest[129] = 0;
        assert_false(version_is_valid(longest));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_version_basic_order),
                cmocka_unit_test(test_version_prerelease),
                cmocka_unit_test(test_version_more_segments_newer),
                cmocka_unit_test(test_version_separators),
                cmocka_unit_test(test_version_letters_and_numbers),
                cmocka_unit_test(test_version_equal),
                cmocka_unit_test(test_version_systemd_vectors),
                cmocka_unit_test(test_version_empty),
                cmocka_unit_test(test_version_rpm_vectors),
                cmocka_unit_test(test_version_sorted_list),
                cmocka_unit_test(test_version_is_valid),
        };

        return tu_run_group_tests(tests, NULL, NULL);
}
