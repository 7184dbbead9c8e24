/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bundle-reader.h"
#include "cli.h"
#include "config.h"
#include "fileio.h"
#include "log.h"
#include "plan.h"
#include "provision.h"
#include "signature.h"
#include "slot.h"
#include "state.h"

/* Paths of an image root, like `systemctl --root`: every path of its configuration is resolved
 * inside the root as if it were "/" (openat2 RESOLVE_IN_ROOT), so an absolute symlink in a tree
 * under construction (var/lib -> /var/lib) stays inside it. What was resolved is then used by its
 * real path on the build host, with the checks every other command makes (dir_open_safe_at()). */

static int openat2_in_root(int root_fd, const char *rel, int flags) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        int fd;

        while (*rel == '/')
                rel++;
        fd = (int) syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how, sizeof how);
        return fd < 0 ? -errno : fd;
}

static int fd_path(int fd, char **ret) {
        char proc[64], buf[PATH_MAX];
        ssize_t n;

        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        n = readlink(proc, buf, sizeof buf - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

/* REL resolved inside the root: the real host path of its longest existing prefix, the missing
 * rest appended as it is (*ret_exists false then). A missing component that is a symlink (one
 * pointing nowhere inside the root) is refused: creating through it would leave the root. */
static int root_resolve(int root_fd, const char *root, const char *rel, char **ret, bool *ret_exists) {
        _cleanup_free_ char *copy = strdup(rel), *prefix = calloc(1, strlen(rel) + 2), *base = NULL, *rest = NULL;
        _cleanup_close_ int last = -EBADF;
        char *save = NULL;
        int r;

        if (!copy || !prefix)
                return -ENOMEM;
        last = openat2_in_root(root_fd, "/", O_PATH | O_DIRECTORY);
        if (last < 0)
                return last;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                int fd;

                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0)
                        return log_debug_errno(ELOOP, "%s: a path with \"..\" in root %s: refusing it.", rel, root);
                if (rest) {
                        char *n = path_join(rest, c);
                        if (!n)
                                return -ENOMEM;
                        free(rest);
                        rest = n;
                        continue;
                }
                strcat(strcat(prefix, "/"), c);
                fd = openat2_in_root(root_fd, prefix, O_PATH);
                if (fd >= 0) {
                        safe_close(last);
                        last = fd;
                        continue;
                }
                if (fd != -ENOENT)
                        return log_debug_errno(fd, "Cannot resolve %s in root %s: %m", prefix, root);
                struct stat st;
                if (fstatat(last, c, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                        return log_debug_errno(ELOOP, "%s in root %s is a symbolic link to nothing inside the root: "
                                               "refusing to create through it.", prefix, root);
                rest = strdup(c);
                if (!rest)
                        return -ENOMEM;
        }
        r = fd_path(last, &base);
        if (r < 0)
                return log_debug_errno(r, "Cannot resolve %s in root %s: %m", rel, root);
        *ret_exists = !rest;
        if (!rest) {
                *ret = TAKE_PTR(base);
                return 0;
        }
        *ret = path_join(base, rest);
        return *ret ? 0 : -ENOMEM;
}

/* Creates REL inside the root, each missing directory below the one resolved before (never
 * through a symlink of the host). */
static int root_mkdir(int root_fd, const char *root, const char *rel) {
        _cleanup_free_ char *copy = strdup(rel), *prefix = calloc(1, strlen(rel) + 2);
        char *save = NULL;

        if (!copy || !prefix)
                return -ENOMEM;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                _cleanup_close_ int parent = openat2_in_root(root_fd, prefix, O_PATH | O_DIRECTORY);

                if (parent < 0)
                        return log_debug_errno(parent, "Cannot open %s in root %s: %m", *prefix ? prefix : "/", root);
                if (mkdirat(parent, c, 0755) < 0 && errno != EEXIST)
                        return log_debug_errno(errno, "Cannot create %s/%s in root %s: %m", prefix, c, root);
                strcat(strcat(prefix, "/"), c);
        }
        return 0;
}

typedef struct ProvisionContext {
        const char *root;
        int root_fd;
        const char *state_rel;          /* StateDirectory= as configured, inside the root */
        const char *state_dir;          /* … resolved on the host */
        const DeviceFacts *device;
        bool marked;
} ProvisionContext;

/* The authentic manifest, before a byte is written: admitted like a fetch, then the state
 * directory is made inside the root (only now: a refused bundle leaves the root as it was). */
static int provision_check(const Manifest *m, void *userdata) {
        ProvisionContext *c = userdata;
        _cleanup_free_ char *again = NULL;
        bool exists;
        Verdict v;
        int r;

        plan_admit(c->device, m, PLAN_FETCH, -1, &v);
        if (v.error < 0)
                return log_debug_errno(v.error, "%s", v.reason);
        r = root_mkdir(c->root_fd, c->root, c->state_rel);
        if (r < 0)
                return r;
        r = root_resolve(c->root_fd, c->root, c->state_rel, &again, &exists);
        if (r < 0)
                return r;
        if (!exists || strcmp(again, c->state_dir) != 0)
                return log_debug_errno(ELOOP, "%s in root %s changed while it was created: refusing to use it.",
                                       c->state_rel, c->root);
        c->marked = true;
        /* Leftovers of a provisioning that failed before. */
        return slot_clear(c->state_dir, 0);
}

static int load_keys(int root_fd, const char *root, const Config *cfg, const char *keys, Keyring *k) {
        const char *dirs[] = { cfg->keys_directory, VENDOR_KEYS_DIRECTORY };
        int r;

        if (keys) {
                r = keyring_load_dir(k, keys);
                if (r < 0)
                        return log_error_errno(r, "Cannot read trusted keys from %s: %m", keys);
        } else
                for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                        _cleanup_free_ char *p = NULL;
                        bool exists;

                        r = root_resolve(root_fd, root, dirs[i], &p, &exists);
                        if (r < 0)
                                return log_error_errno(r, "Cannot read trusted keys from %s in root %s: %s", dirs[i], root,
                                                       log_detail() ?: strerror(-r));
                        if (!exists)
                                continue;
                        r = keyring_load_dir(k, p);
                        if (r < 0)
                                return log_error_errno(r, "Cannot read trusted keys from %s: %m", p);
                }
        if (k->n_keys == 0)
                return log_error_errno(ENOKEY, "No trusted keys in %s: nothing can be verified.",
                                       keys ?: "KeysDirectory= or " VENDOR_KEYS_DIRECTORY " inside the root");
        return 0;
}

