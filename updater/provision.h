/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "cli.h"

/* osupdate provision BUNDLE --root DIR: for image builders, offline. Verifies the bundle as a
 * fetch would and writes it into slot a of DIR's state directory, active, next to boot and good.
 * No mount, no device-mapper, no privileges beyond owning DIR. */
int cmd_provision(const CliArgs *a);
