/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd-bundle.h"
#include "cmd-agent.h"
#include "cmd-update.h"
#include "provision.h"
#include "log.h"

typedef struct CliOptionInfo {
        const char *name;
        char short_name;
        const char *arg; /* NULL: a flag */
        const char *help;
} CliOptionInfo;

/* Every option of every verb, once. The first ones are global: accepted before the verb too. */
static const CliOptionInfo cli_options[_CLI_OPTION_MAX] = {
        [CLI_CONFIG] = { "config", 0, "FILE", "read FILE and FILE.d/*.conf, not /etc/osupdate/osupdate.conf" },
        [CLI_KEYS] = { "keys", 0, "DIR", "trust the public keys in DIR, not KeysDirectory=" },
        [CLI_JSON] = { "json", 0, NULL, "print JSON; apply and fetch: one line per event" },
        [CLI_QUIET] = { "quiet", 'q', NULL, "print only errors, warnings and what was asked for" },
        [CLI_NO_PAGER] = { "no-pager", 0, NULL, "accepted and ignored: osupdate never pages" },
        [CLI_HELP] = { "help", 'h', NULL, "show the help of the verb, or this overview" },
        [CLI_SHOW_VERSION] = { "version", 0, NULL, "show osupdate's version (before any verb)" },
        [CLI_DRY_RUN] = { "dry-run", 0, NULL, "verify and print the plan per namespace; change nothing" },
        [CLI_STAGED] = { "staged", 0, NULL, "switch live to the slot 'osupdate fetch' staged" },
        [CLI_RAISE_FLOOR] = { "raise-floor", 0, NULL, "also raise the version floor to the active version" },
        [CLI_PID] = { "pid", 0, "PID", "release the namespace of PID, not the caller's" },
        [CLI_CHECK] = { "check", 0, NULL, "only tell (JSON) whether an update waits for this namespace" },
        [CLI_EXPIRED] = { "expired", 0, NULL, "force every deferral past its deadline" },
        [CLI_NOT_BEFORE] = { "not-before", 0, "EPOCH", "wait until EPOCH, then as --expired (the deadline timer)" },
        [CLI_ROOT] = { "root", 0, "DIR", "the image root to provision: its own configuration, keys and state" },
        [CLI_KEY] = { "key", 0, "PRIV.pem", "sign with this Ed25519 private key (repeat it: one signature each)" },
        [CLI_VERSION] = { "version", 0, "V", "the image's version" },
        [CLI_OS_ID] = { "os-id", 0, "ID", "the ID= of the OS the image is for" },
        [CLI_ARCH] = { "arch", 0, "ARCH", "the image's architecture (default: this machine's)" },
        [CLI_TREE] = { "tree", 0, "DIR", "make the image from DIR (mkfs.erofs or mksquashfs)" },
        [CLI_IMAGE] = { "image", 0, "FILE", "use this erofs or squashfs image as it is" },
        [CLI_HASH_TREE] = { "hash-tree", 0, "FILE", "with --image: its veritysetup hash tree, checked, not made" },
        [CLI_FSTYPE] = { "fstype", 0, "TYPE", "erofs (default) or squashfs" },
        [CLI_MIN_VERSION] = { "min-version", 0, "V", "devices must run V or newer before they may install it" },
        [CLI_EXPIRES] = { "expires", 0, "TIME", "the manifest expires at TIME" },
        [CLI_CRITICAL] = { "critical", 0, NULL, "every namespace switches at once: no deferral" },
        [CLI_OUTPUT] = { "output", 'o', "OUT", "write the bundle (or channel document) to OUT" },
        [CLI_NAME] = { "name", 0, "NAME", "the channel's name ([A-Za-z0-9._-], e.g. stable)" },
        [CLI_SERIAL] = { "serial", 0, "N", "the document's serial: each new one must be higher" },
        [CLI_BUNDLE] = { "bundle", 0, "URL", "where machines download the bundle (http:// or https://)" },
        [CLI_BUNDLE_FILE] = { "bundle-file", 0, "FILE", "a local copy of it (size and SHA-256); default: download URL" },
        [CLI_MIRROR] = { "mirror", 0, "URL", "another place with the same bundle (repeat it)" },
        [CLI_PERCENT] = { "percent", 0, "P", "the share of machines (0-100) that take it" },
        [CLI_ROLLOUT_START] = { "rollout-start", 0, "TIME", "a linear rollout: 0 % at TIME …" },
        [CLI_ROLLOUT_DURATION] = { "rollout-duration", 0, "SPAN", "… 100 % SPAN later (e.g. 2d)" },
        [CLI_PAUSE] = { "pause", 0, NULL, "publish the rollout paused: no machine starts it" },
        [CLI_ONCE] = { "once", 0, NULL, "one poll and every step it allows, then exit (for timers)" },
        [CLI_ID] = { "id", 0, "ID", "the lock holder's id (default: this machine's id)" },
        [CLI_GROUP] = { "group", 0, "GROUP", "the semaphore's group (default: Group=)" },
};

