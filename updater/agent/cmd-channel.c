/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* STUB: replaced by the channel helper. */
#include <errno.h>
#include "cmd-agent.h"
int cmd_channel_create(const CliArgs *c) { (void) c; return -EOPNOTSUPP; }
int cmd_channel_verify(const CliArgs *c) { (void) c; return -EOPNOTSUPP; }
