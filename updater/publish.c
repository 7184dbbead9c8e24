/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "bundle-writer.h"
#include "fileio.h"
#include "image.h"
#include "log.h"
#include "manifest.h"
#include "openssl-util.h"
#include "publish.h"

#define SALT_SIZE 32U
#define BLOCK_SIZE 4096U
/* Domain strings of what reproducible bundles derive; a change of either changes every bundle. */
#define CONTENT_SALT "osupdate image content v1"
#define SALT_DOMAIN "osupdate verity salt v1"
#define UUID_DOMAIN "osupdate verity uuid v1"


int publish_request_add_key(PublishRequest *req, const char *path) {
        int r;

        r = private_key_load(path, &req->keys[req->n_keys]);
        if (r == -ENOENT)
                return log_error_errno(ENOENT, "Cannot read signing key %s.", path);
        if (r < 0)
                return log_error_errno(EINVAL, "Signing key %s is not an Ed25519 private key in PEM format.", path);
        req->n_keys++;
        return 0;
}

void publish_request_done(PublishRequest *req) {
        for (size_t i = 0; i < req->n_keys; i++)
                EVP_PKEY_free(req->keys[i]);
        *req = (PublishRequest) {};
}

/* An empty temporary file next to out, ".OUT.WHAT.XXXXXX", so the final rename stays within one
 * file system. Returns the fd; *ret gets the name only once the file exists. */
static int make_temp(const char *out, const char *what, char **ret) {
        _cleanup_free_ char *copy = strdup(out), *p = NULL;
        int fd;

        if (!copy || asprintf(&p, "%s/.%s.%s.XXXXXX", dirname(copy), basename((char *) out), what) < 0)
                return -ENOMEM;
        fd = bundle_temp_mkostemp(p);
        if (fd < 0)
                return log_error_errno(fd, "Cannot create a temporary file next to %s: %m", out);
        *ret = TAKE_PTR(p);
        return fd;
}

/* Builds the image of req->tree into a temporary file next to the bundle. */
static int image_build_temp(const PublishRequest *req, const char *fstype, char **ret_path) {
        _cleanup_(bundle_temp_unlink_and_freep) char *p = NULL;
        int fd, r;

        fd = make_temp(req->output, "image", &p);
        if (fd < 0)
                return fd;
        safe_close(fd); /* mkfs writes the file by its name */
        r = image_build(req->tree, fstype, req->os_id, req->version, req->epoch, p);
        if (r < 0)
                return r;
        *ret_path = TAKE_PTR(p);
        return 0;
}

/* What filesystem req->image holds, and that it is the one req->fstype asks for. */
static int image_check_fstype(const PublishRequest *req, const char **ret) {
        const char *detected;
        int r;

        r = image_detect_fstype(req->image, &detected);
        if (r == -EMEDIUMTYPE)
                return log_error_errno(r, "%s is neither an erofs nor a squashfs image.", req->image);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", req->image);
        if (req->fstype && strcmp(req->fstype, detected) != 0)
                return log_error_errno(EMEDIUMTYPE, "%s contains %s, not %s.", req->image, detected, req->fstype);
        *ret = detected;
        return 0;
}

/* dm-verity protects whole blocks, and the manifest refuses images above 1 TiB. *ret_st: the image
 * as it is before it is hashed; it must not change until it is in the bundle. */
static int image_check_size(const char *image, uint64_t *ret, struct stat *ret_st) {
        struct stat st;

        if (stat(image, &st) < 0)
                return log_error_errno(errno, "Cannot stat %s: %m", image);
        if (st.st_size == 0 || st.st_size % BLOCK_SIZE != 0 || (uint64_t) st.st_size > MANIFEST_MAX_IMAGE_SIZE)
                return log_error_errno(EINVAL, "%s is %lld bytes: an image must be a positive multiple of %u bytes, at most 1 TiB (dm-verity protects whole blocks).",
                                       image, (long long) st.st_size, BLOCK_SIZE);
        *ret = (uint64_t) st.st_size;
        *ret_st = st;
        return 0;
}

/* Computes the tree of image into tree_fd (unless tree_fd < 0) and its root. */
static int hash_image(const char *image, const VerityParams *p, int tree_fd, uint8_t *root, size_t *root_len) {
        _cleanup_close_ int fd = open(image, O_RDONLY | O_CLOEXEC);
        int r;

        if (fd < 0)
                return log_error_errno(errno, "Cannot open %s: %m", image);
        r = verity_hash_fd(fd, p, tree_fd, verity_default_threads(), root, root_len);
        if (r == -EBADMSG)
                return log_error_errno(r, "%s changed size while being hashed.", image);
        if (r < 0)
                return log_error_errno(r, "Verity hashing of %s failed: %m", image);
        return 0;
}

