/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "cleanup.h"
#include "fileio.h"
#include "hex.h"
#include "json-util.h"
#include "openssl-util.h"
#include "signature.h"
#include "test-util.h"

typedef struct Fixture {
        char *dir;
        char *keys;             /* a.pem and b.pem */
        EVP_PKEY *a, *b, *c;    /* c is trusted nowhere */
        Keyring ab, a_only;
} Fixture;

/* The bytes signed: manifest-like, with a NUL inside to show that exactly len bytes count. */
static const char data[] = "{\"format\": 1}\n\0tail";
#define DATA_LEN (sizeof data - 1)

static char *openssl_cli;

static EVP_PKEY *keygen(const char *type) {
        EVP_PKEY *k;

        if (strcmp(type, "RSA") == 0)
                k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
        else if (strcmp(type, "EC") == 0)
                k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        else
                k = EVP_PKEY_Q_keygen(NULL, NULL, type);
        assert_non_null(k);
        return k;
}

static void write_pem(const char *dir, const char *name, EVP_PKEY *k, bool private) {
        _cleanup_free_ char *p = tu_join(dir, name);
        _cleanup_(BIO_free_allp) BIO *bio = NULL;

        bio = BIO_new_file(p, "w");
        assert_non_null(bio);
        if (private)
                assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
        else
                assert_int_equal(PEM_write_bio_PUBKEY(bio, k), 1);
}

static void write_text(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *p = tu_join(dir, name);

        assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
}

static char *make_subdir(const char *dir, const char *name) {
        char *p = tu_join(dir, name);

        assert_int_equal(mkdir(p, 0755), 0);
        return p;
}

static int setup_keys(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        f->dir = tu_make_tmpdir();
        assert_non_null(f->dir);
        f->keys = make_subdir(f->dir, "keys");
        f->a = keygen("ED25519");
        f->b = keygen("ED25519");
        f->c = keygen("ED25519");
        write_pem(f->keys, "a.pem", f->a, false);
        write_pem(f->keys, "b.pem", f->b, false);
        assert_int_equal(keyring_load_dir(&f->ab, f->keys), 2);
        {
                _cleanup_free_ char *p = tu_join(f->keys, "a.pem");
                assert_int_equal(keyring_add_pem_file(&f->a_only, p), 1);
        }
        *state = f;
        return 0;
}

static int teardown_keys(void **state) {
        Fixture *f = *state;
        int r;

        keyring_done(&f->ab);
        keyring_done(&f->a_only);
        EVP_PKEY_free(f->a);
        EVP_PKEY_free(f->b);
        EVP_PKEY_free(f->c);
        r = tu_remove_tree(f->dir);
        free(f->keys);
        free(f->dir);
        free(f);
        return r;
}

static char *sign(EVP_PKEY *k1, EVP_PKEY *k2, const void *d, size_t len) {
        EVP_PKEY *keys[] = { k1, k2 };
        char *sig = NULL;

        assert_int_equal(signature_sign(d, len, keys, k2 ? 2 : 1, &sig), 0);
        assert_non_null(sig);
        return sig;
}

static int verify(const char *sig, const void *d, size_t len, const Keyring *k, unsigned required,
                  SignatureReport *rep) {
        return signature_verify(d, len, sig, strlen(sig), k, required, rep);
}

static void key_id(EVP_PKEY *k, uint8_t id[KEY_ID_SIZE]) {
        assert_int_equal(key_id_compute(k, id), 0);
}

