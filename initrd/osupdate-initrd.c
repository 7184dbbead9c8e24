/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* osupdate-initrd: the boot-time stage. Run in the initramfs once the writable root filesystem is
 * mounted at --root; picks a slot with the planner (policy/plan.c: plan_boot), records the attempt
 * durably before trying it, authenticates the slot's signed manifest with the initramfs's own keys,
 * binds its image to the signed root hash with dm-verity (or checks it whole, degraded), mounts it
 * read-only at <root>/usr and leaves what booted in /run/osupdate/booted.json. Falls back to the
 * other slot on any failure; with nothing bootable it mounts nothing and exits non-zero.
 *
 * Trust: keys and settings come only from the initramfs (its /etc/osupdate), never from the root
 * filesystem, which anyone with the disk offline can change. From the root it reads the state (tries,
 * next boot, floor: bookkeeping, see docs/boot.md for what that means) and the slots, which must
 * authenticate. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "config.h"
#include "fileio.h"
#include "hex.h"
#include "log.h"
#include "loop.h"
#include "manifest.h"
#include "mount.h"
#include "os-release.h"
#include "plan.h"
#include "signature.h"
#include "slot-auth.h"
#include "state.h"
#include "verity-activate.h"

#define CMDLINE_MAX (64U * 1024U)

typedef struct Args {
        const char *root;
        const char *config;
        const char *keys;
        const char *cmdline;
        const char *run_dir;
} Args;

typedef struct Boot {
        Args args;
        Config cfg;
        Keyring keys;
        char *state_dir;        /* <root><StateDirectory> */
        State state;
        bool rebuilt;           /* no usable state.json: rebuilt from the slots */
        Manifest *manifests[SLOT_MAX];
        int forced;             /* osupdate.slot= */
        VerityMode verity;      /* Verity= or osupdate.verity= */
        BootFacts facts;
} Boot;

static void boot_done(Boot *b) {
        config_done(&b->cfg);
        keyring_done(&b->keys);
        free(b->state_dir);
        state_done(&b->state);
        for (int i = 0; i < SLOT_MAX; i++)
                manifest_free(b->manifests[i]);
}

/* Everything the stage says goes to the console (stderr in the initramfs), one line each. */
#define say(...) fprintf(stderr, "osupdate: " __VA_ARGS__)

static void usage(FILE *f) {
        fputs("Usage: osupdate-initrd --root DIR [--config FILE] [--keys DIR] [--cmdline FILE] [--run-dir DIR]\n"
              "\n"
              "The boot stage of osupdate: run in the initramfs once the root filesystem is mounted at DIR.\n"
              "Picks a slot, counts the attempt, authenticates it with the initramfs's keys, sets up dm-verity\n"
              "and mounts the image read-only at DIR/usr.\n"
              "\n"
              "  --root DIR       the root filesystem, mounted writable\n"
              "  --config FILE    settings (default: /etc/osupdate/osupdate.conf of the initramfs)\n"
              "  --keys DIR       trusted keys (default: /etc/osupdate/keys.d of the initramfs)\n"
              "  --cmdline FILE   the kernel command line (default: /proc/cmdline)\n"
              "  --run-dir DIR    where booted.json goes (default: /run/osupdate)\n"
              "\n"
              "Kernel command line: osupdate.slot=a|b, osupdate.verity=auto|kernel|userspace.\n",
              f);
}

static int parse_args(int argc, char **argv, Args *ret) {
        static const struct option options[] = {
                { "root", required_argument, NULL, 'r' },  { "config", required_argument, NULL, 'c' },
                { "keys", required_argument, NULL, 'k' },  { "cmdline", required_argument, NULL, 'l' },
                { "run-dir", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },     {},
        };
        Args a = { .cmdline = "/proc/cmdline", .run_dir = "/run/osupdate" };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'r': a.root = optarg; break;
                case 'c': a.config = optarg; break;
                case 'k': a.keys = optarg; break;
                case 'l': a.cmdline = optarg; break;
                case 'd': a.run_dir = optarg; break;
                case 'h': usage(stdout); exit(EXIT_SUCCESS);
                case 'V': puts("osupdate-initrd " OSUPDATE_VERSION); exit(EXIT_SUCCESS);
                default: return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(EINVAL, "Unexpected argument '%s'. See 'osupdate-initrd --help'.", argv[optind]);
        if (!a.root || a.root[0] != '/')
                return log_error_errno(EINVAL, "--root DIR (an absolute path) is required. See 'osupdate-initrd --help'.");
        if (a.run_dir[0] != '/')
                return log_error_errno(EINVAL, "--run-dir must be an absolute path.");
        *ret = a;
        return 0;
}

