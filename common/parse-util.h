/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* All parsers are strict: no leading/trailing garbage, no sign where none belongs,
 * -ERANGE on overflow, -EINVAL otherwise. */
int parse_uint64(const char *s, uint64_t *ret);
int parse_unsigned(const char *s, unsigned *ret);
int parse_boolean(const char *s, bool *ret);

/* Time spans like "30min", "2h 5s", "7d", "500ms"; a bare number means seconds. In µs. */
int parse_timespan(const char *s, uint64_t *ret_usec);

/* RFC 3339 UTC "2026-11-25T13:00:00Z" (also "YYYY-MM-DD"), "@EPOCH", or "+SPAN" relative to now. */
int parse_timestamp(const char *s, time_t now, time_t *ret);

/* Formats t as RFC 3339 UTC into buf (at least 21 bytes). */
const char *format_timestamp(char *buf, size_t len, time_t t);

/* Splits a command line into words as systemd splits ExecStart= (no shell): words are separated by
 * whitespace; "double" and 'single' quotes group (and are removed), also inside a word (a"b c"d is
 * one word "ab cd"); a backslash escapes \" \' \\ \n \t \r \s (a space) and a backslash before a
 * space or tab, inside quotes or not. An unterminated quote, a trailing backslash, an unknown
 * escape or a line with no words: -EINVAL. *ret: a NULL-terminated list (strv_free()). */
int strv_split_quoted(const char *line, char ***ret);
