/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent-loop.h"
#include "apply.h"
#include "cli.h"
#include "cmd-update.h"
#include "config.h"
#include "json-util.h"
#include "log.h"
#include "mount.h"
#include "parse-util.h"
#include "namespace.h"
#include "plan.h"
#include "fileio.h"
#include "policy-load.h"
#include "propagate.h"
#include "release.h"
#include "facts.h"
#include "verity-activate.h"

typedef struct Args {
        const char *config;
        const char *keys;
        bool json;
        bool quiet;
        bool raise_floor;
        bool staged;
        bool dry_run;
        const char *operand;
} Args;

/* The options the update verbs share; updater/cli.c has parsed and checked them. */
static Args args_from_cli(const CliArgs *c) {
        return (Args) {
                .config = cli_value(c, CLI_CONFIG),
                .keys = cli_value(c, CLI_KEYS),
                .json = cli_flag(c, CLI_JSON),
                .quiet = cli_quiet(c),
                .raise_floor = cli_flag(c, CLI_RAISE_FLOOR),
                .staged = cli_flag(c, CLI_STAGED),
                .dry_run = cli_flag(c, CLI_DRY_RUN),
                .operand = c->n_operands > 0 ? c->operands[0] : NULL,
        };
}

static int load_config(const Args *a, Config *cfg) {
        return config_load(a->config, cfg);
}

static int fail(int r, const char *what) {
        return log_error_errno(r, "%s: %s", what, log_detail() ?: strerror(-r));
}

static void print_switch(const Args *a, const ApplyResult *res, const char *what) {
        if (a->quiet)
                return;
        printf("%s: %s -> %s in slot %s%s.\n", what, res->previous_version ?: "(none)", res->version ?: "?",
               slot_name(res->slot), res->degraded ? " (verity checked in userspace: degraded, no device-mapper)" : "");
}

/* Progress: a bar on stderr when it is a terminal; with --json, one JSON line per event on stdout. */
typedef struct Progress {
        bool json;
        bool tty;
        uint64_t start_usec;
} Progress;

static uint64_t mono_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

static void on_progress(uint64_t done, uint64_t total, void *userdata) {
        Progress *p = userdata;
        double secs = (double) (mono_usec() - p->start_usec) / 1e6, rate = secs > 0 ? (double) done / secs : 0;

        if (p->json) {
                printf("{\"event\": \"progress\", \"bytes\": %llu, \"total\": %llu, \"rate\": %.0f}\n",
                       (unsigned long long) done, (unsigned long long) total, rate);
                fflush(stdout);
        }
        if (p->tty) {
                char bar[31];
                unsigned filled = total ? (unsigned) (30.0 * (double) done / (double) total) : 0;
                double eta = rate > 0 && total > done ? (double) (total - done) / rate : 0;

                memset(bar, '#', MIN(filled, 30U));
                memset(bar + MIN(filled, 30U), '.', 30 - MIN(filled, 30U));
                bar[30] = 0;
                fprintf(stderr, "\r[%s] %6.1f/%.1f MiB %6.1f MiB/s ETA %3.0fs", bar, (double) done / 1048576.0,
                        (double) total / 1048576.0, rate / 1048576.0, eta);
                if (total && done >= total)
                        fputc('\n', stderr);
                fflush(stderr);
        }
}

static void json_event(const Args *a, const char *event, int r, const ApplyResult *res) {
        if (!a->json)
                return;
        if (r < 0)
                printf("{\"event\": \"%s\", \"error\": %d, \"message\": \"%s\"}\n", event, -r,
                       log_detail() ? "see stderr" : strerror(-r));
        else
                printf("{\"event\": \"%s\", \"slot\": \"%s\", \"version\": \"%s\"}\n", event,
                       slot_name(res->slot) ?: "", res->version ?: "");
        fflush(stdout);
}