/* osupdate.slot= and osupdate.verity= (the last of each wins, as the kernel's own options do). A
 * value we do not know is reported and ignored: a typo must not stop the boot. */
static int parse_cmdline(Boot *b) {
        _cleanup_free_ char *text = NULL;
        char *save = NULL;
        int r;

        b->forced = -1;
        b->verity = b->cfg.verity;
        r = read_full_file(b->args.cmdline, CMDLINE_MAX, &text, NULL);
        if (r < 0)
                return log_error_errno(r, "Cannot read the kernel command line %s: %m", b->args.cmdline);
        for (char *w = strtok_r(text, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
                if (strncmp(w, "osupdate.slot=", 14) == 0) {
                        r = slot_from_name(w + 14);
                        if (r < 0)
                                say("ignoring '%s' on the kernel command line: the slots are a and b.\n", w);
                        b->forced = r < 0 ? -1 : r;
                } else if (strncmp(w, "osupdate.verity=", 16) == 0) {
                        VerityMode m = verity_mode_from_string(w + 16);
                        if (m < 0)
                                say("ignoring '%s' on the kernel command line: auto, kernel or userspace.\n", w);
                        else
                                b->verity = m;
                }
        }
        return 0;
}

/* The state directory's path below the root must be plain directories: a symlink there (anyone's
 * who had the disk) would have the state read and written elsewhere, e.g. in the initramfs, where
 * a spent try is forgotten at the next boot. */
static int check_no_symlinks(const char *root, const char *rel) {
        struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH };
        _cleanup_close_ int root_fd = -EBADF, fd = -EBADF;

        root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return log_error_errno(errno, "Cannot open the root %s: %m", root);
        while (*rel == '/')
                rel++;
        fd = (int) syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how, sizeof how);
        if (fd < 0 && errno == ELOOP)
                return log_error_errno(ELOOP, "The state directory %s/%s goes through a symlink: refusing to use it.", root, rel);
        if (fd < 0 && errno != ENOENT)
                return log_error_errno(errno, "Cannot open the state directory %s/%s: %m", root, rel);
        return 0;
}

static int load_config(Boot *b) {
        int r;

        if (b->args.config)
                r = config_load(b->args.config, &b->cfg);
        else
                r = config_load_files(CONFIG_VENDOR_FILE, CONFIG_DEFAULT_FILE, CONFIG_DEFAULT_FILE ".d", &b->cfg);
        if (r < 0)
                return r;
        /* Keys from the initramfs only: --keys, or its KeysDirectory= and vendor directory. */
        r = config_load_keyring(&b->cfg, b->args.keys, &b->keys);
        if (r < 0)
                return r;
        b->state_dir = path_join(b->args.root, b->cfg.state_directory);
        if (!b->state_dir)
                return log_oom();
        return check_no_symlinks(b->args.root, b->cfg.state_directory);
}

/* state.json, or, when it is missing or corrupt, a state rebuilt from whatever slots authenticate
 * (loudly; the corrupt file is kept beside it as state.json.corrupt). */
static int load_state(Boot *b) {
        _cleanup_free_ char *path = path_join(b->state_dir, "state.json");
        bool missing;
        int r;

        if (!path)
                return log_oom();
        missing = access(path, F_OK) < 0 && errno == ENOENT;
        r = missing ? 0 : state_load(b->state_dir, &b->state);
        if (r == -EUCLEAN) {
                _cleanup_free_ char *aside = path_join(b->state_dir, "state.json.corrupt");
                say("WARNING: %s is corrupt: rebuilding it from the slots that authenticate.\n", path);
                if (aside && rename(path, aside) < 0)
                        say("WARNING: cannot keep the corrupt state as %s: %m\n", aside);
                state_init(&b->state);
        } else if (r < 0)
                return log_error_errno(r, "Cannot read the state in %s: %m", b->state_dir);
        else if (missing) {
                say("WARNING: %s is missing: rebuilding it from the slots that authenticate.\n", path);
                state_init(&b->state);
        }
        b->rebuilt = missing || r == -EUCLEAN;
        if (!b->rebuilt)
                return 0;
        for (int i = 0; i < SLOT_MAX; i++) {
                Manifest *m = NULL;
                if (!slot_is_complete(b->state_dir, i) ||
                    slot_authenticate(b->state_dir, i, &b->keys, b->cfg.signatures_required, &m) < 0)
                        continue;
                /* Whether it was ever marked good is lost with the state: it counts as good, so
                 * both slots stay candidates and Limit= still ends a slot that never comes up. */
                b->state.slots[i] = (SlotInfo) { .state = SLOT_READY, .version = strdup(m->version),
                                                 .fstype = strdup(m->images[0].fstype), .good = true };
                manifest_free(m);
                if (!b->state.slots[i].version || !b->state.slots[i].fstype)
                        return log_oom();
        }
        return 0;
}

