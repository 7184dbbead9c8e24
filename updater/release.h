/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "namespace.h"

/* The end of deferrals: a service's own release, a deadline, a newer update that needs the slot a
 * deferral holds, and recovery after a crash. Every way ends the same: old tops go only where a
 * newer image lies beneath, so a namespace only ever moves forward. */

/* osupdate release: drops the old top in the namespace of pid (0: our own) if an update is pending
 * there. Returns 1 if released, 0 if nothing was pending (nothing changed). */
int release_namespace(const Config *cfg, pid_t pid);

/* osupdate release --check: 1 and the pending version/deadline if an update is pending for the
 * namespace of pid (0: ours), else 0. */
int release_check(const Config *cfg, pid_t pid, char **ret_version, time_t *ret_deadline);

/* Forces every deferral whose deadline has passed; forgets namespaces that are gone (and only
 * those: a namespace that cannot be opened for another reason keeps its record). Returns the
 * number forced. Every osupdate command runs it first. */
int release_expired(const Config *cfg);

/* Ends the recorded deferrals of the namespaces (from discovery) that hold one of the slots in
 * slot_mask at their target: a newer update needs that slot. Others are left alone. */
int release_holding(const Config *cfg, const MountNamespace *l, size_t n, unsigned slot_mask);

/* After a crash in the middle of a switch (from discovery and the records, see plan_recover()):
 * unrecorded stacks move forward, records of namespaces with one image left are dropped, a
 * container the plan updates and the switch had not reached gets a clone (version: the switching
 * slot's, for its record if it defers). Sets
 * *ret_switched when the new slot went in. */
int release_recover(const Config *cfg, unsigned switching_mask, const char *version, bool *ret_switched);
