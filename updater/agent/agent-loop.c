/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <systemd/sd-daemon.h>

#include "agent-loop.h"
#include "agent-state.h"
#include "agent.h"
#include "apply.h"
#include "channel.h"
#include "fileio.h"
#include "hawkbit.h"
#include "health.h"
#include "hex.h"
#include "http.h"
#include "fetch.h"
#include "json-util.h"
#include "lock.h"
#include "log.h"
#include "parse-util.h"
#include "session.h"
#include "source.h"
#include "state.h"
#include "version.h"

/* What one poll works with: the configuration, the durable state, what it read of the world. */
typedef struct Poll {
        const Config *cfg;
        const Keyring *keyring;
        const AgentOptions *o;
        AgentState st;
        char *machine_id;
        Channel *channel;
        int channel_error;      /* 0, or why the channel could not be read */
        char *running;          /* the live version */
        State dev;              /* state.json */
        LockClient *lock;
        uint64_t now;
        /* Outcomes of the steps carried out in this poll. */
        bool install_failed;
        int install_error;      /* why (negative errno), for the exit code */
        char *install_output;   /* … in words */
        int health;
        bool lock_refused;
        bool rollback_impossible;       /* the rollback found no slot to go back to */
        char *health_output;
        bool changed;           /* something was carried out (for the summary) */
        AgentResult finished;   /* the result of the action this poll ended (NONE: it ended none) */
        /* Backend=hawkbit: the channel is built from the server's deployment, and the downloads
         * carry the token (the [Network] headers plus Authorization, in a copy of the config). */
        bool hawkbit;
        Config dl_cfg;
        char **dl_headers;
        HawkbitPoll hb;                 /* what the last poll of the server found */
        uint64_t server_sleep_usec;     /* its config.polling.sleep (0: none) */
        struct {                        /* progress reports of the download under way */
                uint64_t action;
                const char *version;
                int pct;
                uint64_t at;
                unsigned sent;
                bool off;
        } progress;
} Poll;

static void poll_done(Poll *p) {
        agent_state_done(&p->st);
        free(p->machine_id);
        channel_free(p->channel);
        free(p->running);
        state_done(&p->dev);
        lock_client_free(p->lock);
        free(p->health_output);
        free(p->install_output);
        strv_free(p->dl_headers);
        hawkbit_poll_done(&p->hb);
}

static char *mfree_str(char *s) {
        free(s);
        return NULL;
}

static uint64_t now_sec(void) {
        return (uint64_t) time(NULL);
}

static uint64_t now_msec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

static int set_string(char **dst, const char *src) {
        char *c = NULL;

        if (src && !(c = strdup(src)))
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

/* MachineID=: the id itself, or the first line of the file it names (default /etc/machine-id). */
static int machine_id_get(const AgentConfig *a, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        if (a->machine_id)
                return (*ret = strdup(a->machine_id)) ? 0 : -ENOMEM;
        r = read_regular_file(a->machine_id_file, 4096, &buf, &len);
        if (r < 0)
                return log_error_errno(r, "Cannot read the machine id from %s (MachineID=): %m", a->machine_id_file);
        buf[strcspn(buf, "\r\n")] = 0;
        if (!*buf)
                return log_error_errno(ENOEXEC, "%s is empty: no machine id (MachineID=).", a->machine_id_file);
        *ret = TAKE_PTR(buf);
        return 0;
}

/* StateDirectory/agent.lock: one poll at a time (the daemon and a timer's --once). */
static int agent_lock(const Config *cfg, int *ret_fd) {
        _cleanup_free_ char *p = path_join(cfg->state_directory, "agent.lock");
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!p)
                return -ENOMEM;
        r = mkdir_parents(cfg->state_directory, 0755);
        if (r < 0 && r != -EEXIST)
                return log_error_errno(r, "Cannot create %s: %m", cfg->state_directory);
        r = dir_check_safe(cfg->state_directory);
        if (r < 0)
                return log_error_errno(r, "%s is unsafe: %s", cfg->state_directory, log_detail() ?: strerror(-r));
        fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open %s: %m", p);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return log_error_errno(EBUSY, "Another agent run is in progress (%s is locked).", p);
                return log_error_errno(errno, "Cannot lock %s: %m", p);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Local time in TimeZone= (UTC, localtime, or an IANA name) as weekday (0 = Monday) and minute. */
static void local_moment(const char *tz, time_t t, unsigned *ret_weekday, unsigned *ret_minute) {
        struct tm tm = {};

        if (!tz || strcmp(tz, "UTC") == 0)
                gmtime_r(&t, &tm);
        else if (strcmp(tz, "localtime") == 0)
                localtime_r(&t, &tm);
        else {
                _cleanup_free_ char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;

                setenv("TZ", tz, 1);
                tzset();
                localtime_r(&t, &tm);
                if (old)
                        setenv("TZ", old, 1);
                else
                        unsetenv("TZ");
                tzset();
        }
        *ret_weekday = (unsigned) ((tm.tm_wday + 6) % 7);
        *ret_minute = (unsigned) (tm.tm_hour * 60 + tm.tm_min);
}

static int windows_parse(const AgentConfig *a, Window **ret, size_t *ret_n) {
        size_t n = 0;
        Window *w;

        for (char **s = a->windows; s && *s; s++)
                n++;
        w = calloc(n + 1, sizeof(Window));
        if (!w)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (window_parse(a->windows[i], &w[i]) < 0) {
                        free(w);
                        return log_error_errno(ENOEXEC, "Window=%s is not a window.", a->windows[i]);
                }
        *ret = w;
        *ret_n = n;
        return 0;
}

/* Is a Window= open now; minutes until one opens (UINT32_MAX: none configured). */
static int window_facts(const AgentConfig *a, uint64_t now, bool *ret_open, uint32_t *ret_next) {
        _cleanup_free_ Window *w = NULL;
        unsigned wd, min;
        size_t n = 0;
        int r;

        r = windows_parse(a, &w, &n);
        if (r < 0)
                return r;
        local_moment(a->time_zone, (time_t) now, &wd, &min);
        *ret_open = window_contains(w, n, wd, min);
        *ret_next = window_next_open(w, n, wd, min);
        return 0;
}

static bool is_active_phase(AgentPhase p) {
        return p != AGENT_PHASE_NONE && p != AGENT_PHASE_DONE;
}

static int slot_holding(const State *s, const char *version) {
        for (int i = 0; version && i < SLOT_MAX; i++)
                if (s->slots[i].state == SLOT_READY && s->slots[i].version && strcmp(s->slots[i].version, version) == 0)
                        return i;
        return -1;
}

/* Reads the world again: the live version and state.json (what a step just changed). */
static int gather_world(Poll *p) {
        _cleanup_free_ char *id = NULL;
        int r;

        p->running = mfree_str(p->running);
        (void) update_live_os(p->cfg, &id, &p->running);
        state_done(&p->dev);
        state_init(&p->dev);
        r = state_load(p->cfg->state_directory, &p->dev);
        if (r == -EUCLEAN)
                return log_error_errno(ENOTRECOVERABLE, "%s/state.json is corrupt: %s", p->cfg->state_directory,
                                       log_detail() ?: "");
        if (r < 0)
                return log_error_errno(r, "Cannot read %s/state.json: %s", p->cfg->state_directory, log_detail() ?: strerror(-r));
        state_apply_booted(p->cfg->runtime_directory, &p->dev);
        return 0;
}

/* The hawkBit action id of an agent action id "hawkbit/<actionId>/<version>"; 0: not one. */
static uint64_t hawkbit_action_of(const char *id) {
        uint64_t n = 0;
        char *end = NULL;

        if (!id || strncmp(id, "hawkbit/", 8) != 0)
                return 0;
        errno = 0;
        n = strtoull(id + 8, &end, 10);
        return errno == 0 && end && *end == '/' ? n : 0;
}

static void facts_fill(Poll *p, AgentFacts *f, const char *const *failed, size_t n_failed) {
        const AgentAction *act = &p->st.action;
        const Channel *c = p->channel;
        int slot;

        *f = (AgentFacts) {
                .channel = c ? c->name : p->st.channel_name,
                .serial = c ? c->serial : p->st.serial,
                .target = c ? c->version : NULL,
                .paused = c ? c->paused : false,
                .rollout = c ? c->rollout : (Rollout) {},
                .last_serial = p->st.serial,
                .last_serial_known = p->hawkbit ? false : p->st.has_serial, /* action ids are the server's */
                .failed_versions = failed,
                .n_failed_versions = n_failed,
                .running = p->running,
                .version_floor = p->dev.version_floor,
                .bucket = c ? agent_bucket(p->machine_id, c->name, c->version) : p->st.bucket,
                .wariness = p->cfg->agent.wariness,
                .now = p->now,
                .strategy = (AgentStrategy) p->cfg->agent.strategy,
                .phase = act->phase,
                .action_version = act->version,
                .lock_held = act->lock_held,
                .lock_refused = p->lock_refused,
                .install_failed = p->install_failed,
                .health = p->health,
        };
        if (c) {
                _cleanup_free_ char *hex = hex_encode(c->digest, sizeof c->digest);
                f->same_document = p->st.digest && hex && strcmp(p->st.digest, hex) == 0;
        }
        if (f->strategy == AGENT_STRATEGY_PERIODIC) {
                uint32_t next;
                (void) window_facts(&p->cfg->agent, p->now, &f->in_window, &next);
        }
        f->action_result = act->result;
        f->rollback_impossible = p->rollback_impossible;
        f->install_transient = p->install_failed && source_network_error(p->install_error);
        if (p->hawkbit) {
                const HawkbitOffer *o = p->hb.offer;

                f->report_download = true;
                f->auto_confirm = p->cfg->hawkbit.auto_confirm;
                f->confirm_waiting = p->hb.confirm_id != 0;
                f->cancel_requested = p->hb.cancel_id != 0;
                f->cancel_is_ours = f->cancel_requested && hawkbit_action_of(act->id) == p->hb.cancel_id;
                if (o && c) {
                        f->download_held = o->handling.download_held;
                        f->update_held = o->handling.update_held;
                        f->forced = o->handling.forced;
                }
        }
        {
                /* Fetched and verified, neither live nor next to boot: the action's version, else the target. */
                const char *v = is_active_phase(act->phase) ? act->version : c ? c->version : NULL;
                slot = slot_holding(&p->dev, v);
                f->downloaded = v && slot >= 0 && p->dev.staged == slot && p->dev.next_boot != slot &&
                                !(p->running && strcmp(p->running, v) == 0);
        }
        if (act->version) {
                f->installed_live = p->running && strcmp(p->running, act->version) == 0;
                slot = slot_holding(&p->dev, act->version);
                f->installed_staged = !f->installed_live && slot >= 0 && p->dev.next_boot == slot;
                /* REBOOTING: what the boot made of it. */
                f->booted_target = f->installed_live && slot >= 0 && p->dev.booted == slot;
                f->booted_good = f->booted_target && p->dev.slots[slot].good;
                f->boot_gave_up = !f->installed_live && (slot < 0 || p->dev.slots[slot].failed ||
                                                         (p->dev.next_boot != slot && p->dev.staged != slot));
        }
}

static int save(Poll *p) {
        int r;

        if (p->o->dry_run)
                return 0;
        r = agent_state_save(p->cfg->state_directory, &p->st);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s/agent.json: %s", p->cfg->state_directory,
                                       log_detail() ?: strerror(-r));
        return 0;
}

