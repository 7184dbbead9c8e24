/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "config.h"
#include "policy.h"

/* Loads PolicyDirectory=/ *.conf in lexical order, one rule per file:
 *   [Match]  Unit= Cgroup= Executable= (globs)  Container=yes|no
 *   [Policy] Mode=force|defer|skip  Deadline=30min  Notify=none|SIGHUP|…
 * with the defaults of osupdate.conf's [Policy] section. A missing directory means no rules.
 * Errors name file and line (exit 4), so an apply with a broken policy changes nothing. */
int policy_load(const Config *cfg, PolicySet *ret);
