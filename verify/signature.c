/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fileio.h"
#include "hex.h"
#include "json-util.h"
#include "log.h"
#include "openssl-util.h"
#include "signature.h"

#define ED25519_SIG_SIZE 64U

int key_id_compute(EVP_PKEY *pkey, uint8_t ret[KEY_ID_SIZE]) {
        _cleanup_free_ unsigned char *der = NULL;
        unsigned char *p = NULL;
        unsigned int mdlen = 0;
        int len;

        len = i2d_PUBKEY(pkey, &p);
        if (len <= 0)
                return -EINVAL;
        der = p;
        if (EVP_Digest(der, (size_t) len, ret, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != KEY_ID_SIZE)
                return -EIO;
        return 0;
}

int keyring_add_pem_file(Keyring *k, const char *path) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        TrustedKey *n;
        uint8_t id[KEY_ID_SIZE];
        int r;

        bio = BIO_new_file(path, "r");
        if (!bio)
                return log_debug_errno(ENOENT, "Cannot open key %s: %s", path, openssl_last_error());
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        if (!pkey)
                return log_debug_errno(EINVAL, "%s is not a PEM public key: %s", path, openssl_last_error());
        if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519)
                return log_debug_errno(EINVAL, "%s is not an Ed25519 key.", path);
        r = key_id_compute(pkey, id);
        if (r < 0)
                return r;
        for (size_t i = 0; i < k->n_keys; i++)
                if (memcmp(k->keys[i].id, id, KEY_ID_SIZE) == 0)
                        return 0; /* the same key twice counts once */

        n = realloc(k->keys, sizeof(TrustedKey) * (k->n_keys + 1));
        if (!n)
                return -ENOMEM;
        k->keys = n;
        n = &k->keys[k->n_keys];
        memcpy(n->id, id, KEY_ID_SIZE);
        n->path = strdup(path);
        if (!n->path)
                return -ENOMEM;
        n->pkey = TAKE_PTR(pkey);
        k->n_keys++;
        return 1;
}

int keyring_load_dir(Keyring *k, const char *dir) {
        _cleanup_strv_free_ char **files = NULL;
        int r, added = 0;

        r = dir_list_suffix(dir, ".pem", &files);
        if (r < 0)
                return r;
        for (char **f = files; *f; f++) {
                _cleanup_free_ char *p = path_join(dir, *f);
                if (!p)
                        return -ENOMEM;
                r = keyring_add_pem_file(k, p);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_warning("Ignoring %s: not an Ed25519 public key in PEM format.", p);
                        continue;
                }
                added += r;
        }
        return added;
}

void keyring_done(Keyring *k) {
        for (size_t i = 0; i < k->n_keys; i++) {
                EVP_PKEY_free(k->keys[i].pkey);
                free(k->keys[i].path);
        }
        free(k->keys);
        *k = (Keyring) {};
}

int private_key_load(const char *path, EVP_PKEY **ret) {
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        EVP_PKEY *pkey;

        bio = BIO_new_file(path, "r");
        if (!bio)
                return -ENOENT;
        pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (!pkey)
                return log_debug_errno(EINVAL, "%s is not a PEM private key: %s", path, openssl_last_error());
        if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
                EVP_PKEY_free(pkey);
                return log_debug_errno(EINVAL, "%s is not an Ed25519 key.", path);
        }
        *ret = pkey;
        return 0;
}

int signature_sign(const void *data, size_t len, EVP_PKEY *const *keys, size_t n_keys, char **ret) {
        _cleanup_(json_object_putp) json_object *root = NULL, *arr = NULL;
        char *s;

        if (n_keys == 0 || n_keys > SIGNATURES_MAX)
                return -EINVAL;
        root = json_object_new_object();
        arr = json_object_new_array();
        if (!root || !arr)
                return -ENOMEM;

        for (size_t i = 0; i < n_keys; i++) {
                _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
                _cleanup_free_ char *idhex = NULL, *sighex = NULL;
                uint8_t id[KEY_ID_SIZE], sig[ED25519_SIG_SIZE];
                size_t siglen = sizeof sig;
                json_object *e;
                int r;

                r = key_id_compute(keys[i], id);
                if (r < 0)
                        return r;
                ctx = EVP_MD_CTX_new();
                if (!ctx)
                        return -ENOMEM;
                /* Ed25519 is "pure": no digest is named, the whole message is signed in one call. */
                if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, keys[i]) != 1 ||
                    EVP_DigestSign(ctx, sig, &siglen, data, len) != 1)
                        return log_debug_errno(EIO, "Signing failed: %s", openssl_last_error());
                idhex = hex_encode(id, sizeof id);
                sighex = hex_encode(sig, siglen);
                e = json_object_new_object();
                if (!idhex || !sighex || !e)
                        return -ENOMEM;
                json_object_array_add(arr, e);
                json_object_object_add(e, "key", json_object_new_string(idhex));
                json_object_object_add(e, "algorithm", json_object_new_string("ed25519"));
                json_object_object_add(e, "signature", json_object_new_string(sighex));
        }
        json_object_object_add(root, "signatures", TAKE_PTR(arr));

        s = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static const TrustedKey *keyring_find(const Keyring *k, const uint8_t *id) {
        for (size_t i = 0; i < k->n_keys; i++)
                if (memcmp(k->keys[i].id, id, KEY_ID_SIZE) == 0)
                        return &k->keys[i];
        return NULL;
}

