/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Channel documents (updater/agent/channel.c): create and verify round trips, a table of signed
 * texts that must be refused with their errno, thresholds, expiry; and the bundle digest check a
 * channel asks of the install path (InstallOptions.expect_*, updater/source.c). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "test-util.h"

#include "channel.h"
#include "cleanup.h"
#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "openssl-util.h"
#include "publish.h"
#include "slot-auth.h"
#include "slot.h"
#include "source.h"

#define CREATED 1795611600 /* 2026-11-25T13:00:00Z */
#define EXPIRES 1798761600 /* 2027-01-01T00:00:00Z */

static char *tmpdir;
static EVP_PKEY *k1, *k2, *k3; /* k1, k2 trusted; k3 not */
static Keyring keyring;

static EVP_PKEY *keygen(void) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
        EVP_PKEY *k = NULL;

        if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &k) != 1)
                return NULL;
        return k;
}

static int write_pem(EVP_PKEY *k, const char *path, bool private) {
        FILE *f = fopen(path, "we");
        int ok;

        if (!f)
                return -errno;
        ok = private ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(f, k);
        fclose(f);
        return ok == 1 ? 0 : -EIO;
}

static int group_setup(void **state) {
        _cleanup_free_ char *keys = NULL, *p1 = NULL, *p2 = NULL;

        tmpdir = tu_make_tmpdir();
        if (!tmpdir)
                return 1;
        k1 = keygen();
        k2 = keygen();
        k3 = keygen();
        keys = path_join(tmpdir, "keys");
        if (!k1 || !k2 || !k3 || !keys || mkdir(keys, 0700) < 0)
                return 1;
        p1 = path_join(keys, "k1.pem");
        p2 = path_join(keys, "k2.pem");
        if (!p1 || !p2 || write_pem(k1, p1, false) < 0 || write_pem(k2, p2, false) < 0)
                return 1;
        return keyring_load_dir(&keyring, keys) == 2 ? 0 : 1;
}

static int group_teardown(void **state) {
        keyring_done(&keyring);
        EVP_PKEY_free(k1);
        EVP_PKEY_free(k2);
        EVP_PKEY_free(k3);
        if (tmpdir)
                tu_remove_tree(tmpdir);
        free(tmpdir);
        return 0;
}

/* A document around any signed text, signed with the given keys (none: no "signatures"). */
static char *make_doc(const char *text, EVP_PKEY *const *keys, size_t n) {
        _cleanup_(json_object_putp) json_object *doc = json_object_new_object(), *sigs = NULL;
        _cleanup_free_ char *sig = NULL;
        json_object *arr;

        assert_non_null(doc);
        json_object_object_add(doc, "format", json_object_new_int(1));
        json_object_object_add(doc, "signed", json_object_new_string(text));
        if (n > 0) {
                assert_int_equal(signature_sign(text, strlen(text), keys, n, &sig), 0);
                assert_int_equal(json_parse_strict(sig, strlen(sig), &sigs), 0);
                assert_true(json_object_object_get_ex(sigs, "signatures", &arr));
                json_object_object_add(doc, "signatures", json_object_get(arr));
        }
        return strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
}

static const char good_text[] =
        "{\"format\": 1, \"name\": \"stable\", \"serial\": 7, \"created\": \"2026-11-25T13:00:00Z\","
        " \"expires\": \"2027-01-01T00:00:00Z\", \"os_id\": \"demo\", \"version\": \"2.1\","
        " \"bundle\": {\"urls\": [\"https://u.example/v2.1.osup\", \"http://m.example/v2.1.osup\"], \"size\": 123,"
        " \"sha256\": \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"},"
        " \"rollout\": {\"percent\": 10}, \"paused\": false}";

static int verify_text(const char *text, unsigned required, time_t now, Channel **ret) {
        _cleanup_free_ char *doc = make_doc(text, &k1, 1);
        Channel *c = NULL;
        int r;

        log_detail_clear();
        r = channel_verify(doc, strlen(doc), &keyring, required, now, &c);
        if (ret)
                *ret = c;
        else
                channel_free(c);
        return r;
}

