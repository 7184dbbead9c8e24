/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "bundle-writer.h"
#include "fileio.h"
#include "image.h"
#include "log.h"
#include "manifest.h"
#include "publish.h"

#define SALT_SIZE 32U
#define BLOCK_SIZE 4096U


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
        fd = mkostemp(p, O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Cannot create a temporary file next to %s: %m", out);
        *ret = TAKE_PTR(p);
        return fd;
}

/* Builds the image of req->tree into a temporary file next to the bundle. */
static int image_build_temp(const PublishRequest *req, const char *fstype, char **ret_path) {
        _cleanup_(unlink_and_freep) char *p = NULL;
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

/* dm-verity protects whole blocks, and the manifest refuses images above 1 TiB. */
static int image_check_size(const char *image, uint64_t *ret) {
        struct stat st;

        if (stat(image, &st) < 0)
                return log_error_errno(errno, "Cannot stat %s: %m", image);
        if (st.st_size == 0 || st.st_size % BLOCK_SIZE != 0 || (uint64_t) st.st_size > MANIFEST_MAX_IMAGE_SIZE)
                return log_error_errno(EINVAL, "%s is %lld bytes: an image must be a positive multiple of %u bytes, at most 1 TiB (dm-verity protects whole blocks).",
                                       image, (long long) st.st_size, BLOCK_SIZE);
        *ret = (uint64_t) st.st_size;
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

/* Checks that tree_path (made by veritysetup format, say) is the tree of the image with root. */
static int check_tree_file(const char *tree_path, const VerityParams *p, const uint8_t *root, size_t root_len) {
        _cleanup_(verity_tree_checker_freep) VerityTreeChecker *c = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint8_t buf[65536];
        int r;

        fd = open(tree_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open %s: %m", tree_path);
        r = verity_tree_checker_new(p, root, root_len, &c);
        if (r < 0)
                return log_oom();
        for (;;) {
                ssize_t n = loop_read(fd, buf, sizeof buf);

                if (n < 0)
                        return log_error_errno((int) n, "Cannot read %s: %m", tree_path);
                r = n == 0 ? verity_tree_checker_finish(c) : verity_tree_checker_update(c, buf, (size_t) n);
                if (r < 0)
                        return log_error_errno(EBADMSG, "%s is not the hash tree of this image: %s", tree_path,
                                               log_detail() ?: "mismatch");
                if (n == 0)
                        return 0;
        }
}

/* The verity parameters from the superblock of a given tree, which must be the image's. */
static int verity_from_tree_file(const char *tree_path, const char *image, ManifestImage *img) {
        _cleanup_close_ int fd = open(tree_path, O_RDONLY | O_CLOEXEC);
        uint8_t sb[VERITY_SUPERBLOCK_SIZE];
        int r;

        if (fd < 0 || pread(fd, sb, sizeof sb, 0) != (ssize_t) sizeof sb ||
            verity_superblock_parse(sb, sizeof sb, &img->verity) < 0)
                return log_error_errno(EINVAL, "%s is not a veritysetup hash tree with a superblock.", tree_path);
        if (img->verity.data_size != img->size)
                return log_error_errno(EINVAL, "%s covers %llu bytes, the image has %llu.", tree_path,
                                       (unsigned long long) img->verity.data_size, (unsigned long long) img->size);
        r = hash_image(image, &img->verity, -EBADF, img->root_hash, &img->root_hash_size);
        if (r < 0)
                return r;
        return check_tree_file(tree_path, &img->verity, img->root_hash, img->root_hash_size);
}

/* New verity parameters (sha256, 4 KiB blocks, a random salt) and the tree, in a temporary file
 * next to out. */
static int verity_make_tree(const char *out, const char *image, ManifestImage *img, char **ret_path) {
        _cleanup_(unlink_and_freep) char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        strcpy(img->verity.hash_name, "sha256");
        img->verity.data_block_size = img->verity.hash_block_size = BLOCK_SIZE;
        img->verity.data_size = img->size;
        img->verity.salt_size = SALT_SIZE;
        if (RAND_bytes(img->verity.salt, SALT_SIZE) != 1)
                return log_error_errno(EIO, "No randomness for the verity salt.");
        fd = make_temp(out, "verity", &p);
        if (fd < 0)
                return fd;
        r = hash_image(image, &img->verity, fd, img->root_hash, &img->root_hash_size);
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return log_error_errno(errno, "Cannot write %s: %m", p);
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
        _cleanup_(unlink_and_freep) char *tmp_image = NULL, *tmp_tree = NULL;
        _cleanup_free_ char *image_file = NULL, *mjson = NULL, *sig = NULL;
        ManifestImage img = { .name = (char *) "usr", .hash_tree_file = (char *) "usr.verity" };
        const char *image, *fstype = req->fstype ?: "erofs";
        int r;

        if (req->tree)
                r = image_build_temp(req, fstype, &tmp_image);
        else
                r = image_check_fstype(req, &fstype);
        if (r < 0)
                return r;
        image = req->tree ? tmp_image : req->image;

        r = image_check_size(image, &img.size);
        if (r < 0)
                return r;
        if (asprintf(&image_file, "usr.%s", fstype) < 0)
                return log_oom();
        img.file = image_file;
        img.fstype = (char *) fstype;

        if (req->hash_tree)
                r = verity_from_tree_file(req->hash_tree, image, &img);
        else
                r = verity_make_tree(req->output, image, &img, &tmp_tree);
        if (r < 0)
                return r;
        r = verity_params_check(&img.verity, &img.hash_tree_size);
        if (r < 0)
                return log_error_errno(r, "Invalid verity parameters: %m");

        r = manifest_make_signed(req, &img, &mjson, &sig);
        if (r < 0)
                return r;

        const BundleMember members[] = {
                { .name = "manifest.json", .data = mjson, .data_len = strlen(mjson) },
                { .name = "manifest.sig", .data = sig, .data_len = strlen(sig) },
                { .name = img.file, .path = image },
                { .name = img.hash_tree_file, .path = req->hash_tree ?: tmp_tree },
        };
        r = bundle_write(req->output, members, ELEMENTSOF(members), req->now);
        if (r < 0)
                return r;

        *ret = (PublishResult) { .fstype = fstype, .image_size = img.size, .root_hash_size = img.root_hash_size };
        memcpy(ret->root_hash, img.root_hash, img.root_hash_size);
        return 0;
}
