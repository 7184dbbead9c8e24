/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

typedef enum VerityMode {
        VERITY_MODE_AUTO,
        VERITY_MODE_KERNEL,
        VERITY_MODE_USERSPACE,
        _VERITY_MODE_MAX,
        _VERITY_MODE_INVALID = -22,
} VerityMode;

typedef struct Config {
        char *target;
        char *state_directory;
        char *keys_directory;
        char *policy_directory;
        char *runtime_directory;  /* lock and notices, default /run/osupdate */
        char *os_id;              /* NULL: from <target>/lib/os-release */
        unsigned signatures_required;
        VerityMode verity;
} Config;

#define CONFIG_DEFAULT_FILE "/etc/osupdate/osupdate.conf"
#define CONFIG_VENDOR_FILE "/usr/lib/osupdate/osupdate.conf"
#define VENDOR_KEYS_DIRECTORY "/usr/lib/osupdate/keys.d"

/* Loads the defaults, then either `path` (it must exist) and its `path`.d/ *.conf drop-ins, or,
 * with path NULL, the vendor file, /etc/osupdate/osupdate.conf and its osupdate.conf.d/ *.conf
 * drop-ins, in lexical order, each where it exists. Errors name file and line and leave *ret
 * untouched. */
int config_load(const char *path, Config *ret);
void config_done(Config *c);

const char *verity_mode_to_string(VerityMode m);
