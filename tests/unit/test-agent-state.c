/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent's durable state, StateDirectory/agent.json (updater/agent/agent-state.c): save → load round
 * trips of every field, a missing file is a fresh state, one corrupt variant per row is -EUCLEAN with the
 * output untouched, unsafe directories are -ELOOP, the history ring and the failed versions' dedup and cap,
 * and long outputs capped. In the rows, JSON is written with ' for " (write_row() turns every ' into "). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent-state.h"
#include "cleanup.h"
#include "fileio.h"
#include "test-util.h"

static char *xstrdup(const char *s) {
        char *d = strdup(s);

        assert_non_null(d);
        return d;
}

static void write_agent_file(const char *dir, const char *text, size_t len) {
        _cleanup_free_ char *path = tu_join(dir, "agent.json");

        assert_int_equal(write_file_atomic(path, text, len, 0644), 0);
}

/* text with every ' turned into ". */
static void write_row(const char *dir, const char *text) {
        _cleanup_free_ char *t = xstrdup(text);

        for (char *p = t; *p; p++)
                if (*p == '\'')
                        *p = '"';
        write_agent_file(dir, t, strlen(t));
}

/* agent_state_load() whose output must stay untouched on failure. */
static int load_checked(const char *dir, AgentState *ret) {
        AgentState sentinel;
        int r;

        memset(&sentinel, 0x5a, sizeof sentinel);
        memcpy(ret, &sentinel, sizeof sentinel);
        r = agent_state_load(dir, ret);
        if (r < 0)
                assert_memory_equal(ret, &sentinel, sizeof sentinel);
        return r;
}

static void fill_action(AgentAction *a, const char *id, const char *version, AgentPhase phase, AgentResult result,
                        uint64_t t) {
        a->id = xstrdup(id);
        a->version = xstrdup(version);
        a->previous_version = xstrdup("2.0");
        a->phase = phase;
        a->result = result;
        a->lock_held = true;
        a->lock_taken = t + 1;
        a->lock_released = t + 2;
        a->started = t + 3;
        a->finished = t + 4;
        a->output = xstrdup("HealthCheck=/bin/false exited 1: \"quoted\" / slash\nsecond line ü");
}