/* The given tree as the bundle carries it, in a temporary file next to out: the first tree_size
 * bytes of tree_path (veritysetup does not truncate a longer file it writes a tree into), with
 * block 0 zero after the 512-byte superblock (veritysetup leaves whatever was there; nothing reads
 * it, and a bundle carries no byte that is not checked). Proved on the way to be the tree of the
 * image with root. */
static int tree_copy_checked(const char *out, const char *tree_path, int fd, const VerityParams *p, uint64_t tree_size,
                             const uint8_t *root, size_t root_len, char **ret_path) {
        _cleanup_(verity_tree_checker_freep) VerityTreeChecker *c = NULL;
        _cleanup_(bundle_temp_unlink_and_freep) char *tmp = NULL;
        _cleanup_close_ int tmp_fd = -EBADF;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t buf_size = MAX(65536U, (size_t) p->hash_block_size);
        uint64_t done = 0;
        int r;

        buf = malloc(buf_size);
        if (!buf)
                return log_oom();
        r = verity_tree_checker_new(p, root, root_len, &c);
        if (r < 0)
                return log_oom();
        tmp_fd = make_temp(out, "verity", &tmp);
        if (tmp_fd < 0)
                return tmp_fd;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return log_error_errno(errno, "Cannot read %s: %m", tree_path);
        while (done < tree_size) {
                ssize_t n = loop_read(fd, buf, (size_t) MIN((uint64_t) buf_size, tree_size - done));

                if (n < 0)
                        return log_error_errno((int) n, "Cannot read %s: %m", tree_path);
                if (n == 0)
                        return log_error_errno(EINVAL, "%s shrank while being read.", tree_path);
                if (done < p->hash_block_size) {
                        size_t from = (size_t) MAX(done, (uint64_t) VERITY_SUPERBLOCK_SIZE) - (size_t) done;
                        size_t to = (size_t) MIN((uint64_t) n, p->hash_block_size - done);
                        if (from < to)
                                memset(buf + from, 0, to - from);
                }
                r = verity_tree_checker_update(c, buf, (size_t) n);
                if (r < 0)
                        return log_error_errno(EBADMSG, "%s is not the hash tree of this image: %s", tree_path,
                                               log_detail() ?: "mismatch");
                r = loop_write(tmp_fd, buf, (size_t) n);
                if (r < 0)
                        return log_error_errno(r, "Cannot write %s: %m", tmp);
                done += (uint64_t) n;
        }
        r = verity_tree_checker_finish(c);
        if (r < 0)
                return log_error_errno(EBADMSG, "%s is not the hash tree of this image: %s", tree_path,
                                       log_detail() ?: "mismatch");
        if (fsync(tmp_fd) < 0)
                return log_error_errno(errno, "Cannot write %s: %m", tmp);
        *ret_path = TAKE_PTR(tmp);
        return 0;
}

/* The verity parameters from the superblock of a given tree, which must be the image's, in a
 * format and with block sizes every kernel we target accepts. The tree's size follows from them
 * (img->hash_tree_size); the file may be longer. The tree, as the bundle carries it, goes to a
 * temporary file next to out. */