static void gather_facts(Boot *b) {
        State *s = &b->state;

        b->facts = (BootFacts) { .next_boot = s->next_boot, .forced = b->forced, .version_floor = s->version_floor,
                                 .limit = b->cfg.boot.limit };
        for (int i = 0; i < SLOT_MAX; i++) {
                BootSlotFacts *f = &b->facts.slots[i];
                int r = -ENOENT;

                manifest_free(b->manifests[i]);
                b->manifests[i] = NULL;
                if (s->slots[i].state == SLOT_READY && slot_is_complete(b->state_dir, i))
                        r = slot_authenticate(b->state_dir, i, &b->keys, b->cfg.signatures_required, &b->manifests[i]);
                *f = (BootSlotFacts) {
                        .ready = s->slots[i].state == SLOT_READY,
                        .auth = r < 0 ? r : 0,
                        .version = r < 0 ? NULL : b->manifests[i]->version,
                        .good = s->slots[i].good,
                        .unconfirmed = s->slots[i].unconfirmed,
                        /* Only the next boot's trial is recorded (boot_tries); another slot not
                         * marked good has had its chance (0), unless nothing is known (rebuilt). */
                        .tries = i == s->next_boot ? (s->good ? -1 : s->boot_tries)
                                 : (s->slots[i].good || b->rebuilt ? -1 : 0),
                };
                if (i == s->next_boot && s->good)
                        f->good = true;
        }
}

static const char *describe_error(int r) {
        switch (-r) {
        case EBADMSG: return "its image does not match the signed root hash (dm-verity)";
        case EILSEQ: return "its image's own os-release does not match its signed manifest";
        case EMEDIUMTYPE: return "its image is not the filesystem its manifest names";
        case ENODEV: return "Verity=kernel, but this kernel has no device-mapper";
        case ENOTDIR: return "the root filesystem's usr is not a directory";
        default: return NULL;
        }
}

