/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive-util.h"
#include "bundle-reader.h"
#include "fileio.h"
#include "install.h"
#include "log.h"
#include "verity-hash.h"

#define SOURCE_BUFFER_SIZE (256U * 1024U)
#define SIGNATURE_MAX_SIZE (64U * 1024U)
/* Writers pad the archive to a record; libarchive and GNU tar use 20 × 512 bytes. Anything past
 * the end-of-archive marker must be zeros and shorter than that. */
#define TAR_RECORD_SIZE 10240U
/* The bundle's first bytes are kept for the resume point: manifest (≤ 1 MiB), signature (≤ 64 KiB)
 * and their headers fit. */
#define HEAD_MAX (MANIFEST_MAX_SIZE + SIGNATURE_MAX_SIZE + 16U * 1024U)

typedef struct Source {
        BundleReadFunc fn;
        void *userdata;
        /* Two alternating buffers: libarchive may still look at the previous one. */
        uint8_t *buf[2];
        size_t len[2];
        unsigned cur;
        uint64_t delivered;
        int error;
        uint8_t *head;          /* a copy of the first HEAD_MAX bytes */
        size_t head_len;
} Source;

static la_ssize_t source_read(struct archive *a, void *userdata, const void **ret) {
        Source *s = userdata;
        ssize_t n;

        s->cur ^= 1;
        n = s->fn(s->userdata, s->buf[s->cur], SOURCE_BUFFER_SIZE);
        if (n < 0) {
                s->error = (int) n;
                archive_set_error(a, (int) -n, "read error: %s", strerror((int) -n));
                return -1;
        }
        s->len[s->cur] = (size_t) n;
        if (s->head && s->head_len < HEAD_MAX) {
                size_t take = MIN((size_t) n, HEAD_MAX - s->head_len);
                memcpy(s->head + s->head_len, s->buf[s->cur], take);
                s->head_len += take;
        }
        s->delivered += (uint64_t) n;
        *ret = s->buf[s->cur];
        return n;
}

ssize_t bundle_fd_read(void *userdata, void *buf, size_t len) {
        return loop_read(*(int *) userdata, buf, len);
}

typedef struct Reader {
        struct archive *a;
        Source src;
        const BundleReadOptions *opts;
        char *seen[2 + 2 * MANIFEST_MAX_IMAGES];
        size_t n_seen;
        const Manifest *m; /* once authenticated */
} Reader;

static int archive_error(Reader *r, const char *what) {
        if (r->src.error < 0)
                return log_debug_errno(r->src.error, "Cannot read bundle: %m");
        return log_debug_errno(EPROTO, "Malformed bundle (%s): %s", what,
                               archive_error_string(r->a) ?: "unknown libarchive error");
}

static bool name_is_unsafe(const char *n) {
        if (n[0] == '/' || strcmp(n, "..") == 0 || strncmp(n, "../", 3) == 0 || strstr(n, "/../") ||
            (strlen(n) >= 3 && strcmp(n + strlen(n) - 3, "/..") == 0))
                return true;
        return false;
}

static const char *type_name(struct archive_entry *e) {
        if (archive_entry_hardlink(e))
                return "a hard link";
        switch (archive_entry_filetype(e)) {
        case AE_IFREG:
                return NULL;
        case AE_IFLNK:
                return "a symbolic link";
        case AE_IFDIR:
                return "a directory";
        case AE_IFCHR:
        case AE_IFBLK:
                return "a device node";
        case AE_IFIFO:
                return "a FIFO";
        case AE_IFSOCK:
                return "a socket";
        default:
                return "not a regular file";
        }
}

/* Is name a member the manifest names, after the current position? */
static bool manifest_names(const Manifest *m, const char *name) {
        if (!m)
                return strcmp(name, "manifest.sig") == 0;
        for (size_t i = 0; i < m->n_images; i++)
                if (strcmp(m->images[i].file, name) == 0 ||
                    (m->images[i].hash_tree_file && strcmp(m->images[i].hash_tree_file, name) == 0))
                        return true;
        return false;
}

