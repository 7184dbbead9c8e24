/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/utsname.h>

#include "config.h"
#include "manifest.h"
#include "namespace.h"
#include "pending.h"
#include "plan.h"
#include "signature.h"
#include "state.h"

/* Everything the planner is asked with, gathered in one place: state, each slot's signed manifest
 * authenticated again now (trust at use), the host's live version, every mount namespace, the
 * recorded deferrals. Strings in `device` point into this struct. */
typedef struct Facts {
        DeviceFacts device;
        Manifest *manifests[SLOT_MAX];  /* authenticated now, NULL if not */
        char *host_id;
        char *host_version;
        struct utsname uts;
        int modules_live;       /* the live /usr has lib/modules/<uts.release>: 1 yes, 0 no */
        MountNamespace *ns;
        size_t n_ns;
        PendingList pending;
        const char **live;
} Facts;

/* keyring may be NULL: no slot authenticates then (auth -ENOKEY). */
int facts_gather(const Config *cfg, const Keyring *keyring, const State *s, time_t now, Facts *ret);
void facts_done(Facts *f);

/* Re-reads only which slots are busy (a loop device lets go of its file a moment after the last
 * unmount). */
int facts_refresh_busy(const Config *cfg, Facts *f);
/* Discovers the namespaces and reads the deferral records again (after some ended), then which
 * slots are busy and which versions are live. */
int facts_refresh_namespaces(const Config *cfg, Facts *f);

/* Loads the slot's manifest.json and manifest.sig (never through a symlink) and verifies the
 * signatures against keyring now. -EKEYREJECTED, -EBADMSG, -ENOKEY as signature_verify(). */
int facts_authenticate_slot(const Config *cfg, const Keyring *keyring, int slot, Manifest **ret);

/* Does the tree at dir_fd have lib/modules/RELEASE, a directory reached without a symlink and
 * without leaving the tree (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)? 1 yes, 0 no (absent,
 * not a directory, a symlink on the way), -errno when it cannot be told. */
int facts_has_modules_at(int dir_fd, const char *release);
