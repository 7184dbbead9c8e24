/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test-util.h"

#include "cleanup.h"
#include "hex.h"
#include "json-util.h"
#include "log.h"
#include "manifest.h"
#include "verity-hash.h"

#define SALT_HEX "6f737570646174652d746573742d73616c742d6f737570646174652d74657374"
#define ROOT_HEX "851b0c1d2e3f405162738495a6b7c8d9eafb0c1d2e3f405162738495a6b7c882"
#define SALT512_HEX "00112233445566778899aabbccddeeff"
#define ROOT512_HEX                                                        \
        "bca0a2d0cede70f11f39b43b75ee34252732dbb6bb3e56bb0bf8ddb53deda206" \
        "cfc22debf6e43c5050be629876b080a0c87207a4f5ff80975cc85cb6a9886005"

#define CREATED 1795611600 /* 2026-11-25T13:00:00Z */
#define EXPIRES 1798761600 /* 2027-01-01T00:00:00Z */

/* A second image: sha512, squashfs, without a hash tree. */
#define IMAGE_ESP                                                                                              \
        "{\"name\":\"esp\",\"file\":\"esp.squashfs\",\"size\":1048576,\"fstype\":\"squashfs\",\"verity\":{" \
        "\"hash_algorithm\":\"sha512\",\"data_block_size\":1024,\"hash_block_size\":512,"                   \
        "\"salt\":\"" SALT512_HEX "\",\"root_hash\":\"" ROOT512_HEX "\"}}"

/* The size of a tree for these parameters, as the manifest must state it. */
static uint64_t tree_size(const char *hash, uint32_t dbs, uint32_t hbs, uint64_t size) {
        VerityParams p = { .data_block_size = dbs, .hash_block_size = hbs, .data_size = size };
        uint64_t t = 0;

        snprintf(p.hash_name, sizeof p.hash_name, "%s", hash);
        assert_int_equal(verity_params_check(&p, &t), 0);
        return t;
}

/* The valid manifest of manifest.h's format comment, usr.erofs of 8192 bytes. */
static char *base_manifest(void) {
        char *s = NULL;

        assert_true(asprintf(&s,
                             "{\"format\":1,\"os_id\":\"demo\",\"architecture\":\"x86_64\",\"version\":\"2.1\","
                             "\"min_version\":\"1.0\",\"created\":\"2026-11-25T13:00:00Z\","
                             "\"expires\":\"2027-01-01T00:00:00Z\","
                             "\"images\":[{\"name\":\"usr\",\"file\":\"usr.erofs\",\"size\":8192,\"fstype\":\"erofs\","
                             "\"verity\":{\"hash_algorithm\":\"sha256\","
                             "\"data_block_size\":4096,\"hash_block_size\":4096,\"salt\":\"%s\",\"root_hash\":\"%s\","
                             "\"hash_tree\":{\"file\":\"usr.verity\",\"size\":%llu}}}]}",
                             SALT_HEX, ROOT_HEX, (unsigned long long) tree_size("sha256", 4096, 4096, 8192)) > 0);
        return s;
}

/* One change to the base manifest: the value at path ("images.0.verity.salt") replaced by raw
 * JSON text, or removed if raw is NULL. Missing objects on the way are an error of the test. */
typedef struct Edit {
        const char *path;
        const char *raw;
} Edit;

static char *replace_placeholder(const char *s, const char *placeholder, const char *raw) {
        const char *at = strstr(s, placeholder);
        char *out = NULL;

        assert_non_null(at);
        assert_true(asprintf(&out, "%.*s%s%s", (int) (at - s), s, raw, at + strlen(placeholder)) > 0);
        return out;
}

