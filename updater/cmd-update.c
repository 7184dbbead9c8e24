/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "cmd-update.h"
#include "config.h"
#include "json-util.h"
#include "log.h"
#include "mount.h"
#include "verity-activate.h"

enum { OPT_CONFIG = 0x100, OPT_KEYS, OPT_JSON, OPT_RAISE_FLOOR };

typedef struct Args {
        const char *config;
        const char *keys;
        bool json;
        bool raise_floor;
        const char *operand;
} Args;

/* Parses the options every verb shares; `allowed` lists which. */
static int parse_args(int argc, char *argv[], const char *verb, bool want_operand, unsigned allowed, Args *a) {
        static const struct option options[] = {
                { "config", required_argument, NULL, OPT_CONFIG },
                { "keys", required_argument, NULL, OPT_KEYS },
                { "json", no_argument, NULL, OPT_JSON },
                { "raise-floor", no_argument, NULL, OPT_RAISE_FLOOR },
                {},
        };
        int c;

        *a = (Args) {};
        optind = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                if (c == '?' || !(allowed & (1U << (c - OPT_CONFIG))))
                        goto usage;
                switch (c) {
                case OPT_CONFIG: a->config = optarg; break;
                case OPT_KEYS: a->keys = optarg; break;
                case OPT_JSON: a->json = true; break;
                case OPT_RAISE_FLOOR: a->raise_floor = true; break;
                }
        }
        if (want_operand && optind == argc - 1) {
                a->operand = argv[optind];
                return 0;
        }
        if (!want_operand && optind == argc)
                return 0;
usage:
        fprintf(stderr, "osupdate: error: invalid arguments for '%s'. See 'osupdate --help'.\n", verb);
        return -EINVAL;
}

#define A_CONFIG (1U << 0)
#define A_KEYS (1U << 1)
#define A_JSON (1U << 2)
#define A_FLOOR (1U << 3)

static int load_config(const Args *a, Config *cfg) {
        return config_load(a->config, cfg) < 0 ? -ENOEXEC : 0;
}

static int fail(int r, const char *what) {
        return log_error_errno(r, "%s: %s", what, log_detail() ?: strerror(-r));
}

static int load_keyring(const Args *a, const Config *cfg, Keyring *k) {
        const char *dirs[2] = { a->keys ?: cfg->keys_directory, a->keys ? NULL : VENDOR_KEYS_DIRECTORY };
        int r;

        for (size_t i = 0; i < 2 && dirs[i]; i++) {
                r = keyring_load_dir(k, dirs[i]);
                if (r == -ENOENT && (i > 0 || !a->keys))
                        continue;
                if (r < 0)
                        return log_error_errno(r, "Cannot read trusted keys from %s: %m", dirs[i]);
        }
        if (k->n_keys == 0)
                return log_error_errno(ENOKEY, "No trusted keys in %s: nothing can be verified.", dirs[0]);
        return 0;
}

static void print_switch(const ApplyResult *res, const char *what) {
        printf("%s: %s -> %s in slot %s%s.\n", what, res->previous_version ?: "(none)", res->version ?: "?",
               slot_name(res->slot), res->degraded ? " (verity checked in userspace: degraded, no device-mapper)" : "");
}

int cmd_apply(int argc, char *argv[]) {
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(keyring_done) Keyring keyring = {};
        _cleanup_(apply_result_done) ApplyResult res = { .slot = -1 };
        Args a;
        int r;

        r = parse_args(argc, argv, "apply", true, A_CONFIG | A_KEYS, &a);
        if (r < 0)
                return r;
        r = load_config(&a, &cfg);
        if (r < 0)
                return r;
        r = load_keyring(&a, &cfg, &keyring);
        if (r < 0)
                return r;
        r = update_apply(&cfg, &keyring, a.operand, &res);
        if (r == -EOPNOTSUPP && res.staged_only) {
                log_error("%s", log_detail() ?: "staged for the next boot");
                return r;
        }
        if (r < 0)
                return fail(r, "apply failed");
        print_switch(&res, "Updated live");
        return 0;
}

int cmd_rollback(int argc, char *argv[]) {
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(apply_result_done) ApplyResult res = { .slot = -1 };
        Args a;
        int r;

        r = parse_args(argc, argv, "rollback", false, A_CONFIG, &a);
        if (r < 0)
                return r;
        r = load_config(&a, &cfg);
        if (r < 0)
                return r;
        r = update_rollback(&cfg, &res);
        if (r < 0)
                return fail(r, "rollback failed");
        print_switch(&res, "Rolled back live");
        return 0;
}

