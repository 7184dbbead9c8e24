/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "manifest.h"
#include "policy.h"

/* The planner: every decision of every caller (apply, fetch, apply --staged, rollback, release,
 * deadlines, recovery, the boot stage and the agent) is taken here, from a snapshot of facts the
 * caller gathered, into a plan the caller carries out. No I/O, no clock, no globals.
 *
 * The one invariant every plan keeps: nothing goes live that is older than the newest version
 * live in any namespace or committed in state, nor below the version floor; only a rollback
 * steps back, and only to a slot whose signed manifest authenticates now. */

#define PLAN_SLOTS 2
/* A deferral always ends: without Deadline= or DefaultDeadline=, a day. */
#define PLAN_DEFERRAL_MAX_USEC (24ULL * 3600 * 1000000)

typedef struct SlotFacts {
        bool ready;             /* complete and verified when written (state.json) */
        bool empty;             /* state.json records nothing in it */
        const char *version;    /* from its signed manifest, if that authenticates now; NULL otherwise */
        const char *recorded_version;   /* what state.json says it holds */
        int auth;               /* 0: the stored manifest authenticates against today's keys; else -errno */
        bool busy;              /* its image is attached to a loop device */
        bool held;              /* … and mounted in some namespace (busy and not held: a loop device
                                 * letting go a moment after the last unmount) */
        bool held_by_deferrals; /* … of the trusted namespaces, only by recorded deferrals, at the target */
        bool held_by_untrusted; /* … only by namespaces of other user namespaces: their copies keep
                                 * the old image (the slot's files are replaced, not overwritten) */
} SlotFacts;

typedef struct DeviceFacts {
        SlotFacts slots[PLAN_SLOTS];
        int booted;             /* slot index or -1 */
        int active;
        int staged;
        int next_boot;
        const char *version_floor;
        const char *host_version;       /* what the host's target shows now (NULL: unknown) */
        const char *os_id;              /* from OSId= or the host's os-release */
        const char *architecture;
        const char *const *live_versions; /* seen in trusted namespaces and pending deferrals */
        size_t n_live_versions;
        time_t now;
} DeviceFacts;

/* The newest version live anywhere or committed in state (NULL: nothing known). */
const char *plan_newest_live(const DeviceFacts *f);

typedef enum PlanKind {
        PLAN_APPLY,             /* a new bundle, from a file or URL, switched live */
        PLAN_FETCH,             /* a new bundle, only written to a slot */
        PLAN_STAGED,            /* a slot written earlier, switched live now */
        PLAN_ROLLBACK,          /* the other slot, the one deliberate step back */
        _PLAN_KIND_MAX,
        _PLAN_KIND_INVALID = -22,
} PlanKind;

const char *plan_kind_to_string(PlanKind k);

typedef struct Verdict {
        int error;              /* 0: allowed; else the negative errno the caller exits with */
        char reason[256];       /* why (empty when allowed) */
} Verdict;

/* Which slot a new bundle is written to. */
typedef struct SlotPlan {
        int slot;               /* -1: none (see verdict) */
        bool force_deferrals;   /* end the deferrals holding it first (they move forward, never back) */
        bool retry;             /* a slot is busy but mounted nowhere: ask again in a moment */
        Verdict verdict;
} SlotPlan;

void plan_slot(const DeviceFacts *f, SlotPlan *ret);

/* The slot `rollback` goes to: the complete one that is not active (the planner's admission
 * decides afterwards whether it may). */
void plan_rollback_slot(const DeviceFacts *f, SlotPlan *ret);

/* Which slots `gc` empties: neither booted, active, next to boot nor staged, not empty, and not in
 * use anywhere. */
void plan_gc(const DeviceFacts *f, bool ret_free[PLAN_SLOTS]);

/* osupdate provision: may a bundle be written offline into slot a of an image under construction?
 * Only into a state that records nothing in use: no slot ready or being written, none active,
 * booted, next to boot or staged. Anything else is a device (or an image provisioned before):
 * refused with -ETXTBSY, nothing changes. ret->slot is 0 when allowed, -1 otherwise. */
void plan_provision(const DeviceFacts *f, SlotPlan *ret);

/* A slot whose verified image is not the /usr it claims: may it be emptied? Never the booted or
 * the active slot, whatever its image turned out to be. */