/* Reads the next header and insists that it is the regular file `expected`. */
static int next_member(Reader *r, const char *expected, struct archive_entry **ret) {
        struct archive_entry *e;
        const char *name, *t;
        int k;

        k = archive_read_next_header(r->a, &e);
        if (k == ARCHIVE_EOF)
                return log_debug_errno(EPROTO, "Malformed bundle: it ends where member %s should be.", expected);
        if (k != ARCHIVE_OK)
                return archive_error(r, "member header");

        name = archive_entry_pathname(e);
        if (!name || !*name)
                return log_debug_errno(EPROTO, "Malformed bundle: a member has no name.");
        if (name_is_unsafe(name))
                return log_debug_errno(EPROTO, "Malformed bundle: unsafe member name \"%s\" (absolute or with \"..\").", name);
        t = type_name(e);
        if (t)
                return log_debug_errno(EPROTO, "Malformed bundle: member \"%s\" is %s; only regular files are allowed.", name, t);
        for (size_t i = 0; i < r->n_seen; i++)
                if (strcmp(r->seen[i], name) == 0)
                        return log_debug_errno(EPROTO, "Malformed bundle: duplicate member \"%s\".", name);
        if (strcmp(name, expected) != 0) {
                if (strcmp(expected, "manifest.sig") == 0)
                        return log_debug_errno(EKEYREJECTED, "The bundle is not signed: member %s is missing after manifest.json (found \"%s\").",
                                               expected, name);
                if (manifest_names(r->m, name))
                        return log_debug_errno(EPROTO, "Malformed bundle: member \"%s\" is out of order (expected %s).", name, expected);
                return log_debug_errno(EPROTO, "Malformed bundle: unexpected member \"%s\" (expected %s).", name, expected);
        }
        if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
                return log_debug_errno(EPROTO, "Malformed bundle: member \"%s\" has no valid size.", name);
        if (archive_entry_sparse_count(e) > 0)
                return log_debug_errno(EPROTO, "Malformed bundle: member \"%s\" is a sparse file.", name);

        if (r->n_seen >= ELEMENTSOF(r->seen))
                return -EPROTO;
        r->seen[r->n_seen] = strdup(name);
        if (!r->seen[r->n_seen])
                return -ENOMEM;
        r->n_seen++;
        *ret = e;
        return 0;
}

static int read_small_member(Reader *r, const char *name, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        struct archive_entry *e;
        la_int64_t size;
        la_ssize_t n;
        int k;

        k = next_member(r, name, &e);
        if (k < 0)
                return k;
        size = archive_entry_size(e);
        if (size == 0 || (uint64_t) size > max)
                return log_debug_errno(strcmp(name, "manifest.sig") == 0 ? EUCLEAN : EUCLEAN,
                                       "%s is %lld bytes (1…%zu allowed).", name, (long long) size, max);
        buf = malloc((size_t) size + 1);
        if (!buf)
                return -ENOMEM;
        n = archive_read_data(r->a, buf, (size_t) size);
        if (n < 0)
                return archive_error(r, name);
        if (n != size)
                return log_debug_errno(EPROTO, "Malformed bundle: %s is truncated.", name);
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = (size_t) size;
        return 0;
}

/* Streams one payload member through feed() and the sink. */
typedef int (*FeedFunc)(void *state, const void *buf, size_t len);