static char *build(const Edit *edits, size_t n) {
        _cleanup_free_ char *base = base_manifest();
        _cleanup_(json_object_putp) json_object *root = NULL;
        char *s;

        assert_int_equal(json_parse_strict(base, strlen(base), &root), 0);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = strdup(edits[i].path), *placeholder = NULL;
                json_object *o = root, *v = NULL;
                char *saveptr = NULL, *key, *next;

                assert_non_null(path);
                assert_true(asprintf(&placeholder, "@RAW%zu@", i) > 0);
                key = strtok_r(path, ".", &saveptr);
                while ((next = strtok_r(NULL, ".", &saveptr))) {
                        json_object *child = NULL;

                        if (json_object_is_type(o, json_type_array))
                                child = json_object_array_get_idx(o, strtoul(key, NULL, 10));
                        else
                                assert_true(json_object_object_get_ex(o, key, &child));
                        assert_non_null(child);
                        o = child;
                        key = next;
                }
                /* Objects and arrays go in as such, so later edits can reach into them; scalars as
                 * a placeholder replaced by the raw text at the end (json-c would not keep
                 * 18446744073709551616 or 1e30 as written). */
                if (edits[i].raw && strchr("{[", edits[i].raw[0]))
                        v = json_tokener_parse(edits[i].raw);
                else if (edits[i].raw)
                        v = json_object_new_string(placeholder);
                assert_true(!edits[i].raw || v);
                if (json_object_is_type(o, json_type_array)) {
                        size_t idx = strtoul(key, NULL, 10);

                        if (!edits[i].raw)
                                assert_int_equal(json_object_array_del_idx(o, idx, 1), 0);
                        else
                                assert_int_equal(json_object_array_put_idx(o, idx, v), 0);
                } else if (!edits[i].raw) {
                        assert_true(json_object_object_get_ex(o, key, NULL));
                        json_object_object_del(o, key);
                } else
                        assert_int_equal(json_object_object_add(o, key, v), 0);
        }

        s = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        assert_non_null(s);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *placeholder = NULL, *old = NULL;

                if (!edits[i].raw || strchr("{[", edits[i].raw[0]))
                        continue;
                old = s;
                assert_true(asprintf(&placeholder, "\"@RAW%zu@\"", i) > 0);
                s = replace_placeholder(old, placeholder, edits[i].raw);
        }
        return s;
}

static char *build1(const char *path, const char *raw) {
        return build(&(Edit) { path, raw }, 1);
}

static int parse(const char *s, Manifest **ret) {
        return manifest_parse(s, strlen(s), ret);
}

/* Parses s, expecting r; on failure nothing may be returned. */
static void expect(const char *s, int r) {
        Manifest *m = NULL;
        int got;

        log_detail_clear();
        got = parse(s, &m);
        /* The reason, to tell a case that fails for the intended reason from one that does not. */
        if (got < 0)
                print_message("    -> %s\n", log_detail() ?: "(no reason given)");
        if (got != r)
                fail_msg("manifest_parse() = %d (%s), expected %d: %s", got, strerror(-got), r, s);
        if (r < 0)
                assert_null(m);
        manifest_free(m);
}

static void expect_edit(const char *path, const char *raw, int r) {
        _cleanup_free_ char *s = build1(path, raw);

        print_message("%s = %s\n", path, raw ? raw : "(removed)");
        expect(s, r);
}

static void test_manifest_parse_valid(void **state) {
        _cleanup_free_ char *s = build1("images.1", IMAGE_ESP);
        _cleanup_(manifest_freep) Manifest *m = NULL;
        const ManifestImage *img;

        assert_int_equal(parse(s, &m), 0);
        assert_non_null(m);
        assert_int_equal(m->format, 1);
        assert_string_equal(m->os_id, "demo");
        assert_string_equal(m->architecture, "x86_64");
        assert_string_equal(m->version, "2.1");
        assert_string_equal(m->min_version, "1.0");
        assert_int_equal(m->created, CREATED);
        assert_int_equal(m->expires, EXPIRES);
        assert_true(m->has_expires);
        assert_int_equal(m->n_images, 2);

        img = &m->images[0];
        assert_string_equal(img->name, "usr");
        assert_string_equal(img->file, "usr.erofs");
        assert_int_equal(img->size, 8192);
        assert_string_equal(img->fstype, "erofs");
        assert_string_equal(img->verity.hash_name, "sha256");
        assert_int_equal(img->verity.data_block_size, 4096);
        assert_int_equal(img->verity.hash_block_size, 4096);
        assert_int_equal(img->verity.data_size, 8192);
        assert_int_equal(img->verity.salt_size, 32);
        {
                _cleanup_free_ char *salt = hex_encode(img->verity.salt, img->verity.salt_size);
                _cleanup_free_ char *root = hex_encode(img->root_hash, img->root_hash_size);

                assert_string_equal(salt, SALT_HEX);
                assert_string_equal(root, ROOT_HEX);
        }
        assert_int_equal(img->root_hash_size, 32);
        assert_string_equal(img->hash_tree_file, "usr.verity");
        assert_int_equal(img->hash_tree_size, 8192);

        img = &m->images[1];
        assert_string_equal(img->name, "esp");
        assert_string_equal(img->file, "esp.squashfs");
        assert_int_equal(img->size, 1048576);
        assert_string_equal(img->fstype, "squashfs");
        assert_string_equal(img->verity.hash_name, "sha512");
        assert_int_equal(img->verity.data_block_size, 1024);
        assert_int_equal(img->verity.hash_block_size, 512);
        assert_int_equal(img->verity.data_size, 1048576);
        assert_int_equal(img->verity.salt_size, 16);
        assert_int_equal(img->root_hash_size, 64);
        {
                _cleanup_free_ char *root = hex_encode(img->root_hash, img->root_hash_size);

                assert_string_equal(root, ROOT512_HEX);
        }
        assert_null(img->hash_tree_file);
        assert_int_equal(img->hash_tree_size, 0);
}

