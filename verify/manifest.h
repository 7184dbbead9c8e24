/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cleanup.h"
#include "verity-hash.h"

/* manifest.json, format 1:
 * {
 *   "format": 1,
 *   "os_id": "demo", "architecture": "x86_64",
 *   "version": "2.1", "min_version": "1.0",                      (min_version optional)
 *   "created": "2026-11-25T13:00:00Z", "expires": "2027-01-01T00:00:00Z",  (expires optional)
 *   "critical": true,                                            (optional, default false)
 *   "images": [{
 *       "name": "usr", "file": "usr.erofs", "size": 8192, "fstype": "erofs",
 *       "verity": { "hash_algorithm": "sha256", "data_block_size": 4096, "hash_block_size": 4096,
 *                   "salt": "<hex>" (or "-": none), "root_hash": "<hex>",
 *                   "hash_tree": { "file": "usr.verity", "size": 8192 } }   (hash_tree optional)
 *   }]
 * }
 * Unknown keys are refused: a new field means a new format version. */

#define MANIFEST_FORMAT 1U
/* "salt" of a tree without one, as veritysetup spells it (--salt=-). */
#define MANIFEST_NO_SALT "-"
#define MANIFEST_MAX_SIZE (1024U * 1024U)
#define MANIFEST_MAX_IMAGES 8U
/* No image we accept is larger than 1 TiB; every size computation stays far from overflow. */
#define MANIFEST_MAX_IMAGE_SIZE (UINT64_C(1) << 40)

typedef struct ManifestImage {
        char *name;
        char *file;
        uint64_t size;
        char *fstype;              /* "erofs" or "squashfs" */
        VerityParams verity;       /* data_size == size */
        uint8_t root_hash[VERITY_MAX_DIGEST_SIZE];
        size_t root_hash_size;
        char *hash_tree_file;      /* NULL: the bundle carries no tree */
        uint64_t hash_tree_size;
} ManifestImage;

typedef struct Manifest {
        unsigned format;
        char *os_id;
        char *architecture;
        char *version;
        char *min_version;         /* NULL: none */
        time_t created;
        time_t expires;
        bool has_expires;          /* false: never expires */
        bool critical;             /* "critical": true — every namespace is switched at once */
        ManifestImage *images;
        size_t n_images;
} Manifest;

/* Parses and validates. -EPROTONOSUPPORT for another format version, -EUCLEAN for anything
 * malformed (syntax, missing or unknown fields, wrong types, bad values, sizes out of range),
 * -EMEDIUMTYPE for verity blocks larger than this machine's page size (the kernel refuses them). */
int manifest_parse(const char *buf, size_t len, Manifest **ret);

/* Serializes m as JSON (pretty, stable key order). m is validated first. */
int manifest_format(const Manifest *m, char **ret);

Manifest *manifest_free(Manifest *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manifest *, manifest_free);

/* Safe bundle member names: [A-Za-z0-9._-]+, not starting with '.', at most 64 bytes. */
bool manifest_file_name_is_valid(const char *s);