static int verity_from_tree_file(const char *out, const char *tree_path, const char *image, ManifestImage *img,
                                 char **ret_path) {
        _cleanup_close_ int fd = open(tree_path, O_RDONLY | O_CLOEXEC);
        uint8_t sb[VERITY_SUPERBLOCK_SIZE];
        struct stat st;
        ssize_t n;
        int r;

        if (fd < 0 || fstat(fd, &st) < 0)
                return log_error_errno(errno, "Cannot open %s: %m", tree_path);
        n = pread(fd, sb, sizeof sb, 0);
        if (n < 0)
                return log_error_errno(errno, "Cannot read %s: %m", tree_path);
        if (n != (ssize_t) sizeof sb)
                return log_error_errno(EINVAL, "%s is not a veritysetup hash tree: it is shorter than a superblock.",
                                       tree_path);
        if (verity_superblock_parse(sb, sizeof sb, &img->verity) < 0)
                return log_error_errno(EINVAL, "%s cannot be used: %s", tree_path,
                                       log_detail() ?: "not a veritysetup hash tree with a superblock.");
        if (verity_params_check_page_size(&img->verity, VERITY_PORTABLE_PAGE_SIZE) < 0)
                return log_error_errno(EINVAL, "%s cannot be used: %s Bundles keep to %u bytes, the smallest page size of "
                                       "the machines they may run on (veritysetup format --data-block-size=4096 "
                                       "--hash-block-size=4096).",
                                       tree_path, log_detail() ?: "block size too large.", VERITY_PORTABLE_PAGE_SIZE);
        if (img->verity.data_size != img->size)
                return log_error_errno(EINVAL, "%s covers %llu bytes, the image has %llu.", tree_path,
                                       (unsigned long long) img->verity.data_size, (unsigned long long) img->size);
        r = verity_params_check(&img->verity, &img->hash_tree_size);
        if (r < 0)
                return log_error_errno(EINVAL, "%s states invalid verity parameters.", tree_path);
        if ((uint64_t) st.st_size < img->hash_tree_size)
                return log_error_errno(EINVAL, "%s is %lld bytes: its superblock needs a tree of %llu bytes.", tree_path,
                                       (long long) st.st_size, (unsigned long long) img->hash_tree_size);
        r = hash_image(image, &img->verity, -EBADF, img->root_hash, &img->root_hash_size);
        if (r < 0)
                return r;
        return tree_copy_checked(out, tree_path, fd, &img->verity, img->hash_tree_size, img->root_hash,
                                 img->root_hash_size, ret_path);
}

/* SHA-256 over the parts, each NUL-terminated string part with its NUL. */
static int sha256_parts(const void *const *parts, const size_t *lens, size_t n, uint8_t out[32]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                return log_error_errno(EIO, "SHA-256 failed: %s", openssl_last_error());
        for (size_t i = 0; i < n; i++)
                if (EVP_DigestUpdate(ctx, parts[i], lens[i]) != 1)
                        return log_error_errno(EIO, "SHA-256 failed: %s", openssl_last_error());
        if (EVP_DigestFinal_ex(ctx, out, NULL) != 1)
                return log_error_errno(EIO, "SHA-256 failed: %s", openssl_last_error());
        return 0;
}

/* Reproducible bundles (SOURCE_DATE_EPOCH): a salt no other content shares, yet the same for the
 * same content on any machine. It is a digest of the image — its verity root under a fixed salt,
 * one more pass over the image on every core — with os id, version and filesystem type; the
 * superblock's UUID is a digest of the salt. The salt must be known before the tree is hashed, so
 * the pass cannot be shared with the tree's; it costs what the tree's pass does (SHA-256 is the
 * cost, not the construction: 64 KiB or 1 MiB pieces instead of 4 KiB blocks measured the same,
 * docs/benchmarks.md). */
static int verity_derive_salt(const PublishRequest *req, const char *image, ManifestImage *img) {
        VerityParams content = {
                .hash_name = "sha256",
                .data_block_size = BLOCK_SIZE,
                .hash_block_size = BLOCK_SIZE,
                .data_size = img->size,
                .salt = CONTENT_SALT,
                .salt_size = sizeof CONTENT_SALT - 1,
        };
        uint8_t digest[VERITY_MAX_DIGEST_SIZE], u[32];
        size_t digest_len;
        int r;

        r = hash_image(image, &content, -EBADF, digest, &digest_len);
        if (r < 0)
                return r;
        {
                const void *parts[] = { SALT_DOMAIN, req->os_id, req->version, img->fstype, digest };
                const size_t lens[] = { sizeof SALT_DOMAIN, strlen(req->os_id) + 1, strlen(req->version) + 1,
                                        strlen(img->fstype) + 1, digest_len };
                r = sha256_parts(parts, lens, ELEMENTSOF(parts), img->verity.salt);
                if (r < 0)
                        return r;
        }
        img->verity.salt_size = SALT_SIZE;
        {
                const void *parts[] = { UUID_DOMAIN, img->verity.salt };
                const size_t lens[] = { sizeof UUID_DOMAIN, SALT_SIZE };
                r = sha256_parts(parts, lens, ELEMENTSOF(parts), u);
                if (r < 0)
                        return r;
        }
        /* A name-based UUID: version 5 layout, variant 1. */
        memcpy(img->verity.uuid, u, sizeof img->verity.uuid);
        img->verity.uuid[6] = (img->verity.uuid[6] & 0x0f) | 0x50;
        img->verity.uuid[8] = (img->verity.uuid[8] & 0x3f) | 0x80;
        img->verity.has_uuid = true;
        return 0;
}

