/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <time.h>

#include <openssl/evp.h>

#include "signature.h"

/* The fixed Ed25519 keys the fuzz corpora are signed with. Their seeds are public: they protect
 * nothing, they only let the generator (gen-corpus.c) and the targets agree without key files. */
#define FUZZ_KEY_SEED "osupdate-fuzz-corpus-signing-key"
#define FUZZ_UNKNOWN_KEY_SEED "osupdate-fuzz-corpus-unknown-key"
#define FUZZ_KEY_SEED_SIZE 32U

/* "Now" for the targets, so expiry decisions do not drift with the clock: 2026-11-25T13:00:00Z. */
#define FUZZ_NOW ((time_t) 1795611600)

/* What fuzz-signature checks its input against: a manifest.sig is always over exactly these bytes. */
#define FUZZ_SIGNED_MESSAGE "osupdate fuzz corpus: the message manifest.sig signs\n"

/* Builds the private key from a 32-byte seed (Ed25519 keys are just their seed). */
int fuzz_key_new(const char *seed, EVP_PKEY **ret);

/* A keyring holding only the public half of FUZZ_KEY_SEED's key. Built at first call and kept
 * for the life of the process; aborts if it cannot be built, since nothing can run without it. */
const Keyring *fuzz_keyring(void);
