/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "conf-parser.h"
#include "fileio.h"

#define SEC UINT64_C(1000000)

typedef struct Config {
        char *server;
        char *keys;
        char *device;
        unsigned retries;
        bool enabled;
        uint64_t interval;
} Config;

static void config_done(Config *c) {
        free(c->server);
        free(c->keys);
        free(c->device);
        *c = (Config) {};
}

/* The items point into *c; the array lives in the caller's frame. */
#define CONFIG_ITEMS(c)                                                         \
        {                                                                       \
                { "Update", "Server", conf_parse_string, &(c)->server },       \
                { "Update", "Keys", conf_parse_path, &(c)->keys },             \
                { "Update", "Retries", conf_parse_unsigned, &(c)->retries },   \
                { "Update", "Enabled", conf_parse_bool, &(c)->enabled },       \
                { "Update", "Interval", conf_parse_timespan, &(c)->interval }, \
                { "Slot", "Device", conf_parse_path, &(c)->device },           \
                {},                                                             \
        }

/* Writes text (len bytes) to a new file under /tmp; returns its malloc'd path. */
static char *write_temp(const char *text, size_t len) {
        char *path = strdup("/tmp/test-conf-parser.XXXXXX");
        int fd;

        assert_non_null(path);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, text, len), 0);
        assert_int_equal(close(fd), 0);
        return path;
}

/* Parses text as a configuration file into c; returns conf_parse_file()'s result. */
static int parse_text_len(const char *text, size_t len, Config *c) {
        const ConfItem items[] = CONFIG_ITEMS(c);
        _cleanup_free_ char *path = write_temp(text, len);
        int r;

        r = conf_parse_file(path, items);
        assert_int_equal(unlink(path), 0);
        return r;
}

static int parse_text(const char *text, Config *c) {
        return parse_text_len(text, strlen(text), c);
}

static void test_conf_values(void **state) {
        Config c = {};

        assert_int_equal(parse_text("[Update]\n"
                                    "Server=https://updates.example.com/demo\n"
                                    "Keys=/etc/osupdate/keys\n"
                                    "Retries=7\n"
                                    "Enabled=yes\n"
                                    "Interval=1h 30min\n"
                                    "[Slot]\n"
                                    "Device=/dev/disk/by-partlabel/usr-b\n",
                                    &c),
                         0);
        assert_string_equal(c.server, "https://updates.example.com/demo");
        assert_string_equal(c.keys, "/etc/osupdate/keys");
        assert_int_equal(c.retries, 7);
        assert_true(c.enabled);
        assert_true(c.interval == 90 * 60 * SEC);
        assert_string_equal(c.device, "/dev/disk/by-partlabel/usr-b");
        config_done(&c);
}

static void test_conf_last_assignment_wins(void **state) {
        Config c = {};

        assert_int_equal(parse_text("[Update]\nServer=first\nRetries=1\n"
                                    "[Slot]\n"
                                    "[Update]\nServer=second\nRetries=2\n",
                                    &c),
                         0);
        assert_string_equal(c.server, "second");
        assert_int_equal(c.retries, 2);
        config_done(&c);
}

static void test_conf_comments_and_blank_lines(void **state) {
        Config c = { .retries = 4711 };

        assert_int_equal(parse_text("# a comment\n"
                                    "; another comment\n"
                                    "\n"
                                    "   \n"
                                    "\t\n"
                                    "[Update]\n"
                                    "  # indented comment with Retries=1\n"
                                    "; Retries=2\n"
                                    "\n"
                                    "Server=http://host/path#fragment;x\n",
                                    &c),
                         0);
        /* Only whole lines are comments: the '#' and ';' inside a value stay. */
        assert_string_equal(c.server, "http://host/path#fragment;x");
        assert_int_equal(c.retries, 4711);
        config_done(&c);
}

static void test_conf_whitespace_stripped(void **state) {
        Config c = {};

        assert_int_equal(parse_text("  [Update]  \n"
                                    "\t Server \t=\t  a value with inner  spaces \t \n"
                                    "Retries   =   12\r\n"
                                    "Enabled= off\n",
                                    &c),
                         0);
        assert_string_equal(c.server, "a value with inner  spaces");
        assert_int_equal(c.retries, 12);
        assert_false(c.enabled);
        config_done(&c);
}

static void test_conf_no_trailing_newline(void **state) {
        Config c = {};

        assert_int_equal(parse_text("[Update]\nRetries=3", &c), 0);
        assert_int_equal(c.retries, 3);
        config_done(&c);
}

