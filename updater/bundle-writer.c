/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive-util.h"
#include "bundle-writer.h"
#include "fileio.h"
#include "log.h"

#define COPY_BUFFER_SIZE (1024U * 1024U)
/* File members are copied in steps of this size, and writeback of each step starts at once, so
 * the final fsync does not find a whole image of dirty pages. */
#define COPY_STEP_SIZE (32U * 1024U * 1024U)

/* Where libarchive's output goes. libarchive lays out every byte of the archive — headers,
 * padding, the end — but a file member's body is copied in the kernel straight from its file
 * (copy_file_range) to where it belongs: libarchive, never given the body, fills it with zeros
 * when the member ends, and those zeros are not written over it. The bytes are exactly those of
 * an archive written with archive_write_open_fd() and archive_write_data(). */
typedef struct BundleBody {
        uint64_t from, to;
} BundleBody;

typedef struct BundleOut {
        int fd;
        uint64_t pos;           /* offset of the next byte libarchive hands over */
        BundleBody *bodies;     /* the bodies copied so far, in order: libarchive's zeros there are kept out */
        size_t n_bodies;
        int error;
} BundleOut;

static int out_pwrite(BundleOut *o, const uint8_t *p, uint64_t from, uint64_t to) {
        if (from >= to)
                return 0;
        return loop_pwrite(o->fd, p + (from - o->pos), (size_t) (to - from), from);
}

static bool all_zero(const uint8_t *p, size_t len) {
        static const uint8_t zeros[4096];

        for (size_t i = 0; i < len; i += sizeof zeros)
                if (memcmp(p + i, zeros, MIN(sizeof zeros, len - i)) != 0)
                        return false;
        return true;
}

static la_ssize_t out_write(struct archive *a, void *userdata, const void *buf, size_t len) {
        BundleOut *o = userdata;
        const uint8_t *p = buf;
        uint64_t c = o->pos, end = o->pos + len;
        int r = 0;

        /* libarchive may still hold the end of an earlier body's zeros: check every body. */
        for (size_t i = 0; i < o->n_bodies && r >= 0; i++) {
                const BundleBody *b = &o->bodies[i];

                if (b->to <= c)
                        continue;
                if (b->from >= end)
                        break;
                r = out_pwrite(o, p, c, b->from);
                c = MAX(c, b->from);
                if (!all_zero(p + (c - o->pos), (size_t) (MIN(end, b->to) - c))) {
                        archive_set_error(a, EIO, "a member's body overlaps the archive's own bytes");
                        return -1;
                }
                c = MIN(end, b->to);
        }
        if (r >= 0)
                r = out_pwrite(o, p, c, end);
        if (r < 0) {
                o->error = r;
                archive_set_error(a, -r, "%s", strerror(-r));
                return -1;
        }
        o->pos = end;
        return (la_ssize_t) len;
}

/* size bytes of fd_in to offset `at` of the bundle: in the kernel where it can, else through buf. */
static int copy_body(BundleOut *o, int fd_in, uint64_t size, uint64_t at, void *buf) {
        bool kernel = true;

        for (uint64_t done = 0; done < size;) {
                size_t step = (size_t) MIN((uint64_t) COPY_STEP_SIZE, size - done);
                loff_t in_off = (loff_t) done, out_off = (loff_t) (at + done);
                ssize_t n;

                if (kernel) {
                        n = copy_file_range(fd_in, &in_off, o->fd, &out_off, step, 0);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0 && done == 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)) {
                                kernel = false;
                                continue;
                        }
                        if (n < 0)
                                return -errno;
                } else {
                        n = pread(fd_in, buf, MIN((size_t) COPY_BUFFER_SIZE, step), (off_t) done);
                        if (n < 0)
                                return -errno;
                        if (n > 0) {
                                int r = loop_pwrite(o->fd, buf, (size_t) n, at + done);
                                if (r < 0)
                                        return r;
                        }
                }
                if (n == 0)
                        return -ENODATA; /* shrank */
                (void) sync_file_range(o->fd, (off_t) (at + done), n, SYNC_FILE_RANGE_WRITE);
                done += (uint64_t) n;
        }
        return 0;
}

