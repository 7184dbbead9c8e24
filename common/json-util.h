/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "cleanup.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);
DEFINE_TRIVIAL_CLEANUP_FUNC(json_tokener *, json_tokener_free);

/* Parses exactly len bytes as one JSON value: no NUL bytes, no trailing non-space data, nesting
 * at most 16 deep, no object with the same key twice (also when spelled differently, "a" and
 * "\u0061"). -EBADMSG otherwise. */
int json_parse_strict(const char *buf, size_t len, json_object **ret);

/* Typed field access. A missing (or null) field gives -ENOENT unless optional (then 0 with *ret
 * untouched); a field of the wrong type gives -EINVAL, a number above max -ERANGE. Strings must be
 * non-empty. */
int json_get_string(json_object *o, const char *key, bool optional, const char **ret);
int json_get_u64(json_object *o, const char *key, bool optional, uint64_t max, uint64_t *ret);
int json_get_object(json_object *o, const char *key, bool optional, json_object **ret);
int json_get_array(json_object *o, const char *key, bool optional, json_object **ret);

/* Field readers for signed documents (manifest.json, channel documents): every refusal is -EUCLEAN
 * with "WHAT: field \"KEY\" …" at debug level (log_detail()). A string may not hold a NUL character
 * ("\u0000" would cut it short where we read it, not where it was signed); a time is an absolute
 * RFC 3339 UTC time (2026-11-27T10:00:00Z) between 1970 and 9999. Returns 1 when the field is
 * there, 0 when it is optional and absent (*ret untouched). */
int json_field_string(json_object *o, const char *what, const char *key, bool optional, char **ret);
int json_field_u64(json_object *o, const char *what, const char *key, bool optional, uint64_t max, uint64_t *ret);
int json_field_time(json_object *o, const char *what, const char *key, bool optional, time_t *ret);

/* -EINVAL naming the first key of o that is not in allowed (NULL-terminated); *ret_key set. */
int json_check_keys(json_object *o, const char *const *allowed, const char **ret_key);
