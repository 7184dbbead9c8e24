/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "channel.h"
#include "cli.h"
#include "cmd-agent.h"
#include "config.h"
#include "fetch.h"
#include "fileio.h"
#include "hex.h"
#include "json-util.h"
#include "log.h"
#include "openssl-util.h"
#include "parse-util.h"
#include "source.h"
#include "version.h"

#define CHANNEL_TIME_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

typedef struct KeyList {
        EVP_PKEY *keys[SIGNATURES_MAX];
        size_t n;
} KeyList;

static void key_list_done(KeyList *k) {
        for (size_t i = 0; i < k->n; i++)
                EVP_PKEY_free(k->keys[i]);
        k->n = 0;
}

/* SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/) is "created", and
 * what a relative --expires or --rollout-start counts from; otherwise now. */
static int created_time(const CliArgs *c, time_t *ret) {
        const char *e = getenv("SOURCE_DATE_EPOCH");
        uint64_t v;

        if (!e || !*e) {
                *ret = time(NULL);
                return 0;
        }
        if (parse_uint64(e, &v) < 0 || v > (uint64_t) CHANNEL_TIME_MAX)
                return cli_usage_error(c, "SOURCE_DATE_EPOCH=\"%s\" is not a time in seconds since 1970 (0…%lld)", e,
                                       (long long) CHANNEL_TIME_MAX);
        *ret = (time_t) v;
        return 0;
}

/* 0 … 100, decimals allowed ("12.5"), nothing else ("nan", "1e2", " 5", "5%"). */
static int parse_percent(const char *s, double *ret) {
        char *end = NULL;
        double v;

        if (!s || !*s || strspn(s, "0123456789.") != strlen(s) || strchr(s, '.') != strrchr(s, '.') || s[0] == '.')
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || !end || *end || !isfinite(v) || v < 0 || v > 100)
                return -ERANGE;
        *ret = v;
        return 0;
}

/* The rollout: exactly one of --percent P and --rollout-start TIME with --rollout-duration SPAN. */
static int parse_rollout(const CliArgs *c, time_t now, Rollout *ret) {
        const char *p = cli_value(c, CLI_PERCENT), *start = cli_value(c, CLI_ROLLOUT_START),
                   *span = cli_value(c, CLI_ROLLOUT_DURATION);
        uint64_t usec;
        time_t t;

        if (p && (start || span))
                return cli_usage_error(c, "--percent and --rollout-start/--rollout-duration exclude each other: give one rollout");
        if (!p && !start && !span)
                return cli_usage_error(c, "needs a rollout: --percent P, or --rollout-start TIME and --rollout-duration SPAN");
        if (p) {
                double v;
                if (parse_percent(p, &v) < 0)
                        return cli_usage_error(c, "--percent \"%s\" is not a number from 0 to 100", p);
                *ret = (Rollout) { .percent = v };
                return 0;
        }
        if (!start || !span)
                return cli_usage_error(c, "a linear rollout needs both --rollout-start TIME and --rollout-duration SPAN");
        if (parse_timestamp(start, now, &t) < 0 || t < 0 || t > CHANNEL_TIME_MAX)
                return cli_usage_error(c, "--rollout-start \"%s\" is not a time (2027-01-01T00:00:00Z, @EPOCH or +SPAN)", start);
        if (parse_timespan(span, &usec) < 0 || usec / 1000000 > 100ULL * 365 * 24 * 3600)
                return cli_usage_error(c, "--rollout-duration \"%s\" is not a time span (e.g. 2d, 12h, 3600)", span);
        *ret = (Rollout) { .linear = true, .start = (uint64_t) t, .duration = usec / 1000000 };
        return 0;
}

static bool name_ok(const char *s) {
        size_t l = strlen(s);

        if (l == 0 || l > 64)
                return false;
        return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == l;
}

/* Downloads the bundle once to learn its size and SHA-256 (nothing is kept), with this host's
 * [Network] settings. */
static int hash_url(const char *url, uint64_t *ret_size, uint8_t ret_digest[32]) {
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        _cleanup_free_ uint8_t *buf = malloc(1U << 20);
        _cleanup_free_ char *shown = NULL;
        FetchOptions fo;
        Fetch *f = NULL;
        uint64_t size = 0;
        unsigned n = 32;
        int r;

        if (!md || !buf)
                return log_oom();
        r = config_load(NULL, &cfg);
        if (r < 0)
                return r;
        source_fetch_options(&cfg.network, &fo);
        (void) fetch_url_redact(url, &shown);
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
                return log_error_errno(EIO, "SHA-256 failed: %s", openssl_last_error());
        log_detail_clear();
        r = fetch_open(&fo, url, 0, NULL, &f);
        while (r >= 0) {
                ssize_t k = fetch_read(f, buf, 1U << 20);
                if (k <= 0) {
                        r = (int) k;
                        break;
                }
                if (EVP_DigestUpdate(md, buf, (size_t) k) != 1) {
                        r = -EIO;
                        break;
                }
                size += (uint64_t) k;
        }
        fetch_free(f);
        if (r < 0)
                return log_error_errno(r, "Cannot download the bundle %s to learn its size and SHA-256: %s", shown ?: url,
                                       log_detail() ?: strerror(-r));
        if (EVP_DigestFinal_ex(md, ret_digest, &n) != 1 || n != 32)
                return log_error_errno(EIO, "SHA-256 failed: %s", openssl_last_error());
        if (size == 0)
                return log_error_errno(EINVAL, "The bundle %s is empty.", shown ?: url);
        *ret_size = size;
        return 0;
}