static void say(const Poll *p, const char *fmt, ...) _printf_(2, 3);
static void say(const Poll *p, const char *fmt, ...) {
        va_list ap;

        if (p->o->quiet || p->o->json)
                return;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

static int lock_client(Poll *p) {
        if (p->lock)
                return 0;
        return lock_client_new(p->cfg, &p->lock);
}

/* ---- Backend=hawkbit ----------------------------------------------------------------------- */

/* Feedback on an action; a failure to deliver is a warning (the next poll heals a lost verdict:
 * the server offers the action again and the planner reports it again). */
static void hawkbit_send(const Poll *p, uint64_t action, const HawkbitFeedback *fb) {
        int r;

        if (!p->hawkbit || action == 0 || p->o->dry_run)
                return;
        r = hawkbit_feedback(p->cfg, p->machine_id, action, fb);
        if (r < 0)
                log_warning("Cannot send feedback %s/%s on hawkBit action %" PRIu64 ": %s", fb->execution, fb->finished, action,
                            log_detail() ?: strerror(-r));
        else if (r > 0)
                log_info("hawkBit action %" PRIu64 " is over on the server already: nothing more to report.", action);
        else
                log_debug("hawkBit action %" PRIu64 ": sent %s/%s%s.", action, fb->execution, fb->finished,
                          fb->cancel ? " (cancelAction)" : "");
}

static void hawkbit_report(const Poll *p, uint64_t action, const char *execution, const char *finished, const char *details) {
        hawkbit_send(p, action, &(HawkbitFeedback) { .execution = execution, .finished = finished, .details = details });
}

/* The action a report is about: the one in progress, else the server's offer. */
static uint64_t hawkbit_subject(const Poll *p) {
        uint64_t a = hawkbit_action_of(p->st.action.id);

        if (a != 0 && is_active_phase(p->st.action.phase))
                return a;
        return p->hawkbit && p->channel ? p->channel->serial : 0;
}

/* The planner's report: closed + success or failure (never closed + none: hawkBit reads it as success). */
static void hawkbit_closed(const Poll *p, uint64_t action, AgentReport report, const char *details) {
        if (report == AGENT_REPORT_SUCCESS)
                hawkbit_report(p, action, "closed", "success", details ?: "osupdate: healthy");
        else if (report == AGENT_REPORT_FAILURE)
                hawkbit_report(p, action, "closed", "failure", details ?: "osupdate: failed");
}

/* The planner's answer to a cancellation, sent once: the request is then settled for this poll. */
static void hawkbit_cancel_reply(Poll *p, const AgentPlan *plan) {
        uint64_t id = p->hb.cancel_id ?: hawkbit_action_of(p->st.action.id);
        _cleanup_free_ char *why = NULL;

        if (plan->cancel_reply == AGENT_CANCEL_NONE)
                return;
        if (plan->cancel_reply == AGENT_CANCEL_ACCEPT) {
                if (asprintf(&why, "osupdate: cancelled before any switch; %s stays live", p->running ?: "the running version") < 0)
                        why = NULL;
                hawkbit_send(p, id, &(HawkbitFeedback) { .cancel = true, .execution = "closed", .finished = "success",
                                                         .details = why });
                say(p, "Confirmed the cancellation of hawkBit action %" PRIu64 ".", id);
        } else {
                if (asprintf(&why, "osupdate: too late to cancel: %s already switched (%s); the verdict follows",
                             p->st.action.version ?: "?", agent_phase_to_string(p->st.action.phase) ?: "?") < 0)
                        why = NULL;
                hawkbit_send(p, id, &(HawkbitFeedback) { .cancel = true, .execution = "rejected", .finished = "none",
                                                         .details = why });
                say(p, "Too late to cancel hawkBit action %" PRIu64 ": %s already switched.", id, p->st.action.version ?: "?");
        }
        p->hb.cancel_id = 0;
}

/* Polls the server and builds the channel the planner judges from the deployment it offers (none:
 * p->channel stays NULL); a cancellation or a confirmation request is kept in p->hb. */
static int hawkbit_load(Poll *p) {
        _cleanup_(channel_freep) Channel *c = NULL;
        _cleanup_free_ char *auth = NULL, *id = NULL;
        HawkbitOffer *o;
        size_t n;
        int r;

        if (!p->dl_headers) {
                r = hawkbit_auth_header(p->cfg, &auth);
                if (r < 0)
                        return r;
        }
        if (auth) {
                n = strv_length(p->cfg->network.headers);
                p->dl_headers = calloc(n + 2, sizeof(char *));
                if (!p->dl_headers)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++)
                        if (!(p->dl_headers[i] = strdup(p->cfg->network.headers[i])))
                                return -ENOMEM;
                p->dl_headers[n] = TAKE_PTR(auth);
                p->dl_cfg = *p->cfg;
                p->dl_cfg.network.headers = p->dl_headers;
        }
        p->channel = channel_free(p->channel);
        hawkbit_poll_done(&p->hb);
        r = hawkbit_poll(p->cfg, p->machine_id, p->o->dry_run, &p->hb);
        if (r < 0)
                return r;
        p->server_sleep_usec = p->hb.sleep_usec;
        o = p->hb.offer;
        if (!o)
                return 0;
        if (!o->problem && !version_is_valid(o->version))
                o->problem = strdup("the deployment's version is not a version osupdate accepts");
        if (o->problem) {
                log_error("hawkBit action %" PRIu64 ": %s", o->action_id, o->problem);
                hawkbit_report(p, o->action_id, "closed", "failure", o->problem);
                return 0;
        }
        c = calloc(1, sizeof(Channel));
        if (!c || !(c->name = strdup("hawkbit")) || !(c->version = strdup(o->version)) ||
            !(c->urls = calloc(2, sizeof(char *))) || !(c->urls[0] = strdup(o->url)))
                return -ENOMEM;
        c->serial = o->action_id;
        c->size = o->size;
        memcpy(c->sha256, o->sha256, sizeof c->sha256);
        c->rollout = (Rollout) { .percent = 100 };
        if (asprintf(&id, "hawkbit/%" PRIu64 "/%s", o->action_id, o->version) < 0)
                return -ENOMEM;
        if (EVP_Digest(id, strlen(id), c->digest, NULL, EVP_sha256(), NULL) != 1)
                return -ENOMEM;
        p->channel = TAKE_PTR(c);
        return 0;
}

