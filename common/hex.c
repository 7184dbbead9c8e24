/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "hex.h"

char *hex_encode(const void *p, size_t len) {
        static const char digits[] = "0123456789abcdef";
        const uint8_t *b = p;
        char *s;

        s = malloc(len * 2 + 1);
        if (!s)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                s[2 * i] = digits[b[i] >> 4];
                s[2 * i + 1] = digits[b[i] & 15];
        }
        s[len * 2] = 0;
        return s;
}

static int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

int hex_decode(const char *s, uint8_t **ret, size_t *ret_len) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t l = strlen(s);

        if (l == 0 || l % 2 != 0)
                return -EINVAL;
        buf = malloc(l / 2);
        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i < l / 2; i++) {
                int a = unhexchar(s[2 * i]), b = unhexchar(s[2 * i + 1]);
                if (a < 0 || b < 0)
                        return -EINVAL;
                buf[i] = (uint8_t) (a << 4 | b);
        }
        *ret = TAKE_PTR(buf);
        *ret_len = l / 2;
        return 0;
}