static void test_sign_verify_valid(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *sig = sign(f->a, NULL, data, DATA_LEN);
        SignatureReport rep;
        uint8_t id[KEY_ID_SIZE];

        memset(&rep, 0xff, sizeof rep);
        assert_int_equal(verify(sig, data, DATA_LEN, &f->a_only, 1, &rep), 0);
        assert_int_equal(rep.total, 1);
        assert_int_equal(rep.valid, 1);
        assert_int_equal(rep.invalid, 0);
        assert_int_equal(rep.unknown, 0);
        key_id(f->a, id);
        assert_memory_equal(rep.valid_ids[0], id, KEY_ID_SIZE);

        /* required 0 means 1; a keyring with more keys is fine; the report is optional. */
        assert_int_equal(verify(sig, data, DATA_LEN, &f->ab, 0, NULL), 0);
        assert_int_equal(verify(sig, data, DATA_LEN, &f->ab, 1, &rep), 0);
        assert_int_equal(rep.valid, 1);
}

static void test_sign_output_format(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *sig = sign(f->a, f->b, data, DATA_LEN), *ida = NULL, *idb = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        static const char *const top[] = { "signatures", NULL };
        static const char *const entry[] = { "key", "algorithm", "signature", NULL };
        uint8_t id[KEY_ID_SIZE];
        json_object *arr;

        key_id(f->a, id);
        ida = hex_encode(id, sizeof id);
        key_id(f->b, id);
        idb = hex_encode(id, sizeof id);

        assert_int_equal(json_parse_strict(sig, strlen(sig), &o), 0);
        assert_int_equal(json_check_keys(o, top, NULL), 0);
        assert_int_equal(json_get_array(o, "signatures", false, &arr), 0);
        assert_int_equal(json_object_array_length(arr), 2);
        for (size_t i = 0; i < 2; i++) {
                json_object *e = json_object_array_get_idx(arr, i);
                const char *k = NULL, *alg = NULL, *s = NULL;

                assert_int_equal(json_check_keys(e, entry, NULL), 0);
                assert_int_equal(json_get_string(e, "key", false, &k), 0);
                assert_int_equal(json_get_string(e, "algorithm", false, &alg), 0);
                assert_int_equal(json_get_string(e, "signature", false, &s), 0);
                assert_string_equal(k, i == 0 ? ida : idb);
                assert_string_equal(alg, "ed25519");
                assert_int_equal(strlen(s), 128);
                assert_int_equal(strspn(s, "0123456789abcdef"), 128);
        }
}

static void test_sign_key_count(void **state) {
        Fixture *f = *state;
        EVP_PKEY *keys[SIGNATURES_MAX + 1];
        char *sig = NULL;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                keys[i] = f->a;
        assert_int_equal(signature_sign(data, DATA_LEN, keys, 0, &sig), -EINVAL);
        assert_int_equal(signature_sign(data, DATA_LEN, keys, SIGNATURES_MAX + 1, &sig), -EINVAL);
        assert_null(sig);
        assert_int_equal(signature_sign(data, DATA_LEN, keys, SIGNATURES_MAX, &sig), 0);
        assert_int_equal(verify(sig, data, DATA_LEN, &f->a_only, 1, NULL), 0);
        free(sig);
}

static void test_verify_altered_data(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *sig = sign(f->a, NULL, data, DATA_LEN);
        char altered[sizeof data];
        SignatureReport rep;

        memcpy(altered, data, sizeof data);
        altered[3] ^= 0x20;
        assert_int_equal(verify(sig, altered, DATA_LEN, &f->a_only, 1, &rep), -EBADMSG);
        assert_int_equal(rep.total, 1);
        assert_int_equal(rep.valid, 0);
        assert_int_equal(rep.invalid, 1);
        assert_int_equal(rep.unknown, 0);

        /* One byte less, one more: the bytes after the NUL count too. */
        assert_int_equal(verify(sig, data, DATA_LEN - 1, &f->a_only, 1, NULL), -EBADMSG);
        memcpy(altered, data, sizeof data);
        assert_int_equal(verify(sig, altered, DATA_LEN + 1, &f->a_only, 1, NULL), -EBADMSG);
        assert_int_equal(verify(sig, "", 0, &f->a_only, 1, NULL), -EBADMSG);
}

