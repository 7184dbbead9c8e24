/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "fileio.h"
#include "test-util.h"

static void make_file(const char *dir, const char *name, const void *data, size_t len) {
        _cleanup_free_ char *p = tu_join(dir, name);
        _cleanup_close_ int fd = -EBADF;

        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, data, len), 0);
}

/* Number of entries in dir other than "." and "..". */
static unsigned count_entries(const char *dir) {
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        d = opendir(dir);
        assert_non_null(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static void assert_file(const char *path, const char *content, mode_t mode) {
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        assert_int_equal(read_full_file(path, 1024 * 1024, &buf, &len), 0);
        assert_int_equal(len, strlen(content));
        assert_memory_equal(buf, content, len);
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, mode);
}

static void test_write_file_atomic(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *p = tu_join(dir, "state.json");

        assert_int_equal(write_file_atomic(p, "{\"slot\":\"a\"}\n", 13, 0640), 0);
        assert_file(p, "{\"slot\":\"a\"}\n", 0640);
        assert_int_equal(count_entries(dir), 1);

        /* Replacing keeps one file with the new content and mode, and no temporary file. */
        assert_int_equal(write_file_atomic(p, "b", 1, 0600), 0);
        assert_file(p, "b", 0600);
        assert_int_equal(count_entries(dir), 1);

        assert_int_equal(write_file_atomic(p, "", 0, 0644), 0);
        assert_file(p, "", 0644);
        assert_int_equal(count_entries(dir), 1);
}

static void test_write_file_atomic_ignores_umask(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *p = tu_join(dir, "config");
        mode_t old = umask(0077);

        assert_int_equal(write_file_atomic(p, "x", 1, 0644), 0);
        umask(old);
        assert_file(p, "x", 0644);
}

static void test_write_file_atomic_large(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *p = tu_join(dir, "big"), *data = malloc(3 * 1024 * 1024 + 7), *back = NULL;
        size_t len = 0;

        assert_non_null(data);
        for (size_t i = 0; i < 3 * 1024 * 1024 + 7; i++)
                data[i] = (char) (i * 7 + i / 4096);
        assert_int_equal(write_file_atomic(p, data, 3 * 1024 * 1024 + 7, 0600), 0);
        assert_int_equal(read_full_file(p, 3 * 1024 * 1024 + 7, &back, &len), 0);
        assert_int_equal(len, 3 * 1024 * 1024 + 7);
        assert_memory_equal(back, data, len);
        assert_int_equal(count_entries(dir), 1);
}

static void test_write_file_atomic_failure_leaves_nothing(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *missing = tu_join(dir, "no-such-dir/file"), *sub = tu_join(dir, "sub");

        assert_int_equal(write_file_atomic(missing, "x", 1, 0644), -ENOENT);
        assert_int_equal(count_entries(dir), 0);

        /* The rename onto a directory fails; the temporary file must be gone again. */
        assert_int_equal(mkdir(sub, 0755), 0);
        assert_int_equal(write_file_atomic(sub, "x", 1, 0644), -EISDIR);
        assert_int_equal(count_entries(dir), 1);
        assert_int_equal(count_entries(sub), 0);
}

static void test_write_file_atomic_at(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *p = tu_join(dir, "resume.json"), *target = tu_join(dir, "target"), *link = tu_join(dir, "link");
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat st;

        assert_true(dfd >= 0);
        assert_int_equal(write_file_atomic_at(dfd, "resume.json", "abc", 3, 0600), 0);
        assert_file(p, "abc", 0600);
        assert_int_equal(write_file_atomic_at(dfd, "resume.json", "de", 2, 0644), 0);
        assert_file(p, "de", 0644);
        assert_int_equal(count_entries(dir), 1);

        /* A symlink in its place is replaced, never written through. */
        make_file(dir, "target", "keep", 4);
        assert_int_equal(symlink("target", link), 0);
        assert_int_equal(write_file_atomic_at(dfd, "link", "new", 3, 0600), 0);
        assert_file(target, "keep", 0644);
        assert_int_equal(lstat(link, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_file(link, "new", 0600);
        assert_int_equal(count_entries(dir), 3);
}

/* State directories: a directory of ours, writable by us alone; -ELOOP for anything else. */
static void test_dir_check_safe(void **state) {
        static const mode_t unsafe[] = { 0775, 0757, 0777, 01777, 0722 };
        const char *dir = *state;
        _cleanup_free_ char *d = tu_join(dir, "d"), *l = tu_join(dir, "l"), *f = tu_join(dir, "f"),
                            *missing = tu_join(dir, "missing");
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd = -EBADF;
        int untouched = -1;

        assert_true(dfd >= 0);
        assert_int_equal(mkdir(d, 0700), 0);
        assert_int_equal(dir_check_safe(d), 0);
        assert_int_equal(chmod(d, 0755), 0);
        assert_int_equal(dir_check_safe(d), 0);
        for (size_t i = 0; i < ELEMENTSOF(unsafe); i++) {
                print_message("mode %04o\n", (unsigned) unsafe[i]);
                assert_int_equal(chmod(d, unsafe[i]), 0);
                /* Sticky or not: whoever may create entries may plant one. */
                assert_int_equal(dir_check_safe(d), -ELOOP);
        }
        assert_int_equal(chmod(d, 0755), 0);
        if (geteuid() == 0) {
                assert_int_equal(chown(d, 65534, 65534), 0);
                assert_int_equal(dir_check_safe(d), -ELOOP);
                assert_int_equal(chown(d, 0, 0), 0);
        }

        assert_int_equal(symlink("d", l), 0);
        assert_int_equal(dir_check_safe(l), -ELOOP);
        make_file(dir, "f", "x", 1);
        assert_int_equal(dir_check_safe(f), -ELOOP);
        assert_int_equal(dir_check_safe(missing), -ENOENT);

        /* Below a directory fd, as StateDirectory/slots/<slot> is opened. */
        assert_int_equal(dir_open_safe_at(dfd, "d", d, &fd), 0);
        assert_true(fd >= 0);
        assert_int_equal(dir_check_safe_fd(fd, d), 0);
        assert_int_equal(dir_open_safe_at(dfd, "l", l, &untouched), -ELOOP);
        assert_int_equal(dir_open_safe_at(dfd, "f", f, &untouched), -ELOOP);
        assert_int_equal(dir_open_safe_at(dfd, "missing", missing, &untouched), -ENOENT);
        assert_int_equal(untouched, -1);
}

static void test_read_full_file_max(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *p = tu_join(dir, "f"), *e = tu_join(dir, "empty");
        char data[10000];

        for (size_t i = 0; i < sizeof data; i++)
                data[i] = (char) ('a' + i % 26);
        make_file(dir, "f", data, sizeof data);
        make_file(dir, "empty", "", 0);

        {
                _cleanup_free_ char *buf = NULL;
                size_t len = 0;

                assert_int_equal(read_full_file(p, sizeof data, &buf, &len), 0);
                assert_int_equal(len, sizeof data);
                assert_memory_equal(buf, data, sizeof data);
                /* A trailing NUL, not counted. */
                assert_int_equal(buf[len], 0);
        }
        {
                char *buf = NULL;
                size_t len = 4711;

                assert_int_equal(read_full_file(p, sizeof data - 1, &buf, &len), -EFBIG);
                assert_int_equal(read_full_file(p, 100, &buf, &len), -EFBIG);
                assert_int_equal(read_full_file(p, 0, &buf, &len), -EFBIG);
                assert_null(buf);
                assert_int_equal(len, 4711);
        }
        {
                _cleanup_free_ char *buf = NULL;

                /* ret_len may be NULL; the NUL terminates the content. */
                assert_int_equal(read_full_file(p, 1024 * 1024, &buf, NULL), 0);
                assert_int_equal(strlen(buf), sizeof data);
        }
        {
                _cleanup_free_ char *buf = NULL;
                size_t len = 4711;

                assert_int_equal(read_full_file(e, 0, &buf, &len), 0);
                assert_int_equal(len, 0);
                assert_string_equal(buf, "");
        }
}

static void test_read_full_file_missing(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *p = tu_join(dir, "missing");
        char *buf = NULL;

        assert_int_equal(read_full_file(p, 100, &buf, NULL), -ENOENT);
        assert_int_equal(read_full_file(dir, 100, &buf, NULL), -EISDIR);
        assert_null(buf);
}

static void test_dir_list_suffix(void **state) {
        const char *dir = *state;
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *sub = tu_join(dir, "d.pem");

        make_file(dir, "b.pem", "", 0);
        make_file(dir, "a.pem", "", 0);
        make_file(dir, "c-key.pem", "", 0);
        make_file(dir, "c.txt", "", 0);
        make_file(dir, ".hidden.pem", "", 0);
        make_file(dir, "x.pem.bak", "", 0);
        make_file(dir, "upper.PEM", "", 0);
        make_file(dir, "pem", "", 0);
        assert_int_equal(mkdir(sub, 0755), 0);

        assert_int_equal(dir_list_suffix(dir, ".pem", &l), 3);
        assert_non_null(l);
        assert_string_equal(l[0], "a.pem");
        assert_string_equal(l[1], "b.pem");
        assert_string_equal(l[2], "c-key.pem");
        assert_null(l[3]);
}

static void test_dir_list_suffix_empty_and_missing(void **state) {
        const char *dir = *state;
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *missing = tu_join(dir, "missing");
        char **m = NULL;

        make_file(dir, "only.txt", "", 0);
        assert_int_equal(dir_list_suffix(dir, ".pem", &l), 0);
        assert_non_null(l);
        assert_null(l[0]);

        assert_int_equal(dir_list_suffix(missing, ".pem", &m), -ENOENT);
        assert_null(m);
}

static void test_path_join(void **state) {
        static const struct {
                const char *a, *b, *joined;
        } cases[] = {
                { "a", "b", "a/b" },     { "a/", "b", "a/b" },   { "a", "/b", "a/b" },         { "a//", "//b", "a/b" },
                { "/", "x", "/x" },      { "/", "/x", "/x" },    { "/etc/keys", "k.pem", "/etc/keys/k.pem" },
                { "a", "b/c", "a/b/c" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *p = path_join(cases[i].a, cases[i].b);

                assert_non_null(p);
                assert_string_equal(p, cases[i].joined);
        }
}

static void test_loop_read_write(void **state) {
        const char *dir = *state;
        _cleanup_free_ char *p = tu_join(dir, "rw");
        _cleanup_close_ int fd = -EBADF;
        char buf[100] = {};

        fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, "0123456789", 10), 0);
        assert_int_equal(loop_pwrite(fd, "AB", 2, 4), 0);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        /* Reads up to EOF when asked for more. */
        assert_int_equal(loop_read(fd, buf, sizeof buf), 10);
        assert_memory_equal(buf, "0123AB6789", 10);
        assert_int_equal(loop_read(fd, buf, sizeof buf), 0);
        assert_int_equal(loop_write(-1, "x", 1), -EBADF);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_write_file_atomic, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_write_file_atomic_ignores_umask, tu_setup_tmpdir,
                                                tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_write_file_atomic_large, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_write_file_atomic_failure_leaves_nothing, tu_setup_tmpdir,
                                                tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_write_file_atomic_at, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_dir_check_safe, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_read_full_file_max, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_read_full_file_missing, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_dir_list_suffix, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_dir_list_suffix_empty_and_missing, tu_setup_tmpdir,
                                                tu_teardown_tmpdir),
                cmocka_unit_test(test_path_join),
                cmocka_unit_test_setup_teardown(test_loop_read_write, tu_setup_tmpdir, tu_teardown_tmpdir),
        };

        return tu_run_group_tests(tests, NULL, NULL);
}