static const char time_syntax[] = "TIME is 2027-01-01T00:00:00Z, @EPOCH or +SPAN (e.g. +30d).";

#define OPT(o) (UINT64_C(1) << (o))
#define CLI_GLOBAL (OPT(CLI_CONFIG) | OPT(CLI_KEYS) | OPT(CLI_JSON) | OPT(CLI_QUIET) | OPT(CLI_NO_PAGER) | \
                    OPT(CLI_HELP) | OPT(CLI_SHOW_VERSION))
/* What every verb accepts. */
#define CLI_EVERYWHERE (OPT(CLI_QUIET) | OPT(CLI_NO_PAGER) | OPT(CLI_HELP))

typedef struct CliVerb {
        const char *name;       /* "apply", "bundle create" */
        const char *usage;      /* what follows the name; alternatives separated by '\n' */
        const char *summary;
        const char *details;    /* NULL, or what `VERB --help` adds */
        const char *operand;    /* what a missing operand is called */
        unsigned min_operands, max_operands;
        uint64_t options;       /* besides CLI_EVERYWHERE */
        int (*run)(const CliArgs *a);
        const char *section;
} CliVerb;

static int cmd_help(const CliArgs *a);

static const CliVerb cli_verbs[] = {
        { "bundle create",
          "--key PRIV.pem [--key PRIV2.pem …] --version V --os-id ID\n"
          "(--tree DIR | --image FILE [--hash-tree FILE]) -o OUT.osup [OPTIONS]",
          "make and sign a bundle",
          "SOURCE_DATE_EPOCH fixes the image's timestamps (reproducible images).",
          NULL, 0, 0,
          OPT(CLI_KEY) | OPT(CLI_VERSION) | OPT(CLI_OS_ID) | OPT(CLI_ARCH) | OPT(CLI_TREE) | OPT(CLI_IMAGE) |
                  OPT(CLI_HASH_TREE) | OPT(CLI_FSTYPE) | OPT(CLI_MIN_VERSION) | OPT(CLI_EXPIRES) |
                  OPT(CLI_CRITICAL) | OPT(CLI_OUTPUT),
          cmd_bundle_create, "Publisher" },
        { "bundle info", "BUNDLE [OPTIONS]", "show what a bundle's manifest claims (NOT verified)", NULL,
          "BUNDLE", 1, 1, OPT(CLI_JSON), cmd_bundle_info, "Publisher" },
        { "bundle verify", "BUNDLE [OPTIONS]",
          "check a bundle: signatures by trusted keys, layout, expiry, the whole verity tree", NULL,
          "BUNDLE", 1, 1, OPT(CLI_KEYS) | OPT(CLI_CONFIG), cmd_bundle_verify, "Publisher" },
        { "apply", "SOURCE [OPTIONS]\n--staged [OPTIONS]", "update /usr live, in every mount namespace",
          "SOURCE is a bundle file, or an http:// or https:// URL (an interrupted download resumes).\n"
          "The bundle is verified while it is written to the inactive slot, then tucked beneath /usr.",
          "SOURCE", 0, 1, OPT(CLI_CONFIG) | OPT(CLI_KEYS) | OPT(CLI_JSON) | OPT(CLI_DRY_RUN) | OPT(CLI_STAGED),
          cmd_apply, "Device" },
        { "fetch", "SOURCE [OPTIONS]", "verify into the inactive slot only; 'osupdate apply --staged' switches later",
          "SOURCE is a bundle file, or an http:// or https:// URL (an interrupted download resumes).",
          "SOURCE", 1, 1, OPT(CLI_CONFIG) | OPT(CLI_KEYS) | OPT(CLI_JSON) | OPT(CLI_DRY_RUN), cmd_fetch, "Device" },
        { "provision", "BUNDLE --root DIR [OPTIONS]", "for image builders: write a bundle offline into slot a of DIR",
          "Verifies BUNDLE as 'osupdate fetch' would (signatures, expiry, OSId= if set, architecture, DIR's\n"
          "version floor) and writes it into slot a of DIR's StateDirectory=: active, next to boot and good.\n"
          "Every path of the configuration is taken inside DIR (symlinks resolve inside it); --config and\n"
          "--keys are paths on the build host. No mounts, so the image's own lib/os-release is not checked\n"
          "(the signature covers the image); the slot is not sealed. Refused (exit 26) if DIR's state\n"
          "already records a slot.",
          "BUNDLE", 1, 1, OPT(CLI_ROOT) | OPT(CLI_CONFIG) | OPT(CLI_KEYS) | OPT(CLI_ARCH), cmd_provision, "Device" },
        { "status", "[OPTIONS]", "slots, live version, verity mode, kernel support, every namespace's policy", NULL,
          NULL, 0, 0, OPT(CLI_CONFIG) | OPT(CLI_JSON), cmd_status, "Device" },
        { "mark-good", "[--raise-floor] [OPTIONS]", "confirm the active slot", NULL, NULL, 0, 0,
          OPT(CLI_CONFIG) | OPT(CLI_RAISE_FLOOR), cmd_mark_good, "Device" },
        { "rollback", "[OPTIONS]", "back to the other slot, live (it must authenticate now)", NULL, NULL, 0, 0,
          OPT(CLI_CONFIG) | OPT(CLI_KEYS), cmd_rollback, "Device" },
        { "gc", "[OPTIONS]", "empty the slots nothing uses", NULL, NULL, 0, 0, OPT(CLI_CONFIG), cmd_gc, "Device" },
        { "release", "[--pid PID] [--check] [OPTIONS]\n--expired [OPTIONS]",
          "drop a deferred old /usr: now this namespace sees the new one (exit 40: none pending)", NULL, NULL, 0, 0,
          OPT(CLI_CONFIG) | OPT(CLI_PID) | OPT(CLI_CHECK) | OPT(CLI_EXPIRED) | OPT(CLI_NOT_BEFORE), cmd_release,
          "Device" },
        { "channel create",
          "--key PRIV.pem [--key …] --name NAME --serial N --version V --bundle URL\n"
          "(--percent P | --rollout-start TIME --rollout-duration SPAN) -o OUT [OPTIONS]",
          "publish a release for a fleet: one signed channel document",
          "The bundle's size and SHA-256 come from --bundle-file, or from downloading URL. Options:\n"
          "--mirror URL (repeat), --pause, --expires TIME, --os-id ID.", NULL, 0, 0,
          OPT(CLI_KEY) | OPT(CLI_NAME) | OPT(CLI_SERIAL) | OPT(CLI_VERSION) | OPT(CLI_BUNDLE) | OPT(CLI_BUNDLE_FILE) |
                  OPT(CLI_MIRROR) | OPT(CLI_PERCENT) | OPT(CLI_ROLLOUT_START) | OPT(CLI_ROLLOUT_DURATION) |
                  OPT(CLI_PAUSE) | OPT(CLI_EXPIRES) | OPT(CLI_OS_ID) | OPT(CLI_OUTPUT),
          cmd_channel_create, "Fleet" },
        { "channel verify", "DOCUMENT [OPTIONS]",
          "check a channel document (file or URL) against the trusted keys and show it", NULL, "DOCUMENT", 1, 1,
          OPT(CLI_KEYS) | OPT(CLI_CONFIG) | OPT(CLI_JSON), cmd_channel_verify, "Fleet" },
        { "agent", "[--once] [--dry-run] [OPTIONS]",
          "the fleet rollout agent: follow Channel=, update in waves, report only when healthy",
          "Without --once a daemon (Type=notify, watchdog) polling every Interval= with jitter.\n"
          "--dry-run: what it would do and why (bucket, rollout, window, lock); changes nothing.",
          NULL, 0, 0, OPT(CLI_CONFIG) | OPT(CLI_KEYS) | OPT(CLI_JSON) | OPT(CLI_ONCE) | OPT(CLI_DRY_RUN),
          cmd_agent, "Fleet" },
        { "lock status", "[--group GROUP] [OPTIONS]", "the fleet semaphore's slots and holders (etcd)", NULL, NULL, 0, 0,
          OPT(CLI_CONFIG) | OPT(CLI_GROUP) | OPT(CLI_JSON), cmd_lock_status, "Fleet" },
        { "lock acquire", "[--id ID] [--group GROUP] [OPTIONS]", "take a slot of the fleet semaphore", NULL, NULL, 0, 0,
          OPT(CLI_CONFIG) | OPT(CLI_ID) | OPT(CLI_GROUP), cmd_lock_acquire, "Fleet" },
        { "lock release", "[--id ID] [--group GROUP] [OPTIONS]",
          "give a slot back (--id: free the slot of a machine that is gone)", NULL, NULL, 0, 0,
          OPT(CLI_CONFIG) | OPT(CLI_ID) | OPT(CLI_GROUP), cmd_lock_release, "Fleet" },
        { "help", "[VERB]", "show the help of VERB, or this overview", NULL, NULL, 0, 2, 0, cmd_help, "Help" },
};