static void print_dry_run(const Args *a, const ApplyResult *res, const DryRun *d, bool activate) {
        if (a->json) {
                _cleanup_(json_object_putp) json_object *o = json_object_new_object();
                json_object *arr = json_object_new_array();

                json_object_object_add(o, "event", json_object_new_string("plan"));
                json_object_object_add(o, "version", res->version ? json_object_new_string(res->version) : NULL);
                json_object_object_add(o, "slot", d->slot >= 0 ? json_object_new_string(slot_name(d->slot)) : NULL);
                json_object_object_add(o, "newest_live", d->newest_live ? json_object_new_string(d->newest_live) : NULL);
                json_object_object_add(o, "ends_deferrals_holding_slot", json_object_new_boolean(d->force_deferrals));
                json_object_object_add(o, "activate", json_object_new_boolean(activate));
                json_object_object_add(o, "per_namespace", json_object_new_boolean(d->plan.per_namespace));
                json_object_object_add(o, "kernel_release", d->kernel_release ? json_object_new_string(d->kernel_release) : NULL);
                json_object_object_add(o, "modules", json_object_new_string(modules_action_to_string(d->modules.action)));
                json_object_object_add(o, "modules_reason",
                                       d->modules.verdict.reason[0] ? json_object_new_string(d->modules.verdict.reason) : NULL);
                for (size_t i = 0; i < d->n_ns && i < d->plan.n_steps; i++) {
                        const SwitchStep *st = &d->plan.steps[i];
                        json_object *e = json_object_new_object();

                        json_object_object_add(e, "pid", json_object_new_int(d->ns[i].pid));
                        json_object_object_add(e, "inode", json_object_new_uint64(d->ns[i].inode));
                        json_object_object_add(e, "relation", json_object_new_string(ns_relation_to_string(d->ns[i].relation)));
                        json_object_object_add(e, "trusted", json_object_new_boolean(d->ns[i].trusted));
                        json_object_object_add(e, "version", d->ns[i].version ? json_object_new_string(d->ns[i].version) : NULL);
                        json_object_object_add(e, "action", json_object_new_string(switch_action_to_string(st->action)));
                        json_object_object_add(e, "from_inside", json_object_new_boolean(st->from_inside));
                        json_object_object_add(e, "tuck_clone", json_object_new_boolean(st->tuck_clone));
                        json_object_object_add(e, "follows_parent", json_object_new_boolean(st->follows_parent));
                        json_object_object_add(e, "overridden", json_object_new_boolean(st->overridden));
                        json_object_object_add(e, "deadline", json_object_new_int64(st->action == SWITCH_DEFER ? (int64_t) st->deadline : 0));
                        json_object_object_add(e, "rule", d->ns[i].rule ? json_object_new_string(d->ns[i].rule) : NULL);
                        json_object_object_add(e, "notify", json_object_new_int((int) st->n_notify));
                        json_object_array_add(arr, e);
                }
                json_object_object_add(o, "namespaces", arr);
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
                return;
        }
        printf("Dry run: %s verified and admitted; nothing was changed.\n", res->version ?: "?");
        printf("Would write: slot %s%s\n", d->slot >= 0 ? slot_name(d->slot) : "none",
               d->force_deferrals ? " (after ending the deferrals that hold it)" : "");
        printf("Newest live: %s\n", d->newest_live ?: "unknown");
        if (!activate)
                return;
        if (d->modules.action != MODULES_LIVE)
                printf("Modules:     %s\n", d->modules.verdict.reason);
        printf("Switch:      %s\n", d->plan.per_namespace ? "per namespace (the new mount made private)" : "one unmount in the host propagates");
        printf("  %-8s %-10s %-9s %-7s %s\n", "PID", "RELATION", "VERSION", "ACTION", "RULE");
        for (size_t i = 0; i < d->n_ns && i < d->plan.n_steps; i++) {
                const SwitchStep *st = &d->plan.steps[i];
                char extra[96] = "";

                if (st->action == SWITCH_DEFER)
                        snprintf(extra, sizeof extra, " until %lld", (long long) st->deadline);
                else if (st->follows_parent)
                        snprintf(extra, sizeof extra, " (follows its parent)");
                printf("  %-8d %-10s %-9s %-7s %s%s%s\n", (int) d->ns[i].pid, ns_relation_to_string(d->ns[i].relation),
                       d->ns[i].version ?: "-", switch_action_to_string(st->action), d->ns[i].rule ?: "-", extra,
                       d->ns[i].trusted ? "" : " [untrusted]");
        }
}

