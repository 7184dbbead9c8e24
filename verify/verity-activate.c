/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libcryptsetup.h>

#include "cleanup.h"
#include "log.h"
#include "verity-activate.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct crypt_device *, crypt_free);

bool verity_kernel_available(void) {
        return access("/dev/mapper/control", F_OK) == 0;
}

int verity_open(const char *data, const char *hash_path, const VerityParams *p, const uint8_t *root, size_t root_size,
                bool use_kernel, VerityOnCorruption on_corruption, const char *name, char **ret_device) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        struct crypt_params_verity params = {
                .hash_name = p->hash_name,
                .data_device = data,
                .salt = (const char *) p->salt,
                .salt_size = (uint32_t) p->salt_size,
                .data_block_size = p->data_block_size,
                .hash_block_size = p->hash_block_size,
                .data_size = p->data_size / p->data_block_size,
                .hash_area_offset = 0,
                .hash_type = 1,
                /* Without CHECK_HASH at load time, a NULL-name activation verifies nothing at all. */
                .flags = use_kernel ? 0 : CRYPT_VERITY_CHECK_HASH,
        };
        uint32_t flags = CRYPT_ACTIVATE_READONLY;
        char *dev;
        int r;

        if (on_corruption == VERITY_ON_CORRUPTION_RESTART)
                flags |= CRYPT_ACTIVATE_RESTART_ON_CORRUPTION;
        else if (on_corruption == VERITY_ON_CORRUPTION_PANIC)
                flags |= CRYPT_ACTIVATE_PANIC_ON_CORRUPTION;
        r = crypt_init_data_device(&cd, hash_path, data);
        if (r < 0)
                return log_debug_errno(r, "Cannot open hash tree %s for %s: %m", hash_path, data);
        r = crypt_load(cd, CRYPT_VERITY, &params);
        if (r < 0)
                return log_debug_errno(r, "Cannot read the verity superblock of %s: %m", hash_path);

        r = crypt_activate_by_volume_key(cd, use_kernel ? name : NULL, (const char *) root, root_size,
                                         use_kernel ? flags : 0);
        /* libcryptsetup: -EPERM "verification failed at position N", -EFAULT "root hash failed". */
        if (r == -EPERM || r == -EFAULT)
                return log_debug_errno(EBADMSG, "dm-verity: %s does not match the signed root hash.", data);
        if (r < 0)
                return log_debug_errno(r, "dm-verity activation of %s failed: %m", data);

        if (use_kernel) {
                if (asprintf(&dev, "/dev/mapper/%s", name) < 0)
                        return -ENOMEM;
        } else {
                dev = strdup(data);
                if (!dev)
                        return -ENOMEM;
        }
        *ret_device = dev;
        return 0;
}

int verity_close(const char *name) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        int r;

        r = crypt_init_by_name(&cd, name);
        if (r < 0)
                return r;
        r = crypt_deactivate_by_name(cd, name, CRYPT_DEACTIVATE_DEFERRED);
        return r;
}
