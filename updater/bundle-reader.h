/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "manifest.h"
#include "signature.h"

/* Reads a bundle once, as a stream, and proves it authentic on the way:
 *   manifest.json, manifest.sig    → signatures by trusted keys, then the manifest is parsed
 *                                    and its expiry checked, before any payload byte is read
 *   each image, then its hash tree → the image's verity root is recomputed as it streams, the
 *                                    tree is checked level by level against the signed root
 *   end of archive                 → only end-of-archive padding may follow
 * Payload bytes reach the sink as they arrive: they are not verified until the member's end()
 * is called, so a sink must treat what it wrote as untrusted until then. */

typedef struct BundleSink {
        /* The manifest is authentic and passed the time checks. A negative return aborts. The raw
         * signed bytes (manifest.json and manifest.sig) are passed for keeping. */
        int (*manifest)(const Manifest *m, void *userdata);
        int (*signed_bytes)(const char *manifest, size_t manifest_len, const char *sig, size_t sig_len, void *userdata);
        /* Optional, for an image whose bundle carries no hash tree: an fd the tree computed while
         * the image streams is written to (or -EBADF for none). */
        int (*tree_fd)(const ManifestImage *img, void *userdata);
        /* Called before the first image's data, with the raw bundle bytes up to that point
         * (headers, manifest, signature): what a later run must replay to resume the download. */
        int (*resume_point)(const void *head, size_t head_len, void *userdata);
        int (*begin)(const ManifestImage *img, bool hash_tree, void *userdata);
        int (*data)(const void *buf, size_t len, void *userdata);
        /* The member's bytes are verified. */
        int (*end)(const ManifestImage *img, bool hash_tree, void *userdata);
        void *userdata;
} BundleSink;

typedef struct BundleReadOptions {
        const Keyring *keyring;
        unsigned signatures_required;
        time_t now;
        unsigned threads;          /* for the verity leaf level; 0: one per CPU */
        const BundleSink *sink;    /* may be NULL */
} BundleReadOptions;

/* A source of bundle bytes: returns bytes read, 0 at the end, or negative errno. */
typedef ssize_t (*BundleReadFunc)(void *userdata, void *buf, size_t len);

/* Error classes (the detail is in log_detail()):
 *   -EPROTO            malformed container: member order, names, types, sizes, truncation, trailing data
 *   -EUCLEAN           malformed manifest.json or manifest.sig
 *   -EPROTONOSUPPORT   unknown manifest format version
 *   -EKEYREJECTED      unsigned, or too few valid signatures by trusted keys
 *   -ENOKEY            no trusted keys
 *   -EBADMSG           a byte does not match what was signed (manifest, image or hash tree)
 *   -EKEYEXPIRED       the manifest has expired
 *   sink errors and I/O errors as they are */
int bundle_read(BundleReadFunc fn, void *fn_userdata, const BundleReadOptions *opts, Manifest **ret_manifest,
                SignatureReport *ret_report);
/* A BundleReadFunc over a file descriptor (userdata: int *). */
ssize_t bundle_fd_read(void *userdata, void *buf, size_t len);
int bundle_read_fd(int fd, const BundleReadOptions *opts, Manifest **ret_manifest, SignatureReport *ret_report);

/* Returns the raw bytes of the first member, manifest.json, without checking anything else. */
int bundle_read_manifest_unverified(int fd, char **ret, size_t *ret_len);