static int install(const CliArgs *c, bool activate) {
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(keyring_done) Keyring keyring = {};
        _cleanup_(apply_result_done) ApplyResult res = { .slot = -1 };
        _cleanup_(dry_run_done) DryRun dry = { .slot = -1 };
        Args a = args_from_cli(c);
        Progress p = { .tty = isatty(STDERR_FILENO) && !a.quiet, .start_usec = mono_usec() };
        InstallOptions o;
        int r;

        if (a.staged && a.operand)
                return cli_usage_error(c, "--staged takes no SOURCE: it switches to the staged slot");
        if (a.staged && a.dry_run)
                return cli_usage_error(c, "--staged and --dry-run exclude each other");
        if (!a.staged && !a.operand)
                return cli_usage_error(c, "missing SOURCE");
        r = load_config(&a, &cfg);
        if (r < 0)
                return r;
        p.json = a.json;
        r = config_load_keyring(&cfg, a.keys, &keyring);
        if (r < 0)
                return r;
        if (a.staged) {
                r = update_apply_staged(&cfg, &keyring, &res);
                if ((r == -EOPNOTSUPP || r == -ELIBACC) && res.staged_only) {
                        log_error("%s", log_detail() ?: "staged for the next boot");
                        return r;
                }
                if (r < 0)
                        return fail(r, "apply --staged failed");
                print_switch(&a, &res, "Updated live");
                return 0;
        }
        o = (InstallOptions) { .source = a.operand, .activate = activate, .dry_run = a.dry_run, .progress = on_progress, .userdata = &p };
        if (a.dry_run)
                res.dry = &dry;
        r = update_apply(&cfg, &keyring, &o, &res);
        if (a.dry_run) {
                if (r < 0) {
                        json_event(&a, "plan", r, &res);
                        return fail(r, activate ? "apply --dry-run: it would fail" : "fetch --dry-run: it would fail");
                }
                print_dry_run(&a, &res, &dry, activate);
                return 0;
        }
        json_event(&a, activate ? "apply" : "fetch", r, &res);
        if ((r == -EOPNOTSUPP || r == -ELIBACC) && res.staged_only) {
                log_error("%s", log_detail() ?: "staged for the next boot");
                return r;
        }
        if (r < 0)
                return fail(r, activate ? "apply failed" : "fetch failed");
        if (activate)
                print_switch(&a, &res, "Updated live");
        else if (!a.json && !a.quiet)
                printf("Fetched and verified %s into slot %s; 'osupdate apply --staged' switches to it.\n",
                       res.version ?: "?", slot_name(res.slot));
        return 0;
}

int cmd_apply(const CliArgs *c) {
        return install(c, true);
}

int cmd_fetch(const CliArgs *c) {
        return install(c, false);
}

int cmd_rollback(const CliArgs *c) {
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(keyring_done) Keyring keyring = {};
        _cleanup_(apply_result_done) ApplyResult res = { .slot = -1 };
        Args a = args_from_cli(c);
        int r;

        r = load_config(&a, &cfg);
        if (r < 0)
                return r;
        r = config_load_keyring(&cfg, a.keys, &keyring);
        if (r < 0)
                return r;
        r = update_rollback(&cfg, &keyring, &res);
        if (r < 0)
                return fail(r, "rollback failed");
        print_switch(&a, &res, "Rolled back live");
        return 0;
}

int cmd_mark_good(const CliArgs *c) {
        _cleanup_(config_done) Config cfg = {};
        Args a = args_from_cli(c);
        int r;

        r = load_config(&a, &cfg);
        if (r < 0)
                return r;
        r = update_mark_good(&cfg, a.raise_floor);
        if (r < 0)
                return fail(r, "mark-good failed");
        if (!a.quiet)
                printf("Marked the active slot good%s.\n", a.raise_floor ? " and raised the version floor to it" : "");
        return 0;
}

int cmd_gc(const CliArgs *c) {
        _cleanup_(config_done) Config cfg = {};
        Args a = args_from_cli(c);
        int r;

        r = load_config(&a, &cfg);
        if (r < 0)
                return r;
        r = update_gc(&cfg);
        if (r < 0)
                return fail(r, "gc failed");
        if (!a.quiet)
                printf("Freed %d slot(s).\n", r);
        return 0;
}

static const char *slot_or_none(int s) {
        return s >= 0 ? slot_name(s) : "none";
}

static json_object *strv_to_json(char **l) {
        json_object *a = json_object_new_array();

        for (char **i = l; a && i && *i; i++)
                json_object_array_add(a, json_object_new_string(*i));
        return a;
}

/* The policy a switch step carries out, as status has always named it. */
static const char *action_policy(SwitchAction a) {
        return a == SWITCH_NOW ? "force" : a == SWITCH_DEFER ? "defer" : a == SWITCH_SKIP ? "skip" : "none";
}

