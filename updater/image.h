/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <time.h>

/* Publisher side: builds a read-only filesystem image from a directory tree, reproducibly
 * (fixed timestamps, a UUID derived from os id and version, every file owned by root), so the
 * same tree and flags give the same bytes. fstype: "erofs" (mkfs.erofs) or "squashfs" (mksquashfs). */
int image_build(const char *tree, const char *fstype, const char *os_id, const char *version, time_t epoch,
                const char *out);

/* Recognizes an image by its superblock magic: "erofs", "squashfs", or NULL (-EMEDIUMTYPE). */
int image_detect_fstype(const char *path, const char **ret);