/* --name (the `=VALUE` left out) or -c. */
static void option_spelling(CliOption o, char *buf, size_t size) {
        if (cli_options[o].short_name)
                snprintf(buf, size, "-%c, --%s%s%s", cli_options[o].short_name, cli_options[o].name,
                         cli_options[o].arg ? " " : "", cli_options[o].arg ?: "");
        else
                snprintf(buf, size, "--%s%s%s", cli_options[o].name, cli_options[o].arg ? " " : "",
                         cli_options[o].arg ?: "");
}

static void print_option(CliOption o, const char *suffix) {
        char s[64];

        option_spelling(o, s, sizeof s);
        printf("  %-24s  %s", s, cli_options[o].help);
        /* The verbs that take it, on a line of their own if the line would grow past 100 columns. */
        if (suffix && 28 + strlen(cli_options[o].help) + strlen(suffix) > 100)
                printf("\n  %-24s  %s", "", suffix + 1);
        else if (suffix)
                printf("%s", suffix);
        printf("\n");
}

static void print_usage(const CliVerb *v, const char *first) {
        int indent = (int) strlen(first);
        const char *u = v->usage;

        for (bool line1 = true;; line1 = false) {
                size_t n = strcspn(u, "\n");

                if (u[0] == '(') /* continues the line before */
                        printf("%-*s %*s%.*s\n", indent, "", (int) (strlen("osupdate ") + strlen(v->name) + 1), "",
                               (int) n, u);
                else
                        printf("%-*s osupdate %s %.*s\n", indent, line1 ? first : "", v->name, (int) n, u);
                if (u[n] == 0)
                        break;
                u += n + 1;
        }
}

