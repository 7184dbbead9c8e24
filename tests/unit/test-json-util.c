/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test-util.h"

#include "cleanup.h"
#include "json-util.h"

static int parse(const char *s, json_object **ret) {
        return json_parse_strict(s, strlen(s), ret);
}

/* Returns '[' × depth, then ']' × depth (malloc'd). */
static char *nested_arrays(unsigned depth) {
        char *s = malloc(2 * depth + 1);

        assert_non_null(s);
        memset(s, '[', depth);
        memset(s + depth, ']', depth);
        s[2 * depth] = 0;
        return s;
}

/* Returns {"a":{"a":…{}…}} with depth objects (malloc'd). */
static char *nested_objects(unsigned depth) {
        size_t len = 5 * (depth - 1) + 2 + (depth - 1) + 1, n = 0;
        char *s = malloc(len);

        assert_non_null(s);
        for (unsigned i = 0; i + 1 < depth; i++) {
                memcpy(s + n, "{\"a\":", 5);
                n += 5;
        }
        memcpy(s + n, "{}", 2);
        n += 2;
        memset(s + n, '}', depth - 1);
        n += depth - 1;
        s[n] = 0;
        return s;
}

static void test_json_parse_valid(void **state) {
        _cleanup_(json_object_putp) json_object *o = NULL, *a = NULL, *s = NULL;
        json_object *v;

        assert_int_equal(parse("{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}", &o), 0);
        assert_true(json_object_is_type(o, json_type_object));
        assert_true(json_object_object_get_ex(o, "c", &v));
        assert_string_equal(json_object_get_string(v), "d");

        assert_int_equal(parse("[]", &a), 0);
        assert_true(json_object_is_type(a, json_type_array));

        assert_int_equal(parse("\"str\"", &s), 0);
        assert_string_equal(json_object_get_string(s), "str");
}

static void test_json_parse_trailing_whitespace(void **state) {
        static const char *const ok[] = { "{} ", "{}\n", "{}\t\r\n  \n", "[1] \n", " {\"a\":1}\n" };

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                _cleanup_(json_object_putp) json_object *o = NULL;

                print_message("json_parse_strict(\"%s\")\n", ok[i]);
                assert_int_equal(parse(ok[i], &o), 0);
                assert_non_null(o);
        }
}

static void test_json_parse_trailing_garbage(void **state) {
        static const char *const bad[] = { "{} x",    "{}{}",   "{\"a\":1}}", "[1] ,",
                                           "{}\n#",   "{} // c", "[1][2]",     "{}\n{}" };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                json_object *o = NULL;

                print_message("json_parse_strict(\"%s\")\n", bad[i]);
                assert_int_equal(parse(bad[i], &o), -EBADMSG);
                assert_null(o);
        }
}

static void test_json_parse_exact_length(void **state) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *p = NULL;

        /* Only len bytes count: what follows in memory is not read. */
        assert_int_equal(json_parse_strict("{}garbage", 2, &o), 0);
        assert_true(json_object_is_type(o, json_type_object));
        /* A value cut short is not a value. */
        assert_int_equal(json_parse_strict("{\"a\":1}", 5, &p), -EBADMSG);
        assert_int_equal(json_parse_strict("{}", 0, &p), -EBADMSG);
        assert_null(p);
}

static void test_json_parse_nul_bytes(void **state) {
        static const char trailing[] = "{}\0";
        static const char inner[] = "{\"a\":\"x\0y\"}";
        static const char ws[] = "{} \0 ";
        json_object *o = NULL;

        assert_int_equal(json_parse_strict(trailing, sizeof trailing - 1, &o), -EBADMSG);
        assert_int_equal(json_parse_strict(inner, sizeof inner - 1, &o), -EBADMSG);
        assert_int_equal(json_parse_strict(ws, sizeof ws - 1, &o), -EBADMSG);
        assert_null(o);
}