static void test_verify_good(void **state) {
        _cleanup_(channel_freep) Channel *c = NULL;
        uint8_t digest[32];
        unsigned n = 32;

        assert_int_equal(verify_text(good_text, 1, CREATED + 1, &c), 0);
        assert_string_equal(c->name, "stable");
        assert_int_equal(c->serial, 7);
        assert_int_equal(c->created, CREATED);
        assert_true(c->has_expires);
        assert_int_equal(c->expires, EXPIRES);
        assert_string_equal(c->os_id, "demo");
        assert_string_equal(c->version, "2.1");
        assert_string_equal(c->urls[0], "https://u.example/v2.1.osup");
        assert_string_equal(c->urls[1], "http://m.example/v2.1.osup");
        assert_null(c->urls[2]);
        assert_int_equal(c->size, 123);
        assert_int_equal(c->sha256[0], 0x00);
        assert_int_equal(c->sha256[31], 0xff);
        assert_false(c->rollout.linear);
        assert_true(c->rollout.percent == 10.0);
        assert_false(c->paused);
        assert_int_equal(EVP_Digest(good_text, strlen(good_text), digest, &n, EVP_sha256(), NULL), 1);
        assert_memory_equal(c->digest, digest, 32);
}

/* One row per way a signed (so authentic) text is still refused. */
static void test_verify_table(void **state) {
        static const struct {
                const char *from, *to; /* replaced in good_text */
                int error;
                const char *detail;
        } rows[] = {
                { "\"paused\": false}", "\"paused\": false, \"extra\": 1}", -EUCLEAN, "unknown field \"extra\"" },
                { "{\"format\": 1,", "{\"format\": 2,", -EPROTONOSUPPORT, "format 2" },
                { "\"percent\": 10", "\"percent\": 150", -EUCLEAN, "percent" },
                { "\"percent\": 10", "\"percent\": -1", -EUCLEAN, "percent" },
                { "\"percent\": 10", "\"percent\": \"10\"", -EUCLEAN, "percent" },
                { "\"percent\": 10", "\"percent\": 12.5", 0, NULL },
                { "\"percent\": 10", "\"percent\": 10, \"start\": \"2026-11-25T13:00:00Z\"", -EUCLEAN, "unknown field \"start\"" },
                { "{\"percent\": 10}", "{\"start\": \"2026-11-25T13:00:00Z\", \"duration\": 86400}", 0, NULL },
                { "{\"percent\": 10}", "{\"start\": \"+1d\", \"duration\": 86400}", -EUCLEAN, "\"start\"" },
                { "{\"percent\": 10}", "{\"start\": \"2026-11-25T13:00:00Z\"}", -EUCLEAN, "\"duration\"" },
                { "{\"percent\": 10}", "{}", -EUCLEAN, "\"start\"" },
                { "https://u.example/v2.1.osup", "file:///srv/v2.1.osup", -EUCLEAN, "file:///srv" },
                { "https://u.example/v2.1.osup", "https://", -EUCLEAN, "not an http" },
                { "https://u.example/v2.1.osup", "https://u.example/a b", -EUCLEAN, "not an http" },
                { "\"urls\": [\"https://u.example/v2.1.osup\", \"http://m.example/v2.1.osup\"]", "\"urls\": []", -EUCLEAN, "1…16" },
                { "\"size\": 123", "\"size\": 0", -EUCLEAN, "size" },
                { "\"size\": 123", "\"size\": -5", -EUCLEAN, "size" },
                { "eeff\"}", "eef\"}", -EUCLEAN, "sha256" },
                { "eeff\"}", "eefg\"}", -EUCLEAN, "sha256" },
                { "\"name\": \"stable\"", "\"name\": \"sta ble\"", -EUCLEAN, "channel name" },
                { "\"name\": \"stable\"", "\"name\": \"0123456789012345678901234567890123456789012345678901234567890123456789\"", -EUCLEAN, "channel name" },
                { "\"version\": \"2.1\"", "\"version\": \"2 1\"", -EUCLEAN, "version" },
                { "\"os_id\": \"demo\"", "\"os_id\": \"Demo\"", -EUCLEAN, "os_id" },
                { "\"expires\": \"2027-01-01T00:00:00Z\"", "\"expires\": \"2026-11-25T13:00:00Z\"", -EUCLEAN, "not after" },
                { "\"created\": \"2026-11-25T13:00:00Z\"", "\"created\": \"yesterday\"", -EUCLEAN, "created" },
                { ", \"paused\": false", "", -EUCLEAN, "paused" },
                { "\"paused\": false", "\"paused\": 0", -EUCLEAN, "paused" },
                { "\"serial\": 7", "\"serial\": \"7\"", -EUCLEAN, "serial" },
                { "\"serial\": 7, ", "", -EUCLEAN, "serial" },
                { "\"name\": \"stable\"", "\"name\": \"stable\", \"name\": \"beta\"", -EUCLEAN, "JSON" },
                { "\"name\": \"stable\"", "\"name\": \"st\\u0000able\"", -EUCLEAN, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                const char *at = strstr(good_text, rows[i].from);
                _cleanup_free_ char *text = NULL;
                int r;

                assert_non_null(at);
                assert_true(asprintf(&text, "%.*s%s%s", (int) (at - good_text), good_text, rows[i].to,
                                     at + strlen(rows[i].from)) > 0);
                r = verify_text(text, 1, CREATED + 1, NULL);
                if (r != rows[i].error)
                        fail_msg("row %zu (%s → %s): %d, expected %d (%s)", i, rows[i].from, rows[i].to, r, rows[i].error,
                                 log_detail() ?: "no detail");
                if (rows[i].detail && (!log_detail() || !strstr(log_detail(), rows[i].detail)))
                        fail_msg("row %zu: detail \"%s\" does not mention \"%s\"", i, log_detail() ?: "", rows[i].detail);
        }
}

static void test_verify_signatures(void **state) {
        EVP_PKEY *both[] = { k1, k2 }, *twice[] = { k1, k1 }, *k13[] = { k1, k3 };
        _cleanup_free_ char *d0 = make_doc(good_text, NULL, 0), *d1 = make_doc(good_text, &k1, 1),
                            *d12 = make_doc(good_text, both, 2), *d11 = make_doc(good_text, twice, 2),
                            *d13 = make_doc(good_text, k13, 2), *d3 = make_doc(good_text, &k3, 1), *altered = NULL,
                            *outer = NULL;
        Keyring empty = {};
        Channel *c = NULL;
        char *p;

        assert_int_equal(channel_verify(d0, strlen(d0), &keyring, 1, CREATED, &c), -EKEYREJECTED);
        assert_int_equal(channel_verify(d3, strlen(d3), &keyring, 1, CREATED, &c), -EKEYREJECTED);
        assert_int_equal(channel_verify(d1, strlen(d1), &keyring, 2, CREATED, &c), -EKEYREJECTED);
        assert_int_equal(channel_verify(d11, strlen(d11), &keyring, 2, CREATED, &c), -EKEYREJECTED);
        assert_int_equal(channel_verify(d13, strlen(d13), &keyring, 2, CREATED, &c), -EKEYREJECTED);
        assert_int_equal(channel_verify(d1, strlen(d1), &empty, 1, CREATED, &c), -ENOKEY);
        assert_null(c);
        assert_int_equal(channel_verify(d12, strlen(d12), &keyring, 2, CREATED, &c), 0);
        c = channel_free(c);
        assert_int_equal(channel_verify(d13, strlen(d13), &keyring, 1, CREATED, &c), 0);
        c = channel_free(c);

        /* One byte of the signed text changed: the signature by a trusted key no longer verifies. */
        altered = strdup(d1);
        p = strstr(altered, "\\\"serial\\\": 7");
        assert_non_null(p);
        p[strlen("\\\"serial\\\": ")] = '8';
        assert_int_equal(channel_verify(altered, strlen(altered), &keyring, 1, CREATED, &c), -EBADMSG);

        /* The document around it: strict too. */
        assert_true(asprintf(&outer, "%.*s, \"x\": 1}", (int) (strlen(d1) - 1), d1) > 0);
        assert_int_equal(channel_verify(outer, strlen(outer), &keyring, 1, CREATED, &c), -EUCLEAN);
        assert_int_equal(channel_verify("[]", 2, &keyring, 1, CREATED, &c), -EUCLEAN);
        assert_int_equal(channel_verify("{\"format\": 3}", 13, &keyring, 1, CREATED, &c), -EPROTONOSUPPORT);
        assert_int_equal(channel_verify(d1, strlen(d1) - 1, &keyring, 1, CREATED, &c), -EUCLEAN);
        assert_null(c);
}

static void test_verify_expiry(void **state) {
        assert_int_equal(verify_text(good_text, 1, EXPIRES - 1, NULL), 0);
        assert_int_equal(verify_text(good_text, 1, EXPIRES, NULL), -EKEYEXPIRED);
        assert_non_null(strstr(log_detail(), "expired at 2027-01-01T00:00:00Z"));
        /* A clock behind "created" is no reason to refuse: new machines' clocks often are. */
        assert_int_equal(verify_text(good_text, 1, 0, NULL), 0);
}

static void test_create_roundtrip(void **state) {
        char *urls[] = { (char *) "https://u.example/v3.osup", (char *) "http://m.example/x/v3.osup", NULL };
        EVP_PKEY *keys[] = { k1, k2 };
        ChannelSpec spec = {
                .name = "beta-1.x",
                .serial = 42,
                .version = "3.0~rc1",
                .os_id = "demo",
                .urls = urls,
                .size = 4096,
                .rollout = { .linear = true, .start = CREATED + 3600, .duration = 86400 },
                .paused = true,
                .has_expires = true,
                .expires = EXPIRES,
                .created = CREATED,
        };
        _cleanup_(channel_freep) Channel *c = NULL;
        _cleanup_free_ char *doc = NULL, *doc2 = NULL, *file = tu_join(tmpdir, "bundle");
        uint8_t digest[32];
        unsigned n = 32;

        memset(spec.sha256, 0xab, sizeof spec.sha256);
        assert_int_equal(channel_create(&spec, keys, 2, &doc), 0);
        assert_int_equal(doc[strlen(doc) - 1], '\n');
        assert_int_equal(channel_verify(doc, strlen(doc), &keyring, 2, CREATED, &c), 0);
        assert_string_equal(c->name, "beta-1.x");
        assert_int_equal(c->serial, 42);
        assert_string_equal(c->version, "3.0~rc1");
        assert_string_equal(c->os_id, "demo");
        assert_string_equal(c->urls[1], "http://m.example/x/v3.osup");
        assert_int_equal(c->size, 4096);
        assert_int_equal(c->sha256[17], 0xab);
        assert_true(c->rollout.linear);
        assert_int_equal(c->rollout.start, CREATED + 3600);
        assert_int_equal(c->rollout.duration, 86400);
        assert_true(c->paused);
        assert_int_equal(c->expires, EXPIRES);
        assert_int_equal(c->created, CREATED);
        c = channel_free(c);

        /* Deterministic: the same request, the same bytes (Ed25519 signatures are). */
        assert_int_equal(channel_create(&spec, keys, 2, &doc2), 0);
        assert_string_equal(doc, doc2);
        free(doc2);
        doc2 = NULL;

        /* From a local copy of the bundle: its size and digest, not the spec's. */
        assert_int_equal(write_file_atomic(file, "hello bundle", 12, 0600), 0);
        spec.bundle_file = file;
        spec.rollout = (Rollout) { .percent = 33.3 };
        spec.has_expires = false;
        assert_int_equal(channel_create(&spec, keys, 1, &doc2), 0);
        assert_int_equal(channel_verify(doc2, strlen(doc2), &keyring, 1, CREATED, &c), 0);
        assert_int_equal(c->size, 12);
        assert_int_equal(EVP_Digest("hello bundle", 12, digest, &n, EVP_sha256(), NULL), 1);
        assert_memory_equal(c->sha256, digest, 32);
        assert_false(c->rollout.linear);
        assert_true(c->rollout.percent > 33.29 && c->rollout.percent < 33.31);
        assert_false(c->has_expires);
}

static void test_create_refuses(void **state) {
        char *urls[] = { (char *) "https://u.example/v3.osup", NULL }, *bad_urls[] = { (char *) "file:///x", NULL };
        ChannelSpec good = { .name = "s", .serial = 1, .version = "3", .urls = urls, .size = 1,
                             .rollout = { .percent = 5 }, .created = CREATED };
        ChannelSpec s;
        char *doc = NULL;

        s = good;
        s.name = "a/b";
        assert_int_equal(channel_create(&s, &k1, 1, &doc), -EINVAL);
        s = good;
        s.version = "";
        assert_int_equal(channel_create(&s, &k1, 1, &doc), -EINVAL);
        s = good;
        s.urls = bad_urls;
        assert_int_equal(channel_create(&s, &k1, 1, &doc), -EINVAL);
        s = good;
        s.rollout.percent = 100.5;
        assert_int_equal(channel_create(&s, &k1, 1, &doc), -EINVAL);
        s = good;
        s.has_expires = true;
        s.expires = CREATED;
        assert_int_equal(channel_create(&s, &k1, 1, &doc), -EINVAL);
        s = good;
        s.size = 0;
        assert_int_equal(channel_create(&s, &k1, 1, &doc), -EINVAL);
        assert_int_equal(channel_create(&good, &k1, 0, &doc), -EINVAL);
        assert_null(doc);
        assert_int_equal(channel_create(&good, &k1, 1, &doc), 0);
        free(doc);
}

/* ---- The bundle digest check (InstallOptions.expect_*) --------------------------------------- */

static int accept_manifest(const Manifest *m, void *userdata) {
        return 0;
}

static char *make_bundle(uint64_t *ret_size, uint8_t ret_sha[32]) {
        _cleanup_(publish_request_done) PublishRequest req = { .now = CREATED };
        _cleanup_free_ char *tree = tu_join(tmpdir, "tree"), *f = NULL, *key = tu_join(tmpdir, "k1-private.pem"),
                            *buf = NULL;
        char *out = tu_join(tmpdir, "v2.osup");
        PublishResult res;
        unsigned n = 32;
        size_t len;

        assert_int_equal(mkdir(tree, 0755), 0);
        f = tu_join(tree, "hello");
        assert_int_equal(write_file_atomic(f, "hello world\n", 12, 0644), 0);
        assert_int_equal(write_pem(k1, key, true), 0);
        assert_int_equal(publish_request_add_key(&req, key), 0);
        req.os_id = "demo";
        req.architecture = "x86_64";
        req.version = "2";
        req.tree = tree;
        req.output = out;
        assert_int_equal(publish_bundle(&req, &res), 0);
        assert_int_equal(read_full_file(out, 64U << 20, &buf, &len), 0);
        assert_int_equal(EVP_Digest(buf, len, ret_sha, &n, EVP_sha256(), NULL), 1);
        *ret_size = len;
        return out;
}

static void test_source_digest(void **state) {
        _cleanup_free_ char *mkfs = tu_find_tool("mkfs.erofs"), *bundle = NULL, *statedir = NULL, *image = NULL;
        uint8_t sha[32], wrong[32];
        uint64_t size;
        Config cfg = { .signatures_required = 1 };
        InstallOptions o = {};
        Source ctx;
        SlotWriter w;
        struct stat st;

        if (!mkfs)
                skip(); /* publish_bundle() builds the image with mkfs.erofs */
        bundle = make_bundle(&size, sha);
        statedir = tu_join(tmpdir, "state");
        cfg.state_directory = statedir;
        image = tu_join(statedir, "slots/a/" SLOT_IMAGE);
        memcpy(wrong, sha, 32);
        wrong[5] ^= 1;
        o.source = bundle;

        /* Dry run (verify only): the right bundle, then each way it can be another one. */
        struct {
                uint64_t size;
                const uint8_t *sha;
                int r;
                const char *detail;
        } rows[] = {
                { 0, NULL, 0, NULL },
                { size, sha, 0, NULL },
                { size, wrong, -EBADMSG, "SHA-256 differs from the channel's" },
                { size + 1, sha, -EBADMSG, "bytes, the channel's" },
                { size - 1, sha, -EBADMSG, "larger than the channel's" },
                { 1000, sha, -EBADMSG, "larger than the channel's" },
                { size, NULL, 0, NULL },
                { size + 1, NULL, -EBADMSG, "bytes, the channel's" },
                { 0, wrong, -EBADMSG, "SHA-256 differs" },
                { 0, sha, 0, NULL },
        };
        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                int r;

                ctx = (Source) { .cfg = &cfg, .slot = 0, .dry_run = true, .now = CREATED + 60, .check = accept_manifest };
                o.expect_size = rows[i].size;
                o.expect_sha256 = rows[i].sha;
                log_detail_clear();
                r = source_read(&ctx, NULL, &keyring, &o);
                manifest_free(ctx.manifest);
                if (r != rows[i].r)
                        fail_msg("dry run row %zu: %d, expected %d (%s)", i, r, rows[i].r, log_detail() ?: "");
                if (rows[i].detail && !strstr(log_detail() ?: "", rows[i].detail))
                        fail_msg("dry run row %zu: \"%s\" does not say \"%s\"", i, log_detail() ?: "", rows[i].detail);
        }

        /* Written into a slot: a wrong digest leaves no complete image (nothing can be recorded
         * ready or go live); the right one completes the slot. */
        ctx = (Source) { .cfg = &cfg, .slot = 0, .now = CREATED + 60, .check = accept_manifest };
        assert_int_equal(slot_writer_init(&w, statedir, 0), 0);
        w.check = accept_manifest;
        o.expect_size = size;
        o.expect_sha256 = wrong;
        assert_int_equal(source_read(&ctx, &w, &keyring, &o), -EBADMSG);
        slot_writer_done(&w);
        assert_int_equal(stat(image, &st), -1);
        assert_int_equal(errno, ENOENT);

        assert_int_equal(slot_clear(statedir, 0), 0);
        assert_int_equal(slot_writer_init(&w, statedir, 0), 0);
        w.check = accept_manifest;
        o.expect_sha256 = sha;
        assert_int_equal(source_read(&ctx, &w, &keyring, &o), 0);
        slot_writer_done(&w);
        assert_int_equal(stat(image, &st), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_verify_good),
                cmocka_unit_test(test_verify_table),
                cmocka_unit_test(test_verify_signatures),
                cmocka_unit_test(test_verify_expiry),
                cmocka_unit_test(test_create_roundtrip),
                cmocka_unit_test(test_create_refuses),
                cmocka_unit_test(test_source_digest),
        };

        return tu_run_group_tests(tests, group_setup, group_teardown);
}
