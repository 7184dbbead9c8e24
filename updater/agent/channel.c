/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "channel.h"
#include "fetch.h"
#include "fileio.h"
#include "hex.h"
#include "json-util.h"
#include "log.h"
#include "openssl-util.h"
#include "parse-util.h"
#include "source.h"
#include "version.h"

#define bad(...) log_debug_errno(EUCLEAN, "channel document: " __VA_ARGS__)

/* Times in a document are absolute RFC 3339 UTC, never relative ones: at most what a manifest can state. */
#define CHANNEL_TIME_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

Channel *channel_free(Channel *c) {
        if (!c)
                return NULL;
        free(c->name);
        free(c->os_id);
        free(c->version);
        strv_free(c->urls);
        free(c);
        return NULL;
}

static bool name_is_valid(const char *s) {
        size_t l = s ? strlen(s) : 0;

        if (l == 0 || l > 64)
                return false;
        for (size_t i = 0; i < l; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("._-", s[i]))
                        return false;
        return true;
}

/* An os-release ID=: lower-case letters, digits and ._- (as a bundle manifest's "os_id"). */
static bool os_id_is_valid(const char *s) {
        size_t l = s ? strlen(s) : 0;

        if (l == 0 || l > 64)
                return false;
        for (size_t i = 0; i < l; i++)
                if (!isdigit((unsigned char) s[i]) && !islower((unsigned char) s[i]) && !strchr("._-", s[i]))
                        return false;
        return true;
}

/* Machines fetch the bundle from these: http(s) only, never file:// or another scheme a client
 * library might also speak, and nothing that could break a log line. */
static bool url_is_valid(const char *s) {
        if (!s || !source_is_url(s) || strlen(s) > 4096)
                return false;
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f)
                        return false;
        return strlen(s) > strlen(strncasecmp(s, "https", 5) == 0 ? "https://" : "http://");
}

static int dup_string(json_object *o, const char *key, bool optional, char **ret) {
        return json_field_string(o, "channel document", key, optional, ret);
}

static int get_u64(json_object *o, const char *key, uint64_t max, uint64_t *ret) {
        return json_field_u64(o, "channel document", key, false, max, ret);
}

static int get_time(json_object *o, const char *key, bool optional, time_t *ret) {
        return json_field_time(o, "channel document", key, optional, ret);
}

static int check_keys(json_object *o, const char *what, const char *const *allowed) {
        const char *k = NULL;

        if (json_check_keys(o, allowed, &k) < 0)
                return bad("unknown field \"%s\" in %s.", k, what);
        return 0;
}

static int parse_bundle(json_object *b, Channel *c) {
        static const char *const keys[] = { "urls", "size", "sha256", NULL };
        _cleanup_free_ char *sha = NULL;
        _cleanup_free_ uint8_t *bin = NULL;
        json_object *arr;
        size_t n, binlen;
        int r;

        r = check_keys(b, "\"bundle\"", keys);
        if (r < 0)
                return r;
        r = json_get_array(b, "urls", false, &arr);
        if (r < 0)
                return bad("\"bundle\" needs \"urls\", an array of 1…%u http(s) URLs.", CHANNEL_MAX_URLS);
        n = json_object_array_length(arr);
        if (n == 0 || n > CHANNEL_MAX_URLS)
                return bad("\"urls\" must hold 1…%u URLs, not %zu.", CHANNEL_MAX_URLS, n);
        c->urls = calloc(n + 1, sizeof(char *));
        if (!c->urls)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *u = json_object_array_get_idx(arr, i);
                const char *s;

                if (!json_object_is_type(u, json_type_string))
                        return bad("each entry of \"urls\" must be a string.");
                s = json_object_get_string(u);
                if ((size_t) json_object_get_string_len(u) != strlen(s) || !url_is_valid(s))
                        return bad("bundle URL \"%s\" is not an http:// or https:// URL.", s);
                c->urls[i] = strdup(s);
                if (!c->urls[i])
                        return -ENOMEM;
        }
        r = get_u64(b, "size", INT64_MAX, &c->size);
        if (r < 0)
                return r;
        if (c->size == 0)
                return bad("the bundle's \"size\" is 0.");
        r = dup_string(b, "sha256", false, &sha);
        if (r < 0)
                return r;
        if (strlen(sha) != 64 || hex_decode(sha, &bin, &binlen) < 0 || binlen != sizeof c->sha256)
                return bad("the bundle's \"sha256\" must be 64 hex digits, not \"%s\".", sha);
        memcpy(c->sha256, bin, sizeof c->sha256);
        return 0;
}