/* Download progress as `proceeding` with result.progress {cnt: percent, of: 100}: at the start,
 * then at most every 10 % and 2 s, and at 100 %, at most 12 times a download (hawkBit keeps 1000 status entries
 * an action); given 5 s each, and given up for this download after one fails. */
static void hawkbit_progress(uint64_t done, uint64_t total, void *userdata) {
        Poll *p = userdata;
        uint64_t now = now_msec();
        int pct = total > 0 ? (int) MIN(done * 100 / total, (uint64_t) 100) : 0;
        char details[160];
        int r;

        if (p->progress.off || p->progress.sent >= 12)
                return;
        if (p->progress.sent > 0 && (pct < p->progress.pct + 10 || (now < p->progress.at + 2000 && pct < 100)))
                return;
        (void) snprintf(details, sizeof details, "osupdate: downloading %s: %d %% (%.1f of %.1f MiB)", p->progress.version ?: "?",
                        pct, (double) done / 1048576.0, (double) total / 1048576.0);
        r = hawkbit_feedback(p->cfg, p->machine_id, p->progress.action,
                             &(HawkbitFeedback) { .execution = "proceeding", .finished = "none", .details = details,
                                                  .progress_cnt = pct, .progress_of = 100, .quick = true });
        if (r < 0) {
                log_debug("Progress report failed (%s): no more for this download.", log_detail() ?: strerror(-r));
                p->progress.off = true;
                return;
        }
        p->progress.sent++;
        p->progress.pct = pct;
        p->progress.at = now;
}

typedef enum InstallMode {
        INSTALL_LIVE,           /* download, verify, switch live (staged for the next boot if it must) */
        INSTALL_DOWNLOAD,       /* download and verify into the inactive slot, staged, not live */
        INSTALL_SWITCH,         /* switch live to the slot that holds it already */
} InstallMode;

static void install_failed(Poll *p, int error, const char *why) {
        if (is_active_phase(p->st.action.phase))
                set_string(&p->st.action.output, why);
        set_string(&p->install_output, why);
        p->install_failed = true;
        p->install_error = error;
}

/* Every URL of the channel in turn (the first, then the mirrors), on network failures only. The
 * version: the action's, else (a download ahead of the update) the channel's. */