static int stream_member(Reader *r, const ManifestImage *img, bool tree, FeedFunc feed, void *state) {
        const BundleSink *sink = r->opts->sink;
        const char *name = tree ? img->hash_tree_file : img->file;
        uint64_t want = tree ? img->hash_tree_size : img->size, got = 0;
        struct archive_entry *e;
        int k;

        k = next_member(r, name, &e);
        if (k < 0)
                return k;
        if (!tree && img == &r->m->images[0] && sink && sink->resume_point) {
                la_int64_t at = archive_filter_bytes(r->a, -1);
                if (at > 0 && (uint64_t) at <= r->src.head_len) {
                        k = sink->resume_point(r->src.head, (size_t) at, sink->userdata);
                        if (k < 0)
                                return k;
                }
        }
        if ((uint64_t) archive_entry_size(e) != want)
                return log_debug_errno(EPROTO, "Malformed bundle: member %s is %lld bytes, the manifest says %llu.", name,
                                       (long long) archive_entry_size(e), (unsigned long long) want);
        if (sink && sink->begin) {
                k = sink->begin(img, tree, sink->userdata);
                if (k < 0)
                        return k;
        }
        for (;;) {
                const void *buf;
                size_t len;
                la_int64_t off;

                k = archive_read_data_block(r->a, &buf, &len, &off);
                if (k == ARCHIVE_EOF)
                        break;
                if (k != ARCHIVE_OK)
                        return archive_error(r, name);
                if ((uint64_t) off != got)
                        return log_debug_errno(EPROTO, "Malformed bundle: member %s has holes.", name);
                if (len > want - got)
                        return log_debug_errno(EPROTO, "Malformed bundle: member %s is longer than %llu bytes.", name,
                                               (unsigned long long) want);
                k = feed(state, buf, len);
                if (k < 0)
                        return k;
                if (sink && sink->data) {
                        k = sink->data(buf, len, sink->userdata);
                        if (k < 0)
                                return k;
                }
                got += len;
        }
        if (got != want)
                return log_debug_errno(EPROTO, "Malformed bundle: member %s is truncated (%llu of %llu bytes).", name,
                                       (unsigned long long) got, (unsigned long long) want);
        return 0;
}

static int feed_hasher(void *state, const void *buf, size_t len) {
        return verity_hasher_update(state, buf, len);
}

static int feed_checker(void *state, const void *buf, size_t len) {
        int r = verity_tree_checker_update(state, buf, len);
        if (r == -EBADMSG)
                return log_debug_errno(EBADMSG, "Hash tree does not match the signed root hash: %s",
                                       log_detail() ?: "mismatch");
        return r;
}


static int read_image(Reader *r, const ManifestImage *img) {
        _cleanup_(verity_hasher_freep) VerityHasher *h = NULL;
        const BundleSink *sink = r->opts->sink;
        uint8_t root[VERITY_MAX_DIGEST_SIZE];
        size_t root_len;
        int k, tree_fd = -EBADF;

        /* Without a tree in the bundle, the tree the device needs is written as the image is hashed:
         * still one pass. */
        if (!img->hash_tree_file && sink && sink->tree_fd)
                tree_fd = sink->tree_fd(img, sink->userdata);
        if (tree_fd < 0 && tree_fd != -EBADF)
                return tree_fd;
        k = verity_hasher_new(&img->verity, tree_fd, r->opts->threads ?: verity_default_threads(), &h);
        if (k < 0)
                return k;
        k = stream_member(r, img, false, feed_hasher, h);
        if (k < 0)
                return k;
        k = verity_hasher_finish(h, root, &root_len);
        if (k < 0)
                return k;
        /* The root over the image's whole size authenticates every byte: one hashing pass. */
        if (root_len != img->root_hash_size || memcmp(root, img->root_hash, root_len) != 0)
                return log_debug_errno(EBADMSG, "Image %s does not match its signed verity root hash: the image was altered.",
                                       img->file);
        if (sink && sink->end) {
                k = sink->end(img, false, sink->userdata);
                if (k < 0)
                        return k;
        }

        if (img->hash_tree_file) {
                _cleanup_(verity_tree_checker_freep) VerityTreeChecker *c = NULL;

                k = verity_tree_checker_new(&img->verity, img->root_hash, img->root_hash_size, &c);
                if (k < 0)
                        return k;
                k = stream_member(r, img, true, feed_checker, c);
                if (k < 0)
                        return k;
                k = verity_tree_checker_finish(c);
                if (k < 0)
                        return log_debug_errno(k, "Hash tree %s does not match the signed root hash: %s", img->hash_tree_file,
                                               log_detail() ?: "mismatch");
                if (sink && sink->end) {
                        k = sink->end(img, true, sink->userdata);
                        if (k < 0)
                                return k;
                }
        }
        return 0;
}

