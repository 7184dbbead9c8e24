/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "bundle-reader.h"
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

_printf_(1, 2) static int usage_error(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "osupdate: error: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nSee 'osupdate --help'.\n");
        return -EINVAL;
}

/* What the options leave open: a usage error (logged) where they cannot make a bundle. */
static int create_check_request(const PublishRequest *req) {
        if (req->n_keys == 0 || !req->version || !req->os_id || !req->output || (!req->tree == !req->image))
                return usage_error("%s", "bundle create needs --key, --version, --os-id, -o and exactly one of --tree or --image");
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

/* Reproducible builds: SOURCE_DATE_EPOCH fixes the image's timestamps (0 without it). */
static time_t source_date_epoch(void) {
        const char *e = getenv("SOURCE_DATE_EPOCH");
        uint64_t v;

        return e && parse_uint64(e, &v) >= 0 ? (time_t) v : 0;
}

static int bundle_create(int argc, char *argv[]) {
        enum { OPT_KEY = 0x100, OPT_VERSION, OPT_OS_ID, OPT_ARCH, OPT_TREE, OPT_IMAGE, OPT_FSTYPE, OPT_MIN_VERSION,
               OPT_EXPIRES, OPT_HASH_TREE, OPT_CRITICAL };
        static const struct option options[] = {
                { "key", required_argument, NULL, OPT_KEY },
                { "version", required_argument, NULL, OPT_VERSION },
                { "os-id", required_argument, NULL, OPT_OS_ID },
                { "arch", required_argument, NULL, OPT_ARCH },
                { "tree", required_argument, NULL, OPT_TREE },
                { "image", required_argument, NULL, OPT_IMAGE },
                { "fstype", required_argument, NULL, OPT_FSTYPE },
                { "min-version", required_argument, NULL, OPT_MIN_VERSION },
                { "expires", required_argument, NULL, OPT_EXPIRES },
                { "hash-tree", required_argument, NULL, OPT_HASH_TREE },
                { "critical", no_argument, NULL, OPT_CRITICAL },
                { "output", required_argument, NULL, 'o' },
                {},
        };
        _cleanup_(publish_request_done) PublishRequest req = { .now = time(NULL) };
        _cleanup_free_ char *rh = NULL;
        const char *expires = NULL;
        PublishResult res;
        struct utsname u;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "o:", options, NULL)) >= 0) {
                switch (c) {
                case OPT_KEY:
                        if (req.n_keys >= SIGNATURES_MAX)
                                return usage_error("at most %u keys", SIGNATURES_MAX);
                        r = publish_request_add_key(&req, optarg);
                        if (r < 0)
                                return r;
                        break;
                case OPT_VERSION: req.version = optarg; break;
                case OPT_OS_ID: req.os_id = optarg; break;
                case OPT_ARCH: req.architecture = optarg; break;
                case OPT_TREE: req.tree = optarg; break;
                case OPT_IMAGE: req.image = optarg; break;
                case OPT_FSTYPE: req.fstype = optarg; break;
                case OPT_MIN_VERSION: req.min_version = optarg; break;
                case OPT_EXPIRES: expires = optarg; break;
                case OPT_HASH_TREE: req.hash_tree = optarg; break;
                case OPT_CRITICAL: req.critical = true; break;
                case 'o': req.output = optarg; break;
                default: return -EINVAL;
                }
        }
        if (optind < argc)
                return usage_error("unexpected argument \"%s\"", argv[optind]);
        r = create_check_request(&req);
        if (r < 0)
                return r;
        r = create_parse_expires(expires, req.now, &req.expires);
        if (r < 0)
                return r;
        if (!req.architecture) {
                if (uname(&u) < 0)
                        return log_error_errno(errno, "uname failed: %m");
                req.architecture = u.machine;
        }
        req.epoch = source_date_epoch();

        r = publish_bundle(&req, &res);
        if (r < 0)
                return r;

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

static int bundle_info(int argc, char *argv[]) {
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                {},
        };
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        bool json = false;
        size_t len;
        char t[64];
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                if (c != 'j')
                        return -EINVAL;
                json = true;
        }
        if (optind != argc - 1)
                return usage_error("%s", "bundle info takes exactly one BUNDLE");

        fd = open_bundle(argv[optind]);
        if (fd < 0)
                return fd;
        r = bundle_read_manifest_unverified(fd, &buf, &len);
        if (r < 0)
                return log_error_errno(r, "Cannot read the manifest of %s: %s", argv[optind], log_detail() ?: strerror(-r));
        r = manifest_parse(buf, len, &m);
        if (r < 0)
                return log_error_errno(r, "The manifest of %s is invalid: %s", argv[optind], log_detail() ?: strerror(-r));

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

        printf("NOT VERIFIED: this is what %s claims; run 'osupdate bundle verify' to check it.\n", argv[optind]);
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
                printf("    Salt:        %s\n", salt ?: "?");
        }
        return 0;
}

static int bundle_verify(int argc, char *argv[]) {
        enum { OPT_KEYS = 0x100, OPT_CONFIG };
        static const struct option options[] = {
                { "keys", required_argument, NULL, OPT_KEYS },
                { "config", required_argument, NULL, OPT_CONFIG },
                {},
        };
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(keyring_done) Keyring keyring = {};
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *keys_dir = NULL, *config = NULL;
        SignatureReport rep = {};
        BundleReadOptions opts = {};
        char t[64];
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case OPT_KEYS: keys_dir = optarg; break;
                case OPT_CONFIG: config = optarg; break;
                default: return -EINVAL;
                }
        }
        if (optind != argc - 1)
                return usage_error("%s", "bundle verify takes exactly one BUNDLE");

        r = config_load(config, &cfg);
        if (r < 0)
                return r; /* -ENOEXEC: a configuration error, logged with file and line */
        r = config_load_keyring(&cfg, keys_dir, &keyring);
        if (r < 0)
                return r;
        fd = open_bundle(argv[optind]);
        if (fd < 0)
                return fd;

        opts = (BundleReadOptions) {
                .keyring = &keyring,
                .signatures_required = cfg.signatures_required,
                .now = time(NULL),
        };
        r = bundle_read_fd(fd, &opts, &m, &rep);
        if (r < 0)
                return log_error_errno(r, "%s does not verify: %s", argv[optind], log_detail() ?: strerror(-r));

        printf("%s: OK\n", argv[optind]);
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

int cmd_bundle(int argc, char *argv[]) {
        if (argc < 1)
                return usage_error("%s", "bundle needs a verb: create, info or verify");
        if (strcmp(argv[0], "create") == 0)
                return bundle_create(argc, argv);
        if (strcmp(argv[0], "info") == 0)
                return bundle_info(argc, argv);
        if (strcmp(argv[0], "verify") == 0)
                return bundle_verify(argc, argv);
        return usage_error("unknown bundle verb \"%s\" (create, info, verify)", argv[0]);
}
