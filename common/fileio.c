/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "log.h"

int read_regular_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return read_regular_fd(fd, max, ret, ret_len);
}

int read_regular_fd(int fd, size_t max, char **ret, size_t *ret_len) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        return read_full_fd(fd, max, ret, ret_len);
}

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;

        for (;;) {
                ssize_t n;

                if (cap - len < 4096) {
                        size_t ncap = cap ? cap * 2 : 8192;
                        char *p;

                        if (ncap > max + 4096)
                                ncap = max + 4096;
                        if (ncap <= len + 1)
                                return -EFBIG;
                        p = realloc(buf, ncap);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        cap = ncap;
                }
                n = read(fd, buf + len, cap - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_full_fd(fd, max, ret, ret_len);
}

int loop_write(int fd, const void *buf, size_t len) {
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

int loop_pwrite(int fd, const void *buf, size_t len, uint64_t offset) {
        const char *p = buf;

        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, (off_t) offset);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
                offset += (uint64_t) n;
        }
        return 0;
}

/* read() (off < 0) or pread() at off until len bytes; a short count means the file ended early. */
static ssize_t loop_io(int fd, void *buf, size_t len, int64_t off) {
        char *p = buf;
        size_t done = 0;

        while (done < len) {
                ssize_t n = off < 0 ? read(fd, p + done, len - done)
                                    : pread(fd, p + done, len - done, (off_t) ((uint64_t) off + done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                done += (size_t) n;
        }
        return (ssize_t) done;
}

ssize_t loop_read(int fd, void *buf, size_t len) {
        return loop_io(fd, buf, len, -1);
}

ssize_t loop_pread(int fd, void *buf, size_t len, uint64_t off) {
        if (off > INT64_MAX)
                return -EINVAL;
        return loop_io(fd, buf, len, (int64_t) off);
}

/* A temporary name next to name: "<name>.tmpXXXXXX", created exclusively. */
static int open_tmp_at(int dir_fd, const char *name, char **ret_tmp) {
        for (unsigned i = 0; i < 100; i++) {
                _cleanup_free_ char *tmp = NULL;
                uint32_t x;
                int fd;

                if (getrandom(&x, sizeof x, GRND_NONBLOCK) != sizeof x)
                        x = (uint32_t) rand();
                if (asprintf(&tmp, "%s.tmp%06x", name, (unsigned) (x & 0xffffffU)) < 0)
                        return -ENOMEM;
                fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        *ret_tmp = TAKE_PTR(tmp);
                        return fd;
                }
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

int write_file_atomic_at(int dir_fd, const char *name, const void *data, size_t len, mode_t mode) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = open_tmp_at(dir_fd, name, &tmp);
        if (fd < 0)
                return fd;
        if (fchmod(fd, mode) < 0) {
                r = -errno;
                goto fail;
        }
        r = loop_write(fd, data, len);
        if (r < 0)
                goto fail;
        if (fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        if (renameat(dir_fd, tmp, dir_fd, name) < 0) {
                r = -errno;
                goto fail;
        }
        /* The rename is durable only once the directory entry is on disk. */
        if (fsync(dir_fd) < 0)
                return -errno;
        return 0;

fail:
        (void) unlinkat(dir_fd, tmp, 0);
        return r;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode) {
        _cleanup_free_ char *dcopy = strdup(path), *bcopy = strdup(path);
        _cleanup_close_ int dfd = -EBADF;

        if (!dcopy || !bcopy)
                return -ENOMEM;
        dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        return write_file_atomic_at(dfd, basename(bcopy), data, len, mode);
}

int dir_check_safe_fd(int fd, const char *path) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return log_debug_errno(ELOOP, "%s is not a directory: refusing to use it.", path);
        /* Sticky or not: whoever may create entries here may plant a symlink or a file we trust. */
        /* Ours or root's (root is trusted anyway: an unprivileged `osupdate status` reads root's state). */
        if ((st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & (S_IWGRP | S_IWOTH)))
                return log_debug_errno(ELOOP, "%s is owned by uid %u with mode %04o: refusing to use it "
                                       "(it must belong to uid %u or root and be writable by its owner only).",
                                       path, (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777), (unsigned) geteuid());
        return 0;
}

int dir_open_safe_at(int dir_fd, const char *name, const char *path, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                if (errno != ENOTDIR && errno != ELOOP)
                        return -errno;
                /* With O_DIRECTORY the kernel reports a symlink as ENOTDIR, not ELOOP: tell them apart. */
                if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISLNK(st.st_mode))
                        return log_debug_errno(ELOOP, "%s is a symbolic link: refusing to follow it.", path);
                return log_debug_errno(ELOOP, "%s is not a directory: refusing to use it.", path);
        }
        r = dir_check_safe_fd(fd, path);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int dir_check_safe(const char *path) {
        _cleanup_close_ int fd = -EBADF;

        return dir_open_safe_at(AT_FDCWD, path, path, &fd);
}

int mkdir_parents(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != 0)
                        continue;
                char c = *s;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = c;
                if (c == 0)
                        return 0;
        }
}

char *path_join(const char *a, const char *b) {
        char *s;
        size_t la = strlen(a);

        while (la > 0 && a[la - 1] == '/')
                la--;
        while (*b == '/')
                b++;
        if (asprintf(&s, "%.*s/%s", (int) la, a, b) < 0)
                return NULL;
        return s;
}

static int cmpstr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int dir_list_suffix(const char *dir, const char *suffix, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, sl = strlen(suffix);
        DIR *d;
        struct dirent *de;

        d = opendir(dir);
        if (!d)
                return -errno;
        while ((errno = 0, de = readdir(d))) {
                size_t nl = strlen(de->d_name);
                char **nl_list;

                if (de->d_name[0] == '.' || nl <= sl || strcmp(de->d_name + nl - sl, suffix) != 0)
                        continue;
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
                        continue;
                nl_list = realloc(l, sizeof(char *) * (n + 2));
                if (!nl_list) {
                        closedir(d);
                        return -ENOMEM;
                }
                l = nl_list;
                l[n] = strdup(de->d_name);
                l[n + 1] = NULL;
                if (!l[n]) {
                        closedir(d);
                        return -ENOMEM;
                }
                n++;
        }
        closedir(d);
        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        qsort(l, n, sizeof(char *), cmpstr);
        *ret = TAKE_PTR(l);
        return (int) n;
}
