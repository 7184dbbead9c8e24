/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "openssl-util.h"

const char *openssl_last_error(void) {
        static char buf[256];
        unsigned long e = ERR_peek_last_error();

        if (e == 0)
                return "unknown OpenSSL error";
        ERR_error_string_n(e, buf, sizeof buf);
        ERR_clear_error();
        return buf;
}
