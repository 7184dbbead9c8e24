/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "agent.h"
#include "cleanup.h"
#include "log.h"
#include "openssl-util.h"
#include "parse-util.h"
#include "version.h"

#define MINUTES_PER_DAY 1440U
#define MINUTES_PER_WEEK (7U * MINUTES_PER_DAY)

/* The largest double below 100: a bucket must stay in [0, 100) even where the fraction rounds up. */
#define BUCKET_MAX 0x1.8ffffffffffffp+6

/* ---- Staged rollout ---------------------------------------------------------------------- */

/* The first 8 bytes of SHA-256("osupdate-rollout\0" machine_id "\0" channel "\0" version), big-endian. */
static int bucket_hash(const char *const parts[3], uint64_t *ret) {
        static const char prefix[] = "osupdate-rollout";
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        uint64_t x = 0;

        /* Each field is followed by its NUL (none after the last), so no two triples hash the same
         * bytes: ("ab", "c") and ("a", "bc") differ. */
        ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(ctx, prefix, sizeof prefix) != 1)
                return -ENOMEM;
        for (size_t i = 0; i < 3; i++)
                if (EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + (i < 2)) != 1)
                        return -ENOMEM;
        if (EVP_DigestFinal_ex(ctx, digest, &len) != 1 || len < 8)
                return -ENOMEM;

        for (size_t i = 0; i < 8; i++)
                x = x << 8 | digest[i];
        *ret = x;
        return 0;
}

double agent_bucket(const char *machine_id, const char *channel, const char *version) {
        const char *const parts[3] = { machine_id ?: "", channel ?: "", version ?: "" };
        uint64_t x;

        if (bucket_hash(parts, &x) < 0) {
                /* OpenSSL out of memory: the last place in every rollout, taken only at 100 %. */
                log_debug("Could not hash the rollout bucket; taking the last place.");
                return BUCKET_MAX;
        }
        /* The top 53 bits are exact in a double; the rest cannot move a bucket by more than 1e-14. */
        return MIN((double) (x >> 11) / 0x1p53 * 100.0, BUCKET_MAX);
}

double rollout_reached(const Rollout *r, uint64_t now) {
        if (!r->linear) {
                if (!(r->percent > 0)) /* also NaN */
                        return 0;
                return MIN(r->percent, 100.0);
        }

        if (now < r->start)
                return 0;
        if (r->duration == 0 || now - r->start >= r->duration)
                return 100;
        return (double) (now - r->start) / (double) r->duration * 100.0;
}

double agent_bucket_wary(double bucket, double wariness) {
        if (!(bucket > 0))
                bucket = 0;
        bucket = MIN(bucket, BUCKET_MAX);
        if (!(wariness > 0))
                return bucket;
        wariness = MIN(wariness, 1.0);
        return MIN(bucket + wariness * (100.0 - bucket), BUCKET_MAX);
}

bool rollout_includes(double reached, double wary_bucket) {
        return reached >= 100 || reached > wary_bucket;
}

/* ---- Maintenance windows ----------------------------------------------------------------- */

static const char *const day_table[7] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };

static int day_from_string(const char *s, size_t n) {
        if (n != 3)
                return -EINVAL;
        for (int i = 0; i < 7; i++)
                if (strncasecmp(s, day_table[i], 3) == 0)
                        return i;
        return -EINVAL;
}

/* "*", or a comma list of days (Mon) and ranges (Mon..Fri, wrapping: Fri..Mon). */
static int days_parse(const char *s, size_t n, uint8_t *ret) {
        uint8_t days = 0;
        const char *end = s + n;

        if (n == 1 && *s == '*') {
                *ret = 0x7f;
                return 0;
        }

        for (const char *p = s; p <= end;) {
                const char *comma = memchr(p, ',', (size_t) (end - p)) ?: end;
                const char *dots = NULL;
                int first, last;

                for (const char *q = p; q + 1 < comma; q++)
                        if (q[0] == '.' && q[1] == '.') {
                                dots = q;
                                break;
                        }
                if (dots) {
                        first = day_from_string(p, (size_t) (dots - p));
                        last = day_from_string(dots + 2, (size_t) (comma - dots - 2));
                } else
                        first = last = day_from_string(p, (size_t) (comma - p));
                if (first < 0 || last < 0)
                        return -EINVAL;

                for (int d = first;; d = (d + 1) % 7) {
                        days |= (uint8_t) (1U << d);
                        if (d == last)
                                break;
                }
                p = comma + 1;
        }

        *ret = days;
        return 0;
}

