/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* os-release(5): KEY=VALUE lines, values optionally in single or double quotes (backslash escapes
 * in double quotes), '#' comments. */
typedef struct OsRelease {
        char *id;
        char *version;          /* IMAGE_VERSION=, else VERSION_ID= */
} OsRelease;

int os_release_parse(const char *text, size_t len, OsRelease *ret);
/* Reads lib/os-release under the directory fd (e.g. a detached mount); -ENOENT if absent. */
int os_release_read_at(int dir_fd, const char *path, OsRelease *ret);
void os_release_done(OsRelease *o);
