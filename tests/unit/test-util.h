/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers shared by the cmocka unit tests (tests/unit/test-*.c); compiled into each of them. Those that
 * assert (tu_join, tu_run) must be called from within a running cmocka test, setup or teardown. */

/* A new, empty directory /tmp/<test executable's name>.XXXXXX (see mkdtemp(3)); the malloc'd path, or NULL
 * if it could not be made. */
char *tu_make_tmpdir(void);

/* Removes path and, if it is a directory, all below it, without following symbolic links; nftw(3)'s
 * return value: 0 on success. */
int tu_remove_tree(const char *path);

/* cmocka setup and teardown: *state is a directory from tu_make_tmpdir(), then removed with everything in
 * it and freed. Both return non-zero on failure (setup does not assert). */
int tu_setup_tmpdir(void **state);
int tu_teardown_tmpdir(void **state);

/* path_join(a, b), asserting it is not NULL; the caller frees it. */
char *tu_join(const char *a, const char *b);

/* The first name in $PATH, then /usr/sbin and /sbin, that is executable; malloc'd, or NULL if none is. */
char *tu_find_tool(const char *name);

/* Runs argv (argv[0] a path, the list NULL-terminated) with stdout to out_path (created or truncated, mode
 * 0600), or /dev/null if NULL, and stderr to /dev/null; waits for it and returns its exit code, 126 if the
 * redirections failed, 127 if it could not be executed, 128 + the signal if one killed it. */
int tu_run(const char *const *argv, const char *out_path);

/* cmocka_run_group_tests(), except that a group without a single test case fails. cmocka 1.1 runs an empty group,
 * prints "[  PASSED  ] 0 test(s)." and returns 0, so a main() whose array lost its entries (an #if 0, a bad merge)
 * would pass while checking nothing. End every main() with it:
 *         return tu_run_group_tests(tests, group_setup, group_teardown);
 * group must be the array itself: its length is taken with sizeof (a pointer gives 0 and fails too). */
#define tu_run_group_tests(group, group_setup, group_teardown)                                                         \
        (sizeof(group) / sizeof((group)[0]) == 0 ? tu_no_test_cases(#group)                                            \
                                                 : cmocka_run_group_tests(group, group_setup, group_teardown))

/* Says on stderr that the group has no test cases; returns 1, cmocka's count of one failed test. */
int tu_no_test_cases(const char *group);
