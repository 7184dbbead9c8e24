/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "namespace.h"
#include "plan.h"

/* Carries out a switch plan (policy/plan.h) after the new image is tucked beneath the host's
 * target:
 *  1. records every deferral with its deadline (write-ahead: before any old top goes);
 *  2. if the plan is per namespace, makes the new mount private, so the host's unmount reaches no
 *     other namespace (unmount propagation follows the parent: the new mount);
 *  3. removes the host's old top (if it switches now) — without (2) that one unmount switches
 *     every namespace that received the new mount;
 *  4. tucks a clone beneath the target of each container that takes the update, from inside;
 *  5. removes the old tops of the namespaces that switch from inside, all in one child;
 *  6. notifies the matched processes of deferring namespaces, and arms the earliest deadline.
 * l[i] and plan->steps[i] describe the same namespace. */
typedef struct PropagateReport {
        unsigned forced;
        unsigned deferred;
        unsigned skipped;
        unsigned overridden;    /* deferrals a critical update forced */
        time_t next_deadline;   /* 0: none */
} PropagateReport;

int propagate_execute(const Config *cfg, const SwitchPlan *plan, const MountNamespace *l, size_t n, int mount_fd,
                      const char *version, PropagateReport *ret);

/* Arms a timer that runs `osupdate release --expired` at `when`: a transient systemd timer where
 * systemd runs, else a detached process that holds nothing of ours. */
void propagate_schedule_deadline(const Config *cfg, time_t when);

/* Builds the planner's view of the namespaces from discovery (ns must have n entries). */
void propagate_switch_facts(const MountNamespace *l, size_t n, SwitchNamespace *ns);
