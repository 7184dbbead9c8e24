/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "log.h"
#include "slot-seal.h"
#include "slot.h"
#include "state.h"

static int seal_one(int dir_fd, const char *name, bool sealed) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        int flags;

        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
                return -errno;
        if (!!(flags & FS_IMMUTABLE_FL) == sealed)
                return 0;
        flags = sealed ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
        if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
                return -errno;
        return 0;
}

int slot_seal(const char *state_dir, int slot, bool sealed) {
        static const char *const files[] = { SLOT_IMAGE, SLOT_TREE, SLOT_MANIFEST, SLOT_SIGNATURE };
        _cleanup_free_ char *dir = slot_path(state_dir, slot);
        _cleanup_close_ int dfd = -EBADF;

        if (!dir)
                return -ENOMEM;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? 0 : -errno;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                int r = seal_one(dfd, files[i], sealed);
                if (r == -EOPNOTSUPP || r == -ENOTTY) {
                        log_debug("%s: this filesystem has no immutable flag; slot %s is not sealed.", dir, slot_name(slot));
                        return 0;
                }
                if (r < 0)
                        return log_debug_errno(r, "Cannot %s %s/%s: %m", sealed ? "seal" : "unseal", dir, files[i]);
        }
        return 0;
}

int slot_unseal_and_clear(const char *state_dir, int slot) {
        (void) slot_seal(state_dir, slot, false);
        return slot_clear(state_dir, slot);
}