/* Any write changes ctime (and mtime); a file replaced by rename is another inode. */
static bool file_unchanged(int fd, const struct stat *since) {
        struct stat st;

        return fstat(fd, &st) == 0 && st.st_dev == since->st_dev && st.st_ino == since->st_ino &&
               st.st_size == since->st_size && st.st_mtim.tv_sec == since->st_mtim.tv_sec &&
               st.st_mtim.tv_nsec == since->st_mtim.tv_nsec && st.st_ctim.tv_sec == since->st_ctim.tv_sec &&
               st.st_ctim.tv_nsec == since->st_ctim.tv_nsec;
}

static int write_member(struct archive *a, BundleOut *o, const BundleMember *m, time_t mtime, void *buf) {
        _cleanup_(archive_entry_freep) struct archive_entry *e = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint64_t size = m->data_len;
        la_int64_t at;
        int r;

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
        /* Everything libarchive has been given so far, the header included, comes first. */
        at = archive_filter_bytes(a, 0);
        if (at < 0 || (uint64_t) at < o->pos ||
            (o->n_bodies > 0 && (uint64_t) at < o->bodies[o->n_bodies - 1].to))
                return log_error_errno(EIO, "Cannot write bundle member %s: unknown position.", m->name);
        r = copy_body(o, fd, size, (uint64_t) at, buf);
        if (r == -ENODATA)
                return log_error_errno(EIO, "%s shrank while being written to the bundle.", m->path);
        if (r < 0)
                return log_error_errno(r, "Cannot write bundle member %s: %m", m->name);
        if (m->since && !file_unchanged(fd, m->since))
                return log_error_errno(EIO, "%s changed while the bundle was made: its bytes are not the ones hashed "
                                       "and signed.", m->path);
        o->bodies[o->n_bodies++] = (BundleBody) { (uint64_t) at, (uint64_t) at + size };
        return 0;
}

/* The temporary files of the bundle being made (image, tree, archive), each as large as the image:
 * a signal that ends the process (a CI job's timeout, a closed terminal, Ctrl-C) runs no _cleanup_
 * handler, so its handler removes them (unlink() is async-signal-safe) and then dies of the signal
 * as it would have. Only SIGKILL leaves them. */
#define BUNDLE_TEMPS_MAX 4U
static const int bundle_temp_signals[] = { SIGINT, SIGTERM, SIGHUP };
static char bundle_temps[BUNDLE_TEMPS_MAX][PATH_MAX];
static volatile sig_atomic_t bundle_temps_used[BUNDLE_TEMPS_MAX];

static volatile sig_atomic_t bundle_temps_child;