static int install(Poll *p, InstallMode mode) {
        _cleanup_(apply_result_done) ApplyResult res = { .slot = -1 };
        const Channel *c = p->channel;
        bool active = is_active_phase(p->st.action.phase);
        const char *v = active ? p->st.action.version : c ? c->version : NULL;
        _cleanup_free_ char *why = NULL;
        uint64_t subject = p->hawkbit ? hawkbit_subject(p) : 0;
        int r = -ENOENT;

        if (!c || !c->version || !v || strcmp(c->version, v) != 0 ||
            (p->hawkbit && active && c->serial != hawkbit_action_of(p->st.action.id))) {
                if (asprintf(&why, "the %s no longer offers %s%s%s%s", p->hawkbit ? "server" : "channel", v ?: "?",
                             c ? " (it names " : "", c ? c->version ?: "?" : "", c ? ")" : "") < 0)
                        return -ENOMEM;
                install_failed(p, -ESTALE, why);
                return 0;
        }
        if (mode == INSTALL_SWITCH) {
                say(p, "Switching to the downloaded %s …", v);
                log_detail_clear();
                r = update_apply_staged(p->cfg, p->keyring, &res);
        } else
                for (size_t i = 0; c->urls[i]; i++) {
                        _cleanup_free_ char *shown = NULL;
                        InstallOptions io = {
                                .source = c->urls[i],
                                .activate = mode == INSTALL_LIVE,
                                .expect_size = c->size,
                                .expect_sha256 = c->sha256,
                                .expect_version = v,
                                .progress = subject ? hawkbit_progress : NULL,
                                .userdata = p,
                        };
                        /* The token goes to the server's own origin only (a CDN link gets none). */
                        bool with_token = p->dl_headers && http_same_origin(p->cfg->hawkbit.server, c->urls[i]);

                        if (fetch_url_redact(c->urls[i], &shown) < 0)
                                return -ENOMEM;
                        apply_result_done(&res);
                        res = (ApplyResult) { .slot = -1 };
                        p->progress = (typeof(p->progress)) { .action = subject, .version = v };
                        say(p, "%s %s from %s …", mode == INSTALL_LIVE ? "Installing" : "Downloading", v, shown);
                        log_detail_clear();
                        r = update_apply(with_token ? &p->dl_cfg : p->cfg, p->keyring, &io, &res);
                        if (r >= 0 || !source_network_error(r))
                                break;
                        log_warning("%s: %s", shown, log_detail() ?: strerror(-r));
                }
        if ((r == -EOPNOTSUPP || r == -ELIBACC) && res.staged_only) {
                say(p, "Staged %s for the next boot: %s", v, log_detail() ?: "it cannot go live now");
                if (asprintf(&why, "osupdate: %s is staged for the next boot (%s); the verdict follows that boot", v,
                             log_detail() ?: "it cannot go live now") >= 0)
                        hawkbit_report(p, subject, "proceeding", "none", why);
                return 0;
        }
        if (r < 0) {
                if (asprintf(&why, "%s failed: %s", mode == INSTALL_DOWNLOAD ? "download" : "install", log_detail() ?: strerror(-r)) < 0)
                        return -ENOMEM;
                log_error("%s", why);
                install_failed(p, r, why);
                return 0;
        }
        if (mode == INSTALL_DOWNLOAD) {
                say(p, "Downloaded and verified %s into slot %s.", v, slot_name(res.slot));
                if (asprintf(&why, "osupdate: %s downloaded into slot %s; its SHA-256 and signatures verified", v,
                             slot_name(res.slot)) >= 0)
                        hawkbit_report(p, subject, "downloaded", "none", why);
                return 0;
        }
        say(p, "Updated live: %s -> %s (slot %s).", res.previous_version ?: "?", res.version ?: "?", slot_name(res.slot));
        if (asprintf(&why, "osupdate: %s is live (slot %s); running the health checks", v, slot_name(res.slot)) >= 0)
                hawkbit_report(p, subject, "proceeding", "none", why);
        return 0;
}

/* The checks, again and again within Grace= until they pass. */
static int health(Poll *p) {
        uint64_t deadline = now_sec() + p->cfg->agent.grace_usec / 1000000ULL;
        int r;

        for (;;) {
                p->health_output = mfree_str(p->health_output);
                r = health_run(&p->cfg->agent, p->st.action.version, p->st.action.previous_version, &p->health_output);
                if (r < 0)
                        return log_error_errno(r, "Cannot run the health checks: %s", log_detail() ?: strerror(-r));
                if (r > 0 || now_sec() >= deadline)
                        break;
                log_info("Health check failed, retrying within Grace=: %s", p->health_output ?: "");
                (void) sd_notify(0, "WATCHDOG=1"); /* a long Grace= is not a hang */
                sleep(deadline - now_sec() < 2 ? (unsigned) (deadline - now_sec()) : 2);
        }
        p->health = r > 0 ? 1 : 0;
        say(p, "Health checks %s%s%s", r > 0 ? "passed" : "FAILED: ", r > 0 ? "" : p->health_output ?: "",
            r > 0 ? "." : "");
        return 0;
}

/* The action ends: its result, into the history. */
static int finish_action(Poll *p, const AgentPlan *plan) {
        int r;

        if (plan->result != AGENT_RESULT_NONE)
                p->st.action.result = plan->result;
        /* Before the action is archived: a crash in between resends it, and the server answers 410. */
        if (p->hawkbit && plan->report != AGENT_REPORT_NONE) {
                _cleanup_free_ char *why = NULL;
                if (asprintf(&why, "osupdate: %s%s%s", plan->reason, p->st.action.output ? "\n" : "",
                             p->st.action.output ?: "") < 0)
                        return -ENOMEM;
                hawkbit_closed(p, hawkbit_action_of(p->st.action.id), plan->report, why);
        }
        if (plan->give_up_version && p->st.action.version) {
                r = agent_state_give_up(&p->st, p->st.action.version);
                if (r < 0)
                        return r;
        }
        p->st.action.phase = AGENT_PHASE_DONE;
        p->st.action.finished = now_sec();
        p->finished = p->st.action.result;
        if (!plan->history) {
                /* Not a verdict on the version (a network failure, a mirror serving other bytes, no
                 * slot free): the next poll tries again. The history keeps verdicts only, so that
                 * retries do not push them out; the reason stays in last_error. */
                if (set_string(&p->install_output, p->st.action.output) < 0)
                        return -ENOMEM;
                say(p, "Action %s: not installed, the next poll tries again.", p->st.action.id ?: "?");
                agent_action_done(&p->st.action);
                return save(p);
        }
        say(p, "Action %s: %s.", p->st.action.id ?: "?", agent_result_to_string(p->st.action.result));
        r = agent_state_archive_action(&p->st);
        if (r < 0)
                return r;
        return save(p);
}

static int start_action(Poll *p, AgentPhase phase) {
        AgentAction *a = &p->st.action;
        char id[512];
        int r;

        agent_action_done(a);
        snprintf(id, sizeof id, "%s/%" PRIu64 "/%s", p->channel->name, p->channel->serial, p->channel->version);
        *a = (AgentAction) { .phase = phase, .started = now_sec() };
        if (set_string(&a->id, id) < 0 || set_string(&a->version, p->channel->version) < 0 ||
            set_string(&a->previous_version, p->running) < 0)
                return -ENOMEM;
        r = save(p);
        if (r < 0)
                return r;
        if (p->hawkbit) {
                _cleanup_free_ char *why = NULL;
                if (asprintf(&why, "osupdate: updating %s to %s%s", p->running ?: "(unknown)", a->version,
                             phase == AGENT_PHASE_LOCKING ? "; taking a slot of the fleet semaphore first" : "") < 0)
                        return -ENOMEM;
                hawkbit_report(p, hawkbit_action_of(a->id), "proceeding", "none", why);
        }
        return 0;
}

/* Records the document as accepted: the serial is the floor for every later one. */
static int accept_channel(Poll *p) {
        _cleanup_free_ char *hex = NULL;

        if (!p->channel)
                return 0;
        hex = hex_encode(p->channel->digest, sizeof p->channel->digest);
        if (!hex)
                return -ENOMEM;
        p->st.serial = p->channel->serial;
        p->st.has_serial = true;
        if (set_string(&p->st.digest, hex) < 0 || set_string(&p->st.channel_name, p->channel->name) < 0 ||
            set_string(&p->st.channel_version, p->channel->version) < 0)
                return -ENOMEM;
        return 0;
}

static void rollout_text(const Channel *c, char *buf, size_t size) {
        char t[64];

        if (!c->rollout.linear)
                snprintf(buf, size, "%g %%", c->rollout.percent);
        else
                snprintf(buf, size, "linear from %s over %" PRIu64 " s", format_timestamp(t, sizeof t, (time_t) c->rollout.start),
                         c->rollout.duration);
}

