/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "cli.h"

/* `osupdate bundle create|info|verify …`, parsed by updater/cli.c. Negative errno on failure. */
int cmd_bundle_create(const CliArgs *c);
int cmd_bundle_info(const CliArgs *c);
int cmd_bundle_verify(const CliArgs *c);