/* After the end-of-archive marker only zero padding, within one record, may follow. */
static int check_trailer(Reader *r) {
        Source *s = &r->src;
        la_int64_t consumed = archive_filter_bytes(r->a, -1);
        uint64_t extra, tail;

        if (consumed < 0 || (uint64_t) consumed > s->delivered)
                return log_debug_errno(EPROTO, "Malformed bundle: cannot locate the end of the archive.");
        /* Bytes libarchive read ahead but did not consume are at the end of the last two buffers. */
        extra = s->delivered - (uint64_t) consumed;
        if (extra > s->len[s->cur] + s->len[s->cur ^ 1])
                return log_debug_errno(EPROTO, "Malformed bundle: trailing data after the end of the archive.");
        tail = extra;
        for (unsigned b = s->cur, round = 0; tail > 0 && round < 2; b ^= 1, round++) {
                size_t take = (size_t) MIN(tail, (uint64_t) s->len[b]);
                for (size_t i = s->len[b] - take; i < s->len[b]; i++)
                        if (s->buf[b][i] != 0)
                                return log_debug_errno(EPROTO, "Malformed bundle: trailing data after the end of the archive.");
                tail -= take;
        }
        for (;;) {
                ssize_t n = s->fn(s->userdata, s->buf[0], SOURCE_BUFFER_SIZE);
                if (n < 0)
                        return log_debug_errno((int) n, "Cannot read bundle: %m");
                if (n == 0)
                        break;
                for (ssize_t i = 0; i < n; i++)
                        if (s->buf[0][i] != 0)
                                return log_debug_errno(EPROTO, "Malformed bundle: trailing data after the end of the archive.");
                extra += (uint64_t) n;
                if (extra > TAR_RECORD_SIZE)
                        return log_debug_errno(EPROTO, "Malformed bundle: trailing data after the end of the archive.");
        }
        if (extra > TAR_RECORD_SIZE)
                return log_debug_errno(EPROTO, "Malformed bundle: trailing data after the end of the archive.");
        return 0;
}

static void reader_done(Reader *r) {
        if (r->a)
                archive_read_free(r->a);
        for (size_t i = 0; i < r->n_seen; i++)
                free(r->seen[i]);
        free(r->src.buf[0]);
        free(r->src.buf[1]);
        free(r->src.head);
}

static int reader_open(Reader *r, BundleReadFunc fn, void *userdata) {
        r->src.fn = fn;
        r->src.userdata = userdata;
        r->src.buf[0] = malloc(SOURCE_BUFFER_SIZE);
        r->src.buf[1] = malloc(SOURCE_BUFFER_SIZE);
        r->src.head = malloc(HEAD_MAX);
        r->a = archive_read_new();
        if (!r->src.buf[0] || !r->src.buf[1] || !r->src.head || !r->a)
                return -ENOMEM;
        /* Uncompressed tar (ustar/pax) only: no decompression filters, no other formats. */
        if (archive_read_support_format_tar(r->a) != ARCHIVE_OK)
                return -EIO;
        if (archive_read_open(r->a, &r->src, NULL, source_read, NULL) != ARCHIVE_OK)
                return archive_error(r, "opening");
        return 0;
}