static void print_verb_help(const CliVerb *v) {
        print_usage(v, "Usage:");
        printf("\n%c%s.\n", toupper((unsigned char) v->summary[0]), v->summary + 1);
        if (v->details)
                printf("%s\n", v->details);
        if (v->options & ~CLI_GLOBAL) {
                printf("\nOptions:\n");
                for (CliOption o = 0; o < _CLI_OPTION_MAX; o++)
                        if ((v->options & ~CLI_GLOBAL) & OPT(o))
                                print_option(o, NULL);
        }
        printf("\nGlobal options (before or after the verb):\n");
        for (CliOption o = 0; o < _CLI_OPTION_MAX; o++)
                if ((v->options | CLI_EVERYWHERE) & CLI_GLOBAL & OPT(o))
                        print_option(o, NULL);
        if (v->options & OPT(CLI_EXPIRES))
                printf("\n%s\n", time_syntax);
}

/* The verbs that take option O, as " (apply, fetch)". */
static void verbs_of(CliOption o, char *buf, size_t size) {
        size_t n = 0;

        buf[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(cli_verbs) && n + 1 < size; i++)
                if (cli_verbs[i].options & OPT(o))
                        n += (size_t) snprintf(buf + n, size - n, "%s%s", n ? ", " : " (", cli_verbs[i].name);
        if (n > 0 && n + 1 < size)
                snprintf(buf + n, size - n, ")");
}