static int time_parse(const char *s, size_t n, unsigned *ret) {
        unsigned h, m;

        /* H:MM or HH:MM, digits only. */
        if (n < 4 || n > 5 || s[n - 3] != ':')
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (i != n - 3 && !isdigit((unsigned char) s[i]))
                        return -EINVAL;
        h = n == 5 ? (unsigned) (s[0] - '0') * 10 + (unsigned) (s[1] - '0') : (unsigned) (s[0] - '0');
        m = (unsigned) (s[n - 2] - '0') * 10 + (unsigned) (s[n - 1] - '0');
        if (h > 23 || m > 59)
                return -EINVAL;
        *ret = h * 60 + m;
        return 0;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* The next blank-separated field of *p: its start and length; *p moves past it. */
static const char *next_field(const char **p, size_t *ret_len) {
        const char *start = *p, *e;

        while (is_blank(*start))
                start++;
        for (e = start; *e && !is_blank(*e); e++)
                ;
        *ret_len = (size_t) (e - start);
        *p = e;
        return start;
}

int window_parse(const char *s, Window *ret) {
        const char *p = s, *days_s, *time_s;
        size_t days_n, time_n, len;
        char length[64];
        uint64_t usec;
        Window w = {};

        if (!s)
                return -EINVAL;

        days_s = next_field(&p, &days_n);
        time_s = next_field(&p, &time_n);
        if (days_n == 0 || time_n == 0)
                return -EINVAL;
        if (days_parse(days_s, days_n, &w.days) < 0 || time_parse(time_s, time_n, &w.start_minute) < 0)
                return -EINVAL;

        /* LENGTH is the rest ("1h 30min" has a blank of its own), without the blanks around it. */
        while (is_blank(*p))
                p++;
        len = strlen(p);
        while (len > 0 && is_blank(p[len - 1]))
                len--;
        if (len == 0 || len >= sizeof length)
                return -EINVAL;
        memcpy(length, p, len);
        length[len] = 0;
        if (parse_timespan(length, &usec) < 0)
                return -EINVAL;
        if (usec % 60000000ULL != 0 || usec < 60000000ULL || usec > 7ULL * 86400000000ULL)
                return -EINVAL;
        w.length_minutes = (unsigned) (usec / 60000000ULL);

        *ret = w;
        return 0;
}

/* Minutes since Monday 00:00, the moment normalised into one week. */
static unsigned week_minute(unsigned weekday, unsigned minute) {
        return (unsigned) (((uint64_t) weekday * MINUTES_PER_DAY + minute) % MINUTES_PER_WEEK);
}

/* Minutes from opening `o` (minute of the week) to moment `m`, going forward round the week. */
static unsigned since(unsigned o, unsigned m) {
        return (m + MINUTES_PER_WEEK - o) % MINUTES_PER_WEEK;
}

bool window_contains(const Window *w, size_t n, unsigned weekday, unsigned minute) {
        unsigned m = week_minute(weekday, minute);

        /* Each opening covers [open, open + length) modulo the week: a window that runs past
         * midnight (or past Sunday) covers the next day's first minutes. */
        for (size_t i = 0; i < n; i++)
                for (unsigned d = 0; d < 7; d++)
                        if ((w[i].days & (1U << d)) &&
                            since(d * MINUTES_PER_DAY + w[i].start_minute % MINUTES_PER_DAY, m) < w[i].length_minutes)
                                return true;
        return false;
}

uint32_t window_next_open(const Window *w, size_t n, unsigned weekday, unsigned minute) {
        unsigned m = week_minute(weekday, minute);
        uint32_t best = UINT32_MAX;

        if (window_contains(w, n, weekday, minute))
                return 0;
        for (size_t i = 0; i < n; i++)
                for (unsigned d = 0; d < 7; d++)
                        if ((w[i].days & (1U << d)) && w[i].length_minutes > 0)
                                best = MIN(best, since(m, d * MINUTES_PER_DAY + w[i].start_minute % MINUTES_PER_DAY));
        return best;
}

/* ---- String tables ------------------------------------------------------------------------ */

static const char *const strategy_table[_AGENT_STRATEGY_MAX] = {
        [AGENT_STRATEGY_IMMEDIATE] = "immediate",
        [AGENT_STRATEGY_PERIODIC] = "periodic",
        [AGENT_STRATEGY_FLEET_LOCK] = "fleet-lock",
};

static const char *const phase_table[_AGENT_PHASE_MAX] = {
        [AGENT_PHASE_NONE] = "none",
        [AGENT_PHASE_LOCKING] = "locking",
        [AGENT_PHASE_INSTALLING] = "installing",
        [AGENT_PHASE_CHECKING] = "checking",
        [AGENT_PHASE_REBOOTING] = "rebooting",
        [AGENT_PHASE_ROLLING_BACK] = "rolling-back",
        [AGENT_PHASE_RELEASING] = "releasing",
        [AGENT_PHASE_DONE] = "done",
};

static const char *const result_table[_AGENT_RESULT_MAX] = {
        [AGENT_RESULT_NONE] = "none",
        [AGENT_RESULT_SUCCESS] = "success",
        [AGENT_RESULT_FAILURE] = "failure",
        [AGENT_RESULT_CANCELED] = "canceled",
};

static const char *const report_table[_AGENT_REPORT_MAX] = {
        [AGENT_REPORT_NONE] = "none",
        [AGENT_REPORT_SUCCESS] = "success",
        [AGENT_REPORT_FAILURE] = "failure",
};

static const char *const cancel_reply_table[_AGENT_CANCEL_MAX] = {
        [AGENT_CANCEL_NONE] = "none",
        [AGENT_CANCEL_ACCEPT] = "accept",
        [AGENT_CANCEL_TOO_LATE] = "too-late",
};

/* clang-format off */
static const char *const step_table[_AGENT_STEP_MAX] = {
        [AGENT_STEP_IDLE] = "idle",
        [AGENT_STEP_REFUSE] = "refuse",
        [AGENT_STEP_ACCEPT] = "accept",
        [AGENT_STEP_LOCK] = "lock",
        [AGENT_STEP_INSTALL] = "install",
        [AGENT_STEP_HEALTH] = "health",
        [AGENT_STEP_MARK_GOOD] = "mark-good",
        [AGENT_STEP_ROLLBACK] = "rollback",
        [AGENT_STEP_WAIT_BOOT] = "wait-boot",
        [AGENT_STEP_RELEASE] = "release",
        [AGENT_STEP_FINISH] = "finish",
        [AGENT_STEP_DOWNLOAD] = "download",
        [AGENT_STEP_SWITCH] = "switch",
        [AGENT_STEP_CANCEL] = "cancel",
        [AGENT_STEP_CONFIRM] = "confirm",
};
/* clang-format on */

static int table_lookup(const char *const *table, int n, const char *s) {
        if (!s)
                return -EINVAL;
        for (int i = 0; i < n; i++)
                if (table[i] && strcmp(s, table[i]) == 0)
                        return i;
        return -EINVAL;
}

const char *agent_strategy_to_string(AgentStrategy s) {
        return s >= 0 && s < _AGENT_STRATEGY_MAX ? strategy_table[s] : NULL;
}

AgentStrategy agent_strategy_from_string(const char *s) {
        return (AgentStrategy) table_lookup(strategy_table, _AGENT_STRATEGY_MAX, s);
}

const char *agent_phase_to_string(AgentPhase p) {
        return p >= 0 && p < _AGENT_PHASE_MAX ? phase_table[p] : NULL;
}

AgentPhase agent_phase_from_string(const char *s) {
        return (AgentPhase) table_lookup(phase_table, _AGENT_PHASE_MAX, s);
}

const char *agent_result_to_string(AgentResult r) {
        return r >= 0 && r < _AGENT_RESULT_MAX ? result_table[r] : NULL;
}

AgentResult agent_result_from_string(const char *s) {
        return (AgentResult) table_lookup(result_table, _AGENT_RESULT_MAX, s);
}

const char *agent_step_to_string(AgentStep s) {
        return s >= 0 && s < _AGENT_STEP_MAX ? step_table[s] : NULL;
}

const char *agent_report_to_string(AgentReport r) {
        return r >= 0 && r < _AGENT_REPORT_MAX ? report_table[r] : NULL;
}

const char *agent_cancel_reply_to_string(AgentCancelReply c) {
        return c >= 0 && c < _AGENT_CANCEL_MAX ? cancel_reply_table[c] : NULL;
}

/* ---- The agent's step planner ------------------------------------------------------------- */

_printf_(3, 4) static void plan_set(AgentPlan *p, AgentStep step, const char *fmt, ...) {
        va_list ap;

        p->step = step;
        va_start(ap, fmt);
        (void) vsnprintf(p->reason, sizeof p->reason, fmt, ap);
        va_end(ap);
}

/* What the server hears of an action that ends with RESULT: the verdict, except for an install
 * that failed on the network (the next poll tries again); a cancellation is confirmed instead. */
static void plan_report(AgentPlan *p, const AgentFacts *f, AgentResult result) {
        switch (result) {
        case AGENT_RESULT_SUCCESS:
                p->report = AGENT_REPORT_SUCCESS;
                break;
        case AGENT_RESULT_FAILURE:
                p->report = f->install_failed && f->install_transient ? AGENT_REPORT_NONE : AGENT_REPORT_FAILURE;
                break;
        case AGENT_RESULT_CANCELED:
                p->cancel_reply = AGENT_CANCEL_ACCEPT;
                break;
        default:
                break;
        }
}

/* The action ends: give the slot back if one is held, else just finish. */
_printf_(5, 6) static void plan_end(AgentPlan *p, const AgentFacts *f, AgentResult result, bool give_up,
                                    const char *fmt, ...) {
        va_list ap;
        int n;

        p->step = f->lock_held ? AGENT_STEP_RELEASE : AGENT_STEP_FINISH;
        p->result = result;
        /* A failed install says nothing about the version (network, mirror, no slot): not history. */
        p->history = !(f->install_failed && !give_up);
        plan_report(p, f, result);
        p->give_up_version = give_up;
        va_start(ap, fmt);
        n = vsnprintf(p->reason, sizeof p->reason, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t) n < sizeof p->reason)
                (void) snprintf(p->reason + n, sizeof p->reason - (size_t) n, "%s",
                                f->lock_held ? "; giving the slot back" : "");
}

