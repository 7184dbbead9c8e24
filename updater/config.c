/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf-parser.h"
#include "config.h"
#include "fileio.h"
#include "log.h"
#include "parse-util.h"
#include "agent.h"
#include "policy.h"
#include "signature.h"

static const char *const verity_mode_table[_VERITY_MODE_MAX] = {
        [VERITY_MODE_AUTO] = "auto",
        [VERITY_MODE_KERNEL] = "kernel",
        [VERITY_MODE_USERSPACE] = "userspace",
};

const char *verity_mode_to_string(VerityMode m) {
        return m >= 0 && m < _VERITY_MODE_MAX ? verity_mode_table[m] : NULL;
}

VerityMode verity_mode_from_string(const char *s) {
        for (int i = 0; i < _VERITY_MODE_MAX; i++)
                if (strcmp(s, verity_mode_table[i]) == 0)
                        return (VerityMode) i;
        return _VERITY_MODE_INVALID;
}

static int parse_verity_mode(const char *value, void *data) {
        VerityMode m = verity_mode_from_string(value);

        if (m < 0)
                return -EINVAL;
        *(VerityMode *) data = m;
        return 0;
}

static const char *const on_corruption_table[_VERITY_ON_CORRUPTION_MAX] = {
        [VERITY_ON_CORRUPTION_RESTART] = "restart",
        [VERITY_ON_CORRUPTION_PANIC] = "panic",
        [VERITY_ON_CORRUPTION_EIO] = "eio",
};

const char *verity_on_corruption_to_string(VerityOnCorruption v) {
        return v >= 0 && v < _VERITY_ON_CORRUPTION_MAX ? on_corruption_table[v] : NULL;
}

static int parse_on_corruption(const char *value, void *data) {
        for (int i = 0; i < _VERITY_ON_CORRUPTION_MAX; i++)
                if (strcmp(value, on_corruption_table[i]) == 0) {
                        *(VerityOnCorruption *) data = (VerityOnCorruption) i;
                        return 0;
                }
        return -EINVAL;
}

/* Tries= and Limit=: 1…100 (0 would never boot a new slot, or never boot a good one twice). */
static int parse_boot_count(const char *value, void *data) {
        unsigned v;
        int r = conf_parse_unsigned(value, &v);
        if (r < 0 || v < 1 || v > 100)
                return -EINVAL;
        *(unsigned *) data = v;
        return 0;
}

static int parse_signatures_required(const char *value, void *data) {
        unsigned v;
        int r = conf_parse_unsigned(value, &v);
        if (r < 0 || v < 1 || v > 16)
                return -EINVAL;
        *(unsigned *) data = v;
        return 0;
}

static int parse_os_id(const char *value, void *data) {
        if (!*value || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(value))
                return -EINVAL;
        return conf_parse_string(value, data);
}

static int parse_default_mode(const char *value, void *data) {
        PolicyMode m = policy_mode_from_string(value);

        if (m < 0)
                return -EINVAL;
        *(int *) data = m;
        return 0;
}

static int parse_header(const char *value, void *data) {
        const char *colon = strchr(value, ':');

        /* "Name: value"; no line breaks, which would smuggle in other headers. */
        if (!colon || colon == value || strpbrk(value, "\r\n"))
                return -EINVAL;
        return conf_parse_strv(value, data);
}

