/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "config.h"

/* The health verdict after a switch (osupdate agent): every HealthCheck= command line, then every
 * executable file in HealthCheckDirectory= (in name order; dot files and non-executables are
 * skipped), each run without a shell (the line split as systemd splits ExecStart=: quotes,
 * backslash escapes; strv_split_quoted()), stdin /dev/null, stdout and stderr captured, in its own
 * process group, killed with its group (SIGTERM, then SIGKILL 2 s later) after HealthTimeout=.
 * Environment: the agent's, plus OSUPDATE_VERSION (the version checked) and OSUPDATE_PREVIOUS_VERSION.
 *
 * Returns 1 all passed (none configured: passed, and *ret_output says so), 0 one failed: the first
 * failing check is the verdict, *ret_output = "CHECK exited 3: <last 4 KiB of its output>" (or
 * "killed by signal 9", "timed out after 2min", "cannot run: No such file or directory"); negative
 * errno only for the agent's own failures (out of memory, HealthCheckDirectory= unreadable). */
int health_run(const AgentConfig *a, const char *version, const char *previous_version, char **ret_output);