bool plan_may_empty_slot(const DeviceFacts *f, int slot);

/* Does the image's own os-release (read from the detached mount) say what its manifest says?
 * -EILSEQ otherwise: the slot does not hold the /usr it claims. */
void plan_image_matches(const Manifest *m, const char *os_id, const char *version, Verdict *ret);

/* Live and boot agree, and a live switch never leaves the running kernel without its modules:
 * does the live /usr (old) and the new image have lib/modules/<release> of the running kernel (a
 * directory)? 1 yes, 0 no, -1 not known yet (a dry run: the image is not mounted). */
typedef enum ModulesAction {
        MODULES_LIVE,           /* switch live, as usual */
        MODULES_STAGE,          /* the new image lacks them: staged for the next boot, nothing live changes */
        MODULES_DEPENDS,        /* not known before the image is mounted: live if it has them, else staged */
        _MODULES_ACTION_MAX,
        _MODULES_ACTION_INVALID = -22,
} ModulesAction;

typedef struct ModulesPlan {
        ModulesAction action;
        Verdict verdict;        /* MODULES_STAGE: -ELIBACC and why; MODULES_DEPENDS: error 0, reason what decides */
} ModulesPlan;

/* release: the running kernel's (uname -r); one that is no plain file name (empty, ".", "..", a
 * '/') names nothing to keep, so the switch is live. */
void plan_modules(const char *release, int old_has, int new_has, ModulesPlan *ret);
const char *modules_action_to_string(ModulesAction a);

/* May this authenticated manifest go live (or be written, for fetch)? For PLAN_STAGED and
 * PLAN_ROLLBACK, slot is the slot it is in and must authenticate now. */
void plan_admit(const DeviceFacts *f, const Manifest *m, PlanKind kind, int slot, Verdict *ret);

/* One mount namespace as the switch sees it. */
typedef enum NamespaceReach {
        NS_REACH_PROPAGATION,   /* peer or slave of the host's target parent: gets the new mount */
        NS_REACH_OWN_GROUP,     /* a container: reached only by a clone tucked from inside */
        NS_REACH_NONE,          /* private, or no target: nothing to do */
        _NS_REACH_MAX,
        _NS_REACH_INVALID = -22,
} NamespaceReach;

typedef struct SwitchNamespace {
        bool host;
        NamespaceReach reach;
        ssize_t parent;         /* index of the namespace it is a slave of, -1: none */
        bool trusted;           /* owned by the initial user namespace: its processes' facts count */
        const NamespaceFacts *facts;    /* trustworthy attributes of its processes (may be empty) */
        const ProcessFacts *procs;      /* the processes behind them, for Notify= */
        size_t n_procs;
} SwitchNamespace;

typedef enum SwitchAction {
        SWITCH_NOW,             /* the old top goes at once */
        SWITCH_DEFER,           /* kept until release or the deadline */
        SWITCH_SKIP,            /* left alone */
        SWITCH_NONE,            /* nothing reaches it */
        _SWITCH_ACTION_MAX,
        _SWITCH_ACTION_INVALID = -22,
} SwitchAction;

const char *switch_action_to_string(SwitchAction a);

typedef struct SwitchStep {
        SwitchAction action;
        bool tuck_clone;        /* a container: a clone of the new mount is tucked from inside */
        bool from_inside;       /* the old top is removed from inside the namespace (setns) */
        bool follows_parent;    /* forced because its parent service is (unmount propagation) */
        bool overridden;        /* a defer a critical update turned into now */
        time_t deadline;        /* SWITCH_DEFER: when it is forced */
        int signal;             /* SWITCH_DEFER: signal for the matched processes, 0: none */
        pid_t *notify;          /* … which: the processes the deciding rule matched, never PID 1 */
        size_t n_notify;
        const char *rule;       /* the last rule that matched */
} SwitchStep;

typedef struct SwitchPlan {
        SwitchStep *steps;      /* one per namespace, same order */
        size_t n_steps;
        bool per_namespace;     /* the new mount is made private: each namespace switched on its own */
        bool host_unmount;      /* the host's old top goes (and, unless per_namespace, everyone's) */
        unsigned n_now, n_defer, n_skip, n_overridden;
        time_t next_deadline;   /* 0: none */
} SwitchPlan;