static int parse_mirror(const char *value, void *data) {
        if (*value && strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
                return -EINVAL;
        return conf_parse_strv(value, data);
}

static int parse_url(const char *value, void *data) {
        if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
                return -EINVAL;
        return conf_parse_string(value, data);
}

/* Channel=: a URL, or an absolute path to a local document (tests, air-gapped sites). */
static int parse_channel(const char *value, void *data) {
        return value[0] == '/' ? conf_parse_path(value, data) : parse_url(value, data);
}

/* Etcd=URL …: several separated by blanks on one line, or repeated; "" empties the list. */
static int parse_etcd(const char *value, void *data) {
        _cleanup_free_ char *copy = strdup(value);
        char *save = NULL;
        int r;

        if (!copy)
                return -ENOMEM;
        if (!*value)
                return conf_parse_strv(value, data);
        for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
                if (strncmp(w, "http://", 7) != 0 && strncmp(w, "https://", 8) != 0)
                        return -EINVAL;
                r = conf_parse_strv(w, data);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* MachineID=: an absolute path to a file holding it, or the id itself. */
static int parse_machine_id(const char *value, void *data) {
        AgentConfig *a = data;

        if (value[0] == '/') {
                free(a->machine_id);
                a->machine_id = NULL;
                return conf_parse_path(value, &a->machine_id_file);
        }
        if (!*value || strlen(value) > 128 || strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(value))
                return -EINVAL;
        free(a->machine_id_file);
        a->machine_id_file = NULL;
        return conf_parse_string(value, &a->machine_id);
}

/* Group=: FleetLock's rule, [a-zA-Z0-9.-]+. */
static int parse_group(const char *value, void *data) {
        if (!*value || strlen(value) > 64 || strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(value))
                return -EINVAL;
        return conf_parse_string(value, data);
}

static int parse_strategy(const char *value, void *data) {
        AgentStrategy s = agent_strategy_from_string(value);

        if (s < 0)
                return -EINVAL;
        *(int *) data = s;
        return 0;
}

static int parse_window(const char *value, void *data) {
        Window w;

        if (*value && window_parse(value, &w) < 0)
                return -EINVAL;
        return conf_parse_strv(value, data);
}

/* HealthCheck=: refused here if it cannot be split (a typo would otherwise fail every update's checks). */
static int parse_health_check(const char *value, void *data) {
        _cleanup_strv_free_ char **argv = NULL;

        if (*value && strv_split_quoted(value, &argv) < 0)
                return -EINVAL;
        return conf_parse_strv(value, data);
}

static int parse_wariness(const char *value, void *data) {
        char *end;
        double d;

        errno = 0;
        d = strtod(value, &end);
        if (errno != 0 || end == value || *end || !(d >= 0.0 && d <= 1.0))
                return -EINVAL;
        *(double *) data = d;
        return 0;
}

static int parse_lock_slots(const char *value, void *data) {
        unsigned v;
        int r = conf_parse_unsigned(value, &v);
        if (r < 0 || v < 1 || v > 10000)
                return -EINVAL;
        *(unsigned *) data = v;
        return 0;
}

/* A positive timespan (Interval=, HealthTimeout=). */
static int parse_positive_timespan(const char *value, void *data) {
        uint64_t v;
        int r = conf_parse_timespan(value, &v);
        if (r < 0 || v == 0)
                return -EINVAL;
        *(uint64_t *) data = v;
        return 0;
}

static int parse_time_zone(const char *value, void *data) {
        /* An IANA name (Europe/Berlin), UTC or localtime: no "..", no leading '/'. */
        if (!*value || value[0] == '/' || strstr(value, "..") ||
            strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_+-") != strlen(value))
                return -EINVAL;
        /* glibc takes a name it does not know for UTC, silently: windows would open at other hours. */
        if (strcmp(value, "UTC") != 0 && strcmp(value, "localtime") != 0) {
                _cleanup_free_ char *zone = path_join("/usr/share/zoneinfo", value);
                if (!zone)
                        return -ENOMEM;
                if (access(zone, R_OK) < 0) {
                        (void) log_error_errno(errno, "TimeZone=%s: no such time zone (%s: %m).", value, zone);
                        return -EINVAL;
                }
        }
        return conf_parse_string(value, data);
}

static int parse_backend(const char *value, void *data) {
        if (strcmp(value, "channel") == 0)
                *(int *) data = AGENT_BACKEND_CHANNEL;
        else if (strcmp(value, "hawkbit") == 0)
                *(int *) data = AGENT_BACKEND_HAWKBIT;
        else
                return -EINVAL;
        return 0;
}

/* Tenant=, ControllerID=: one path segment of the DDI URL. */
static int parse_ddi_name(const char *value, void *data) {
        if (!*value || strlen(value) > 128 ||
            strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(value))
                return -EINVAL;
        return conf_parse_string(value, data);
}

/* TargetToken=, GatewayToken=: hawkBit's tokens are alphanumeric; nothing that could break a header. */
static int parse_token(const char *value, void *data) {
        if (strlen(value) > 256 || strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-~+/=") != strlen(value))
                return -EINVAL;
        return conf_parse_string(value, data);
}

/* Attributes=key=value, repeatable; "" empties the list. */
static int parse_attribute(const char *value, void *data) {
        const char *eq = strchr(value, '=');

        if (*value && (!eq || eq == value || strpbrk(value, "\r\n")))
                return -EINVAL;
        return conf_parse_strv(value, data);
}

static void hawkbit_config_done(HawkbitConfig *h) {
        free(h->server);
        free(h->tenant);
        free(h->controller_id);
        free(h->target_token);
        free(h->target_token_file);
        free(h->gateway_token);
        free(h->gateway_token_file);
        strv_free(h->attributes);
}

static void agent_config_done(AgentConfig *a) {
        free(a->channel);
        free(a->machine_id_file);
        free(a->machine_id);
        free(a->group);
        strv_free(a->windows);
        free(a->time_zone);
        free(a->fleet_lock);
        strv_free(a->etcd);
        strv_free(a->health_checks);
        free(a->health_check_directory);
}

void config_done(Config *c) {
        agent_config_done(&c->agent);
        hawkbit_config_done(&c->hawkbit);
        free(c->path);
        free(c->target);
        free(c->state_directory);
        free(c->keys_directory);
        free(c->policy_directory);
        free(c->runtime_directory);
        free(c->os_id);
        free(c->network.ca_file);
        free(c->network.client_certificate);
        free(c->network.client_key);
        free(c->network.user_agent);
        strv_free(c->network.headers);
        strv_free(c->network.mirrors);
        *c = (Config) {};
}

static int config_defaults(Config *c) {
        *c = (Config) {
                .target = strdup("/usr"),
                .state_directory = strdup("/var/lib/osupdate"),
                .keys_directory = strdup("/etc/osupdate/keys.d"),
                .policy_directory = strdup("/etc/osupdate/policy.d"),
                .runtime_directory = strdup("/run/osupdate"),
                .signatures_required = 1,
                .verity = VERITY_MODE_AUTO,
                .boot = { .tries = BOOT_TRIES_DEFAULT, .limit = BOOT_LIMIT_DEFAULT, .on_corruption = VERITY_ON_CORRUPTION_RESTART },
                .network = {
                        .connect_timeout_usec = 30 * 1000000ULL,
                        .low_speed_limit = 1000,
                        .low_speed_time_usec = 60 * 1000000ULL,
                        .retries = 5,
                        .retry_delay_usec = 1000000ULL,
                },
                .agent = {
                        .machine_id_file = strdup("/etc/machine-id"),
                        .group = strdup("default"),
                        .interval_usec = 3600 * 1000000ULL,
                        .strategy = AGENT_STRATEGY_IMMEDIATE,
                        .time_zone = strdup("UTC"),
                        .lock_slots = 1,
                        .health_timeout_usec = 120 * 1000000ULL,
                },
                .hawkbit = {
                        .tenant = strdup("DEFAULT"),
                },
        };
        if (!c->target || !c->state_directory || !c->keys_directory || !c->policy_directory || !c->runtime_directory ||
            !c->agent.machine_id_file || !c->agent.group || !c->agent.time_zone ||
            !c->hawkbit.tenant)
                return -ENOMEM;
        return 0;
}

/* FILE.d/ *.conf in lexical order, each overriding what came before; a missing directory is fine. */
static int parse_dropins(const char *dir, const ConfItem *items) {
        _cleanup_strv_free_ char **dropins = NULL;
        int r;

        r = dir_list_suffix(dir, ".conf", &dropins);
        if (r == -ENOENT || r == -ENOTDIR)
                return 0;
        if (r < 0) {
                (void) log_error_errno(r, "Cannot list %s: %m", dir);
                return -ENOEXEC; /* a configuration that cannot be read, like conf_parse_file() */
        }
        for (char **d = dropins; *d; d++) {
                _cleanup_free_ char *p = path_join(dir, *d);
                if (!p)
                        return log_oom();
                r = conf_parse_file(p, items);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int config_load_full(const char *path, const char *vendor_file, const char *default_file,
                            const char *dropin_dir, Config *ret) {
        _cleanup_(config_done) Config c = {};
        const ConfItem items[] = {
                { "Update", "Target", conf_parse_path, &c.target },
                { "Update", "StateDirectory", conf_parse_path, &c.state_directory },
                { "Update", "KeysDirectory", conf_parse_path, &c.keys_directory },
                { "Update", "PolicyDirectory", conf_parse_path, &c.policy_directory },
                { "Update", "RuntimeDirectory", conf_parse_path, &c.runtime_directory },
                { "Update", "SignaturesRequired", parse_signatures_required, &c.signatures_required },
                { "Update", "Verity", parse_verity_mode, &c.verity },
                { "Update", "OSId", parse_os_id, &c.os_id },
                { "Policy", "DefaultMode", parse_default_mode, &c.default_mode },
                { "Policy", "DefaultDeadline", conf_parse_timespan, &c.default_deadline_usec },
                { "Network", "CAFile", conf_parse_path, &c.network.ca_file },
                { "Network", "ClientCertificate", conf_parse_path, &c.network.client_certificate },
                { "Network", "ClientKey", conf_parse_path, &c.network.client_key },
                { "Network", "UserAgent", conf_parse_string, &c.network.user_agent },
                { "Network", "Header", parse_header, &c.network.headers },
                { "Network", "Mirror", parse_mirror, &c.network.mirrors },
                { "Network", "ConnectTimeout", conf_parse_timespan, &c.network.connect_timeout_usec },
                { "Network", "LowSpeedLimit", conf_parse_unsigned, &c.network.low_speed_limit },
                { "Network", "LowSpeedTime", conf_parse_timespan, &c.network.low_speed_time_usec },
                { "Network", "Retries", conf_parse_unsigned, &c.network.retries },
                { "Network", "RetryDelay", conf_parse_timespan, &c.network.retry_delay_usec },
                { "Network", "MaxBytes", conf_parse_size, &c.network.max_bytes },
                { "Boot", "Tries", parse_boot_count, &c.boot.tries },
                { "Boot", "Limit", parse_boot_count, &c.boot.limit },
                { "Boot", "OnCorruption", parse_on_corruption, &c.boot.on_corruption },
                { "Agent", "Channel", parse_channel, &c.agent.channel },
                { "Agent", "MachineID", parse_machine_id, &c.agent },
                { "Agent", "Group", parse_group, &c.agent.group },
                { "Agent", "Interval", parse_positive_timespan, &c.agent.interval_usec },
                { "Agent", "Strategy", parse_strategy, &c.agent.strategy },
                { "Agent", "Window", parse_window, &c.agent.windows },
                { "Agent", "TimeZone", parse_time_zone, &c.agent.time_zone },
                { "Agent", "Wariness", parse_wariness, &c.agent.wariness },
                { "Agent", "FleetLock", parse_url, &c.agent.fleet_lock },
                { "Agent", "Etcd", parse_etcd, &c.agent.etcd },
                { "Agent", "LockSlots", parse_lock_slots, &c.agent.lock_slots },
                { "Agent", "HealthCheck", parse_health_check, &c.agent.health_checks },
                { "Agent", "HealthCheckDirectory", conf_parse_path, &c.agent.health_check_directory },
                { "Agent", "HealthTimeout", parse_positive_timespan, &c.agent.health_timeout_usec },
                { "Agent", "Grace", conf_parse_timespan, &c.agent.grace_usec },
                { "Agent", "Backend", parse_backend, &c.agent.backend },
                { "hawkBit", "Server", parse_url, &c.hawkbit.server },
                { "hawkBit", "Tenant", parse_ddi_name, &c.hawkbit.tenant },
                { "hawkBit", "ControllerID", parse_ddi_name, &c.hawkbit.controller_id },
                { "hawkBit", "TargetToken", parse_token, &c.hawkbit.target_token },
                { "hawkBit", "TargetTokenFile", conf_parse_path, &c.hawkbit.target_token_file },
                { "hawkBit", "GatewayToken", parse_token, &c.hawkbit.gateway_token },
                { "hawkBit", "GatewayTokenFile", conf_parse_path, &c.hawkbit.gateway_token_file },
                { "hawkBit", "Attributes", parse_attribute, &c.hawkbit.attributes },
                { "hawkBit", "AutoConfirm", conf_parse_bool, &c.hawkbit.auto_confirm },
                {},
        };
        int r;

        r = config_defaults(&c);
        if (r < 0)
                return log_oom();

        if (path) {
                _cleanup_free_ char *d = NULL;

                r = conf_parse_file(path, items);
                if (r < 0)
                        return r;
                if (asprintf(&d, "%s.d", path) < 0)
                        return log_oom();
                r = parse_dropins(d, items);
                if (r < 0)
                        return r;
        } else {
                if (vendor_file && access(vendor_file, F_OK) == 0 && (r = conf_parse_file(vendor_file, items)) < 0)
                        return r;
                if (default_file && access(default_file, F_OK) == 0 && (r = conf_parse_file(default_file, items)) < 0)
                        return r;
                r = dropin_dir ? parse_dropins(dropin_dir, items) : 0;
                if (r < 0)
                        return r;
        }

        if (path && !(c.path = strdup(path)))
                return log_oom();
        *ret = TAKE_STRUCT(c);
        return 0;
}

int config_load(const char *path, Config *ret) {
        return config_load_full(path, CONFIG_VENDOR_FILE, CONFIG_DEFAULT_FILE, CONFIG_DEFAULT_FILE ".d", ret);
}

int config_load_files(const char *vendor_file, const char *default_file, const char *dropin_dir, Config *ret) {
        return config_load_full(NULL, vendor_file, default_file, dropin_dir, ret);
}

int config_load_keyring(const Config *cfg, const char *keys_dir, Keyring *k) {
        const char *dirs[2] = { keys_dir ?: cfg->keys_directory, keys_dir ? NULL : VENDOR_KEYS_DIRECTORY };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(dirs) && dirs[i]; i++) {
                r = keyring_load_dir(k, dirs[i]);
                if (r == -ENOENT && (i > 0 || !keys_dir))
                        continue;
                if (r < 0)
                        return log_error_errno(r, "Cannot read trusted keys from %s: %m", dirs[i]);
        }
        if (k->n_keys == 0)
                return log_error_errno(ENOKEY, "No trusted keys in %s%s: nothing can be verified.", dirs[0],
                                       dirs[1] ? " or " VENDOR_KEYS_DIRECTORY : "");
        return 0;
}