/* The sub-verb of NAME if NAME belongs to GROUP ("create" of "bundle create" in "bundle"), or NULL. */
static const char *in_group(const char *name, const char *group) {
        size_t l = strlen(group);

        return strncmp(name, group, l) == 0 && name[l] == ' ' ? name + l + 1 : NULL;
}

static bool is_group(const char *word) {
        for (size_t i = 0; i < ELEMENTSOF(cli_verbs); i++)
                if (in_group(cli_verbs[i].name, word))
                        return true;
        return false;
}

/* The verb named by words[0] (and words[1] for a group such as "bundle"); *ret_n: how many words. */
static const CliVerb *verb_find(char **words, size_t n_words, size_t *ret_n) {
        for (size_t i = 0; n_words > 0 && i < ELEMENTSOF(cli_verbs); i++) {
                const char *sub = in_group(cli_verbs[i].name, words[0]);

                if (strcmp(cli_verbs[i].name, words[0]) == 0) {
                        *ret_n = 1;
                        return &cli_verbs[i];
                }
                if (sub && n_words > 1 && strcmp(sub, words[1]) == 0) {
                        *ret_n = 2;
                        return &cli_verbs[i];
                }
        }
        return NULL;
}

/* "create, info, verify" to stderr: the verbs of a group such as "bundle". */
static void print_group_verbs(const char *group) {
        bool first = true;

        for (size_t i = 0; i < ELEMENTSOF(cli_verbs); i++) {
                const char *sub = in_group(cli_verbs[i].name, group);

                if (sub) {
                        fprintf(stderr, "%s%s", first ? "" : ", ", sub);
                        first = false;
                }
        }
}

static void print_overview(const char *group) {
        const char *section = NULL;
        char verbs[256];

        if (group)
                printf("Usage: osupdate %s VERB [OPTIONS] [ARGUMENTS]\n", group);
        else
                printf("osupdate %s — A/B updates of a read-only /usr, live and without a downgrade window\n\n"
                       "Usage: osupdate [OPTIONS] VERB [OPTIONS] [ARGUMENTS]\n"
                       "       osupdate VERB --help, osupdate help VERB: the verb's own help\n",
                       OSUPDATE_VERSION);
        for (size_t i = 0; i < ELEMENTSOF(cli_verbs); i++) {
                const CliVerb *v = &cli_verbs[i];

                if (group && !in_group(v->name, group))
                        continue;
                if (!section || strcmp(section, v->section) != 0)
                        printf("\n%s:\n", section = v->section);
                print_usage(v, " ");
                printf("        %s\n", v->summary);
        }
        if (group) {
                printf("\nSee 'osupdate %s VERB --help'.\n", group);
                return;
        }
        printf("\nGlobal options, before or after the verb (a verb that cannot use one refuses it):\n");
        for (CliOption o = 0; o < _CLI_OPTION_MAX; o++)
                if (CLI_GLOBAL & OPT(o)) {
                        verbs_of(o, verbs, sizeof verbs);
                        print_option(o, CLI_EVERYWHERE & OPT(o) ? NULL : verbs);
                }
        printf("\nOptions of some verbs:\n");
        for (CliOption o = 0; o < _CLI_OPTION_MAX; o++)
                if (!(CLI_GLOBAL & OPT(o))) {
                        verbs_of(o, verbs, sizeof verbs);
                        print_option(o, verbs);
                }
        printf("\n%s Exit codes: docs/exit-codes.md.\nOSUPDATE_DEBUG=1 prints debug messages.\n", time_syntax);
}

int cli_usage_error(const CliArgs *a, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "osupdate: error: %s%s", a && a->verb ? a->verb : "", a && a->verb ? ": " : "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, ". See 'osupdate%s%s --help'.\n", a && a->verb ? " " : "", a && a->verb ? a->verb : "");
        return -EINVAL;
}