static void bundle_temps_on_signal(int sig) {
        pid_t child = bundle_temps_child;

        /* A child still starting could create its output anew after we removed it: it goes first. */
        if (child > 0) {
                (void) kill(child, SIGKILL);
                while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        for (size_t i = 0; i < BUNDLE_TEMPS_MAX; i++)
                if (bundle_temps_used[i])
                        (void) unlink(bundle_temps[i]);
        (void) signal(sig, SIG_DFL);
        (void) raise(sig);
}

static void bundle_temp_register(const char *path) {
        static bool installed;

        if (!installed) {
                for (size_t i = 0; i < ELEMENTSOF(bundle_temp_signals); i++) {
                        struct sigaction old, sa = { .sa_handler = bundle_temps_on_signal };

                        /* A signal the caller ignores (SIGINT of a background job) stays ignored. */
                        if (sigaction(bundle_temp_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
                                (void) sigaction(bundle_temp_signals[i], &sa, NULL);
                }
                installed = true;
        }
        for (size_t i = 0; i < BUNDLE_TEMPS_MAX; i++)
                if (!bundle_temps_used[i] && strlen(path) < sizeof bundle_temps[i]) {
                        strcpy(bundle_temps[i], path);
                        bundle_temps_used[i] = true;
                        return;
                }
}

void bundle_temp_child(pid_t pid) {
        bundle_temps_child = pid;
}

void bundle_temp_signals_block(bool block) {
        sigset_t set;

        sigemptyset(&set);
        for (size_t i = 0; i < ELEMENTSOF(bundle_temp_signals); i++)
                sigaddset(&set, bundle_temp_signals[i]);
        (void) sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

int bundle_temp_mkostemp(char *template) {
        int fd;

        /* No signal between creating the file and registering it. */
        bundle_temp_signals_block(true);
        fd = mkostemp(template, O_CLOEXEC);
        if (fd < 0)
                fd = -errno;
        else
                bundle_temp_register(template);
        bundle_temp_signals_block(false);
        return fd;
}

void bundle_temp_forget(const char *path) {
        for (size_t i = 0; i < BUNDLE_TEMPS_MAX; i++)
                if (bundle_temps_used[i] && strcmp(bundle_temps[i], path) == 0)
                        bundle_temps_used[i] = false;
}

void bundle_temp_unlink_and_freep(char **p) {
        if (*p) {
                (void) unlink(*p);
                bundle_temp_forget(*p);
                free(*p);
        }
}

/* A temporary file next to path, so the final rename stays within one file system. Returns the
 * fd; *ret gets the name only once the file exists. */
static int bundle_temp_create(const char *path, char **ret) {
        _cleanup_free_ char *tmp = NULL;
        int fd;

        if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0)
                return log_oom();
        fd = bundle_temp_mkostemp(tmp);
        if (fd < 0)
                return log_error_errno(fd, "Cannot create %s: %m", tmp);
        *ret = TAKE_PTR(tmp);
        return fd;
}

int bundle_write(const char *path, const BundleMember *members, size_t n_members, time_t mtime) {
        _cleanup_(archive_write_freep) struct archive *a = NULL;
        _cleanup_(bundle_temp_unlink_and_freep) char *tmp = NULL;
        _cleanup_free_ void *buf = NULL;
        _cleanup_free_ BundleBody *bodies = NULL;
        _cleanup_close_ int fd = -EBADF;
        BundleOut out = {};
        int r;

        buf = malloc(COPY_BUFFER_SIZE);
        bodies = calloc(MAX(n_members, 1U), sizeof *bodies);
        a = archive_write_new();
        if (!buf || !bodies || !a)
                return log_oom();
        fd = bundle_temp_create(path, &tmp);
        if (fd < 0)
                return fd;
        (void) fchmod(fd, 0644);
        out = (BundleOut) { .fd = fd, .bodies = bodies };

        /* pax: ustar headers, extended headers only where ustar cannot express a field. */
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK || /* as archive_write_open_fd() does for a file */
            archive_write_open(a, &out, NULL, out_write, NULL) != ARCHIVE_OK)
                return log_error_errno(EIO, "Cannot start bundle %s: %s", path, archive_error_string(a));
        for (size_t i = 0; i < n_members; i++) {
                r = write_member(a, &out, &members[i], mtime, buf);
                if (r < 0)
                        return r;
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                return log_error_errno(out.error < 0 ? -out.error : EIO, "Cannot finish bundle %s: %s", path, archive_error_string(a));
        if (fsync(fd) < 0)
                return log_error_errno(errno, "Cannot write %s: %m", tmp);
        if (rename(tmp, path) < 0)
                return log_error_errno(errno, "Cannot rename %s to %s: %m", tmp, path);
        bundle_temp_forget(tmp);
        free(TAKE_PTR(tmp)); /* renamed: nothing left to remove */
        return 0;
}
