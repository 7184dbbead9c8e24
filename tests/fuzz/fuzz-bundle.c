/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The input is a whole bundle, read from memory by bundle_read() with the fixed fuzz key trusted,
 * one signature required and the clock at FUZZ_NOW. Nothing is written anywhere: the sink only
 * checks the reader's promises (members in manifest order, every byte delivered once, end()
 * only after the member's last byte).
 *
 * Each input is read twice, once in whole buffers as from a file and once in small pieces as from
 * a network, and both reads must reach the same verdict: where a bundle's bytes are cut must never
 * decide whether it is accepted. The piece size (1…1021 bytes) follows from the input's length,
 * so it stays the same when an input is replayed and the fuzzer still tries many of them. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle-reader.h"
#include "fuzz-key.h"
#include "fuzz-target.h"
#include "manifest.h"

/* A prime, so that most piece sizes do not divide 512 and reads end inside tar headers. */
#define SMALL_READ_MAX 1021U

typedef struct MemSource {
        const uint8_t *data;
        size_t size, pos, max_read;
} MemSource;

static ssize_t mem_read(void *userdata, void *buf, size_t len) {
        MemSource *s = userdata;
        size_t n = MIN(MIN(len, s->max_read), s->size - s->pos);

        memcpy(buf, s->data + s->pos, n);
        s->pos += n;
        return (ssize_t) n;
}

typedef struct SinkState {
        const Manifest *m;
        /* The member the reader must deliver next: image next_image, or its tree. */
        size_t next_image;
        bool next_tree;
        bool open;
        uint64_t got;
        unsigned members_done;
        uint8_t xor ; /* of every byte delivered, so that each one is read */
} SinkState;

static void check(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "fuzz-bundle: the reader broke its promise: %s\n", what);
                abort();
        }
}

static uint64_t member_size(const ManifestImage *img, bool tree) {
        return tree ? img->hash_tree_size : img->size;
}

static int sink_manifest(const Manifest *m, void *userdata) {
        SinkState *s = userdata;

        check(!s->m, "manifest() called twice");
        s->m = m;
        return 0;
}

static int sink_begin(const ManifestImage *img, bool tree, void *userdata) {
        SinkState *s = userdata;

        check(s->m && !s->open, "begin() before manifest() or inside a member");
        /* Members come in manifest order: image 0, its tree (if any), image 1, … */
        check(s->next_image < s->m->n_images && img == &s->m->images[s->next_image] && tree == s->next_tree,
              "begin() out of manifest order");
        s->open = true;
        s->got = 0;
        return 0;
}

static int sink_data(const void *buf, size_t len, void *userdata) {
        SinkState *s = userdata;
        const uint8_t *b = buf;

        check(s->open, "data() outside a member");
        check(len > 0 && len <= member_size(&s->m->images[s->next_image], s->next_tree) - s->got,
              "data() past the member's size");
        /* Read every byte: the buffer must be valid for its whole length. */
        for (size_t i = 0; i < len; i++)
                s->xor ^= b[i];
        s->got += len;
        return 0;
}

static int sink_end(const ManifestImage *img, bool tree, void *userdata) {
        SinkState *s = userdata;

        check(s->open && img == &s->m->images[s->next_image] && tree == s->next_tree, "end() of another member");
        check(s->got == member_size(img, tree), "end() before the member's last byte");
        s->open = false;
        s->members_done++;
        if (!tree && img->hash_tree_file)
                s->next_tree = true;
        else {
                s->next_image++;
                s->next_tree = false;
        }
        return 0;
}

static int read_once(const uint8_t *data, size_t size, size_t max_read, SignatureReport *ret_report,
                     unsigned *ret_members) {
        MemSource src = { .data = data, .size = size, .max_read = max_read };
        SinkState st = {};
        const BundleSink sink = {
                .manifest = sink_manifest,
                .begin = sink_begin,
                .data = sink_data,
                .end = sink_end,
                .userdata = &st,
        };
        const BundleReadOptions opts = {
                .keyring = fuzz_keyring(),
                .signatures_required = 1,
                .now = FUZZ_NOW,
                .threads = 1,
                .sink = &sink,
        };
        _cleanup_(manifest_freep) Manifest *m = NULL;
        int r;

        memset(ret_report, 0, sizeof *ret_report);
        r = bundle_read(mem_read, &src, &opts, &m, ret_report);
        if (r >= 0) {
                size_t expected = 0;

                check(m && st.m && !st.open, "success without a manifest, or inside a member");
                for (size_t i = 0; i < m->n_images; i++)
                        expected += 1 + !!m->images[i].hash_tree_file;
                check(st.members_done == expected, "success before every member ended");
                check(src.pos == size, "success before the end of the input");
        } else
                check(!m, "a manifest returned with an error");
        *ret_members = st.members_done;
        return r;
}

int fuzz_verdict(const uint8_t *data, size_t size) {
        size_t small = 1 + size % SMALL_READ_MAX;
        SignatureReport rep_whole, rep_small;
        unsigned members_whole, members_small;
        int r_whole, r_small;

        r_whole = read_once(data, size, SIZE_MAX, &rep_whole, &members_whole);
        r_small = read_once(data, size, small, &rep_small, &members_small);
        if (r_whole != r_small || members_whole != members_small ||
            memcmp(&rep_whole, &rep_small, sizeof rep_whole) != 0) {
                fprintf(stderr, "fuzz-bundle: whole reads gave %d (%u members verified), %zu-byte reads gave %d (%u)\n",
                        r_whole, members_whole, small, r_small, members_small);
                abort();
        }
        return r_whole;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        (void) fuzz_verdict(data, size);
        return 0;
}
