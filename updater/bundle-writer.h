/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct BundleMember {
        const char *name;
        /* Either in-memory data … */
        const void *data;
        size_t data_len;
        /* … or a file, streamed. */
        const char *path;
} BundleMember;

/* Writes a pax tar with the members in the given order, all as root-owned ("root"/"root") 0644
 * regular files with mtime `mtime` and nothing else in their headers, to path atomically
 * (temporary file, fsync, rename): the same members and mtime give the same bytes. */
int bundle_write(const char *path, const BundleMember *members, size_t n_members, time_t mtime);