static json_object *plan_to_json(const Poll *p, const AgentFacts *f, const AgentPlan *plan) {
        json_object *o = json_object_new_object(), *ch = NULL;

        json_object_object_add(o, "machine_id", json_object_new_string(p->machine_id));
        if (p->channel) {
                char r[128];
                ch = json_object_new_object();
                json_object_object_add(ch, "url", json_object_new_string(p->hawkbit ? p->cfg->hawkbit.server : p->cfg->agent.channel));
                json_object_object_add(ch, "name", json_object_new_string(p->channel->name));
                json_object_object_add(ch, "serial", json_object_new_uint64(p->channel->serial));
                json_object_object_add(ch, "version", json_object_new_string(p->channel->version));
                json_object_object_add(ch, "paused", json_object_new_boolean(p->channel->paused));
                rollout_text(p->channel, r, sizeof r);
                json_object_object_add(ch, "rollout", json_object_new_string(r));
        }
        json_object_object_add(o, "channel", ch);
        json_object_object_add(o, "running", p->running ? json_object_new_string(p->running) : NULL);
        json_object_object_add(o, "bucket", json_object_new_double(f->bucket));
        json_object_object_add(o, "wary_bucket", json_object_new_double(plan->wary_bucket));
        json_object_object_add(o, "reached", json_object_new_double(plan->reached));
        json_object_object_add(o, "takes_release", json_object_new_boolean(plan->takes_release));
        json_object_object_add(o, "strategy", json_object_new_string(agent_strategy_to_string(f->strategy) ?: "?"));
        if (f->strategy == AGENT_STRATEGY_PERIODIC) {
                json_object *w = json_object_new_object();
                bool open = false;
                uint32_t next = UINT32_MAX;
                (void) window_facts(&p->cfg->agent, p->now, &open, &next);
                json_object_object_add(w, "open", json_object_new_boolean(open));
                json_object_object_add(w, "opens_in_minutes", next == UINT32_MAX ? NULL : json_object_new_int64(next));
                json_object_object_add(o, "window", w);
        }
        json_object_object_add(o, "phase", json_object_new_string(agent_phase_to_string(f->phase) ?: "?"));
        json_object_object_add(o, "step", json_object_new_string(agent_step_to_string(plan->step) ?: "?"));
        json_object_object_add(o, "reason", json_object_new_string(plan->reason));
        if (plan->error)
                json_object_object_add(o, "error", json_object_new_string(strerror(-plan->error)));
        return o;
}

/* --dry-run: the lock's state too, asked, not taken. */
static void dry_run_lock(Poll *p, json_object *o) {
        _cleanup_strv_free_ char **holders = NULL;
        json_object *l, *h;
        unsigned total = 0;
        int r;

        if (p->cfg->agent.strategy != AGENT_STRATEGY_FLEET_LOCK)
                return;
        l = json_object_new_object();
        json_object_object_add(l, "group", json_object_new_string(p->cfg->agent.group));
        r = lock_client(p);
        if (r >= 0)
                r = lock_status(p->lock, p->cfg->agent.group, &total, &holders);
        if (r >= 0) {
                json_object_object_add(l, "total_slots", json_object_new_int((int) total));
                h = json_object_new_array();
                for (char **s = holders; s && *s; s++)
                        json_object_array_add(h, json_object_new_string(*s));
                json_object_object_add(l, "holders", h);
        } else
                json_object_object_add(l, "status", json_object_new_string(r == -EOPNOTSUPP ? "FleetLock cannot be asked" :
                                                                           r == -ENOENT ? "no semaphore yet" : strerror(-r)));
        json_object_object_add(o, "lock", l);
}

static int poll_dry_run(Poll *p) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        AgentFacts f;
        AgentPlan plan;

        facts_fill(p, &f, (const char *const *) p->st.failed_versions, strv_length(p->st.failed_versions));
        agent_plan(&f, &plan);
        o = plan_to_json(p, &f, &plan);
        dry_run_lock(p, o);
        if (p->o->json)
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
        else {
                printf("Channel:   %s serial %" PRIu64 ", version %s%s\n", f.channel ?: "?", f.serial, f.target ?: "?",
                       f.paused ? ", paused" : "");
                printf("Running:   %s\n", p->running ?: "(unknown)");
                printf("Bucket:    %.2f (with wariness %.2f: %.2f); rollout at %.2f %%: %s\n", f.bucket, f.wariness,
                       plan.wary_bucket, plan.reached, plan.takes_release ? "this machine takes it" : "not yet");
                printf("Strategy:  %s%s\n", agent_strategy_to_string(f.strategy) ?: "?",
                       f.strategy == AGENT_STRATEGY_PERIODIC ? (f.in_window ? ", a window is open" : ", no window open") : "");
                printf("Would:     %s: %s\n", agent_step_to_string(plan.step) ?: "?", plan.reason);
        }
        return plan.step == AGENT_STEP_REFUSE ? plan.error : 0;
}

