/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "policy.h"

static const char *const mode_table[_POLICY_MODE_MAX] = {
        [POLICY_FORCE] = "force",
        [POLICY_DEFER] = "defer",
        [POLICY_SKIP] = "skip",
};

const char *policy_mode_to_string(PolicyMode m) {
        return m >= 0 && m < _POLICY_MODE_MAX ? mode_table[m] : NULL;
}

PolicyMode policy_mode_from_string(const char *s) {
        for (int i = 0; i < _POLICY_MODE_MAX; i++)
                if (strcmp(s, mode_table[i]) == 0)
                        return (PolicyMode) i;
        return _POLICY_MODE_INVALID;
}

static bool any_matches(char **list, const char *pattern) {
        for (char **i = list; i && *i; i++)
                if (fnmatch(pattern, *i, 0) == 0)
                        return true;
        return false;
}

bool policy_rule_matches(const PolicyRule *r, const NamespaceFacts *ns) {
        if (r->container >= 0 && (bool) r->container != ns->container)
                return false;
        if (r->unit && !any_matches(ns->units, r->unit))
                return false;
        if (r->cgroup && !any_matches(ns->cgroups, r->cgroup))
                return false;
        if (r->executable && !any_matches(ns->executables, r->executable))
                return false;
        return true;
}

bool policy_rule_names_processes(const PolicyRule *r) {
        return r->unit || r->cgroup || r->executable;
}

static bool one_matches(const char *value, const char *pattern) {
        return !pattern || (value && fnmatch(pattern, value, 0) == 0);
}

bool policy_rule_matches_process(const PolicyRule *r, const ProcessFacts *p) {
        return one_matches(p->unit, r->unit) && one_matches(p->cgroup, r->cgroup) && one_matches(p->executable, r->executable);
}

int policy_decide(const PolicySet *s, const NamespaceFacts *ns, bool critical, PolicyDecision *ret) {
        PolicyDecision d = {
                .mode = s->default_mode,
                .deadline_usec = s->default_deadline_usec,
                .notify = "none",
                .rule_index = -1,
        };

        if (s->default_mode < 0 || s->default_mode >= _POLICY_MODE_MAX)
                return -EINVAL;
        if (ns->host)
                d.mode = POLICY_FORCE;
        /* A container is a world of its own: left alone unless a rule says otherwise. */
        if (ns->container)
                d.mode = POLICY_SKIP;

        for (size_t i = 0; i < s->n_rules; i++) {
                const PolicyRule *r = &s->rules[i];

                if (!policy_rule_matches(r, ns))
                        continue;
                /* A catch-all rule does not hold the host back: only one that names its processes. */
                if (ns->host && !policy_rule_names_processes(r))
                        continue;
                if (r->mode >= 0)
                        d.mode = r->mode;
                if (r->deadline_usec > 0)
                        d.deadline_usec = r->deadline_usec;
                if (r->notify)
                        d.notify = r->notify;
                d.rule = r->name;
                d.rule_index = (ssize_t) i;
        }

        if (critical && d.mode == POLICY_DEFER) {
                d.mode = POLICY_FORCE;
                d.overridden = true;
                log_debug("Critical update: overriding the deferral of rule %s.", d.rule ?: "(default)");
        }
        *ret = d;
        return 0;
}

void policy_rule_done(PolicyRule *r) {
        free(r->name);
        free(r->unit);
        free(r->cgroup);
        free(r->executable);
        free(r->notify);
        *r = (PolicyRule) { .container = -1, .mode = _POLICY_MODE_INVALID };
}

void policy_set_done(PolicySet *s) {
        for (size_t i = 0; i < s->n_rules; i++)
                policy_rule_done(&s->rules[i]);
        free(s->rules);
        *s = (PolicySet) {};
}
