/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <time.h>

#include "apply.h"
#include "config.h"
#include "fetch.h"
#include "manifest.h"
#include "signature.h"
#include "slot.h"

/* Where a bundle comes from: a file, or a URL — resumed from what an interrupted download of the
 * same URL left in the slot (replayed through the verifier: nothing on disk is trusted), then
 * each Mirror= — streamed through the bundle reader into the slot writer. */
typedef struct Source {
        const Config *cfg;
        int slot;
        bool slot_ready;        /* the slot holds a complete image: never resumed into */
        bool dry_run;           /* verify only: nothing is written, the manifest is kept */
        time_t now;
        /* The writer's check of the authentic manifest (for a dry run too, after the last byte). */
        int (*check)(const Manifest *m, void *userdata);
        void *userdata;
        bool resuming;          /* out: the slot holds the start of this very download */
        Manifest *manifest;     /* out, dry run: the authentic manifest */
} Source;

int source_read(Source *src, SlotWriter *w, const Keyring *keyring, const InstallOptions *o);

/* The [Network] settings as FetchOptions (no progress callback, max_bytes = MaxBytes=), for every
 * download: bundles, channel documents, the bundle a channel names. */
void source_fetch_options(const NetworkConfig *n, FetchOptions *ret);

/* Failures of the network, after which a partial download is worth keeping for a later run. */
bool source_network_error(int r);