/* Carries out plans until one says to stop. */
static int poll_run(Poll *p) {
        int r;

        for (unsigned turn = 0;; turn++) {
                AgentFacts f;
                AgentPlan plan;

                if (turn > 32)
                        return log_error_errno(ELOOP, "The agent's plans do not converge (phase %s): a bug.",
                                               agent_phase_to_string(p->st.action.phase) ?: "?");
                (void) sd_notify(0, "WATCHDOG=1"); /* between steps; ignored where no watchdog is set */
                r = gather_world(p);
                if (r < 0)
                        return r;
                facts_fill(p, &f, (const char *const *) p->st.failed_versions, strv_length(p->st.failed_versions));
                agent_plan(&f, &plan);
                log_debug("agent: phase %s → %s: %s", agent_phase_to_string(f.phase) ?: "?",
                          agent_step_to_string(plan.step) ?: "?", plan.reason);
                p->st.reached = plan.reached;
                p->st.bucket = f.bucket;
                set_string(&p->st.step, agent_step_to_string(plan.step));
                set_string(&p->st.reason, plan.reason);
                if (p->channel && plan.step != AGENT_STEP_REFUSE) {
                        char rt[128];
                        rollout_text(p->channel, rt, sizeof rt);
                        set_string(&p->st.rollout, rt);
                        r = accept_channel(p);
                        if (r < 0)
                                return log_oom();
                }

                if (p->hawkbit) {
                        hawkbit_cancel_reply(p, &plan);
                        /* The planner's word on the offer itself (already running it, failed here
                         * before, refused); a verdict on an action goes out when it finishes. */
                        if (p->channel && p->finished == AGENT_RESULT_NONE && (plan.step == AGENT_STEP_IDLE ||
                            plan.step == AGENT_STEP_ACCEPT || plan.step == AGENT_STEP_REFUSE)) {
                                _cleanup_free_ char *why = NULL;
                                if (asprintf(&why, "osupdate: %s%s%s", plan.reason, p->install_output ? "\n" : "",
                                             p->install_output ?: "") >= 0)
                                        hawkbit_closed(p, p->channel->serial, plan.report, why);
                        }
                }

                switch (plan.step) {
                case AGENT_STEP_IDLE:
                case AGENT_STEP_ACCEPT:
                        if (!p->changed)
                                say(p, "%s", plan.reason);
                        return save(p);
                case AGENT_STEP_REFUSE:
                        set_string(&p->st.last_error, plan.reason);
                        (void) save(p);
                        return log_error_errno(plan.error, "Channel refused: %s", plan.reason);
                case AGENT_STEP_WAIT_BOOT:
                        if (p->st.action.phase != AGENT_PHASE_REBOOTING) {
                                p->st.action.phase = AGENT_PHASE_REBOOTING;
                                say(p, "%s is staged: the next boot and its mark-good decide.", p->st.action.version);
                                r = save(p);
                                if (r < 0)
                                        return r;
                        }
                        return save(p);
                case AGENT_STEP_LOCK:
                        if (plan.new_action || !is_active_phase(p->st.action.phase)) {
                                r = start_action(p, AGENT_PHASE_LOCKING);
                                if (r < 0)
                                        return r;
                                say(p, "%s", plan.reason);
                        }
                        r = lock_client(p);
                        if (r < 0)
                                return r;
                        r = lock_acquire(p->lock, p->machine_id, p->cfg->agent.group);
                        if (r == -EAGAIN) {
                                say(p, "The fleet semaphore is full (%s): waiting for a slot.", log_detail() ?: "");
                                p->lock_refused = true;
                                continue;
                        }
                        if (r < 0)
                                return log_error_errno(r, "Cannot take a slot of the fleet semaphore: %s", log_detail() ?: strerror(-r));
                        p->st.action.lock_held = true;
                        p->st.action.lock_taken = now_msec();
                        p->st.action.phase = AGENT_PHASE_INSTALLING;
                        say(p, "Took a slot of the fleet semaphore (group %s).", p->cfg->agent.group);
                        break;
                case AGENT_STEP_INSTALL:
                case AGENT_STEP_DOWNLOAD:
                case AGENT_STEP_SWITCH:
                        if (plan.new_action) {
                                r = start_action(p, AGENT_PHASE_INSTALLING);
                                if (r < 0)
                                        return r;
                                say(p, "%s", plan.reason);
                        }
                        /* No action and DOWNLOAD: fetched ahead of an update the server holds. */
                        if (is_active_phase(p->st.action.phase)) {
                                p->st.action.phase = AGENT_PHASE_INSTALLING;
                                r = save(p);
                                if (r < 0)
                                        return r;
                        } else if (plan.step != AGENT_STEP_DOWNLOAD)
                                return log_error_errno(EINVAL, "Step %s without an action: a bug.", agent_step_to_string(plan.step));
                        else
                                say(p, "%s", plan.reason);
                        r = install(p, plan.step == AGENT_STEP_INSTALL ? INSTALL_LIVE :
                                       plan.step == AGENT_STEP_DOWNLOAD ? INSTALL_DOWNLOAD : INSTALL_SWITCH);
                        if (r < 0)
                                return r;
                        break;
                case AGENT_STEP_CANCEL:
                        p->st.action.result = AGENT_RESULT_CANCELED;
                        p->st.action.phase = AGENT_PHASE_RELEASING;
                        set_string(&p->st.action.output, plan.reason);
                        p->hb.cancel_id = 0; /* settled: the confirmation goes out as the action ends */
                        say(p, "%s", plan.reason);
                        break;
                case AGENT_STEP_CONFIRM: {
                        uint64_t id = p->hb.confirm_id;

                        r = hawkbit_confirm(p->cfg, p->machine_id, id, "osupdate: AutoConfirm=yes");
                        if (r < 0)
                                return log_error_errno(r, "Cannot confirm hawkBit action %" PRIu64 ": %s", id,
                                                       log_detail() ?: strerror(-r));
                        say(p, "Confirmed hawkBit action %" PRIu64 " (AutoConfirm=yes).", id);
                        /* Confirmed, the action comes as a deployment: poll again. */
                        r = hawkbit_load(p);
                        if (r < 0)
                                return log_error_errno(r, "Cannot poll the hawkBit server again: %s", log_detail() ?: strerror(-r));
                        p->hb.confirm_id = 0; /* once a poll, whatever the server says now */
                        p->changed = true;
                        continue;
                }
                case AGENT_STEP_HEALTH:
                        p->st.action.phase = AGENT_PHASE_CHECKING;
                        r = save(p);
                        if (r < 0)
                                return r;
                        r = health(p);
                        if (r < 0)
                                return r;
                        break;
                case AGENT_STEP_MARK_GOOD:
                        r = update_mark_good(p->cfg, false);
                        if (r < 0)
                                return log_error_errno(r, "mark-good failed: %s", log_detail() ?: strerror(-r));
                        p->st.action.result = AGENT_RESULT_SUCCESS;
                        p->st.action.phase = AGENT_PHASE_RELEASING;
                        set_string(&p->st.action.output, p->health_output);
                        say(p, "Marked %s good.", p->st.action.version);
                        break;
                case AGENT_STEP_ROLLBACK: {
                        _cleanup_(apply_result_done) ApplyResult res = { .slot = -1 };

                        p->st.action.result = AGENT_RESULT_FAILURE;
                        p->st.action.phase = AGENT_PHASE_ROLLING_BACK;
                        if (p->health_output)
                                set_string(&p->st.action.output, p->health_output);
                        r = agent_state_give_up(&p->st, p->st.action.version);
                        if (r < 0)
                                return r;
                        r = save(p);
                        if (r < 0)
                                return r;
                        r = update_rollback(p->cfg, p->keyring, &res);
                        if (r == -ENOMEDIUM) {
                                /* Nothing to go back to: the planner ends the action (the failure stands,
                                 * the slot of the semaphore is given back). */
                                _cleanup_free_ char *why = NULL;
                                log_error("Cannot roll back: %s %s stays live.", log_detail() ?: "no slot to go back to;",
                                          p->st.action.version);
                                if (asprintf(&why, "%s; no slot to roll back to: %s stays live", p->st.action.output ?: "unhealthy",
                                             p->st.action.version) >= 0)
                                        set_string(&p->st.action.output, why);
                                p->rollback_impossible = true;
                        } else if (r < 0)
                                return log_error_errno(r, "Rollback failed: %s", log_detail() ?: strerror(-r));
                        else
                                say(p, "Rolled back live: %s -> %s.", res.previous_version ?: "?", res.version ?: "?");
                        break;
                }
                case AGENT_STEP_RELEASE:
                        r = lock_client(p);
                        if (r >= 0)
                                r = lock_release(p->lock, p->machine_id, p->cfg->agent.group);
                        if (r < 0)
                                return log_error_errno(r, "Cannot give the slot back: %s", log_detail() ?: strerror(-r));
                        p->st.action.lock_held = false;
                        p->st.action.lock_released = now_msec();
                        say(p, "Gave the slot of the fleet semaphore back.");
                        return finish_action(p, &plan);
                case AGENT_STEP_FINISH:
                        /* An action ended: the next one, if any, starts at the next poll. */
                        return finish_action(p, &plan);
                default:
                        return log_error_errno(EINVAL, "Unknown agent step %d.", (int) plan.step);
                }
                p->changed = true;
                r = save(p);
                if (r < 0)
                        return r;
        }
}

