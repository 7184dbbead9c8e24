/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "bundle-reader.h"
#include "fetch.h"
#include "fileio.h"
#include "hex.h"
#include "log.h"
#include "openssl-util.h"
#include "source.h"
#include "state.h"

/* Failures of the network, after which a partial download is worth keeping for a later run. */
bool source_network_error(int r) {
        return r == -ECOMM || r == -ETIMEDOUT || r == -EREMOTEIO || r == -ECONNABORTED;
}

void source_fetch_options(const NetworkConfig *n, FetchOptions *ret) {
        *ret = (FetchOptions) {
                .ca_file = n->ca_file,
                .client_certificate = n->client_certificate,
                .client_key = n->client_key,
                .user_agent = n->user_agent,
                .headers = n->headers,
                .connect_timeout_usec = n->connect_timeout_usec,
                .low_speed_limit = n->low_speed_limit,
                .low_speed_time_usec = n->low_speed_time_usec,
                .retries = n->retries,
                .retry_delay_usec = n->retry_delay_usec,
                .max_bytes = n->max_bytes,
        };
}

/* What a resumed download reads: the bundle's head and the image's verified-before bytes from the
 * slot (through the verifier again: nothing on disk is trusted), then the network from there. */
typedef struct ResumeSource {
        int head_fd, image_fd;
        uint64_t head_left, image_left;
        Fetch *fetch;
} ResumeSource;

static ssize_t resume_read(void *userdata, void *buf, size_t len) {
        ResumeSource *s = userdata;
        uint64_t *left = s->head_left > 0 ? &s->head_left : s->image_left > 0 ? &s->image_left : NULL;
        ssize_t n;

        if (!left)
                return fetch_read(s->fetch, buf, len);
        n = loop_read(left == &s->head_left ? s->head_fd : s->image_fd, buf, (size_t) MIN((uint64_t) len, *left));
        if (n < 0)
                return n;
        if (n == 0)
                return log_debug_errno(EIO, "The partial download in the slot shrank.");
        *left -= (uint64_t) n;
        return n;
}

/* The bundle file a channel document names (InstallOptions.expect_*): every byte the reader gets
 * is counted and hashed on the way, whatever it comes from (a file, the network, the replay of a
 * resumed download), so the check covers exactly the file as a whole. */
typedef struct DigestSource {
        BundleReadFunc fn;
        void *userdata;
        EVP_MD_CTX *md;
        uint64_t size, expect_size;
        int error;
} DigestSource;

static ssize_t digest_read(void *userdata, void *buf, size_t len) {
        DigestSource *d = userdata;
        ssize_t n;

        n = d->fn(d->userdata, buf, len);
        if (n <= 0)
                return n;
        if (d->expect_size > 0 && (uint64_t) n > d->expect_size - d->size) {
                /* Stop at once: the rest of a file of another size is not worth downloading. */
                d->error = -EBADMSG;
                return d->error;
        }
        d->size += (uint64_t) n;
        if (EVP_DigestUpdate(d->md, buf, (size_t) n) != 1) {
                d->error = -EIO;
                return d->error;
        }
        return n;
}

/* After the reader: whatever it left unread (nothing but end-of-archive padding), then the size
 * and the digest. */
static int digest_check(DigestSource *d, const InstallOptions *o) {
        _cleanup_free_ char *got = NULL, *want = NULL;
        uint8_t md[EVP_MAX_MD_SIZE], buf[4096];
        unsigned mdlen = 0;

        for (;;) {
                ssize_t n = d->error < 0 ? d->error : digest_read(d, buf, sizeof buf);
                if (n == 0)
                        break;
                if (d->error == -EBADMSG)
                        return log_debug_errno(EBADMSG, "The bundle is larger than the channel's %llu bytes: it is not the bundle the channel names.",
                                               (unsigned long long) d->expect_size);
                if (n < 0)
                        return log_debug_errno((int) n, "Cannot read bundle: %m");
        }
        if (d->expect_size > 0 && d->size != d->expect_size)
                return log_debug_errno(EBADMSG, "The bundle has %llu bytes, the channel's %llu: it is not the bundle the channel names.",
                                       (unsigned long long) d->size, (unsigned long long) d->expect_size);
        if (EVP_DigestFinal_ex(d->md, md, &mdlen) != 1 || mdlen != 32)
                return log_debug_errno(EIO, "SHA-256 failed.");
        if (o->expect_sha256 && CRYPTO_memcmp(md, o->expect_sha256, 32) != 0) {
                got = hex_encode(md, 32);
                want = hex_encode(o->expect_sha256, 32);
                return log_debug_errno(EBADMSG, "The bundle's SHA-256 differs from the channel's: %s, expected %s.",
                                       got ?: "?", want ?: "?");
        }
        return 0;
}