static void test_manifest_parse_optional_fields(void **state) {
        static const Edit edits[] = {
                { "min_version", NULL },
                { "expires", NULL },
                { "images.0.verity.hash_tree", NULL },
        };
        _cleanup_free_ char *s = build(edits, ELEMENTSOF(edits));
        _cleanup_(manifest_freep) Manifest *m = NULL;

        assert_int_equal(parse(s, &m), 0);
        assert_null(m->min_version);
        assert_false(m->has_expires);
        assert_null(m->images[0].hash_tree_file);

        /* null is the same as absent for optional fields. */
        expect_edit("expires", "null", 0);
        expect_edit("min_version", "null", 0);
}

static void test_manifest_parse_boundaries(void **state) {
        char tb[32];

        /* min_version may equal version. */
        expect_edit("min_version", "\"2.1\"", 0);
        /* 1 TiB is the largest image, with the tree size it implies. */
        snprintf(tb, sizeof tb, "%llu", (unsigned long long) tree_size("sha256", 4096, 4096, MANIFEST_MAX_IMAGE_SIZE));
        {
                const Edit edits[] = {
                        { "images.0.size", "1099511627776" },
                        { "images.0.verity.hash_tree.size", tb },
                };
                _cleanup_free_ char *s = build(edits, ELEMENTSOF(edits));
                _cleanup_(manifest_freep) Manifest *m = NULL;

                assert_int_equal(parse(s, &m), 0);
                assert_true(m->images[0].size == MANIFEST_MAX_IMAGE_SIZE);
        }
        /* The largest salt, 256 bytes. */
        {
                char salt[520];

                salt[0] = '"';
                memset(salt + 1, 'a', 512);
                salt[513] = '"';
                salt[514] = 0;
                expect_edit("images.0.verity.salt", salt, 0);
        }
}

static void test_manifest_parse_max_images(void **state) {
        char images[4096] = "[", one[512];

        for (unsigned i = 0; i < MANIFEST_MAX_IMAGES + 1; i++) {
                snprintf(one, sizeof one,
                         "%s{\"name\":\"img%u\",\"file\":\"img%u.erofs\",\"size\":4096,\"fstype\":\"erofs\","
                         "\"verity\":{"
                         "\"hash_algorithm\":\"sha256\",\"data_block_size\":4096,\"hash_block_size\":4096,"
                         "\"salt\":\"" SALT_HEX "\",\"root_hash\":\"" ROOT_HEX "\"}}",
                         i > 0 ? "," : "", i, i);
                strcat(images, one);
                if (i + 1 == MANIFEST_MAX_IMAGES) {
                        char eight[sizeof images + 1];

                        snprintf(eight, sizeof eight, "%s]", images);
                        expect_edit("images", eight, 0);
                }
        }
        strcat(images, "]");
        expect_edit("images", images, -EUCLEAN);
        expect_edit("images", "[]", -EUCLEAN);
}

