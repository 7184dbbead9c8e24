/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <time.h>

#include "manifest.h"

/* May this (authenticated) manifest be installed on this device now? No I/O: facts in,
 * decision out. A NULL fact is not checked. */
typedef struct InstallFacts {
        const char *os_id;
        const char *architecture;
        const char *running_version;
        const char *version_floor;
        time_t now;
} InstallFacts;

/* 0 if allowed, else:
 *   -EKEYEXPIRED  the manifest has expired
 *   -EMEDIUMTYPE  built for another OS id or architecture
 *   -ESTALE       not newer than the running version, or below the version floor
 *   -ENOPKG       the device must first run at least min_version
 * The reason is explained at debug level (log_detail()). */
int install_check(const Manifest *m, const InstallFacts *f);

/* Only the time checks (for `bundle verify`, which knows nothing of the device). */
int install_check_time(const Manifest *m, time_t now);
