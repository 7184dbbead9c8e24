/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

#include "policy.h"

/* Every mount namespace on the machine (from /proc/[pid]/ns/mnt), with what the policy engine
 * needs to know of it. */

typedef enum NamespaceRelation {
        NS_RELATION_HOST,       /* ours */
        NS_RELATION_PEER,       /* the target's parent is in the host's peer group */
        NS_RELATION_SLAVE,      /* … a slave (of the host's group, or of a service's): gets propagation */
        NS_RELATION_OWN_GROUP,  /* … shared in its own group only: a container, no propagation */
        NS_RELATION_PRIVATE,    /* … private: no propagation either way */
        NS_RELATION_NO_TARGET,  /* the target path does not exist there */
        _NS_RELATION_MAX,
        _NS_RELATION_INVALID = -22,
} NamespaceRelation;

const char *ns_relation_to_string(NamespaceRelation r);

typedef struct MountNamespace {
        unsigned long long inode;
        pid_t pid;              /* one of its processes */
        size_t n_pids;
        NamespaceRelation relation;
        unsigned mounts_at_target;
        int peer_group;         /* the target's parent mount: shared:N (0: none) … */
        int master_group;       /* … and master:N (0: none) */
        ssize_t parent;         /* index of the namespace whose propagation it receives, -1: none */
        char *version;          /* what <target>/lib/os-release says there, NULL if unreadable or untrusted */
        bool trusted;           /* owned by our user namespace: not a user's own world */
        unsigned slots_at_target;       /* bit per slot: its image is mounted at the target there */
        unsigned slots_elsewhere;       /* … mounted anywhere else there */
        NamespaceFacts facts;   /* units, cgroups, executables of its trusted processes (the first 64) */
        ProcessFacts *procs;     /* those processes */
        size_t n_procs;
} MountNamespace;

/* Devices whose data is a slot's image: its loop device, and a dm-verity device on top of it. */
typedef struct SlotDevice {
        unsigned major, minor;
        int slot;
} SlotDevice;

typedef struct SlotDevices {
        SlotDevice d[32];
        size_t n;
} SlotDevices;

/* The slot a device (major:minor) holds, -1: none of ours. */
int slot_devices_find(const SlotDevices *m, unsigned major, unsigned minor);

/* What one namespace's mountinfo says about the target: the propagation tags (peer group, master)
 * of the mount *under* the stack at target (its parent: where a mount placed beneath takes its
 * propagation from), how many mounts are stacked at target, and which slot images are mounted
 * there and elsewhere. */
typedef struct MountinfoFacts {
        int shared;     /* peer group, 0: none */
        int master;     /* master group, 0: none */
        unsigned mounts_at_target;
        unsigned slots_at_target, slots_elsewhere;
        bool found;     /* a mount holds the target's parent */
} MountinfoFacts;

/* Parses /proc/PID/mountinfo text (escapes undone) for target. */
int namespace_parse_mountinfo(FILE *f, const char *target, const SlotDevices *devs, MountinfoFacts *ret);

/* Lists the namespaces; target is the path (e.g. /usr) whose parent's propagation decides;
 * slots_dir (may be NULL) is StateDirectory/slots, to tell which slot images are mounted where.
 * The caller's own namespace comes first, marked host.
 *
 * Nothing another user controls is believed or can block: a namespace owned by another user
 * namespace is untrusted (no process facts, no file read inside it); a process counts only if its
 * executable is root-owned and not writable by group or others, and it runs as root or in a system
 * unit (not under user.slice); files inside a namespace are opened without following symlinks or
 * leaving its root, non-blocking, regular files only, size-capped. */
int namespace_discover(const char *target, const char *slots_dir, MountNamespace **ret, size_t *ret_n);
void process_facts_done(ProcessFacts *p);
void namespace_list_free(MountNamespace *l, size_t n);
