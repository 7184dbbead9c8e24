/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "seed-name.h"

#define VALID_PREFIX "valid-"
#define BAD_PREFIX "bad-"
#define UPPER_DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
/* Linux errno values are below 4096 (MAX_ERRNO); glibc names the ones it knows. */
#define ERRNO_MAX 4095

static int errno_from_name(const char *name, size_t len) {
        for (int e = 1; e <= ERRNO_MAX; e++) {
                const char *n = strerrorname_np(e);

                if (n && strlen(n) == len && memcmp(n, name, len) == 0)
                        return e;
        }
        return -EINVAL;
}

/* The length of the errno word at the start of s (the "EPROTO" of "EPROTO-…"), 0 if there is none:
 * descriptions are lower case, so an upper-case word after "bad-" that starts with E and ends at a
 * '-' can only be meant as an errno name. */
static size_t errno_word(const char *s) {
        size_t n = strspn(s, UPPER_DIGITS);

        return s[0] == 'E' && n > 1 && s[n] == '-' ? n : 0;
}

int seed_name_expect(const char *path, SeedExpect *ret) {
        const char *name = strrchr(path, '/');
        SeedExpect e = {};
        size_t n;

        name = name ? name + 1 : path;
        if (strncmp(name, VALID_PREFIX, strlen(VALID_PREFIX)) == 0)
                e.accept = true;
        else if (strncmp(name, BAD_PREFIX, strlen(BAD_PREFIX)) == 0) {
                name += strlen(BAD_PREFIX);
                n = errno_word(name);
                if (n > 0) {
                        int r = errno_from_name(name, n);

                        if (r < 0)
                                return r;
                        e.error = -r;
                }
        }
        *ret = e;
        return 0;
}

const char *seed_name_description(const char *name) {
        if (strncmp(name, VALID_PREFIX, strlen(VALID_PREFIX)) == 0)
                return name + strlen(VALID_PREFIX);
        if (strncmp(name, BAD_PREFIX, strlen(BAD_PREFIX)) != 0)
                return name;
        name += strlen(BAD_PREFIX);
        return errno_word(name) > 0 ? name + errno_word(name) + 1 : name;
}

bool seed_expect_met(const SeedExpect *e, int r) {
        if (e->accept)
                return r >= 0;
        return r < 0 && (e->error == 0 || r == e->error);
}

const char *seed_verdict_to_string(int r, char *buf, size_t size) {
        const char *n = r < 0 ? strerrorname_np(-r) : NULL;

        if (r >= 0)
                snprintf(buf, size, "accepted");
        else if (n)
                snprintf(buf, size, "-%s", n);
        else
                snprintf(buf, size, "%d", r);
        return buf;
}

const char *seed_expect_to_string(const SeedExpect *e, char *buf, size_t size) {
        char v[32];

        if (e->accept)
                snprintf(buf, size, "accepted");
        else if (e->error == 0)
                snprintf(buf, size, "refused");
        else
                snprintf(buf, size, "refused with %s", seed_verdict_to_string(e->error, v, sizeof v));
        return buf;
}