static void test_json_parse_depth(void **state) {
        for (unsigned depth = 1; depth <= 20; depth++) {
                _cleanup_free_ char *arrays = nested_arrays(depth), *objects = nested_objects(depth);
                _cleanup_(json_object_putp) json_object *a = NULL, *o = NULL;
                int expected = depth <= 16 ? 0 : -EBADMSG;

                print_message("depth %u\n", depth);
                assert_int_equal(parse(arrays, &a), expected);
                assert_int_equal(parse(objects, &o), expected);
        }
}

static void test_json_parse_invalid(void **state) {
        static const char *const bad[] = { "{",     "}",      "{\"a\":}",   "{\"a\" 1}", "[1,]",
                                           "{\"a\":1,}", "[01]",  "[.5]",       "[+1]",      "[tru]",
                                           "[\"\\x\"]", "[\"abc]", "{a:1}",      "/*c*/{}",   "\357\273\277{}",
                                           " ",     "\n" };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                json_object *o = NULL;

                print_message("json_parse_strict(\"%s\")\n", bad[i]);
                assert_int_equal(parse(bad[i], &o), -EBADMSG);
                assert_null(o);
        }
}

/* json-c keeps the last of duplicate keys: a second reader of the same signed bytes might keep the
 * first. Duplicates are refused at every depth, however the key is spelled. */
static void test_json_parse_duplicate_keys(void **state) {
        static const char *const bad[] = {
                "{\"a\":1,\"a\":1}",
                "{\"a\":1,\"b\":2,\"a\":3}",
                "{\"a\":1,\"\\u0061\":2}",             /* "a" and "\u0061" are the same key */
                "{\"\\u0061\":1,\"\\u0061\":2}",
                "{\"\\u00e9\":1,\"\xc3\xa9\":2}",    /* é escaped and as UTF-8 */
                "{\"a\\/b\":1,\"a/b\":2}",            /* "\/" is "/" */
                "{\"a\":null,\"a\":null}",
                "{\"o\":{\"x\":1,\"x\":2}}",
                "{\"o\":{\"x\":1},\"o\":{\"y\":1,\"z\":2}}",
                "[{\"a\":1},{\"b\":1,\"b\":1}]",
                "{\"a\":[1,{\"k\":{\"deep\":[{\"x\":1,\"y\":2,\"x\":3}]}}]}",
                "{\"x\":{},\"x\":{}}",
                "{\"a\\u0000b\":1,\"a\\u0000c\":2}",   /* json-c cuts keys at NUL: one key */
        };
        static const char *const good[] = {
                "{}",
                "{\"a\":1,\"A\":2,\"a \":3,\"\":4}",
                "{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}", /* the same key in different objects */
                "[{\"a\":1},{\"a\":1}]",
                "{\"s\":\"a:b,c\\\":{}}\",\"t\":\"}{:\"}",   /* structure inside strings */
                "{\"a\\\\\":1,\"a\\\\\\\\\":2}",          /* keys a\ and a\\ */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                json_object *o = NULL;

                print_message("json_parse_strict(%s)\n", bad[i]);
                assert_int_equal(parse(bad[i], &o), -EBADMSG);
                assert_null(o);
        }
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_(json_object_putp) json_object *o = NULL;

                print_message("json_parse_strict(%s)\n", good[i]);
                assert_int_equal(parse(good[i], &o), 0);
                assert_non_null(o);
        }
}

/* Objects as deep as the parser allows, each with several members, and many objects: the check
 * keeps up with what the parser accepts. */
static void test_json_parse_duplicate_keys_large(void **state) {
        _cleanup_free_ char *deep = nested_objects(16), *many = NULL;
        _cleanup_(json_object_putp) json_object *d = NULL, *m = NULL;
        json_object *x = NULL;
        size_t n = 0, cap = 4000 * 12 + 16;

        assert_int_equal(parse(deep, &d), 0);
        many = malloc(cap);
        assert_non_null(many);
        many[n++] = '[';
        for (unsigned i = 0; i < 4000; i++)
                n += (size_t) snprintf(many + n, cap - n, "%s{\"k%u\":1}", i ? "," : "", i % 10);
        many[n++] = ']';
        many[n] = 0;
        assert_int_equal(parse(many, &m), 0);
        /* The last object gets a duplicate. */
        memcpy(many + n - 2, ",\"k9\":2}]", 10);
        assert_int_equal(json_parse_strict(many, n + 7, &x), -EBADMSG);
        assert_null(x);
}

