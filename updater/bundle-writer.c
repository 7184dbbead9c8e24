/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive-util.h"
#include "bundle-writer.h"
#include "fileio.h"
#include "log.h"

#define COPY_BUFFER_SIZE (1024U * 1024U)

static int write_member(struct archive *a, const BundleMember *m, time_t mtime, void *buf) {
        _cleanup_(archive_entry_freep) struct archive_entry *e = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint64_t size = m->data_len;

        if (m->path) {
                struct stat st;

                fd = open(m->path, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || fstat(fd, &st) < 0)
                        return log_error_errno(errno, "Cannot read %s: %m", m->path);
                size = (uint64_t) st.st_size;
        }

        e = archive_entry_new();
        if (!e)
                return log_oom();
        archive_entry_set_pathname(e, m->name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        archive_entry_set_uname(e, "root");
        archive_entry_set_gname(e, "root");
        archive_entry_set_mtime(e, mtime, 0);
        archive_entry_set_size(e, (la_int64_t) size);
        if (archive_write_header(a, e) != ARCHIVE_OK)
                return log_error_errno(EIO, "Cannot write bundle member %s: %s", m->name, archive_error_string(a));

        if (!m->path) {
                if (archive_write_data(a, m->data, m->data_len) != (la_ssize_t) m->data_len)
                        return log_error_errno(EIO, "Cannot write bundle member %s: %s", m->name, archive_error_string(a));
                return 0;
        }
        for (uint64_t done = 0; done < size;) {
                ssize_t n = loop_read(fd, buf, (size_t) MIN((uint64_t) COPY_BUFFER_SIZE, size - done));
                if (n < 0)
                        return log_error_errno((int) n, "Cannot read %s: %m", m->path);
                if (n == 0)
                        return log_error_errno(EIO, "%s shrank while being written to the bundle.", m->path);
                if (archive_write_data(a, buf, (size_t) n) != n)
                        return log_error_errno(EIO, "Cannot write bundle member %s: %s", m->name, archive_error_string(a));
                done += (uint64_t) n;
        }
        return 0;
}

/* A temporary file next to path, so the final rename stays within one file system. Returns the
 * fd; *ret gets the name only once the file exists. */
static int bundle_temp_create(const char *path, char **ret) {
        _cleanup_free_ char *tmp = NULL;
        int fd;

        if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0)
                return log_oom();
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Cannot create %s: %m", tmp);
        *ret = TAKE_PTR(tmp);
        return fd;
}

int bundle_write(const char *path, const BundleMember *members, size_t n_members, time_t mtime) {
        _cleanup_(archive_write_freep) struct archive *a = NULL;
        _cleanup_(unlink_and_freep) char *tmp = NULL;
        _cleanup_free_ void *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        buf = malloc(COPY_BUFFER_SIZE);
        a = archive_write_new();
        if (!buf || !a)
                return log_oom();
        fd = bundle_temp_create(path, &tmp);
        if (fd < 0)
                return fd;
        (void) fchmod(fd, 0644);

        /* pax: ustar headers, extended headers only where ustar cannot express a field. */
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            archive_write_open_fd(a, fd) != ARCHIVE_OK)
                return log_error_errno(EIO, "Cannot start bundle %s: %s", path, archive_error_string(a));
        for (size_t i = 0; i < n_members; i++) {
                r = write_member(a, &members[i], mtime, buf);
                if (r < 0)
                        return r;
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                return log_error_errno(EIO, "Cannot finish bundle %s: %s", path, archive_error_string(a));
        if (fsync(fd) < 0)
                return log_error_errno(errno, "Cannot write %s: %m", tmp);
        if (rename(tmp, path) < 0)
                return log_error_errno(errno, "Cannot rename %s to %s: %m", tmp, path);
        free(TAKE_PTR(tmp)); /* renamed: nothing left to remove */
        return 0;
}