int signature_verify(const void *data, size_t len, const char *sig, size_t sig_len, const Keyring *k,
                     unsigned required, SignatureReport *ret_report) {
        static const char *const top_keys[] = { "signatures", NULL };
        static const char *const entry_keys[] = { "key", "algorithm", "signature", NULL };
        _cleanup_(json_object_putp) json_object *root = NULL;
        SignatureReport rep = {};
        json_object *arr;
        size_t n;

        if (json_parse_strict(sig, sig_len, &root) < 0 || !json_object_is_type(root, json_type_object))
                return log_debug_errno(EUCLEAN, "manifest.sig is not a JSON object.");
        if (json_check_keys(root, top_keys, NULL) < 0 || json_get_array(root, "signatures", false, &arr) < 0)
                return log_debug_errno(EUCLEAN, "manifest.sig has no \"signatures\" array.");
        n = json_object_array_length(arr);
        if (n == 0 || n > SIGNATURES_MAX)
                return log_debug_errno(EUCLEAN, "manifest.sig holds %zu signatures (1…%u allowed).", n, SIGNATURES_MAX);
        rep.total = (unsigned) n;

        for (size_t i = 0; i < n; i++) {
                _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
                _cleanup_free_ uint8_t *id = NULL, *s = NULL;
                json_object *e = json_object_array_get_idx(arr, i);
                const char *idhex = NULL, *alg = NULL, *sighex = NULL;
                size_t idlen, slen;
                const TrustedKey *tk;
                bool dup = false;

                if (!json_object_is_type(e, json_type_object) || json_check_keys(e, entry_keys, NULL) < 0 ||
                    json_get_string(e, "key", false, &idhex) < 0 || json_get_string(e, "algorithm", false, &alg) < 0 ||
                    json_get_string(e, "signature", false, &sighex) < 0)
                        return log_debug_errno(EUCLEAN, "manifest.sig: signature %zu is malformed.", i);
                if (strcmp(alg, "ed25519") != 0)
                        return log_debug_errno(EUCLEAN, "manifest.sig: signature %zu uses unsupported algorithm \"%s\".", i, alg);
                if (hex_decode(idhex, &id, &idlen) < 0 || idlen != KEY_ID_SIZE || hex_decode(sighex, &s, &slen) < 0 ||
                    slen != ED25519_SIG_SIZE)
                        return log_debug_errno(EUCLEAN, "manifest.sig: signature %zu has a malformed key id or value.", i);

                tk = k ? keyring_find(k, id) : NULL;
                if (!tk) {
                        rep.unknown++;
                        continue;
                }
                ctx = EVP_MD_CTX_new();
                if (!ctx)
                        return -ENOMEM;
                if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, tk->pkey) != 1)
                        return log_debug_errno(EIO, "Cannot set up verification: %s", openssl_last_error());
                if (EVP_DigestVerify(ctx, s, slen, data, len) != 1) {
                        ERR_clear_error();
                        rep.invalid++;
                        continue;
                }
                /* Two signatures by one key count once. */
                for (unsigned j = 0; j < rep.valid; j++)
                        if (memcmp(rep.valid_ids[j], id, KEY_ID_SIZE) == 0)
                                dup = true;
                if (!dup)
                        memcpy(rep.valid_ids[rep.valid++], id, KEY_ID_SIZE);
        }

        if (ret_report)
                *ret_report = rep;
        if (!k || k->n_keys == 0)
                return -ENOKEY;
        if (rep.valid >= MAX(required, 1U))
                return 0;
        if (rep.invalid > 0)
                return -EBADMSG;
        return -EKEYREJECTED;
}