static void test_verify_unknown_key_only(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *sig = sign(f->c, NULL, data, DATA_LEN);
        SignatureReport rep;

        assert_int_equal(verify(sig, data, DATA_LEN, &f->ab, 1, &rep), -EKEYREJECTED);
        assert_int_equal(rep.total, 1);
        assert_int_equal(rep.valid, 0);
        assert_int_equal(rep.invalid, 0);
        assert_int_equal(rep.unknown, 1);

        /* Unknown signer, and the data altered too: still no trusted key involved. */
        assert_int_equal(verify(sig, data, DATA_LEN - 1, &f->ab, 1, NULL), -EKEYREJECTED);
}

static void test_verify_same_key_twice_counts_once(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *sig = sign(f->a, f->a, data, DATA_LEN);
        SignatureReport rep;

        assert_int_equal(verify(sig, data, DATA_LEN, &f->ab, 2, &rep), -EKEYREJECTED);
        assert_int_equal(rep.total, 2);
        assert_int_equal(rep.valid, 1);
        assert_int_equal(rep.invalid, 0);
        assert_int_equal(rep.unknown, 0);
        assert_int_equal(verify(sig, data, DATA_LEN, &f->ab, 1, NULL), 0);
}

static void test_verify_two_distinct_keys(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *ab = sign(f->a, f->b, data, DATA_LEN), *ac = sign(f->a, f->c, data, DATA_LEN),
                            *a = sign(f->a, NULL, data, DATA_LEN);
        SignatureReport rep;
        uint8_t ida[KEY_ID_SIZE], idb[KEY_ID_SIZE];

        assert_int_equal(verify(ab, data, DATA_LEN, &f->ab, 2, &rep), 0);
        assert_int_equal(rep.total, 2);
        assert_int_equal(rep.valid, 2);
        key_id(f->a, ida);
        key_id(f->b, idb);
        assert_memory_equal(rep.valid_ids[0], ida, KEY_ID_SIZE);
        assert_memory_equal(rep.valid_ids[1], idb, KEY_ID_SIZE);

        /* b is not trusted by a_only; c by nobody. */
        assert_int_equal(verify(ab, data, DATA_LEN, &f->a_only, 2, &rep), -EKEYREJECTED);
        assert_int_equal(rep.valid, 1);
        assert_int_equal(rep.unknown, 1);
        assert_int_equal(verify(ac, data, DATA_LEN, &f->ab, 2, &rep), -EKEYREJECTED);
        assert_int_equal(rep.unknown, 1);
        assert_int_equal(verify(a, data, DATA_LEN, &f->ab, 2, NULL), -EKEYREJECTED);
        assert_int_equal(verify(ab, data, DATA_LEN, &f->ab, 3, NULL), -EKEYREJECTED);

        /* Both trusted signatures fail on altered data. */
        assert_int_equal(verify(ab, data, DATA_LEN - 1, &f->ab, 2, &rep), -EBADMSG);
        assert_int_equal(rep.invalid, 2);
}

/* One signature by a trusted key that verifies and one that does not. */
static void test_verify_mixed_valid_and_invalid(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *sa = sign(f->a, NULL, data, DATA_LEN), *sb = sign(f->b, NULL, "other", 5), *both = NULL;
        _cleanup_(json_object_putp) json_object *oa = NULL, *ob = NULL;
        json_object *arr_a, *arr_b;
        SignatureReport rep;

        /* {"signatures": [a's over data, b's over other bytes]} */
        assert_int_equal(json_parse_strict(sa, strlen(sa), &oa), 0);
        assert_int_equal(json_parse_strict(sb, strlen(sb), &ob), 0);
        assert_int_equal(json_get_array(oa, "signatures", false, &arr_a), 0);
        assert_int_equal(json_get_array(ob, "signatures", false, &arr_b), 0);
        assert_int_equal(json_object_array_add(arr_a, json_object_get(json_object_array_get_idx(arr_b, 0))), 0);
        both = strdup(json_object_to_json_string(oa));
        assert_non_null(both);

        assert_int_equal(verify(both, data, DATA_LEN, &f->ab, 1, &rep), 0);
        assert_int_equal(rep.valid, 1);
        assert_int_equal(rep.invalid, 1);
        assert_int_equal(verify(both, data, DATA_LEN, &f->ab, 2, &rep), -EBADMSG);
        assert_int_equal(rep.valid, 1);
        assert_int_equal(rep.invalid, 1);
}

