/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-key.h"
#include "openssl-util.h"

int fuzz_key_new(const char *seed, EVP_PKEY **ret) {
        EVP_PKEY *pkey;

        pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, (const unsigned char *) seed, FUZZ_KEY_SEED_SIZE);
        if (!pkey)
                return -EIO;
        *ret = pkey;
        return 0;
}

static int keyring_build(Keyring *ret) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *priv = NULL, *pub = NULL;
        _cleanup_free_ TrustedKey *keys = NULL;
        uint8_t raw[32];
        size_t raw_len = sizeof raw;
        int r;

        r = fuzz_key_new(FUZZ_KEY_SEED, &priv);
        if (r < 0)
                return r;
        /* Only the public half, as keyring_add_pem_file() would load it from keys.d. */
        if (EVP_PKEY_get_raw_public_key(priv, raw, &raw_len) != 1 || raw_len != sizeof raw)
                return -EIO;
        pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, raw_len);
        if (!pub)
                return -EIO;

        keys = calloc(1, sizeof(TrustedKey));
        if (!keys)
                return -ENOMEM;
        r = key_id_compute(pub, keys[0].id);
        if (r < 0)
                return r;
        keys[0].path = strdup("fuzz-key.pem");
        if (!keys[0].path)
                return -ENOMEM;
        keys[0].pkey = TAKE_PTR(pub);
        *ret = (Keyring){ .keys = TAKE_PTR(keys), .n_keys = 1 };
        return 0;
}

const Keyring *fuzz_keyring(void) {
        static Keyring keyring;
        static bool built;
        int r;

        if (built)
                return &keyring;
        r = keyring_build(&keyring);
        if (r < 0) {
                fprintf(stderr, "Cannot build the fuzz keyring: %s\n", strerror(-r));
                abort();
        }
        built = true;
        return &keyring;
}