static void fill_state(AgentState *s) {
        agent_state_init(s);
        s->channel_url = xstrdup("https://updates.example/stable.json");
        s->channel_name = xstrdup("stable");
        s->serial = 7;
        s->has_serial = true;
        s->digest = xstrdup("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        s->channel_version = xstrdup("2.1");
        s->machine_id = xstrdup("4b5e2f9c0d1a4e7f8a9b0c1d2e3f4a5b");
        s->bucket = 42.17;
        s->last_check = 1764237000;
        s->next_check = 1764240600;
        s->last_error = xstrdup("Cannot reach https://updates.example: timeout");
        s->errors = 3;
        fill_action(&s->action, "stable/7/2.1", "2.1", AGENT_PHASE_CHECKING, AGENT_RESULT_NONE, 1764237000);
        assert_int_equal(agent_state_give_up(s, "1.9"), 0);
        assert_int_equal(agent_state_give_up(s, "1.9.1"), 0);
        fill_action(&s->history[0], "stable/5/1.9", "1.9", AGENT_PHASE_DONE, AGENT_RESULT_FAILURE, 1764000000);
        fill_action(&s->history[1], "stable/6/2.0", "2.0", AGENT_PHASE_DONE, AGENT_RESULT_SUCCESS, 1764100000);
        s->n_history = 2;
}

static void assert_action_equal(const AgentAction *a, const AgentAction *b, bool history) {
        assert_string_equal(a->id, b->id);
        assert_string_equal(a->version, b->version);
        assert_string_equal(a->previous_version, b->previous_version);
        assert_int_equal(a->phase, b->phase);
        assert_int_equal(a->result, b->result);
        assert_true(a->started == b->started);
        assert_true(a->finished == b->finished);
        assert_string_equal(a->output, b->output);
        if (history)
                return; /* the history keeps what a report needs, not the lock's bookkeeping */
        assert_int_equal(a->lock_held, b->lock_held);
        assert_true(a->lock_taken == b->lock_taken);
        assert_true(a->lock_released == b->lock_released);
}

static void test_round_trip(void **state) {
        _cleanup_(agent_state_done) AgentState s = {}, l = {};
        _cleanup_free_ char *a = NULL, *b = NULL, *path = tu_join(*state, "agent.json");
        struct stat st;

        fill_state(&s);
        assert_int_equal(agent_state_save(*state, &s), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(load_checked(*state, &l), 0);

        assert_string_equal(l.channel_url, s.channel_url);
        assert_string_equal(l.channel_name, s.channel_name);
        assert_true(l.has_serial);
        assert_true(l.serial == 7);
        assert_string_equal(l.digest, s.digest);
        assert_string_equal(l.channel_version, "2.1");
        assert_string_equal(l.machine_id, s.machine_id);
        assert_true(l.bucket == 42.17);
        assert_true(l.last_check == 1764237000);
        assert_true(l.next_check == 1764240600);
        assert_string_equal(l.last_error, s.last_error);
        assert_int_equal(l.errors, 3);
        assert_action_equal(&l.action, &s.action, false);
        assert_non_null(l.failed_versions);
        assert_string_equal(l.failed_versions[0], "1.9");
        assert_string_equal(l.failed_versions[1], "1.9.1");
        assert_null(l.failed_versions[2]);
        assert_int_equal(l.n_history, 2);
        for (unsigned i = 0; i < 2; i++)
                assert_action_equal(&l.history[i], &s.history[i], true);

        /* And the text is the same: nothing lost or reordered (the history keeps no lock bookkeeping, and
         * to_json() writes none for it). */
        a = agent_state_to_json(&s);
        b = agent_state_to_json(&l);
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a, b);
        assert_non_null(strstr(a, "\"phase\": \"checking\""));
        assert_non_null(strstr(a, "\"result\": \"failure\""));
        assert_non_null(strstr(a, "\"format\": 1"));
}

static void test_round_trip_empty_and_without_serial(void **state) {
        _cleanup_(agent_state_done) AgentState s = {}, l = {};

        /* A fresh state saves and loads as a fresh state. */
        assert_int_equal(agent_state_save(*state, &s), 0);
        assert_int_equal(load_checked(*state, &l), 0);
        assert_null(l.channel_url);
        assert_false(l.has_serial);
        assert_null(l.action.id);
        assert_int_equal(l.action.phase, AGENT_PHASE_NONE);
        assert_null(l.failed_versions);
        assert_int_equal(l.n_history, 0);
        agent_state_done(&l);

        /* Serial 0 is a serial, not "none"; an empty string is written as absent. */
        s.has_serial = true;
        s.serial = 0;
        s.last_error = xstrdup("");
        assert_int_equal(agent_state_save(*state, &s), 0);
        assert_int_equal(load_checked(*state, &l), 0);
        assert_true(l.has_serial);
        assert_true(l.serial == 0);
        assert_null(l.last_error);
}

static void test_missing_is_fresh(void **state) {
        _cleanup_free_ char *missing = tu_join(*state, "does/not/exist");
        _cleanup_(agent_state_done) AgentState l = {};
        struct stat st;

        /* No file in an existing directory, and no directory at all: fresh, nothing created. */
        assert_int_equal(load_checked(*state, &l), 0);
        assert_null(l.action.id);
        assert_null(l.machine_id);
        agent_state_done(&l);
        assert_int_equal(load_checked(missing, &l), 0);
        assert_null(l.action.id);
        assert_int_equal(stat(missing, &st), -1);
}

static void test_corrupt_table(void **state) {
        static const char *const rows[] = {
                "",
                "   ",
                "not json",
                "[]",
                "'format'",
                "{}",
                "{'format': 2}",
                "{'format': '1'}",
                "{'format': 1, 'surprise': true}",
                "{'format': 1, 'format': 1}",
                "{'format': 1, 'channel': 'stable'}",
                "{'format': 1, 'channel': {'name': 'stable', 'colour': 'blue'}}",
                "{'format': 1, 'channel': {'serial': -1}}",
                "{'format': 1, 'channel': {'serial': 1.5}}",
                "{'format': 1, 'channel': {'serial': 99999999999999999999}}",
                "{'format': 1, 'channel': {'url': 7}}",
                "{'format': 1, 'channel': {'name': ''}}",
                "{'format': 1, 'machine_id': 42}",
                "{'format': 1, 'bucket': 100.5}",
                "{'format': 1, 'bucket': -1}",
                "{'format': 1, 'bucket': '42'}",
                "{'format': 1, 'last_check': -5}",
                "{'format': 1, 'errors': 'many'}",
                "{'format': 1, 'errors': 4294967296}",
                "{'format': 1, 'action': []}",
                "{'format': 1, 'action': {'phase': 'checking'}}",
                "{'format': 1, 'action': {'id': 'a/1/2', 'phase': 'flying'}}",
                "{'format': 1, 'action': {'id': 'a/1/2'}}",
                "{'format': 1, 'action': {'id': 'a/1/2', 'phase': 'done', 'result': 'maybe'}}",
                "{'format': 1, 'action': {'id': 'a/1/2', 'phase': 'done', 'lock_held': 'yes'}}",
                "{'format': 1, 'action': {'id': 'a/1/2', 'phase': 'done', 'started': 'now'}}",
                "{'format': 1, 'action': {'id': 'a/1/2', 'phase': 'done', 'extra': 1}}",
                "{'format': 1, 'action': {'id': 'a/1/2', 'phase': 'done', 'output': 3}}",
                "{'format': 1, 'failed_versions': '2.1'}",
                "{'format': 1, 'failed_versions': [2.1]}",
                "{'format': 1, 'failed_versions': ['']}",
                "{'format': 1, 'history': {}}",
                "{'format': 1, 'history': [{'version': '2.1', 'result': 'success'}]}",
                "{'format': 1, 'history': [{'id': 'a/1/2', 'version': '2.1'}]}",
                "{'format': 1, 'history': [{'id': 'a/1/2', 'result': 'success', 'phase': 'done'}]}",
                "{'format': 1, 'history': [{'id': 'a/1/2', 'result': 'success'}, 7]}",
        };
        AgentState l;

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                print_message("row %zu: %s\n", i, rows[i]);
                write_row(*state, rows[i]);
                assert_int_equal(load_checked(*state, &l), -EUCLEAN);
        }
        /* A NUL byte inside, and a file larger than any the agent writes. */
        write_agent_file(*state, "{\"format\": 1}\0", 14);
        assert_int_equal(load_checked(*state, &l), -EUCLEAN);
        {
                size_t n = 600 * 1024;
                _cleanup_free_ char *big = malloc(n);

                assert_non_null(big);
                memset(big, ' ', n);
                memcpy(big, "{\"format\": 1}", 13);
                write_agent_file(*state, big, n);
                assert_int_equal(load_checked(*state, &l), -EUCLEAN);
        }
}

