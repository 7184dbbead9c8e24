/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The fleet agent's decisions (osupdate agent): which machines take a release when (staged
 * rollout buckets, wariness, maintenance windows) and, step by step, what the agent does next
 * with the action it carries (lock, install, health verdict, release, report). Facts in, a plan
 * out: no I/O, no clock (the caller passes the time), no globals. */

/* ---- Staged rollout ---------------------------------------------------------------------- */

typedef struct Rollout {
        bool linear;            /* false: `percent` of the fleet; true: 0 % at start … 100 % at start+duration */
        double percent;         /* [0, 100] */
        uint64_t start;         /* seconds since the epoch */
        uint64_t duration;      /* seconds; 0 with linear: all at start */
} Rollout;

/* This machine's place in the rollout of VERSION on CHANNEL: [0, 100), stable for the triple and
 * spread evenly over machine ids (the first 8 bytes of SHA-256("osupdate-rollout\0" machine_id
 * "\0" channel "\0" version) as a fraction). */
double agent_bucket(const char *machine_id, const char *channel, const char *version);

/* How far the rollout has come at `now`: [0, 100]. */
double rollout_reached(const Rollout *r, uint64_t now);

/* Wariness= (0 … 1) moves a machine later: bucket + wariness × (100 − bucket). */
double agent_bucket_wary(double bucket, double wariness);

/* The machine takes the release: rollout reached ≥ 100, or reached > its (wary) bucket. */
bool rollout_includes(double reached, double wary_bucket);

/* ---- Maintenance windows ----------------------------------------------------------------- */

/* Window=DAYS HH:MM LENGTH, e.g. "Mon..Fri 02:00 90min", "Sat,Sun 23:30 1h", "* 00:00 24h":
 * DAYS is `*`, a day (Mon … Sun), a range Mon..Fri (may wrap: Fri..Mon), or a comma list of days
 * and ranges; the window opens at HH:MM on each of those days (local to TimeZone=) and lasts
 * LENGTH (a timespan, 1 min … 7 days); a window may run past midnight into the next day. */
typedef struct Window {
        uint8_t days;           /* bit 0 = Monday … bit 6 = Sunday */
        unsigned start_minute;  /* 0 … 1439 */
        unsigned length_minutes;
} Window;

/* -EINVAL for anything else (the caller names file and line). */
int window_parse(const char *s, Window *ret);

/* Is the moment (weekday 0 = Monday … 6 = Sunday, minute of the day 0 … 1439, local time) inside
 * one of the windows? No windows: never. */
bool window_contains(const Window *w, size_t n, unsigned weekday, unsigned minute);

/* Minutes from that moment until a window next opens (0: open now); UINT32_MAX: no windows. */
uint32_t window_next_open(const Window *w, size_t n, unsigned weekday, unsigned minute);

/* ---- The agent's step planner ------------------------------------------------------------- */

typedef enum AgentStrategy {
        AGENT_STRATEGY_IMMEDIATE,       /* update as soon as the rollout reaches this machine */
        AGENT_STRATEGY_PERIODIC,        /* … and a Window= is open */
        AGENT_STRATEGY_FLEET_LOCK,      /* … and a slot of the group's semaphore is held */
        _AGENT_STRATEGY_MAX,
        _AGENT_STRATEGY_INVALID = -22,
} AgentStrategy;

const char *agent_strategy_to_string(AgentStrategy s);
AgentStrategy agent_strategy_from_string(const char *s);

/* Where the action the agent carries stands (durable: the agent's state file). */
typedef enum AgentPhase {
        AGENT_PHASE_NONE,               /* no action */
        AGENT_PHASE_LOCKING,            /* decided to install; taking a slot of the semaphore */
        AGENT_PHASE_INSTALLING,         /* (slot held if fleet-lock) downloading/verifying/switching */
        AGENT_PHASE_CHECKING,           /* switched live: the health checks decide */
        AGENT_PHASE_REBOOTING,          /* staged for the next boot: that boot's mark-good decides */
        AGENT_PHASE_ROLLING_BACK,       /* a check failed: back to the previous slot */
        AGENT_PHASE_RELEASING,          /* verdict recorded; giving the slot back */
        AGENT_PHASE_DONE,               /* finished (result says how); nothing held */
        _AGENT_PHASE_MAX,
        _AGENT_PHASE_INVALID = -22,
} AgentPhase;

