/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* A small INI parser: "[Section]" headers, "Key=Value" lines, '#' and ';' comments, blank
 * lines. Whitespace around keys and values is stripped. Every unknown section or key and every
 * value its parser refuses is an error naming file and line. */

typedef int (*ConfParseFunc)(const char *value, void *data);

typedef struct ConfItem {
        const char *section;
        const char *key;
        ConfParseFunc parse;
        void *data;
} ConfItem;

/* Parses path against the items (terminated by an item with section == NULL).
 * Errors are logged at error level with "FILE:LINE:" (or the system's reason for a file that
 * cannot be opened or read) and returned as:
 *   -ENOEXEC  a configuration error: the file cannot be opened or read, a NUL byte, an invalid
 *             section header, an unknown section or key, a line that is not Key=Value, an
 *             assignment before any section, a value its parser refuses (main.c: exit 4)
 *   -ENOMEM   out of memory
 * Never -EBADMSG: that means a signature or digest mismatch (exit 10). */
int conf_parse_file(const char *path, const ConfItem *items);

/* Ready-made value parsers. data points to the destination. */
int conf_parse_string(const char *value, void *data);   /* char ** (replaced, freed) */
int conf_parse_path(const char *value, void *data);     /* char **, must be absolute */
int conf_parse_unsigned(const char *value, void *data); /* unsigned * */
int conf_parse_bool(const char *value, void *data);     /* bool * */
int conf_parse_timespan(const char *value, void *data); /* uint64_t * (µs) */
int conf_parse_strv(const char *value, void *data);     /* char *** appended to; "" empties the list */
int conf_parse_size(const char *value, void *data);     /* uint64_t *, bytes with K/M/G/T suffixes (1024-based) */