int cmd_status(const CliArgs *c) {
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(state_done) State s = {};
        _cleanup_(policy_set_done) PolicySet policies = {};
        MountNamespace *nss = NULL;
        _cleanup_free_ SwitchNamespace *sns = NULL;
        _cleanup_(switch_plan_done) SwitchPlan plan = {};
        _cleanup_free_ char *slots = NULL;
        time_t now = time(NULL);
        size_t n_ns = 0;
        _cleanup_free_ char *id = NULL, *live = NULL;
        _cleanup_(booted_done) Booted booted = { .slot = -1 };
        const char *mode;
        bool dm;
        int beneath, r;
        Args a = args_from_cli(c);

        r = load_config(&a, &cfg);
        if (r < 0)
                return r;
        state_init(&s);
        r = state_load(cfg.state_directory, &s);
        if (r == -EUCLEAN)
                return log_error_errno(ENOTRECOVERABLE, "%s/state.json is corrupt: %s", cfg.state_directory, log_detail() ?: "");
        if (r < 0)
                return fail(r, "Cannot read the state");
        r = booted_load(cfg.runtime_directory, &booted);
        if (r >= 0)
                s.booted = booted.slot;
        r = policy_load(&cfg, &policies);
        if (r < 0)
                return r;
        (void) update_live_os(&cfg, &id, &live);
        slots = path_join(cfg.state_directory, "slots");
        if (!slots)
                return log_oom();
        r = namespace_discover(cfg.target, slots, &nss, &n_ns);
        if (r < 0)
                log_warning("Cannot list mount namespaces: %s", strerror(-r));
        /* The plan an update would follow now: the planner's, not derived again here. */
        sns = calloc(n_ns + 1, sizeof(SwitchNamespace));
        if (!sns)
                return log_oom();
        propagate_switch_facts(nss, n_ns, sns);
        if (n_ns > 0 && plan_switch(&policies, sns, n_ns, false, now, &plan) < 0)
                return log_oom();
        dm = verity_kernel_available();
        beneath = mount_beneath_supported();
        mode = cfg.verity == VERITY_MODE_USERSPACE || (cfg.verity == VERITY_MODE_AUTO && !dm) ? "userspace" : "kernel";

        if (a.json) {
                _cleanup_(json_object_putp) json_object *o = NULL, *k = NULL;
                _cleanup_free_ char *text = state_to_json(&s);

                if (!text || json_parse_strict(text, strlen(text), &o) < 0)
                        return log_oom();
                json_object_object_add(o, "target", json_object_new_string(cfg.target));
                if (booted.slot >= 0) {
                        json_object *bo = json_object_new_object();
                        json_object_object_add(bo, "slot", json_object_new_string(slot_name(booted.slot)));
                        json_object_object_add(bo, "version", json_object_new_string(booted.version));
                        json_object_object_add(bo, "verity", booted.verity ? json_object_new_string(booted.verity) : NULL);
                        json_object_object_add(bo, "trial", json_object_new_boolean(booted.trial));
                        json_object_object_add(o, "boot", bo);
                }
                json_object_object_add(o, "live_version", live ? json_object_new_string(live) : NULL);
                json_object_object_add(o, "live_os_id", id ? json_object_new_string(id) : NULL);
                json_object_object_add(o, "verity_mode", json_object_new_string(mode));
                json_object_object_add(o, "degraded", json_object_new_boolean(strcmp(mode, "userspace") == 0));
                k = json_object_new_object();
                json_object_object_add(k, "mount_beneath", beneath >= 0 ? json_object_new_boolean(beneath) : NULL);
                json_object_object_add(k, "device_mapper", json_object_new_boolean(dm));
                json_object_object_add(o, "kernel", TAKE_PTR(k));
                {
                        json_object *arr = json_object_new_array();
                        for (size_t i = 0; i < n_ns; i++) {
                                json_object *e = json_object_new_object();
                                const SwitchStep *d = &plan.steps[i];
                                json_object_object_add(e, "pid", json_object_new_int(nss[i].pid));
                                json_object_object_add(e, "inode", json_object_new_uint64(nss[i].inode));
                                json_object_object_add(e, "processes", json_object_new_int((int) nss[i].n_pids));
                                json_object_object_add(e, "relation", json_object_new_string(ns_relation_to_string(nss[i].relation)));
                                json_object_object_add(e, "version", nss[i].version ? json_object_new_string(nss[i].version) : NULL);
                                json_object_object_add(e, "mounts_at_target", json_object_new_int((int) nss[i].mounts_at_target));
                                json_object_object_add(e, "policy", json_object_new_string(action_policy(d->action)));
                                json_object_object_add(e, "deadline_sec", json_object_new_int64(d->action == SWITCH_DEFER ? (int64_t) (d->deadline - now) : 0));
                                json_object_object_add(e, "rule", d->rule ? json_object_new_string(d->rule) : NULL);
                                json_object_object_add(e, "follows_parent", json_object_new_boolean(d->follows_parent));
                                json_object_object_add(e, "trusted", json_object_new_boolean(nss[i].trusted));
                                json_object_object_add(e, "parent_pid", nss[i].parent >= 0 ? json_object_new_int(nss[nss[i].parent].pid) : NULL);
                                {
                                        _cleanup_free_ char *pv = NULL;
                                        time_t dl = 0;
                                        bool pending = !nss[i].facts.host && release_check(&cfg, nss[i].pid, &pv, &dl) > 0;
                                        json_object_object_add(e, "pending", json_object_new_boolean(pending));
                                        json_object_object_add(e, "pending_version", pv ? json_object_new_string(pv) : NULL);
                                        json_object_object_add(e, "pending_deadline", json_object_new_int64(pending ? (int64_t) dl : 0));
                                }
                                json_object_object_add(e, "units", strv_to_json(nss[i].facts.units));
                                json_object_object_add(e, "executables", strv_to_json(nss[i].facts.executables));
                                json_object_array_add(arr, e);
                        }
                        json_object_object_add(o, "namespaces", arr);
                }
                namespace_list_free(nss, n_ns);
                agent_status(&cfg, o);
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
                return 0;
        }

        printf("Target:        %s, live %s %s\n", cfg.target, id ?: "?", live ?: "(unknown version)");
        for (int i = 0; i < SLOT_MAX; i++)
                printf("Slot %s:        %s%s%s%s%s%s\n", slot_name(i), slot_state_to_string(s.slots[i].state),
                       s.slots[i].version ? ", version " : "", s.slots[i].version ?: "", i == s.active ? ", active" : "",
                       i == s.next_boot ? ", next boot" : "", i == s.booted ? ", booted" : "");
        if (booted.slot >= 0)
                printf("Booted:        slot %s, version %s, verity %s%s\n", slot_name(booted.slot), booted.version,
                       booted.verity ?: "?", booted.trial ? ", on trial" : "");
        else
                printf("Booted:        %s\n", s.booted >= 0 ? slot_name(s.booted) : "none (this boot did not come from a slot)");
        printf("Active:        %s\nNext boot:     %s\n", slot_or_none(s.active), slot_or_none(s.next_boot));
        /* The recorded trial is the next boot's: say whose when that is not what runs. */
        if (s.boot_tries >= 0 && s.next_boot >= 0 && s.next_boot != s.active)
                printf("Boot tries:    %d for slot %s (the next boot) until 'osupdate mark-good' there\n", s.boot_tries,
                       slot_name(s.next_boot));
        else if (s.boot_tries >= 0)
                printf("Boot tries:    %d left until 'osupdate mark-good'\n", s.boot_tries);
        if (s.active >= 0 && (s.boot_tries < 0 || s.next_boot != s.active))
                printf("Marked good:   %s\n", s.slots[s.active].good ? "yes" : "no");
        else if (s.active < 0 && s.boot_tries < 0)
                printf("Marked good:   %s\n", s.good ? "yes" : "no");
        printf("Version floor: %s\n", s.version_floor ?: "none");
        for (int i = 0; i < SLOT_MAX; i++)
                if (s.slots[i].failed)
                        printf("Slot %s failed: %s\n", slot_name(i), s.slots[i].failed);
        if (s.n_boots > 0)
                printf("Last boots:\n");
        for (unsigned i = s.n_boots; i > 0; i--) {
                const BootRecord *b = &s.boots[i - 1];
                char when[32] = "-";
                struct tm tm;
                time_t t = (time_t) b->time;

                if (b->time > 0 && gmtime_r(&t, &tm))
                        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
                printf("  %-16s  slot %s  version %-8s  %-11s", when, slot_name(b->slot), b->version ?: "?",
                       boot_result_to_string(b->result));
                if (b->verity)
                        printf("  verity %s", b->verity);
                if (b->reason)
                        printf("  (%s)", b->reason);
                putchar('\n');
        }
        if (s.staged >= 0 && s.staged == s.next_boot)
                printf("Staged:        slot %s, version %s, for the next boot (this kernel cannot mount beneath)\n",
                       slot_name(s.staged), s.slots[s.staged].version ?: "?");
        else if (s.staged >= 0)
                printf("Staged:        slot %s, version %s, fetched; 'osupdate apply --staged' switches to it\n",
                       slot_name(s.staged), s.slots[s.staged].version ?: "?");
        if (s.switching >= 0)
                printf("Interrupted:   a switch to slot %s; the next apply finishes it\n", slot_name(s.switching));
        printf("Verity:        %s%s (Verity=%s)\n", mode, strcmp(mode, "userspace") == 0 ? ", degraded: whole tree checked before mounting" : "",
               verity_mode_to_string(cfg.verity));
        printf("Kernel:        mount-beneath %s, device-mapper %s\n", beneath > 0 ? "yes" : beneath == 0 ? "no" : "unknown",
               dm ? "yes" : "no");
        printf("Namespaces:    %zu\n", n_ns);
        printf("  %-8s %-10s %-9s %-7s %s\n", "PID", "RELATION", "VERSION", "POLICY", "UNITS");
        for (size_t i = 0; i < n_ns; i++) {
                printf("  %-8d %-10s %-9s %-7s %s\n", (int) nss[i].pid, ns_relation_to_string(nss[i].relation),
                       nss[i].version ?: (nss[i].trusted ? "-" : "(untrusted)"), action_policy(plan.steps[i].action),
                       nss[i].facts.units && nss[i].facts.units[0] ? nss[i].facts.units[0] : "-");
        }
        namespace_list_free(nss, n_ns);
        agent_status(&cfg, NULL);
        return 0;
}