static void test_manifest_format_round_trip(void **state) {
        static const Edit minimal[] = {
                { "min_version", NULL },
                { "expires", NULL },
                { "images.0.verity.hash_tree", NULL },
        };
        _cleanup_free_ char *full = build1("images.1", IMAGE_ESP), *bare = build(minimal, ELEMENTSOF(minimal));
        const char *inputs[] = { full, bare };

        for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
                _cleanup_(manifest_freep) Manifest *a = NULL, *b = NULL;
                _cleanup_free_ char *out = NULL, *again = NULL;

                assert_int_equal(parse(inputs[i], &a), 0);
                assert_int_equal(manifest_format(a, &out), 0);
                assert_non_null(out);
                assert_int_equal(parse(out, &b), 0);

                assert_int_equal(b->format, a->format);
                assert_string_equal(b->os_id, a->os_id);
                assert_string_equal(b->architecture, a->architecture);
                assert_string_equal(b->version, a->version);
                if (a->min_version)
                        assert_string_equal(b->min_version, a->min_version);
                else
                        assert_null(b->min_version);
                assert_int_equal(b->created, a->created);
                assert_int_equal(b->expires, a->expires);
                assert_int_equal(b->has_expires, a->has_expires);
                assert_int_equal(b->n_images, a->n_images);
                for (size_t k = 0; k < a->n_images; k++) {
                        const ManifestImage *x = &a->images[k], *y = &b->images[k];

                        assert_string_equal(y->name, x->name);
                        assert_string_equal(y->file, x->file);
                        assert_int_equal(y->size, x->size);
                        assert_string_equal(y->fstype, x->fstype);
                        assert_memory_equal(&y->verity, &x->verity, sizeof x->verity);
                        assert_int_equal(y->root_hash_size, x->root_hash_size);
                        assert_memory_equal(y->root_hash, x->root_hash, x->root_hash_size);
                        if (x->hash_tree_file)
                                assert_string_equal(y->hash_tree_file, x->hash_tree_file);
                        else
                                assert_null(y->hash_tree_file);
                        assert_int_equal(y->hash_tree_size, x->hash_tree_size);
                }

                /* Stable: formatting what was formatted gives the same bytes. */
                assert_int_equal(manifest_format(b, &again), 0);
                assert_string_equal(again, out);
                assert_int_equal(out[strlen(out) - 1], '\n');
        }
}

static void test_manifest_format_refuses_invalid(void **state) {
        _cleanup_free_ char *s = base_manifest();
        _cleanup_(manifest_freep) Manifest *m = NULL;
        char *out = NULL, *saved;

        assert_int_equal(parse(s, &m), 0);

        /* Never publish what we would refuse to read. */
        saved = m->version;
        m->version = strdup("~2");
        assert_int_equal(manifest_format(m, &out), -EUCLEAN);
        free(m->version);
        m->version = saved;

        m->images[0].size = 4096 + 1;
        assert_int_equal(manifest_format(m, &out), -EUCLEAN);
        m->images[0].size = 8192;

        m->expires = m->created;
        assert_int_equal(manifest_format(m, &out), -EUCLEAN);
        assert_null(out);
}

static void test_manifest_not_json(void **state) {
        _cleanup_free_ char *s = base_manifest(), *padded = NULL;
        static const char *const bad[] = { "", " ", "{", "manifest", "{\"format\":1,}", "[]", "\"x\"", "1 ", "null " };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                expect(bad[i], -EUCLEAN);

        /* Trailing garbage, a NUL byte. */
        {
                _cleanup_free_ char *t = NULL;
                Manifest *m = NULL;

                assert_true(asprintf(&t, "%s x", s) > 0);
                expect(t, -EUCLEAN);
                assert_int_equal(manifest_parse(s, strlen(s) + 1, &m), -EUCLEAN);
                assert_null(m);
        }

        /* Exactly MANIFEST_MAX_SIZE bytes is fine, one more is not. */
        padded = malloc(MANIFEST_MAX_SIZE + 2);
        assert_non_null(padded);
        memset(padded, ' ', MANIFEST_MAX_SIZE + 1);
        memcpy(padded, s, strlen(s));
        padded[MANIFEST_MAX_SIZE] = 0;
        expect(padded, 0);
        padded[MANIFEST_MAX_SIZE] = ' ';
        padded[MANIFEST_MAX_SIZE + 1] = 0;
        expect(padded, -EUCLEAN);
}

static void test_manifest_missing_fields(void **state) {
        static const char *const required[] = {
                "format",
                "os_id",
                "architecture",
                "version",
                "created",
                "images",
                "images.0.name",
                "images.0.file",
                "images.0.size",
                "images.0.fstype",
                "images.0.verity",
                "images.0.verity.hash_algorithm",
                "images.0.verity.data_block_size",
                "images.0.verity.hash_block_size",
                "images.0.verity.salt",
                "images.0.verity.root_hash",
                "images.0.verity.hash_tree.file",
                "images.0.verity.hash_tree.size",
        };

        for (size_t i = 0; i < ELEMENTSOF(required); i++) {
                expect_edit(required[i], NULL, -EUCLEAN);
                expect_edit(required[i], "null", -EUCLEAN);
        }
}

