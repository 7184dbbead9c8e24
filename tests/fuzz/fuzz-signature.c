/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The input is a manifest.sig, checked over FUZZ_SIGNED_MESSAGE against a keyring holding the
 * fixed fuzz key: malformed JSON, bad hex, wrong lengths, unknown and repeated signers, and
 * (from the corpus) signatures that really verify. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-key.h"
#include "fuzz-target.h"
#include "signature.h"

int fuzz_verdict(const uint8_t *data, size_t size) {
        static const char msg[] = FUZZ_SIGNED_MESSAGE;
        const Keyring *k = fuzz_keyring();
        SignatureReport rep;
        int r;

        /* A sentinel: the report must be written whenever the file parsed, and never invented. */
        memset(&rep, 0xa5, sizeof rep);
        r = signature_verify(msg, sizeof msg - 1, (const char *) data, size, k, 1, &rep);
        switch (r) {
        case 0:
        case -EBADMSG:
        case -EKEYREJECTED:
                if (rep.total == 0 || rep.total > SIGNATURES_MAX || rep.valid + rep.invalid + rep.unknown > rep.total)
                        abort();
                /* One trusted key: at most one valid signature counts, whatever the file repeats. */
                if (rep.valid > k->n_keys || (r == 0) != (rep.valid >= 1) ||
                    (r == -EBADMSG) != (rep.valid == 0 && rep.invalid > 0))
                        abort();
                if (rep.valid == 1 && memcmp(rep.valid_ids[0], k->keys[0].id, KEY_ID_SIZE) != 0)
                        abort();
                break;
        case -EUCLEAN:
                break;
        default:
                /* -ENOKEY cannot happen with a key in the ring; -ENOMEM/-EIO would be a bug here. */
                abort();
        }
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        (void) fuzz_verdict(data, size);
        return 0;
}