static int parse_rollout(json_object *ro, Channel *c) {
        static const char *const percent_keys[] = { "percent", NULL };
        static const char *const linear_keys[] = { "start", "duration", NULL };
        json_object *p;
        time_t start;
        int r;

        if (json_object_object_get_ex(ro, "percent", &p)) {
                double v;

                r = check_keys(ro, "\"rollout\" (a percentage has no other field)", percent_keys);
                if (r < 0)
                        return r;
                if (!json_object_is_type(p, json_type_int) && !json_object_is_type(p, json_type_double))
                        return bad("\"percent\" must be a number from 0 to 100.");
                v = json_object_get_double(p);
                if (!isfinite(v) || v < 0 || v > 100)
                        return bad("\"percent\" must be a number from 0 to 100, not %s.", json_object_to_json_string(p));
                c->rollout = (Rollout) { .percent = v };
                return 0;
        }
        r = check_keys(ro, "\"rollout\" ({\"percent\": P} or {\"start\": TIME, \"duration\": SECONDS})", linear_keys);
        if (r < 0)
                return r;
        r = get_time(ro, "start", false, &start);
        if (r < 0)
                return r;
        c->rollout = (Rollout) { .linear = true, .start = (uint64_t) start };
        return get_u64(ro, "duration", 100ULL * 365 * 24 * 3600, &c->rollout.duration);
}

/* The signed text, authenticated: every field checked, unknown ones refused. */
static int parse_signed(const char *text, size_t len, Channel *c) {
        static const char *const keys[] = { "format", "name", "serial", "created", "expires", "os_id", "version",
                                            "bundle", "rollout", "paused", NULL };
        _cleanup_(json_object_putp) json_object *root = NULL;
        json_object *b, *ro, *pv;
        uint64_t format = 0;
        int r;

        if (json_parse_strict(text, len, &root) < 0)
                return bad("the signed text is not valid JSON.");
        if (!json_object_is_type(root, json_type_object))
                return bad("the signed text is not a JSON object.");
        r = json_get_u64(root, "format", false, UINT32_MAX, &format);
        if (r == -ENOENT)
                return bad("required field \"format\" is missing from the signed text.");
        if (r == -EINVAL)
                return bad("field \"format\" must be an integer.");
        if (r < 0 || format != CHANNEL_FORMAT)
                return log_debug_errno(EPROTONOSUPPORT, "channel document: the signed text has format %s (this osupdate reads format %u).",
                                       json_object_to_json_string(json_object_object_get(root, "format")), CHANNEL_FORMAT);
        r = check_keys(root, "the signed text", keys);
        if (r < 0)
                return r;

        if ((r = dup_string(root, "name", false, &c->name)) < 0 || (r = get_u64(root, "serial", INT64_MAX, &c->serial)) < 0 ||
            (r = get_time(root, "created", false, &c->created)) < 0 ||
            (r = get_time(root, "expires", true, &c->expires)) < 0)
                return r;
        c->has_expires = r > 0;
        if ((r = dup_string(root, "os_id", true, &c->os_id)) < 0 || (r = dup_string(root, "version", false, &c->version)) < 0)
                return r;
        if (!name_is_valid(c->name))
                return bad("invalid channel name \"%s\" (1…64 of A-Z a-z 0-9 . _ -).", c->name);
        if (c->os_id && !os_id_is_valid(c->os_id))
                return bad("invalid \"os_id\" \"%s\" (os-release ID characters only).", c->os_id);
        if (!version_is_valid(c->version))
                return bad("invalid version \"%s\".", c->version);
        if (c->has_expires && c->expires <= c->created)
                return bad("\"expires\" is not after \"created\".");

        r = json_get_object(root, "bundle", false, &b);
        if (r == -ENOENT)
                return bad("required field \"bundle\" is missing.");
        if (r < 0)
                return bad("\"bundle\" must be an object.");
        r = parse_bundle(b, c);
        if (r < 0)
                return r;

        r = json_get_object(root, "rollout", false, &ro);
        if (r == -ENOENT)
                return bad("required field \"rollout\" is missing.");
        if (r < 0)
                return bad("\"rollout\" must be an object.");
        r = parse_rollout(ro, c);
        if (r < 0)
                return r;

        if (!json_object_object_get_ex(root, "paused", &pv))
                return bad("required field \"paused\" is missing.");
        if (!json_object_is_type(pv, json_type_boolean))
                return bad("field \"paused\" must be true or false.");
        c->paused = json_object_get_boolean(pv);
        return 0;
}

