/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "agent.h"
#include "cleanup.h"
#include "config.h"
#include "signature.h"

/* A channel document: what a fleet operator publishes once for a whole fleet (osupdate channel
 * create), served by anything that serves files. One JSON object, signed with the same Ed25519 keys
 * and threshold as bundles:
 *
 * {"format": 1,
 *  "signed": "<the exact JSON text that was signed, as a string>",
 *  "signatures": [{"key": "<hex key id>", "algorithm": "ed25519", "signature": "<hex>"}, …]}
 *
 * and the signed text, once parsed (unknown keys refused):
 * {"format": 1, "name": "stable", "serial": 7, "created": "2026-11-27T10:00:00Z",
 *  "expires": "2026-12-27T10:00:00Z",                        (optional)
 *  "os_id": "demo",                                           (optional: the bundles' OS)
 *  "version": "2.1",
 *  "bundle": {"urls": ["https://…/v2.1.osup", "https://mirror/…"], "size": 123, "sha256": "<hex>"},
 *  "rollout": {"percent": 10}  or  {"start": "2026-11-27T12:00:00Z", "duration": 86400},
 *  "paused": false}
 *
 * Signing a string inside the document keeps the signed bytes exact (no canonical JSON needed),
 * and the signatures use the bundle's manifest.sig format (verify/signature.h). */

#define CHANNEL_FORMAT 1U
#define CHANNEL_MAX_SIZE (256U * 1024U)
#define CHANNEL_MAX_URLS 16U

typedef struct Channel {
        char *name;                     /* [A-Za-z0-9._-]{1,64} */
        uint64_t serial;
        time_t created;
        time_t expires;
        bool has_expires;
        char *os_id;                    /* NULL: not named */
        char *version;                  /* version_is_valid() */
        char **urls;                    /* NULL-terminated, 1 … CHANNEL_MAX_URLS, http:// or https:// */
        uint64_t size;                  /* of the bundle file */
        uint8_t sha256[32];             /* of the bundle file */
        Rollout rollout;
        bool paused;
        uint8_t digest[32];             /* SHA-256 of the signed text: "the same document" */
} Channel;

Channel *channel_free(Channel *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Channel *, channel_free);

/* What `osupdate channel create` asks for. */
typedef struct ChannelSpec {
        const char *name;
        uint64_t serial;
        const char *version;
        const char *os_id;              /* NULL: none */
        const char *bundle_file;        /* a local copy of the bundle: its size and SHA-256 are taken from it; */
        uint64_t size;                  /* … NULL: these (the caller downloaded and hashed the bundle) */
        uint8_t sha256[32];
        char **urls;                    /* the bundle's URL first, then mirrors */
        Rollout rollout;
        bool paused;
        bool has_expires;
        time_t expires;
        time_t created;                 /* SOURCE_DATE_EPOCH or now */
} ChannelSpec;

/* The whole document (signed with each key), as text ending in a newline. */
int channel_create(const ChannelSpec *spec, EVP_PKEY *const *keys, size_t n_keys, char **ret);

/* Parses and authenticates a document: at least `required` valid signatures by trusted keys, and
 * not expired at `now`. Errors (logged, with log_detail()):
 *   -EUCLEAN        malformed (syntax, unknown or missing fields, wrong types, bad values)
 *   -EPROTONOSUPPORT another format
 *   -EKEYREJECTED   unsigned, or too few valid signatures by trusted keys
 *   -EBADMSG        a trusted key's signature does not verify (the text was altered)
 *   -ENOKEY         no trusted keys
 *   -EKEYEXPIRED    expired
 * The serial and the version are checked against what this machine accepted and runs by the
 * planner (agent_plan()), not here. */
int channel_verify(const char *buf, size_t len, const Keyring *keyring, unsigned required, time_t now, Channel **ret);

/* Downloads a document over HTTP(S) (the [Network] settings; at most CHANNEL_MAX_SIZE bytes) or
 * reads a local file (a path), then channel_verify(). Network errors as fetch_open(). */
int channel_load(const Config *cfg, const char *url, const Keyring *keyring, time_t now, Channel **ret);
