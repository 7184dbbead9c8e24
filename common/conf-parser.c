/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "conf-parser.h"
#include "log.h"
#include "parse-util.h"

static char *strip(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = 0;
        return s;
}

int conf_parse_file(const char *path, const ConfItem *items) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *section = NULL, *line = NULL;
        size_t cap = 0;
        unsigned n = 0;

        f = fopen(path, "re");
        if (!f) {
                /* A configuration that cannot be read is a configuration error all the same; the
                 * message keeps the system's reason. */
                (void) log_error_errno(errno, "Failed to open configuration file %s: %m", path);
                return -ENOEXEC;
        }

        for (;;) {
                ssize_t l;
                char *s, *eq, *key, *value;
                bool section_known = false;
                const ConfItem *it;
                int r;

                errno = 0;
                l = getline(&line, &cap, f);
                if (l < 0) {
                        if (errno == ENOMEM)
                                return log_oom();
                        if (errno != 0) {
                                (void) log_error_errno(errno, "%s: read error: %m", path);
                                return -ENOEXEC;
                        }
                        break;
                }
                n++;
                if (memchr(line, 0, (size_t) l))
                        return log_error_errno(ENOEXEC, "%s:%u: NUL byte in line.", path, n);

                s = strip(line);
                if (*s == 0 || *s == '#' || *s == ';')
                        continue;

                if (*s == '[') {
                        size_t sl = strlen(s);
                        if (sl < 3 || s[sl - 1] != ']')
                                return log_error_errno(ENOEXEC, "%s:%u: invalid section header: %s", path, n, s);
                        s[sl - 1] = 0;
                        for (it = items; it->section; it++)
                                if (strcmp(it->section, s + 1) == 0)
                                        break;
                        if (!it->section)
                                return log_error_errno(ENOEXEC, "%s:%u: unknown section [%s]", path, n, s + 1);
                        free(section);
                        section = strdup(s + 1);
                        if (!section)
                                return log_oom();
                        continue;
                }

                eq = strchr(s, '=');
                if (!eq)
                        return log_error_errno(ENOEXEC, "%s:%u: expected Key=Value or [Section]: %s", path, n, s);
                *eq = 0;
                key = strip(s);
                value = strip(eq + 1);
                if (!section)
                        return log_error_errno(ENOEXEC, "%s:%u: assignment %s= outside of any section", path, n, key);

                for (it = items; it->section; it++) {
                        if (strcmp(it->section, section) != 0)
                                continue;
                        section_known = true;
                        if (strcmp(it->key, key) == 0)
                                break;
                }
                if (!it->section)
                        return log_error_errno(ENOEXEC, "%s:%u: unknown key %s= in section [%s]%s", path, n, key,
                                               section, section_known ? "" : " (unknown section)");

                r = it->parse(value, it->data);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        return log_error_errno(ENOEXEC, "%s:%u: invalid value for %s=: \"%s\"", path, n, key, value);
        }
        return 0;
}

int conf_parse_string(const char *value, void *data) {
        char **s = data, *c;

        c = strdup(value);
        if (!c)
                return -ENOMEM;
        free(*s);
        *s = c;
        return 0;
}

int conf_parse_path(const char *value, void *data) {
        _cleanup_free_ char *p = NULL;
        size_t l;

        if (value[0] != '/')
                return -EINVAL;
        /* "/usr/" and "/usr" are one path: mountinfo and every comparison use the latter. */
        p = strdup(value);
        if (!p)
                return -ENOMEM;
        l = strlen(p);
        while (l > 1 && p[l - 1] == '/')
                p[--l] = 0;
        return conf_parse_string(p, data);
}

int conf_parse_unsigned(const char *value, void *data) {
        return parse_unsigned(value, data);
}

int conf_parse_bool(const char *value, void *data) {
        return parse_boolean(value, data);
}

int conf_parse_timespan(const char *value, void *data) {
        return parse_timespan(value, data);
}

int conf_parse_strv(const char *value, void *data) {
        char ***l = data, **n;
        size_t k = 0;

        if (!*value) {
                strv_free(*l);
                *l = NULL;
                return 0;
        }
        while (*l && (*l)[k])
                k++;
        n = realloc(*l, sizeof(char *) * (k + 2));
        if (!n)
                return -ENOMEM;
        *l = n;
        n[k] = strdup(value);
        n[k + 1] = NULL;
        return n[k] ? 0 : -ENOMEM;
}

int conf_parse_size(const char *value, void *data) {
        static const char suffixes[] = "KMGT";
        uint64_t v, mult = 1;
        _cleanup_free_ char *num = strdup(value);
        size_t l;
        int r;

        if (!num)
                return -ENOMEM;
        l = strlen(num);
        if (l > 0 && num[l - 1] == 'B')
                num[--l] = 0;
        if (l > 0) {
                const char *sfx = strchr(suffixes, num[l - 1]);
                if (sfx && num[l - 1]) {
                        for (const char *p = suffixes; p <= sfx; p++)
                                mult *= 1024;
                        num[--l] = 0;
                }
        }
        r = parse_uint64(num, &v);
        if (r < 0)
                return r;
        if (__builtin_mul_overflow(v, mult, (uint64_t *) data))
                return -ERANGE;
        return 0;
}