/* Sets up slot i and mounts it at <root>/usr; on success *ret_kernel says which verity. */
static int try_slot(Boot *b, int i, bool *ret_kernel) {
        _cleanup_free_ char *dir = slot_path(b->state_dir, i), *image = NULL, *tree = NULL, *loopdev = NULL, *treedev = NULL,
                            *device = NULL, *name = NULL, *usr = NULL;
        _cleanup_close_ int loop_fd = -EBADF, tree_fd = -EBADF, mnt = -EBADF;
        const Manifest *m = b->manifests[i];
        const ManifestImage *img = &m->images[0];
        OsRelease o = {};
        Verdict v;
        bool kernel;
        int r;

        if (!dir || !(image = path_join(dir, SLOT_IMAGE)) || !(tree = path_join(dir, SLOT_TREE)) ||
            !(usr = path_join(b->args.root, "usr")))
                return -ENOMEM;
        kernel = verity_kernel_available();
        if (b->verity == VERITY_MODE_KERNEL && !kernel)
                return -ENODEV;
        if (b->verity == VERITY_MODE_USERSPACE)
                kernel = false;

        r = loop_attach(image, &loop_fd, &loopdev);
        if (r < 0)
                return r;
        r = loop_attach(tree, &tree_fd, &treedev);
        if (r < 0)
                return r;
        if (asprintf(&name, "osupdate-usr-%s-%02x%02x%02x%02x-boot", slot_name(i), img->root_hash[0], img->root_hash[1],
                     img->root_hash[2], img->root_hash[3]) < 0)
                return -ENOMEM;
        if (!kernel)
                say("slot %s: no dm-verity (%s): checking the whole image first (degraded).\n", slot_name(i),
                    b->verity == VERITY_MODE_USERSPACE ? "Verity=userspace" : "no device-mapper");
        r = verity_open(loopdev, treedev, &img->verity, img->root_hash, img->root_hash_size, kernel,
                        b->cfg.boot.on_corruption, name, &device);
        if (r < 0)
                return r;
        r = mount_image_detached(device, img->fstype, &mnt);
        if (r >= 0) {
                r = os_release_read_at(mnt, "lib/os-release", &o);
                if (r >= 0) {
                        plan_image_matches(m, o.id, o.version, &v);
                        os_release_done(&o);
                        r = v.error < 0 ? log_debug_errno(v.error, "%s", v.reason) : 0;
                } else
                        r = log_debug_errno(EILSEQ, "The image has no readable lib/os-release: %s", strerror(-r));
        }
        if (r >= 0) {
                /* <root>/usr itself, not where a symlink there points: the root filesystem is
                 * anyone's who had the disk, and must not get us to mount over the initramfs. */
                _cleanup_close_ int usr_fd = -EBADF;
                (void) mkdir(usr, 0755);
                usr_fd = open(usr, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (usr_fd < 0)
                        r = log_debug_errno(errno == ENOTDIR || errno == ELOOP ? ENOTDIR : errno,
                                            "%s is not a directory: %m", usr);
                else if (move_mount(mnt, "", usr_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                        r = log_debug_errno(errno, "Cannot mount the image at %s: %m", usr);
        }
        if (r < 0) {
                mnt = safe_close(mnt);
                if (kernel)
                        (void) verity_close(name);
                return r;
        }
        *ret_kernel = kernel;
        return 0;
}

/* /run/osupdate/booted.json: what this boot runs, for `osupdate status` and the live updater. */
static int write_booted(Boot *b, int i, const BootPlan *p, bool kernel) {
        _cleanup_free_ char *path = path_join(b->args.run_dir, "booted.json"), *text = NULL;
        _cleanup_free_ char *hash = hex_encode(b->manifests[i]->images[0].root_hash, b->manifests[i]->images[0].root_hash_size);
        int r;

        if (!path || !hash)
                return log_oom();
        if (asprintf(&text,
                     "{\"slot\": \"%s\", \"version\": \"%s\", \"verity\": \"%s\", \"on_corruption\": \"%s\", "
                     "\"trial\": %s, \"tries_left\": %d, \"last_resort\": %s, \"state_rebuilt\": %s, \"root_hash\": \"%s\"}\n",
                     slot_name(i), b->manifests[i]->version, kernel ? "kernel" : "userspace",
                     verity_on_corruption_to_string(b->cfg.boot.on_corruption), p->trial ? "true" : "false", p->tries_left,
                     p->last_resort ? "true" : "false", b->rebuilt ? "true" : "false", hash) < 0)
                return log_oom();
        r = mkdir_parents(b->args.run_dir, 0755);
        if (r >= 0)
                r = write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", path);
        return 0;
}

static int save_state(Boot *b) {
        int r = state_save(b->state_dir, &b->state);
        if (r < 0)
                say("cannot record the state in %s: %s\n", b->state_dir, strerror(-r));
        return r;
}

/* Before trying slot i: it is the next boot, one of its tries is spent, its boot is in the history
 * (the earlier ones still "booting" never reached mark-good), and the failures of the slots passed
 * over are recorded. Durable (state_save() syncs) before anything is set up. */
static int record_attempt(Boot *b, const BootPlan *p) {
        State *s = &b->state;
        int i = p->slot, r;

        for (int k = 0; k < SLOT_MAX; k++)
                if (k != i && p->passed_over[k][0] && s->slots[k].state == SLOT_READY && !b->facts.slots[k].failed_now) {
                        char *why = strdup(p->passed_over[k]);
                        if (!why)
                                return log_oom();
                        free(s->slots[k].failed);
                        s->slots[k].failed = why;
                }
        for (unsigned k = 0; k < s->n_boots; k++)
                if (s->boots[k].result == BOOT_RESULT_BOOTING) {
                        s->boots[k].result = BOOT_RESULT_UNCONFIRMED;
                        if (!s->boots[k].reason && !(s->boots[k].reason = strdup("the boot never reached mark-good")))
                                return log_oom();
                }
        /* A slot staged for this boot and passed over is no longer staged: it was tried (or
         * refused) and has its reason; a slot only fetched (staged, not the next boot) stays. */
        if (s->staged >= 0 && s->staged == s->next_boot && s->staged != i)
                s->staged = -1;
        if (s->next_boot != i)
                s->good = s->slots[i].good;
        s->next_boot = i;
        s->boot_tries = p->tries_left;
        s->slots[i].unconfirmed = p->unconfirmed;
        r = state_add_boot(s, i, b->manifests[i]->version, BOOT_RESULT_BOOTING,
                           p->last_resort ? "last resort: no slot had tries or boots left" : NULL, NULL, (uint64_t) time(NULL));
        if (r < 0)
                return log_oom();
        return save_state(b);
}

static void print_passed_over(const Boot *b, const BootPlan *p) {
        for (int k = 0; k < SLOT_MAX; k++) {
                /* A slot that failed in this boot was reported when it failed. */
                if (k == p->slot || !p->passed_over[k][0] || b->state.slots[k].state == SLOT_EMPTY ||
                    b->facts.slots[k].failed_now)
                        continue;
                if (k == b->forced)
                        say("ignoring osupdate.slot=%s on the kernel command line:\n", slot_name(k));
                say("slot %s (version %s) cannot boot: %s\n", slot_name(k),
                    b->manifests[k] ? b->manifests[k]->version : (b->state.slots[k].version ?: "unknown"), p->passed_over[k]);
        }
}

static int run(Boot *b) {
        BootPlan p;
        int r;

        r = load_config(b);
        if (r < 0)
                return r;
        r = parse_cmdline(b);
        if (r < 0)
                return r;
        r = load_state(b);
        if (r < 0)
                return r;
        gather_facts(b);

        for (int attempt = 0; attempt <= SLOT_MAX; attempt++) {
                bool kernel = false;
                BootRecord *rec;
                char why[256];

                plan_boot(&b->facts, &p);
                print_passed_over(b, &p);
                if (p.slot < 0) {
                        say("no slot can boot: %s\n", p.verdict.reason);
                        (void) save_state(b);
                        return p.verdict.error;
                }
                if (p.last_resort)
                        say("WARNING: no slot has tries or boots left; booting slot %s (version %s) as a last resort.\n",
                            slot_name(p.slot), b->manifests[p.slot]->version);
                r = record_attempt(b, &p);
                if (r < 0)
                        return r;

                r = try_slot(b, p.slot, &kernel);
                rec = state_last_boot(&b->state, p.slot);
                if (r >= 0) {
                        State *s = &b->state;
                        if (rec && !(rec->verity = strdup(kernel ? "kernel" : "userspace")))
                                return log_oom();
                        s->booted = s->active = p.slot;
                        if (s->staged == p.slot)
                                s->staged = -1;
                        s->switching = -1;
                        free(s->slots[p.slot].failed);
                        s->slots[p.slot].failed = NULL;
                        (void) save_state(b);
                        (void) write_booted(b, p.slot, &p, kernel);
                        if (p.trial)
                                say("booted slot %s, version %s, verity %s, trial: %d tries left\n", slot_name(p.slot),
                                    b->manifests[p.slot]->version, kernel ? "kernel" : "userspace", p.tries_left);
                        else
                                say("booted slot %s, version %s, verity %s\n", slot_name(p.slot), b->manifests[p.slot]->version,
                                    kernel ? "kernel" : "userspace");
                        return 0;
                }
                snprintf(why, sizeof why, "%s", describe_error(r) ?: strerror(-r));
                say("slot %s (version %s) cannot boot: %s\n", slot_name(p.slot), b->manifests[p.slot]->version, why);
                if (rec) {
                        rec->result = BOOT_RESULT_FAILED;
                        free(rec->reason);
                        rec->reason = strdup(why);
                }
                free(b->state.slots[p.slot].failed);
                b->state.slots[p.slot].failed = strdup(why);
                b->facts.slots[p.slot].failed_now = true;
                (void) save_state(b);
        }
        return -ENOMEDIUM;
}

static int exit_code(int r) {
        switch (-r) {
        case 0: return EXIT_SUCCESS;
        case EINVAL: return 2;
        case ENOEXEC: return 4;
        case ENOKEY: return 12;
        case ENOMEDIUM: return 29;
        case ELOOP: return 36;
        default: return EXIT_FAILURE;
        }
}

int main(int argc, char **argv) {
        _cleanup_(boot_done) Boot b = {};
        int r;

        log_setup_from_env();
        r = parse_args(argc, argv, &b.args);
        if (r < 0)
                return exit_code(r);
        r = run(&b);
        if (r < 0 && r != -ENOMEDIUM)
                say("no slot booted: %s\n", strerror(-r));
        return exit_code(r);
}