/* osupdate release [--pid PID] [--check] [--expired] [--not-before EPOCH] [--config FILE] */
int cmd_release(const CliArgs *c) {
        _cleanup_(config_done) Config cfg = {};
        _cleanup_close_ int lock = -EBADF;
        const char *config = cli_value(c, CLI_CONFIG), *v;
        bool check = cli_flag(c, CLI_CHECK), expired = cli_flag(c, CLI_EXPIRED), quiet = cli_quiet(c);
        uint64_t not_before = 0;
        unsigned pid = 0;
        int r;

        v = cli_value(c, CLI_PID);
        if (v && (parse_unsigned(v, &pid) < 0 || pid == 0 || pid > INT32_MAX))
                return cli_usage_error(c, "invalid --pid \"%s\"", v);
        /* The deadline timer: sleep here, holding nothing, then enforce. A deadline is at most days
         * away: a time years ahead is a mistake. */
        v = cli_value(c, CLI_NOT_BEFORE);
        if (v && (parse_uint64(v, &not_before) < 0 || not_before > (uint64_t) time(NULL) + 366ULL * 24 * 3600))
                return cli_usage_error(c, "invalid --not-before \"%s\"", v);
        if (v)
                expired = true;
        if (check && expired)
                return cli_usage_error(c, "--check and --expired (or --not-before) exclude each other");
        r = config_load(config, &cfg);
        if (r < 0)
                return r;

        if (check) {
                _cleanup_free_ char *version = NULL;
                time_t deadline = 0;

                r = release_check(&cfg, (pid_t) pid, &version, &deadline);
                if (r < 0)
                        return fail(r, "release --check failed");
                printf("{\"pending\": %s, \"version\": %s%s%s, \"deadline\": %lld}\n", r ? "true" : "false",
                       version ? "\"" : "", version ?: "null", version ? "\"" : "", (long long) deadline);
                return r ? 0 : -EALREADY;
        }

        if (not_before > 0) {
                (void) chdir("/");
                for (time_t now = time(NULL); (uint64_t) now < not_before; now = time(NULL))
                        (void) sleep((unsigned) MIN(not_before - (uint64_t) now, (uint64_t) 3600));
        }
        /* The timer waits for a running apply rather than give up. */
        r = update_lock_full(&cfg, expired, &lock);
        if (r < 0)
                return fail(r, "release failed");
        if (expired) {
                r = release_expired(&cfg);
                if (r < 0)
                        return fail(r, "release --expired failed");
                if (!quiet)
                        printf("Forced %d namespace(s) past their deadline.\n", r);
                return 0;
        }
        (void) release_expired(&cfg);
        r = release_namespace(&cfg, (pid_t) pid);
        if (r < 0)
                return fail(r, "release failed");
        if (r == 0) {
                if (!quiet)
                        printf("Nothing pending for this namespace: nothing changed.\n");
                return -EALREADY;
        }
        if (!quiet)
                printf("Released: this namespace now sees the new /usr.\n");
        return 0;
}
