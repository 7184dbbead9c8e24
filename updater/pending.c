/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "pending.h"
#include "plan.h"

#define PENDING_MAX_SIZE (4U * 1024U * 1024U)

static char *pending_path(const Config *cfg) {
        return path_join(cfg->runtime_directory, "pending.json");
}

void pending_list_done(PendingList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i].version);
        free(l->items);
        *l = (PendingList) {};
}

int pending_put(PendingList *l, unsigned long long inode, pid_t pid, const char *version, time_t deadline) {
        ssize_t k = pending_find(l, inode);
        char *v = version ? strdup(version) : NULL;
        Pending *n;

        if (version && !v)
                return -ENOMEM;
        if (k >= 0) {
                /* A newer update replaces an older pending one for the same namespace, but never
                 * postpones it: updates arriving faster than the deadline must not keep a service
                 * on its first old /usr for ever. */
                time_t earlier = l->items[k].deadline;
                free(l->items[k].version);
                l->items[k] = (Pending) {
                        .inode = inode,
                        .pid = pid,
                        .version = v,
                        .deadline = plan_merge_deadline(earlier, deadline),
                };
                return 0;
        }
        n = realloc(l->items, sizeof(Pending) * (l->n + 1));
        if (!n) {
                free(v);
                return -ENOMEM;
        }
        l->items = n;
        l->items[l->n++] = (Pending) { .inode = inode, .pid = pid, .version = v, .deadline = deadline };
        return 0;
}

void pending_remove(PendingList *l, size_t i) {
        free(l->items[i].version);
        l->items[i] = l->items[--l->n];
}

ssize_t pending_find(const PendingList *l, unsigned long long inode) {
        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].inode == inode)
                        return (ssize_t) i;
        return -1;
}

int pending_load(const Config *cfg, PendingList *ret) {
        _cleanup_free_ char *path = pending_path(cfg), *buf = NULL;
        _cleanup_(json_object_putp) json_object *root = NULL;
        PendingList l = {};
        json_object *arr;
        size_t len;
        int r;

        *ret = (PendingList) {};
        if (!path)
                return -ENOMEM;
        r = read_regular_file(path, PENDING_MAX_SIZE, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r == -ELOOP || r == -EBADFD || r == -EFBIG)
                return log_debug_errno(EUCLEAN, "%s is not a regular file of at most %u bytes.", path, PENDING_MAX_SIZE);
        if (r < 0)
                return r;
        if (json_parse_strict(buf, len, &root) < 0 || json_get_array(root, "pending", false, &arr) < 0)
                return log_debug_errno(EUCLEAN, "%s is corrupt.", path);
        for (size_t i = 0, n = json_object_array_length(arr); i < n; i++) {
                json_object *e = json_object_array_get_idx(arr, i);
                uint64_t ino = 0, pid = 0, deadline = 0;
                const char *v = NULL;

                if (json_get_u64(e, "inode", false, UINT64_MAX - 1, &ino) < 0 || json_get_u64(e, "pid", false, INT32_MAX, &pid) < 0 ||
                    json_get_u64(e, "deadline", true, INT64_MAX, &deadline) < 0 || json_get_string(e, "version", true, &v) < 0) {
                        pending_list_done(&l);
                        return log_debug_errno(EUCLEAN, "%s is corrupt.", path);
                }
                r = pending_put(&l, ino, (pid_t) pid, v, (time_t) deadline);
                if (r < 0) {
                        pending_list_done(&l);
                        return r;
                }
        }
        *ret = l;
        return 0;
}

int pending_save(const Config *cfg, const PendingList *l) {
        _cleanup_free_ char *path = pending_path(cfg);
        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        json_object *arr = json_object_new_array();
        const char *text;

        if (!path || !root || !arr)
                return -ENOMEM;
        json_object_object_add(root, "pending", arr);
        for (size_t i = 0; i < l->n; i++) {
                const Pending *p = &l->items[i];
                json_object *e = json_object_new_object();

                json_object_object_add(e, "inode", json_object_new_uint64(p->inode));
                json_object_object_add(e, "pid", json_object_new_int(p->pid));
                json_object_object_add(e, "version", p->version ? json_object_new_string(p->version) : NULL);
                json_object_object_add(e, "deadline", json_object_new_int64(p->deadline));
                json_object_array_add(arr, e);
        }
        text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
        if (mkdir(cfg->runtime_directory, 0755) < 0 && errno != EEXIST)
                return -errno;
        return write_file_atomic(path, text, strlen(text), 0644);
}