static int sha256(const void *p, size_t len, uint8_t ret[32]) {
        unsigned n = 32;

        if (EVP_Digest(p, len, ret, &n, EVP_sha256(), NULL) != 1 || n != 32)
                return log_debug_errno(EIO, "SHA-256 failed: %s", openssl_last_error());
        return 0;
}

int channel_verify(const char *buf, size_t len, const Keyring *keyring, unsigned required, time_t now, Channel **ret) {
        static const char *const keys[] = { "format", "signed", "signatures", NULL };
        _cleanup_(json_object_putp) json_object *root = NULL, *sigdoc = NULL;
        _cleanup_(channel_freep) Channel *c = NULL;
        SignatureReport rep = {};
        json_object *sigs, *sv, *fv;
        const char *text, *sigtext;
        uint64_t format = 0;
        size_t text_len;
        char t[64];
        int r;

        if (len > CHANNEL_MAX_SIZE)
                return bad("larger than %u bytes.", CHANNEL_MAX_SIZE);
        if (json_parse_strict(buf, len, &root) < 0)
                return bad("not valid JSON.");
        if (!json_object_is_type(root, json_type_object))
                return bad("not a JSON object.");

        /* The format first: a newer format may have fields we do not know. */
        r = json_get_u64(root, "format", false, UINT32_MAX, &format);
        if (r == -ENOENT)
                return bad("required field \"format\" is missing.");
        if (r == -EINVAL)
                return bad("field \"format\" must be an integer.");
        if (r < 0 || format != CHANNEL_FORMAT) {
                fv = json_object_object_get(root, "format");
                return log_debug_errno(EPROTONOSUPPORT, "channel document: format %s is not supported (this osupdate reads format %u).",
                                       json_object_to_json_string(fv), CHANNEL_FORMAT);
        }
        r = check_keys(root, "the document", keys);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(root, "signed", &sv) || json_object_is_type(sv, json_type_null))
                return bad("required field \"signed\" is missing.");
        if (!json_object_is_type(sv, json_type_string))
                return bad("field \"signed\" must be a string (the exact JSON text that was signed).");
        text = json_object_get_string(sv);
        text_len = (size_t) json_object_get_string_len(sv);
        if (text_len == 0 || strlen(text) != text_len)
                return bad("field \"signed\" must be a non-empty string without NUL characters.");

        /* Freeze and tampering attacks on metadata: nothing of the signed text is believed before
         * enough trusted keys vouch for its exact bytes. */
        if (!json_object_object_get_ex(root, "signatures", &sigs) || json_object_is_type(sigs, json_type_null) ||
            (json_object_is_type(sigs, json_type_array) && json_object_array_length(sigs) == 0))
                return log_debug_errno(EKEYREJECTED, "channel document: unsigned (no \"signatures\"): 0 valid signature(s) by trusted keys, %u required.",
                                       MAX(required, 1U));
        if (!json_object_is_type(sigs, json_type_array))
                return bad("\"signatures\" must be an array.");
        /* The same format as a bundle's manifest.sig: hand the array over in that shape. */
        sigdoc = json_object_new_object();
        if (!sigdoc)
                return -ENOMEM;
        json_object_object_add(sigdoc, "signatures", json_object_get(sigs));
        sigtext = json_object_to_json_string_ext(sigdoc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!sigtext)
                return -ENOMEM;
        r = signature_verify(text, text_len, sigtext, strlen(sigtext), keyring, required, &rep);
        switch (r) {
        case 0:
                break;
        case -EBADMSG:
                return log_debug_errno(r, "channel document: the signed text does not match its signature by a trusted key: the document was altered.");
        case -EKEYREJECTED:
                return log_debug_errno(r, "channel document: %u valid signature(s) by distinct trusted keys, %u required (%u signature(s), %u by unknown keys).",
                                       rep.valid, MAX(required, 1U), rep.total, rep.unknown);
        case -ENOKEY:
                return log_debug_errno(r, "channel document: no trusted keys to check it with.");
        case -EUCLEAN:
                return bad("malformed \"signatures\": %s", log_detail() ?: "see the format of manifest.sig");
        default:
                return log_debug_errno(r, "channel document: cannot check the signatures: %m");
        }

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        r = parse_signed(text, text_len, c);
        if (r < 0)
                return r;
        /* The freeze attack: an old document replayed forever. */
        if (c->has_expires && now >= c->expires)
                return log_debug_errno(EKEYEXPIRED, "channel document: \"%s\" serial %llu expired at %s.", c->name,
                                       (unsigned long long) c->serial, format_timestamp(t, sizeof t, c->expires));
        r = sha256(text, text_len, c->digest);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

