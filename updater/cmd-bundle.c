/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "bundle-reader.h"
#include "cli.h"
#include "cmd-bundle.h"
#include "config.h"
#include "hex.h"
#include "json-util.h"
#include "log.h"
#include "manifest.h"
#include "parse-util.h"
#include "publish.h"
#include "signature.h"
#include "version.h"

/* bundle create's requests the options cannot make a bundle of. */
_printf_(1, 2) static int usage_error(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "osupdate: error: bundle create: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, ". See 'osupdate bundle create --help'.\n");
        return -EINVAL;
}

/* What the options leave open: a usage error (logged) where they cannot make a bundle. */
static int create_check_request(const PublishRequest *req) {
        if (req->n_keys == 0 || !req->version || !req->os_id || !req->output || (!req->tree == !req->image))
                return usage_error("%s", "needs --key, --version, --os-id, -o and exactly one of --tree or --image");
        if (req->hash_tree && !req->image)
                return usage_error("%s", "--hash-tree goes with --image");
        if (req->min_version && !version_is_valid(req->min_version))
                return usage_error("invalid version \"%s\" (letters, digits and ~^._+- only)", req->min_version);
        if (!version_is_valid(req->version))
                return usage_error("invalid version \"%s\" (letters, digits and ~^._+- only)", req->version);
        if (req->fstype && strcmp(req->fstype, "erofs") != 0 && strcmp(req->fstype, "squashfs") != 0)
                return usage_error("unsupported --fstype \"%s\" (erofs or squashfs)", req->fstype);
        return 0;
}

/* --expires: a future time; *ret stays 0 (never) without one. */
static int create_parse_expires(const char *s, time_t now, time_t *ret) {
        if (s && (parse_timestamp(s, now, ret) < 0 || *ret <= now))
                return usage_error("--expires \"%s\" is not a future time (2027-01-01T00:00:00Z, @EPOCH or +30d)", s);
        return 0;
}

/* Reproducible builds (https://reproducible-builds.org/specs/source-date-epoch/): with
 * SOURCE_DATE_EPOCH every timestamp is that time — the image's files, "created", the members'
 * mtime — and the verity salt is derived from the content. Without it the image's timestamps are
 * 0 and the salt is random. 1 if set, 0 if not (or empty), a usage error if malformed. */
#define SOURCE_DATE_EPOCH_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z, what a manifest can state */

static int source_date_epoch(time_t *ret) {
        const char *e = getenv("SOURCE_DATE_EPOCH");
        uint64_t v;

        if (!e || !*e) {
                *ret = 0;
                return 0;
        }
        if (parse_uint64(e, &v) < 0 || v > (uint64_t) SOURCE_DATE_EPOCH_MAX)
                return usage_error("SOURCE_DATE_EPOCH=\"%s\" is not a time in seconds since 1970 (0…%lld)", e,
                                   (long long) SOURCE_DATE_EPOCH_MAX);
        *ret = (time_t) v;
        return 1;
}

int cmd_bundle_create(const CliArgs *c) {
        _cleanup_(publish_request_done) PublishRequest req = { .now = time(NULL) };
        _cleanup_free_ char *rh = NULL;
        const char *expires = NULL;
        PublishResult res;
        struct utsname u;
        int r;

        for (size_t i = 0; i < c->n_items; i++) {
                if (c->items[i].option != CLI_KEY)
                        continue;
                if (req.n_keys >= SIGNATURES_MAX)
                        return usage_error("at most %u keys", SIGNATURES_MAX);
                r = publish_request_add_key(&req, c->items[i].value);
                if (r < 0)
                        return r;
        }
        req.version = cli_value(c, CLI_VERSION);
        req.os_id = cli_value(c, CLI_OS_ID);
        req.architecture = cli_value(c, CLI_ARCH);
        req.tree = cli_value(c, CLI_TREE);
        req.image = cli_value(c, CLI_IMAGE);
        req.fstype = cli_value(c, CLI_FSTYPE);
        req.min_version = cli_value(c, CLI_MIN_VERSION);
        expires = cli_value(c, CLI_EXPIRES);
        req.hash_tree = cli_value(c, CLI_HASH_TREE);
        req.critical = cli_flag(c, CLI_CRITICAL);
        req.output = cli_value(c, CLI_OUTPUT);
        r = create_check_request(&req);
        if (r < 0)
                return r;
        r = source_date_epoch(&req.epoch);
        if (r < 0)
                return r;
        if (r > 0) {
                /* The build's own time is SOURCE_DATE_EPOCH: "created", the members' mtime, and
                 * what a relative --expires counts from. */
                req.now = req.epoch;
                req.reproducible = true;
        }
        r = create_parse_expires(expires, req.now, &req.expires);
        if (r < 0)
                return r;
        if (!req.architecture) {
                if (uname(&u) < 0)
                        return log_error_errno(errno, "uname failed: %m");
                req.architecture = u.machine;
        }

        r = publish_bundle(&req, &res);
        if (r < 0)
                return r;

        if (cli_quiet(c))
                return 0;
        rh = hex_encode(res.root_hash, res.root_hash_size);
        printf("Created %s: %s %s (%s), %s image of %llu bytes, verity root %s, %zu signature(s).\n", req.output,
               req.os_id, req.version, req.architecture, res.fstype, (unsigned long long) res.image_size, rh ?: "?",
               req.n_keys);
        return 0;
}