static const char *str(const char *s) {
        return s ?: "(unknown)";
}

/* Is the live version the action's version? The running version if known, else what the caller
 * read from the slots (installed_live). */
static bool action_is_live(const AgentFacts *f) {
        if (f->running)
                return version_compare(f->running, f->action_version) == 0;
        return f->installed_live;
}

static bool version_failed_here(const AgentFacts *f, const char *v) {
        for (size_t i = 0; i < f->n_failed_versions; i++)
                if (f->failed_versions[i] && version_compare(f->failed_versions[i], v) == 0)
                        return true;
        return false;
}

/* Putting V live: from the slot that already holds it, in two steps where the back-end reports the
 * download, else in one. */
static void plan_install(AgentPlan *p, const AgentFacts *f, const char *v, const char *why) {
        if (f->downloaded)
                plan_set(p, AGENT_STEP_SWITCH, "%s%s is downloaded and verified: switching to it", why, v);
        else if (f->report_download)
                plan_set(p, AGENT_STEP_DOWNLOAD, "%sdownloading %s", why, v);
        else
                plan_set(p, AGENT_STEP_INSTALL, "%sinstalling %s", why, v);
}

static void plan_action(const AgentFacts *f, AgentPlan *p) {
        const char *v = str(f->action_version);

        switch (f->phase) {

        case AGENT_PHASE_LOCKING:
                if (f->lock_held)
                        plan_install(p, f, v, "slot held: ");
                else if (f->lock_refused)
                        plan_set(p, AGENT_STEP_IDLE, "the semaphore is full: waiting for a slot to install %s", v);
                else
                        plan_set(p, AGENT_STEP_LOCK, "taking a slot of the semaphore to install %s", v);
                break;

        case AGENT_PHASE_INSTALLING:
                if (f->installed_live)
                        plan_set(p, AGENT_STEP_HEALTH, "%s runs live: running the health checks", v);
                else if (f->installed_staged)
                        plan_set(p, AGENT_STEP_WAIT_BOOT, "%s is staged: the next boot decides", v);
                else if (f->install_failed)
                        plan_end(p, f, AGENT_RESULT_FAILURE, false,
                                 "installing %s failed (nothing changed): the next poll tries again", v);
                else if (f->downloaded && f->update_held)
                        plan_set(p, AGENT_STEP_IDLE, "%s is downloaded; the server holds the update (maintenance window)", v);
                else
                        plan_install(p, f, v, "");
                break;

        case AGENT_PHASE_CHECKING:
                if (!action_is_live(f))
                        plan_end(p, f, AGENT_RESULT_FAILURE, true,
                                 "%s is no longer live (running %s: rolled back meanwhile): failed, not retried "
                                 "automatically",
                                 v, str(f->running));
                else if (f->health == 1) {
                        plan_set(p, AGENT_STEP_MARK_GOOD, "%s passed every health check: marking it good", v);
                        p->result = AGENT_RESULT_SUCCESS;
                } else if (f->health == 0) {
                        plan_set(p, AGENT_STEP_ROLLBACK,
                                 "%s failed a health check: rolling back, not retried automatically", v);
                        p->result = AGENT_RESULT_FAILURE;
                        p->give_up_version = true;
                } else
                        plan_set(p, AGENT_STEP_HEALTH, "%s runs live: running the health checks", v);
                break;

        case AGENT_PHASE_ROLLING_BACK:
                /* The failure (and the give-up) was recorded before the rollback began; saying it
                 * again when resuming costs nothing, and loses nothing if that record was lost. */
                if (action_is_live(f) && f->rollback_impossible)
                        plan_end(p, f, AGENT_RESULT_FAILURE, true,
                                 "%s failed a health check, and there is no slot to roll back to: it stays live", v);
                else if (action_is_live(f)) {
                        plan_set(p, AGENT_STEP_ROLLBACK, "%s failed a health check and still runs: rolling back", v);
                        p->result = AGENT_RESULT_FAILURE;
                        p->give_up_version = true;
                } else
                        plan_end(p, f, AGENT_RESULT_FAILURE, true, "rolled back from %s (now running %s)", v,
                                 str(f->running));
                break;

        case AGENT_PHASE_REBOOTING:
                if (f->booted_target && f->booted_good)
                        plan_end(p, f, AGENT_RESULT_SUCCESS, false, "%s booted and was marked good", v);
                else if (f->boot_gave_up)
                        plan_end(p, f, AGENT_RESULT_FAILURE, true,
                                 "the boot passed %s over (failed or fell back): not retried automatically", v);
                else if (f->booted_target)
                        plan_set(p, AGENT_STEP_WAIT_BOOT, "%s booted: waiting for that boot's mark-good", v);
                else
                        plan_set(p, AGENT_STEP_WAIT_BOOT, "%s is staged: the next boot decides", v);
                break;

        case AGENT_PHASE_RELEASING:
                /* The result was recorded with the step that led here: RESULT_NONE keeps it. */
                plan_report(p, f, f->action_result);
                p->history = true;
                if (f->lock_held)
                        plan_set(p, AGENT_STEP_RELEASE, "verdict on %s recorded: giving the slot back", v);
                else
                        plan_set(p, AGENT_STEP_FINISH, "verdict on %s recorded: done", v);
                break;

        default:
                plan_set(p, AGENT_STEP_IDLE, "the recorded phase %d is unknown: nothing done", (int) f->phase);
        }
}

