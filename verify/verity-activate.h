/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "verity-hash.h"

typedef enum VerityActivation {
        VERITY_ACTIVATION_KERNEL,       /* a dm-verity device checks every read */
        VERITY_ACTIVATION_USERSPACE,    /* no device-mapper: the whole tree was checked once (degraded) */
} VerityActivation;

/* What a dm-verity device does when a block read later does not match ([Boot] OnCorruption=). */
typedef enum VerityOnCorruption {
        VERITY_ON_CORRUPTION_RESTART,   /* reboot: the boot stage counts it and falls back */
        VERITY_ON_CORRUPTION_PANIC,
        VERITY_ON_CORRUPTION_EIO,       /* the read fails, the system goes on */
        _VERITY_ON_CORRUPTION_MAX,
        _VERITY_ON_CORRUPTION_INVALID = -22,
} VerityOnCorruption;

/* Is device-mapper usable here (/dev/mapper/control)? */
bool verity_kernel_available(void);

/* Opens data (a block device, e.g. the read-only loop device of a slot's image) with the tree at
 * hash_path and the signed root hash, through libcryptsetup:
 *  - kernel: activates dm-verity device `name` and returns /dev/mapper/<name> in ret_device;
 *  - userspace: verifies every block against the tree (CRYPT_VERITY_CHECK_HASH must be set at
 *    crypt_load time, or libcryptsetup checks nothing) and returns a copy of data.
 * on_corruption applies to the kernel's device only.
 * -EBADMSG when the data or the tree does not match the root hash. */
int verity_open(const char *data, const char *hash_path, const VerityParams *p, const uint8_t *root, size_t root_size,
                bool use_kernel, VerityOnCorruption on_corruption, const char *name, char **ret_device);

/* Removes dm-verity device `name` (deferred if it is still in use). */
int verity_close(const char *name);
