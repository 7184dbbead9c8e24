/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "config.h"
#include "signature.h"

/* The agent's poll (osupdate agent --once, and each turn of the daemon): load its durable state,
 * read the channel, ask the planner (policy/agent.h) for the next step, carry it out, record it,
 * ask again — until the planner says to wait. Holds StateDirectory/agent.lock throughout, so a
 * timer's --once and the daemon never interleave. */

typedef struct AgentOptions {
        bool dry_run;           /* plan once, print, change nothing (no lock taken, nothing written) */
        bool json;              /* --dry-run --json / --once --json: one JSON object on stdout */
        bool quiet;
} AgentOptions;

/* 0: done for now (up to date, waiting, healthy, staged); negative errno: the poll failed (the
 * state records it; the daemon backs off), or the planner refused the channel, or -ECANCELED:
 * the new version failed its health checks and was rolled back. */
int agent_poll(const Config *cfg, const Keyring *keyring, const AgentOptions *o, uint64_t *ret_server_sleep_usec);

/* The daemon: polls every Interval= (hawkBit: the server's config.polling.sleep) ± 10 %; after an
 * error backs off with jitter (agent_next_poll_usec()); READY=1 and WATCHDOG=1 to systemd; stops on
 * SIGTERM/SIGINT between polls. ret_server_sleep_usec (agent_poll): the server's interval, 0: none. */
int agent_daemon(const Config *cfg, const Keyring *keyring, const AgentOptions *o);

/* osupdate status: the agent's view (channel, serial, bucket, rollout, strategy, last check,
 * action and phase), as text, or added to o as "agent" (o non-NULL). Nothing when the agent never ran. */
void agent_status(const Config *cfg, json_object *o);