_printf_(3, 4) static void plan_refuse(AgentPlan *p, int error, const char *fmt, ...) {
        va_list ap;

        p->step = AGENT_STEP_REFUSE;
        p->error = error;
        va_start(ap, fmt);
        (void) vsnprintf(p->reason, sizeof p->reason, fmt, ap);
        va_end(ap);
}

int agent_serial_check(uint64_t serial, bool same_document, bool last_serial_known, uint64_t last_serial,
                       const char *channel, char *reason, size_t size) {
        /* An older document (or another one under the same serial) replayed by a mirror or a man in
         * the middle must not move this machine, nor lower what it accepted. */
        if (last_serial_known && serial < last_serial) {
                snprintf(reason, size, "channel %s serial %" PRIu64 " is lower than the accepted %" PRIu64
                         ": refused (rollback or freeze attack)", channel ?: "(unnamed)", serial, last_serial);
                return -EBADE;
        }
        if (last_serial_known && serial == last_serial && !same_document) {
                snprintf(reason, size, "channel %s serial %" PRIu64
                         " was accepted with other content: refused (one serial names one document)",
                         channel ?: "(unnamed)", serial);
                return -EBADE;
        }
        return 0;
}

static void plan_channel(const AgentFacts *f, AgentPlan *p) {
        const char *t = f->target, *ch = f->channel ?: "(unnamed)";

        char why[sizeof p->reason];

        /* 1. TUF's rollback and freeze attacks. */
        if (agent_serial_check(f->serial, f->same_document, f->last_serial_known, f->last_serial, ch, why, sizeof why) < 0)
                plan_refuse(p, -EBADE, "%s", why);
        else if (!t)
                plan_set(p, AGENT_STEP_IDLE, "channel %s names no version: nothing to do", ch);

        /* 2. Never downgrade through a channel: the way back is a deliberate rollback. */
        else if (f->running && version_compare(t, f->running) < 0)
                plan_refuse(p, -ESTALE, "channel %s names %s, older than the running %s: refused", ch, t, f->running);
        else if (f->version_floor && version_compare(t, f->version_floor) < 0)
                plan_refuse(p, -ESTALE, "channel %s names %s, below the version floor %s: refused", ch, t,
                            f->version_floor);

        /* 3. */
        else if (f->running && version_compare(t, f->running) == 0) {
                plan_set(p, AGENT_STEP_ACCEPT, "up to date (%s)", t);
                p->report = AGENT_REPORT_SUCCESS;
        } else if (version_failed_here(f, t)) {
                plan_set(p, AGENT_STEP_ACCEPT, "%s failed here before: not retried automatically", t);
                p->report = AGENT_REPORT_FAILURE;
        }

        /* 4. */
        else if (f->paused)
                plan_set(p, AGENT_STEP_IDLE, "the rollout of %s on channel %s is paused", t, ch);
        else if (!p->takes_release && f->wariness > 0)
                plan_set(p, AGENT_STEP_IDLE,
                         "rollout of %s at %.1f %%, this machine's bucket is %.1f (%.1f with wariness %.2g): not yet",
                         t, p->reached, f->bucket, p->wary_bucket, f->wariness);
        else if (!p->takes_release)
                plan_set(p, AGENT_STEP_IDLE, "rollout of %s at %.1f %%, this machine's bucket is %.1f: not yet", t,
                         p->reached, p->wary_bucket);
        else if (f->download_held)
                plan_set(p, AGENT_STEP_IDLE, "the server says to skip %s for now (download: skip)", t);
        else if (f->update_held && f->downloaded)
                plan_set(p, AGENT_STEP_IDLE, "%s is downloaded and verified; the server holds the update (maintenance "
                         "window unavailable, or update: skip)", t);
        else if (f->update_held && f->install_failed) {
                plan_set(p, AGENT_STEP_IDLE, "downloading %s ahead failed: the next poll tries again", t);
                p->report = f->install_transient ? AGENT_REPORT_NONE : AGENT_REPORT_FAILURE;
        } else if (f->update_held)
                plan_set(p, AGENT_STEP_DOWNLOAD, "downloading %s ahead: the server holds the update (maintenance window "
                         "unavailable, or update: skip)", t);
        else if (f->strategy == AGENT_STRATEGY_PERIODIC && !f->in_window && !f->forced)
                plan_set(p, AGENT_STEP_IDLE, "%s is due, but outside every maintenance window", t);
        else if (f->strategy < 0 || f->strategy >= _AGENT_STRATEGY_MAX)
                plan_set(p, AGENT_STEP_IDLE, "strategy %d is unknown: nothing done", (int) f->strategy);

        /* 5. */
        else {
                p->new_action = true;
                (void) snprintf(why, sizeof why, "update to %s (rollout at %.1f %%, bucket %.1f%s%s): ", t, p->reached,
                                p->wary_bucket, f->forced ? ", forced by the server" : "",
                                f->running ? "" : ", the running version is unknown");
                if (f->strategy == AGENT_STRATEGY_FLEET_LOCK)
                        plan_set(p, AGENT_STEP_LOCK, "%staking a slot of the semaphore", why);
                else
                        plan_install(p, f, t, why);
        }
        if (p->step == AGENT_STEP_REFUSE)
                p->report = AGENT_REPORT_FAILURE;
}

