/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Which mount namespace gets the new /usr how: force (the old top goes at once), defer (the
 * namespace's service drops it at a safe point, at the latest by a deadline), or skip. Rules come
 * from PolicyDirectory=/ *.conf; this module only decides (no I/O). */

typedef enum PolicyMode {
        POLICY_FORCE,
        POLICY_DEFER,
        POLICY_SKIP,
        _POLICY_MODE_MAX,
        _POLICY_MODE_INVALID = -22,
} PolicyMode;

const char *policy_mode_to_string(PolicyMode m);
PolicyMode policy_mode_from_string(const char *s);

typedef struct PolicyRule {
        char *name;             /* the file it came from */
        /* [Match]: every key given must match; none given matches every namespace. */
        char *unit;             /* glob on the systemd units of the namespace's processes */
        char *cgroup;           /* glob on their cgroup paths */
        char *executable;       /* glob on their executables */
        int container;          /* -1: either, 0: not a container, 1: a container */
        /* [Policy]: what the rule sets; unset fields leave earlier rules' values. */
        PolicyMode mode;        /* _POLICY_MODE_INVALID: unset */
        uint64_t deadline_usec; /* 0: unset */
        char *notify;           /* NULL: unset; "none", or a signal name such as "SIGHUP" */
} PolicyRule;

typedef struct PolicySet {
        PolicyRule *rules;      /* in lexical order of their files */
        size_t n_rules;
        PolicyMode default_mode;        /* [Policy] DefaultMode= of osupdate.conf, force */
        uint64_t default_deadline_usec; /* DefaultDeadline=, 0: none */
} PolicySet;

/* What is known of one mount namespace. */
typedef struct NamespaceFacts {
        bool host;
        bool container;         /* its /usr is in its own peer group, no propagation from the host */
        char **units;           /* NULL-terminated, may be NULL */
        char **cgroups;
        char **executables;
} NamespaceFacts;

/* One process whose attributes can be trusted (the caller decides which). */
typedef struct ProcessFacts {
        pid_t pid;
        char *executable;
        char *cgroup;
        char *unit;             /* its systemd unit, NULL: none */
} ProcessFacts;

typedef struct PolicyDecision {
        PolicyMode mode;
        uint64_t deadline_usec; /* 0: none (defer without a deadline waits for a release) */
        const char *notify;     /* "none" or a signal name */
        const char *rule;       /* the last rule that matched, or NULL */
        ssize_t rule_index;     /* its index in the set, -1: none */
        bool overridden;        /* a defer turned into force by a critical update */
} PolicyDecision;

/* Every matching rule applies in order, each setting what it names (later files win). A critical
 * update forces every namespace that would defer; skip stays skip. The host is forced unless a
 * rule that names it (Unit=/Cgroup=/Executable= of its processes) says otherwise; a container
 * (no propagation from the host) is skipped unless a rule matches it. */
int policy_decide(const PolicySet *s, const NamespaceFacts *ns, bool critical, PolicyDecision *ret);

bool policy_rule_matches(const PolicyRule *r, const NamespaceFacts *ns);
/* Does the rule match this one process (every Unit=/Cgroup=/Executable= it names, on it alone)? */
bool policy_rule_matches_process(const PolicyRule *r, const ProcessFacts *p);
/* Does the rule name processes at all (Unit=, Cgroup= or Executable=)? */
bool policy_rule_names_processes(const PolicyRule *r);

void policy_set_done(PolicySet *s);
void policy_rule_done(PolicyRule *r);
