/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "state.h"
#include "version.h"

#define STATE_FILE "state.json"
#define STATE_MAX_SIZE (64U * 1024U)
#define UNCONFIRMED_MAX 1000000U

static const char *const slot_names[SLOT_MAX] = { "a", "b" };
static const char *const slot_state_table[_SLOT_STATE_MAX] = {
        [SLOT_EMPTY] = "empty",
        [SLOT_WRITING] = "writing",
        [SLOT_READY] = "ready",
};

const char *slot_name(int slot) {
        return slot >= 0 && slot < SLOT_MAX ? slot_names[slot] : NULL;
}

int slot_from_name(const char *s) {
        for (int i = 0; i < SLOT_MAX; i++)
                if (strcmp(s, slot_names[i]) == 0)
                        return i;
        return -EINVAL;
}

const char *slot_state_to_string(SlotState s) {
        return s >= 0 && s < _SLOT_STATE_MAX ? slot_state_table[s] : NULL;
}

static const char *const boot_result_table[_BOOT_RESULT_MAX] = {
        [BOOT_RESULT_BOOTING] = "booting",
        [BOOT_RESULT_GOOD] = "good",
        [BOOT_RESULT_UNCONFIRMED] = "unconfirmed",
        [BOOT_RESULT_FAILED] = "failed",
};

const char *boot_result_to_string(BootResult r) {
        return r >= 0 && r < _BOOT_RESULT_MAX ? boot_result_table[r] : NULL;
}

static int boot_result_from_string(const char *s) {
        for (int i = 0; i < _BOOT_RESULT_MAX; i++)
                if (strcmp(s, boot_result_table[i]) == 0)
                        return i;
        return -EINVAL;
}

void slot_info_done(SlotInfo *i) {
        free(i->version);
        free(i->fstype);
        free(i->failed);
        *i = (SlotInfo) { .state = SLOT_EMPTY };
}

static void boot_record_done(BootRecord *b) {
        free(b->version);
        free(b->reason);
        free(b->verity);
        *b = (BootRecord) { .slot = -1 };
}

static int strdup_opt(const char *s, char **ret) {
        *ret = NULL;
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

int state_add_boot(State *s, int slot, const char *version, BootResult result, const char *reason, const char *verity,
                   uint64_t time) {
        BootRecord b = { .slot = slot, .result = result, .time = time };

        if (strdup_opt(version, &b.version) < 0 || strdup_opt(reason, &b.reason) < 0 || strdup_opt(verity, &b.verity) < 0) {
                boot_record_done(&b);
                return -ENOMEM;
        }
        if (s->n_boots == BOOT_HISTORY_MAX) {
                boot_record_done(&s->boots[0]);
                memmove(s->boots, s->boots + 1, sizeof(s->boots[0]) * (BOOT_HISTORY_MAX - 1));
                s->n_boots--;
        }
        s->boots[s->n_boots++] = b;
        return 0;
}

BootRecord *state_last_boot(State *s, int slot) {
        for (unsigned i = s->n_boots; i > 0; i--)
                if (s->boots[i - 1].slot == slot)
                        return &s->boots[i - 1];
        return NULL;
}

static int slot_state_from_string(const char *s) {
        for (int i = 0; i < _SLOT_STATE_MAX; i++)
                if (strcmp(s, slot_state_table[i]) == 0)
                        return i;
        return -EINVAL;
}

void state_init(State *s) {
        *s = (State) { .booted = -1, .active = -1, .next_boot = -1, .switching = -1, .staged = -1, .boot_tries = -1 };
}

void state_done(State *s) {
        for (int i = 0; i < SLOT_MAX; i++)
                slot_info_done(&s->slots[i]);
        for (unsigned i = 0; i < s->n_boots; i++)
                boot_record_done(&s->boots[i]);
        free(s->version_floor);
        state_init(s);
}

#define corrupt(...) log_debug_errno(EUCLEAN, "state.json: " __VA_ARGS__)

static int get_slot_ref(json_object *o, const char *key, int *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
                *ret = -1;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string) || slot_from_name(json_object_get_string(v)) < 0)
                return corrupt("\"%s\" must be a slot name or null.", key);
        *ret = slot_from_name(json_object_get_string(v));
        return 0;
}

static int get_bool(json_object *o, const char *key, bool *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return 0;
        if (!json_object_is_type(v, json_type_boolean))
                return corrupt("\"%s\" must be a boolean.", key);
        *ret = json_object_get_boolean(v);
        return 0;
}

static int dup_opt_string(json_object *o, const char *key, char **ret) {
        const char *s = NULL;
        int r = json_get_string(o, key, true, &s);

        if (r < 0)
                return corrupt("\"%s\" must be a string or null.", key);
        if (s) {
                *ret = strdup(s);
                if (!*ret)
                        return -ENOMEM;
        }
        return 0;
}

