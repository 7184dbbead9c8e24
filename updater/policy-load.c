/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-parser.h"
#include "fileio.h"
#include "log.h"
#include "parse-util.h"
#include "policy-load.h"

static int parse_mode(const char *value, void *data) {
        PolicyMode m = policy_mode_from_string(value);

        if (m < 0)
                return -EINVAL;
        *(PolicyMode *) data = m;
        return 0;
}

static int parse_container(const char *value, void *data) {
        bool b;
        int r = parse_boolean(value, &b);

        if (r < 0)
                return r;
        *(int *) data = b;
        return 0;
}

static int parse_deadline(const char *value, void *data) {
        uint64_t v;
        int r = parse_timespan(value, &v);

        if (r < 0 || v == 0)
                return -EINVAL;
        *(uint64_t *) data = v;
        return 0;
}

static int parse_notify(const char *value, void *data) {
        static const char *const ok[] = { "none", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGINT", "SIGWINCH", NULL };

        for (const char *const *i = ok; *i; i++)
                if (strcmp(*i, value) == 0)
                        return conf_parse_string(value, data);
        return -EINVAL;
}

static int parse_glob(const char *value, void *data) {
        if (!*value)
                return -EINVAL;
        return conf_parse_string(value, data);
}

/* One rule from one file; the items point into *rule. */
static int policy_rule_load(const char *dir, const char *name, PolicyRule *rule) {
        _cleanup_free_ char *p = path_join(dir, name);
        const ConfItem items[] = {
                { "Match", "Unit", parse_glob, &rule->unit },
                { "Match", "Cgroup", parse_glob, &rule->cgroup },
                { "Match", "Executable", parse_glob, &rule->executable },
                { "Match", "Container", parse_container, &rule->container },
                { "Policy", "Mode", parse_mode, &rule->mode },
                { "Policy", "Deadline", parse_deadline, &rule->deadline_usec },
                { "Policy", "Notify", parse_notify, &rule->notify },
                {},
        };

        *rule = (PolicyRule) { .container = -1, .mode = _POLICY_MODE_INVALID, .name = strdup(name) };
        if (!p || !rule->name)
                return log_oom();
        return conf_parse_file(p, items); /* -ENOEXEC (logged with file and line) or -ENOMEM */
}

int policy_load(const Config *cfg, PolicySet *ret) {
        _cleanup_(policy_set_done) PolicySet s = { .default_mode = cfg->default_mode,
                                                   .default_deadline_usec = cfg->default_deadline_usec };
        _cleanup_strv_free_ char **files = NULL;
        int r, n;

        n = dir_list_suffix(cfg->policy_directory, ".conf", &files);
        if (n == -ENOENT) {
                *ret = TAKE_STRUCT(s);
                return 0;
        }
        if (n < 0)
                return log_error_errno(n, "Cannot list %s: %m", cfg->policy_directory);
        s.rules = calloc((size_t) n + 1, sizeof(PolicyRule));
        if (!s.rules)
                return log_oom();

        for (char **f = files; *f; f++) {
                /* Counted before it is loaded, so that policy_set_done() frees what it holds. */
                r = policy_rule_load(cfg->policy_directory, *f, &s.rules[s.n_rules++]);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_STRUCT(s);
        return 0;
}