static void test_not_a_regular_file(void **state) {
        _cleanup_free_ char *path = tu_join(*state, "agent.json"), *target = tu_join(*state, "elsewhere.json");
        AgentState l;

        /* Planted in place of the file: a symlink (even to a good file), a directory, a FIFO. */
        write_agent_file(*state, "{\"format\": 1}", 13);
        assert_int_equal(rename(path, target), 0);
        assert_int_equal(symlink(target, path), 0);
        assert_int_equal(load_checked(*state, &l), -EUCLEAN);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0755), 0);
        assert_int_equal(load_checked(*state, &l), -EUCLEAN);
        assert_int_equal(rmdir(path), 0);
        assert_int_equal(mkfifo(path, 0644), 0);
        assert_int_equal(load_checked(*state, &l), -EUCLEAN);
        assert_int_equal(unlink(path), 0);
}

static void test_accepts_older_and_partial_files(void **state) {
        _cleanup_(agent_state_done) AgentState l = {};

        /* Every field may be absent; an integer bucket is a number too; nulls are absent. */
        write_row(*state, "{'format': 1, 'bucket': 42, 'machine_id': null, "
                          "'action': {'id': 'stable/3/1.2', 'phase': 'installing'}, "
                          "'history': [{'id': 'stable/2/1.1', 'result': 'success'}]}");
        assert_int_equal(load_checked(*state, &l), 0);
        assert_true(l.bucket == 42);
        assert_null(l.machine_id);
        assert_string_equal(l.action.id, "stable/3/1.2");
        assert_int_equal(l.action.phase, AGENT_PHASE_INSTALLING);
        assert_int_equal(l.action.result, AGENT_RESULT_NONE);
        assert_null(l.action.version);
        assert_int_equal(l.n_history, 1);
        assert_int_equal(l.history[0].result, AGENT_RESULT_SUCCESS);
        assert_int_equal(l.history[0].phase, AGENT_PHASE_DONE);
}

