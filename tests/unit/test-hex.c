/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test-util.h"

#include "cleanup.h"
#include "hex.h"

static void test_hex_encode(void **state) {
        static const uint8_t bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
        _cleanup_free_ char *s = NULL, *e = NULL;

        s = hex_encode(bytes, sizeof bytes);
        assert_non_null(s);
        assert_string_equal(s, "00017f80abff");

        e = hex_encode(bytes, 0);
        assert_non_null(e);
        assert_string_equal(e, "");
}

static void test_hex_round_trip(void **state) {
        uint8_t all[256];

        for (size_t i = 0; i < sizeof all; i++)
                all[i] = (uint8_t) (255 - i);

        for (size_t len = 1; len <= sizeof all; len += 17) {
                _cleanup_free_ char *s = NULL;
                _cleanup_free_ uint8_t *b = NULL;
                size_t blen = 0;

                s = hex_encode(all, len);
                assert_non_null(s);
                assert_int_equal(strlen(s), 2 * len);
                assert_int_equal(hex_decode(s, &b, &blen), 0);
                assert_int_equal(blen, len);
                assert_memory_equal(b, all, len);
        }
}

static void test_hex_decode_upper_case(void **state) {
        _cleanup_free_ uint8_t *b = NULL;
        size_t len = 0;

        assert_int_equal(hex_decode("DEadBeEF", &b, &len), 0);
        assert_int_equal(len, 4);
        assert_memory_equal(b, ((const uint8_t[]) { 0xde, 0xad, 0xbe, 0xef }), 4);
}

static void test_hex_decode_odd_length(void **state) {
        uint8_t *b = (uint8_t *) "untouched";
        size_t len = 4711;

        assert_int_equal(hex_decode("a", &b, &len), -EINVAL);
        assert_int_equal(hex_decode("abc", &b, &len), -EINVAL);
        assert_int_equal(hex_decode("0011223", &b, &len), -EINVAL);
        assert_string_equal((const char *) b, "untouched");
        assert_int_equal(len, 4711);
}

static void test_hex_decode_bad_chars(void **state) {
        static const char *const bad[] = { "0g",   "g0",   "0G",   "G0",   "zz",  "@0", "0`", "/0",
                                           "0:",   "0x12", " 012", "01 2", "12\n3", "-1", "+1", "1.",
                                           "aa\303\244" };
        uint8_t *b = (uint8_t *) "untouched";
        size_t len = 4711;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                print_message("hex_decode(\"%s\")\n", bad[i]);
                assert_int_equal(hex_decode(bad[i], &b, &len), -EINVAL);
        }
        assert_string_equal((const char *) b, "untouched");
        assert_int_equal(len, 4711);
}

static void test_hex_decode_empty(void **state) {
        uint8_t *b = (uint8_t *) "untouched";
        size_t len = 4711;

        assert_int_equal(hex_decode("", &b, &len), -EINVAL);
        assert_string_equal((const char *) b, "untouched");
        assert_int_equal(len, 4711);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hex_encode),
                cmocka_unit_test(test_hex_round_trip),
                cmocka_unit_test(test_hex_decode_upper_case),
                cmocka_unit_test(test_hex_decode_odd_length),
                cmocka_unit_test(test_hex_decode_bad_chars),
                cmocka_unit_test(test_hex_decode_empty),
        };

        return tu_run_group_tests(tests, NULL, NULL);
}