/* Per namespace: now, defer until T, skip, or follows its parent; where the tops are removed.
 * ns[0] must be the host. */
int plan_switch(const PolicySet *ps, const SwitchNamespace *ns, size_t n, bool critical, time_t now, SwitchPlan *ret);
void switch_plan_done(SwitchPlan *p);

/* After a crash in the middle of a switch: what each namespace needs. */
typedef struct RecoverNamespace {
        bool host;
        unsigned mounts_at_target;
        bool recorded;          /* it has a recorded deferral */
        bool holds_switching;   /* the slot being switched to is mounted at its target */
        bool container;         /* reached only by a clone tucked from inside */
        bool holds_other_slot;  /* another of our slots is on top at its target (informative) */
        SwitchAction planned;   /* what the switch plan says for it today */
} RecoverNamespace;

typedef enum RecoverAction {
        RECOVER_KEEP,           /* nothing to do */
        RECOVER_FORWARD,        /* an unrecorded stack: remove the old tops, it moves forward */
        RECOVER_FORGET,         /* a record whose namespace has one image left: drop the record */
        RECOVER_TUCK,           /* a container the switch had not reached yet: a clone goes in, then forward */
        RECOVER_TUCK_DEFER,     /* … one that defers: a clone goes in beneath, and its deferral is recorded */
        _RECOVER_ACTION_MAX,
        _RECOVER_ACTION_INVALID = -22,
} RecoverAction;

/* ret[i] per namespace; *ret_switched tells whether the new image went in (the switch is rolled
 * forward in state) or not (the slot stays as it was). Never backward: an unrecorded namespace
 * with several images ends on its bottom one, the newest. */
void plan_recover(const RecoverNamespace *ns, size_t n, RecoverAction *ret, bool *ret_switched);

/* A namespace that already defers and gets a newer update: its deadline is the earlier of the two
 * (0: none). Updates arriving faster than the deadline never keep it on its first old /usr. */
time_t plan_merge_deadline(time_t recorded, time_t planned);

/* Which recorded deferrals end now: deadline passed, or all of them (a newer update needs their
 * slot). ret[i] for each. */
void plan_expire(const time_t *deadlines, size_t n, time_t now, bool all, bool *ret);

/* The boot stage: which slot to try, and what to record before trying it. */
typedef struct BootSlotFacts {
        bool ready;
        int auth;               /* 0: the signed manifest authenticates now (the initramfs's keys) */
        const char *version;    /* from the signed manifest */
        int tries;              /* trial boots left, -1: not on trial */
        bool good;              /* marked good since it was written */
        unsigned unconfirmed;   /* boots in a row since then that never reached mark-good */
        bool failed_now;        /* this boot stage already tried it and could not set it up */
} BootSlotFacts;

typedef struct BootFacts {
        BootSlotFacts slots[PLAN_SLOTS];
        int next_boot;          /* -1: none recorded (no or corrupt state) */
        int forced;             /* osupdate.slot= on the kernel command line, -1: none */
        const char *version_floor;
        unsigned limit;         /* [Boot] Limit=: a good slot falls back after this many unconfirmed boots; 0: never */
} BootFacts;

typedef struct BootPlan {
        int slot;               /* -1: nothing can boot (verdict says why) */
        int fallback;           /* the slot to try if this one cannot be set up, -1: none */
        bool trial;             /* this boot uses one of the slot's tries */
        int tries_left;         /* to record before the attempt (-1: not on trial) */
        unsigned unconfirmed;   /* to record before the attempt */
        bool last_resort;       /* no slot is a normal choice: this one authenticates but has used up its
                                 * tries or its limit (better than not booting at all) */
        char passed_over[PLAN_SLOTS][192]; /* why each other slot is not the choice ("": no reason) */
        Verdict verdict;
} BootPlan;

/* A slot is tried, in this order: the one osupdate.slot= names (if it authenticates); the next boot
 * if it has tries (on trial) or fewer than Limit unconfirmed boots (good); the newest other such
 * slot; else, loudly, an authenticating one that used up its count, the one that was not the next
 * boot first (so two bad slots alternate). Never one that does not authenticate, is below the
 * floor or failed to set up in this boot. */
void plan_boot(const BootFacts *f, BootPlan *ret);
