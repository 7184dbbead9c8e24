/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-target.h"
#include "manifest.h"

int fuzz_verdict(const uint8_t *data, size_t size) {
        _cleanup_(manifest_freep) Manifest *m = NULL, *again = NULL;
        _cleanup_free_ char *out = NULL, *out_again = NULL;
        int r;

        r = manifest_parse((const char *) data, size, &m);
        if (r < 0)
                return r;
        /* Whatever parses must serialize and parse again, to the same manifest: the publisher
         * writes with manifest_format() what devices read with manifest_parse(). */
        if (manifest_format(m, &out) < 0)
                abort();
        if (manifest_parse(out, strlen(out), &again) < 0 || manifest_format(again, &out_again) < 0 ||
            strcmp(out, out_again) != 0)
                abort();
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        (void) fuzz_verdict(data, size);
        return 0;
}
