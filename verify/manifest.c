/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hex.h"
#include "json-util.h"
#include "log.h"
#include "manifest.h"
#include "parse-util.h"
#include "version.h"

#define bad(...) log_debug_errno(EUCLEAN, "manifest.json: " __VA_ARGS__)

static bool charset_ok(const char *s, size_t max, const char *extra, bool upper) {
        size_t l = strlen(s);

        if (l == 0 || l > max)
                return false;
        for (size_t i = 0; i < l; i++) {
                unsigned char c = (unsigned char) s[i];
                if (!(isdigit(c) || islower(c) || (upper && isupper(c)) || strchr(extra, c)))
                        return false;
        }
        return true;
}

bool manifest_file_name_is_valid(const char *s) {
        return s && s[0] != '.' && charset_ok(s, 64, "._-", true);
}

static int dup_string(json_object *o, const char *key, bool optional, char **ret) {
        return json_field_string(o, "manifest.json", key, optional, ret);
}

static int get_u64(json_object *o, const char *key, bool optional, uint64_t max, uint64_t *ret) {
        return json_field_u64(o, "manifest.json", key, optional, max, ret);
}

static int get_time(json_object *o, const char *key, bool optional, time_t *ret) {
        return json_field_time(o, "manifest.json", key, optional, ret);
}

static int check_keys(json_object *o, const char *what, const char *const *allowed) {
        const char *k = NULL;

        if (json_check_keys(o, allowed, &k) < 0)
                return bad("unknown field \"%s\" in %s.", k, what);
        return 0;
}

static int parse_verity(json_object *v, ManifestImage *img) {
        static const char *const keys[] = { "hash_algorithm", "data_block_size", "hash_block_size", "salt",
                                            "root_hash", "hash_tree", NULL };
        static const char *const tree_keys[] = { "file", "size", NULL };
        _cleanup_free_ char *alg = NULL, *salt = NULL, *root = NULL;
        _cleanup_free_ uint8_t *salt_bin = NULL, *root_bin = NULL;
        size_t salt_len, root_len;
        uint64_t dbs, hbs, tree_size;
        json_object *tree = NULL;
        int r;

        r = check_keys(v, "verity", keys);
        if (r < 0)
                return r;
        if ((r = dup_string(v, "hash_algorithm", false, &alg)) < 0 ||
            (r = get_u64(v, "data_block_size", false, 1024 * 1024, &dbs)) < 0 ||
            (r = get_u64(v, "hash_block_size", false, 1024 * 1024, &hbs)) < 0 ||
            (r = dup_string(v, "salt", false, &salt)) < 0 || (r = dup_string(v, "root_hash", false, &root)) < 0)
                return r;
        if (strlen(alg) >= sizeof img->verity.hash_name)
                return bad("hash algorithm \"%s\" is not supported: only " VERITY_SUPPORTED_HASHES ".", alg);
        strcpy(img->verity.hash_name, alg);
        if (verity_digest_size(&img->verity) == 0)
                return bad("hash algorithm \"%s\" is not supported: only " VERITY_SUPPORTED_HASHES ".", alg);
        /* No salt is "-", as veritysetup writes it (--salt=-): a JSON string is never empty here. */
        if (strcmp(salt, MANIFEST_NO_SALT) == 0)
                salt_len = 0;
        else if (hex_decode(salt, &salt_bin, &salt_len) < 0 || salt_len > VERITY_MAX_SALT_SIZE)
                return bad("\"salt\" must be 1…%u bytes in hex, or \"" MANIFEST_NO_SALT "\" for none.", VERITY_MAX_SALT_SIZE);
        if (hex_decode(root, &root_bin, &root_len) < 0 || root_len != verity_digest_size(&img->verity))
                return bad("\"root_hash\" must be a %s digest in hex.", alg);

        img->verity.data_block_size = (uint32_t) dbs;
        img->verity.hash_block_size = (uint32_t) hbs;
        img->verity.data_size = img->size;
        if (salt_len > 0)
                memcpy(img->verity.salt, salt_bin, salt_len);
        img->verity.salt_size = salt_len;
        memcpy(img->root_hash, root_bin, root_len);
        img->root_hash_size = root_len;

        r = verity_params_check(&img->verity, &tree_size);
        if (r < 0)
                return bad("image \"%s\": invalid verity parameters (block sizes must be powers of two from 512 "
                           "to 1 MiB and the size a multiple of the data block size).", img->name);
        /* Valid, but the kernel here would refuse it: blocks larger than this machine's page. */
        {
                long ps = sysconf(_SC_PAGESIZE);

                r = verity_params_check_page_size(&img->verity, ps > 0 ? (size_t) ps : VERITY_PORTABLE_PAGE_SIZE);
                if (r < 0)
                        return log_debug_errno(EMEDIUMTYPE, "manifest.json: image \"%s\" cannot be used on this machine: %s",
                                               img->name, log_detail() ?: "block size larger than the page size");
        }

        r = json_get_object(v, "hash_tree", true, &tree);
        if (r < 0)
                return bad("\"hash_tree\" must be an object.");
        if (tree) {
                r = check_keys(tree, "hash_tree", tree_keys);
                if (r < 0)
                        return r;
                if ((r = dup_string(tree, "file", false, &img->hash_tree_file)) < 0 ||
                    (r = get_u64(tree, "size", false, MANIFEST_MAX_IMAGE_SIZE, &img->hash_tree_size)) < 0)
                        return r;
                if (!manifest_file_name_is_valid(img->hash_tree_file))
                        return bad("unsafe hash tree file name \"%s\".", img->hash_tree_file);
                if (img->hash_tree_size != tree_size)
                        return bad("hash tree size %llu does not fit the verity parameters (expected %llu).",
                                   (unsigned long long) img->hash_tree_size, (unsigned long long) tree_size);
        }
        return 0;
}

