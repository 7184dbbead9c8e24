/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "install.h"
#include "log.h"
#include "parse-util.h"
#include "version.h"


int install_check_time(const Manifest *m, time_t now) {
        char a[64], b[64];

        if (m->has_expires && now >= m->expires)
                return log_debug_errno(EKEYEXPIRED, "the manifest expired at %s (now %s).",
                                       format_timestamp(a, sizeof a, m->expires), format_timestamp(b, sizeof b, now));
        return 0;
}

int install_check(const Manifest *m, const InstallFacts *f) {
        int r;

        r = install_check_time(m, f->now);
        if (r < 0)
                return r;
        if (f->os_id && strcmp(f->os_id, m->os_id) != 0)
                return log_debug_errno(EMEDIUMTYPE, "the bundle is for OS \"%s\", this device runs \"%s\".", m->os_id,
                                       f->os_id);
        if (f->architecture && strcmp(f->architecture, m->architecture) != 0)
                return log_debug_errno(EMEDIUMTYPE, "the bundle is for architecture %s, this device is %s.",
                                       m->architecture, f->architecture);
        if (f->version_floor && version_compare(m->version, f->version_floor) < 0)
                return log_debug_errno(ESTALE, "version %s is below this device's version floor %s.", m->version,
                                       f->version_floor);
        if (f->running_version && version_compare(m->version, f->running_version) <= 0)
                return log_debug_errno(ESTALE, "version %s is not newer than the running version %s.", m->version,
                                       f->running_version);
        if (m->min_version && f->running_version && version_compare(f->running_version, m->min_version) < 0)
                return log_debug_errno(ENOPKG, "version %s requires the device to run at least %s first (it runs %s).",
                                       m->version, m->min_version, f->running_version);
        return 0;
}