/* osupdate help [VERB]: the overview, a group's verbs ("help bundle") or one verb's help. */
static int cmd_help(const CliArgs *a) {
        const CliVerb *v;
        size_t n;

        if (a->n_operands == 0) {
                print_overview(NULL);
                return 0;
        }
        v = verb_find(a->operands, a->n_operands, &n);
        if (v && n == a->n_operands) {
                print_verb_help(v);
                return 0;
        }
        if (!v && a->n_operands == 1 && is_group(a->operands[0])) {
                print_overview(a->operands[0]);
                return 0;
        }
        fprintf(stderr, "osupdate: error: unknown command \"%s%s%s\". See 'osupdate --help'.\n", a->operands[0],
                a->n_operands > 1 ? " " : "", a->n_operands > 1 ? a->operands[1] : "");
        return -EINVAL;
}

/* The option named by argv element ARG ("--dry-run=x", "--dry"): the table's entry it abbreviates. */
static int option_by_text(const char *arg, uint64_t among) {
        size_t n;
        int found = -1;

        if (strncmp(arg, "--", 2) != 0)
                return -1;
        arg += 2;
        n = strcspn(arg, "=");
        for (CliOption o = 0; o < _CLI_OPTION_MAX; o++)
                if ((among & OPT(o)) && strncmp(cli_options[o].name, arg, n) == 0) {
                        if (cli_options[o].name[n] == 0)
                                return (int) o;
                        found = found < 0 ? (int) o : -2;
                }
        return found;
}

/* getopt_long's complaint (C: ':' a missing argument, '?' anything else) about TEXT, the argv
 * element it stopped at (for a short option, optopt names it), in our words. */
static int option_error(const CliArgs *a, int c, const char *text, uint64_t among) {
        int len = (int) strcspn(text, "="), k = option_by_text(text, among);
        bool is_long = optopt == 0 || optopt >= 0x100 || (k >= 0 && cli_options[k].short_name == optopt);

        if (!is_long) {
                for (CliOption o = 0; c == ':' && o < _CLI_OPTION_MAX; o++)
                        if ((among & OPT(o)) && cli_options[o].short_name == optopt)
                                return cli_usage_error(a, "option '-%c' needs an argument (%s)", optopt,
                                                       cli_options[o].arg);
                return cli_usage_error(a, "unknown option '-%c'", optopt);
        }
        if (c == ':' && k >= 0)
                return cli_usage_error(a, "option '--%s' needs an argument (%s)", cli_options[k].name,
                                       cli_options[k].arg);
        if (k >= 0 && text[len] == '=')
                return cli_usage_error(a, "option '--%s' takes no value", cli_options[k].name);
        if (k == -2)
                return cli_usage_error(a, "ambiguous option '%.*s'", len, text);
        /* One of another verb's options: say so. */
        k = option_by_text(text, ~among & ~OPT(CLI_SHOW_VERSION));
        if (!a->verb && k >= 0)
                return cli_usage_error(a, "option '--%s' goes after the verb", cli_options[k].name);
        if (k >= 0)
                return cli_usage_error(a, "option '--%s' does not apply to %s", cli_options[k].name, a->verb);
        return cli_usage_error(a, "unknown option '%.*s'", len, text);
}

/* Runs getopt_long over argv with the options in AMONG, appending to a->items. Returns the index of
 * the first operand, 0 when --help was given, or -EINVAL (reported). */
static int parse_options(CliArgs *a, int argc, char *argv[], uint64_t among, bool stop_at_operand) {
        struct option longopts[_CLI_OPTION_MAX + 1] = {};
        char shortopts[2 * _CLI_OPTION_MAX + 3] = {}, *s = shortopts;
        size_t n = 0;
        int c;

        if (stop_at_operand)
                *s++ = '+';
        *s++ = ':'; /* ':' for a missing argument, not '?' */
        for (CliOption o = 0; o < _CLI_OPTION_MAX; o++) {
                if (!(among & OPT(o)))
                        continue;
                longopts[n++] = (struct option) {
                        .name = cli_options[o].name,
                        .has_arg = cli_options[o].arg ? required_argument : no_argument,
                        .val = cli_options[o].short_name ?: 0x100 + (int) o,
                };
                if (cli_options[o].short_name) {
                        *s++ = cli_options[o].short_name;
                        if (cli_options[o].arg)
                                *s++ = ':';
                }
        }

        opterr = 0;
        optind = 0; /* glibc: start over, also its permutation state */
        while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) >= 0) {
                int o = -1;

                if (c == ':' || c == '?')
                        return option_error(a, c, argv[optind - 1], among);
                for (CliOption i = 0; i < _CLI_OPTION_MAX; i++)
                        if ((among & OPT(i)) && (c == 0x100 + (int) i || c == cli_options[i].short_name))
                                o = (int) i;
                if (o == CLI_HELP)
                        return 0;
                a->items[a->n_items++] = (CliItem) { (CliOption) o, cli_options[o].arg ? optarg : NULL };
        }
        return optind;
}

