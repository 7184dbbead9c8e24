/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "state.h"

/* What every state-changing command shares: the lock, state.json, recovery from an interrupted run. */

/* Trial boots a newly live or staged slot gets until `osupdate mark-good`. */

/* Holds RuntimeDirectory/lock (flock): one apply, rollback, mark-good or gc at a time.
 * -EBUSY when another holds it. */
int update_lock(const Config *cfg, int *ret_fd);
/* The same; with wait, blocks until the running command is done (the deadline timer). */
int update_lock_full(const Config *cfg, bool wait, int *ret_fd);

/* The live version under Target (from its lib/os-release), and its OS id. */
int update_live_os(const Config *cfg, char **ret_id, char **ret_version);

/* The lock, then passed deadlines enforced, then state.json (a corrupt one changes nothing and
 * says so: -ENOTRECOVERABLE), then, if asked, recovery. */
int session_begin(const Config *cfg, bool recover, int *ret_lock, State *ret_state);
int session_save(const Config *cfg, const State *s);
/* Forgets a slot in the state (and every role it had but active). */
void session_forget_slot(State *s, int slot);

/* Finishes or undoes what a crash interrupted, from state.json, the deferral records and what is
 * mounted where (plan_recover()): leftovers of an unfinished write are removed (a resumable
 * download stays); an interrupted switch is rolled forward if the new image went in anywhere,
 * else abandoned. Saves the state if it changed. */
int update_recover(const Config *cfg, State *state);
