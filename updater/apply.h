/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "fetch.h"
#include "signature.h"
#include "plan.h"
#include "session.h"
#include "state.h"



/* What a dry run would do (apply/fetch --dry-run): the plan, per namespace. */
typedef struct DryRunNamespace {
        pid_t pid;
        unsigned long long inode;
        int relation;           /* NamespaceRelation */
        bool trusted;
        char *version;
        char *rule;             /* the rule that decided (a copy: the policy set is gone by then) */
} DryRunNamespace;

typedef struct DryRun {
        int slot;
        bool force_deferrals;
        char *newest_live;
        SwitchPlan plan;
        DryRunNamespace *ns;
        size_t n_ns;
        char *kernel_release;   /* uname -r */
        ModulesPlan modules;    /* live, or staged for the next boot (its kernel modules) */
} DryRun;
void dry_run_done(DryRun *d);

typedef struct ApplyResult {
        int slot;
        char *version;
        char *previous_version;
        bool degraded;          /* verity checked in userspace: no device-mapper */
        bool staged_only;       /* no mount-beneath, or the new image lacks the running kernel's
                                 * modules: staged for the next boot */
        DryRun *dry;            /* set by the caller for a dry run: filled with the plan */
} ApplyResult;
void apply_result_done(ApplyResult *r);

typedef struct InstallOptions {
        const char *source;     /* a path, or an http:// or https:// URL */
        bool activate;          /* apply: switch live; fetch: only stage the verified slot */
        bool dry_run;           /* verify and plan, change nothing */
        void (*progress)(uint64_t done, uint64_t total, void *userdata);
        void *userdata;
        /* The bundle file a channel document names (each 0 / NULL: not checked): every byte of it
         * is counted and hashed as it streams (also those replayed from a resumed download), and
         * a bundle of another size or SHA-256 is refused with -EBADMSG before anything is
         * recorded or goes live. */
        uint64_t expect_size;
        const uint8_t *expect_sha256;   /* 32 bytes */
        /* The version the channel or the server announced for it (NULL: not checked): a bundle that
         * says another version is refused (-EBADMSG) before a byte of its payload is written. */
        const char *expect_version;
} InstallOptions;

/* osupdate apply|fetch SOURCE: verify-while-writing into the inactive slot (resuming an
 * interrupted download of the same URL), then switch to it live (apply). */
int update_apply(const Config *cfg, const Keyring *keyring, const InstallOptions *o, ApplyResult *ret);

/* osupdate apply --staged: switch live to the slot `fetch` staged. */
int update_apply_staged(const Config *cfg, const Keyring *keyring, ApplyResult *ret);

/* The one deliberate step back: switch live to the other ready slot (never below the floor). */
int update_rollback(const Config *cfg, const Keyring *keyring, ApplyResult *ret);

int update_mark_good(const Config *cfg, bool raise_floor);

/* Empties slots that are neither active, booted, next to boot, staged, nor in use. Returns the
 * number of slots freed. */
int update_gc(const Config *cfg);


