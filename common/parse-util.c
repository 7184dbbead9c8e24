/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "parse-util.h"

int parse_uint64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || *end != 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_unsigned(const char *s, unsigned *ret) {
        uint64_t v;
        int r;

        r = parse_uint64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT_MAX)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

int parse_boolean(const char *s, bool *ret) {
        static const char *const yes[] = { "1", "yes", "y", "true", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "off" };

        for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

int parse_timespan(const char *s, uint64_t *ret_usec) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } units[] = {
                /* Longest suffixes first, so "ms" is not read as "m" + "s". */
                { "usec", 1 },          { "msec", 1000 },          { "seconds", 1000000 },
                { "second", 1000000 },  { "sec", 1000000 },        { "minutes", 60000000 },
                { "minute", 60000000 }, { "min", 60000000 },       { "hours", 3600000000ULL },
                { "hour", 3600000000ULL }, { "hr", 3600000000ULL }, { "days", 86400000000ULL },
                { "day", 86400000000ULL }, { "weeks", 604800000000ULL }, { "week", 604800000000ULL },
                { "us", 1 },            { "ms", 1000 },            { "s", 1000000 },
                { "m", 60000000 },      { "h", 3600000000ULL },    { "d", 86400000000ULL },
                { "w", 604800000000ULL },
        };
        uint64_t total = 0;
        const char *p = s;
        bool any = false;

        for (;;) {
                unsigned long long v;
                uint64_t mult = 1000000, part;
                char *end;

                while (*p == ' ')
                        p++;
                if (*p == 0)
                        break;
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                errno = 0;
                v = strtoull(p, &end, 10);
                if (errno == ERANGE)
                        return -ERANGE;
                p = end;
                while (*p == ' ')
                        p++;
                if (isalpha((unsigned char) *p)) {
                        size_t i;
                        for (i = 0; i < sizeof units / sizeof units[0]; i++) {
                                size_t l = strlen(units[i].suffix);
                                if (strncmp(p, units[i].suffix, l) == 0 && !isalpha((unsigned char) p[l])) {
                                        mult = units[i].usec;
                                        p += l;
                                        break;
                                }
                        }
                        if (i == sizeof units / sizeof units[0])
                                return -EINVAL;
                }
                if (__builtin_mul_overflow((uint64_t) v, mult, &part) || __builtin_add_overflow(total, part, &total))
                        return -ERANGE;
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret_usec = total;
        return 0;
}

int parse_timestamp(const char *s, time_t now, time_t *ret) {
        struct tm tm = {}, parsed;
        const char *end;
        time_t t;
        uint64_t v;
        int r;

        if (s[0] == '@') {
                r = parse_uint64(s + 1, &v);
                if (r < 0)
                        return r;
                if (v > (uint64_t) INT64_MAX)
                        return -ERANGE;
                *ret = (time_t) v;
                return 0;
        }
        if (s[0] == '+') {
                r = parse_timespan(s + 1, &v);
                if (r < 0)
                        return r;
                v /= 1000000;
                if (v > (uint64_t) (INT64_MAX - now))
                        return -ERANGE;
                *ret = now + (time_t) v;
                return 0;
        }

        end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!end || *end) {
                memset(&tm, 0, sizeof tm);
                end = strptime(s, "%Y-%m-%d", &tm);
                if (!end || *end)
                        return -EINVAL;
        }
        parsed = tm;
        t = timegm(&tm);
        if (t == (time_t) -1)
                return -ERANGE;
        /* timegm() normalizes out-of-range fields: "2026-02-31" would silently become March 3. */
        if (tm.tm_year != parsed.tm_year || tm.tm_mon != parsed.tm_mon || tm.tm_mday != parsed.tm_mday ||
            tm.tm_hour != parsed.tm_hour || tm.tm_min != parsed.tm_min || tm.tm_sec != parsed.tm_sec)
                return -EINVAL;
        *ret = t;
        return 0;
}

const char *format_timestamp(char *buf, size_t len, time_t t) {
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, len, "@%lld", (long long) t);
        return buf;
}

static int strv_push(char ***l, size_t *n, char *s) {
        char **p = realloc(*l, sizeof(char *) * (*n + 2));

        if (!p)
                return -ENOMEM;
        p[(*n)++] = s;
        p[*n] = NULL;
        *l = p;
        return 0;
}

int strv_split_quoted(const char *line, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *word = NULL;
        size_t n = 0, len;
        const char *p;
        int r;

        if (!line)
                return -EINVAL;
        /* No word is longer than the line: one buffer of that size serves every word. */
        len = strlen(line);
        for (p = line;;) {
                size_t k = 0;
                char quote = 0;

                p += strspn(p, " \t\n\r");
                if (!*p)
                        break;
                word = malloc(len + 1);
                if (!word)
                        return -ENOMEM;
                for (;; p++) {
                        char c = *p;

                        if (!c) {
                                if (quote)
                                        return -EINVAL; /* unterminated quote */
                                break;
                        }
                        if (!quote && strchr(" \t\n\r", c))
                                break;
                        if (c == quote) {
                                quote = 0;
                                continue;
                        }
                        if (!quote && (c == '"' || c == '\'')) {
                                quote = c;
                                continue;
                        }
                        if (c == '\\') {
                                switch (*++p) {
                                case '"':
                                case '\'':
                                case '\\':
                                case ' ':
                                case '\t':
                                        c = *p;
                                        break;
                                case 's':
                                        c = ' ';
                                        break;
                                case 'n':
                                        c = '\n';
                                        break;
                                case 't':
                                        c = '\t';
                                        break;
                                case 'r':
                                        c = '\r';
                                        break;
                                default:
                                        return -EINVAL; /* trailing backslash, or an escape we do not know */
                                }
                        }
                        word[k++] = c;
                }
                word[k] = 0;
                r = strv_push(&l, &n, word);
                if (r < 0)
                        return r;
                word = NULL;
        }
        if (n == 0)
                return -EINVAL; /* nothing to run */
        *ret = TAKE_PTR(l);
        return 0;
}
