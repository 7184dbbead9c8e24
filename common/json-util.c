/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "log.h"
#include "parse-util.h"

#define JSON_DEPTH_MAX 16

/* Counts the members of each object of an already strictly parsed text, in the order the objects
 * open: a member is the one ':' outside strings at its object's level. */
static int count_members(const char *buf, size_t len, size_t **ret, size_t *ret_n) {
        _cleanup_free_ size_t *counts = NULL;
        size_t open[JSON_DEPTH_MAX + 1]; /* per level: the object's index in counts, SIZE_MAX for an array */
        size_t n = 0, cap = 0, depth = 0;
        bool in_string = false;

        for (size_t i = 0; i < len; i++) {
                char c = buf[i];

                if (in_string) {
                        if (c == '\\')
                                i++; /* the escaped character, whatever it is */
                        else if (c == '"')
                                in_string = false;
                        continue;
                }
                if (c == '"')
                        in_string = true;
                else if (c == '{' || c == '[') {
                        if (depth > JSON_DEPTH_MAX)
                                return -EBADMSG;
                        if (c == '[') {
                                open[depth++] = SIZE_MAX;
                                continue;
                        }
                        if (n == cap) {
                                size_t *p = realloc(counts, (cap = cap ? cap * 2 : 16) * sizeof *counts);
                                if (!p)
                                        return -ENOMEM;
                                counts = p;
                        }
                        counts[n] = 0;
                        open[depth++] = n++;
                } else if (c == '}' || c == ']') {
                        if (depth == 0)
                                return -EBADMSG;
                        depth--;
                } else if (c == ':') {
                        if (depth == 0 || open[depth - 1] == SIZE_MAX)
                                return -EBADMSG;
                        counts[open[depth - 1]]++;
                }
        }
        *ret = TAKE_PTR(counts);
        *ret_n = n;
        return 0;
}

/* Walks the parsed value in document order (json-c keeps members in the order their keys first
 * appeared), comparing each object's number of entries with its number of members in the text. */
static bool members_match(json_object *o, const size_t *counts, size_t n, size_t *i) {
        if (json_object_is_type(o, json_type_object)) {
                if (*i >= n || (size_t) json_object_object_length(o) != counts[(*i)++])
                        return false;
                json_object_object_foreach(o, key, val) {
                        (void) key;
                        if (!members_match(val, counts, n, i))
                                return false;
                }
        } else if (json_object_is_type(o, json_type_array)) {
                for (size_t k = 0; k < json_object_array_length(o); k++)
                        if (!members_match(json_object_array_get_idx(o, k), counts, n, i))
                                return false;
        }
        return true;
}

/* json-c keeps the last of duplicate keys silently: {"a":1,"a":2} is {"a":2}. Another reader of the
 * same signed bytes may keep the first, so one signature would cover two meanings (RFC 8259 leaves
 * duplicates undefined). json-c has merged them, after decoding escapes ("a" and "\u0061" are one
 * key), so an object holding fewer entries than the text has members had a duplicate. */
static int check_no_duplicates(json_object *o, const char *buf, size_t len) {
        _cleanup_free_ size_t *counts = NULL;
        size_t n = 0, i = 0;
        int r;

        r = count_members(buf, len, &counts, &n);
        if (r < 0)
                return r;
        if (!members_match(o, counts, n, &i) || i != n)
                return log_debug_errno(EBADMSG, "JSON: an object has a duplicate key.");
        return 0;
}