static const char fields[] = "{\"s\":\"str\",\"empty\":\"\",\"nul\":\"a\\u0000b\",\"n\":5,\"neg\":-1,"
                             "\"i64max1\":9223372036854775808,\"u64max\":18446744073709551615,"
                             "\"over\":18446744073709551616,\"exp\":1e3,\"d\":1.5,\"o\":{\"x\":1},\"a\":[1],"
                             "\"null\":null,\"b\":true}";

static int setup_fields(void **state) {
        json_object *o = NULL;

        if (json_parse_strict(fields, strlen(fields), &o) < 0)
                return -1;
        *state = o;
        return 0;
}

static int teardown_fields(void **state) {
        json_object_put(*state);
        return 0;
}

static void test_json_get_string(void **state) {
        json_object *o = *state;
        const char *s = "untouched";
        _cleanup_(json_object_putp) json_object *arr = json_object_new_array();

        assert_int_equal(json_get_string(o, "s", false, &s), 0);
        assert_string_equal(s, "str");

        s = "untouched";
        assert_int_equal(json_get_string(o, "missing", false, &s), -ENOENT);
        assert_int_equal(json_get_string(o, "missing", true, &s), 0);
        /* null counts as missing. */
        assert_int_equal(json_get_string(o, "null", false, &s), -ENOENT);
        assert_int_equal(json_get_string(o, "null", true, &s), 0);
        assert_string_equal(s, "untouched");

        assert_int_equal(json_get_string(o, "n", false, &s), -EINVAL);
        assert_int_equal(json_get_string(o, "o", true, &s), -EINVAL);
        assert_int_equal(json_get_string(o, "b", false, &s), -EINVAL);
        assert_int_equal(json_get_string(o, "empty", false, &s), -EINVAL);
        assert_int_equal(json_get_string(o, "empty", true, &s), -EINVAL);
        assert_int_equal(json_get_string(o, "nul", false, &s), -EINVAL);
        assert_string_equal(s, "untouched");

        /* Not an object at all. */
        assert_non_null(arr);
        assert_int_equal(json_get_string(arr, "s", true, &s), -EINVAL);
}

static void test_json_get_u64(void **state) {
        json_object *o = *state;
        uint64_t u = 4711;

        assert_int_equal(json_get_u64(o, "n", false, 10, &u), 0);
        assert_int_equal(u, 5);
        assert_int_equal(json_get_u64(o, "n", false, 5, &u), 0);
        assert_int_equal(u, 5);
        assert_int_equal(json_get_u64(o, "i64max1", false, UINT64_MAX, &u), 0);
        assert_true(u == UINT64_C(9223372036854775808));

        u = 4711;
        assert_int_equal(json_get_u64(o, "missing", false, 10, &u), -ENOENT);
        assert_int_equal(json_get_u64(o, "missing", true, 10, &u), 0);
        assert_int_equal(json_get_u64(o, "null", true, 10, &u), 0);

        /* Above max, and values json-c saturated, are out of range. */
        assert_int_equal(json_get_u64(o, "n", false, 4, &u), -ERANGE);
        assert_int_equal(json_get_u64(o, "u64max", false, UINT64_MAX, &u), -ERANGE);
        assert_int_equal(json_get_u64(o, "over", false, UINT64_MAX, &u), -ERANGE);

        /* Negative numbers, doubles and other types are the wrong type. */
        assert_int_equal(json_get_u64(o, "neg", false, UINT64_MAX, &u), -EINVAL);
        assert_int_equal(json_get_u64(o, "exp", false, UINT64_MAX, &u), -EINVAL);
        assert_int_equal(json_get_u64(o, "d", false, UINT64_MAX, &u), -EINVAL);
        assert_int_equal(json_get_u64(o, "s", false, UINT64_MAX, &u), -EINVAL);
        assert_int_equal(json_get_u64(o, "b", true, UINT64_MAX, &u), -EINVAL);
        assert_int_equal(json_get_u64(o, "a", false, UINT64_MAX, &u), -EINVAL);
        assert_int_equal(u, 4711);
}

