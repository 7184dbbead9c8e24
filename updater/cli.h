/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define OSUPDATE_VERSION "0.1"

/* The command line: one table of verbs and one of options (updater/cli.c) from which parsing, the
 * overview (`osupdate --help`), each verb's help (`osupdate VERB --help`, `osupdate help VERB`) and
 * the checks of tests/integration/bash-completion.sh all derive. */

typedef enum CliOption {
        /* Global: before or after the verb. */
        CLI_CONFIG,
        CLI_KEYS,
        CLI_JSON,
        CLI_QUIET,
        CLI_NO_PAGER,
        CLI_HELP,
        CLI_SHOW_VERSION, /* only before the verb: after `bundle create`, --version takes a V */
        /* apply, fetch, mark-good, release */
        CLI_DRY_RUN,
        CLI_STAGED,
        CLI_RAISE_FLOOR,
        CLI_PID,
        CLI_CHECK,
        CLI_EXPIRED,
        CLI_NOT_BEFORE,
        /* provision */
        CLI_ROOT,
        /* bundle create */
        CLI_KEY,
        CLI_VERSION,
        CLI_OS_ID,
        CLI_ARCH,
        CLI_TREE,
        CLI_IMAGE,
        CLI_HASH_TREE,
        CLI_FSTYPE,
        CLI_MIN_VERSION,
        CLI_EXPIRES,
        CLI_CRITICAL,
        CLI_OUTPUT,
        /* channel create */
        CLI_NAME,
        CLI_SERIAL,
        CLI_BUNDLE,
        CLI_BUNDLE_FILE,
        CLI_MIRROR,
        CLI_PERCENT,
        CLI_ROLLOUT_START,
        CLI_ROLLOUT_DURATION,
        CLI_PAUSE,
        /* agent, lock */
        CLI_ONCE,
        CLI_ID,
        CLI_GROUP,
        _CLI_OPTION_MAX,
} CliOption;

typedef struct CliItem {
        CliOption option;
        const char *value; /* NULL for a flag */
} CliItem;

/* What the command line asked for: the verb, every option in the order given (globals before the
 * verb first), the operands. Pointers into argv. */
typedef struct CliArgs {
        const char *verb; /* "apply", "bundle create", … */
        CliItem *items;
        size_t n_items;
        char **operands;
        size_t n_operands;
} CliArgs;

/* The last value given for OPTION, or NULL. */
static inline const char *cli_value(const CliArgs *a, CliOption option) {
        for (size_t i = a->n_items; i > 0; i--)
                if (a->items[i - 1].option == option)
                        return a->items[i - 1].value;
        return NULL;
}

static inline bool cli_flag(const CliArgs *a, CliOption option) {
        for (size_t i = 0; i < a->n_items; i++)
                if (a->items[i].option == option)
                        return true;
        return false;
}

/* `-q`: confirmations ("Freed 1 slot(s).") and informational messages are left out; errors, warnings
 * and what a verb was asked to show (status, a plan, --json) are not. */
static inline bool cli_quiet(const CliArgs *a) {
        return cli_flag(a, CLI_QUIET);
}

/* Logs "osupdate: error: VERB: MESSAGE. See 'osupdate VERB --help'." and returns -EINVAL (exit 2). */
int cli_usage_error(const CliArgs *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses argv, prints help or runs the verb. Negative errno on failure (usage errors: -EINVAL). */
int cli_run(int argc, char *argv[]);