int json_parse_strict(const char *buf, size_t len, json_object **ret) {
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        size_t used;
        int r;

        if (len == 0 || len > INT32_MAX || memchr(buf, 0, len))
                return -EBADMSG;
        tok = json_tokener_new_ex(JSON_DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, buf, (int) len);
        if (!o || json_tokener_get_error(tok) != json_tokener_success)
                return -EBADMSG;
        used = json_tokener_get_parse_end(tok);
        for (size_t i = used; i < len; i++)
                if (!isspace((unsigned char) buf[i]))
                        return -EBADMSG;
        r = check_no_duplicates(o, buf, used);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int get_typed(json_object *o, const char *key, bool optional, json_type type, json_object **ret) {
        json_object *v;

        if (!json_object_is_type(o, json_type_object))
                return -EINVAL;
        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return optional ? 0 : -ENOENT;
        if (!json_object_is_type(v, type))
                return -EINVAL;
        *ret = v;
        return 1;
}

int json_get_string(json_object *o, const char *key, bool optional, const char **ret) {
        json_object *v;
        int r;

        r = get_typed(o, key, optional, json_type_string, &v);
        if (r <= 0)
                return r;
        if (json_object_get_string_len(v) == 0 || strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
                return -EINVAL;
        *ret = json_object_get_string(v);
        return 0;
}

int json_get_u64(json_object *o, const char *key, bool optional, uint64_t max, uint64_t *ret) {
        json_object *v;
        int64_t s;
        uint64_t u;
        int r;

        r = get_typed(o, key, optional, json_type_int, &v);
        if (r <= 0)
                return r;
        /* json-c saturates out-of-range integers and sets errno. */
        errno = 0;
        s = json_object_get_int64(v);
        if (s < 0)
                return -EINVAL;
        errno = 0;
        u = json_object_get_uint64(v);
        if (errno == ERANGE || u == UINT64_MAX || u > max)
                return -ERANGE;
        *ret = u;
        return 0;
}

int json_get_object(json_object *o, const char *key, bool optional, json_object **ret) {
        int r = get_typed(o, key, optional, json_type_object, ret);
        return r < 0 ? r : 0;
}

int json_get_array(json_object *o, const char *key, bool optional, json_object **ret) {
        int r = get_typed(o, key, optional, json_type_array, ret);
        return r < 0 ? r : 0;
}

int json_check_keys(json_object *o, const char *const *allowed, const char **ret_key) {
        json_object_object_foreach(o, key, val) {
                bool ok = false;
                (void) val;
                for (const char *const *a = allowed; *a; a++)
                        if (strcmp(*a, key) == 0) {
                                ok = true;
                                break;
                        }
                if (!ok) {
                        if (ret_key)
                                *ret_key = key;
                        return -EINVAL;
                }
        }
        return 0;
}

#define JSON_TIME_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

int json_field_string(json_object *o, const char *what, const char *key, bool optional, char **ret) {
        const char *s = NULL;
        int r;

        r = json_get_string(o, key, optional, &s);
        if (r == -ENOENT)
                return log_debug_errno(EUCLEAN, "%s: required field \"%s\" is missing.", what, key);
        if (r < 0)
                return log_debug_errno(EUCLEAN, "%s: field \"%s\" must be a non-empty string.", what, key);
        if (!s)
                return 0;
        if ((size_t) json_object_get_string_len(json_object_object_get(o, key)) != strlen(s))
                return log_debug_errno(EUCLEAN, "%s: field \"%s\" holds a NUL character.", what, key);
        *ret = strdup(s);
        return *ret ? 1 : -ENOMEM;
}

int json_field_u64(json_object *o, const char *what, const char *key, bool optional, uint64_t max, uint64_t *ret) {
        int r = json_get_u64(o, key, optional, max, ret);

        if (r == -ENOENT)
                return log_debug_errno(EUCLEAN, "%s: required field \"%s\" is missing.", what, key);
        if (r == -ERANGE)
                return log_debug_errno(EUCLEAN, "%s: field \"%s\" is out of range (at most %llu).", what, key,
                                       (unsigned long long) max);
        if (r < 0)
                return log_debug_errno(EUCLEAN, "%s: field \"%s\" must be a non-negative integer.", what, key);
        return json_object_object_get_ex(o, key, NULL) && !json_object_is_type(json_object_object_get(o, key), json_type_null);
}

int json_field_time(json_object *o, const char *what, const char *key, bool optional, time_t *ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = json_field_string(o, what, key, optional, &s);
        if (r <= 0)
                return r;
        /* Only absolute times in a signed document, never relative ones ("+30d" means nothing there). */
        if (!isdigit((unsigned char) s[0]) || parse_timestamp(s, 0, ret) < 0 || *ret < 0 || *ret > JSON_TIME_MAX)
                return log_debug_errno(EUCLEAN, "%s: field \"%s\" is not a time like 2026-11-27T10:00:00Z: \"%s\".", what,
                                       key, s);
        return 1;
}