static json_object *timestamp_new(time_t t) {
        char buf[64];

        return json_object_new_string(format_timestamp(buf, sizeof buf, t));
}

static int spec_check(const ChannelSpec *spec) {
        size_t n = 0;

        if (!name_is_valid(spec->name))
                return log_debug_errno(EINVAL, "Invalid channel name \"%s\" (1…64 of A-Z a-z 0-9 . _ -).", spec->name ?: "");
        if (!spec->version || !version_is_valid(spec->version))
                return log_debug_errno(EINVAL, "Invalid version \"%s\".", spec->version ?: "");
        if (spec->os_id && !os_id_is_valid(spec->os_id))
                return log_debug_errno(EINVAL, "Invalid OS id \"%s\" (os-release ID characters only).", spec->os_id);
        if (spec->serial > INT64_MAX)
                return log_debug_errno(ERANGE, "Serial %llu is too large.", (unsigned long long) spec->serial);
        for (char **u = spec->urls; u && *u; u++, n++)
                if (!url_is_valid(*u))
                        return log_debug_errno(EINVAL, "\"%s\" is not an http:// or https:// URL.", *u);
        if (n == 0 || n > CHANNEL_MAX_URLS)
                return log_debug_errno(EINVAL, "A channel names 1…%u bundle URLs, not %zu.", CHANNEL_MAX_URLS, n);
        if (spec->created < 0 || spec->created > CHANNEL_TIME_MAX ||
            (spec->has_expires && (spec->expires <= spec->created || spec->expires > CHANNEL_TIME_MAX)))
                return log_debug_errno(EINVAL, "The expiry must come after the creation time.");
        if (spec->rollout.linear ? spec->rollout.start > (uint64_t) CHANNEL_TIME_MAX
                                 : !(spec->rollout.percent >= 0 && spec->rollout.percent <= 100))
                return log_debug_errno(EINVAL, "Invalid rollout.");
        return 0;
}

static json_object *percent_new(double p) {
        char buf[32];

        /* Whole percentages as integers; others with a short exact-looking text, not %.17g noise. */
        if (p == (double) (int) p)
                return json_object_new_int((int) p);
        snprintf(buf, sizeof buf, "%.10g", p);
        return json_object_new_double_s(strtod(buf, NULL), buf);
}