/* New verity parameters (sha256, 4 KiB blocks, a random salt — or, for a reproducible bundle, one
 * derived from the image) and the tree, in a temporary file next to req->output. */
static int verity_make_tree(const PublishRequest *req, const char *image, ManifestImage *img, char **ret_path) {
        _cleanup_(bundle_temp_unlink_and_freep) char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *out = req->output;
        int r;

        strcpy(img->verity.hash_name, "sha256");
        img->verity.data_block_size = img->verity.hash_block_size = BLOCK_SIZE;
        img->verity.data_size = img->size;
        if (req->reproducible) {
                r = verity_derive_salt(req, image, img);
                if (r < 0)
                        return r;
        } else {
                img->verity.salt_size = SALT_SIZE;
                if (RAND_bytes(img->verity.salt, SALT_SIZE) != 1)
                        return log_error_errno(EIO, "No randomness for the verity salt.");
        }
        r = verity_params_check(&img->verity, &img->hash_tree_size);
        if (r < 0)
                return log_error_errno(r, "Invalid verity parameters: %m");
        fd = make_temp(out, "verity", &p);
        if (fd < 0)
                return fd;
        /* No fsync: the tree is copied into the bundle, which is synced, and then removed. */
        r = hash_image(image, &img->verity, fd, img->root_hash, &img->root_hash_size);
        if (r < 0)
                return r;
        *ret_path = TAKE_PTR(p);
        return 0;
}

/* manifest.json for req and its one image, and manifest.sig over its exact bytes. */
static int manifest_make_signed(const PublishRequest *req, ManifestImage *img, char **ret_json, char **ret_sig) {
        const Manifest m = {
                .format = MANIFEST_FORMAT,
                .os_id = (char *) req->os_id,
                .architecture = (char *) req->architecture,
                .version = (char *) req->version,
                .min_version = (char *) req->min_version,
                .created = req->now,
                .expires = req->expires,
                .has_expires = req->expires != 0,
                .critical = req->critical,
                .images = img,
                .n_images = 1,
        };
        _cleanup_free_ char *json = NULL;
        int r;

        r = manifest_format(&m, &json);
        if (r < 0)
                return log_error_errno(EINVAL, "Cannot build the manifest: %s", log_detail() ?: "invalid values");
        r = signature_sign(json, strlen(json), req->keys, req->n_keys, ret_sig);
        if (r < 0)
                return log_error_errno(r, "Signing failed: %m");
        *ret_json = TAKE_PTR(json);
        return 0;
}

int publish_bundle(const PublishRequest *req, PublishResult *ret) {
        _cleanup_(bundle_temp_unlink_and_freep) char *tmp_image = NULL, *tmp_tree = NULL;
        _cleanup_free_ char *image_file = NULL, *mjson = NULL, *sig = NULL;
        ManifestImage img = { .name = (char *) "usr", .hash_tree_file = (char *) "usr.verity" };
        const char *image, *fstype = req->fstype ?: "erofs";
        struct stat image_st;
        int r;

        if (req->tree)
                r = image_build_temp(req, fstype, &tmp_image);
        else
                r = image_check_fstype(req, &fstype);
        if (r < 0)
                return r;
        image = req->tree ? tmp_image : req->image;

        r = image_check_size(image, &img.size, &image_st);
        if (r < 0)
                return r;
        if (asprintf(&image_file, "usr.%s", fstype) < 0)
                return log_oom();
        img.file = image_file;
        img.fstype = (char *) fstype;

        if (req->hash_tree)
                r = verity_from_tree_file(req->output, req->hash_tree, image, &img, &tmp_tree);
        else
                r = verity_make_tree(req, image, &img, &tmp_tree);
        if (r < 0)
                return r;

        r = manifest_make_signed(req, &img, &mjson, &sig);
        if (r < 0)
                return r;

        const BundleMember members[] = {
                { .name = "manifest.json", .data = mjson, .data_len = strlen(mjson) },
                { .name = "manifest.sig", .data = sig, .data_len = strlen(sig) },
                { .name = img.file, .path = image, .since = &image_st },
                { .name = img.hash_tree_file, .path = tmp_tree },
        };
        r = bundle_write(req->output, members, ELEMENTSOF(members), req->now);
        if (r < 0)
                return r;

        *ret = (PublishResult) { .fstype = fstype, .image_size = img.size, .root_hash_size = img.root_hash_size };
        memcpy(ret->root_hash, img.root_hash, img.root_hash_size);
        return 0;
}
