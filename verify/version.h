/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Compares two version strings by the UAPI Group's version format rules (the rules of systemd's
 * strverscmp_improved()): segments of digits compare numerically and are newer than letters,
 * '~' marks a pre-release (older), '-' separates version and release, '^' marks a patch level,
 * '.' separates segments, any other character is skipped. NULL and "" are the empty version,
 * older than any segment and newer than a '~' ("~" < "~1" < "" == "_" < "a" < "0"). Returns <0, 0,
 * >0. */
int version_compare(const char *a, const char *b);

/* A version we accept in a manifest: non-empty, at most 128 bytes, only [A-Za-z0-9~^._+-],
 * starting with an alphanumeric character. */
bool version_is_valid(const char *v);
