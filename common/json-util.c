/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "json-util.h"

int json_parse_strict(const char *buf, size_t len, json_object **ret) {
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        json_object *o;
        size_t used;

        if (len == 0 || len > INT32_MAX || memchr(buf, 0, len))
                return -EBADMSG;
        tok = json_tokener_new_ex(16);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, buf, (int) len);
        if (!o || json_tokener_get_error(tok) != json_tokener_success) {
                json_object_put(o);
                return -EBADMSG;
        }
        used = json_tokener_get_parse_end(tok);
        for (size_t i = used; i < len; i++)
                if (!isspace((unsigned char) buf[i])) {
                        json_object_put(o);
                        return -EBADMSG;
                }
        *ret = o;
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
