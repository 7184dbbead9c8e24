/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "os-release.h"
#include "test-util.h"

static void parse(const char *text, const char *id, const char *version) {
        OsRelease o = {};

        assert_int_equal(os_release_parse(text, strlen(text), &o), 0);
        if (id)
                assert_string_equal(o.id, id);
        else
                assert_null(o.id);
        if (version)
                assert_string_equal(o.version, version);
        else
                assert_null(o.version);
        os_release_done(&o);
}

/* One file per row, and what systemd's parse_env_file() makes of it (src/basic/env-file.c): the
 * expected ID= and version (IMAGE_VERSION=, else VERSION_ID=), NULL for unset; or the whole file
 * refused. Written from the parser's rules, each row one rule or one corner of it. */
typedef struct OsReleaseRow {
        const char *text;
        size_t len; /* 0: strlen(text); set for rows with a NUL byte */
        int r;
        const char *id, *version;
} OsReleaseRow;

#define BYTES(s) s, sizeof(s) - 1

static const OsReleaseRow rows[] = {
        /* Lines: "\n", "\r\n", a lone "\r", no final newline. */
        { "ID=demo\n", 0, 0, "demo", NULL },
        { "ID=demo", 0, 0, "demo", NULL },
        { "ID=demo\r\nVERSION_ID=1\r\n", 0, 0, "demo", "1" },
        { "ID=demo\rVERSION_ID=1\r", 0, 0, "demo", "1" },
        { "\n\n  \n\t\nID=demo\n\n", 0, 0, "demo", NULL },

        /* Whitespace around the key, around '=', after the value; inside the value it stays. */
        { "ID = demo\n", 0, 0, "demo", NULL },
        { "  \tID\t=\t demo \t\n", 0, 0, "demo", NULL },
        { "ID=demo   \n", 0, 0, "demo", NULL },
        { "ID=de  mo  \n", 0, 0, "de  mo", NULL },
        { "ID=\n", 0, 0, NULL, NULL },
        { "ID=   \n", 0, 0, NULL, NULL },

        /* Keys are compared as they are, never validated: these set other keys. */
        { "I D=demo\n", 0, 0, NULL, NULL },
        { "export ID=demo\n", 0, 0, NULL, NULL },
        { "id=demo\n", 0, 0, NULL, NULL },
        { "=ID=demo\n", 0, 0, NULL, NULL },
        { "ID demo\nID\n", 0, 0, NULL, NULL },
        { "ID\nID=demo\n", 0, 0, "demo", NULL },

        /* The last assignment wins, an empty one unsets. */
        { "ID=one\nID=two\n", 0, 0, "two", NULL },
        { "ID=demo\nID=\n", 0, 0, NULL, NULL },

        /* Outside quotes a backslash takes the next character, whatever it is. */
        { "ID=a\\ b\n", 0, 0, "a b", NULL },
        { "ID=a\\\\b\n", 0, 0, "a\\b", NULL },
        { "ID=\\\"\n", 0, 0, "\"", NULL },
        { "ID=a\\qb\n", 0, 0, "aqb", NULL },
        { "ID=\\'a\\'\n", 0, 0, "'a'", NULL },
        { "ID=a\\#\n", 0, 0, "a#", NULL },
        /* An escaped space is not trailing whitespace; a plain one before it is kept with it. */
        { "ID=a\\ \n", 0, 0, "a ", NULL },
        { "ID=a \\ \n", 0, 0, "a  ", NULL },
        /* Backslash-newline continues the line, the next line's whitespace included. */
        { "ID=a\\\nb\n", 0, 0, "ab", NULL },
        { "ID=a \\\n  b\n", 0, 0, "a   b", NULL },
        { "ID=\\\ndemo\n", 0, 0, "demo", NULL },
        { "ID=a\\\r\nVERSION_ID=1\n", 0, 0, "a", "1" },
        /* A backslash at the end of the file is dropped, and then nothing is chomped. */
        { "ID=a\\", 0, 0, "a", NULL },
        { "ID=a  \\", 0, 0, "a  ", NULL },
        /* A continuation that brings only whitespace: set, but empty. */
        { "ID=\\\n \n", 0, 0, "", NULL },

        /* Quotes at the start of a value, or right after another quoted piece. */
        { "ID=\"demo\"\n", 0, 0, "demo", NULL },
        { "ID='demo'\n", 0, 0, "demo", NULL },
        { "ID=\"\"\n", 0, 0, NULL, NULL },
        { "ID=''\n", 0, 0, NULL, NULL },
        { "ID=\" demo \"\n", 0, 0, " demo ", NULL },
        { "ID=\"demo\"   \n", 0, 0, "demo", NULL },
        { "ID=\"a\"'b'c\n", 0, 0, "abc", NULL },
        { "ID=\"a\"  'b'  \"c\"\n", 0, 0, "abc", NULL },
        { "ID=\"de\"mo \n", 0, 0, "demo", NULL },
        /* Inside an unquoted value a quote is an ordinary character. */
        { "ID=a\"b\"\n", 0, 0, "a\"b\"", NULL },
        { "ID=\"a\"c\"d\"\n", 0, 0, "ac\"d\"", NULL },
        /* Double quotes: only \" \\ \` \$ are unescaped, other backslashes stay. */
        { "ID=\"a\\qb\"\n", 0, 0, "a\\qb", NULL },
        { "ID=\"a\\\"b\\\\c\\`d\\$e\"\n", 0, 0, "a\"b\\c`d$e", NULL },
        { "ID=\"a\\nb\"\n", 0, 0, "a\\nb", NULL },
        { "ID=\"a\\'b\"\n", 0, 0, "a\\'b", NULL },
        /* Double quotes: backslash-newline is eaten, but "\r" is not a newline there. */
        { "ID=\"a\\\nb\"\n", 0, 0, "ab", NULL },
        { "ID=\"a\\\r\nb\"\n", 0, 0, "a\\\r\nb", NULL },
        /* Single quotes: no escape at all. */
        { "ID='a\\\"b\\'\n", 0, 0, "a\\\"b\\", NULL },
        /* Quoted values span lines. */
        { "ID=\"a\nb\"\n", 0, 0, "a\nb", NULL },
        { "ID='a\r\nb'\n", 0, 0, "a\r\nb", NULL },
        { "ID=\"a\nVERSION_ID=1\"\nVERSION_ID=2\n", 0, 0, "a\nVERSION_ID=1", "2" },
        /* An unclosed quote runs to the end of the file, and counts. */
        { "ID=\"demo\nVERSION_ID=1\n", 0, 0, "demo\nVERSION_ID=1\n", NULL },
        { "ID='demo", 0, 0, "demo", NULL },
        { "ID=\"a\\", 0, 0, "a", NULL },

        /* Comments: '#' or ';' first on a line (after whitespace), ended by the newline even after
         * a backslash (since systemd 254); elsewhere both are text. */
        { "#ID=x\nID=demo\n", 0, 0, "demo", NULL },
        { ";ID=x\n", 0, 0, NULL, NULL },
        { "  \t# ID=x\n", 0, 0, NULL, NULL },
        { "# note \\\nID=demo\n", 0, 0, "demo", NULL },
        { "# note \\\\\nID=demo\n", 0, 0, "demo", NULL },
        { "# note\rID=demo\n", 0, 0, "demo", NULL },
        { "ID=demo # note\n", 0, 0, "demo # note", NULL },
        { "ID=\"x\" # note\n", 0, 0, "x# note", NULL },
        { "ID=a;b\n", 0, 0, "a;b", NULL },
        { "ID=#a\n", 0, 0, "#a", NULL },

        /* UTF-8 is checked in every assigned key and value, after unescaping; one bad assignment
         * and systemd reads nothing of the file. */
        { "ID=d\303\251mo\n", 0, 0, "d\303\251mo", NULL },
        { "ID=\360\237\230\200\n", 0, 0, "\360\237\230\200", NULL },
        { "ID=d\303\\\251mo\n", 0, 0, "d\303\251mo", NULL },
        { "NAME=caf\351\nID=demo\n", 0, -EILSEQ, NULL, NULL },
        { "ID=demo\nNAME=\"\377\"\n", 0, -EILSEQ, NULL, NULL },
        { "N\351=x\nID=demo\n", 0, -EILSEQ, NULL, NULL },
        { "ID=\\\377\n", 0, -EILSEQ, NULL, NULL },
        { "ID=\300\257\n", 0, -EILSEQ, NULL, NULL },             /* overlong '/' */
        { "ID=\340\200\257\n", 0, -EILSEQ, NULL, NULL },         /* overlong '/' */
        { "ID=\355\240\200\n", 0, -EILSEQ, NULL, NULL },         /* U+D800 */
        { "ID=\357\267\220\n", 0, -EILSEQ, NULL, NULL },         /* U+FDD0 */
        { "ID=\357\277\276\n", 0, -EILSEQ, NULL, NULL },         /* U+FFFE */
        { "ID=\360\237\277\277\n", 0, -EILSEQ, NULL, NULL },     /* U+1FFFF */
        { "ID=\364\220\200\200\n", 0, -EILSEQ, NULL, NULL },     /* U+110000 */
        { "ID=\370\210\200\200\200\n", 0, -EILSEQ, NULL, NULL }, /* a 5-byte form */
        { "ID=demo\nNAME=\342\202", 0, -EILSEQ, NULL, NULL },    /* cut short */
        /* ...but not in comments, nor in a line without '=', which are never assigned. */
        { "# caf\351\nID=demo\n", 0, 0, "demo", NULL },
        { "caf\351\nID=demo\n", 0, 0, "demo", NULL },
        /* A byte order mark is part of the first key. */
        { "\357\273\277ID=demo\nVERSION_ID=1\n", 0, 0, NULL, "1" },
        /* A NUL byte anywhere, even in a comment: systemd refuses the file. */
        { BYTES("ID=demo\nNAME=a\0b\n"), -EILSEQ, NULL, NULL },
        { BYTES("#\0\nID=demo\n"), -EILSEQ, NULL, NULL },

        /* The version: IMAGE_VERSION= unless unset or empty, else VERSION_ID=. */
        { "VERSION_ID=12\nIMAGE_VERSION=\"\"\n", 0, 0, NULL, "12" },
        { "IMAGE_VERSION=2.1\nIMAGE_VERSION=\nVERSION_ID=12\n", 0, 0, NULL, "12" },
        { "IMAGE_VERSION = '2.1'\nVERSION_ID=12\n", 0, 0, NULL, "2.1" },
        { "IMAGE_VERSION=\\\n \nVERSION_ID=12\n", 0, 0, NULL, "12" },
};