static void test_conf_empty_file(void **state) {
        Config c = { .retries = 4711 };

        assert_int_equal(parse_text("", &c), 0);
        assert_int_equal(c.retries, 4711);
        assert_null(c.server);
}

static void test_conf_unknown_section(void **state) {
        Config c = {};

        assert_int_equal(parse_text("[Update]\nRetries=1\n[Unknown]\nRetries=2\n", &c), -EBADMSG);
        assert_int_equal(parse_text("[update]\nRetries=1\n", &c), -EBADMSG);
        config_done(&c);
}

static void test_conf_unknown_key(void **state) {
        Config c = {};

        assert_int_equal(parse_text("[Update]\nRetrys=1\n", &c), -EBADMSG);
        /* Known key, wrong section. */
        assert_int_equal(parse_text("[Update]\nDevice=/dev/sda\n", &c), -EBADMSG);
        /* Keys are case sensitive. */
        assert_int_equal(parse_text("[Update]\nretries=1\n", &c), -EBADMSG);
        assert_int_equal(parse_text("[Update]\n=1\n", &c), -EBADMSG);
        config_done(&c);
}

static void test_conf_bad_value(void **state) {
        static const char *const bad[] = {
                "[Update]\nRetries=abc\n",
                "[Update]\nRetries=-1\n",
                "[Update]\nRetries=4294967296\n",
                "[Update]\nRetries=\n",
                "[Update]\nEnabled=maybe\n",
                "[Update]\nInterval=5 parsecs\n",
                "[Update]\nKeys=relative/path\n",
                "[Slot]\nDevice=\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Config c = {};

                print_message("%s", bad[i]);
                assert_int_equal(parse_text(bad[i], &c), -EBADMSG);
                config_done(&c);
        }
}

static void test_conf_assignment_outside_section(void **state) {
        Config c = {};

        assert_int_equal(parse_text("Retries=1\n[Update]\n", &c), -EBADMSG);
        assert_int_equal(c.retries, 0);
        config_done(&c);
}

static void test_conf_syntax_errors(void **state) {
        static const char *const bad[] = {
                "[Update]\nRetries\n",
                "[Update\nRetries=1\n",
                "[]\n",
                "[Update]x\n",
                "Update]\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                Config c = {};

                print_message("%s", bad[i]);
                assert_int_equal(parse_text(bad[i], &c), -EBADMSG);
                config_done(&c);
        }
}

static void test_conf_nul_byte(void **state) {
        static const char text[] = "[Update]\nRetries=1\0\nEnabled=yes\n";
        Config c = {};

        assert_int_equal(parse_text_len(text, sizeof text - 1, &c), -EBADMSG);
        config_done(&c);
}

static void test_conf_missing_file(void **state) {
        Config c = {};
        const ConfItem items[] = CONFIG_ITEMS(&c);

        assert_int_equal(conf_parse_file("/tmp/test-conf-parser.does-not-exist/osupdate.conf", items), -ENOENT);
        /* A directory opens but cannot be read. */
        assert_int_equal(conf_parse_file("/tmp", items), -EISDIR);
}

static void test_conf_parse_path(void **state) {
        _cleanup_free_ char *s = NULL;

        assert_int_equal(conf_parse_path("/abs/path", &s), 0);
        assert_string_equal(s, "/abs/path");
        assert_int_equal(conf_parse_path("rel/path", &s), -EINVAL);
        assert_int_equal(conf_parse_path("", &s), -EINVAL);
        /* A refused value leaves the previous one in place. */
        assert_string_equal(s, "/abs/path");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_conf_values),
                cmocka_unit_test(test_conf_last_assignment_wins),
                cmocka_unit_test(test_conf_comments_and_blank_lines),
                cmocka_unit_test(test_conf_whitespace_stripped),
                cmocka_unit_test(test_conf_no_trailing_newline),
                cmocka_unit_test(test_conf_empty_file),
                cmocka_unit_test(test_conf_unknown_section),
                cmocka_unit_test(test_conf_unknown_key),
                cmocka_unit_test(test_conf_bad_value),
                cmocka_unit_test(test_conf_assignment_outside_section),
                cmocka_unit_test(test_conf_syntax_errors),
                cmocka_unit_test(test_conf_nul_byte),
                cmocka_unit_test(test_conf_missing_file),
                cmocka_unit_test(test_conf_parse_path),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