int state_load(const char *dir, State *ret) {
        static const char *const keys[] = { "format", "slots", "booted", "active", "next_boot", "switching", "staged",
                                            "boot_tries", "good", "version_floor", "boots", NULL };
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        json_object *slots, *boots = NULL, *v;
        bool slot_has_good[SLOT_MAX] = {};
        uint64_t format, tries;
        State s;
        size_t len;
        int r;

        state_init(&s);
        path = path_join(dir, STATE_FILE);
        if (!path)
                return -ENOMEM;
        /* Whoever else could write the directory could replace the state (or a slot it names). */
        r = dir_open_safe_at(AT_FDCWD, dir, dir, &dfd);
        if (r == -ENOENT) {
                *ret = s;
                return 0;
        }
        if (r < 0)
                return r;
        fd = openat(dfd, STATE_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        r = fd < 0 ? -errno : read_regular_fd(fd, STATE_MAX_SIZE, &buf, &len);
        if (r == -ENOENT) {
                *ret = s;
                return 0;
        }
        if (r == -EFBIG)
                return corrupt("larger than %u bytes.", STATE_MAX_SIZE);
        /* A symlink, a directory, a FIFO or a device where the file should be (whoever had the
         * disk offline can leave one): not a state, so corrupt, to be moved aside, not followed. */
        if (r == -ELOOP || r == -EBADFD)
                return corrupt("not a regular file.");
        if (r < 0)
                return log_debug_errno(r, "Cannot read %s: %m", path);

        if (json_parse_strict(buf, len, &root) < 0 || !json_object_is_type(root, json_type_object))
                return corrupt("not a JSON object.");
        if (json_check_keys(root, keys, NULL) < 0)
                return corrupt("unknown field.");
        if (json_get_u64(root, "format", false, 1000, &format) < 0 || format != 1)
                return corrupt("unsupported format.");
        if (json_get_object(root, "slots", false, &slots) < 0)
                return corrupt("\"slots\" missing.");
        static const char *const known_slots[] = { "a", "b", NULL };
        if (json_check_keys(slots, known_slots, NULL) < 0)
                return corrupt("unknown slot in \"slots\".");

        for (int i = 0; i < SLOT_MAX; i++) {
                static const char *const slot_keys[] = { "state", "version", "fstype", "good", "unconfirmed", "failed", NULL };
                const char *st = NULL;
                json_object *o;
                uint64_t n = 0;

                if (json_get_object(slots, slot_names[i], false, &o) < 0 || json_check_keys(o, slot_keys, NULL) < 0 ||
                    json_get_string(o, "state", false, &st) < 0 || slot_state_from_string(st) < 0) {
                        r = corrupt("slot %s is malformed.", slot_names[i]);
                        goto fail;
                }
                s.slots[i].state = (SlotState) slot_state_from_string(st);
                if ((r = dup_opt_string(o, "version", &s.slots[i].version)) < 0 ||
                    (r = dup_opt_string(o, "fstype", &s.slots[i].fstype)) < 0)
                        goto fail;
                if ((r = get_bool(o, "good", &s.slots[i].good)) < 0)
                        goto fail;
                slot_has_good[i] = json_object_object_get_ex(o, "good", NULL);
                if (json_get_u64(o, "unconfirmed", true, UNCONFIRMED_MAX, &n) < 0) {
                        r = corrupt("slot %s: \"unconfirmed\" must be a small integer.", slot_names[i]);
                        goto fail;
                }
                s.slots[i].unconfirmed = (unsigned) n;
                if ((r = dup_opt_string(o, "failed", &s.slots[i].failed)) < 0)
                        goto fail;
                if (s.slots[i].state == SLOT_READY && (!s.slots[i].version || !version_is_valid(s.slots[i].version) || !s.slots[i].fstype)) {
                        r = corrupt("ready slot %s has no valid version or fstype.", slot_names[i]);
                        goto fail;
                }
        }
        if ((r = get_slot_ref(root, "booted", &s.booted)) < 0 || (r = get_slot_ref(root, "active", &s.active)) < 0 ||
            (r = get_slot_ref(root, "next_boot", &s.next_boot)) < 0 ||
            (r = get_slot_ref(root, "switching", &s.switching)) < 0 || (r = get_slot_ref(root, "staged", &s.staged)) < 0 ||
            (r = dup_opt_string(root, "version_floor", &s.version_floor)) < 0)
                goto fail;
        r = json_get_u64(root, "boot_tries", true, 100, &tries);
        if (r < 0) {
                r = corrupt("\"boot_tries\" must be a small integer or null.");
                goto fail;
        }
        s.boot_tries = json_object_object_get_ex(root, "boot_tries", &v) && !json_object_is_type(v, json_type_null) ? (int) tries : -1;
        if ((r = get_bool(root, "good", &s.good)) < 0)
                goto fail;
        /* "good" is the next boot's; files written before slots had their own flag say it only there. */
        if (s.good && s.next_boot >= 0 && s.slots[s.next_boot].state == SLOT_READY && !slot_has_good[s.next_boot])
                s.slots[s.next_boot].good = true;
        if (json_get_array(root, "boots", true, &boots) < 0) {
                r = corrupt("\"boots\" must be a list.");
                goto fail;
        }
        for (size_t i = 0, n = boots ? json_object_array_length(boots) : 0; i < n; i++) {
                static const char *const boot_keys[] = { "slot", "version", "result", "reason", "verity", "time", NULL };
                json_object *o = json_object_array_get_idx(boots, i);
                const char *result = NULL, *version = NULL, *reason = NULL, *verity = NULL;
                uint64_t t = 0;
                int slot;

                if (!json_object_is_type(o, json_type_object) || json_check_keys(o, boot_keys, NULL) < 0 ||
                    get_slot_ref(o, "slot", &slot) < 0 || slot < 0 || json_get_string(o, "result", false, &result) < 0 ||
                    boot_result_from_string(result) < 0 || json_get_string(o, "version", true, &version) < 0 ||
                    json_get_string(o, "reason", true, &reason) < 0 || json_get_string(o, "verity", true, &verity) < 0 ||
                    json_get_u64(o, "time", true, INT64_MAX, &t) < 0) {
                        r = corrupt("boot %zu of \"boots\" is malformed.", i);
                        goto fail;
                }
                r = state_add_boot(&s, slot, version, (BootResult) boot_result_from_string(result), reason, verity, t);
                if (r < 0)
                        goto fail;
        }
        if (s.version_floor && !version_is_valid(s.version_floor)) {
                r = corrupt("\"version_floor\" is not a valid version.");
                goto fail;
        }
        if (s.active >= 0 && s.slots[s.active].state != SLOT_READY) {
                r = corrupt("the active slot %s is not ready.", slot_names[s.active]);
                goto fail;
        }
        *ret = s;
        return 0;
fail:
        state_done(&s);
        return r;
}

static json_object *slot_ref(int slot) {
        return slot >= 0 ? json_object_new_string(slot_names[slot]) : NULL;
}

static json_object *opt_string(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

char *state_to_json(const State *s) {
        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        json_object *slots = json_object_new_object();
        char *out;

        if (!root || !slots) {
                json_object_put(slots);
                return NULL;
        }
        json_object_object_add(root, "format", json_object_new_int(1));
        json_object_object_add(root, "slots", slots);
        for (int i = 0; i < SLOT_MAX; i++) {
                json_object *o = json_object_new_object();
                if (!o)
                        return NULL;
                json_object_object_add(slots, slot_names[i], o);
                json_object_object_add(o, "state", json_object_new_string(slot_state_table[s->slots[i].state]));
                json_object_object_add(o, "version", opt_string(s->slots[i].version));
                json_object_object_add(o, "fstype", opt_string(s->slots[i].fstype));
                if (s->slots[i].state == SLOT_EMPTY)
                        continue;
                json_object_object_add(o, "good", json_object_new_boolean(s->slots[i].good));
                /* A count at the most state_load() takes stays there: it already means "too many". */
                json_object_object_add(o, "unconfirmed",
                                       json_object_new_int64(MIN(s->slots[i].unconfirmed, UNCONFIRMED_MAX)));
                json_object_object_add(o, "failed", opt_string(s->slots[i].failed));
        }
        json_object_object_add(root, "booted", slot_ref(s->booted));
        json_object_object_add(root, "active", slot_ref(s->active));
        json_object_object_add(root, "next_boot", slot_ref(s->next_boot));
        json_object_object_add(root, "switching", slot_ref(s->switching));
        json_object_object_add(root, "staged", slot_ref(s->staged));
        json_object_object_add(root, "boot_tries", s->boot_tries >= 0 ? json_object_new_int(s->boot_tries) : NULL);
        json_object_object_add(root, "good", json_object_new_boolean(s->good));
        json_object_object_add(root, "version_floor", opt_string(s->version_floor));
        if (s->n_boots > 0) {
                json_object *boots = json_object_new_array();
                if (!boots)
                        return NULL;
                json_object_object_add(root, "boots", boots);
                for (unsigned i = 0; i < s->n_boots; i++) {
                        const BootRecord *b = &s->boots[i];
                        json_object *o = json_object_new_object();
                        if (!o)
                                return NULL;
                        json_object_array_add(boots, o);
                        json_object_object_add(o, "slot", slot_ref(b->slot));
                        json_object_object_add(o, "version", opt_string(b->version));
                        json_object_object_add(o, "result", json_object_new_string(boot_result_table[b->result]));
                        json_object_object_add(o, "reason", opt_string(b->reason));
                        json_object_object_add(o, "verity", opt_string(b->verity));
                        json_object_object_add(o, "time", json_object_new_int64((int64_t) b->time));
                }
        }
        if (asprintf(&out, "%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED)) < 0)
                return NULL;
        return out;
}

int state_save(const char *dir, const State *s) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_close_ int dfd = -EBADF;
        int r;

        /* Never write what state_load() would refuse: the next command would stop at it. */
        if (s->boot_tries > 100 || (s->active >= 0 && s->slots[s->active].state != SLOT_READY) ||
            (s->version_floor && !version_is_valid(s->version_floor)))
                return log_debug_errno(EINVAL, "Refusing to record an inconsistent state.");
        for (int i = 0; i < SLOT_MAX; i++)
                if (s->slots[i].state == SLOT_READY &&
                    (!s->slots[i].version || !version_is_valid(s->slots[i].version) || !s->slots[i].fstype))
                        return log_debug_errno(EINVAL, "Refusing to record an inconsistent state.");
        path = path_join(dir, STATE_FILE);
        text = state_to_json(s);
        if (!path || !text)
                return -ENOMEM;
        if (strlen(text) > STATE_MAX_SIZE) {
                /* Strings loaded from a file someone else wrote can grow when written back (json-c
                 * escapes "/" and control characters): rather than a file the next load refuses,
                 * the oldest boots of the history go, then why the slots failed. A shallow copy:
                 * nothing of it is freed here. */
                State t = *s;

                while (strlen(text) > STATE_MAX_SIZE) {
                        bool dropped = false;

                        if (t.n_boots > 0) {
                                memmove(t.boots, t.boots + 1, sizeof(t.boots[0]) * (t.n_boots - 1));
                                t.n_boots--;
                                dropped = true;
                        } else
                                for (int i = 0; i < SLOT_MAX; i++)
                                        if (t.slots[i].failed) {
                                                t.slots[i].failed = NULL;
                                                dropped = true;
                                        }
                        if (!dropped)
                                return log_debug_errno(EFBIG, "The state would be larger than %u bytes.", STATE_MAX_SIZE);
                        free(text);
                        text = state_to_json(&t);
                        if (!text)
                                return -ENOMEM;
                }
        }
        r = mkdir_parents(dir, 0755);
        if (r < 0)
                return log_debug_errno(r, "Cannot create %s: %m", dir);
        r = dir_open_safe_at(AT_FDCWD, dir, dir, &dfd);
        if (r < 0)
                return r;
        r = write_file_atomic_at(dfd, STATE_FILE, text, strlen(text), 0644);
        if (r < 0)
                return log_debug_errno(r, "Cannot write %s: %m", path);
        return 0;
}

void booted_done(Booted *b) {
        free(b->version);
        free(b->verity);
        *b = (Booted) { .slot = -1, .tries_left = -1 };
}

int booted_load(const char *run_dir, Booted *ret) {
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_free_ char *path = path_join(run_dir, "booted.json"), *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *slot = NULL, *version = NULL, *verity = NULL;
        json_object *v;
        Booted b = { .slot = -1, .tries_left = -1 };
        size_t len;
        int r;

        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = read_full_fd(fd, 4096, &buf, &len);
        if (r < 0)
                return r;
        if (json_parse_strict(buf, len, &root) < 0 || !json_object_is_type(root, json_type_object) ||
            json_get_string(root, "slot", false, &slot) < 0 || slot_from_name(slot) < 0 ||
            json_get_string(root, "version", false, &version) < 0 || !version_is_valid(version) ||
            json_get_string(root, "verity", true, &verity) < 0)
                return log_debug_errno(EUCLEAN, "%s makes no sense: ignored.", path);
        b.slot = slot_from_name(slot);
        b.version = strdup(version);
        b.verity = verity ? strdup(verity) : NULL;
        if (!b.version || (verity && !b.verity)) {
                booted_done(&b);
                return -ENOMEM;
        }
        if (json_object_object_get_ex(root, "trial", &v) && json_object_is_type(v, json_type_boolean))
                b.trial = json_object_get_boolean(v);
        if (json_object_object_get_ex(root, "tries_left", &v) && json_object_is_type(v, json_type_int))
                b.tries_left = json_object_get_int(v);
        *ret = b;
        return 0;
}

void state_apply_booted(const char *run_dir, State *s) {
        Booted b;

        if (booted_load(run_dir, &b) < 0)
                return;
        s->booted = b.slot;
        booted_done(&b);
}
