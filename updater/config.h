/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "verity-activate.h"

typedef enum VerityMode {
        VERITY_MODE_AUTO,
        VERITY_MODE_KERNEL,
        VERITY_MODE_USERSPACE,
        _VERITY_MODE_MAX,
        _VERITY_MODE_INVALID = -22,
} VerityMode;

#define BOOT_TRIES_DEFAULT 3
#define BOOT_LIMIT_DEFAULT 3

typedef struct BootConfig {
        unsigned tries;                 /* Tries=: trial boots of a newly installed slot */
        unsigned limit;                 /* Limit=: boots in a row without mark-good before a good slot falls back */
        VerityOnCorruption on_corruption;
} BootConfig;

typedef struct NetworkConfig {
        char *ca_file;
        char *client_certificate;
        char *client_key;
        char *user_agent;
        char **headers;           /* Header=, repeatable: "Name: value" */
        char **mirrors;           /* Mirror=, repeatable: base URLs tried after the source's own */
        uint64_t connect_timeout_usec;
        unsigned low_speed_limit;
        uint64_t low_speed_time_usec;
        unsigned retries;
        uint64_t retry_delay_usec;
        uint64_t max_bytes;
} NetworkConfig;

/* [Agent]: the fleet rollout agent (osupdate agent; docs/agent.md). */
typedef struct AgentConfig {
        char *channel;                  /* Channel=URL of the signed channel document; NULL: none */
        char *machine_id_file;          /* MachineID=: a file holding the id (default /etc/machine-id) … */
        char *machine_id;               /* … or the id itself, if MachineID= is not a path */
        char *group;                    /* Group= (FleetLock group, [a-zA-Z0-9.-]+), default "default" */
        uint64_t interval_usec;         /* Interval=, default 1h; each poll ± 10 % jitter */
        int strategy;                   /* Strategy= (an AgentStrategy), default immediate */
        char **windows;                 /* Window=, repeatable ("" empties); parsed by window_parse() */
        char *time_zone;                /* TimeZone=: IANA name, "UTC" (default) or "localtime" */
        double wariness;                /* Wariness=, 0 … 1, default 0 */
        char *fleet_lock;               /* FleetLock=URL (base of /v1/pre-reboot) */
        char **etcd;                    /* Etcd=URL …: etcd v3 endpoints (space-separated or repeated) */
        unsigned lock_slots;            /* LockSlots=: total_slots when the agent creates the semaphore, default 1 */
        char **health_checks;           /* HealthCheck=, repeatable: command lines, split as ExecStart= */
        char *health_check_directory;   /* HealthCheckDirectory=: each executable in it, in name order */
        uint64_t health_timeout_usec;   /* HealthTimeout=, per check, default 2min */
        uint64_t grace_usec;            /* Grace=: how long after the switch the checks may keep
                                         * failing before the verdict is failure, default 0 (once) */
        int backend;                    /* Backend= (an AgentBackend), default channel */
} AgentConfig;

typedef enum AgentBackend {
        AGENT_BACKEND_CHANNEL,          /* Channel=: a signed channel document */
        AGENT_BACKEND_HAWKBIT,          /* [hawkBit]: Eclipse hawkBit's DDI API (docs/hawkbit.md) */
        _AGENT_BACKEND_MAX,
} AgentBackend;

/* [hawkBit]: the DDI back-end (Backend=hawkbit; docs/hawkbit.md). Tokens are never logged. */
typedef struct HawkbitConfig {
        char *server;                   /* Server=: http:// or https:// base URL */
        char *tenant;                   /* Tenant=, default DEFAULT */
        char *controller_id;            /* ControllerID=, NULL: the machine id */
        char *target_token;             /* TargetToken= … */
        char *target_token_file;        /* … or TargetTokenFile= (first line) */
        char *gateway_token;            /* GatewayToken= … */
        char *gateway_token_file;       /* … or GatewayTokenFile= */
        char **attributes;              /* Attributes=, repeatable: "key=value" */
        bool auto_confirm;              /* AutoConfirm= */
} HawkbitConfig;

typedef struct Config {
        char *path;               /* the --config file, NULL: the default places */
        char *target;
        char *state_directory;
        char *keys_directory;
        char *policy_directory;
        char *runtime_directory;  /* lock and notices, default /run/osupdate */
        char *os_id;              /* NULL: from <target>/lib/os-release */
        unsigned signatures_required;
        VerityMode verity;
        int default_mode;               /* [Policy] DefaultMode= (a PolicyMode), force */
        uint64_t default_deadline_usec; /* [Policy] DefaultDeadline=, 0: none */
        NetworkConfig network;
        BootConfig boot;
        AgentConfig agent;
        HawkbitConfig hawkbit;
} Config;

#define CONFIG_DEFAULT_FILE "/etc/osupdate/osupdate.conf"
#define CONFIG_VENDOR_FILE "/usr/lib/osupdate/osupdate.conf"
#define VENDOR_KEYS_DIRECTORY "/usr/lib/osupdate/keys.d"

/* Loads the defaults, then either `path` (it must exist) and its `path`.d/ *.conf drop-ins, or,
 * with path NULL, the vendor file, /etc/osupdate/osupdate.conf and its osupdate.conf.d/ *.conf
 * drop-ins, in lexical order, each where it exists. Errors name file and line and leave *ret
 * untouched: -ENOEXEC for every configuration error (exit 4; a `path` or drop-in directory that
 * cannot be read included), -ENOMEM. Callers return it as it is. */
int config_load(const char *path, Config *ret);
/* The same as config_load(NULL) with other places (osupdate provision: those of an image root):
 * each NULL or missing one is skipped. */
int config_load_files(const char *vendor_file, const char *default_file, const char *dropin_dir, Config *ret);
void config_done(Config *c);

const char *verity_mode_to_string(VerityMode m);
VerityMode verity_mode_from_string(const char *s);
const char *verity_on_corruption_to_string(VerityOnCorruption v);

/* The trusted keys: keys_dir if given (it must exist), else KeysDirectory= and the vendor
 * directory, each where it exists. -ENOKEY (logged) when there are none. */
struct Keyring;
int config_load_keyring(const Config *cfg, const char *keys_dir, struct Keyring *ret);