static void test_verify_empty_keyring(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *sig = sign(f->a, NULL, data, DATA_LEN), *empty = make_subdir(f->dir, "empty");
        Keyring none = {};
        SignatureReport rep;

        assert_int_equal(verify(sig, data, DATA_LEN, &none, 1, &rep), -ENOKEY);
        assert_int_equal(rep.total, 1);
        assert_int_equal(rep.unknown, 1);
        assert_int_equal(verify(sig, data, DATA_LEN, NULL, 1, NULL), -ENOKEY);

        /* A keys directory without keys gives an empty keyring. */
        assert_int_equal(keyring_load_dir(&none, empty), 0);
        assert_int_equal(none.n_keys, 0);
        assert_int_equal(verify(sig, data, DATA_LEN, &none, 1, NULL), -ENOKEY);
        keyring_done(&none);
}

static void test_verify_malformed(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *sig = sign(f->a, NULL, data, DATA_LEN), *id = NULL, *s = NULL, *many = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *sp = NULL;
        json_object *arr;
        uint8_t bin[KEY_ID_SIZE];
        size_t n = 0;
        /* Each a printf format taking the key id and the signature hex, in that order. */
        static const char *const bad[] = {
                "not JSON %s %s",
                "[{\"key\":\"%s\",\"algorithm\":\"ed25519\",\"signature\":\"%s\"}]",
                "{\"sigs\":[{\"key\":\"%s\",\"algorithm\":\"ed25519\",\"signature\":\"%s\"}]}",
                "{\"signatures\":{\"key\":\"%s\",\"algorithm\":\"ed25519\",\"signature\":\"%s\"}}",
                "{\"signatures\":[]}%.0s%.0s",
                "{\"signatures\":null}%.0s%.0s",
                "{\"signatures\":[{\"key\":\"%s\",\"algorithm\":\"ed25519\",\"signature\":\"%s\"}],\"version\":1}",
                "{\"signatures\":[{\"key\":\"%s\",\"algorithm\":\"ed25519\",\"signature\":\"%s\",\"comment\":\"x\"}]}",
                "{\"signatures\":[{\"algorithm\":\"ed25519\",\"signature\":\"%.0s%s\"}]}",
                "{\"signatures\":[{\"key\":\"%s\",\"signature\":\"%s\"}]}",
                "{\"signatures\":[{\"key\":\"%s\",\"algorithm\":\"ed25519\"}]}%.0s",
                "{\"signatures\":[\"%s\", \"%s\"]}",
                "{\"signatures\":[{\"key\":\"%s\",\"algorithm\":\"rsa\",\"signature\":\"%s\"}]}",
                "{\"signatures\":[{\"key\":\"%s\",\"algorithm\":\"Ed25519\",\"signature\":\"%s\"}]}",
                "{\"signatures\":[{\"key\":\"%s\",\"algorithm\":\"\",\"signature\":\"%s\"}]}",
                "{\"signatures\":[{\"key\":\"x%s\",\"algorithm\":\"ed25519\",\"signature\":\"%s\"}]}",
                "{\"signatures\":[{\"key\":\"zz%s\",\"algorithm\":\"ed25519\",\"signature\":\"%s\"}]}",
                "{\"signatures\":[{\"key\":\"%.62s\",\"algorithm\":\"ed25519\",\"signature\":\"%s\"}]}",
                "{\"signatures\":[{\"key\":\"%s00\",\"algorithm\":\"ed25519\",\"signature\":\"%s\"}]}",
                "{\"signatures\":[{\"key\":\"%s\",\"algorithm\":\"ed25519\",\"signature\":\"%sg\"}]}",
                "{\"signatures\":[{\"key\":\"%s\",\"algorithm\":\"ed25519\",\"signature\":\"%.126s\"}]}",
                "{\"signatures\":[{\"key\":\"%s\",\"algorithm\":\"ed25519\",\"signature\":\"%s00\"}]}",
                "{\"signatures\":[{\"key\":\"%s\",\"algorithm\":\"ed25519\",\"signature\":\"\"}]}%.0s",
                "{\"signatures\":[{\"key\":\"%.0s\",\"algorithm\":\"ed25519\",\"signature\":\"%s\"}]}",
                "{\"signatures\":[{\"key\":1,\"algorithm\":\"ed25519\",\"signature\":\"%.0s%s\"}]}",
                "{\"signatures\":[{\"key\":\"%s\",\"algorithm\":\"ed25519\",\"signature\":\"%s\"}]} x",
                "{\"signatures\":[{\"key\":\"%s\",\"algorithm\":\"ed25519\",\"signature\":\"%s\"}]",
        };

        /* The parts of a valid signature, to break one thing at a time. */
        assert_int_equal(json_parse_strict(sig, strlen(sig), &o), 0);
        assert_int_equal(json_get_array(o, "signatures", false, &arr), 0);
        assert_int_equal(json_get_string(json_object_array_get_idx(arr, 0), "signature", false, &sp), 0);
        s = strdup(sp);
        assert_non_null(s);
        key_id(f->a, bin);
        id = hex_encode(bin, sizeof bin);
        assert_non_null(id);

        /* The control: the template itself is right. */
        {
                _cleanup_free_ char *good = NULL;

                assert_true(asprintf(&good,
                                     "{\"signatures\":[{\"key\":\"%s\",\"algorithm\":\"ed25519\","
                                     "\"signature\":\"%s\"}]}",
                                     id, s) > 0);
                assert_int_equal(verify(good, data, DATA_LEN, &f->ab, 1, NULL), 0);
        }

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *text = NULL;
                SignatureReport rep = { .total = 4711 };

                assert_true(asprintf(&text, bad[i], id, s) > 0);
                print_message("%s\n", text);
                assert_int_equal(verify(text, data, DATA_LEN, &f->ab, 1, &rep), -EUCLEAN);
                /* Not filled in when the file did not parse. */
                assert_int_equal(rep.total, 4711);
                /* Malformed is malformed even without keys. */
                assert_int_equal(verify(text, data, DATA_LEN, NULL, 1, NULL), -EUCLEAN);
        }