/* The result of the poll for the exit code: an install that failed → its error; the action this
 * poll finished failed (unhealthy, rolled back) → -ECANCELED. */
static int poll_verdict(const Poll *p, int r) {
        const AgentAction *last;

        if (r < 0)
                return r;
        if (p->install_failed && p->install_error < 0)
                return log_error_errno(p->install_error, "Not installed: %s", p->install_output ?: "?");
        last = p->st.n_history > 0 ? &p->st.history[p->st.n_history - 1] : NULL;
        if (last && p->finished == AGENT_RESULT_FAILURE)
                return log_error_errno(ECANCELED, "%s failed: %s", last->version ?: "?", last->output ?: "");
        return 0;
}

int agent_poll(const Config *cfg, const Keyring *keyring, const AgentOptions *o, uint64_t *ret_server_sleep_usec) {
        _cleanup_close_ int lock_fd = -EBADF;
        Poll p = { .cfg = cfg, .keyring = keyring, .o = o, .health = -1, .now = now_sec() };
        int r;

        agent_state_init(&p.st);
        state_init(&p.dev);
        p.hawkbit = cfg->agent.backend == AGENT_BACKEND_HAWKBIT;
        if (p.hawkbit && !cfg->hawkbit.server) {
                r = log_error_errno(ENOEXEC, "Backend=hawkbit needs Server= in the [hawkBit] section.");
                goto out;
        }
        if (!p.hawkbit && !cfg->agent.channel) {
                r = log_error_errno(ENOEXEC, "No channel: set Channel= in the [Agent] section.");
                goto out;
        }
        if (cfg->agent.strategy == AGENT_STRATEGY_FLEET_LOCK && !cfg->agent.fleet_lock && !cfg->agent.etcd) {
                r = log_error_errno(ENOEXEC, "Strategy=fleet-lock needs FleetLock= or Etcd= in the [Agent] section.");
                goto out;
        }
        if (cfg->agent.strategy == AGENT_STRATEGY_PERIODIC && !cfg->agent.windows) {
                r = log_error_errno(ENOEXEC, "Strategy=periodic needs at least one Window= in the [Agent] section.");
                goto out;
        }
        r = machine_id_get(&cfg->agent, &p.machine_id);
        if (r < 0)
                goto out;
        if (!o->dry_run) {
                r = agent_lock(cfg, &lock_fd);
                if (r < 0)
                        goto out;
        }
        r = agent_state_load(cfg->state_directory, &p.st);
        if (r == -EUCLEAN) {
                r = log_error_errno(ENOTRECOVERABLE, "%s/agent.json is corrupt (%s): the agent does nothing until an operator "
                                    "looks at it (remove it to start afresh; a slot of the fleet semaphore may still be held).",
                                    cfg->state_directory, log_detail() ?: "");
                goto out;
        }
        if (r < 0) {
                log_error_errno(r, "Cannot read %s/agent.json: %s", cfg->state_directory, log_detail() ?: strerror(-r));
                goto out;
        }
        if (set_string(&p.st.machine_id, p.machine_id) < 0 ||
            set_string(&p.st.channel_url, p.hawkbit ? cfg->hawkbit.server : cfg->agent.channel) < 0) {
                r = log_oom();
                goto out;
        }
        r = gather_world(&p);
        if (r < 0)
                goto out;
        /* An action that waits for a boot, or only has to report, needs no channel; every other
         * poll reads it (a failure to read it is this poll's failure). */
        if (p.hawkbit)
                r = hawkbit_load(&p);
        else
                r = channel_load(cfg, cfg->agent.channel, keyring, (time_t) p.now, &p.channel);
        if (r >= 0 && p.channel && !p.hawkbit && is_active_phase(p.st.action.phase)) {
                /* agent_plan() judges the serial between actions; during one, a replayed older document
                 * (or another under the accepted serial) must neither be accepted (it would lower the
                 * floor) nor steer the action: it is a channel this poll cannot use. */
                _cleanup_free_ char *hex = hex_encode(p.channel->digest, sizeof p.channel->digest);
                char why[256];

                if (!hex)
                        r = log_oom();
                else if (agent_serial_check(p.channel->serial, p.st.digest && strcmp(p.st.digest, hex) == 0, p.st.has_serial,
                                            p.st.serial, p.channel->name, why, sizeof why) < 0)
                        r = log_debug_errno(EBADE, "%s", why);
                if (r < 0)
                        p.channel = channel_free(p.channel);
        }
        if (r < 0) {
                p.channel_error = r;
                if (!is_active_phase(p.st.action.phase) || p.st.action.phase == AGENT_PHASE_INSTALLING ||
                    p.st.action.phase == AGENT_PHASE_LOCKING) {
                        _cleanup_free_ char *why = NULL;
                        if (p.hawkbit)
                                (void) asprintf(&why, "cannot poll the hawkBit server %s: %s", cfg->hawkbit.server,
                                                log_detail() ?: strerror(-r));
                        else
                                (void) asprintf(&why, "cannot read the channel %s: %s", cfg->agent.channel,
                                                log_detail() ?: strerror(-r));
                        log_error("%s", why ?: "cannot read the channel");
                        if (!o->dry_run) {
                                set_string(&p.st.last_error, why);
                                p.st.errors++;
                                p.st.last_check = p.now;
                                (void) save(&p);
                        }
                        goto out;
                }
                log_warning("Cannot read the channel (%s); carrying on with action %s.", log_detail() ?: strerror(-r),
                            p.st.action.id ?: "?");
        }
        if (o->dry_run) {
                r = poll_dry_run(&p);
                goto out;
        }
        p.st.last_check = p.now;
        r = poll_verdict(&p, poll_run(&p));
        if (r >= 0 || r == -ECANCELED) {
                p.st.errors = 0;
                set_string(&p.st.last_error, NULL);
        } else {
                p.st.errors++;
                if (p.install_output)
                        set_string(&p.st.last_error, p.install_output);
                else if (!p.st.last_error || strcmp(p.st.step ?: "", "refuse") != 0)
                        set_string(&p.st.last_error, log_detail() ?: strerror(-r));
        }
        (void) save(&p);
        if (o->json) {
                _cleanup_free_ char *t = agent_state_to_json(&p.st);
                if (t)
                        printf("%s\n", t);
        }
out:
        if (ret_server_sleep_usec)
                *ret_server_sleep_usec = p.server_sleep_usec;
        poll_done(&p);
        return r;
}

/* ---- The daemon -------------------------------------------------------------------------- */

/* Sleeps up to usec, pinging the watchdog; true when a stop signal came. */
static bool sleep_or_stop(int sfd, uint64_t usec, uint64_t watchdog_usec) {
        uint64_t left = usec;

        while (left > 0) {
                uint64_t step = watchdog_usec ? (watchdog_usec / 2 < left ? watchdog_usec / 2 : left) : left;
                struct pollfd pfd = { .fd = sfd, .events = POLLIN };
                int r;

                if (step > 60 * 1000000ULL)
                        step = 60 * 1000000ULL;
                r = poll(&pfd, 1, (int) (step / 1000));
                if (r > 0)
                        return true;
                if (watchdog_usec)
                        (void) sd_notify(0, "WATCHDOG=1");
                left -= step;
        }
        return false;
}