int cmd_mark_good(int argc, char *argv[]) {
        _cleanup_(config_done) Config cfg = {};
        Args a;
        int r;

        r = parse_args(argc, argv, "mark-good", false, A_CONFIG | A_FLOOR, &a);
        if (r < 0)
                return r;
        r = load_config(&a, &cfg);
        if (r < 0)
                return r;
        r = update_mark_good(&cfg, a.raise_floor);
        if (r < 0)
                return fail(r, "mark-good failed");
        printf("Marked the active slot good%s.\n", a.raise_floor ? " and raised the version floor to it" : "");
        return 0;
}

int cmd_gc(int argc, char *argv[]) {
        _cleanup_(config_done) Config cfg = {};
        Args a;
        int r;

        r = parse_args(argc, argv, "gc", false, A_CONFIG, &a);
        if (r < 0)
                return r;
        r = load_config(&a, &cfg);
        if (r < 0)
                return r;
        r = update_gc(&cfg);
        if (r < 0)
                return fail(r, "gc failed");
        printf("Freed %d slot(s).\n", r);
        return 0;
}

static const char *slot_or_none(int s) {
        return s >= 0 ? slot_name(s) : "none";
}

int cmd_status(int argc, char *argv[]) {
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(state_done) State s = {};
        _cleanup_free_ char *id = NULL, *live = NULL;
        const char *mode;
        bool dm;
        int beneath, r;
        Args a;

        r = parse_args(argc, argv, "status", false, A_CONFIG | A_JSON, &a);
        if (r < 0)
                return r;
        r = load_config(&a, &cfg);
        if (r < 0)
                return r;
        state_init(&s);
        r = state_load(cfg.state_directory, &s);
        if (r == -EUCLEAN)
                return log_error_errno(ENOTRECOVERABLE, "%s/state.json is corrupt: %s", cfg.state_directory, log_detail() ?: "");
        if (r < 0)
                return fail(r, "Cannot read the state");
        (void) update_live_os(&cfg, &id, &live);
        dm = verity_kernel_available();
        beneath = mount_beneath_supported();
        mode = cfg.verity == VERITY_MODE_USERSPACE || (cfg.verity == VERITY_MODE_AUTO && !dm) ? "userspace" : "kernel";

        if (a.json) {
                _cleanup_(json_object_putp) json_object *o = NULL, *k = NULL;
                _cleanup_free_ char *text = state_to_json(&s);

                if (!text || json_parse_strict(text, strlen(text), &o) < 0)
                        return log_oom();
                json_object_object_add(o, "target", json_object_new_string(cfg.target));
                json_object_object_add(o, "live_version", live ? json_object_new_string(live) : NULL);
                json_object_object_add(o, "live_os_id", id ? json_object_new_string(id) : NULL);
                json_object_object_add(o, "verity_mode", json_object_new_string(mode));
                json_object_object_add(o, "degraded", json_object_new_boolean(strcmp(mode, "userspace") == 0));
                k = json_object_new_object();
                json_object_object_add(k, "mount_beneath", beneath >= 0 ? json_object_new_boolean(beneath) : NULL);
                json_object_object_add(k, "device_mapper", json_object_new_boolean(dm));
                json_object_object_add(o, "kernel", TAKE_PTR(k));
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
                return 0;
        }

        printf("Target:        %s, live %s %s\n", cfg.target, id ?: "?", live ?: "(unknown version)");
        for (int i = 0; i < SLOT_MAX; i++)
                printf("Slot %s:        %s%s%s%s%s%s\n", slot_name(i), slot_state_to_string(s.slots[i].state),
                       s.slots[i].version ? ", version " : "", s.slots[i].version ?: "", i == s.active ? ", active" : "",
                       i == s.next_boot ? ", next boot" : "", i == s.booted ? ", booted" : "");
        printf("Booted:        %s\nActive:        %s\nNext boot:     %s\n", slot_or_none(s.booted),
               slot_or_none(s.active), slot_or_none(s.next_boot));
        if (s.boot_tries >= 0)
                printf("Boot tries:    %d left until 'osupdate mark-good'\n", s.boot_tries);
        else
                printf("Marked good:   %s\n", s.good ? "yes" : "no");
        printf("Version floor: %s\n", s.version_floor ?: "none");
        if (s.staged >= 0)
                printf("Staged:        slot %s, version %s, for the next boot (this kernel cannot mount beneath)\n",
                       slot_name(s.staged), s.slots[s.staged].version ?: "?");
        if (s.switching >= 0)
                printf("Interrupted:   a switch to slot %s; the next apply finishes it\n", slot_name(s.switching));
        printf("Verity:        %s%s (Verity=%s)\n", mode, strcmp(mode, "userspace") == 0 ? ", degraded: whole tree checked before mounting" : "",
               verity_mode_to_string(cfg.verity));
        printf("Kernel:        mount-beneath %s, device-mapper %s\n", beneath > 0 ? "yes" : beneath == 0 ? "no" : "unknown",
               dm ? "yes" : "no");
        return 0;
}
