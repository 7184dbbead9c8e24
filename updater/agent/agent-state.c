/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-state.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"

#define AGENT_STATE_FILE "agent.json"
/* Ten capped strings, each at most six times longer once escaped, and the rest: far below this. */
#define AGENT_STATE_MAX_SIZE (512U * 1024U)
/* A capped string keeps this much of its beginning (what failed) and as much of its end as fits. */
#define OUTPUT_HEAD 1024U
#define OUTPUT_CUT " … "

void agent_state_init(AgentState *s) {
        *s = (AgentState){};
}

void agent_action_done(AgentAction *a) {
        free(a->id);
        free(a->version);
        free(a->previous_version);
        free(a->output);
        *a = (AgentAction){};
}

void agent_state_done(AgentState *s) {
        free(s->channel_url);
        free(s->channel_name);
        free(s->digest);
        free(s->channel_version);
        free(s->machine_id);
        free(s->last_error);
        free(s->rollout);
        free(s->step);
        free(s->reason);
        agent_action_done(&s->action);
        strv_free(s->failed_versions);
        for (unsigned i = 0; i < s->n_history && i < AGENT_HISTORY_MAX; i++)
                agent_action_done(&s->history[i]);
        agent_state_init(s);
}

static bool utf8_is_continuation(char c) {
        return ((unsigned char) c & 0xc0) == 0x80;
}

/* At most AGENT_OUTPUT_MAX bytes: the beginning (the verdict: which check, how it ended) and the
 * end of what it printed, never a UTF-8 character cut in half. NULL for NULL or "" (json_get_string()
 * refuses empty strings: an empty one is written as absent). */
static int cap_string(const char *s, char **ret) {
        size_t len, head, tail;
        char *c;

        *ret = NULL;
        if (!s || !*s)
                return 0;
        len = strlen(s);
        if (len <= AGENT_OUTPUT_MAX) {
                *ret = strdup(s);
                return *ret ? 0 : -ENOMEM;
        }
        head = OUTPUT_HEAD;
        while (head > 0 && utf8_is_continuation(s[head]))
                head--;
        tail = len - (AGENT_OUTPUT_MAX - OUTPUT_HEAD - strlen(OUTPUT_CUT));
        while (tail < len && utf8_is_continuation(s[tail]))
                tail++;
        c = malloc(head + strlen(OUTPUT_CUT) + (len - tail) + 1);
        if (!c)
                return -ENOMEM;
        memcpy(c, s, head);
        strcpy(c + head, OUTPUT_CUT);
        strcpy(c + head + strlen(OUTPUT_CUT), s + tail);
        *ret = c;
        return 0;
}

static int strv_append(char ***l, const char *s) {
        size_t n = 0;
        char **p, *d;

        while (*l && (*l)[n])
                n++;
        d = strdup(s);
        if (!d)
                return -ENOMEM;
        p = realloc(*l, sizeof(char *) * (n + 2));
        if (!p) {
                free(d);
                return -ENOMEM;
        }
        p[n] = d;
        p[n + 1] = NULL;
        *l = p;
        return 0;
}

int agent_state_archive_action(AgentState *s) {
        if (!s->action.id)
                return 0; /* nothing to archive */
        /* An action still in progress must stay where resuming it looks for it. */
        if (s->action.phase != AGENT_PHASE_DONE)
                return -EBUSY;
        if (s->n_history >= AGENT_HISTORY_MAX) {
                agent_action_done(&s->history[0]);
                memmove(s->history, s->history + 1, sizeof(s->history[0]) * (AGENT_HISTORY_MAX - 1));
                s->n_history = AGENT_HISTORY_MAX - 1;
        }
        s->history[s->n_history++] = TAKE_STRUCT(s->action);
        return 0;
}

bool agent_state_failed(const AgentState *s, const char *v) {
        if (!v)
                return false;
        for (char **f = s->failed_versions; f && *f; f++)
                if (strcmp(*f, v) == 0)
                        return true;
        return false;
}

