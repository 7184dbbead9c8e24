/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* While a slot is live its files are immutable (FS_IMMUTABLE_FL, where the filesystem has it):
 * nothing, root included, writes to the bytes that were verified and then mounted without first
 * clearing the flag. Best effort: -EOPNOTSUPP filesystems are accepted (debug log). */
int slot_seal(const char *state_dir, int slot, bool sealed);

/* slot_clear() of a sealed slot: unseals it first. */
int slot_unseal_and_clear(const char *state_dir, int slot);