static int load_config(int root_fd, const char *root, const char *path, Config *ret) {
        static const char *const rel[] = { CONFIG_VENDOR_FILE, CONFIG_DEFAULT_FILE, CONFIG_DEFAULT_FILE ".d" };
        char *p[ELEMENTSOF(rel)] = {};
        int r = 0;

        if (path)
                return config_load(path, ret);
        for (size_t i = 0; i < ELEMENTSOF(rel) && r >= 0; i++) {
                bool exists;

                r = root_resolve(root_fd, root, rel[i], &p[i], &exists);
                if (r >= 0 && !exists)
                        {
                        free(p[i]);
                        p[i] = NULL;
                }
        }
        if (r < 0)
                (void) log_error_errno(r, "Cannot read the configuration of root %s: %s", root, log_detail() ?: strerror(-r));
        else
                r = config_load_files(p[0], p[1], p[2], ret);
        for (size_t i = 0; i < ELEMENTSOF(rel); i++)
                free(p[i]);
        return r;
}

static int fail(int r, const char *what) {
        return log_error_errno(r, "%s: %s", what, log_detail() ?: strerror(-r));
}

int cmd_provision(const CliArgs *a) {
        const char *bundle = a->operands[0], *root = cli_value(a, CLI_ROOT), *arch = cli_value(a, CLI_ARCH);
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(keyring_done) Keyring keyring = {};
        _cleanup_(state_done) State s = {};
        _cleanup_(slot_writer_done) SlotWriter w = {};
        _cleanup_free_ char *state_dir = NULL;
        _cleanup_close_ int root_fd = -EBADF, fd = -EBADF;
        struct utsname uts;
        DeviceFacts device;
        ProvisionContext ctx;
        SlotPlan sp;
        bool exists;
        int r;

        log_detail_clear();
        if (!root)
                return cli_usage_error(a, "missing --root DIR");
        root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) {
                if (errno == ENOTDIR)
                        return log_error_errno(ENOENT, "Root %s is not a directory.", root);
                return log_error_errno(errno, "Cannot open root %s: %m", root);
        }

        r = load_config(root_fd, root, cli_value(a, CLI_CONFIG), &cfg);
        if (r < 0)
                return r;
        r = load_keys(root_fd, root, &cfg, cli_value(a, CLI_KEYS), &keyring);
        if (r < 0)
                return r;

        r = root_resolve(root_fd, root, cfg.state_directory, &state_dir, &exists);
        if (r < 0)
                return fail(r, "provision failed");
        state_init(&s);
        if (exists) {
                r = state_load(state_dir, &s);
                if (r == -EUCLEAN)
                        return log_error_errno(ENOTRECOVERABLE, "%s/state.json is corrupt: %s Nothing was changed.", state_dir,
                                               log_detail() ?: "");
                if (r < 0)
                        return fail(r, "provision failed");
        }

        if (uname(&uts) < 0)
                return log_error_errno(errno, "uname() failed: %m");
        device = (DeviceFacts) {
                .booted = s.booted,
                .active = s.active,
                .staged = s.staged,
                .next_boot = s.next_boot,
                .version_floor = s.version_floor,
                .os_id = cfg.os_id,     /* the root runs no OS yet: OSId= or not checked */
                .architecture = arch ?: uts.machine,
                .now = time(NULL),
        };
        for (int i = 0; i < SLOT_MAX; i++)
                device.slots[i] = (SlotFacts) {
                        .ready = s.slots[i].state == SLOT_READY,
                        .empty = s.slots[i].state == SLOT_EMPTY,
                        .recorded_version = s.slots[i].version,
                };
        plan_provision(&device, &sp);
        if (sp.slot < 0)
                return log_error_errno(sp.verdict.error, "provision refused: %s", sp.verdict.reason);

        fd = open(bundle, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open bundle %s: %m", bundle);

        ctx = (ProvisionContext) {
                .root = root,
                .root_fd = root_fd,
                .state_rel = cfg.state_directory,
                .state_dir = state_dir,
                .device = &device,
        };
        r = slot_writer_init(&w, state_dir, sp.slot);
        if (r < 0)
                return log_oom();
        w.check = provision_check;
        w.userdata = &ctx;
        {
                BundleReadOptions opts = {
                        .keyring = &keyring,
                        .signatures_required = cfg.signatures_required,
                        .now = device.now,
                        .sink = &w.sink,
                };

                r = bundle_read(bundle_fd_read, &fd, &opts, NULL, NULL);
        }
        if (r >= 0)
                r = slot_writer_commit(&w);
        if (r < 0) {
                /* Nothing half-written stays: the slot is emptied (the state never named it). */
                if (ctx.marked)
                        (void) slot_clear(state_dir, sp.slot);
                return fail(r, "provision failed");
        }

        /* Not booted yet (the boot stage records that), but chosen, live at first boot and good:
         * the image builder vouches for it. The version floor stays unset, as mark-good leaves it. */
        state_done(&s);
        state_init(&s);
        s.slots[sp.slot] = (SlotInfo) { .state = SLOT_READY, .version = TAKE_PTR(w.version), .fstype = TAKE_PTR(w.fstype) };
        s.active = s.next_boot = sp.slot;
        s.good = s.slots[sp.slot].good = true;
        r = state_save(state_dir, &s);
        if (r < 0) {
                (void) slot_clear(state_dir, sp.slot);
                return fail(r, "provision failed: cannot record the state");
        }
        if (!cli_quiet(a))
                printf("Provisioned %s into slot %s of %s (%s).\n", s.slots[sp.slot].version, slot_name(sp.slot), root,
                       state_dir);
        return 0;
}