int agent_daemon(const Config *cfg, const Keyring *keyring, const AgentOptions *o) {
        _cleanup_close_ int sfd = -EBADF;
        uint64_t watchdog_usec = 0;
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Cannot block signals: %m");
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0)
                return log_error_errno(errno, "signalfd: %m");
        if (sd_watchdog_enabled(false, &watchdog_usec) <= 0)
                watchdog_usec = 0;
        {
                /* The jitter must differ between machines started together (rand() unseeded would not). */
                unsigned seed;
                if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t) sizeof seed)
                        seed = (unsigned) time(NULL) ^ ((unsigned) getpid() << 16);
                srand(seed);
        }
        (void) sd_notifyf(0, "READY=1\nSTATUS=Polling %s every %" PRIu64 " s", cfg->agent.channel ?: "(no channel)",
                          (uint64_t) (cfg->agent.interval_usec / 1000000U));
        log_info("osupdate agent: polling %s every %" PRIu64 " s (± 10 %%), strategy %s.", cfg->agent.channel ?: "?",
                 (uint64_t) (cfg->agent.interval_usec / 1000000U), agent_strategy_to_string((AgentStrategy) cfg->agent.strategy) ?: "?");
        for (unsigned errors = 0;;) {
                uint64_t delay, server_sleep = 0;
                int r;

                if (watchdog_usec)
                        (void) sd_notify(0, "WATCHDOG=1");
                r = agent_poll(cfg, keyring, o, &server_sleep);
                if (r == -ENOEXEC) {
                        /* A configuration error: polling again reads the same configuration. */
                        (void) sd_notify(0, "STOPPING=1\nSTATUS=Configuration error: see the log");
                        return r;
                }
                if (r < 0 && r != -ECANCELED && r != -EBUSY) {
                        errors++;
                        delay = agent_next_poll_usec(cfg->agent.interval_usec, 0, errors, (double) rand() / ((double) RAND_MAX + 1));
                        (void) sd_notifyf(0, "STATUS=Poll failed (%s); next in %" PRIu64 " s", strerror(-r), (uint64_t) (delay / 1000000U));
                        log_info("osupdate agent: poll failed (%s): backing off, next poll in %.3f s (%u in a row).", strerror(-r),
                                 (double) delay / 1e6, errors);
                } else {
                        errors = 0;
                        delay = agent_next_poll_usec(cfg->agent.interval_usec, server_sleep, 0, (double) rand() / ((double) RAND_MAX + 1));
                        (void) sd_notifyf(0, "STATUS=Next poll in %" PRIu64 " s", (uint64_t) (delay / 1000000U));
                        log_info("osupdate agent: next poll in %.3f s%s.", (double) delay / 1e6,
                                 server_sleep ? " (the server's polling interval)" : "");
                }
                if (sleep_or_stop(sfd, delay, watchdog_usec))
                        break;
        }
        (void) sd_notify(0, "STOPPING=1");
        log_info("osupdate agent: stopping.");
        return 0;
}

/* ---- osupdate status --------------------------------------------------------------------- */

void agent_status(const Config *cfg, json_object *o) {
        _cleanup_(agent_state_done) AgentState st;
        char t1[64], t2[64], action_text[32];
        uint64_t action;
        bool hawkbit;
        int r;

        agent_state_init(&st);
        r = agent_state_load(cfg->state_directory, &st);
        if (r < 0 || (!st.last_check && !st.action.id && st.n_history == 0)) {
                if (!o && r < 0)
                        printf("Agent:         cannot read agent.json: %s\n", log_detail() ?: strerror(-r));
                return;
        }
        /* hawkBit: the action in progress, else the server's last offer (its action id is the serial). */
        hawkbit = cfg->agent.backend == AGENT_BACKEND_HAWKBIT;
        action = hawkbit_action_of(st.action.id);
        if (hawkbit && action == 0 && st.has_serial && st.channel_name && strcmp(st.channel_name, "hawkbit") == 0)
                action = st.serial;
        (void) snprintf(action_text, sizeof action_text, "%" PRIu64, action);
        if (o) {
                _cleanup_free_ char *text = agent_state_to_json(&st);
                json_object *a = NULL;

                if (text && json_parse_strict(text, strlen(text), &a) >= 0) {
                        json_object_object_add(a, "strategy", json_object_new_string(
                                                              agent_strategy_to_string((AgentStrategy) cfg->agent.strategy) ?: "?"));
                        json_object_object_add(a, "backend", json_object_new_string(hawkbit ? "hawkbit" : "channel"));
                        if (hawkbit) {
                                json_object *h = json_object_new_object();
                                json_object_object_add(h, "server", json_object_new_string(cfg->hawkbit.server ?: ""));
                                json_object_object_add(h, "tenant", json_object_new_string(cfg->hawkbit.tenant ?: "DEFAULT"));
                                json_object_object_add(h, "controller_id", json_object_new_string(
                                                                           cfg->hawkbit.controller_id ?: st.machine_id ?: ""));
                                json_object_object_add(h, "action_id", action ? json_object_new_uint64(action) : NULL);
                                json_object_object_add(a, "hawkbit", h);
                        }
                        json_object_object_add(o, "agent", a);
                }
                return;
        }
        if (hawkbit)
                printf("Agent:         hawkBit %s (tenant %s, controller %s), action %s, version %s\n", cfg->hawkbit.server ?: "?",
                       cfg->hawkbit.tenant ?: "DEFAULT", cfg->hawkbit.controller_id ?: st.machine_id ?: "?",
                       action ? action_text : "none", st.channel_version ?: "?");
        else
                printf("Agent:         channel %s serial %" PRIu64 " (%s), version %s\n", st.channel_name ?: "?", st.serial,
                       st.channel_url ?: "?", st.channel_version ?: "?");
        printf("Rollout:       %s, reached %.2f %%; this machine's bucket %.2f; strategy %s\n", st.rollout ?: "?", st.reached,
               st.bucket, agent_strategy_to_string((AgentStrategy) cfg->agent.strategy) ?: "?");
        printf("Last check:    %s%s%s\n", st.last_check ? format_timestamp(t1, sizeof t1, (time_t) st.last_check) : "never",
               st.reason ? ": " : "", st.reason ?: "");
        if (st.last_error)
                printf("Last error:    %s (%u in a row)\n", st.last_error, st.errors);
        if (st.action.id)
                printf("Action:        %s: version %s, phase %s%s%s\n", st.action.id, st.action.version ?: "?",
                       agent_phase_to_string(st.action.phase) ?: "?", st.action.lock_held ? ", holds a slot of the fleet semaphore" : "",
                       st.action.started ? "" : "");
        else
                printf("Action:        none\n");
        for (unsigned i = st.n_history; i > 0 && i + 3 > st.n_history; i--) {
                const AgentAction *h = &st.history[i - 1];
                printf("  %s  %-24s %-8s%s%.200s\n", h->finished ? format_timestamp(t2, sizeof t2, (time_t) h->finished) : "-",
                       h->id ?: "?", agent_result_to_string(h->result) ?: "?", h->output ? "  " : "", h->output ?: "");
        }
        for (char **v = st.failed_versions; v && *v; v++)
                printf("Not retried:   %s (failed here)\n", *v);
}