int cmd_channel_create(const CliArgs *c) {
        _cleanup_(key_list_done) KeyList keys = {};
        _cleanup_free_ char **urls = NULL;
        _cleanup_free_ char *doc = NULL;
        const char *serial = cli_value(c, CLI_SERIAL), *expires = cli_value(c, CLI_EXPIRES),
                   *output = cli_value(c, CLI_OUTPUT), *bundle = cli_value(c, CLI_BUNDLE);
        ChannelSpec spec = {
                .name = cli_value(c, CLI_NAME),
                .version = cli_value(c, CLI_VERSION),
                .os_id = cli_value(c, CLI_OS_ID),
                .bundle_file = cli_value(c, CLI_BUNDLE_FILE),
                .paused = cli_flag(c, CLI_PAUSE),
        };
        size_t n_keys = 0, n_urls = 0;
        char t[64];
        int r;

        for (size_t i = 0; i < c->n_items; i++) {
                n_keys += c->items[i].option == CLI_KEY;
                n_urls += c->items[i].option == CLI_MIRROR;
        }
        if (n_keys == 0 || !spec.name || !serial || !spec.version || !bundle || !output)
                return cli_usage_error(c, "needs --key, --name, --serial, --version, --bundle and -o");
        if (n_keys > SIGNATURES_MAX)
                return cli_usage_error(c, "at most %u keys", SIGNATURES_MAX);
        if (!name_ok(spec.name))
                return cli_usage_error(c, "invalid channel name \"%s\" (1-64 of A-Z a-z 0-9 . _ -)", spec.name);
        if (parse_uint64(serial, &spec.serial) < 0 || spec.serial > INT64_MAX)
                return cli_usage_error(c, "--serial \"%s\" is not a whole number (0…%lld)", serial, (long long) INT64_MAX);
        if (!version_is_valid(spec.version))
                return cli_usage_error(c, "invalid version \"%s\" (letters, digits and ~^._+- only)", spec.version);
        if (spec.os_id && (strlen(spec.os_id) > 64 || !*spec.os_id ||
                           strspn(spec.os_id, "abcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(spec.os_id)))
                return cli_usage_error(c, "invalid --os-id \"%s\" (os-release ID characters: a-z 0-9 . _ -)", spec.os_id);

        /* The URLs machines fetch the bundle from: http(s) only. */
        n_urls++;
        if (n_urls > CHANNEL_MAX_URLS)
                return cli_usage_error(c, "at most %u URLs (--bundle and --mirror)", CHANNEL_MAX_URLS);
        urls = calloc(n_urls + 1, sizeof(char *));
        if (!urls)
                return log_oom();
        n_urls = 0;
        urls[n_urls++] = (char *) bundle;
        for (size_t i = 0; i < c->n_items; i++)
                if (c->items[i].option == CLI_MIRROR)
                        urls[n_urls++] = (char *) c->items[i].value;
        for (size_t i = 0; i < n_urls; i++)
                if (!source_is_url(urls[i]) || strpbrk(urls[i], " \t\r\n"))
                        return cli_usage_error(c, "\"%s\" is not an http:// or https:// URL (machines download the bundle from it)",
                                               urls[i]);
        spec.urls = urls;

        r = created_time(c, &spec.created);
        if (r < 0)
                return r;
        r = parse_rollout(c, spec.created, &spec.rollout);
        if (r < 0)
                return r;
        if (expires) {
                if (parse_timestamp(expires, spec.created, &spec.expires) < 0 || spec.expires <= spec.created ||
                    spec.expires > CHANNEL_TIME_MAX)
                        return cli_usage_error(c, "--expires \"%s\" is not a time after the document's creation (2027-01-01T00:00:00Z, @EPOCH or +30d)",
                                               expires);
                spec.has_expires = true;
        }

        for (size_t i = 0; i < c->n_items; i++) {
                if (c->items[i].option != CLI_KEY)
                        continue;
                r = private_key_load(c->items[i].value, &keys.keys[keys.n]);
                if (r < 0)
                        return log_error_errno(r, "Cannot load the private key %s: %s", c->items[i].value,
                                               log_detail() ?: strerror(-r));
                keys.n++;
        }

        if (!spec.bundle_file) {
                r = hash_url(bundle, &spec.size, spec.sha256);
                if (r < 0)
                        return r;
        }

        log_detail_clear();
        r = channel_create(&spec, keys.keys, keys.n, &doc);
        if (r < 0)
                return log_error_errno(r, "Cannot create the channel document: %s", log_detail() ?: strerror(-r));
        r = write_file_atomic(output, doc, strlen(doc), 0644);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", output);

        if (cli_quiet(c))
                return 0;
        printf("Created %s: channel %s, serial %llu: version %s", output, spec.name, (unsigned long long) spec.serial,
               spec.version);
        if (spec.rollout.linear)
                printf(", rollout from %s over %llu s", format_timestamp(t, sizeof t, (time_t) spec.rollout.start),
                       (unsigned long long) spec.rollout.duration);
        else
                printf(", rollout %g %%", spec.rollout.percent);
        printf("%s, %zu signature(s).\n", spec.paused ? " (paused)" : "", keys.n);
        return 0;
}

static json_object *time_json(time_t t) {
        char buf[64];
        return json_object_new_string(format_timestamp(buf, sizeof buf, t));
}

static int print_json(const Channel *ch) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_free_ char *sha = hex_encode(ch->sha256, sizeof ch->sha256), *dig = hex_encode(ch->digest, sizeof ch->digest);
        json_object *urls = json_object_new_array(), *ro = json_object_new_object();

        if (!o || !urls || !ro || !sha || !dig) {
                json_object_put(urls);
                json_object_put(ro);
                return log_oom();
        }
        json_object_object_add(o, "name", json_object_new_string(ch->name));
        json_object_object_add(o, "serial", json_object_new_uint64(ch->serial));
        json_object_object_add(o, "version", json_object_new_string(ch->version));
        json_object_object_add(o, "os_id", ch->os_id ? json_object_new_string(ch->os_id) : NULL);
        for (char **u = ch->urls; *u; u++)
                json_object_array_add(urls, json_object_new_string(*u));
        json_object_object_add(o, "urls", urls);
        json_object_object_add(o, "size", json_object_new_uint64(ch->size));
        json_object_object_add(o, "sha256", json_object_new_string(sha));
        if (ch->rollout.linear) {
                json_object_object_add(ro, "start", time_json((time_t) ch->rollout.start));
                json_object_object_add(ro, "duration", json_object_new_uint64(ch->rollout.duration));
        } else
                json_object_object_add(ro, "percent", json_object_new_double(ch->rollout.percent));
        json_object_object_add(o, "rollout", ro);
        json_object_object_add(o, "paused", json_object_new_boolean(ch->paused));
        json_object_object_add(o, "expires", ch->has_expires ? time_json(ch->expires) : NULL);
        json_object_object_add(o, "created", time_json(ch->created));
        json_object_object_add(o, "digest", json_object_new_string(dig));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
        return 0;
}

int cmd_channel_verify(const CliArgs *c) {
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(keyring_done) Keyring keyring = {};
        _cleanup_(channel_freep) Channel *ch = NULL;
        _cleanup_free_ char *sha = NULL, *dig = NULL, *shown = NULL;
        const char *doc = c->operands[0];
        time_t now = time(NULL);
        char t[64];
        int r;

        r = config_load(cli_value(c, CLI_CONFIG), &cfg);
        if (r < 0)
                return r; /* -ENOEXEC: a configuration error, logged with file and line */
        r = config_load_keyring(&cfg, cli_value(c, CLI_KEYS), &keyring);
        if (r < 0)
                return r;
        if (source_is_url(doc))
                (void) fetch_url_redact(doc, &shown);

        log_detail_clear();
        r = channel_load(&cfg, doc, &keyring, now, &ch);
        if (r < 0)
                return log_error_errno(r, "%s does not verify: %s", shown ?: doc, log_detail() ?: strerror(-r));

        if (cli_flag(c, CLI_JSON))
                return print_json(ch);

        sha = hex_encode(ch->sha256, sizeof ch->sha256);
        dig = hex_encode(ch->digest, sizeof ch->digest);
        printf("%s: OK (%u or more valid signatures by trusted keys)\n", shown ?: doc, MAX(cfg.signatures_required, 1U));
        printf("  Channel:   %s, serial %llu\n", ch->name, (unsigned long long) ch->serial);
        printf("  Version:   %s%s%s\n", ch->version, ch->os_id ? " for " : "", ch->os_id ?: "");
        printf("  Bundle:    %llu bytes, SHA-256 %s\n", (unsigned long long) ch->size, sha ?: "?");
        for (char **u = ch->urls; *u; u++)
                printf("    %s %s\n", u == ch->urls ? "URL:   " : "mirror:", *u);
        if (ch->rollout.linear) {
                printf("  Rollout:   linear, 0 %% at %s", format_timestamp(t, sizeof t, (time_t) ch->rollout.start));
                printf(" to 100 %% at %s (%.1f %% now)\n",
                       format_timestamp(t, sizeof t, (time_t) (ch->rollout.start + ch->rollout.duration)),
                       rollout_reached(&ch->rollout, (uint64_t) now));
        } else
                printf("  Rollout:   %g %% of the machines\n", ch->rollout.percent);
        printf("  Paused:    %s\n", ch->paused ? "yes: no machine starts it" : "no");
        printf("  Created:   %s\n", format_timestamp(t, sizeof t, ch->created));
        printf("  Expires:   %s\n", ch->has_expires ? format_timestamp(t, sizeof t, ch->expires) : "never");
        printf("  Digest:    %s\n", dig ?: "?");
        return 0;
}