static bool phase_is_active(AgentPhase p) {
        return p != AGENT_PHASE_NONE && p != AGENT_PHASE_DONE;
}

/* The server asks to cancel: true when the plan is made (CANCEL). */
static bool plan_cancel(const AgentFacts *f, AgentPlan *p) {
        if (!f->cancel_requested)
                return false;
        if (!phase_is_active(f->phase) || !f->cancel_is_ours) {
                p->cancel_reply = AGENT_CANCEL_ACCEPT;
                return false;
        }
        if ((f->phase == AGENT_PHASE_LOCKING || f->phase == AGENT_PHASE_INSTALLING) && !f->installed_live &&
            !f->installed_staged) {
                plan_set(p, AGENT_STEP_CANCEL, "the server cancelled the update to %s before its switch: stopping%s",
                         str(f->action_version), f->lock_held ? " and giving the slot back" : "");
                p->result = AGENT_RESULT_CANCELED;
                return true;
        }
        p->cancel_reply = AGENT_CANCEL_TOO_LATE;
        return false;
}

void agent_plan(const AgentFacts *f, AgentPlan *ret) {
        AgentPlan p = {
                .reached = rollout_reached(&f->rollout, f->now),
                .wary_bucket = agent_bucket_wary(f->bucket, f->wariness),
        };

        p.takes_release = rollout_includes(p.reached, p.wary_bucket);

        if (plan_cancel(f, &p))
                ;
        else if (!phase_is_active(f->phase) && f->confirm_waiting) {
                if (f->auto_confirm)
                        plan_set(&p, AGENT_STEP_CONFIRM, "the server waits for this device to confirm an update: "
                                 "confirming it (AutoConfirm=yes)");
                else
                        plan_set(&p, AGENT_STEP_IDLE, "the server waits for this device to confirm an update: confirm it "
                                 "there, or set AutoConfirm=yes");
        } else if (!phase_is_active(f->phase))
                plan_channel(f, &p);
        else if (!f->action_version && f->phase != AGENT_PHASE_RELEASING)
                /* A state file that names a phase but no version: nothing to install or judge. */
                plan_end(&p, f, AGENT_RESULT_FAILURE, false, "the action in phase %s names no version: ended",
                         agent_phase_to_string(f->phase) ?: "(invalid)");
        else
                plan_action(f, &p);

        log_debug("agent: %s: %s", agent_step_to_string(p.step), p.reason);
        *ret = p;
}

