/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "bundle-reader.h"

/* A slot is a directory StateDirectory/slots/<a|b>/ holding the image, its verity tree and the
 * signed manifest.json + manifest.sig it came with. Files are written as *.partial and renamed
 * into place only after the whole bundle verified, so a slot's final files are always complete. */

#define SLOT_IMAGE "image"
#define SLOT_TREE "verity"
#define SLOT_MANIFEST "manifest.json"
#define SLOT_SIGNATURE "manifest.sig"

char *slot_path(const char *state_dir, int slot);

/* Is any file of the slot still attached to a loop device (so mounted, or being set up,
 * somewhere, in any namespace)? */
int slot_is_busy(const char *state_dir, int slot);

/* Removes the slot's files (final and partial). */
int slot_clear(const char *state_dir, int slot);

typedef struct SlotWriter {
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
} SlotWriter;

int slot_writer_init(SlotWriter *w, const char *state_dir, int slot);
/* After a successful bundle_read(): fsync and rename everything into place. */
int slot_writer_commit(SlotWriter *w);
void slot_writer_done(SlotWriter *w);

/* Loads the signed manifest stored in the slot (already verified when it was written; parsed
 * again to get its verity parameters). */
int slot_load_manifest(const char *state_dir, int slot, Manifest **ret);
