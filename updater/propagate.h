/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "policy.h"

/* After the new image is tucked beneath the host's target: removes the old top per policy.
 *  - Only force namespaces (or none deferring/skipping): the host's unmount propagates to every
 *    namespace that holds a slave copy of the new mount — one syscall for all of them.
 *  - Otherwise the new mount is made private first, so the host's unmount reaches no other
 *    namespace (unmount propagation follows the parent: the new mount); each force namespace's
 *    old top is then removed from inside it (setns), and defer namespaces keep theirs — on their
 *    current version, never older — until `osupdate release` or their deadline.
 *  - Containers (own peer group) get a clone of the new mount tucked beneath their target from
 *    inside, then force or defer as above; skip leaves them alone.
 * Deferrals are recorded in RuntimeDirectory/pending.json. */

typedef struct PropagateReport {
        unsigned forced;
        unsigned deferred;
        unsigned skipped;
        unsigned overridden;    /* deferrals a critical update forced */
        time_t next_deadline;   /* 0: none */
} PropagateReport;

int propagate_switch(const Config *cfg, const PolicySet *ps, int mount_fd, const char *version, bool critical,
                     PropagateReport *ret);

/* A namespace nested in a forced service switches with it whatever its own policy: its copy of
 * the new mount is a slave of its parent service's, and unmount propagation follows that parent.
 * Makes the decisions say so (mode force, overridden) and returns how many changed. */
struct MountNamespace;
unsigned propagate_effective(const struct MountNamespace *l, size_t n, PolicyDecision *dec, bool verbose);

/* osupdate release: drops the old top in the namespace of pid (0: our own) if an update is
 * pending there. Returns 1 if released, 0 if nothing was pending (nothing changed). */
int propagate_release(const Config *cfg, pid_t pid);

/* osupdate release --check: 1 and the pending version/deadline if an update is pending for the
 * namespace of pid (0: ours), else 0. */
int propagate_check(const Config *cfg, pid_t pid, char **ret_version, time_t *ret_deadline);

/* Forces every deferral whose deadline has passed (and forgets namespaces that are gone).
 * Returns the number forced. Every osupdate command runs it first. */
int propagate_enforce_deadlines(const Config *cfg);

/* Ends every deferral now: the namespaces move forward to the live version. Used when a newer
 * update needs the slot a deferring namespace still holds (never older: they go forward). */
int propagate_force_pending(const Config *cfg);
