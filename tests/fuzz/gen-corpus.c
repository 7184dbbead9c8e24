/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gen-fuzz-corpus DIR: writes the generated seed corpora of the fuzz targets into DIR
 * (tests/fuzz/corpus):
 *   bundle/     small bundles signed by the fixed fuzz key: valid ones and near-valid defects
 *   signature/  manifest.sig files over FUZZ_SIGNED_MESSAGE
 *   manifest/   manifest.json files, valid ones and ones with a single defect
 * It builds them with the project's own verity hasher, manifest_format(), signature_sign() and
 * bundle_write(), so the corpora follow the formats. The output is deterministic (Ed25519
 * signatures are; salts, times and the trees' superblock UUIDs are fixed), so rerunning it after
 * a format change shows up as a diff of the corpus. Each file's name carries its verdict
 * (seed-name.h: valid-… accepted, bad-EXXX-… refused with exactly -EXXX); each file is read back
 * with the real parser and must get that verdict, or the generator fails. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle-reader.h"
#include "bundle-writer.h"
#include "fileio.h"
#include "fuzz-key.h"
#include "hex.h"
#include "json-util.h"
#include "log.h"
#include "manifest.h"
#include "openssl-util.h"
#include "seed-name.h"
#include "signature.h"
#include "verity-hash.h"

#define TAR_BLOCK 512U
/* The tree superblock's UUID is not covered by the root hash; fix it so the output is stable. */
#define SB_UUID_OFFSET 16U

static const char *out_dir;

_printf_(1, 2) _noreturn_ static void die(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "gen-fuzz-corpus: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(EXIT_FAILURE);
}

/* The parser's result r for sub/name must be the verdict the name promises. Generated seeds are
 * exact: a refused one names its errno (bad-EXXX-…), so the replay checks the code too. */
static void expect(const char *sub, const char *name, int r) {
        char got[32], want[64];
        SeedExpect e;

        if (seed_name_expect(name, &e) < 0 || (!e.accept && e.error == 0))
                die("%s/%s: a generated seed's name must start valid- or bad-EXXX- (an errno name)", sub, name);
        seed_verdict_to_string(r, got, sizeof got);
        if (!seed_expect_met(&e, r))
                die("%s/%s: got %s (%s), the name promises %s", sub, name, got, log_detail() ?: "no detail",
                    seed_expect_to_string(&e, want, sizeof want));
        printf("%-10s %-46s %-18s %s\n", sub, name, got, r < 0 ? log_detail() ?: "" : "");
}

static void put(const char *sub, const char *name, const void *data, size_t len) {
        _cleanup_free_ char *dir = path_join(out_dir, sub), *path = NULL;
        int r;

        if (!dir || !(path = path_join(dir, name)))
                die("out of memory");
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                die("cannot create %s: %m", dir);
        r = write_file_atomic(path, data, len, 0644);
        if (r < 0)
                die("cannot write %s: %s", path, strerror(-r));
}

/* s with the first `old` replaced by `new`; old must occur. */
static char *replace(const char *s, const char *old, const char *new) {
        const char *at = strstr(s, old);
        char *out;

        if (!at)
                die("\"%s\" not found in:\n%s", old, s);
        if (asprintf(&out, "%.*s%s%s", (int) (at - s), s, new, at + strlen(old)) < 0)
                die("out of memory");
        return out;
}

/* ---- images ---- */

typedef struct Image {
        ManifestImage mi;
        uint8_t *data;
        char *tree;
        size_t tree_len;
} Image;

static void image_make(Image *img, const char *name, const char *file, const char *tree_file, const char *hash,
                       uint32_t dbs, uint32_t hbs, unsigned blocks) {
        static const char salt[] = "osupdate-fuzz-salt";
        VerityHasher *h = NULL;
        uint64_t tree_size;
        int fd, r;

        *img = (Image) {
                .mi = {
                        .name = (char *) name,
                        .file = (char *) file,
                        .size = (uint64_t) dbs * blocks,
                        .fstype = (char *) "erofs",
                        .hash_tree_file = (char *) tree_file,
                },
        };
        snprintf(img->mi.verity.hash_name, sizeof img->mi.verity.hash_name, "%s", hash);
        img->mi.verity.data_block_size = dbs;
        img->mi.verity.hash_block_size = hbs;
        img->mi.verity.data_size = img->mi.size;
        memcpy(img->mi.verity.salt, salt, sizeof salt - 1);
        img->mi.verity.salt_size = sizeof salt - 1;

        /* Recognizable content that differs in every block. */
        img->data = malloc(img->mi.size);
        if (!img->data)
                die("out of memory");
        for (size_t i = 0; i < img->mi.size; i++)
                img->data[i] = (uint8_t) ((i / dbs) * 31 + i % 251);

        fd = memfd_create("verity-tree", MFD_CLOEXEC);
        if (fd < 0)
                die("memfd_create: %m");
        r = verity_hasher_new(&img->mi.verity, fd, 1, &h);
        if (r >= 0)
                r = verity_hasher_update(h, img->data, img->mi.size);
        if (r >= 0)
                r = verity_hasher_finish(h, img->mi.root_hash, &img->mi.root_hash_size);
        verity_hasher_free(h);
        if (r < 0 || verity_params_check(&img->mi.verity, &tree_size) < 0)
                die("verity hashing of %s failed: %s", file, strerror(-r));

        if (tree_file) {
                img->mi.hash_tree_size = tree_size;
                img->tree_len = (size_t) tree_size;
                img->tree = malloc(img->tree_len);
                if (!img->tree || pread(fd, img->tree, img->tree_len, 0) != (ssize_t) img->tree_len)
                        die("cannot read back the tree of %s", file);
                memcpy(img->tree + SB_UUID_OFFSET, "osupdate-fuzz-id", 16);
                img->tree[SB_UUID_OFFSET + 6] = (char) ((img->tree[SB_UUID_OFFSET + 6] & 0x0f) | 0x40);
                img->tree[SB_UUID_OFFSET + 8] = (char) ((img->tree[SB_UUID_OFFSET + 8] & 0x3f) | 0x80);
        }
        close(fd);
}

/* expires 0: a manifest that never expires (no "expires" field). */
static char *manifest_make(const Image *imgs, size_t n, const char *version, const char *min_version, time_t expires) {
        ManifestImage mis[MANIFEST_MAX_IMAGES];
        Manifest m = {
                .format = MANIFEST_FORMAT,
                .os_id = (char *) "fuzz",
                .architecture = (char *) "x86_64",
                .version = (char *) version,
                .min_version = (char *) min_version,
                .created = FUZZ_NOW - 86400,
                .expires = expires,
                .has_expires = expires != 0,
                .images = mis,
                .n_images = n,
        };
        char *s;

        for (size_t i = 0; i < n; i++)
                mis[i] = imgs[i].mi;
        if (manifest_format(&m, &s) < 0)
                die("manifest_format: %s", log_detail() ?: "failed");
        return s;
}

static char *sign(const char *data, EVP_PKEY *const *keys, size_t n_keys) {
        char *s;

        if (signature_sign(data, strlen(data), keys, n_keys, &s) < 0)
                die("signature_sign failed");
        return s;
}

/* ---- bundles ---- */

#define MEMBER(n, d, l) ((BundleMember){ .name = (n), .data = (d), .data_len = (l) })
#define MEMBER_STR(n, s) MEMBER(n, s, strlen(s))
/* bundle_put() with the members, in order, as the trailing arguments. */
#define PUT(name, edit, ...)                                                                                           \
        bundle_put(name, (const BundleMember[]){ __VA_ARGS__ }, ELEMENTSOF(((const BundleMember[]){ __VA_ARGS__ })),   \
                   edit)

/* Bytes a member takes in the tar stream (ustar header, data padded to a block; the pax writer
 * adds extended headers only for what ustar cannot express, which our members never need). */
static size_t tar_size(const BundleMember *m) {
        return TAR_BLOCK + (m->data_len + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}

typedef struct BundleEdit {
        const void *append; /* raw bytes after the archive */
        size_t append_len;
        size_t cut; /* keep only this many bytes (0: all) */
} BundleEdit;

static void bundle_put(const char *name, const BundleMember *members, size_t n, const BundleEdit *edit) {
        _cleanup_free_ char *dir = path_join(out_dir, "bundle"), *path = NULL, *buf = NULL;
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_close_ int fd = -EBADF;
        const BundleReadOptions opts = {
                .keyring = fuzz_keyring(),
                .signatures_required = 1,
                .now = FUZZ_NOW,
                .threads = 1,
        };
        size_t len;
        int r;

        if (!dir || !(path = path_join(dir, name)))
                die("out of memory");
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                die("cannot create %s: %m", dir);
        if (bundle_write(path, members, n, FUZZ_NOW - 86400) < 0)
                die("cannot write %s", path);

        if (edit && (edit->append_len > 0 || edit->cut > 0)) {
                _cleanup_free_ char *full = NULL;

                r = read_full_file(path, 1024 * 1024, &buf, &len);
                if (r < 0)
                        die("cannot read back %s: %s", path, strerror(-r));
                if (edit->cut > 0) {
                        if (edit->cut >= len)
                                die("%s: cut at %zu of %zu bytes", name, edit->cut, len);
                        len = edit->cut;
                }
                full = malloc(len + edit->append_len);
                if (!full)
                        die("out of memory");
                memcpy(full, buf, len);
                if (edit->append_len > 0)
                        memcpy(full + len, edit->append, edit->append_len);
                put("bundle", name, full, len + edit->append_len);
        }

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                die("cannot open %s: %m", path);
        log_detail_clear();
        r = bundle_read_fd(fd, &opts, &m, NULL);
        expect("bundle", name, r);
}

/* Where the end-of-archive marker starts: after the last member's padded data. */
static size_t tar_payload_end(const BundleMember *members, size_t n) {
        size_t end = 0;

        for (size_t i = 0; i < n; i++)
                end += tar_size(&members[i]);
        return end;
}

/* ---- the corpora ---- */

/* The hex signature value inside a manifest.sig we made. */
static char *signature_value(const char *sig) {
        json_object *root = json_tokener_parse(sig), *arr, *e, *v;
        char *s = NULL;

        if (root && json_object_object_get_ex(root, "signatures", &arr) && (e = json_object_array_get_idx(arr, 0)) &&
            json_object_object_get_ex(e, "signature", &v))
                s = strdup(json_object_get_string(v));
        json_object_put(root);
        if (!s)
                die("cannot parse our own signature:\n%s", sig);
        return s;
}

static void gen_signatures(EVP_PKEY *key, EVP_PKEY *unknown) {
        static const char msg[] = FUZZ_SIGNED_MESSAGE;
        EVP_PKEY *both[] = { key, unknown }, *twice[] = { key, key };
        _cleanup_free_ char *valid = sign(msg, &key, 1), *value = signature_value(valid), *altered = strdup(value),
                            *shortened = strndup(value, strlen(value) - 2), *upper = strdup(value);
        struct {
                const char *name;
                char *text;
        } sigs[] = {
                { "valid-one-key.sig", strdup(valid) },
                { "valid-and-unknown.sig", sign(msg, both, 2) },
                /* Two signatures by one key count as one. */
                { "valid-repeated.sig", sign(msg, twice, 2) },
                { "bad-EKEYREJECTED-unknown-key.sig", sign(msg, &unknown, 1) },
                { "bad-EBADMSG-altered.sig", NULL },
                { "bad-EUCLEAN-short-value.sig", NULL },
                { "valid-uppercase-hex.sig", NULL },
                { "bad-EUCLEAN-wrong-algorithm.sig", replace(valid, "\"ed25519\"", "\"ed448\"") },
                { "bad-EUCLEAN-extra-field.sig", replace(valid, "\"algorithm\"", "\"comment\": \"x\", \"algorithm\"") },
                { "bad-EUCLEAN-unknown-top-field.sig", replace(valid, "{", "{ \"version\": 1,") },
                { "bad-EUCLEAN-empty-list.sig", strdup("{ \"signatures\": [] }\n") },
                { "bad-EUCLEAN-not-an-object.sig", strdup("[ { \"key\": \"00\" } ]\n") },
                { "bad-EUCLEAN-trailing-garbage.sig", NULL },
        };

        if (!altered || !shortened || !upper)
                die("out of memory");
        /* The last hex digit of the value changed; the value cut short; the same in upper case. */
        altered[strlen(altered) - 1] = altered[strlen(altered) - 1] == '0' ? '1' : '0';
        for (char *p = upper; *p; p++)
                if (*p >= 'a' && *p <= 'f')
                        *p = (char) (*p - 'a' + 'A');
        sigs[4].text = replace(valid, value, altered);
        sigs[5].text = replace(valid, value, shortened);
        sigs[6].text = replace(valid, value, upper);
        if (asprintf(&sigs[ELEMENTSOF(sigs) - 1].text, "%sx", valid) < 0)
                die("out of memory");

        for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
                SignatureReport rep = {};
                int r;

                if (!sigs[i].text)
                        die("out of memory");
                put("signature", sigs[i].name, sigs[i].text, strlen(sigs[i].text));
                log_detail_clear();
                r = signature_verify(msg, sizeof msg - 1, sigs[i].text, strlen(sigs[i].text), fuzz_keyring(), 1, &rep);
                expect("signature", sigs[i].name, r);
                free(sigs[i].text);
        }
}

static void gen_manifests(const char *one, const char *two, const Image *two_imgs) {
        _cleanup_free_ char *rh = hex_encode(two_imgs[0].mi.root_hash, two_imgs[0].mi.root_hash_size);
        _cleanup_free_ char *rh_short = NULL, *tree_size = NULL, *tree_size_bad = NULL;
        struct {
                const char *name;
                char *text;
        } ms[] = {
                { "valid-one-image.json", strdup(one) },
                { "valid-two-images.json", strdup(two) },
                { "bad-EPROTONOSUPPORT-format-2.json", replace(one, "\"format\": 1", "\"format\": 2") },
                { "bad-EUCLEAN-format-string.json", replace(one, "\"format\": 1", "\"format\": \"1\"") },
                { "bad-EUCLEAN-unknown-field.json", replace(one, "{", "{ \"comment\": \"x\",") },
                { "bad-EUCLEAN-unknown-verity-field.json", replace(one, "\"salt\"", "\"hash_type\": 1, \"salt\"") },
                { "bad-EUCLEAN-root-hash-short.json", NULL },
                { "bad-EUCLEAN-block-size-not-pow2.json",
                  replace(one, "\"data_block_size\": 512", "\"data_block_size\": 768") },
                { "bad-EUCLEAN-tree-size-mismatch.json", NULL },
                { "bad-EUCLEAN-unsafe-file-name.json", replace(one, "\"usr.erofs\"", "\"..\\/usr.erofs\"") },
                { "bad-EUCLEAN-duplicate-file.json", replace(one, "\"usr.verity\"", "\"usr.erofs\"") },
                { "bad-EUCLEAN-file-named-manifest.json", replace(one, "\"usr.verity\"", "\"manifest.sig\"") },
                { "bad-EUCLEAN-unknown-hash.json", replace(one, "\"sha256\"", "\"md5\"") },
                { "bad-EUCLEAN-fstype-ext4.json", replace(one, "\"erofs\"", "\"ext4\"") },
                { "bad-EUCLEAN-expires-before-created.json",
                  replace(two, "\"expires\": \"2027", "\"expires\": \"2025") },
                { "bad-EUCLEAN-min-version-newer.json",
                  replace(two, "\"min_version\": \"1.0\"", "\"min_version\": \"3.0\"") },
                { "bad-EUCLEAN-created-not-rfc3339.json", replace(one, "T13:00:00Z", " 13:00") },
                { "bad-EUCLEAN-created-relative.json", replace(one, "\"2026-11-24T13:00:00Z\"", "\"+1d\"") },
                { "bad-EUCLEAN-size-negative.json", replace(one, "\"size\": 1024", "\"size\": -1024") },
                { "bad-EUCLEAN-size-huge.json", replace(one, "\"size\": 1024", "\"size\": 18446744073709551615") },
                { "bad-EUCLEAN-trailing-garbage.json", NULL },
        };

        rh_short = strndup(rh, strlen(rh) - 2);
        if (!rh_short ||
            asprintf(&tree_size, "\"size\": %llu", (unsigned long long) two_imgs[0].mi.hash_tree_size) < 0 ||
            asprintf(&tree_size_bad, "\"size\": %llu", (unsigned long long) two_imgs[0].mi.hash_tree_size + 512) < 0)
                die("out of memory");
        ms[6].text = replace(two, rh, rh_short);
        ms[8].text = replace(two, tree_size, tree_size_bad);
        if (asprintf(&ms[ELEMENTSOF(ms) - 1].text, "%s}", one) < 0)
                die("out of memory");

        for (size_t i = 0; i < ELEMENTSOF(ms); i++) {
                _cleanup_(manifest_freep) Manifest *m = NULL;
                int r;

                if (!ms[i].text)
                        die("out of memory");
                put("manifest", ms[i].name, ms[i].text, strlen(ms[i].text));
                log_detail_clear();
                r = manifest_parse(ms[i].text, strlen(ms[i].text), &m);
                expect("manifest", ms[i].name, r);
                free(ms[i].text);
        }
}

int main(int argc, char *argv[]) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL, *unknown = NULL;
        EVP_PKEY *both[2];
        Image one[1], four_k[1], two[2], bad_image, bad_tree;
        _cleanup_free_ char *m_one = NULL, *s_one = NULL, *m_4k = NULL, *s_4k = NULL, *m_two = NULL, *s_two = NULL,
                            *s_both = NULL, *s_unknown = NULL, *m_altered = NULL, *m_expired = NULL, *s_expired = NULL,
                            *m_format2 = NULL, *s_format2 = NULL;
        static const char zeros[TAR_BLOCK];
        static const char garbage[] = "garbage after the archive\n";

        if (argc != 2) {
                fprintf(stderr, "Usage: %s CORPUS-DIR   (tests/fuzz/corpus)\n", program_invocation_short_name);
                return EXIT_FAILURE;
        }
        out_dir = argv[1];

        if (fuzz_key_new(FUZZ_KEY_SEED, &key) < 0 || fuzz_key_new(FUZZ_UNKNOWN_KEY_SEED, &unknown) < 0)
                die("cannot build the fuzz keys: %s", openssl_last_error());
        both[0] = key;
        both[1] = unknown;

        /* A 2-block image with its one-level tree, in 512-byte blocks: the smallest real bundle. */
        image_make(&one[0], "usr", "usr.erofs", "usr.verity", "sha256", 512, 512, 2);
        /* The same shape in the 4 KiB blocks that `osupdate bundle create` uses. */
        image_make(&four_k[0], "usr", "usr.erofs", "usr.verity", "sha256", 4096, 4096, 2);
        /* 17 blocks: a two-level tree; and a sha512 image shipped without its tree. */
        image_make(&two[0], "usr", "usr.erofs", "usr.verity", "sha256", 512, 512, 17);
        image_make(&two[1], "efi", "efi.squashfs", NULL, "sha512", 1024, 512, 3);
        two[1].mi.fstype = (char *) "squashfs";

        m_one = manifest_make(one, 1, "1.0", NULL, 0);
        m_4k = manifest_make(four_k, 1, "1.0", NULL, 0);
        m_two = manifest_make(two, 2, "2.1", "1.0", FUZZ_NOW + 365 * 86400);
        m_expired = manifest_make(one, 1, "1.0", NULL, FUZZ_NOW - 3600);
        m_altered = replace(m_one, "\"version\": \"1.0\"", "\"version\": \"9.0\"");
        m_format2 = replace(m_one, "\"format\": 1", "\"format\": 2");
        s_one = sign(m_one, &key, 1);
        s_4k = sign(m_4k, &key, 1);
        s_two = sign(m_two, &key, 1);
        s_both = sign(m_one, both, 2);
        s_unknown = sign(m_one, &unknown, 1);
        s_expired = sign(m_expired, &key, 1);
        s_format2 = sign(m_format2, &key, 1);

        bad_image = one[0];
        bad_image.data = malloc(bad_image.mi.size);
        bad_tree = one[0];
        bad_tree.tree = malloc(bad_tree.tree_len);
        if (!bad_image.data || !bad_tree.tree)
                die("out of memory");
        memcpy(bad_image.data, one[0].data, one[0].mi.size);
        bad_image.data[700] ^= 0x01;
        memcpy(bad_tree.tree, one[0].tree, one[0].tree_len);
        bad_tree.tree[600] ^= 0x01;

        const BundleMember b_one[] = {
                MEMBER_STR("manifest.json", m_one),
                MEMBER_STR("manifest.sig", s_one),
                MEMBER("usr.erofs", one[0].data, one[0].mi.size),
                MEMBER("usr.verity", one[0].tree, one[0].tree_len),
        };
        size_t one_end = tar_payload_end(b_one, ELEMENTSOF(b_one));

        bundle_put("valid-one-image.bundle", b_one, ELEMENTSOF(b_one), NULL);
        PUT("valid-4k-blocks.bundle", NULL, MEMBER_STR("manifest.json", m_4k), MEMBER_STR("manifest.sig", s_4k),
            MEMBER("usr.erofs", four_k[0].data, four_k[0].mi.size),
            MEMBER("usr.verity", four_k[0].tree, four_k[0].tree_len));
        PUT("valid-two-images.bundle", NULL, MEMBER_STR("manifest.json", m_two), MEMBER_STR("manifest.sig", s_two),
            MEMBER("usr.erofs", two[0].data, two[0].mi.size), MEMBER("usr.verity", two[0].tree, two[0].tree_len),
            MEMBER("efi.squashfs", two[1].data, two[1].mi.size));
        PUT("valid-two-signatures.bundle", NULL, b_one[0], MEMBER_STR("manifest.sig", s_both), b_one[2], b_one[3]);
        bundle_put("valid-zero-padding.bundle", b_one, ELEMENTSOF(b_one),
                   &(BundleEdit){ .append = zeros, .append_len = sizeof zeros });

        /* Container defects. */
        bundle_put("bad-EPROTO-trailing-garbage.bundle", b_one, ELEMENTSOF(b_one),
                   &(BundleEdit){ .append = garbage, .append_len = sizeof garbage - 1 });
        bundle_put("bad-EPROTO-truncated-in-image.bundle", b_one, ELEMENTSOF(b_one),
                   &(BundleEdit){ .cut = tar_size(&b_one[0]) + tar_size(&b_one[1]) + TAR_BLOCK + 700 });
        bundle_put("bad-EPROTO-truncated-in-header.bundle", b_one, ELEMENTSOF(b_one),
                   &(BundleEdit){ .cut = tar_size(&b_one[0]) + 300 });
        /* Cut exactly after the last member: only the end-of-archive marker is missing. */
        bundle_put("bad-EPROTO-truncated-end-marker.bundle", b_one, ELEMENTSOF(b_one), &(BundleEdit){ .cut = one_end });
        PUT("bad-EPROTO-reordered-sig-first.bundle", NULL, b_one[1], b_one[0], b_one[2], b_one[3]);
        PUT("bad-EPROTO-reordered-tree-first.bundle", NULL, b_one[0], b_one[1], b_one[3], b_one[2]);
        bundle_put("bad-EPROTO-missing-tree.bundle", b_one, 3, NULL);
        PUT("bad-EPROTO-duplicate-image.bundle", NULL, b_one[0], b_one[1], b_one[2], b_one[2], b_one[3]);
        PUT("bad-EPROTO-extra-member.bundle", NULL, b_one[0], b_one[1], b_one[2], b_one[3],
            MEMBER_STR("notes.txt", "hello\n"));
        PUT("bad-EPROTO-image-size-mismatch.bundle", NULL, b_one[0], b_one[1],
            MEMBER("usr.erofs", one[0].data, one[0].mi.size - 512), b_one[3]);

        /* Signature defects. */
        PUT("bad-EKEYREJECTED-missing-signature.bundle", NULL, b_one[0], b_one[2], b_one[3]);
        PUT("bad-EUCLEAN-empty-signature.bundle", NULL, b_one[0], MEMBER("manifest.sig", "", 0), b_one[2], b_one[3]);
        PUT("bad-EKEYREJECTED-unknown-key.bundle", NULL, b_one[0], MEMBER_STR("manifest.sig", s_unknown), b_one[2],
            b_one[3]);
        PUT("bad-EBADMSG-altered-manifest.bundle", NULL, MEMBER_STR("manifest.json", m_altered), b_one[1], b_one[2],
            b_one[3]);

        /* Signed, but the content does not hold up. */
        PUT("bad-EBADMSG-altered-image.bundle", NULL, b_one[0], b_one[1],
            MEMBER("usr.erofs", bad_image.data, bad_image.mi.size), b_one[3]);
        PUT("bad-EBADMSG-altered-tree.bundle", NULL, b_one[0], b_one[1], b_one[2],
            MEMBER("usr.verity", bad_tree.tree, bad_tree.tree_len));
        PUT("bad-EKEYEXPIRED-expired.bundle", NULL, MEMBER_STR("manifest.json", m_expired),
            MEMBER_STR("manifest.sig", s_expired), b_one[2], b_one[3]);
        PUT("bad-EPROTONOSUPPORT-unsupported-format.bundle", NULL, MEMBER_STR("manifest.json", m_format2),
            MEMBER_STR("manifest.sig", s_format2), b_one[2], b_one[3]);

        gen_signatures(key, unknown);
        gen_manifests(m_one, m_two, two);

        free(bad_image.data);
        free(bad_tree.tree);
        for (size_t i = 0; i < 2; i++) {
                free(two[i].data);
                free(two[i].tree);
        }
        free(one[0].data);
        free(one[0].tree);
        free(four_k[0].data);
        free(four_k[0].tree);
        return EXIT_SUCCESS;
}
