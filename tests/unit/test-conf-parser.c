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

#include "test-util.h"

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

        assert_int_equal(parse_text("[Update]\nRetries=1\n[Unknown]\nRetries=2\n", &c), -ENOEXEC);
        assert_int_equal(parse_text("[update]\nRetries=1\n", &c), -ENOEXEC);
        config_done(&c);
}

static void test_conf_unknown_key(void **state) {
        Config c = {};

        assert_int_equal(parse_text("[Update]\nRetrys=1\n", &c), -ENOEXEC);
        /* Known key, wrong section. */
        assert_int_equal(parse_text("[Update]\nDevice=/dev/sda\n", &c), -ENOEXEC);
        /* Keys are case sensitive. */
        assert_int_equal(parse_text("[Update]\nretries=1\n", &c), -ENOEXEC);
        assert_int_equal(parse_text("[Update]\n=1\n", &c), -ENOEXEC);
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
                assert_int_equal(parse_text(bad[i], &c), -ENOEXEC);
                config_done(&c);
        }
}

static void test_conf_assignment_outside_section(void **state) {
        Config c = {};

        assert_int_equal(parse_text("Retries=1\n[Update]\n", &c), -ENOEXEC);
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
                assert_int_equal(parse_text(bad[i], &c), -ENOEXEC);
                config_done(&c);
        }
}

static void test_conf_nul_byte(void **state) {
        static const char text[] = "[Update]\nRetries=1\0\nEnabled=yes\n";
        Config c = {};

        assert_int_equal(parse_text_len(text, sizeof text - 1, &c), -ENOEXEC);
        config_done(&c);
}

static void test_conf_missing_file(void **state) {
        Config c = {};
        const ConfItem items[] = CONFIG_ITEMS(&c);

        /* A configuration that cannot be read is a configuration error (exit 4), not an I/O one. */
        assert_int_equal(conf_parse_file("/tmp/test-conf-parser.does-not-exist/osupdate.conf", items), -ENOEXEC);
        /* A directory opens but cannot be read. */
        assert_int_equal(conf_parse_file("/tmp", items), -ENOEXEC);
}

/* One row per kind of bad input the parser tells apart (each has its own message), with the exact
 * errno: every one is a configuration error, -ENOEXEC (exit 4) — never -EBADMSG, which means a
 * signature or digest mismatch (exit 10). */
static void test_conf_error_kinds(void **state) {
        static const struct {
                const char *kind;
                const char *text;
                size_t len; /* 0: strlen(text) */
                int error;
        } rows[] = {
                { "unknown section", "[Unknown]\n", 0, -ENOEXEC },
                { "unknown key", "[Update]\nRetrys=1\n", 0, -ENOEXEC },
                { "known key, wrong section", "[Slot]\nRetries=1\n", 0, -ENOEXEC },
                { "empty key", "[Update]\n=1\n", 0, -ENOEXEC },
                { "bad value: unsigned", "[Update]\nRetries=many\n", 0, -ENOEXEC },
                { "bad value: unsigned overflow", "[Update]\nRetries=99999999999\n", 0, -ENOEXEC },
                { "bad value: boolean", "[Update]\nEnabled=perhaps\n", 0, -ENOEXEC },
                { "bad value: timespan", "[Update]\nInterval=soon\n", 0, -ENOEXEC },
                { "bad value: relative path", "[Slot]\nDevice=dev/sda\n", 0, -ENOEXEC },
                { "bad section header: unterminated", "[Update\n", 0, -ENOEXEC },
                { "bad section header: empty", "[]\n", 0, -ENOEXEC },
                { "bad section header: trailing text", "[Update] x\n", 0, -ENOEXEC },
                { "missing '='", "[Update]\nRetries 1\n", 0, -ENOEXEC },
                { "assignment outside any section", "Retries=1\n", 0, -ENOEXEC },
                { "NUL byte", "[Update]\nRe\0tries=1\n", 20 /* the NUL included */, -ENOEXEC },
                { "error in the last line, no newline", "[Update]\nRetries=1\nEnabled=2", 0, -ENOEXEC },
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                Config c = {};

                print_message("%s\n", rows[i].kind);
                assert_int_equal(parse_text_len(rows[i].text, rows[i].len ?: strlen(rows[i].text), &c), rows[i].error);
                config_done(&c);
        }
}

/* The parser has no line length limit (getline(3)): a long line is not an error of its own. */
static void test_conf_long_line(void **state) {
        const size_t n = 256 * 1024;
        _cleanup_free_ char *text = malloc(n + 32);
        Config c = {};
        int k;

        assert_non_null(text);
        k = snprintf(text, n + 32, "[Update]\nServer=");
        memset(text + k, 'x', n);
        strcpy(text + k + n, "\n");
        assert_int_equal(parse_text(text, &c), 0);
        assert_int_equal(strlen(c.server), n);
        config_done(&c);

        /* … and a long bad line is a configuration error like a short one. */
        memcpy(text, "[Update]\nRetries=", 17);
        memset(text + 17, '9', n);
        strcpy(text + 17 + n, "\n");
        assert_int_equal(parse_text(text, &c), -ENOEXEC);
        config_done(&c);
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
                cmocka_unit_test(test_conf_error_kinds),
                cmocka_unit_test(test_conf_long_line),
                cmocka_unit_test(test_conf_parse_path),
        };

        return tu_run_group_tests(tests, NULL, NULL);
}
