/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle-reader.h"
#include "fetch.h"
#include "fileio.h"
#include "log.h"
#include "source.h"
#include "state.h"

/* Failures of the network, after which a partial download is worth keeping for a later run. */
bool source_network_error(int r) {
        return r == -ECOMM || r == -ETIMEDOUT || r == -EREMOTEIO || r == -ECONNABORTED;
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

static int read_into_slot(Source *ctx, SlotWriter *w, const Keyring *keyring, BundleReadFunc fn, void *userdata) {
        BundleReadOptions opts = {
                .keyring = keyring,
                .signatures_required = ctx->cfg->signatures_required,
                .now = ctx->now,
                .sink = ctx->dry_run ? NULL : &w->sink,
        };
        int r;

        if (ctx->dry_run) {
                /* Every byte verified, nothing written: the manifest goes to the planner after. */
                manifest_free(ctx->manifest);
                ctx->manifest = NULL;
                r = bundle_read(fn, userdata, &opts, &ctx->manifest, NULL);
                return r < 0 ? r : ctx->check(ctx->manifest, ctx->userdata);
        }
        r = bundle_read(fn, userdata, &opts, NULL, NULL);
        if (r >= 0)
                r = slot_writer_commit(w);
        return r;
}

static int install_from_url(Source *ctx, SlotWriter *w, const Keyring *keyring, const char *url,
                            const InstallOptions *o) {
        const NetworkConfig *n = &ctx->cfg->network;
        FetchOptions fo = {
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
                .progress = o->progress,
                .userdata = o->userdata,
        };
        _cleanup_(slot_resume_done) SlotResume res = {};
        _cleanup_close_ int head_fd = -EBADF, image_fd = -EBADF;
        Fetch *f = NULL;
        bool have;
        int r;

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
                r = read_into_slot(ctx, w, keyring, resume_read, &src);
        } else
                r = read_into_slot(ctx, w, keyring, fetch_read, f);
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
                return read_into_slot(ctx, w, keyring, bundle_fd_read, &fd);
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

