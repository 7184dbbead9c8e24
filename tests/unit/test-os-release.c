/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

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
                cmocka_unit_test(test_image_version_wins),
                cmocka_unit_test(test_version_id_fallback),
                cmocka_unit_test(test_quotes_comments_whitespace),
                cmocka_unit_test(test_read_at),
        };
        return tu_run_group_tests(tests, NULL, NULL);
}