static int signed_text_build(const ChannelSpec *spec, uint64_t size, const uint8_t digest[32], char **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *b, *urls, *ro;
        _cleanup_free_ char *sha = NULL;
        const char *s;

        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "format", json_object_new_int(CHANNEL_FORMAT));
        json_object_object_add(o, "name", json_object_new_string(spec->name));
        json_object_object_add(o, "serial", json_object_new_uint64(spec->serial));
        json_object_object_add(o, "created", timestamp_new(spec->created));
        if (spec->has_expires)
                json_object_object_add(o, "expires", timestamp_new(spec->expires));
        if (spec->os_id)
                json_object_object_add(o, "os_id", json_object_new_string(spec->os_id));
        json_object_object_add(o, "version", json_object_new_string(spec->version));

        b = json_object_new_object();
        urls = json_object_new_array();
        if (!b || !urls) {
                json_object_put(b);
                json_object_put(urls);
                return -ENOMEM;
        }
        json_object_object_add(o, "bundle", b);
        json_object_object_add(b, "urls", urls);
        for (char **u = spec->urls; *u; u++)
                json_object_array_add(urls, json_object_new_string(*u));
        json_object_object_add(b, "size", json_object_new_uint64(size));
        sha = hex_encode(digest, 32);
        if (!sha)
                return -ENOMEM;
        json_object_object_add(b, "sha256", json_object_new_string(sha));

        ro = json_object_new_object();
        if (!ro)
                return -ENOMEM;
        json_object_object_add(o, "rollout", ro);
        if (spec->rollout.linear) {
                json_object_object_add(ro, "start", timestamp_new((time_t) spec->rollout.start));
                json_object_object_add(ro, "duration", json_object_new_uint64(spec->rollout.duration));
        } else
                json_object_object_add(ro, "percent", percent_new(spec->rollout.percent));
        json_object_object_add(o, "paused", json_object_new_boolean(spec->paused));

        s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                return -ENOMEM;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* The size and SHA-256 of a local copy of the bundle. */
static int hash_file(const char *path, uint64_t *ret_size, uint8_t ret_digest[32]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        _cleanup_free_ uint8_t *buf = malloc(1U << 20);
        _cleanup_close_ int fd = -EBADF;
        uint64_t size = 0;
        unsigned n = 32;

        if (!md || !buf)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_debug_errno(errno, "Cannot open the bundle %s: %m", path);
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
                return log_debug_errno(EIO, "SHA-256 failed: %s", openssl_last_error());
        for (;;) {
                ssize_t k = loop_read(fd, buf, 1U << 20);
                if (k < 0)
                        return log_debug_errno((int) k, "Cannot read the bundle %s: %m", path);
                if (k == 0)
                        break;
                if (EVP_DigestUpdate(md, buf, (size_t) k) != 1)
                        return log_debug_errno(EIO, "SHA-256 failed: %s", openssl_last_error());
                size += (uint64_t) k;
        }
        if (EVP_DigestFinal_ex(md, ret_digest, &n) != 1 || n != 32)
                return log_debug_errno(EIO, "SHA-256 failed: %s", openssl_last_error());
        *ret_size = size;
        return 0;
}

