/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* STUB: replaced by the lock helper. */
#include <errno.h>
#include "cmd-agent.h"
int cmd_lock_status(const CliArgs *c) { (void) c; return -EOPNOTSUPP; }
int cmd_lock_acquire(const CliArgs *c) { (void) c; return -EOPNOTSUPP; }
int cmd_lock_release(const CliArgs *c) { (void) c; return -EOPNOTSUPP; }