static bool same(const char *got, const char *expected) {
        return expected ? got && strcmp(got, expected) == 0 : !got;
}

static void test_systemd_rules(void **state) {
        size_t failed = 0;

        /* Every row is tried and every difference printed before the test fails. */
        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                const OsReleaseRow *row = &rows[i];
                size_t len = row->len ?: strlen(row->text);
                OsRelease o = {};
                int r;

                r = os_release_parse(row->text, len, &o);
                if (r != row->r) {
                        print_error("row %zu: os_release_parse() = %d, expected %d\n", i, r, row->r);
                        failed++;
                } else if (r < 0 && (o.id || o.version)) {
                        print_error("row %zu: failed, but wrote its result\n", i);
                        failed++;
                } else if (!same(o.id, row->id) || !same(o.version, row->version)) {
                        print_error("row %zu: ID \"%s\" version \"%s\", expected \"%s\" and \"%s\"\n", i,
                                    o.id ?: "(unset)", o.version ?: "(unset)", row->id ?: "(unset)",
                                    row->version ?: "(unset)");
                        failed++;
                }
                os_release_done(&o);
        }
        if (failed > 0)
                fail_msg("%zu of %zu rows differ from systemd's reading", failed, ELEMENTSOF(rows));
}

static void test_image_version_wins(void **state) {
        parse("ID=demo\nVERSION_ID=12\nIMAGE_VERSION=2.1\n", "demo", "2.1");
        parse("IMAGE_VERSION=2.1\nVERSION_ID=12\nID=demo\n", "demo", "2.1");
}

