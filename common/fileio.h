/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads a whole file, refusing more than max bytes (-EFBIG). The buffer gets a trailing NUL
 * that is not counted in *ret_len. */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len);
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len);

/* write(2)/pwrite(2) until done, retrying on EINTR. */
int loop_write(int fd, const void *buf, size_t len);
int loop_pwrite(int fd, const void *buf, size_t len, uint64_t offset);
/* read(2) until len bytes or EOF; returns bytes read. */
ssize_t loop_read(int fd, void *buf, size_t len);

/* Atomically replaces path: temporary file in the same directory, fsync, rename, fsync of the
 * directory. Readers see the old or the new content, never a mix, even across a crash. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* mkdir -p: creates path and its missing parents with mode. */
int mkdir_parents(const char *path, mode_t mode);

/* Joins two path components with one '/'. Returns NULL on OOM. */
char *path_join(const char *a, const char *b);

/* Lists regular files in dir ending in suffix, sorted by name. -ENOENT if dir does not exist. */
int dir_list_suffix(const char *dir, const char *suffix, char ***ret);