int cli_run(int argc, char *argv[]) {
        _cleanup_free_ CliItem *items = NULL;
        CliArgs a = {};
        const CliVerb *v;
        size_t n_words, n_max = 1;
        int first, r;

        /* getopt gives one option per letter of a cluster of short flags ("-qqq"): never more
         * options than bytes in argv, but many more than argv's elements. */
        for (int i = 1; i < argc; i++)
                n_max += strlen(argv[i]);
        a.items = items = calloc(n_max, sizeof(CliItem));
        if (!items)
                return log_oom();

        /* Global options before the verb: `osupdate --config FILE apply X`, like git and systemctl. */
        r = parse_options(&a, argc, argv, CLI_GLOBAL, true);
        if (r < 0)
                return r;
        if (r == 0 || cli_flag(&a, CLI_SHOW_VERSION) || r >= argc) {
                size_t n;

                if (cli_flag(&a, CLI_SHOW_VERSION)) {
                        printf("osupdate %s\n", OSUPDATE_VERSION);
                        return 0;
                }
                /* --help VERB: that verb's help. */
                v = r == 0 && optind < argc ? verb_find(argv + optind, (size_t) (argc - optind), &n) : NULL;
                if (v)
                        print_verb_help(v);
                else
                        print_overview(NULL);
                return r == 0 ? 0 : -EINVAL; /* no verb at all: a usage error */
        }
        first = r;

        v = verb_find(argv + first, (size_t) (argc - first), &n_words);
        if (!v && is_group(argv[first])) {
                const char *sub = first + 1 < argc ? argv[first + 1] : NULL;

                if (sub && (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)) {
                        print_overview(argv[first]);
                        return 0;
                }
                fprintf(stderr, "osupdate: error: ");
                if (sub)
                        fprintf(stderr, "unknown %s verb \"%s\" (", argv[first], sub);
                else
                        fprintf(stderr, "%s needs a verb: ", argv[first]);
                print_group_verbs(argv[first]);
                fprintf(stderr, "%s. See 'osupdate %s --help'.\n", sub ? ")" : "", argv[first]);
                return -EINVAL;
        }
        if (!v) {
                fprintf(stderr, "osupdate: error: unknown command \"%s\". See 'osupdate --help'.\n", argv[first]);
                return -EINVAL;
        }
        a.verb = v->name;

        /* The verb's options, the global ones among them again (after the verb, as always). */
        {
                uint64_t among = v->options | CLI_EVERYWHERE;
                int argc2 = argc - first - (int) n_words + 1;
                char **argv2 = argv + first + n_words - 1;

                r = parse_options(&a, argc2, argv2, among, false);
                if (r < 0)
                        return r;
                if (r == 0) {
                        print_verb_help(v);
                        return 0;
                }
                a.operands = argv2 + r;
                a.n_operands = (size_t) (argc2 - r);
        }
        /* Global options before the verb that it cannot use. */
        for (size_t i = 0; i < a.n_items; i++) {
                CliOption o = a.items[i].option;

                if (!((v->options | CLI_EVERYWHERE) & OPT(o)))
                        return cli_usage_error(&a, "option '--%s' does not apply to %s", cli_options[o].name, v->name);
        }
        if (a.n_operands < v->min_operands)
                return cli_usage_error(&a, "missing %s", v->operand);
        if (a.n_operands > v->max_operands)
                return cli_usage_error(&a, "unexpected argument '%s'", a.operands[v->max_operands]);

        /* -q: warnings and errors only (OSUPDATE_DEBUG=1 still wins). */
        if (cli_quiet(&a) && log_get_max_level() == LOG_LEVEL_INFO)
                log_set_max_level(LOG_LEVEL_WARNING);
        return v->run(&a);
}