static void test_json_get_object_array(void **state) {
        json_object *o = *state, *v = NULL, *sentinel = (json_object *) state;

        assert_int_equal(json_get_object(o, "o", false, &v), 0);
        assert_true(json_object_is_type(v, json_type_object));
        assert_int_equal(json_get_array(o, "a", false, &v), 0);
        assert_true(json_object_is_type(v, json_type_array));
        assert_int_equal(json_object_array_length(v), 1);

        v = sentinel;
        assert_int_equal(json_get_object(o, "a", false, &v), -EINVAL);
        assert_int_equal(json_get_object(o, "s", true, &v), -EINVAL);
        assert_int_equal(json_get_array(o, "o", false, &v), -EINVAL);
        assert_int_equal(json_get_array(o, "n", true, &v), -EINVAL);
        assert_int_equal(json_get_object(o, "missing", false, &v), -ENOENT);
        assert_int_equal(json_get_array(o, "missing", false, &v), -ENOENT);
        assert_int_equal(json_get_object(o, "missing", true, &v), 0);
        assert_int_equal(json_get_array(o, "null", true, &v), 0);
        assert_ptr_equal(v, sentinel);
}

static void test_json_check_keys(void **state) {
        static const char *const all[] = { "s",   "empty", "nul", "n", "neg", "i64max1", "u64max", "over",
                                           "exp", "d",     "o",   "a", "null", "b",      NULL };
        static const char *const most[] = { "s",   "empty", "nul", "n", "neg", "i64max1", "u64max", "over",
                                            "exp", "d",     "o",   "a", "null", NULL };
        static const char *const none[] = { NULL };
        _cleanup_(json_object_putp) json_object *empty = json_object_new_object();
        json_object *o = *state;
        const char *k = "untouched";

        assert_int_equal(json_check_keys(o, all, &k), 0);
        assert_string_equal(k, "untouched");
        assert_int_equal(json_check_keys(o, most, &k), -EINVAL);
        assert_string_equal(k, "b");
        assert_int_equal(json_check_keys(o, most, NULL), -EINVAL);
        assert_int_equal(json_check_keys(o, none, NULL), -EINVAL);

        assert_non_null(empty);
        assert_int_equal(json_check_keys(empty, none, NULL), 0);
        assert_int_equal(json_check_keys(empty, all, NULL), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_parse_valid),
                cmocka_unit_test(test_json_parse_trailing_whitespace),
                cmocka_unit_test(test_json_parse_trailing_garbage),
                cmocka_unit_test(test_json_parse_exact_length),
                cmocka_unit_test(test_json_parse_nul_bytes),
                cmocka_unit_test(test_json_parse_depth),
                cmocka_unit_test(test_json_parse_invalid),
                cmocka_unit_test(test_json_parse_duplicate_keys),
                cmocka_unit_test(test_json_parse_duplicate_keys_large),
                cmocka_unit_test_setup_teardown(test_json_get_string, setup_fields, teardown_fields),
                cmocka_unit_test_setup_teardown(test_json_get_u64, setup_fields, teardown_fields),
                cmocka_unit_test_setup_teardown(test_json_get_object_array, setup_fields, teardown_fields),
                cmocka_unit_test_setup_teardown(test_json_check_keys, setup_fields, teardown_fields),
        };

        return tu_run_group_tests(tests, NULL, NULL);
}
