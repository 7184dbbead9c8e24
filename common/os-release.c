/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "os-release.h"

#define OS_RELEASE_MAX (64U * 1024U)

static char *unquote(const char *v, size_t len) {
        char *out = malloc(len + 1), *o = out;

        if (!out)
                return NULL;
        if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
                char q = v[0];
                for (size_t i = 1; i < len - 1; i++) {
                        if (q == '"' && v[i] == '\\' && i + 1 < len - 1)
                                i++;
                        *o++ = v[i];
                }
        } else {
                memcpy(o, v, len);
                o += len;
        }
        *o = 0;
        return out;
}

int os_release_parse(const char *text, size_t len, OsRelease *ret) {
        _cleanup_free_ char *id = NULL, *image_version = NULL, *version_id = NULL;
        const char *p = text, *end = text + len;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p)) ?: end, *eq;
                char **dest = NULL;

                while (p < nl && (*p == ' ' || *p == '\t'))
                        p++;
                eq = memchr(p, '=', (size_t) (nl - p));
                if (*p != '#' && eq) {
                        size_t klen = (size_t) (eq - p), vlen = (size_t) (nl - eq - 1);
                        const char *v = eq + 1;

                        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t' || v[vlen - 1] == '\r'))
                                vlen--;
                        if (klen == 2 && memcmp(p, "ID", 2) == 0)
                                dest = &id;
                        else if (klen == 13 && memcmp(p, "IMAGE_VERSION", 13) == 0)
                                dest = &image_version;
                        else if (klen == 10 && memcmp(p, "VERSION_ID", 10) == 0)
                                dest = &version_id;
                        if (dest) {
                                free(*dest);
                                *dest = unquote(v, vlen);
                                if (!*dest)
                                        return -ENOMEM;
                        }
                }
                p = nl + 1;
        }

        ret->id = TAKE_PTR(id);
        ret->version = image_version && *image_version ? TAKE_PTR(image_version) : TAKE_PTR(version_id);
        return 0;
}

int os_release_read_at(int dir_fd, const char *path, OsRelease *ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        /* The file may sit in a tree someone else controls (another namespace, an image being
         * checked): never through a symlink out of dir_fd, never block on a FIFO or a device, a
         * regular file only, and size-capped. */
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };

        fd = (int) syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
        if (fd < 0)
                return -errno;
        r = read_regular_fd(fd, OS_RELEASE_MAX, &buf, &len);
        if (r < 0)
                return r;
        return os_release_parse(buf, len, ret);
}

void os_release_done(OsRelease *o) {
        free(o->id);
        free(o->version);
        *o = (OsRelease) {};
}
