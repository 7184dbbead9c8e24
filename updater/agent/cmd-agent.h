/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "cli.h"

/* The fleet verbs, parsed by updater/cli.c. */
int cmd_channel_create(const CliArgs *c);       /* updater/agent/cmd-channel.c */
int cmd_channel_verify(const CliArgs *c);       /* updater/agent/cmd-channel.c */
int cmd_agent(const CliArgs *c);                /* updater/agent/cmd-agent.c */
int cmd_lock_status(const CliArgs *c);          /* updater/agent/cmd-lock.c */
int cmd_lock_acquire(const CliArgs *c);
int cmd_lock_release(const CliArgs *c);
