/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "signature.h"
#include "verity-hash.h"

/* The publisher behind `osupdate bundle create`: builds (or takes) the usr image, hashes it into a
 * dm-verity tree (or proves a given tree belongs to it), writes manifest.json, signs it with every
 * key and writes the bundle (docs/bundle-format.md). The request is checked by the caller: what
 * reaches publish_bundle() is a usage the command line accepts. */

typedef struct PublishRequest {
        EVP_PKEY *keys[SIGNATURES_MAX]; /* owned: publish_request_done() frees them */
        size_t n_keys;
        const char *os_id;
        const char *architecture;
        const char *version;
        const char *min_version;        /* NULL: none */
        const char *tree;               /* build the image from this directory, or … */
        const char *image;              /* … take this erofs or squashfs image, */
        const char *hash_tree;          /* with this `veritysetup format` tree; NULL: make one */
        const char *fstype;             /* NULL: erofs for a tree, whatever the image is */
        time_t now;                     /* "created", and the members' mtime */
        time_t expires;                 /* 0: never */
        time_t epoch;                   /* the image's timestamps (SOURCE_DATE_EPOCH) */
        /* SOURCE_DATE_EPOCH was given: the verity salt and superblock UUID are derived from the
         * image instead of drawn at random, so the same input gives the same bundle bytes (the
         * caller sets now = epoch). */
        bool reproducible;
        bool critical;
        const char *output;             /* the bundle, written atomically */
} PublishRequest;

/* Loads an Ed25519 private key in PEM format into the next free slot of req (logged: -ENOENT for
 * a key that cannot be read, -EINVAL for one that is not an Ed25519 private key). The caller keeps
 * n_keys below SIGNATURES_MAX. */
int publish_request_add_key(PublishRequest *req, const char *path);
void publish_request_done(PublishRequest *req);

typedef struct PublishResult {
        const char *fstype;             /* "erofs" or "squashfs", as in the manifest */
        uint64_t image_size;
        uint8_t root_hash[VERITY_MAX_DIGEST_SIZE];
        size_t root_hash_size;
} PublishResult;

/* Writes req->output, or nothing at all: a failure leaves neither the bundle nor a temporary file.
 * Errors are logged, with the codes of docs/exit-codes.md: -EINVAL (an image or tree that cannot
 * serve), -EMEDIUMTYPE (neither erofs nor squashfs, or not req->fstype), -EBADMSG (a hash tree of
 * another image, an image that changed while hashed), -EIO/-ENOENT/-EACCES/-ENOSPC (I/O, mkfs). */
int publish_bundle(const PublishRequest *req, PublishResult *ret);