static void test_version_id_fallback(void **state) {
        parse("ID=debian\nVERSION_ID=\"12\"\n", "debian", "12");
        /* An empty IMAGE_VERSION= does not hide VERSION_ID=. */
        parse("ID=debian\nIMAGE_VERSION=\nVERSION_ID=12\n", "debian", "12");
}

static void test_quotes_comments_whitespace(void **state) {
        parse("# comment\n  ID='demo'  \nIMAGE_VERSION=\"3 \\\"beta\\\"\"\r\n", "demo", "3 \"beta\"");
        parse("NAME=\"Demo OS\"\nID=demo", "demo", NULL);
        parse("", NULL, NULL);
        /* Keys that only start like ours are other keys. */
        parse("IDX=1\nID_LIKE=debian\nVERSION_IDENT=9\n", NULL, NULL);
}

static void test_read_at(void **state) {
        char *dir = tu_make_tmpdir();
        char *lib, *file;
        OsRelease o = {};
        int dfd, fd;

        assert_non_null(dir);
        lib = tu_join(dir, "lib");
        file = tu_join(lib, "os-release");
        assert_int_equal(mkdir(lib, 0755), 0);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(os_release_read_at(dfd, "lib/os-release", &o), -ENOENT);
        fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "ID=demo\nIMAGE_VERSION=7\n", 24), 24);
        close(fd);
        assert_int_equal(os_release_read_at(dfd, "lib/os-release", &o), 0);
        assert_string_equal(o.id, "demo");
        assert_string_equal(o.version, "7");
        os_release_done(&o);

        /* The file's bytes go through the same rules: a spaced '=' is read, invalid UTF-8 refused. */
        fd = open(file, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "ID = demo\n", 10), 10);
        close(fd);
        assert_int_equal(os_release_read_at(dfd, "lib/os-release", &o), 0);
        assert_string_equal(o.id, "demo");
        assert_null(o.version);
        os_release_done(&o);
        fd = open(file, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "NAME=caf\351\n", 10), 10);
        close(fd);
        assert_int_equal(os_release_read_at(dfd, "lib/os-release", &o), -EILSEQ);
        assert_null(o.id);

        /* Someone else's tree: a FIFO must not block, a symlink (of the file or a directory on the
         * way) must not lead out, a directory is not a file. */
        assert_int_equal(unlink(file), 0);
        assert_int_equal(mkfifo(file, 0644), 0);
        assert_int_equal(os_release_read_at(dfd, "lib/os-release", &o), -EBADFD);
        assert_int_equal(unlink(file), 0);
        assert_int_equal(symlink("/etc/os-release", file), 0);
        assert_int_equal(os_release_read_at(dfd, "lib/os-release", &o), -ELOOP);
        assert_int_equal(unlink(file), 0);
        assert_int_equal(mkdir(file, 0755), 0);
        assert_int_equal(os_release_read_at(dfd, "lib/os-release", &o), -EBADFD);
        assert_int_equal(rmdir(file), 0);
        assert_int_equal(rmdir(lib), 0);
        assert_int_equal(symlink("/usr/lib", lib), 0);
        assert_int_equal(os_release_read_at(dfd, "lib/os-release", &o), -ELOOP);
        assert_int_equal(os_release_read_at(dfd, "../lib/os-release", &o), -EXDEV);

        close(dfd);
        assert_int_equal(tu_remove_tree(dir), 0);
        free(file);
        free(lib);
        free(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_systemd_rules),
                cmocka_unit_test(test_image_version_wins),
                cmocka_unit_test(test_version_id_fallback),
                cmocka_unit_test(test_quotes_comments_whitespace),
                cmocka_unit_test(test_read_at),
        };
        return tu_run_group_tests(tests, NULL, NULL);
}
