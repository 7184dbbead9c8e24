/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* STUB: the agent itself comes next. */
#include <errno.h>
#include "cmd-agent.h"
int cmd_agent(const CliArgs *c) { (void) c; return -EOPNOTSUPP; }