static void test_unsafe_directory(void **state) {
        _cleanup_free_ char *open_dir = tu_join(*state, "open"), *link = tu_join(*state, "link"),
                            *good = tu_join(*state, "good"), *good_file = tu_join(*state, "good/agent.json");
        _cleanup_(agent_state_done) AgentState s = {};
        AgentState l;

        if (geteuid() != 0)
                skip(); /* owned by us either way: only the mode and the symlink are tested below as root */
        fill_state(&s);
        /* Writable by others: anyone could swap the file. */
        assert_int_equal(mkdir(open_dir, 0755), 0);
        assert_int_equal(chmod(open_dir, 0777), 0);
        assert_int_equal(agent_state_save(open_dir, &s), -ELOOP);
        assert_int_equal(load_checked(open_dir, &l), -ELOOP);
        /* A symlink to a good directory is not followed. */
        assert_int_equal(mkdir(good, 0755), 0);
        assert_int_equal(symlink(good, link), 0);
        assert_int_equal(agent_state_save(link, &s), -ELOOP);
        assert_int_equal(load_checked(link, &l), -ELOOP);
        assert_int_equal(access(good_file, F_OK), -1);
}

static void test_save_creates_directory(void **state) {
        _cleanup_free_ char *dir = tu_join(*state, "var/lib/osupdate");
        _cleanup_(agent_state_done) AgentState s = {}, l = {};
        struct stat st;

        fill_state(&s);
        assert_int_equal(agent_state_save(dir, &s), 0);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(load_checked(dir, &l), 0);
        assert_string_equal(l.action.id, "stable/7/2.1");
}

static void test_save_refuses_what_load_refuses(void **state) {
        _cleanup_(agent_state_done) AgentState s = {};
        _cleanup_free_ char *path = tu_join(*state, "agent.json");

        fill_state(&s);
        s.action.phase = (AgentPhase) 99;
        assert_int_equal(agent_state_save(*state, &s), -EINVAL);
        s.action.phase = AGENT_PHASE_DONE;
        s.bucket = 100.5;
        assert_int_equal(agent_state_save(*state, &s), -EINVAL);
        s.bucket = 1;
        s.history[0].result = (AgentResult) 7;
        assert_int_equal(agent_state_save(*state, &s), -EINVAL);
        assert_int_equal(access(path, F_OK), -1);
}

static void test_archive_ring(void **state) {
        _cleanup_(agent_state_done) AgentState s = {};
        char id[32];

        (void) state;
        /* No action: nothing to archive. An action in progress: refused, left in place. */
        assert_int_equal(agent_state_archive_action(&s), 0);
        assert_int_equal(s.n_history, 0);
        fill_action(&s.action, "c/1/1", "1", AGENT_PHASE_CHECKING, AGENT_RESULT_NONE, 0);
        assert_int_equal(agent_state_archive_action(&s), -EBUSY);
        assert_string_equal(s.action.id, "c/1/1");
        agent_action_done(&s.action);

        for (unsigned i = 1; i <= AGENT_HISTORY_MAX + 3; i++) {
                snprintf(id, sizeof id, "c/%u/%u", i, i);
                fill_action(&s.action, id, id + 2, AGENT_PHASE_DONE,
                            i % 2 ? AGENT_RESULT_SUCCESS : AGENT_RESULT_FAILURE, i);
                assert_int_equal(agent_state_archive_action(&s), 0);
                /* The action is cleared: no id, phase none. */
                assert_null(s.action.id);
                assert_null(s.action.output);
                assert_int_equal(s.action.phase, AGENT_PHASE_NONE);
                assert_int_equal(s.n_history, i < AGENT_HISTORY_MAX ? i : AGENT_HISTORY_MAX);
        }
        /* Oldest first, the oldest three gone. */
        for (unsigned i = 0; i < AGENT_HISTORY_MAX; i++) {
                snprintf(id, sizeof id, "c/%u/%u", i + 4, i + 4);
                assert_string_equal(s.history[i].id, id);
                assert_true(s.history[i].finished == i + 4 + 4);
        }
        /* And so it is saved and loaded. */
        assert_int_equal(agent_state_save(*state, &s), 0);
        {
                _cleanup_(agent_state_done) AgentState l = {};

                assert_int_equal(load_checked(*state, &l), 0);
                assert_int_equal(l.n_history, AGENT_HISTORY_MAX);
                assert_string_equal(l.history[0].id, "c/4/4");
                assert_string_equal(l.history[AGENT_HISTORY_MAX - 1].id, "c/11/11");
        }
}

