/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "log.h"
#include "slot-auth.h"
#include "state.h"

char *slot_path(const char *state_dir, int slot) {
        char *p;

        if (asprintf(&p, "%s/slots/%s", state_dir, slot_name(slot)) < 0)
                return NULL;
        return p;
}

bool slot_is_complete(const char *state_dir, int slot) {
        static const char *const files[] = { SLOT_IMAGE, SLOT_TREE, SLOT_MANIFEST, SLOT_SIGNATURE };
        _cleanup_free_ char *dir = slot_path(state_dir, slot);
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (!dir)
                return false;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if (fstatat(fd, files[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        return false;
        return true;
}

static int read_slot_file(const char *dir, const char *name, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return log_debug_errno(errno, "Cannot open %s: %m", dir);
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return log_debug_errno(errno, "Cannot open %s/%s: %m", dir, name);
        return read_full_fd(fd, max, ret, ret_len);
}

int slot_authenticate(const char *state_dir, int slot, const Keyring *keyring, unsigned required, Manifest **ret) {
        _cleanup_free_ char *dir = slot_path(state_dir, slot), *m = NULL, *sig = NULL;
        size_t m_len, sig_len;
        int r;

        if (!dir)
                return -ENOMEM;
        if (!keyring || keyring->n_keys == 0)
                return -ENOKEY;
        r = read_slot_file(dir, SLOT_MANIFEST, MANIFEST_MAX_SIZE, &m, &m_len);
        if (r < 0)
                return r;
        r = read_slot_file(dir, SLOT_SIGNATURE, 1024 * 1024, &sig, &sig_len);
        if (r < 0)
                return r;
        r = signature_verify(m, m_len, sig, sig_len, keyring, required, NULL);
        if (r < 0)
                return log_debug_errno(r, "The manifest stored in slot %s does not authenticate: %m", slot_name(slot));
        return manifest_parse(m, m_len, ret);
}
