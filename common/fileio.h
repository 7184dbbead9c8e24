/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads a whole file, refusing more than max bytes (-EFBIG). The buffer gets a trailing NUL
 * that is not counted in *ret_len. */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len);
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len);
/* read_full_file() for a file someone else may have planted: never through a symlink (-ELOOP),
 * never blocking on a FIFO, a regular file only (-EBADFD), at most max bytes (-EFBIG). */
int read_regular_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* The same checks on an open fd (opened O_NONBLOCK by the caller). */
int read_regular_fd(int fd, size_t max, char **ret, size_t *ret_len);

/* write(2)/pwrite(2) until done, retrying on EINTR. */
int loop_write(int fd, const void *buf, size_t len);
int loop_pwrite(int fd, const void *buf, size_t len, uint64_t offset);
/* read(2) until len bytes or EOF; returns bytes read. */
ssize_t loop_read(int fd, void *buf, size_t len);
ssize_t loop_pread(int fd, void *buf, size_t len, uint64_t off);

/* Atomically replaces path: temporary file in the same directory, fsync, rename, fsync of the
 * directory. Readers see the old or the new content, never a mix, even across a crash. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* The same for name inside the directory dir_fd (no path is resolved again). */
int write_file_atomic_at(int dir_fd, const char *name, const void *data, size_t len, mode_t mode);

/* Directories osupdate keeps state in (StateDirectory, its slots, RuntimeDirectory) must be
 * directories, not symlinks to one, owned by the effective uid and writable by it alone: anyone
 * else who could write there could swap a verified image, state.json or the lock under us.
 * All refusals are -ELOOP (the errno O_NOFOLLOW itself gives a symlink: one class, "a path that
 * cannot be trusted", exit 36), with a debug message naming path, owner and mode. */
int dir_check_safe_fd(int fd, const char *path);
/* Opens name below dir_fd (AT_FDCWD: a path) as such a directory, never following a symlink in its
 * last component; path names it in messages. -ENOENT if it does not exist. */
int dir_open_safe_at(int dir_fd, const char *name, const char *path, int *ret_fd);
int dir_check_safe(const char *path);

/* mkdir -p: creates path and its missing parents with mode. */
int mkdir_parents(const char *path, mode_t mode);

/* Joins two path components with one '/'. Returns NULL on OOM. */
char *path_join(const char *a, const char *b);

/* Lists regular files in dir ending in suffix, sorted by name. -ENOENT if dir does not exist. */
int dir_list_suffix(const char *dir, const char *suffix, char ***ret);
