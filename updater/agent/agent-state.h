/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agent.h"

/* StateDirectory/agent.json: what the agent accepted and the action it carries, durable across a
 * crash or a reboot (written atomically like state.json: temporary file, fsync, rename, fsync of
 * the directory). Every field may be absent (an older or fresh file):
 *
 * {"format": 1,
 *  "channel": {"url": "https://…/stable.json", "name": "stable", "serial": 7, "digest": "<hex>",
 *              "version": "2.1"},
 *  "machine_id": "…", "bucket": 42.17,
 *  "last_check": 1764237000, "next_check": 1764240600, "last_error": "…", "errors": 0,
 *  "rollout": "10 %", "reached": 10.0, "step": "idle", "reason": "…",
 *  "action": {"id": "stable/7/2.1", "version": "2.1", "previous_version": "2.0",
 *             "phase": "checking", "result": "none", "lock_held": true, "lock_taken": 1764237010123,
 *             "lock_released": 0 (milliseconds), "started": 1764237001, "finished": 0, "output": "…"},
 *  "failed_versions": ["2.1"],
 *  "history": [{"id": …, "version": …, "result": "success"|"failure", "finished": …, "output": …}]}
 * (the last AGENT_HISTORY_MAX actions, oldest first) */

#define AGENT_HISTORY_MAX 8
#define AGENT_FAILED_MAX 32
#define AGENT_OUTPUT_MAX 4096

typedef struct AgentAction {
        char *id;                       /* "<channel>/<serial>/<version>"; NULL: no action */
        char *version;
        char *previous_version;
        AgentPhase phase;
        AgentResult result;
        bool lock_held;
        uint64_t lock_taken, lock_released;     /* milliseconds since the epoch, 0: not */
        uint64_t started, finished;
        char *output;                   /* the failing check's output, or why it failed */
} AgentAction;

typedef struct AgentState {
        char *channel_url;
        char *channel_name;
        uint64_t serial;
        bool has_serial;
        char *digest;                   /* hex SHA-256 of the signed text */
        char *channel_version;
        char *machine_id;
        double bucket;
        uint64_t last_check, next_check;
        char *last_error;
        unsigned errors;                /* polls in a row that failed (the backoff) */
        /* The last decision, for osupdate status: "rollout": "10 %" or "linear, 2026-… + 2d",
         * "reached": 34.2, "step": an agent_step_to_string(), "reason": the planner's words. */
        char *rollout;
        double reached;
        char *step;
        char *reason;
        AgentAction action;
        char **failed_versions;         /* NULL-terminated */
        AgentAction history[AGENT_HISTORY_MAX];
        unsigned n_history;
} AgentState;

void agent_state_init(AgentState *s);
void agent_state_done(AgentState *s);
void agent_action_done(AgentAction *a);

/* Missing file: a fresh state (0). -EUCLEAN: corrupt (logged; the caller decides); -ELOOP: the
 * directory is unsafe (dir_check_safe()). */
int agent_state_load(const char *dir, AgentState *ret);
int agent_state_save(const char *dir, const AgentState *s);
char *agent_state_to_json(const AgentState *s);

/* Moves the current action (phase DONE) into the history (the oldest goes when full) and clears it. */
int agent_state_archive_action(AgentState *s);
/* Adds v to failed_versions (once; the oldest goes beyond AGENT_FAILED_MAX). */
int agent_state_give_up(AgentState *s, const char *v);
bool agent_state_failed(const AgentState *s, const char *v);