static int open_bundle(const char *path) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open bundle %s: %m", path);
        return fd;
}

int cmd_bundle_info(const CliArgs *c) {
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *path = c->operands[0];
        bool json = cli_flag(c, CLI_JSON);
        size_t len;
        char t[64];
        int r;

        fd = open_bundle(path);
        if (fd < 0)
                return fd;
        r = bundle_read_manifest_unverified(fd, &buf, &len);
        if (r < 0)
                return log_error_errno(r, "Cannot read the manifest of %s: %s", path, log_detail() ?: strerror(-r));
        r = manifest_parse(buf, len, &m);
        if (r < 0)
                return log_error_errno(r, "The manifest of %s is invalid: %s", path, log_detail() ?: strerror(-r));

        if (json) {
                _cleanup_(json_object_putp) json_object *o = NULL, *mo = NULL;

                r = json_parse_strict(buf, len, &mo);
                if (r < 0)
                        return r;
                o = json_object_new_object();
                if (!o)
                        return log_oom();
                json_object_object_add(o, "verified", json_object_new_boolean(0));
                json_object_object_add(o, "manifest", TAKE_PTR(mo));
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
                return 0;
        }

        printf("NOT VERIFIED: this is what %s claims; run 'osupdate bundle verify' to check it.\n", path);
        printf("  OS:            %s (%s)\n", m->os_id, m->architecture);
        printf("  Version:       %s\n", m->version);
        printf("  Min. version:  %s\n", m->min_version ?: "-");
        printf("  Created:       %s\n", format_timestamp(t, sizeof t, m->created));
        printf("  Expires:       %s\n", m->has_expires ? format_timestamp(t, sizeof t, m->expires) : "never");
        printf("  Critical:      %s\n", m->critical ? "yes: every namespace switches at once" : "no");
        for (size_t i = 0; i < m->n_images; i++) {
                const ManifestImage *img = &m->images[i];
                _cleanup_free_ char *rh = hex_encode(img->root_hash, img->root_hash_size);
                _cleanup_free_ char *salt = hex_encode(img->verity.salt, img->verity.salt_size);

                printf("  Image %s:     %s, %s, %llu bytes\n", img->name, img->file, img->fstype,
                       (unsigned long long) img->size);
                printf("    Verity:      %s, blocks %u/%u, tree %s (%llu bytes)\n", img->verity.hash_name,
                       img->verity.data_block_size, img->verity.hash_block_size, img->hash_tree_file ?: "not included",
                       (unsigned long long) img->hash_tree_size);
                printf("    Root hash:   %s\n", rh ?: "?");
                printf("    Salt:        %s\n", img->verity.salt_size == 0 ? MANIFEST_NO_SALT : salt ?: "?");
        }
        return 0;
}

int cmd_bundle_verify(const CliArgs *c) {
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(keyring_done) Keyring keyring = {};
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *keys_dir = cli_value(c, CLI_KEYS), *config = cli_value(c, CLI_CONFIG), *path = c->operands[0];
        SignatureReport rep = {};
        BundleReadOptions opts = {};
        char t[64];
        int r;

        r = config_load(config, &cfg);
        if (r < 0)
                return r; /* -ENOEXEC: a configuration error, logged with file and line */
        r = config_load_keyring(&cfg, keys_dir, &keyring);
        if (r < 0)
                return r;
        fd = open_bundle(path);
        if (fd < 0)
                return fd;

        opts = (BundleReadOptions) {
                .keyring = &keyring,
                .signatures_required = cfg.signatures_required,
                .now = time(NULL),
        };
        r = bundle_read_fd(fd, &opts, &m, &rep);
        if (r < 0)
                return log_error_errno(r, "%s does not verify: %s", path, log_detail() ?: strerror(-r));

        printf("%s: OK\n", path);
        printf("  OS:          %s %s (%s)\n", m->os_id, m->version, m->architecture);
        printf("  Expires:     %s\n", m->has_expires ? format_timestamp(t, sizeof t, m->expires) : "never");
        printf("  Signatures:  %u valid by trusted keys (%u required)\n", rep.valid, cfg.signatures_required);
        for (unsigned i = 0; i < rep.valid; i++) {
                _cleanup_free_ char *id = hex_encode(rep.valid_ids[i], KEY_ID_SIZE);
                printf("    key %s\n", id ?: "?");
        }
        for (size_t i = 0; i < m->n_images; i++) {
                _cleanup_free_ char *rh = hex_encode(m->images[i].root_hash, m->images[i].root_hash_size);
                printf("  Image %s:   %s, %s, %llu bytes, verity root %s%s\n", m->images[i].name, m->images[i].file,
                       m->images[i].fstype, (unsigned long long) m->images[i].size, rh ?: "?",
                       m->images[i].hash_tree_file ? ", hash tree checked" : "");
        }
        return 0;
}