const char *agent_phase_to_string(AgentPhase p);
AgentPhase agent_phase_from_string(const char *s);

typedef enum AgentResult {
        AGENT_RESULT_NONE,
        AGENT_RESULT_SUCCESS,
        AGENT_RESULT_FAILURE,
        AGENT_RESULT_CANCELED,          /* the server cancelled the action before its switch */
        _AGENT_RESULT_MAX,
        _AGENT_RESULT_INVALID = -22,
} AgentResult;

const char *agent_result_to_string(AgentResult r);
AgentResult agent_result_from_string(const char *s);

typedef struct AgentFacts {
        /* The channel document, already authenticated (signatures, expiry) by the caller. */
        const char *channel;            /* its name */
        uint64_t serial;
        const char *target;             /* the version it names */
        bool paused;
        Rollout rollout;
        /* What the agent accepted before (its state file): 0 / NULL: nothing yet. */
        uint64_t last_serial;
        bool last_serial_known;
        bool same_document;             /* serial == last_serial and the signed bytes are the same */
        const char *const *failed_versions;     /* versions that failed here: never retried automatically */
        size_t n_failed_versions;
        /* This machine. */
        const char *running;            /* the live version (NULL: unknown) */
        const char *version_floor;      /* NULL: none */
        double bucket;                  /* agent_bucket() */
        double wariness;                /* Wariness=, 0 … 1 */
        uint64_t now;
        AgentStrategy strategy;
        bool in_window;                 /* periodic: a Window= is open now */
        /* The action in progress (durable). */
        AgentPhase phase;
        const char *action_version;     /* the version it installs (NULL: none) */
        bool lock_held;                 /* this agent holds a slot (as far as it recorded) */
        bool lock_refused;              /* the last try to take a slot found the semaphore full */
        /* The world, read again before each decision (a crash between steps loses nothing). */
        bool installed_live;            /* the live version is action_version */
        bool installed_staged;          /* a slot holding action_version is staged / next to boot, not live */
        /* Outcomes of the step just carried out in this run. */
        bool install_failed;            /* INSTALL failed (nothing changed) */
        int health;                     /* 1 all checks passed, 0 one failed, -1 not run in this run */
        /* REBOOTING: what the boot made of it. */
        bool booted_target;             /* the running system booted the action's version … */
        bool booted_good;               /* … and mark-good confirmed it */
        bool boot_gave_up;              /* the boot stage passed the target over (failed, or fell back) */
        AgentResult action_result;      /* the result recorded on the action (RELEASING: what to report) */
        bool rollback_impossible;       /* ROLLBACK found no slot to go back to (not booted from a slot, or the
                                         * other slot no longer authenticates) */
        bool install_transient;         /* install_failed on the network: not a verdict on the bundle */
        /* What the server says of its offer (hawkBit's deployment; a channel document: all false). */
        bool download_held;             /* download: skip — nothing is fetched */
        bool update_held;               /* update: skip, or the maintenance window is unavailable: fetch ahead at most */
        bool forced;                    /* update: forced — Window= does not hold it back */
        bool report_download;           /* the back-end reports `downloaded`: DOWNLOAD, then SWITCH, not INSTALL */
        bool downloaded;                /* a ready slot holds the version (the action's, else the target), fetched
                                         * and verified, neither live nor next to boot */
        bool confirm_waiting;           /* the server waits for this device to confirm an action */
        bool auto_confirm;              /* AutoConfirm=yes */
        bool cancel_requested;          /* the server asks to cancel an action … */
        bool cancel_is_ours;            /* … the one in progress */
} AgentFacts;