static int parse_image(json_object *o, ManifestImage *img) {
        static const char *const keys[] = { "name", "file", "size", "fstype", "verity", NULL };
        json_object *v;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return bad("each entry of \"images\" must be an object.");
        r = check_keys(o, "an image", keys);
        if (r < 0)
                return r;
        if ((r = dup_string(o, "name", false, &img->name)) < 0 || (r = dup_string(o, "file", false, &img->file)) < 0 ||
            (r = get_u64(o, "size", false, MANIFEST_MAX_IMAGE_SIZE, &img->size)) < 0 ||
            (r = dup_string(o, "fstype", false, &img->fstype)) < 0)
                return r;
        if (!charset_ok(img->name, 32, "_-", false))
                return bad("invalid image name \"%s\".", img->name);
        if (!manifest_file_name_is_valid(img->file))
                return bad("unsafe image file name \"%s\".", img->file);
        if (img->size == 0)
                return bad("image \"%s\" has size 0.", img->name);
        if (strcmp(img->fstype, "erofs") != 0 && strcmp(img->fstype, "squashfs") != 0)
                return bad("image \"%s\": unsupported filesystem type \"%s\" (erofs or squashfs).", img->name, img->fstype);
        r = json_get_object(o, "verity", false, &v);
        if (r == -ENOENT)
                return bad("image \"%s\" has no \"verity\" object.", img->name);
        if (r < 0)
                return bad("\"verity\" must be an object.");
        return parse_verity(v, img);
}

static bool name_taken(const Manifest *m, size_t upto, const char *f) {
        if (strcmp(f, "manifest.json") == 0 || strcmp(f, "manifest.sig") == 0)
                return true;
        for (size_t i = 0; i < upto; i++)
                if (strcmp(m->images[i].file, f) == 0 ||
                    (m->images[i].hash_tree_file && strcmp(m->images[i].hash_tree_file, f) == 0))
                        return true;
        return false;
}