int agent_state_give_up(AgentState *s, const char *v) {
        size_t n;
        int r;

        if (!v || !*v)
                return -EINVAL;
        if (agent_state_failed(s, v))
                return 0;
        r = strv_append(&s->failed_versions, v);
        if (r < 0)
                return r;
        n = strv_length(s->failed_versions);
        if (n > AGENT_FAILED_MAX) {
                size_t drop = n - AGENT_FAILED_MAX;

                for (size_t i = 0; i < drop; i++)
                        free(s->failed_versions[i]);
                memmove(s->failed_versions, s->failed_versions + drop, sizeof(char *) * (n - drop + 1));
        }
        return 0;
}

/* ---- Writing ------------------------------------------------------------------------------- */

static int add_string(json_object *o, const char *key, const char *s) {
        _cleanup_free_ char *c = NULL;
        json_object *v;

        if (cap_string(s, &c) < 0)
                return -ENOMEM;
        if (!c)
                return 0;
        v = json_object_new_string(c);
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int add_u64(json_object *o, const char *key, uint64_t u) {
        json_object *v;

        /* json-c holds integers as int64: saturate rather than write a negative number. */
        v = json_object_new_int64(u > INT64_MAX ? INT64_MAX : (int64_t) u);
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int add_value(json_object *o, const char *key, json_object *v) {
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static json_object *action_to_json(const AgentAction *a, bool history) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        const char *result = agent_result_to_string(a->result);

        if (!o)
                return NULL;
        if (add_string(o, "id", a->id) < 0 || add_string(o, "version", a->version) < 0 ||
            add_string(o, "previous_version", a->previous_version) < 0)
                return NULL;
        if (!history) {
                const char *phase = agent_phase_to_string(a->phase);

                if (!phase || add_value(o, "phase", json_object_new_string(phase)) < 0 ||
                    add_value(o, "lock_held", json_object_new_boolean(a->lock_held)) < 0)
                        return NULL;
        }
        /* When the slot was held, kept in the history too: how long each machine held it. */
        if (add_u64(o, "lock_taken", a->lock_taken) < 0 || add_u64(o, "lock_released", a->lock_released) < 0)
                return NULL;
        if (!result || add_value(o, "result", json_object_new_string(result)) < 0 ||
            add_u64(o, "started", a->started) < 0 || add_u64(o, "finished", a->finished) < 0 ||
            add_string(o, "output", a->output) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static char *to_json(const AgentState *s, unsigned skip_history) {
        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        json_object *o;
        char *out;

        if (!root || add_u64(root, "format", 1) < 0)
                return NULL;
        if (s->channel_url || s->channel_name || s->has_serial || s->digest || s->channel_version) {
                if (add_value(root, "channel", o = json_object_new_object()) < 0 ||
                    add_string(o, "url", s->channel_url) < 0 || add_string(o, "name", s->channel_name) < 0 ||
                    (s->has_serial && add_u64(o, "serial", s->serial) < 0) || add_string(o, "digest", s->digest) < 0 ||
                    add_string(o, "version", s->channel_version) < 0)
                        return NULL;
        }
        if (add_string(root, "machine_id", s->machine_id) < 0)
                return NULL;
        /* json-c would write NaN or Infinity, which no JSON reader takes back. */
        if (isfinite(s->bucket) && add_value(root, "bucket", json_object_new_double(s->bucket)) < 0)
                return NULL;
        if (add_u64(root, "last_check", s->last_check) < 0 || add_u64(root, "next_check", s->next_check) < 0 ||
            add_string(root, "last_error", s->last_error) < 0 || add_u64(root, "errors", s->errors) < 0)
                return NULL;
        if (add_string(root, "rollout", s->rollout) < 0 || add_string(root, "step", s->step) < 0 ||
            add_string(root, "reason", s->reason) < 0 ||
            (isfinite(s->reached) && add_value(root, "reached", json_object_new_double(s->reached)) < 0))
                return NULL;
        if (s->action.id && add_value(root, "action", action_to_json(&s->action, false)) < 0)
                return NULL;
        if (s->failed_versions && s->failed_versions[0]) {
                if (add_value(root, "failed_versions", o = json_object_new_array()) < 0)
                        return NULL;
                for (char **f = s->failed_versions; *f; f++) {
                        json_object *v = json_object_new_string(*f);
                        if (!v || json_object_array_add(o, v) < 0) {
                                json_object_put(v);
                                return NULL;
                        }
                }
        }
        if (s->n_history > skip_history) {
                if (add_value(root, "history", o = json_object_new_array()) < 0)
                        return NULL;
                for (unsigned i = skip_history; i < s->n_history && i < AGENT_HISTORY_MAX; i++) {
                        json_object *v = action_to_json(&s->history[i], true);
                        if (!v || json_object_array_add(o, v) < 0) {
                                json_object_put(v);
                                return NULL;
                        }
                }
        }
        if (asprintf(&out, "%s\n",
                     json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
                return NULL;
        return out;
}

char *agent_state_to_json(const AgentState *s) {
        return to_json(s, 0);
}

int agent_state_save(const char *dir, const AgentState *s) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int dfd = -EBADF;
        int r;

        /* Never write what agent_state_load() would refuse: the next run would stop at it. */
        if (s->action.id && (!agent_phase_to_string(s->action.phase) || !agent_result_to_string(s->action.result)))
                return log_debug_errno(EINVAL, "Refusing to record an action with an invalid phase or result.");
        for (unsigned i = 0; i < s->n_history && i < AGENT_HISTORY_MAX; i++)
                if (!s->history[i].id || !agent_result_to_string(s->history[i].result))
                        return log_debug_errno(EINVAL, "Refusing to record a history entry without id or result.");
        if (isfinite(s->bucket) && (s->bucket < 0 || s->bucket > 100))
                return log_debug_errno(EINVAL, "Refusing to record a bucket outside [0, 100].");
        /* Strings are capped, so only escaping can make it large: the oldest history goes first. */
        for (unsigned skip = 0;; skip++) {
                free(text);
                text = to_json(s, skip);
                if (!text)
                        return -ENOMEM;
                if (strlen(text) <= AGENT_STATE_MAX_SIZE)
                        break;
                if (skip >= s->n_history)
                        return log_debug_errno(EFBIG, "The agent's state would be larger than %u bytes.",
                                               AGENT_STATE_MAX_SIZE);
        }
        r = mkdir_parents(dir, 0755);
        if (r < 0)
                return log_debug_errno(r, "Cannot create %s: %m", dir);
        /* Whoever else could write the directory could replace what the agent resumes from. */
        r = dir_open_safe_at(AT_FDCWD, dir, dir, &dfd);
        if (r < 0)
                return r;
        r = write_file_atomic_at(dfd, AGENT_STATE_FILE, text, strlen(text), 0644);
        if (r < 0)
                return log_debug_errno(r, "Cannot write %s/%s: %m", dir, AGENT_STATE_FILE);
        return 0;
}

/* ---- Reading ------------------------------------------------------------------------------- */

#define corrupt(path, fmt, ...) log_full_errno(LOG_LEVEL_ERROR, EUCLEAN, "%s: " fmt, path, ##__VA_ARGS__)

/* An optional string: -EINVAL if it is there and not a non-empty string. */
static int get_string(json_object *o, const char *key, char **ret) {
        const char *s = NULL;

        if (json_get_string(o, key, true, &s) < 0)
                return -EINVAL;
        return cap_string(s, ret);
}

static int get_u64(json_object *o, const char *key, uint64_t max, uint64_t *ret) {
        uint64_t u = 0;

        if (json_get_u64(o, key, true, max, &u) < 0)
                return -EINVAL;
        *ret = u;
        return 0;
}

static int get_bool(json_object *o, const char *key, bool *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return 0;
        if (!json_object_is_type(v, json_type_boolean))
                return -EINVAL;
        *ret = json_object_get_boolean(v);
        return 0;
}

/* -EINVAL: malformed; -ENOMEM. */
static int action_from_json(json_object *o, bool history, AgentAction *ret) {
        static const char *const keys[] = { "id",      "version",   "previous_version", "phase",
                                            "result",  "lock_held", "lock_taken",       "lock_released",
                                            "started", "finished",  "output",           NULL };
        static const char *const history_keys[] = { "id",      "version",  "previous_version", "result",
                                                    "started", "finished", "output", "lock_taken", "lock_released", NULL };
        _cleanup_(agent_action_done) AgentAction a = {};
        const char *s = NULL;
        int r;

        if (!json_object_is_type(o, json_type_object) || json_check_keys(o, history ? history_keys : keys, NULL) < 0)
                return -EINVAL;
        if (json_get_string(o, "id", false, &s) < 0)
                return -EINVAL;
        if ((r = get_string(o, "id", &a.id)) < 0 || (r = get_string(o, "version", &a.version)) < 0 ||
            (r = get_string(o, "previous_version", &a.previous_version)) < 0 ||
            (r = get_string(o, "output", &a.output)) < 0)
                return r;
        if (history)
                a.phase = AGENT_PHASE_DONE;
        else {
                if (json_get_string(o, "phase", false, &s) < 0 || (int) (a.phase = agent_phase_from_string(s)) < 0)
                        return -EINVAL;
                if (get_bool(o, "lock_held", &a.lock_held) < 0)
                        return -EINVAL;
        }
        if (get_u64(o, "lock_taken", INT64_MAX, &a.lock_taken) < 0 ||
            get_u64(o, "lock_released", INT64_MAX, &a.lock_released) < 0)
                return -EINVAL;
        s = NULL;
        if (json_get_string(o, "result", history ? false : true, &s) < 0 ||
            (s && (int) (a.result = agent_result_from_string(s)) < 0))
                return -EINVAL;
        if (get_u64(o, "started", INT64_MAX, &a.started) < 0 || get_u64(o, "finished", INT64_MAX, &a.finished) < 0)
                return -EINVAL;
        *ret = TAKE_STRUCT(a);
        return 0;
}

static int parse_state(json_object *root, const char *path, AgentState *s) {
        static const char *const keys[] = { "format",     "channel",         "machine_id", "bucket",
                                            "last_check", "next_check",      "last_error", "errors",
                                            "action",     "failed_versions", "history",
                                            "rollout",    "step",            "reason",     "reached",    NULL };
        static const char *const channel_keys[] = { "url", "name", "serial", "digest", "version", NULL };
        json_object *channel = NULL, *action = NULL, *failed = NULL, *history = NULL, *v;
        uint64_t u;
        size_t n;
        int r;

        if (!json_object_is_type(root, json_type_object))
                return corrupt(path, "not a JSON object.");
        if (json_check_keys(root, keys, NULL) < 0)
                return corrupt(path, "unknown field.");
        if (json_get_u64(root, "format", false, 1000, &u) < 0 || u != 1)
                return corrupt(path, "unsupported format.");

        if (json_get_object(root, "channel", true, &channel) < 0 ||
            (channel && json_check_keys(channel, channel_keys, NULL) < 0))
                return corrupt(path, "\"channel\" is malformed.");
        if (channel) {
                if ((r = get_string(channel, "url", &s->channel_url)) < 0 ||
                    (r = get_string(channel, "name", &s->channel_name)) < 0 ||
                    (r = get_string(channel, "digest", &s->digest)) < 0 ||
                    (r = get_string(channel, "version", &s->channel_version)) < 0)
                        return r == -ENOMEM ? r : corrupt(path, "\"channel\" has a field that is not a string.");
                s->has_serial =
                        json_object_object_get_ex(channel, "serial", &v) && !json_object_is_type(v, json_type_null);
                if (get_u64(channel, "serial", INT64_MAX, &s->serial) < 0)
                        return corrupt(path, "\"channel\": \"serial\" must be a number.");
        }
        if ((r = get_string(root, "machine_id", &s->machine_id)) < 0 ||
            (r = get_string(root, "last_error", &s->last_error)) < 0)
                return r == -ENOMEM ? r : corrupt(path, "\"machine_id\" and \"last_error\" must be strings.");
        if (json_object_object_get_ex(root, "bucket", &v) && !json_object_is_type(v, json_type_null)) {
                if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
                        return corrupt(path, "\"bucket\" must be a number.");
                s->bucket = json_object_get_double(v);
                if (!isfinite(s->bucket) || s->bucket < 0 || s->bucket > 100)
                        return corrupt(path, "\"bucket\" must be in [0, 100].");
        }
        if ((r = get_string(root, "rollout", &s->rollout)) < 0 || (r = get_string(root, "step", &s->step)) < 0 ||
            (r = get_string(root, "reason", &s->reason)) < 0)
                return r == -ENOMEM ? r : corrupt(path, "\"rollout\", \"step\" and \"reason\" must be strings.");
        if (json_object_object_get_ex(root, "reached", &v) && !json_object_is_type(v, json_type_null)) {
                if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
                        return corrupt(path, "\"reached\" must be a number.");
                s->reached = json_object_get_double(v);
                if (!isfinite(s->reached) || s->reached < 0 || s->reached > 100)
                        return corrupt(path, "\"reached\" must be in [0, 100].");
        }
        if (get_u64(root, "last_check", INT64_MAX, &s->last_check) < 0 ||
            get_u64(root, "next_check", INT64_MAX, &s->next_check) < 0)
                return corrupt(path, "\"last_check\" and \"next_check\" must be times.");
        if (get_u64(root, "errors", UINT_MAX, &u) < 0)
                return corrupt(path, "\"errors\" must be a count.");
        s->errors = (unsigned) u;

        if (json_get_object(root, "action", true, &action) < 0)
                return corrupt(path, "\"action\" must be an object.");
        if (action) {
                r = action_from_json(action, false, &s->action);
                if (r < 0)
                        return r == -ENOMEM ? r : corrupt(path, "\"action\" is malformed.");
        }

        if (json_get_array(root, "failed_versions", true, &failed) < 0)
                return corrupt(path, "\"failed_versions\" must be a list.");
        n = failed ? json_object_array_length(failed) : 0;
        /* Only the newest AGENT_FAILED_MAX count, as agent_state_give_up() keeps them. */
        for (size_t i = n > AGENT_FAILED_MAX ? n - AGENT_FAILED_MAX : 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(failed, i);

                if (!json_object_is_type(e, json_type_string) || json_object_get_string_len(e) == 0 ||
                    strlen(json_object_get_string(e)) != (size_t) json_object_get_string_len(e))
                        return corrupt(path, "\"failed_versions\" must hold versions.");
                r = agent_state_give_up(s, json_object_get_string(e));
                if (r < 0)
                        return r;
        }

        if (json_get_array(root, "history", true, &history) < 0)
                return corrupt(path, "\"history\" must be a list.");
        n = history ? json_object_array_length(history) : 0;
        for (size_t i = n > AGENT_HISTORY_MAX ? n - AGENT_HISTORY_MAX : 0; i < n; i++) {
                r = action_from_json(json_object_array_get_idx(history, i), true, &s->history[s->n_history]);
                if (r < 0)
                        return r == -ENOMEM ? r : corrupt(path, "entry %zu of \"history\" is malformed.", i);
                s->n_history++;
        }
        return 0;
}

int agent_state_load(const char *dir, AgentState *ret) {
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_(agent_state_done) AgentState s = {};
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        size_t len;
        int r;

        path = path_join(dir, AGENT_STATE_FILE);
        if (!path)
                return -ENOMEM;
        /* Whoever else could write the directory could have written what we would resume. */
        r = dir_open_safe_at(AT_FDCWD, dir, dir, &dfd);
        if (r == -ENOENT) {
                agent_state_init(ret);
                return 0;
        }
        if (r < 0)
                return r;
        fd = openat(dfd, AGENT_STATE_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        r = fd < 0 ? -errno : read_regular_fd(fd, AGENT_STATE_MAX_SIZE, &buf, &len);
        if (r == -ENOENT) {
                agent_state_init(ret);
                return 0;
        }
        if (r == -EFBIG)
                return corrupt(path, "larger than %u bytes.", AGENT_STATE_MAX_SIZE);
        /* Something planted where the file should be is not followed, not read: corrupt. */
        if (r == -ELOOP || r == -EBADFD)
                return corrupt(path, "not a regular file.");
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", path);
        if (json_parse_strict(buf, len, &root) < 0)
                return corrupt(path, "not valid JSON.");
        r = parse_state(root, path, &s);
        if (r < 0)
                return r;
        *ret = TAKE_STRUCT(s);
        return 0;
}
