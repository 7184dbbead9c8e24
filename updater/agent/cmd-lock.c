/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd-agent.h"
#include "config.h"
#include "json-util.h"
#include "lock.h"
#include "log.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(LockClient *, lock_client_free);

static int fail(int r, const char *what) {
        return log_error_errno(r, "%s: %s", what, log_detail() ?: strerror(-r));
}

/* The holder's id: --id, else MachineID= (the id itself, or the first line of its file). */
static int machine_id(const CliArgs *a, const Config *cfg, char **ret) {
        const char *id = cli_value(a, CLI_ID);
        _cleanup_fclose_ FILE *f = NULL;
        char line[256];
        size_t l;

        if (id || cfg->agent.machine_id) {
                *ret = strdup(id ?: cfg->agent.machine_id);
                return *ret ? 0 : log_oom();
        }
        f = fopen(cfg->agent.machine_id_file, "re");
        if (!f)
                return log_error_errno(errno, "Cannot read the machine id from %s: %m (set MachineID= or pass --id).",
                                       cfg->agent.machine_id_file);
        if (!fgets(line, sizeof line, f))
                line[0] = 0;
        l = strcspn(line, "\r\n");
        line[l] = 0;
        if (l == 0)
                return log_error_errno(ENOENT, "%s holds no machine id (set MachineID= or pass --id).", cfg->agent.machine_id_file);
        *ret = strdup(line);
        return *ret ? 0 : log_oom();
}

static bool charset_ok(const char *s, size_t max, const char *set) {
        size_t l = strlen(s);
        return l > 0 && l <= max && strspn(s, set) == l;
}

/* Loads the configuration and checks --id / --group before anything goes over the network. */
static int setup(const CliArgs *a, bool want_id, Config *cfg, LockClient **ret_client, char **ret_id, const char **ret_group) {
        _cleanup_free_ char *id = NULL;
        const char *group;
        int r;

        r = config_load(cli_value(a, CLI_CONFIG), cfg);
        if (r < 0)
                return r;
        group = cli_value(a, CLI_GROUP) ?: cfg->agent.group;
        if (!charset_ok(group, 64, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"))
                return cli_usage_error(a, "invalid --group \"%s\": 1 to 64 of [a-zA-Z0-9.-]", group);
        if (want_id) {
                r = machine_id(a, cfg, &id);
                if (r < 0)
                        return r;
                if (!charset_ok(id, 128, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")) {
                        if (cli_value(a, CLI_ID))
                                return cli_usage_error(a, "invalid --id \"%s\": 1 to 128 of [a-zA-Z0-9._-]", id);
                        return log_error_errno(EINVAL, "The machine id \"%s\" is not 1 to 128 of [a-zA-Z0-9._-]: pass --id.", id);
                }
        }
        r = lock_client_new(cfg, ret_client);
        if (r < 0)
                return r;
        if (ret_id)
                *ret_id = TAKE_PTR(id);
        *ret_group = group;
        return 0;
}

int cmd_lock_status(const CliArgs *a) {
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(lock_client_freep) LockClient *c = NULL;
        _cleanup_strv_free_ char **holders = NULL;
        const char *group;
        unsigned total = 0;
        size_t n = 0;
        int r;

        r = setup(a, false, &cfg, &c, NULL, &group);
        if (r < 0)
                return r;
        if (cfg.agent.fleet_lock)
                /* Not -EOPNOTSUPP: its exit code (27) says "staged, not live". What is missing is a
                 * setting. */
                return log_error_errno(ENOEXEC, "lock status: the FleetLock protocol (FleetLock=%s) has no way to ask who "
                                       "holds the semaphore; read it from etcd instead: Etcd=URL in [Agent] (or etcdctl get "
                                       "com.coreos.airlock/groups/%s/v1/semaphore).", cfg.agent.fleet_lock, group);
        log_detail_clear();
        r = lock_status(c, group, &total, &holders);
        if (r == -ENOENT) {
                if (cli_flag(a, CLI_JSON))
                        printf("{\"group\":\"%s\",\"exists\":false,\"total_slots\":null,\"holders\":[]}\n", group);
                else
                        printf("Group:   %s\nSlots:   none yet (the first lock acquire creates the semaphore with LockSlots=%u)\n",
                               group, cfg.agent.lock_slots);
                return 0;
        }
        if (r < 0)
                return fail(r, "lock status");
        while (holders[n])
                n++;
        if (cli_flag(a, CLI_JSON)) {
                _cleanup_(json_object_putp) json_object *o = json_object_new_object();
                json_object *arr = json_object_new_array();
                if (!o || !arr) {
                        json_object_put(arr);
                        return log_oom();
                }
                json_object_object_add(o, "group", json_object_new_string(group));
                json_object_object_add(o, "exists", json_object_new_boolean(true));
                json_object_object_add(o, "total_slots", json_object_new_int64(total));
                json_object_object_add(o, "holders", arr);
                for (size_t i = 0; i < n; i++)
                        json_object_array_add(arr, json_object_new_string(holders[i]));
                json_object_object_add(o, "free", json_object_new_int64(n >= total ? 0 : (int64_t) (total - n)));
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                return 0;
        }
        printf("Group:   %s\nSlots:   %u (%zu held, %zu free)\nHolders:", group, total, n, n >= total ? 0 : (size_t) total - n);
        for (size_t i = 0; i < n; i++)
                printf("%s%s", i == 0 ? " " : ", ", holders[i]);
        printf("%s\n", n == 0 ? " (none)" : "");
        return 0;
}

/* lock acquire / lock release: one call of the client, then what the machine holds now. */
static int lock_verb(const CliArgs *a, bool take) {
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(lock_client_freep) LockClient *c = NULL;
        _cleanup_free_ char *id = NULL;
        const char *group;
        int r;

        r = setup(a, true, &cfg, &c, &id, &group);
        if (r < 0)
                return r;
        log_detail_clear();
        r = take ? lock_acquire(c, id, group) : lock_release(c, id, group);
        if (r < 0)
                return fail(r, take ? "lock acquire" : "lock release");
        if (!cli_quiet(a))
                printf("%s holds %s slot of group %s's fleet semaphore.\n", id, take ? "a" : "no", group);
        return 0;
}

int cmd_lock_acquire(const CliArgs *a) {
        return lock_verb(a, true);
}

int cmd_lock_release(const CliArgs *a) {
        return lock_verb(a, false);
}