int manifest_parse(const char *buf, size_t len, Manifest **ret) {
        static const char *const keys[] = { "format", "os_id", "architecture", "version", "min_version", "critical",
                                            "created", "expires", "images", NULL };
        _cleanup_(json_object_putp) json_object *root = NULL;
        Manifest *m = NULL;
        json_object *arr;
        uint64_t format = 0;
        size_t n;
        int r;

        if (len > MANIFEST_MAX_SIZE)
                return bad("larger than %u bytes.", MANIFEST_MAX_SIZE);
        if (json_parse_strict(buf, len, &root) < 0)
                return bad("not valid JSON.");
        if (!json_object_is_type(root, json_type_object))
                return bad("not a JSON object.");

        /* The format version first: a newer format may have fields we do not know. */
        r = json_get_u64(root, "format", false, UINT32_MAX, &format);
        if (r == -ENOENT)
                return bad("required field \"format\" is missing.");
        if (r == -EINVAL)
                return bad("field \"format\" must be an integer.");
        if (r == -ERANGE)
                return log_debug_errno(EPROTONOSUPPORT, "manifest.json: format version out of range (this osupdate reads format %u).",
                                       MANIFEST_FORMAT);
        if (r < 0 || format != MANIFEST_FORMAT)
                return log_debug_errno(EPROTONOSUPPORT, "manifest.json: format version %llu is not supported (this osupdate reads format %u).",
                                       (unsigned long long) format, MANIFEST_FORMAT);

        r = check_keys(root, "the manifest", keys);
        if (r < 0)
                return r;

        m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        m->format = (unsigned) format;
        if ((r = dup_string(root, "os_id", false, &m->os_id)) < 0 ||
            (r = dup_string(root, "architecture", false, &m->architecture)) < 0 ||
            (r = dup_string(root, "version", false, &m->version)) < 0 ||
            (r = dup_string(root, "min_version", true, &m->min_version)) < 0 ||
            (r = get_time(root, "created", false, &m->created)) < 0 || (r = get_time(root, "expires", true, &m->expires)) < 0)
                goto fail;
        {
                json_object *cv;
                if (json_object_object_get_ex(root, "critical", &cv) && !json_object_is_type(cv, json_type_null)) {
                        if (!json_object_is_type(cv, json_type_boolean)) {
                                r = bad("field \"critical\" must be true or false.");
                                goto fail;
                        }
                        m->critical = json_object_get_boolean(cv);
                }
        }
        {
                /* Present means it expires, even at the epoch itself. */
                json_object *ev;
                m->has_expires = json_object_object_get_ex(root, "expires", &ev) && !json_object_is_type(ev, json_type_null);
        }
        r = -EUCLEAN;
        if (!charset_ok(m->os_id, 64, "._-", false)) {
                bad("invalid \"os_id\" \"%s\" (os-release ID characters only).", m->os_id);
                goto fail;
        }
        if (!charset_ok(m->architecture, 32, "_-", true)) {
                bad("invalid \"architecture\" \"%s\".", m->architecture);
                goto fail;
        }
        if (!version_is_valid(m->version) || (m->min_version && !version_is_valid(m->min_version))) {
                bad("invalid version string.");
                goto fail;
        }
        if (m->min_version && version_compare(m->min_version, m->version) > 0) {
                bad("\"min_version\" %s is newer than \"version\" %s.", m->min_version, m->version);
                goto fail;
        }
        if (m->has_expires && m->expires <= m->created) {
                bad("\"expires\" is not after \"created\".");
                goto fail;
        }

        r = json_get_array(root, "images", false, &arr);
        if (r < 0) {
                r = bad("\"images\" must be a non-empty array.");
                goto fail;
        }
        n = json_object_array_length(arr);
        if (n == 0 || n > MANIFEST_MAX_IMAGES) {
                r = bad("\"images\" must hold 1…%u images.", MANIFEST_MAX_IMAGES);
                goto fail;
        }
        m->images = calloc(n, sizeof(ManifestImage));
        if (!m->images) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < n; i++) {
                ManifestImage *img = &m->images[i];

                r = parse_image(json_object_array_get_idx(arr, i), img);
                m->n_images = i + 1;
                if (r < 0)
                        goto fail;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(m->images[j].name, img->name) == 0) {
                                r = bad("image name \"%s\" appears twice.", img->name);
                                goto fail;
                        }
                if (name_taken(m, i, img->file) ||
                    (img->hash_tree_file && (name_taken(m, i, img->hash_tree_file) || strcmp(img->file, img->hash_tree_file) == 0))) {
                        r = bad("member file names must be distinct and not manifest.json or manifest.sig.");
                        goto fail;
                }
        }

        *ret = m;
        return 0;
