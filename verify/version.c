/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "cleanup.h"
#include "version.h"

#define CMP(a, b) (((a) > (b)) - ((a) < (b)))

/* ASCII only, whatever the locale: a version sorts the same everywhere. */
static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_alpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_version_char(char c) {
        return is_digit(c) || is_alpha(c) || (c != 0 && strchr("~-^.", c));
}

/* One separator kind at the current position: the side that has it where the other does not
 * sorts older (returns the comparison), else both skip it. */
static int cmp_separator(const char **a, const char **b, char sep) {
        if (**a == sep || **b == sep) {
                int r = CMP(**a != sep, **b != sep);
                if (r != 0)
                        return r;
                (*a)++;
                (*b)++;
        }
        return 0;
}

int version_compare(const char *a, const char *b) {
        /* No special case for the empty string: NULL is "", and "" is an ordinary version with no
         * segment, so "~" < "~1" < "" == "_" < "0" (the UAPI specification, strverscmp_improved()). */
        a = a ?: "";
        b = b ?: "";

        for (;;) {
                const char *aa, *bb;
                int r;

                while (*a && !is_version_char(*a))
                        a++;
                while (*b && !is_version_char(*b))
                        b++;

                /* '~' before the end check: "1~rc1" is older than "1", "~" older than "". */
                r = cmp_separator(&a, &b, '~');
                if (r != 0)
                        return r;

                /* At the end of either: the one with more left is newer. Compared as chars, as
                 * strverscmp_improved() does: right after a '~' the next character is not skipped
                 * yet, and one with the high bit set sorts before the end where char is signed. */
                if (*a == 0 || *b == 0)
                        return CMP(*a, *b);

                r = cmp_separator(&a, &b, '-');
                if (r != 0)
                        return r;
                r = cmp_separator(&a, &b, '^');
                if (r != 0)
                        return r;
                r = cmp_separator(&a, &b, '.');
                if (r != 0)
                        return r;

                if (is_digit(*a) || is_digit(*b)) {
                        for (aa = a; is_digit(*aa); aa++)
                                ;
                        for (bb = b; is_digit(*bb); bb++)
                                ;
                        /* A numeric segment is newer than none. */
                        r = CMP(a != aa, b != bb);
                        if (r != 0)
                                return r;
                        while (*a == '0' && a < aa)
                                a++;
                        while (*b == '0' && b < bb)
                                b++;
                        /* Compare numbers of any length without parsing: longer is larger. */
                        r = CMP(aa - a, bb - b);
                        if (r != 0)
                                return r;
                        r = CMP(memcmp(a, b, (size_t) (aa - a)), 0);
                        if (r != 0)
                                return r;
                } else {
                        for (aa = a; is_alpha(*aa); aa++)
                                ;
                        for (bb = b; is_alpha(*bb); bb++)
                                ;
                        r = CMP(memcmp(a, b, (size_t) MIN(aa - a, bb - b)), 0);
                        if (r != 0)
                                return r;
                        r = CMP(aa - a, bb - b);
                        if (r != 0)
                                return r;
                }
                a = aa;
                b = bb;
        }
}

bool version_is_valid(const char *v) {
        size_t l;

        if (!v)
                return false;
        l = strlen(v);
        if (l == 0 || l > 128 || !(is_digit(v[0]) || is_alpha(v[0])))
                return false;
        for (size_t i = 0; i < l; i++)
                if (!is_digit(v[i]) && !is_alpha(v[i]) && !strchr("~^._+-", v[i]))
                        return false;
        return true;
}