#pragma GCC diagnostic pop

        /* A NUL byte inside. */
        {
                size_t len = strlen(sig);
                _cleanup_free_ char *copy = strdup(sig);

                assert_non_null(copy);
                copy[len - 1] = 0;
                assert_int_equal(signature_verify(data, DATA_LEN, copy, len, &f->ab, 1, NULL), -EUCLEAN);
                assert_int_equal(signature_verify(data, DATA_LEN, sig, len + 1, &f->ab, 1, NULL), -EUCLEAN);
        }

        /* More than SIGNATURES_MAX entries, valid ones. */
        for (size_t i = 0; i <= SIGNATURES_MAX; i++) {
                _cleanup_free_ char *prev = many;

                many = NULL;
                assert_true(asprintf(&many, "%s%s{\"key\":\"%s\",\"algorithm\":\"ed25519\",\"signature\":\"%s\"}",
                                     prev ? prev : "{\"signatures\":[", prev ? "," : "", id, s) > 0);
                n++;
                if (n == SIGNATURES_MAX) {
                        _cleanup_free_ char *full = NULL;

                        assert_true(asprintf(&full, "%s]}", many) > 0);
                        assert_int_equal(verify(full, data, DATA_LEN, &f->ab, 1, NULL), 0);
                }
        }
        {
                _cleanup_free_ char *full = NULL;

                assert_int_equal(n, SIGNATURES_MAX + 1);
                assert_true(asprintf(&full, "%s]}", many) > 0);
                assert_int_equal(verify(full, data, DATA_LEN, &f->ab, 1, NULL), -EUCLEAN);
        }
}

