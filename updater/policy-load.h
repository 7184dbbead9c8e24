/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "config.h"
#include "policy.h"

/* Loads PolicyDirectory=/ *.conf in lexical order, one rule per file:
 *   [Match]  Unit= Cgroup= Executable= (globs)  Container=yes|no
 *   [Policy] Mode=force|defer|skip  Deadline=30min  Notify=none|SIGHUP|…
 * with the defaults of osupdate.conf's [Policy] section. A missing directory means no rules.
 * A broken rule is -ENOEXEC, logged with file and line (exit 4), so an apply with a broken policy
 * changes nothing; a directory that cannot be listed is its errno (logged), -ENOMEM is -ENOMEM. */
int policy_load(const Config *cfg, PolicySet *ret);
