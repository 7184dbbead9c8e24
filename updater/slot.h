/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "bundle-reader.h"
#include "slot-auth.h"

/* A slot is a directory StateDirectory/slots/<a|b>/ holding the image, its verity tree and the
 * signed manifest.json + manifest.sig it came with. Files are written as *.partial and renamed
 * into place only after the whole bundle verified, so a slot's final files are always complete. */

/* A download in progress: the raw bundle bytes before the image, and where it came from. Both
 * 0600: the record may name a private server. */
#define SLOT_HEAD "head.partial"
#define SLOT_RESUME "resume.json"

/* Every function below opens StateDirectory, slots/ and the slot's directory without following a
 * symlink and checks their owner and mode (dir_open_safe_at()): -ELOOP naming the path for a
 * symlink, a non-directory, another owner or a group/other-writable mode; nothing is read,
 * written or removed through such a directory. */


/* Is any file of the slot still attached to a loop device (so mounted, or being set up,
 * somewhere, in any namespace)? */
int slot_is_busy(const char *state_dir, int slot);

/* Removes the slot's files (final and partial). */
int slot_clear(const char *state_dir, int slot);
/* Removes only what a download leaves before its bundle verified: *.partial, resume.json and
 * temporary files. The final files stay: harmless on a slot that is READY (it has none of these). */
int slot_clear_download(const char *state_dir, int slot);

typedef struct SlotWriter {
        int slot;
        char *state_dir;
        char *dir;
        int dir_fd;
        int fd;               /* the member being written */
        int tree_fd;          /* tree computed while the image streamed, if the bundle had none */
        /* Called with the authentic manifest before the first byte is written: may refuse. */
        int (*check)(const Manifest *m, void *userdata);
        void *userdata;
        char *version;
        char *fstype;
        BundleSink sink;
        /* Downloads: where from (resume.json keeps its SHA-256 and, for display, the URL without
         * credentials or query), and how much of the image is already on disk from an earlier run
         * (replayed through the verifier, not written again). */
        const char *url;
        const char *validator;
        uint64_t image_on_disk;
        uint64_t pos;
        uint64_t flushed;       /* writeback started up to here */
        uint64_t image_size;    /* the signed size of the image, from the manifest */
        bool in_image;
} SlotWriter;

/* A resumable download left in the slot by an earlier run. */
typedef struct SlotResume {
        char *url;              /* for display only: no credentials, no query (slot_resume_matches()) */
        char *url_sha256;       /* of the full URL */
        char *validator;
        uint64_t head_size;
        uint64_t image_size;    /* image bytes on disk, whole data blocks */
} SlotResume;

/* Loads the resume record of a slot whose download was interrupted; -ENOENT if there is none,
 * -EUCLEAN (with a debug message) if it does not check out: head.partial not of the recorded size
 * or SHA-256, image.partial longer than the signed image, an unknown format. Such a record is
 * worth nothing: the caller downloads from byte 0 (which clears the slot). */
int slot_resume_load(const char *state_dir, int slot, SlotResume *ret);
/* Is the record one of a download of exactly this URL (credentials and query included)? */
bool slot_resume_matches(const SlotResume *r, const char *url);
void slot_resume_done(SlotResume *r);

int slot_writer_init(SlotWriter *w, const char *state_dir, int slot);
/* After a successful bundle_read(): fsync and rename everything into place. */
int slot_writer_commit(SlotWriter *w);
void slot_writer_done(SlotWriter *w);

/* Loads the signed manifest stored in the slot (already verified when it was written; parsed
 * again to get its verity parameters). */
int slot_load_manifest(const char *state_dir, int slot, Manifest **ret);
