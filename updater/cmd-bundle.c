/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "bundle-reader.h"
#include "bundle-writer.h"
#include "cmd-bundle.h"
#include "config.h"
#include "fileio.h"
#include "hex.h"
#include "image.h"
#include "json-util.h"
#include "log.h"
#include "manifest.h"
#include "openssl-util.h"
#include "parse-util.h"
#include "signature.h"
#include "verity-hash.h"
#include "version.h"

#define MAX_KEYS SIGNATURES_MAX
#define SALT_SIZE 32U
#define BLOCK_SIZE 4096U

DEFINE_TRIVIAL_CLEANUP_FUNC(VerityTreeChecker *, verity_tree_checker_free);

_printf_(1, 2) static int usage_error(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "osupdate: error: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nSee 'osupdate --help'.\n");
        return -EINVAL;
}

/* Removes the temporary file at *p, if any. */
static void unlink_and_freep(char **p) {
        if (*p) {
                (void) unlink(*p);
                free(*p);
        }
}

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

/* Checks that tree_path (made by veritysetup format, say) is the tree of image with root. */
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
                if (n == 0)
                        break;
                r = verity_tree_checker_update(c, buf, (size_t) n);
                if (r < 0)
                        break;
        }
        if (r >= 0)
                r = verity_tree_checker_finish(c);
        if (r < 0)
                return log_error_errno(EBADMSG, "%s is not the hash tree of this image: %s", tree_path,
                                       log_detail() ?: "mismatch");
        return 0;
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
        _cleanup_(unlink_and_freep) char *tmp_image = NULL, *tmp_tree = NULL;
        _cleanup_free_ char *mjson = NULL, *sig = NULL, *image_file = NULL, *tree_file = NULL;
        EVP_PKEY *keys[MAX_KEYS] = {};
        size_t n_keys = 0;
        const char *version = NULL, *os_id = NULL, *arch = NULL, *tree = NULL, *image = NULL, *fstype = NULL,
                   *min_version = NULL, *expires = NULL, *hash_tree = NULL, *out = NULL, *detected;
        struct utsname u;
        ManifestImage img = {};
        Manifest m = {};
        time_t now = time(NULL), epoch = 0;
        bool critical = false;
        struct stat st;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "o:", options, NULL)) >= 0) {
                switch (c) {
                case OPT_KEY:
                        if (n_keys >= MAX_KEYS) {
                                r = usage_error("at most %s keys", "16");
                                goto finish;
                        }
                        r = private_key_load(optarg, &keys[n_keys]);
                        if (r == -ENOENT) {
                                r = log_error_errno(ENOENT, "Cannot read signing key %s.", optarg);
                                goto finish;
                        }
                        if (r < 0) {
                                r = log_error_errno(EINVAL, "Signing key %s is not an Ed25519 private key in PEM format.", optarg);
                                goto finish;
                        }
                        n_keys++;
                        break;
                case OPT_VERSION: version = optarg; break;
                case OPT_OS_ID: os_id = optarg; break;
                case OPT_ARCH: arch = optarg; break;
                case OPT_TREE: tree = optarg; break;
                case OPT_IMAGE: image = optarg; break;
                case OPT_FSTYPE: fstype = optarg; break;
                case OPT_MIN_VERSION: min_version = optarg; break;
                case OPT_EXPIRES: expires = optarg; break;
                case OPT_HASH_TREE: hash_tree = optarg; break;
                case OPT_CRITICAL: critical = true; break;
                case 'o': out = optarg; break;
                default:
                        r = -EINVAL;
                        goto finish;
                }
        }
        r = -EINVAL;
        if (optind < argc) {
                r = usage_error("unexpected argument \"%s\"", argv[optind]);
                goto finish;
        }
        if (n_keys == 0 || !version || !os_id || !out || (!tree == !image)) {
                r = usage_error("%s", "bundle create needs --key, --version, --os-id, -o and exactly one of --tree or --image");
                goto finish;
        }
        if (hash_tree && !image) {
                r = usage_error("%s", "--hash-tree goes with --image");
                goto finish;
        }
        if (!version_is_valid(version) || (min_version && !version_is_valid(min_version))) {
                r = usage_error("invalid version \"%s\" (letters, digits and ~^._+- only)", min_version && !version_is_valid(min_version) ? min_version : version);
                goto finish;
        }
        if (fstype && strcmp(fstype, "erofs") != 0 && strcmp(fstype, "squashfs") != 0) {
                r = usage_error("unsupported --fstype \"%s\" (erofs or squashfs)", fstype);
                goto finish;
        }
        if (expires && (parse_timestamp(expires, now, &m.expires) < 0 || m.expires <= now)) {
                r = usage_error("--expires \"%s\" is not a future time (2027-01-01T00:00:00Z, @EPOCH or +30d)", expires);
                goto finish;
        }
        if (!arch) {
                if (uname(&u) < 0) {
                        r = log_error_errno(errno, "uname failed: %m");
                        goto finish;
                }
                arch = u.machine;
        }
        {
                /* Reproducible builds: SOURCE_DATE_EPOCH fixes the image's timestamps. */
                const char *e = getenv("SOURCE_DATE_EPOCH");
                uint64_t v;
                if (e && parse_uint64(e, &v) >= 0)
                        epoch = (time_t) v;
        }

        if (tree) {
                fstype = fstype ?: "erofs";
                r = make_temp(out, "image", &tmp_image);
                if (r < 0)
                        goto finish;
                close(r);
                r = image_build(tree, fstype, os_id, version, epoch, tmp_image);
                if (r < 0)
                        goto finish;
                image = tmp_image;
        } else {
                r = image_detect_fstype(image, &detected);
                if (r == -EMEDIUMTYPE) {
                        r = log_error_errno(r, "%s is neither an erofs nor a squashfs image.", image);
                        goto finish;
                }
                if (r < 0) {
                        r = log_error_errno(r, "Cannot read %s: %m", image);
                        goto finish;
                }
                if (fstype && strcmp(fstype, detected) != 0) {
                        r = log_error_errno(EMEDIUMTYPE, "%s contains %s, not %s.", image, detected, fstype);
                        goto finish;
                }
                fstype = detected;
        }

        if (stat(image, &st) < 0) {
                r = log_error_errno(errno, "Cannot stat %s: %m", image);
                goto finish;
        }
        if (st.st_size == 0 || st.st_size % BLOCK_SIZE != 0 || (uint64_t) st.st_size > MANIFEST_MAX_IMAGE_SIZE) {
                r = log_error_errno(EINVAL, "%s is %lld bytes: an image must be a positive multiple of %u bytes, at most 1 TiB (dm-verity protects whole blocks).",
                                    image, (long long) st.st_size, BLOCK_SIZE);
                goto finish;
        }

        img.name = (char *) "usr";
        img.size = (uint64_t) st.st_size;
        img.fstype = (char *) fstype;
        if (asprintf(&image_file, "usr.%s", fstype) < 0 || asprintf(&tree_file, "usr.verity") < 0) {
                r = log_oom();
                goto finish;
        }
        img.file = image_file;
        img.hash_tree_file = tree_file;

        if (hash_tree) {
                _cleanup_close_ int tfd = open(hash_tree, O_RDONLY | O_CLOEXEC);
                uint8_t sb[VERITY_SUPERBLOCK_SIZE];

                if (tfd < 0 || pread(tfd, sb, sizeof sb, 0) != (ssize_t) sizeof sb ||
                    verity_superblock_parse(sb, sizeof sb, &img.verity) < 0) {
                        r = log_error_errno(EINVAL, "%s is not a veritysetup hash tree with a superblock.", hash_tree);
                        goto finish;
                }
                if (img.verity.data_size != img.size) {
                        r = log_error_errno(EINVAL, "%s covers %llu bytes, the image has %llu.", hash_tree,
                                            (unsigned long long) img.verity.data_size, (unsigned long long) img.size);
                        goto finish;
                }
                r = hash_image(image, &img.verity, -EBADF, img.root_hash, &img.root_hash_size);
                if (r < 0)
                        goto finish;
                r = check_tree_file(hash_tree, &img.verity, img.root_hash, img.root_hash_size);
                if (r < 0)
                        goto finish;
                tmp_tree = NULL;
        } else {
                _cleanup_close_ int tfd = -EBADF;

                strcpy(img.verity.hash_name, "sha256");
                img.verity.data_block_size = img.verity.hash_block_size = BLOCK_SIZE;
                img.verity.data_size = img.size;
                img.verity.salt_size = SALT_SIZE;
                if (RAND_bytes(img.verity.salt, SALT_SIZE) != 1) {
                        r = log_error_errno(EIO, "No randomness for the verity salt.");
                        goto finish;
                }
                tfd = make_temp(out, "verity", &tmp_tree);
                if (tfd < 0) {
                        r = tfd;
                        goto finish;
                }
                r = hash_image(image, &img.verity, tfd, img.root_hash, &img.root_hash_size);
                if (r < 0)
                        goto finish;
                if (fsync(tfd) < 0) {
                        r = log_error_errno(errno, "Cannot write %s: %m", tmp_tree);
                        goto finish;
                }
        }
        r = verity_params_check(&img.verity, &img.hash_tree_size);
        if (r < 0) {
                r = log_error_errno(r, "Invalid verity parameters: %m");
                goto finish;
        }

        m = (Manifest) {
                .format = MANIFEST_FORMAT,
                .os_id = (char *) os_id,
                .architecture = (char *) arch,
                .version = (char *) version,
                .min_version = (char *) min_version,
                .created = now,
                .expires = m.expires,
                .has_expires = expires != NULL,
                .critical = critical,
                .images = &img,
                .n_images = 1,
        };
        r = manifest_format(&m, &mjson);
        if (r < 0) {
                r = log_error_errno(EINVAL, "Cannot build the manifest: %s", log_detail() ?: "invalid values");
                goto finish;
        }
        r = signature_sign(mjson, strlen(mjson), keys, n_keys, &sig);
        if (r < 0) {
                r = log_error_errno(r, "Signing failed: %m");
                goto finish;
        }

        {
                const BundleMember members[] = {
                        { .name = "manifest.json", .data = mjson, .data_len = strlen(mjson) },
                        { .name = "manifest.sig", .data = sig, .data_len = strlen(sig) },
                        { .name = img.file, .path = image },
                        { .name = img.hash_tree_file, .path = hash_tree ?: tmp_tree },
                };
                r = bundle_write(out, members, ELEMENTSOF(members), now);
                if (r < 0)
                        goto finish;
        }

        {
                _cleanup_free_ char *rh = hex_encode(img.root_hash, img.root_hash_size);
                printf("Created %s: %s %s (%s), %s image of %llu bytes, verity root %s, %zu signature(s).\n", out,
                       os_id, version, arch, fstype, (unsigned long long) img.size, rh ?: "?", n_keys);
        }
        r = 0;
finish:
        for (size_t i = 0; i < n_keys; i++)
                EVP_PKEY_free(keys[i]);
        return r;
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
                return -ENOEXEC; /* configuration error: already logged */
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
