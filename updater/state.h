/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* /var/lib/osupdate/state.json: the device's slots and which of them is booted, live and chosen for
 * the next boot. Written atomically (temporary file, fsync, rename, fsync of the directory), so
 * after any crash it holds the old or the new content, never a mix.
 *
 * {"format": 1,
 *  "slots": {"a": {"state": "ready", "version": "2", "fstype": "erofs"}, "b": {"state": "empty"}},
 *  "booted": "a", "active": "a", "next_boot": "a", "boot_tries": 3, "good": false,
 *  "switching": "b", "version_floor": "1", "staged": "b"}
 * Absent fields are null. */

#define SLOT_MAX 2

typedef enum SlotState {
        SLOT_EMPTY,
        SLOT_WRITING,   /* (older state files) treated as empty: its files are partial */
        SLOT_READY,     /* complete and verified */
        _SLOT_STATE_MAX,
        _SLOT_STATE_INVALID = -22,
} SlotState;

typedef struct SlotInfo {
        SlotState state;
        char *version;
        char *fstype;
        /* Boot bookkeeping (written by the boot stage and mark-good; reset when the slot is written):
         * good: marked good since it was written; unconfirmed: boots since then that never reached
         * mark-good; failed: why the boot stage last passed it over (NULL: it did not). */
        bool good;
        unsigned unconfirmed;
        char *failed;
} SlotInfo;

/* One boot of the history state.json keeps (the last BOOT_HISTORY_MAX, oldest first). */
typedef enum BootResult {
        BOOT_RESULT_BOOTING,            /* the boot stage mounted it; not confirmed (yet) */
        BOOT_RESULT_GOOD,               /* … and mark-good confirmed it */
        BOOT_RESULT_UNCONFIRMED,        /* … and the next boot came without mark-good */
        BOOT_RESULT_FAILED,             /* the boot stage could not set it up (reason says why) */
        _BOOT_RESULT_MAX,
        _BOOT_RESULT_INVALID = -22,
} BootResult;

typedef struct BootRecord {
        int slot;
        char *version;
        BootResult result;
        char *reason;
        char *verity;           /* "kernel", "userspace", NULL */
        uint64_t time;          /* seconds since the epoch, as the boot stage's clock said */
} BootRecord;

#define BOOT_HISTORY_MAX 8

typedef struct State {
        SlotInfo slots[SLOT_MAX];
        int booted;             /* slot index, -1: none (not booted from a slot) */
        int active;             /* slot whose image is on top at Target in the host, -1: none */
        int next_boot;
        int switching;          /* a live switch to this slot is in progress (crash recovery) */
        int staged;             /* verified and chosen for the next boot, not live (no mount-beneath) */
        int boot_tries;         /* -1: none pending */
        bool good;
        char *version_floor;
        BootRecord boots[BOOT_HISTORY_MAX];
        unsigned n_boots;
} State;

const char *slot_name(int slot);        /* "a", "b" */
int slot_from_name(const char *s);
const char *slot_state_to_string(SlotState s);
const char *boot_result_to_string(BootResult r);

/* Empties a slot's record (version, fstype, boot bookkeeping). */
void slot_info_done(SlotInfo *i);
/* Appends a boot to the history (the oldest goes when it is full); strings are copied. */
int state_add_boot(State *s, int slot, const char *version, BootResult result, const char *reason, const char *verity,
                   uint64_t time);
/* RuntimeDirectory/booted.json, which the boot stage (osupdate-initrd) writes for the running
 * system: the slot it mounted at /usr, its version and verity mode. */
typedef struct Booted {
        int slot;               /* -1: not booted from a slot (no record) */
        char *version;
        char *verity;           /* "kernel" or "userspace" */
        bool trial;
        int tries_left;
} Booted;

/* -ENOENT: no record (this boot did not come from a slot); -EUCLEAN: a record that makes no sense. */
int booted_load(const char *run_dir, Booted *ret);
void booted_done(Booted *b);
/* The running system's truth about what booted wins over state.json's memory of it: sets
 * s->booted from the record, leaves it alone when there is none. */
void state_apply_booted(const char *run_dir, State *s);

/* The last boot recorded for slot (NULL: none). */
BootRecord *state_last_boot(State *s, int slot);

void state_init(State *s);
void state_done(State *s);
/* Loads dir/state.json; a missing file gives a fresh state. -EUCLEAN for a corrupt file, -ELOOP
 * (dir_check_safe()) for a directory that is a symlink, not root's or writable by others. */
int state_load(const char *dir, State *ret);
/* Creates dir if need be; -ELOOP as state_load(). */
int state_save(const char *dir, const State *s);
/* The state as JSON text (for state_save and status --json). */
char *state_to_json(const State *s);
