/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "cli.h"

/* osupdate apply | fetch | status | mark-good | rollback | gc | release, parsed by updater/cli.c. */
int cmd_apply(const CliArgs *c);
int cmd_fetch(const CliArgs *c);
int cmd_status(const CliArgs *c);
int cmd_mark_good(const CliArgs *c);
int cmd_rollback(const CliArgs *c);
int cmd_gc(const CliArgs *c);
int cmd_release(const CliArgs *c);
