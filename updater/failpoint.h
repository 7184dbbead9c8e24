/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* OSUPDATE_FAILPOINT=<name> kills the process at that step, as a crash would (tests only). */
static inline void failpoint(const char *name) {
        const char *f = getenv("OSUPDATE_FAILPOINT");

        if (f && strcmp(f, name) == 0)
                (void) raise(SIGKILL);
}