/* ---- A server's handling of its offer ----------------------------------------------------- */

static bool streq_or_false(const char *a, const char *b) {
        return a && strcmp(a, b) == 0;
}

AgentHandling agent_handling(const char *download, const char *update, const char *window) {
        return (AgentHandling) {
                .download_held = streq_or_false(download, "skip"),
                .update_held = streq_or_false(update, "skip") || streq_or_false(window, "unavailable"),
                .forced = update ? streq_or_false(update, "forced") : streq_or_false(download, "forced"),
        };
}

/* ---- When to poll again ------------------------------------------------------------------- */

static int two_digits(const char *s) {
        return s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' ? (s[0] - '0') * 10 + (s[1] - '0') : -1;
}

uint64_t agent_server_interval_usec(const char *s) {
        int h, m, sec;
        uint64_t t;

        if (!s || strlen(s) != 8 || s[2] != ':' || s[5] != ':')
                return 0;
        h = two_digits(s);
        m = two_digits(s + 3);
        sec = two_digits(s + 6);
        if (h < 0 || m < 0 || m > 59 || sec < 0 || sec > 59)
                return 0;
        t = (uint64_t) h * 3600 + (uint64_t) m * 60 + (uint64_t) sec;
        t = t < 1 ? 1 : t > 24 * 3600 ? 24 * 3600 : t;
        return t * 1000000ULL;
}

uint64_t agent_next_poll_usec(uint64_t interval_usec, uint64_t server_sleep_usec, unsigned errors, double random01) {
        const uint64_t second = 1000000ULL;
        uint64_t b;

        if (random01 < 0 || random01 >= 1 || random01 != random01)
                random01 = 0.5;
        if (errors == 0) {
                b = server_sleep_usec > 0 ? server_sleep_usec : interval_usec;
                /* ± 10 %: a fleet started together spreads out. */
                return (uint64_t) ((double) b * (0.9 + 0.2 * random01));
        }
        b = interval_usec / 8;
        b = b < second ? second : b > 300 * second ? 300 * second : b;
        for (unsigned i = 1; i < errors && b < interval_usec; i++)
                b *= 2;
        if (b > interval_usec && interval_usec >= second)
                b = interval_usec;
        return b / 2 + (uint64_t) ((double) (b / 2) * random01);
}
