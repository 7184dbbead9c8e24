/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* manifest.sig: detached Ed25519 signatures over the exact bytes of manifest.json, as JSON:
 *   {"signatures": [{"key": "<hex SHA-256 of the public key's DER>",
 *                    "algorithm": "ed25519", "signature": "<hex>"}, …]}
 * Keys are identified by the SHA-256 of their DER SubjectPublicKeyInfo, so a trusted key can be
 * found without trying them all, and a key rotation is just a second signature. */

#define KEY_ID_SIZE 32U
#define SIGNATURES_MAX 16U

typedef struct TrustedKey {
        uint8_t id[KEY_ID_SIZE];
        EVP_PKEY *pkey;
        char *path;
} TrustedKey;

typedef struct Keyring {
        TrustedKey *keys;
        size_t n_keys;
} Keyring;

/* Adds every *.pem public key in dir (sorted by name). Keys that are not Ed25519 public keys are
 * skipped with a warning. Returns the number added, -ENOENT if dir does not exist. */
int keyring_load_dir(Keyring *k, const char *dir);
int keyring_add_pem_file(Keyring *k, const char *path);
void keyring_done(Keyring *k);

int key_id_compute(EVP_PKEY *pkey, uint8_t ret[KEY_ID_SIZE]);

/* Loads an Ed25519 private key from a PEM file. */
int private_key_load(const char *path, EVP_PKEY **ret);

/* Builds manifest.sig for data with each key. */
int signature_sign(const void *data, size_t len, EVP_PKEY *const *keys, size_t n_keys, char **ret);

typedef struct SignatureReport {
        unsigned total;          /* signatures in the file */
        unsigned valid;          /* valid, by distinct trusted keys */
        unsigned invalid;        /* named a trusted key but did not verify */
        unsigned unknown;        /* named no trusted key */
        uint8_t valid_ids[SIGNATURES_MAX][KEY_ID_SIZE];
} SignatureReport;

/* Verifies sig (manifest.sig bytes) over data.
 *   0             at least `required` valid signatures from distinct trusted keys
 *   -EUCLEAN      manifest.sig is malformed
 *   -EBADMSG      too few valid, and a signature by a trusted key did not verify (altered data)
 *   -EKEYREJECTED too few valid signatures by trusted keys (unknown signers, or repeats)
 *   -ENOKEY       the keyring is empty
 * The report is filled in every case where the file parsed. */
int signature_verify(const void *data, size_t len, const char *sig, size_t sig_len, const Keyring *k,
                     unsigned required, SignatureReport *ret_report);