typedef enum AgentStep {
        AGENT_STEP_IDLE,                /* nothing to do now (reason says why) */
        AGENT_STEP_REFUSE,              /* the channel document is refused (reason; error says which) */
        AGENT_STEP_ACCEPT,              /* record the document's serial; nothing else to do now */
        AGENT_STEP_LOCK,                /* take a slot of the semaphore (a new action, or resuming LOCKING) */
        AGENT_STEP_INSTALL,             /* install action_version (live; staged if it must) */
        AGENT_STEP_HEALTH,              /* run the health checks */
        AGENT_STEP_MARK_GOOD,           /* healthy: mark-good, then the result (success) is recorded */
        AGENT_STEP_ROLLBACK,            /* unhealthy: record the failure, then roll back */
        AGENT_STEP_WAIT_BOOT,           /* staged: the next boot decides (nothing to do until then) */
        AGENT_STEP_RELEASE,             /* give the slot back, then the action is done (result) */
        AGENT_STEP_FINISH,              /* no slot held: the action is done (result) */
        AGENT_STEP_DOWNLOAD,            /* fetch the version into the inactive slot, verified, not live (new_action: the
                                         * action starts; none in progress: fetched ahead of the update) */
        AGENT_STEP_SWITCH,              /* switch live to the slot that already holds the action's version */
        AGENT_STEP_CANCEL,              /* the server cancelled the action before its switch: result canceled, then
                                         * RELEASE / FINISH */
        AGENT_STEP_CONFIRM,             /* AutoConfirm=yes: confirm the action the server holds for confirmation */
        _AGENT_STEP_MAX,
        _AGENT_STEP_INVALID = -22,
} AgentStep;

const char *agent_step_to_string(AgentStep s);

/* What the back-end tells the server about the offer or the action (a channel has no one to tell). */
typedef enum AgentReport {
        AGENT_REPORT_NONE,              /* nothing (yet): no verdict, or a transient failure the next poll retries */
        AGENT_REPORT_SUCCESS,           /* closed/success: healthy, booted and marked good, or already running it */
        AGENT_REPORT_FAILURE,           /* closed/failure: unhealthy, refused, failed here before, bundle refused */
        _AGENT_REPORT_MAX,
        _AGENT_REPORT_INVALID = -22,
} AgentReport;

const char *agent_report_to_string(AgentReport r);

/* The answer to a cancellation asked by the server. */
typedef enum AgentCancelReply {
        AGENT_CANCEL_NONE,
        AGENT_CANCEL_ACCEPT,            /* nothing switched (or nothing of ours): cancelled, confirmed */
        AGENT_CANCEL_TOO_LATE,          /* the action already switched: rejected, its verdict follows */
        _AGENT_CANCEL_MAX,
        _AGENT_CANCEL_INVALID = -22,
} AgentCancelReply;

const char *agent_cancel_reply_to_string(AgentCancelReply c);

typedef struct AgentPlan {
        AgentStep step;
        AgentResult result;             /* RELEASE / FINISH / MARK_GOOD / ROLLBACK: the action's result */
        bool give_up_version;           /* record action_version as failed: never retried automatically */
        bool new_action;                /* LOCK / INSTALL from no action: the action starts (target) */
        int error;                      /* REFUSE: -ESTALE (target older than what runs, or below the
                                         * floor), -EBADE (serial lower than the one accepted, or the
                                         * same serial with other content) */
        bool history;                   /* RELEASE / FINISH: the end is a verdict on the version, kept in the
                                         * history; false: a failed install, dropped (retried; last_error says why) */
        AgentReport report;             /* to the server: about the action (RELEASE / FINISH) or the offer */
        AgentCancelReply cancel_reply;  /* to the server, now: the answer to its cancellation */
        bool takes_release;             /* the rollout includes this machine now */
        double reached;                 /* rollout_reached() */
        double wary_bucket;             /* agent_bucket_wary() */
        char reason[256];               /* one line, for people: why this step */
} AgentPlan;

/* TUF's rule against rollback and freeze of the channel document: 0 when a document with SERIAL
 * may be used after LAST_SERIAL was accepted (same_document: its signed bytes are the accepted
 * ones); -EBADE with the reason otherwise. agent_plan() applies it between actions; the caller
 * applies it to the document it would use during one. */
int agent_serial_check(uint64_t serial, bool same_document, bool last_serial_known, uint64_t last_serial,
                       const char *channel, char *reason, size_t size);