static void test_keyring_load_dir(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *d = make_subdir(f->dir, "mixed"), *sub = NULL, *sig_c = sign(f->c, NULL, data, DATA_LEN);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa = keygen("RSA"), *ec = keygen("EC"), *x25519 = keygen("X25519");
        Keyring k = {};
        uint8_t id[KEY_ID_SIZE];

        write_pem(d, "a.pem", f->a, false);
        write_pem(d, "b.pem", f->b, false);
        write_pem(d, "c-rsa.pem", rsa, false);
        write_pem(d, "d-ec.pem", ec, false);
        write_pem(d, "d-x25519.pem", x25519, false);
        write_text(d, "e-garbage.pem", "this is not a key\n");
        write_text(d, "e-empty.pem", "");
        write_pem(d, "f-private.pem", f->c, true);
        write_pem(d, "g.txt", f->c, false);
        write_pem(d, "g.pem.disabled", f->c, false);
        write_pem(d, ".hidden.pem", f->c, false);
        write_pem(d, "h-copy-of-a.pem", f->a, false);
        sub = make_subdir(d, "i-dir.pem");

        assert_int_equal(keyring_load_dir(&k, d), 2);
        assert_int_equal(k.n_keys, 2);
        key_id(f->a, id);
        assert_memory_equal(k.keys[0].id, id, KEY_ID_SIZE);
        assert_non_null(strstr(k.keys[0].path, "/a.pem"));
        key_id(f->b, id);
        assert_memory_equal(k.keys[1].id, id, KEY_ID_SIZE);
        assert_non_null(strstr(k.keys[1].path, "/b.pem"));

        /* c was only in files that are not loaded. */
        assert_int_equal(verify(sig_c, data, DATA_LEN, &k, 1, NULL), -EKEYREJECTED);

        /* Loading again adds nothing. */
        assert_int_equal(keyring_load_dir(&k, d), 0);
        assert_int_equal(k.n_keys, 2);
        keyring_done(&k);
        assert_int_equal(k.n_keys, 0);
        assert_null(k.keys);
}

static void test_keyring_add_pem_file(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *d = make_subdir(f->dir, "single"), *pa = tu_join(d, "a.pem"), *pa2 = tu_join(d, "a2.pem"),
                            *prsa = tu_join(d, "rsa.pem"), *ppriv = tu_join(d, "priv.pem"),
                            *missing = tu_join(d, "missing.pem");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa = keygen("RSA");
        Keyring k = {};

        write_pem(d, "a.pem", f->a, false);
        write_pem(d, "a2.pem", f->a, false);
        write_pem(d, "rsa.pem", rsa, false);
        write_pem(d, "priv.pem", f->b, true);

        assert_int_equal(keyring_add_pem_file(&k, pa), 1);
        assert_int_equal(keyring_add_pem_file(&k, pa2), 0);
        assert_int_equal(keyring_add_pem_file(&k, pa), 0);
        assert_int_equal(keyring_add_pem_file(&k, prsa), -EINVAL);
        assert_int_equal(keyring_add_pem_file(&k, ppriv), -EINVAL);
        assert_int_equal(keyring_add_pem_file(&k, missing), -ENOENT);
        assert_int_equal(k.n_keys, 1);
        assert_string_equal(k.keys[0].path, pa);
        keyring_done(&k);

        assert_int_equal(keyring_load_dir(&k, missing), -ENOENT);
        assert_int_equal(k.n_keys, 0);
}