int channel_create(const ChannelSpec *spec, EVP_PKEY *const *keys, size_t n_keys, char **ret) {
        _cleanup_(json_object_putp) json_object *doc = NULL, *sigs = NULL;
        _cleanup_(channel_freep) Channel *check = NULL;
        _cleanup_free_ char *text = NULL, *sigtext = NULL;
        uint8_t digest[32];
        uint64_t size = 0;
        json_object *arr;
        const char *s;
        char *out;
        int r;

        if (n_keys == 0 || n_keys > SIGNATURES_MAX)
                return log_debug_errno(EINVAL, "A channel document is signed with 1…%u keys.", SIGNATURES_MAX);
        r = spec_check(spec);
        if (r < 0)
                return r;
        if (spec->bundle_file) {
                r = hash_file(spec->bundle_file, &size, digest);
                if (r < 0)
                        return r;
        } else {
                size = spec->size;
                memcpy(digest, spec->sha256, sizeof digest);
        }
        if (size == 0)
                return log_debug_errno(EINVAL, "The bundle is empty.");
        r = signed_text_build(spec, size, digest, &text);
        if (r < 0)
                return r;
        /* What we sign must be what a machine accepts: parse it back as a machine would. */
        check = calloc(1, sizeof *check);
        if (!check)
                return -ENOMEM;
        r = parse_signed(text, strlen(text), check);
        if (r < 0)
                return log_debug_errno(EINVAL, "The document would not be accepted: %s", log_detail() ?: "invalid");

        r = signature_sign(text, strlen(text), keys, n_keys, &sigtext);
        if (r < 0)
                return r;
        if (json_parse_strict(sigtext, strlen(sigtext), &sigs) < 0 || !json_object_object_get_ex(sigs, "signatures", &arr))
                return log_debug_errno(EIO, "Signing produced no signatures.");

        doc = json_object_new_object();
        if (!doc)
                return -ENOMEM;
        json_object_object_add(doc, "format", json_object_new_int(CHANNEL_FORMAT));
        json_object_object_add(doc, "signed", json_object_new_string(text));
        json_object_object_add(doc, "signatures", json_object_get(arr));
        s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s || asprintf(&out, "%s\n", s) < 0)
                return -ENOMEM;
        *ret = out;
        return 0;
}

static int download(const Config *cfg, const char *url, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL, *shown = NULL;
        FetchOptions fo;
        Fetch *f = NULL;
        size_t len = 0;
        int r;

        source_fetch_options(&cfg->network, &fo);
        fo.max_bytes = CHANNEL_MAX_SIZE;
        fo.progress = NULL;
        fo.userdata = NULL;
        if (fetch_url_redact(url, &shown) < 0)
                shown = NULL;

        buf = malloc(CHANNEL_MAX_SIZE + 1);
        if (!buf)
                return -ENOMEM;
        log_detail_clear();
        r = fetch_open(&fo, url, 0, NULL, &f);
        if (r < 0)
                goto fail;
        for (;;) {
                ssize_t n;

                if (len >= CHANNEL_MAX_SIZE) {
                        /* One byte more tells a document of exactly the limit from a larger one. */
                        char c;
                        n = fetch_read(f, &c, 1);
                        if (n > 0)
                                r = -EFBIG;
                        else
                                r = (int) n;
                        break;
                }
                n = fetch_read(f, buf + len, CHANNEL_MAX_SIZE - len);
                if (n <= 0) {
                        r = (int) n;
                        break;
                }
                len += (size_t) n;
        }
        fetch_free(f);
        if (r < 0)
                goto fail;
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;

fail: {
        char detail[1024];

        snprintf(detail, sizeof detail, "%s", log_detail() ?: strerror(-r));
        if (r == -EFBIG)
                return log_debug_errno(r, "Cannot download the channel document %s: larger than %u bytes.", shown ?: "(URL)",
                                       CHANNEL_MAX_SIZE);
        return log_debug_errno(r, "Cannot download the channel document %s: %s", shown ?: "(URL)", detail);
}
}

int channel_load(const Config *cfg, const char *url, const Keyring *keyring, time_t now, Channel **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r;

        if (source_is_url(url))
                r = download(cfg, url, &buf, &len);
        else {
                r = read_regular_file(url, CHANNEL_MAX_SIZE, &buf, &len);
                if (r == -EFBIG)
                        return log_debug_errno(r, "Cannot read the channel document %s: larger than %u bytes.", url, CHANNEL_MAX_SIZE);
                if (r < 0)
                        return log_debug_errno(r, "Cannot read the channel document %s: %m", url);
        }
        if (r < 0)
                return r;
        return channel_verify(buf, len, keyring, cfg->signatures_required, now, ret);
}