static void test_manifest_wrong_types(void **state) {
        static const Edit bad[] = {
                { "format", "\"1\"" },
                { "format", "1.0" },
                { "format", "true" },
                { "os_id", "1" },
                { "os_id", "\"\"" },
                { "architecture", "[\"x86_64\"]" },
                { "version", "2" },
                { "version", "2.1" },
                { "version", "\"\"" },
                { "min_version", "1" },
                { "created", "1795611600" },
                { "expires", "true" },
                { "images", "{}" },
                { "images", "\"usr\"" },
                { "images.0", "\"usr\"" },
                { "images.0", "[]" },
                { "images.0.name", "[\"usr\"]" },
                { "images.0.file", "{}" },
                { "images.0.size", "\"8192\"" },
                { "images.0.size", "8192.0" },
                { "images.0.size", "8.192e3" },
                { "images.0.fstype", "\"\"" },
                { "images.0.verity", "\"sha256\"" },
                { "images.0.verity", "[]" },
                { "images.0.verity.hash_algorithm", "256" },
                { "images.0.verity.data_block_size", "\"4096\"" },
                { "images.0.verity.hash_block_size", "4096.5" },
                { "images.0.verity.salt", "1" },
                { "images.0.verity.root_hash", "{}" },
                { "images.0.verity.hash_tree", "[]" },
                { "images.0.verity.hash_tree", "\"usr.verity\"" },
                { "images.0.verity.hash_tree.file", "false" },
                { "images.0.verity.hash_tree.size", "\"8192\"" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                expect_edit(bad[i].path, bad[i].raw, -EUCLEAN);
}

static void test_manifest_sizes_out_of_range(void **state) {
        static const Edit bad[] = {
                { "images.0.size", "-8192" },
                { "images.0.size", "-0" },
                { "images.0.size", "0" },
                { "images.0.size", "18446744073709551615" },
                { "images.0.size", "18446744073709551616" },
                { "images.0.size", "99999999999999999999999999" },
                { "images.0.size", "1e30" },
                { "images.0.size", "9223372036854775807" },
                { "images.0.size", "9223372036854775808" },
                { "images.0.size", "1099511631872" },     /* 1 TiB + 4096 */
                { "images.0.size", "8193" },              /* not a multiple of the block size */
                { "images.0.size", "8704" },              /* a multiple of 512 only */
                { "images.0.verity.hash_tree.size", "18446744073709551615" },
                { "images.0.verity.hash_tree.size", "-1" },
                { "images.0.verity.hash_tree.size", "0" },
                { "images.0.verity.hash_tree.size", "4096" },
                { "images.0.verity.hash_tree.size", "12288" },
                { "images.0.verity.data_block_size", "4095" },
                { "images.0.verity.data_block_size", "0" },
                { "images.0.verity.data_block_size", "256" },
                { "images.0.verity.data_block_size", "2097152" },
                { "images.0.verity.data_block_size", "4294971392" }, /* 2^32 + 4096: no truncation to 4096 */
                { "images.0.verity.data_block_size", "18446744073709551615" },
                { "images.0.verity.hash_block_size", "3000" },
                { "images.0.verity.hash_block_size", "4294971392" },
                { "images.0.verity.hash_block_size", "-4096" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                expect_edit(bad[i].path, bad[i].raw, -EUCLEAN);
}

static void test_manifest_unknown_fields(void **state) {
        static const Edit bad[] = {
                { "signature", "1" },
                { "Format", "1" },
                { "images.0.compression", "\"zstd\"" },
                { "images.0.verity.hash_type", "1" },
                { "images.0.verity.hash_tree.offset", "0" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                expect_edit(bad[i].path, bad[i].raw, -EUCLEAN);
}

static void test_manifest_bad_verity_values(void **state) {
        static const Edit bad[] = {
                { "images.0.verity.hash_algorithm", "\"md5\"" },
                { "images.0.verity.hash_algorithm", "\"sha1\"" },
                { "images.0.verity.hash_algorithm", "\"SHA256\"" },
                { "images.0.verity.hash_algorithm", "\"sha256sha256sha256sha256sha256sha256\"" },
                /* root_hash: too short, too long, sha512-sized, not hex, odd, empty. */
                { "images.0.verity.root_hash", "\"851b0c1d2e3f405162738495a6b7c8d9eafb0c1d2e3f405162738495a6b7c8\"" },
                { "images.0.verity.root_hash", "\"" ROOT_HEX "00\"" },
                { "images.0.verity.root_hash", "\"" ROOT512_HEX "\"" },
                { "images.0.verity.root_hash", "\"zz1b0c1d2e3f405162738495a6b7c8d9eafb0c1d2e3f405162738495a6b7c882\"" },
                { "images.0.verity.root_hash", "\"851b0c1d2e3f405162738495a6b7c8d9eafb0c1d2e3f405162738495a6b7c88\"" },
                { "images.0.verity.root_hash", "\"\"" },
                /* salt: not hex, odd, 0x prefix, empty. */
                { "images.0.verity.salt", "\"xyz1\"" },
                { "images.0.verity.salt", "\"abc\"" },
                { "images.0.verity.salt", "\"0x00\"" },
                { "images.0.verity.salt", "\"\"" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                expect_edit(bad[i].path, bad[i].raw, -EUCLEAN);
        /* Upper-case hex is hex too. */
        expect_edit("images.0.verity.root_hash",
                    "\"851B0C1D2E3F405162738495A6B7C8D9EAFB0C1D2E3F405162738495A6B7C882\"", 0);

        /* 257 bytes of salt. */
        {
                char salt[520];

                salt[0] = '"';
                memset(salt + 1, 'a', 514);
                salt[515] = '"';
                salt[516] = 0;
                expect_edit("images.0.verity.salt", salt, -EUCLEAN);
        }
}

static void test_manifest_unsafe_file_names(void **state) {
        static const char *const bad[] = {
                "\"../x\"",          "\"..\"",        "\"/abs\"",      "\".hidden\"",    "\"manifest.json\"",
                "\"manifest.sig\"",  "\"a/b\"",       "\"x y\"",       "\"usr.erofs\\n\"", "\"usr\\u0000x\"",
                "\"caf\\u00e9\"",     "\"a\\\\b\"",    "\"\"",
                "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", /* 65 */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                expect_edit("images.0.file", bad[i], -EUCLEAN);
                expect_edit("images.0.verity.hash_tree.file", bad[i], -EUCLEAN);
        }
        /* 64 bytes, upper case, digits, '-', '_' and inner dots are fine. */
        expect_edit("images.0.file", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", 0);
        expect_edit("images.0.file", "\"USR_2-1.x.erofs\"", 0);
        assert_true(manifest_file_name_is_valid("usr.erofs"));
        assert_false(manifest_file_name_is_valid(NULL));
        assert_false(manifest_file_name_is_valid("../usr.erofs"));
}

static void test_manifest_duplicate_names(void **state) {
        char tree[128], tree_usr_erofs[128], tree_usr_verity[128];
        uint64_t esp_tree = tree_size("sha512", 1024, 512, 1048576);

        /* Trees of the right size for the second image, so only the name can be wrong. */
        snprintf(tree, sizeof tree, "{\"file\":\"esp.verity\",\"size\":%llu}", (unsigned long long) esp_tree);
        snprintf(tree_usr_erofs, sizeof tree_usr_erofs, "{\"file\":\"usr.erofs\",\"size\":%llu}",
                 (unsigned long long) esp_tree);
        snprintf(tree_usr_verity, sizeof tree_usr_verity, "{\"file\":\"usr.verity\",\"size\":%llu}",
                 (unsigned long long) esp_tree);

        const Edit same_file[] = { { "images.1", IMAGE_ESP }, { "images.1.file", "\"usr.erofs\"" } };
        const Edit file_is_other_tree[] = { { "images.1", IMAGE_ESP }, { "images.1.file", "\"usr.verity\"" } };
        const Edit tree_is_other_file[] = { { "images.1", IMAGE_ESP },
                                            { "images.1.verity.hash_tree", tree_usr_erofs } };
        const Edit same_tree[] = { { "images.1", IMAGE_ESP }, { "images.1.verity.hash_tree", tree_usr_verity } };
        const Edit tree_is_own_file[] = { { "images.1", IMAGE_ESP },
                                          { "images.1.verity.hash_tree", tree },
                                          { "images.1.verity.hash_tree.file", "\"esp.squashfs\"" } };
        const Edit same_name[] = { { "images.1", IMAGE_ESP }, { "images.1.name", "\"usr\"" } };
        const Edit control[] = { { "images.1", IMAGE_ESP }, { "images.1.verity.hash_tree", tree } };
        const struct {
                const Edit *edits;
                size_t n;
        } bad[] = {
                { same_file, ELEMENTSOF(same_file) },
                { file_is_other_tree, ELEMENTSOF(file_is_other_tree) },
                { tree_is_other_file, ELEMENTSOF(tree_is_other_file) },
                { same_tree, ELEMENTSOF(same_tree) },
                { tree_is_own_file, ELEMENTSOF(tree_is_own_file) },
                { same_name, ELEMENTSOF(same_name) },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *s = build(bad[i].edits, bad[i].n);

                print_message("%s\n", s);
                expect(s, -EUCLEAN);
        }
        /* An image's tree named like the image itself, or like the manifest. */
        expect_edit("images.0.verity.hash_tree.file", "\"usr.erofs\"", -EUCLEAN);
        expect_edit("images.0.verity.hash_tree.file", "\"manifest.sig\"", -EUCLEAN);

        /* The control: the second image with a tree of its own is fine. */
        {
                _cleanup_free_ char *s = build(control, ELEMENTSOF(control));

                expect(s, 0);
        }
}

static void test_manifest_bad_values(void **state) {
        static const Edit bad[] = {
                { "min_version", "\"2.2\"" },
                { "min_version", "\"2.1.1\"" },
                { "min_version", "\"~1\"" },
                { "min_version", "\"\"" },
                { "version", "\"~2\"" },
                { "version", "\"2 1\"" },
                { "version", "\"2.1/x\"" },
                { "expires", "\"2026-11-25T12:59:59Z\"" },
                { "expires", "\"2026-11-25T13:00:00Z\"" },
                { "expires", "\"never\"" },
                { "created", "\"2026-11-25T13:00:00\"" },
                { "created", "\"2026-11-25T13:00:00+00:00\"" },
                { "created", "\"@1795611600\"" },
                { "created", "\"+1d\"" },
                { "created", "\"now\"" },
                { "created", "\"2026-02-30T00:00:00Z\"" },
                { "images.0.fstype", "\"ext4\"" },
                { "images.0.fstype", "\"EROFS\"" },
                { "images.0.fstype", "\"vfat\"" },
                { "os_id", "\"Demo\"" },
                { "os_id", "\"de mo\"" },
                { "os_id", "\"demo/x\"" },
                { "architecture", "\"x86 64\"" },
                { "architecture", "\"x86/64\"" },
                { "images.0.name", "\"USR\"" },
                { "images.0.name", "\"usr.a\"" },
                { "images.0.name", "\"a/b\"" },
                { "images.0.name", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"" }, /* 33 */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                expect_edit(bad[i].path, bad[i].raw, -EUCLEAN);

        /* The date alone means midnight UTC. */
        {
                _cleanup_free_ char *s = build1("created", "\"2026-11-25\"");
                _cleanup_(manifest_freep) Manifest *m = NULL;

                assert_int_equal(parse(s, &m), 0);
                assert_int_equal(m->created, 1795564800);
        }
}

static void test_manifest_format_version(void **state) {
        expect_edit("format", "2", -EPROTONOSUPPORT);
        expect_edit("format", "0", -EPROTONOSUPPORT);
        expect_edit("format", "4294967296", -EPROTONOSUPPORT);
        /* Its reason says so, and does not make up a version number. */
        assert_non_null(log_detail());
        assert_non_null(strstr(log_detail(), "out of range"));
        /* The format is read first: a newer one may have fields we do not know. */
        expect("{\"format\":2,\"whatever\":true}", -EPROTONOSUPPORT);
        expect("{\"format\":2}", -EPROTONOSUPPORT);
        expect("{\"whatever\":true}", -EUCLEAN);
}

/* No salt, as `veritysetup format --salt=-` makes it: "-" both ways; "" stays refused. */
static void test_manifest_empty_salt(void **state) {
        _cleanup_free_ char *s = build1("images.0.verity.salt", "\"-\"");
        _cleanup_(manifest_freep) Manifest *m = NULL, *again = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *out = NULL;
        json_object *img, *v, *salt;

        assert_int_equal(parse(s, &m), 0);
        assert_int_equal(m->images[0].verity.salt_size, 0);
        assert_int_equal(manifest_format(m, &out), 0);
        assert_int_equal(json_parse_strict(out, strlen(out), &o), 0);
        assert_true(json_object_object_get_ex(o, "images", &img));
        img = json_object_array_get_idx(img, 0);
        assert_true(json_object_object_get_ex(img, "verity", &v));
        assert_true(json_object_object_get_ex(v, "salt", &salt));
        assert_string_equal(json_object_get_string(salt), "-");
        assert_int_equal(parse(out, &again), 0);
        assert_int_equal(again->images[0].verity.salt_size, 0);

        expect_edit("images.0.verity.salt", "\"\"", -EUCLEAN);
        expect_edit("images.0.verity.salt", "\"--\"", -EUCLEAN);
        expect_edit("images.0.verity.salt", "\"-00\"", -EUCLEAN);
}

/* Blocks the kernel here would refuse (larger than the page size) are refused by the manifest's
 * own code, -EMEDIUMTYPE, not as malformed; up to the page size they are fine. */
static void test_manifest_block_size_page(void **state) {
        long page = sysconf(_SC_PAGESIZE);
        char size[32], big[32], fits[32];
        _cleanup_free_ char *data = NULL, *hash = NULL, *ok = NULL;

        assert_true(page >= 4096);
        snprintf(size, sizeof size, "%ld", 4 * page);
        snprintf(big, sizeof big, "%ld", 2 * page);
        snprintf(fits, sizeof fits, "%ld", page);
        {
                const Edit e[] = { { "images.0.size", size }, { "images.0.verity.data_block_size", big },
                                   { "images.0.verity.hash_tree", NULL } };
                data = build(e, ELEMENTSOF(e));
        }
        {
                const Edit e[] = { { "images.0.size", size }, { "images.0.verity.hash_block_size", big },
                                   { "images.0.verity.hash_tree", NULL } };
                hash = build(e, ELEMENTSOF(e));
        }
        {
                const Edit e[] = { { "images.0.size", size }, { "images.0.verity.data_block_size", fits },
                                   { "images.0.verity.hash_block_size", fits }, { "images.0.verity.hash_tree", NULL } };
                ok = build(e, ELEMENTSOF(e));
        }
        expect(data, -EMEDIUMTYPE);
        assert_non_null(strstr(log_detail(), "page size"));
        expect(hash, -EMEDIUMTYPE);
        assert_non_null(strstr(log_detail(), "page size"));
        expect(ok, 0);
}

/* An unsupported algorithm is named, with what is supported. */
static void test_manifest_unsupported_hash_named(void **state) {
        _cleanup_free_ char *s = build1("images.0.verity.hash_algorithm", "\"sha1\"");

        expect(s, -EUCLEAN);
        assert_non_null(strstr(log_detail(), "hash algorithm \"sha1\" is not supported: only sha256 and sha512"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_manifest_parse_valid),
                cmocka_unit_test(test_manifest_parse_optional_fields),
                cmocka_unit_test(test_manifest_parse_boundaries),
                cmocka_unit_test(test_manifest_parse_max_images),
                cmocka_unit_test(test_manifest_format_round_trip),
                cmocka_unit_test(test_manifest_format_refuses_invalid),
                cmocka_unit_test(test_manifest_not_json),
                cmocka_unit_test(test_manifest_missing_fields),
                cmocka_unit_test(test_manifest_wrong_types),
                cmocka_unit_test(test_manifest_sizes_out_of_range),
                cmocka_unit_test(test_manifest_unknown_fields),
                cmocka_unit_test(test_manifest_bad_verity_values),
                cmocka_unit_test(test_manifest_unsafe_file_names),
                cmocka_unit_test(test_manifest_duplicate_names),
                cmocka_unit_test(test_manifest_bad_values),
                cmocka_unit_test(test_manifest_format_version),
                cmocka_unit_test(test_manifest_empty_salt),
                cmocka_unit_test(test_manifest_block_size_page),
                cmocka_unit_test(test_manifest_unsupported_hash_named),
        };

        return tu_run_group_tests(tests, NULL, NULL);
}
