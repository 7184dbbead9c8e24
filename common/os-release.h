/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* os-release(5), read exactly as systemd reads it (parse_env_file(), src/basic/env-file.c):
 * KEY=VALUE assignments; whitespace around the key, around '=' and at the end of an unquoted value
 * is dropped; outside quotes a backslash takes the next character literally and before a newline
 * continues the line; single quotes keep everything up to the next quote (newlines included);
 * double quotes unescape only \" \\ \` \$, eat a backslash-newline and keep any other backslash;
 * quoted and unquoted pieces right after one another are concatenated ("a"'b'c is abc); '#' and
 * ';' start a comment only at the start of a line, and a comment ends at its newline even after a
 * backslash; "\r" ends a line like "\n" outside quotes; the last assignment of a key wins; `KEY=`
 * and `KEY=""` leave it unset. Keys are not checked for validity: `export ID=x` or `ID X=y` only
 * set keys nobody asks for. Like systemd, one NUL byte anywhere, or invalid UTF-8 in any assigned
 * key or value (not in comments), makes the whole file unreadable. */
typedef struct OsRelease {
        char *id;      /* ID=, NULL if unset */
        char *version; /* IMAGE_VERSION= if not empty, else VERSION_ID=; NULL if neither */
} OsRelease;

/* -EILSEQ: a NUL byte or invalid UTF-8 in an assignment (systemd refuses such a file, EBADMSG or
 * EINVAL); -ENOMEM. Writes *ret only on success. */
int os_release_parse(const char *text, size_t len, OsRelease *ret);
/* Reads lib/os-release under the directory fd (e.g. a detached mount); -ENOENT if absent, -ELOOP
 * through a symlink, -EXDEV out of dir_fd, -EBADFD not a regular file, -EFBIG larger than 64 KiB,
 * and os_release_parse()'s errors. */
int os_release_read_at(int dir_fd, const char *path, OsRelease *ret);
void os_release_done(OsRelease *o);