static int read_into_slot(Source *ctx, SlotWriter *w, const Keyring *keyring, BundleReadFunc fn, void *userdata,
                          const InstallOptions *o) {
        BundleReadOptions opts = {
                .keyring = keyring,
                .signatures_required = ctx->cfg->signatures_required,
                .now = ctx->now,
                .sink = ctx->dry_run ? NULL : &w->sink,
        };
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
        DigestSource d = {};
        int r;

        if (o->expect_sha256 || o->expect_size > 0) {
                md = EVP_MD_CTX_new();
                if (!md)
                        return -ENOMEM;
                if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
                        return log_debug_errno(EIO, "SHA-256 failed.");
                d = (DigestSource) { .fn = fn, .userdata = userdata, .md = md, .expect_size = o->expect_size };
                fn = digest_read;
                userdata = &d;
        }

        if (ctx->dry_run) {
                /* Every byte verified, nothing written: the manifest goes to the planner after. */
                manifest_free(ctx->manifest);
                ctx->manifest = NULL;
                r = bundle_read(fn, userdata, &opts, &ctx->manifest, NULL);
                if (md && (r >= 0 || d.error < 0))
                        r = digest_check(&d, o);
                return r < 0 ? r : ctx->check(ctx->manifest, ctx->userdata);
        }
        r = bundle_read(fn, userdata, &opts, NULL, NULL);
        /* Before the slot is complete: a bundle other than the channel's never becomes ready. */
        if (md && (r >= 0 || d.error < 0))
                r = digest_check(&d, o);
        if (r >= 0)
                r = slot_writer_commit(w);
        return r;
}

static int install_from_url(Source *ctx, SlotWriter *w, const Keyring *keyring, const char *url,
                            const InstallOptions *o) {
        FetchOptions fo;
        _cleanup_(slot_resume_done) SlotResume res = {};
        _cleanup_close_ int head_fd = -EBADF, image_fd = -EBADF;
        Fetch *f = NULL;
        bool have;
        int r;

        source_fetch_options(&ctx->cfg->network, &fo);
        fo.progress = o->progress;
        fo.userdata = o->userdata;
        have = !ctx->dry_run && !ctx->slot_ready &&
               slot_resume_load(ctx->cfg->state_directory, ctx->slot, &res) >= 0 && slot_resume_matches(&res, url);
        if (have) {
                _cleanup_free_ char *dir = slot_path(ctx->cfg->state_directory, ctx->slot), *hp = NULL, *ip = NULL;
                if (!dir || !(hp = path_join(dir, SLOT_HEAD)) || !(ip = path_join(dir, SLOT_IMAGE ".partial")))
                        return -ENOMEM;
                head_fd = open(hp, O_RDONLY | O_CLOEXEC);
                image_fd = open(ip, O_RDONLY | O_CLOEXEC);
                have = head_fd >= 0 && image_fd >= 0;
        }

        r = fetch_open(&fo, url, have ? res.head_size + res.image_size : 0, have ? res.validator : NULL, &f);
        if (r < 0)
                return r;
        if (have && !fetch_resumed(f))
                log_debug("%s changed on the server (or ignores ranges): downloading it whole again.", url);
        ctx->resuming = have && fetch_resumed(f);
        w->url = url;
        w->validator = fetch_validator(f);
        w->image_on_disk = ctx->resuming ? res.image_size : 0;
        if (ctx->resuming) {
                ResumeSource src = {
                        .head_fd = head_fd,
                        .image_fd = image_fd,
                        .head_left = res.head_size,
                        .image_left = res.image_size,
                        .fetch = f,
                };
                log_debug("Resuming %s at byte %llu (%llu image bytes already in slot %s).", url,
                          (unsigned long long) (res.head_size + res.image_size), (unsigned long long) res.image_size,
                          slot_name(ctx->slot));
                r = read_into_slot(ctx, w, keyring, resume_read, &src, o);
        } else
                r = read_into_slot(ctx, w, keyring, fetch_read, f, o);
        /* Both point into what is freed here and by the caller. */
        w->url = w->validator = NULL;
        fetch_free(f);
        return r;
}

int source_read(Source *ctx, SlotWriter *w, const Keyring *keyring, const InstallOptions *o) {
        _cleanup_close_ int fd = -EBADF;
        const char *base;
        int r;

        if (!source_is_url(o->source)) {
                fd = open(o->source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        return log_debug_errno(errno, "Cannot open bundle %s: %m", o->source);
                return read_into_slot(ctx, w, keyring, bundle_fd_read, &fd, o);
        }

        /* The URL itself, then each Mirror= with the same file name. */
        r = install_from_url(ctx, w, keyring, o->source, o);
        base = strrchr(o->source, '/');
        for (char **m = ctx->cfg->network.mirrors; m && *m && source_network_error(r) && base; m++) {
                _cleanup_free_ char *url = NULL;
                size_t l = strlen(*m);

                if (asprintf(&url, "%s%s", *m, (l > 0 && (*m)[l - 1] == '/') ? base + 1 : base) < 0)
                        return -ENOMEM;
                log_debug("Trying mirror %s.", url);
                slot_writer_done(w);
                r = slot_writer_init(w, ctx->cfg->state_directory, ctx->slot);
                if (r < 0)
                        return r;
                w->check = ctx->check;
                w->userdata = ctx->userdata;
                r = install_from_url(ctx, w, keyring, url, o);
        }
        return r;
}