static void test_give_up(void **state) {
        _cleanup_(agent_state_done) AgentState s = {};
        char v[16];
        size_t n = 0;

        (void) state;
        assert_false(agent_state_failed(&s, "1.0"));
        assert_int_equal(agent_state_give_up(&s, NULL), -EINVAL);
        assert_int_equal(agent_state_give_up(&s, ""), -EINVAL);
        assert_int_equal(agent_state_give_up(&s, "1.0"), 0);
        assert_int_equal(agent_state_give_up(&s, "1.0"), 0);
        assert_true(agent_state_failed(&s, "1.0"));
        assert_false(agent_state_failed(&s, "1.0.0"));
        assert_false(agent_state_failed(&s, NULL));
        assert_string_equal(s.failed_versions[0], "1.0");
        assert_null(s.failed_versions[1]);

        for (unsigned i = 1; i <= AGENT_FAILED_MAX + 4; i++) {
                snprintf(v, sizeof v, "2.%u", i);
                assert_int_equal(agent_state_give_up(&s, v), 0);
        }
        while (s.failed_versions[n])
                n++;
        assert_int_equal(n, AGENT_FAILED_MAX);
        /* The oldest went first: 1.0, then 2.1 … 2.4. */
        assert_false(agent_state_failed(&s, "1.0"));
        assert_false(agent_state_failed(&s, "2.4"));
        assert_true(agent_state_failed(&s, "2.5"));
        assert_string_equal(s.failed_versions[0], "2.5");
        snprintf(v, sizeof v, "2.%u", AGENT_FAILED_MAX + 4);
        assert_string_equal(s.failed_versions[AGENT_FAILED_MAX - 1], v);
        /* Again an existing one: no change. */
        assert_int_equal(agent_state_give_up(&s, "2.10"), 0);
        assert_string_equal(s.failed_versions[0], "2.5");
}

static void test_output_capped(void **state) {
        _cleanup_(agent_state_done) AgentState s = {}, l = {};
        size_t n = 3 * AGENT_OUTPUT_MAX;
        _cleanup_free_ char *big = malloc(n + 1);
        size_t len;

        assert_non_null(big);
        /* "HEAD…", then two-byte characters (ü) to the end, then "TAIL". */
        memcpy(big, "HEAD", 4);
        for (size_t i = 4; i + 1 < n - 4; i += 2)
                memcpy(big + i, "\xc3\xbc", 2);
        memcpy(big + n - 4, "TAIL", 4);
        big[n] = 0;
        fill_action(&s.action, "c/1/1", "1", AGENT_PHASE_DONE, AGENT_RESULT_FAILURE, 0);
        free(s.action.output);
        s.action.output = xstrdup(big);
        s.last_error = xstrdup(big);
        assert_int_equal(agent_state_save(*state, &s), 0);
        assert_int_equal(load_checked(*state, &l), 0);
        len = strlen(l.action.output);
        assert_true(len <= AGENT_OUTPUT_MAX);
        assert_true(len > AGENT_OUTPUT_MAX - 8);
        assert_memory_equal(l.action.output, "HEAD", 4);
        assert_string_equal(l.action.output + len - 4, "TAIL");
        assert_non_null(strstr(l.action.output, " … "));
        assert_true(strlen(l.last_error) <= AGENT_OUTPUT_MAX);
        /* No character cut in half: every byte before the cut is part of "HEAD" or a whole ü. */
        for (const char *p = l.action.output + 4; *p != ' '; p += 2)
                assert_memory_equal(p, "\xc3\xbc", 2);
        /* A capped string is still capped the same after another round trip. */
        {
                _cleanup_(agent_state_done) AgentState l2 = {};

                assert_int_equal(agent_state_save(*state, &l), 0);
                assert_int_equal(load_checked(*state, &l2), 0);
                assert_string_equal(l2.action.output, l.action.output);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_round_trip, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_round_trip_empty_and_without_serial, tu_setup_tmpdir,
                                                tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_missing_is_fresh, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_corrupt_table, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_not_a_regular_file, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_accepts_older_and_partial_files, tu_setup_tmpdir,
                                                tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_unsafe_directory, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_save_creates_directory, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_save_refuses_what_load_refuses, tu_setup_tmpdir,
                                                tu_teardown_tmpdir),
                cmocka_unit_test_setup_teardown(test_archive_ring, tu_setup_tmpdir, tu_teardown_tmpdir),
                cmocka_unit_test(test_give_up),
                cmocka_unit_test_setup_teardown(test_output_capped, tu_setup_tmpdir, tu_teardown_tmpdir),
        };

        return tu_run_group_tests(tests, NULL, NULL);
}
