/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "manifest.h"
#include "signature.h"

/* What the live updater and the boot stage share about a written slot: where it is, and whether
 * its stored signed manifest authenticates with a given keyring now. No network, no archive code:
 * osupdate-initrd links this. */

/* A complete slot's files (while being written, each is <name>.partial). */
#define SLOT_IMAGE "image"
#define SLOT_TREE "verity"
#define SLOT_MANIFEST "manifest.json"
#define SLOT_SIGNATURE "manifest.sig"

/* StateDirectory/slots/<a|b> (NULL: out of memory). */
char *slot_path(const char *state_dir, int slot);

/* Are all four final files there, regular files (no symlink followed)? */
bool slot_is_complete(const char *state_dir, int slot);

/* Reads slots/<slot>/manifest.json and manifest.sig (neither followed if a symlink), verifies the
 * signatures against keyring (at least `required` of them) and parses the manifest. -ENOKEY with
 * no keys, -ENOENT for a missing file, the signature's or the parser's error otherwise. */
int slot_authenticate(const char *state_dir, int slot, const Keyring *keyring, unsigned required, Manifest **ret);