int bundle_read(BundleReadFunc fn, void *fn_userdata, const BundleReadOptions *opts, Manifest **ret_manifest,
                SignatureReport *ret_report) {
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *mjson = NULL, *sig = NULL;
        _cleanup_(reader_done) Reader r = { .opts = opts };
        SignatureReport rep = {};
        size_t mlen, slen;
        struct archive_entry *e;
        la_int64_t payload_end;
        int k;

        log_detail_clear();
        k = reader_open(&r, fn, fn_userdata);
        if (k < 0)
                return k;

        k = read_small_member(&r, "manifest.json", MANIFEST_MAX_SIZE, &mjson, &mlen);
        if (k < 0)
                return k;
        k = read_small_member(&r, "manifest.sig", SIGNATURE_MAX_SIZE, &sig, &slen);
        if (k < 0)
                return k;

        /* Authenticate the exact bytes before interpreting any of them. */
        k = signature_verify(mjson, mlen, sig, slen, opts->keyring, opts->signatures_required, &rep);
        if (ret_report)
                *ret_report = rep;
        switch (k) {
        case 0:
                break;
        case -EBADMSG:
                return log_debug_errno(k, "manifest.json does not match its signature by a trusted key: the manifest or the signature was altered.");
        case -EKEYREJECTED:
                return log_debug_errno(k, "%u valid signature(s) by distinct trusted keys, %u required (%u signature(s), %u by unknown keys).",
                                       rep.valid, MAX(opts->signatures_required, 1U), rep.total, rep.unknown);
        case -ENOKEY:
                return log_debug_errno(k, "No trusted keys: cannot verify any signature.");
        default:
                return k;
        }

        k = manifest_parse(mjson, mlen, &m);
        if (k < 0)
                return k;
        r.m = m;
        k = install_check_time(m, opts->now);
        if (k < 0)
                return k;
        if (opts->sink && opts->sink->manifest) {
                k = opts->sink->manifest(m, opts->sink->userdata);
                if (k < 0)
                        return k;
        }
        if (opts->sink && opts->sink->signed_bytes) {
                k = opts->sink->signed_bytes(mjson, mlen, sig, slen, opts->sink->userdata);
                if (k < 0)
                        return k;
        }

        for (size_t i = 0; i < m->n_images; i++) {
                k = read_image(&r, &m->images[i]);
                if (k < 0)
                        return k;
        }
        payload_end = archive_filter_bytes(r.a, -1);

        k = archive_read_next_header(r.a, &e);
        if (k == ARCHIVE_OK) {
                const char *n = archive_entry_pathname(e) ?: "";
                for (size_t i = 0; i < r.n_seen; i++)
                        if (strcmp(r.seen[i], n) == 0)
                                return log_debug_errno(EPROTO, "Malformed bundle: duplicate member \"%s\".", n);
                return log_debug_errno(EPROTO, "Malformed bundle: unexpected member \"%s\" after the payload.", n);
        }
        if (k != ARCHIVE_EOF)
                return archive_error(&r, "end of archive");
        /* libarchive also reports the end when the stream simply stops: insist on the two zero
         * blocks that end a tar archive, so a bundle cut after its last member is refused too. */
        payload_end = (payload_end + 511) / 512 * 512;
        if (archive_filter_bytes(r.a, -1) < payload_end + 1024)
                return log_debug_errno(EPROTO, "Malformed bundle: truncated, the end-of-archive marker is missing.");
        k = check_trailer(&r);
        if (k < 0)
                return k;

        if (ret_manifest)
                *ret_manifest = TAKE_PTR(m);
        return 0;
}

int bundle_read_fd(int fd, const BundleReadOptions *opts, Manifest **ret_manifest, SignatureReport *ret_report) {
        /* Read once, front to back: ask for a larger read-ahead (fails harmlessly on a pipe). */
        (void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        return bundle_read(bundle_fd_read, &fd, opts, ret_manifest, ret_report);
}

int bundle_read_manifest_unverified(int fd, char **ret, size_t *ret_len) {
        _cleanup_(reader_done) Reader r = {};
        int k;

        log_detail_clear();
        k = reader_open(&r, bundle_fd_read, &fd);
        if (k < 0)
                return k;
        return read_small_member(&r, "manifest.json", MANIFEST_MAX_SIZE, ret, ret_len);
}
