/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"

/* RuntimeDirectory/pending.json: the namespaces that defer an update, each with its deadline.
 * Written *before* the switch removes any old top (write-ahead), so a crash anywhere leaves every
 * deferral recorded with its deadline. */
typedef struct Pending {
        unsigned long long inode;       /* the mount namespace */
        pid_t pid;                      /* a process in it when recorded */
        char *version;                  /* the version it will see */
        time_t deadline;                /* when it is forced; 0 only in records of older versions */
} Pending;

typedef struct PendingList {
        Pending *items;
        size_t n;
} PendingList;

/* A missing file is an empty list; -EUCLEAN for a corrupt one. */
int pending_load(const Config *cfg, PendingList *ret);
int pending_save(const Config *cfg, const PendingList *l);
/* Adds or replaces (same namespace) a record. */
int pending_put(PendingList *l, unsigned long long inode, pid_t pid, const char *version, time_t deadline);
void pending_remove(PendingList *l, size_t i);
/* The index of the namespace's record, -1: none. */
ssize_t pending_find(const PendingList *l, unsigned long long inode);
void pending_list_done(PendingList *l);