static void test_key_id_matches_openssl(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *d = make_subdir(f->dir, "cli"), *pem = tu_join(d, "a.pem"),
                            *der_path = tu_join(d, "a.der"), *der = NULL;
        uint8_t id[KEY_ID_SIZE], expected[KEY_ID_SIZE];
        unsigned int mdlen = 0;
        size_t der_len = 0;
        pid_t pid;
        int status;

        if (!openssl_cli) {
                print_message("openssl (the command line tool) not installed\n");
                skip();
        }
        write_pem(d, "a.pem", f->a, false);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                execl(openssl_cli, "openssl", "pkey", "-pubin", "-in", pem, "-outform", "DER", "-out", der_path,
                      (char *) NULL);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);

        assert_int_equal(read_full_file(der_path, 4096, &der, &der_len), 0);
        /* Ed25519 SubjectPublicKeyInfo: 12 bytes of header and the 32-byte key. */
        assert_int_equal(der_len, 44);
        assert_int_equal(EVP_Digest(der, der_len, expected, &mdlen, EVP_sha256(), NULL), 1);
        assert_int_equal(mdlen, KEY_ID_SIZE);

        key_id(f->a, id);
        assert_memory_equal(id, expected, KEY_ID_SIZE);
        /* The keyring computed the same id from the PEM file. */
        assert_memory_equal(f->a_only.keys[0].id, expected, KEY_ID_SIZE);
        key_id(f->b, id);
        assert_memory_not_equal(id, expected, KEY_ID_SIZE);
}

static void test_private_key_load(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *d = make_subdir(f->dir, "priv"), *pa = tu_join(d, "a.key"), *pub = tu_join(d, "a.pem"),
                            *prsa = tu_join(d, "rsa.key"), *missing = tu_join(d, "missing.key"), *sig = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa = keygen("RSA"), *k = NULL;
        EVP_PKEY *none = NULL;

        write_pem(d, "a.key", f->a, true);
        write_pem(d, "a.pem", f->a, false);
        write_pem(d, "rsa.key", rsa, true);

        assert_int_equal(private_key_load(pa, &k), 0);
        assert_non_null(k);
        assert_int_equal(EVP_PKEY_eq(k, f->a), 1);
        /* What it signs verifies with the public key. */
        assert_int_equal(signature_sign(data, DATA_LEN, &k, 1, &sig), 0);
        assert_int_equal(verify(sig, data, DATA_LEN, &f->a_only, 1, NULL), 0);

        assert_int_equal(private_key_load(pub, &none), -EINVAL);
        assert_int_equal(private_key_load(prsa, &none), -EINVAL);
        assert_int_equal(private_key_load(missing, &none), -ENOENT);
        assert_null(none);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sign_verify_valid),
                cmocka_unit_test(test_sign_output_format),
                cmocka_unit_test(test_sign_key_count),
                cmocka_unit_test(test_verify_altered_data),
                cmocka_unit_test(test_verify_unknown_key_only),
                cmocka_unit_test(test_verify_same_key_twice_counts_once),
                cmocka_unit_test(test_verify_two_distinct_keys),
                cmocka_unit_test(test_verify_mixed_valid_and_invalid),
                cmocka_unit_test(test_verify_empty_keyring),
                cmocka_unit_test(test_verify_malformed),
                cmocka_unit_test(test_keyring_load_dir),
                cmocka_unit_test(test_keyring_add_pem_file),
                cmocka_unit_test(test_key_id_matches_openssl),
                cmocka_unit_test(test_private_key_load),
        };
        int r;

        openssl_cli = tu_find_tool("openssl");
        r = cmocka_run_group_tests(tests, setup_keys, teardown_keys);
        if (r == 0 && !openssl_cli)
                r = 77;
        free(openssl_cli);
        return r;
}