/* The next step. The caller carries it out, records what the step says, gathers the facts again
 * (with the step's outcome) and asks again, until IDLE, REFUSE, ACCEPT, WAIT_BOOT or a failed step.
 *
 * A cancellation first: of the action in progress, in LOCKING or INSTALLING, neither live nor staged
 * for the next boot → CANCEL (result canceled); of the action in progress after its switch →
 * cancel_reply TOO_LATE and the action goes on; of anything else → cancel_reply ACCEPT.
 *
 * "Install" below is SWITCH when downloaded, DOWNLOAD when report_download, else INSTALL.
 *
 * An action in progress continues whatever the channel says now:
 *   LOCKING       lock_held → install; lock_refused → IDLE ("semaphore full"); else LOCK
 *   INSTALLING    installed_live → HEALTH; installed_staged → WAIT_BOOT;
 *                 install_failed → RELEASE (lock held) / FINISH, result failure (not given up:
 *                 the next poll tries again; reported unless install_transient);
 *                 downloaded and update_held → IDLE; else install
 *   CHECKING      running ≠ action_version (rolled back meanwhile) → RELEASE/FINISH failure, give up;
 *                 health −1 → HEALTH; 1 → MARK_GOOD (success); 0 → ROLLBACK (failure, give up)
 *   ROLLING_BACK  running = action_version → ROLLBACK (failure, give up), or with rollback_impossible
 *                 RELEASE/FINISH failure (it stays live); else RELEASE/FINISH failure
 *   REBOOTING     booted_target and booted_good → RELEASE/FINISH success; boot_gave_up →
 *                 RELEASE/FINISH failure, give up; else WAIT_BOOT
 *   RELEASING     lock_held → RELEASE; else FINISH (the result already recorded: action_result)
 * RELEASE / FINISH report success or failure as the result says (canceled: cancel_reply ACCEPT).
 * No action (NONE or DONE): confirm_waiting → CONFIRM with auto_confirm, else IDLE; otherwise
 *   1. serial < last_serial, or == with other bytes (same_document false) → REFUSE −EBADE
 *   2. target older than running, or below the floor → REFUSE −ESTALE
 *   3. target == running → ACCEPT ("up to date", report success); target in failed_versions → ACCEPT
 *      ("failed here before: not retried automatically", report failure)
 *   4. paused → IDLE; rollout not including the wary bucket → IDLE; download_held → IDLE;
 *      update_held → DOWNLOAD ahead (no action; IDLE once downloaded, or after a failure);
 *      periodic outside every window and not forced → IDLE
 *   5. a new action on target: fleet-lock → LOCK, otherwise install.
 * REFUSE reports failure.
 * takes_release, reached and wary_bucket are filled in every case (dry runs and status show them). */
void agent_plan(const AgentFacts *f, AgentPlan *ret);

/* ---- A server's handling of its offer ----------------------------------------------------- */

typedef struct AgentHandling {
        bool download_held;             /* download: skip */
        bool update_held;               /* update: skip, or the maintenance window is unavailable */
        bool forced;                    /* update: forced (download: forced when update is absent) */
} AgentHandling;

/* hawkBit's deployment.download / .update (skip | attempt | forced, NULL: absent) and
 * .maintenanceWindow (available | unavailable, NULL: no window) as the planner's facts. Anything
 * else counts as attempt (the agent's own rules decide when). */
AgentHandling agent_handling(const char *download, const char *update, const char *window);

/* ---- When to poll again ------------------------------------------------------------------- */

/* A server's polling interval, hawkBit's config.polling.sleep "HH:MM:SS" (two digits each, MM and
 * SS below 60), in µs, kept within [1 s, 24 h]: a server can neither make the agent spin nor fall
 * silent for days. 0: absent or malformed (the agent's Interval= applies). */
uint64_t agent_server_interval_usec(const char *hhmmss);

/* The daemon's delay before its next poll, in µs. After a success: the server's polling interval
 * (server_sleep_usec, hawkBit's config.polling.sleep; 0: none given) or else Interval=, ± 10 %.
 * After `errors` failures in a row: a backoff that starts at Interval=/8 (at least 1 s, at most
 * 5 min), doubles with each failure up to Interval=, and is jittered into [b/2, b] so that a fleet
 * cut off together does not come back together. random01: a uniform number in [0, 1). */
uint64_t agent_next_poll_usec(uint64_t interval_usec, uint64_t server_sleep_usec, unsigned errors, double random01);
