/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <string.h>

#include "version.h"

#define MIN_LEN(a, b) ((a) < (b) ? (a) : (b))
#define CMP(a, b) (((a) > (b)) - ((a) < (b)))

static bool is_version_char(char c) {
        return isalnum((unsigned char) c) || strchr("~-^.", c);
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
        if (!a || !b || !*a || !*b)
                return CMP(a && *a, b && *b);

        for (;;) {
                const char *aa, *bb;
                int r;

                while (*a && !is_version_char(*a))
                        a++;
                while (*b && !is_version_char(*b))
                        b++;

                /* '~' before the end check: "1~rc1" is older than "1". */
                r = cmp_separator(&a, &b, '~');
                if (r != 0)
                        return r;

                if (*a == 0 || *b == 0)
                        return CMP(*a != 0, *b != 0) ?: CMP(strcmp(a, b), 0);

                r = cmp_separator(&a, &b, '-');
                if (r != 0)
                        return r;
                r = cmp_separator(&a, &b, '^');
                if (r != 0)
                        return r;
                r = cmp_separator(&a, &b, '.');
                if (r != 0)
                        return r;

                if (isdigit((unsigned char) *a) || isdigit((unsigned char) *b)) {
                        for (aa = a; isdigit((unsigned char) *aa); aa++)
                                ;
                        for (bb = b; isdigit((unsigned char) *bb); bb++)
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
                        for (aa = a; isalpha((unsigned char) *aa); aa++)
                                ;
                        for (bb = b; isalpha((unsigned char) *bb); bb++)
                                ;
                        r = CMP(memcmp(a, b, (size_t) MIN_LEN(aa - a, bb - b)), 0);
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
        if (l == 0 || l > 128 || !isalnum((unsigned char) v[0]))
                return false;
        for (size_t i = 0; i < l; i++)
                if (!isalnum((unsigned char) v[i]) && !strchr("~^._+-", v[i]))
                        return false;
        return true;
}
