/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"

/* dm-verity hash trees in veritysetup's on-disk format (hash type 1, with superblock):
 *   block 0          superblock (512 bytes, zero padded to the hash block size)
 *   blocks 1…        hash levels, the level nearest the root first, leaves last
 *   digest           H(salt || block), each hash block holds 2^k digests, zero padded
 * so `veritysetup verify DATA TREE ROOT` accepts what we write and we read what it writes. */

#define VERITY_MAX_SALT_SIZE 256U
#define VERITY_MAX_DIGEST_SIZE 64U
#define VERITY_MAX_LEVELS 63U
#define VERITY_SUPERBLOCK_SIZE 512U

typedef struct VerityParams {
        char hash_name[32];     /* "sha256" (also "sha512") */
        uint32_t data_block_size;
        uint32_t hash_block_size;
        uint64_t data_size;     /* bytes of data, a positive multiple of data_block_size */
        uint8_t salt[VERITY_MAX_SALT_SIZE];
        size_t salt_size;       /* 0: no salt (veritysetup --salt=-) */
        /* The superblock's UUID, which nothing verifies: random unless has_uuid (reproducible
         * bundles derive it from their content). verity_superblock_parse() fills it in. */
        uint8_t uuid[16];
        bool has_uuid;
} VerityParams;

#define VERITY_MIN_BLOCK_SIZE 512U
#define VERITY_MAX_BLOCK_SIZE (1024U * 1024U)
/* The kernel's dm-verity refuses a data block larger than the page size (and we hold hash blocks
 * to the same bound). A bundle does not know the page size of the machine it will run on: 4096
 * is the smallest of any machine we target (x86-64, most arm64), so bundles never exceed it. */
#define VERITY_PORTABLE_PAGE_SIZE 4096U

/* Checks the parameters (known hash, power-of-two block sizes 512…1 MiB, size a multiple of the
 * block size, salt size) and computes the tree file's size. -EINVAL / -EOVERFLOW on bad input. */
int verity_params_check(const VerityParams *p, uint64_t *ret_tree_size);
/* What the kernel's dm-verity accepts on a machine with this page size: data and hash blocks
 * from 512 bytes up to page_size. -EOPNOTSUPP otherwise, explained at debug level (log_detail()). */
int verity_params_check_page_size(const VerityParams *p, size_t page_size);
size_t verity_digest_size(const VerityParams *p);
/* "sha256, sha512": the hash algorithms we support, for messages. */
#define VERITY_SUPPORTED_HASHES "sha256 and sha512"

/* Streams data blocks in; computes the root hash. If tree_fd >= 0 the full tree, superblock
 * included, is written to it at offset 0 as the levels complete. Memory stays constant in the
 * data size: one hash block per level plus two 2 MiB batch buffers (one filled while the other
 * is hashed). With threads > 1 the leaf level is hashed on that many threads, the caller's
 * included, in chunks of 16 blocks taken in turn; a piece of at least a batch is hashed straight
 * from the caller's buffer, without a copy. */
typedef struct VerityHasher VerityHasher;

int verity_hasher_new(const VerityParams *p, int tree_fd, unsigned threads, VerityHasher **ret);
int verity_hasher_update(VerityHasher *h, const void *data, size_t len);
/* -EBADMSG if fewer or more bytes than data_size were fed. */
int verity_hasher_finish(VerityHasher *h, uint8_t *ret_root, size_t *ret_root_size);
VerityHasher *verity_hasher_free(VerityHasher *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(VerityHasher *, verity_hasher_free);

/* Hashes a whole file (its size must be p->data_size, else -EBADMSG) with the leaf level on
 * `threads` threads: the file is read with pread() into the hasher's two batch buffers in turn,
 * one read while the other is hashed, so memory stays constant in the file's size. Writes the
 * tree to tree_fd if >= 0. -EBADMSG also if the file shrinks meanwhile. */
int verity_hash_fd(int fd, const VerityParams *p, int tree_fd, unsigned threads, uint8_t *ret_root,
                   size_t *ret_root_size);

/* Streams a tree file in (superblock first) and proves it belongs to root: the superblock must
 * state exactly p, and every hash block must hash to its digest in the level above, the top
 * level to root. -EBADMSG on any mismatch. Holds at most one level (the second-lowest) in memory. */
typedef struct VerityTreeChecker VerityTreeChecker;

int verity_tree_checker_new(const VerityParams *p, const uint8_t *root, size_t root_size, VerityTreeChecker **ret);
int verity_tree_checker_update(VerityTreeChecker *c, const void *data, size_t len);
int verity_tree_checker_finish(VerityTreeChecker *c);
VerityTreeChecker *verity_tree_checker_free(VerityTreeChecker *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(VerityTreeChecker *, verity_tree_checker_free);

/* Reads the superblock of a tree made by `veritysetup format` (or by us) into ret,
 * with data_size = data_blocks × data_block_size. -EBADMSG if it is none or one we do not support
 * (format 0, another hash algorithm, …), explained precisely at debug level (log_detail()). */
int verity_superblock_parse(const void *buf, size_t len, VerityParams *ret);

/* Hardware threads to use for hashing: min(online CPUs, 8), at least 1. */
unsigned verity_default_threads(void);
