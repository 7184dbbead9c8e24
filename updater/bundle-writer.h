/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

typedef struct BundleMember {
        const char *name;
        /* Either in-memory data … */
        const void *data;
        size_t data_len;
        /* … or a file, streamed. */
        const char *path;
        /* If set: the file as it was when it was hashed. The bundle is not made if the
         * file changed since (-EIO, logged: its bytes would not be the ones signed). */
        const struct stat *since;
} BundleMember;

/* Writes a pax tar with the members in the given order, all as root-owned ("root"/"root") 0644
 * regular files with mtime `mtime` and nothing else in their headers, to path atomically
 * (temporary file, fsync, rename): the same members and mtime give the same bytes. */
int bundle_write(const char *path, const BundleMember *members, size_t n_members, time_t mtime);

/* Temporary files of a bundle being made, removed if SIGINT, SIGTERM or SIGHUP ends the process
 * (which then dies of that signal). bundle_temp_mkostemp() is mkostemp(template, O_CLOEXEC) that
 * registers the file with no signal in between (-errno on failure); forget it once renamed or
 * removed. bundle_temp_unlink_and_freep() is unlink_and_freep() that also forgets. */
int bundle_temp_mkostemp(char *template);
void bundle_temp_forget(const char *path);
/* The child writing one of them (mkfs), killed and reaped before they are removed; 0: none. Its
 * fork happens with the signals blocked, so no signal falls between fork() and recording it. */
void bundle_temp_child(pid_t pid);
void bundle_temp_signals_block(bool block);
void bundle_temp_unlink_and_freep(char **p);