fail:
        manifest_free(m);
        return r;
}

Manifest *manifest_free(Manifest *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_images; i++) {
                free(m->images[i].name);
                free(m->images[i].file);
                free(m->images[i].fstype);
                free(m->images[i].hash_tree_file);
        }
        free(m->images);
        free(m->os_id);
        free(m->architecture);
        free(m->version);
        free(m->min_version);
        free(m);
        return NULL;
}

static json_object *jstr(const char *s) {
        return json_object_new_string(s);
}

int manifest_format(const Manifest *m, char **ret) {
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_(manifest_freep) Manifest *check = NULL;
        json_object *arr;
        char tbuf[64];
        const char *s;
        char *out;
        int r;

        root = json_object_new_object();
        arr = json_object_new_array();
        if (!root || !arr)
                return -ENOMEM;
        json_object_object_add(root, "format", json_object_new_int64(m->format));
        json_object_object_add(root, "os_id", jstr(m->os_id));
        json_object_object_add(root, "architecture", jstr(m->architecture));
        json_object_object_add(root, "version", jstr(m->version));
        if (m->min_version)
                json_object_object_add(root, "min_version", jstr(m->min_version));
        if (m->critical)
                json_object_object_add(root, "critical", json_object_new_boolean(1));
        json_object_object_add(root, "created", jstr(format_timestamp(tbuf, sizeof tbuf, m->created)));
        if (m->has_expires)
                json_object_object_add(root, "expires", jstr(format_timestamp(tbuf, sizeof tbuf, m->expires)));
        json_object_object_add(root, "images", arr);

        for (size_t i = 0; i < m->n_images; i++) {
                const ManifestImage *img = &m->images[i];
                _cleanup_free_ char *salt = img->verity.salt_size > 0 ? hex_encode(img->verity.salt, img->verity.salt_size)
                                                                     : strdup(MANIFEST_NO_SALT);
                _cleanup_free_ char *rh = hex_encode(img->root_hash, img->root_hash_size);
                json_object *o = json_object_new_object(), *v = json_object_new_object();

                if (!salt || !rh || !o || !v) {
                        json_object_put(o);
                        json_object_put(v);
                        return -ENOMEM;
                }
                json_object_array_add(arr, o);
                json_object_object_add(o, "name", jstr(img->name));
                json_object_object_add(o, "file", jstr(img->file));
                json_object_object_add(o, "size", json_object_new_int64((int64_t) img->size));
                json_object_object_add(o, "fstype", jstr(img->fstype));
                json_object_object_add(o, "verity", v);
                json_object_object_add(v, "hash_algorithm", jstr(img->verity.hash_name));
                json_object_object_add(v, "data_block_size", json_object_new_int64(img->verity.data_block_size));
                json_object_object_add(v, "hash_block_size", json_object_new_int64(img->verity.hash_block_size));
                json_object_object_add(v, "salt", jstr(salt));
                json_object_object_add(v, "root_hash", jstr(rh));
                if (img->hash_tree_file) {
                        json_object *t = json_object_new_object();
                        if (!t)
                                return -ENOMEM;
                        json_object_object_add(t, "file", jstr(img->hash_tree_file));
                        json_object_object_add(t, "size", json_object_new_int64((int64_t) img->hash_tree_size));
                        json_object_object_add(v, "hash_tree", t);
                }
        }

        s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
        /* Never publish what we would refuse to read. */
        r = manifest_parse(s, strlen(s), &check);
        if (r < 0)
                return r;
        if (asprintf(&out, "%s\n", s) < 0)
                return -ENOMEM;
        *ret = out;
        return 0;
}
