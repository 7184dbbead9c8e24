/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facts.h"
#include "failpoint.h"
#include "fileio.h"
#include "log.h"
#include "loop.h"
#include "mount.h"
#include "os-release.h"
#include "plan.h"
#include "policy-load.h"
#include "propagate.h"
#include "session.h"
#include "slot-seal.h"
#include "slot.h"
#include "switch.h"
#include "verity-activate.h"

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

/* A slot whose image turned out not to be a usable /usr for its manifest: emptied, so nothing
 * ever tries it again. */
static int slot_reject(const Config *cfg, const DeviceFacts *f, State *s, int slot, int error) {
        if (!plan_may_empty_slot(f, slot))
                return error;
        (void) slot_unseal_and_clear(cfg->state_directory, slot);
        session_forget_slot(s, slot);
        (void) session_save(cfg, s);
        return error;
}

/* Every dm-verity device of ours but `keep`, removed as soon as nothing uses it any more. */
static void close_devices_but(const char *keep) {
        DIR *d = opendir("/dev/mapper");
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "osupdate-usr-", 13) == 0 && strcmp(de->d_name, keep) != 0)
                        (void) verity_close(de->d_name);
        closedir(d);
}

/* Staged, not live: nothing is mounted or unmounted, the slot is the next boot's choice (with its
 * trial boots), and the detached mount goes when the caller closes it. */
static int stage_for_next_boot(const Config *cfg, State *s, int slot, const char *verity_name, ApplyResult *ret) {
        s->switching = -1;
        s->staged = slot;
        s->next_boot = slot;
        s->boot_tries = (int) cfg->boot.tries;
        s->good = false;
        ret->staged_only = true;
        if (verity_name)
                (void) verity_close(verity_name); /* deferred: goes with our detached mount */
        return session_save(cfg, s);
}

/* Trust at use: the slot's signed manifest is authenticated again, the planner admits it for this
 * kind of switch, then the image is attached, bound to the signed root hash (dm-verity, or the
 * whole tree checked over the very loop device that is then mounted), mounted, its own os-release
 * checked against the manifest, tucked beneath Target, and the switch plan carried out. State is
 * written before the tuck (switching = slot) and after (active = slot). */
int switch_to_slot(const Config *cfg, const Keyring *keyring, State *s, int slot, PlanKind kind, ApplyResult *ret) {
        _cleanup_(policy_set_done) PolicySet policies = {};
        _cleanup_(facts_done) Facts facts = {};
        _cleanup_(switch_plan_done) SwitchPlan plan = {};
        _cleanup_free_ SwitchNamespace *sns = NULL;
        PropagateReport rep = {};
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_free_ char *dir = slot_path(cfg->state_directory, slot), *image = NULL, *tree = NULL, *loopdev = NULL, *treedev = NULL,
                            *device = NULL, *name = NULL;
        _cleanup_close_ int loop_fd = -EBADF, tree_fd = -EBADF, mnt = -EBADF;
        const ManifestImage *img;
        Verdict v;
        ModulesPlan mp;
        OsRelease o = {};
        uint64_t t_verified, t_facts, t_plan;
        bool kernel;
        int r;

        if (!dir || !(image = path_join(dir, SLOT_IMAGE)) || !(tree = path_join(dir, SLOT_TREE)))
                return -ENOMEM;
        r = policy_load(cfg, &policies);
        if (r < 0)
                return r;
        t_facts = now_usec();
        r = facts_gather(cfg, keyring, s, time(NULL), &facts);
        t_facts = now_usec() - t_facts;
        if (r < 0)
                return r;
        r = facts_authenticate_slot(cfg, keyring, slot, &m);
        if (r < 0)
                return log_debug_errno(r, "Slot %s: its stored signed manifest does not authenticate with today's keys (%s): "
                                       "refusing to put it live.", slot_name(slot), strerror(-r));
        plan_admit(&facts.device, m, kind, slot, &v);
        if (v.error < 0)
                return log_debug_errno(v.error, "%s", v.reason);
        img = &m->images[0];
        ret->version = strdup(m->version);

        r = slot_seal(cfg->state_directory, slot, true);
        if (r < 0)
                return r;
        r = loop_attach(image, &loop_fd, &loopdev);
        if (r < 0)
                return r;
        failpoint("after-loop-attach");

        kernel = verity_kernel_available();
        if (cfg->verity == VERITY_MODE_KERNEL && !kernel)
                return log_debug_errno(ENODEV, "Verity=kernel, but this kernel has no device-mapper (/dev/mapper/control).");
        if (cfg->verity == VERITY_MODE_USERSPACE)
                kernel = false;
        /* A name of its own per activation: an earlier device of this slot may live on while some
         * namespace still holds a copy of its mount (a deferral, a user's own namespace). */
        if (asprintf(&name, "osupdate-usr-%s-%02x%02x%02x%02x-%llx", slot_name(slot), img->root_hash[0], img->root_hash[1],
                     img->root_hash[2], img->root_hash[3], (unsigned long long) time(NULL)) < 0)
                return -ENOMEM;
        /* The tree through a read-only loop device of our own too: the slot's files are sealed
         * (immutable), and libcryptsetup would attach a file it is given with a writable loop
         * device, which that refuses. */
        r = loop_attach(tree, &tree_fd, &treedev);
        if (r < 0)
                return r;
        r = verity_open(loopdev, treedev, &img->verity, img->root_hash, img->root_hash_size, kernel, VERITY_ON_CORRUPTION_EIO, name,
                        &device);
        if (r < 0)
                return r;
        ret->degraded = !kernel;
        log_debug("Slot %s verified by dm-verity %s: mounting %s.", slot_name(slot), kernel ? "in the kernel" : "in userspace", device);
        failpoint("after-verity");
        t_verified = now_usec();

        r = mount_image_detached(device, img->fstype, &mnt);
        if (r == -EMEDIUMTYPE) {
                if (kernel)
                        (void) verity_close(name);
                return slot_reject(cfg, &facts.device, s, slot, r);
        }
        if (r < 0)
                goto fail_verity;
        /* The loop device now lives as long as the mount (autoclear). */
        loop_fd = safe_close(loop_fd);
        tree_fd = safe_close(tree_fd);

        r = os_release_read_at(mnt, "lib/os-release", &o);
        if (r == -ENOENT || r == -ENOTDIR || r == -EBADFD || r == -ELOOP || r == -EXDEV) {
                /* Verified bytes without a plain lib/os-release: not the /usr image it claims. */
                r = log_debug_errno(EILSEQ, "The image has no readable lib/os-release: it does not look like a /usr image.");
                goto fail_reject;
        }
        if (r == -EFBIG) {
                /* systemd would read it, but it is the image's own choice: the slot is not kept. */
                r = log_debug_errno(EILSEQ, "The image's lib/os-release is larger than 64 KiB, all we read of a file "
                                            "someone else made.");
                goto fail_reject;
        }
        if (r == -EILSEQ) {
                /* A NUL byte or invalid UTF-8 in an assignment: systemd refuses the whole file. */
                r = log_debug_errno(EILSEQ, "The image's lib/os-release is not one systemd would read "
                                            "(a NUL byte or invalid UTF-8).");
                goto fail_reject;
        }
        if (r < 0) {
                /* Our own trouble reading it (ENOMEM, EIO, a filter on openat2): the slot is not to blame. */
                r = log_debug_errno(r, "Cannot read lib/os-release of the new image: %m");
                goto fail_verity;
        }
        plan_image_matches(m, o.id, o.version, &v);
        os_release_done(&o);
        if (v.error < 0) {
                r = log_debug_errno(v.error, "%s", v.reason);
                goto fail_reject;
        }

        /* A live switch never leaves the running kernel without its modules: an image that lacks
         * lib/modules/<release> the live /usr has is staged for the next boot instead (that kernel's
         * own image boots with it), nothing is mounted or unmounted. */
        r = facts_has_modules_at(mnt, facts.uts.release);
        if (r < 0)
                log_debug_errno(r, "Cannot tell whether the new image has lib/modules/%s: %m", facts.uts.release);
        plan_modules(facts.uts.release, facts.modules_live, r < 0 ? 0 : r, &mp);
        if (mp.action == MODULES_STAGE) {
                r = stage_for_next_boot(cfg, s, slot, kernel ? name : NULL, ret);
                if (r < 0)
                        return r;
                return log_debug_errno(mp.verdict.error, "Version %s is %s (slot %s); the running kernel keeps the live /usr.",
                                       m->version, mp.verdict.reason, slot_name(slot));
        }

        /* Planned now, so deadlines count from the switch, not from before the verification. */
        sns = calloc(facts.n_ns + 1, sizeof(SwitchNamespace));
        if (!sns) {
                r = -ENOMEM;
                goto fail_verity;
        }
        propagate_switch_facts(facts.ns, facts.n_ns, sns);
        t_plan = now_usec();
        r = plan_switch(&policies, sns, facts.n_ns, m->critical, time(NULL), &plan);
        t_plan = now_usec() - t_plan;
        if (r < 0)
                goto fail_verity;

        failpoint("before-state-write");
        s->switching = slot;
        r = session_save(cfg, s);
        if (r < 0)
                goto fail_verity;

        /* If the host itself still defers an earlier update, move it forward to that one first:
         * beneath the top means right under it, above the older images it covers. */
        if (mount_count_at(cfg->target) >= 2) {
                r = mount_remove_stale_tops(-EBADF, cfg->target);
                if (r < 0)
                        goto fail_verity;
        }
        r = mount_tuck_beneath(mnt, cfg->target);
        if (r == -EOPNOTSUPP) {
                /* Kernels before 6.5: nothing is mounted or unmounted; the next boot uses the slot. */
                r = stage_for_next_boot(cfg, s, slot, kernel ? name : NULL, ret);
                if (r < 0)
                        return r;
                return log_debug_errno(EOPNOTSUPP, "This kernel cannot mount beneath %s (Linux >= 6.5 needed): version %s is staged in slot %s for the next boot.",
                                       cfg->target, m->version, slot_name(slot));
        }
        if (r < 0) {
                s->switching = -1;
                (void) session_save(cfg, s);
                goto fail_verity;
        }
        failpoint("after-tuck");

        r = propagate_execute(cfg, &plan, facts.ns, facts.n_ns, mnt, m->version, &rep);
        if (r < 0)
                return r;
        for (size_t i = 0; i < plan.n_steps; i++) {
                if (plan.steps[i].overridden && plan.steps[i].action == SWITCH_NOW)
                        log_info("Critical update: namespace of pid %d (rule %s) is switched now, not deferred.",
                                 (int) facts.ns[i].pid, plan.steps[i].rule ?: "default");
                if (plan.steps[i].follows_parent)
                        log_info("Namespace of pid %d follows its parent service (pid %d), which is switched now.",
                                 (int) facts.ns[i].pid, facts.ns[i].parent >= 0 ? (int) facts.ns[facts.ns[i].parent].pid : 0);
        }
        if (rep.deferred > 0)
                log_info("%u namespace(s) deferred, %u forced, %u skipped; the deadline forces them later.", rep.deferred,
                         rep.forced, rep.skipped);
        /* bench/apply reads this: from "image verified" to "every namespace shows it". */
        if (getenv("OSUPDATE_TIMING"))
                fprintf(stderr, "timing: verified-to-switched %.3f ms\ntiming: facts %.3f ms (%zu namespaces), plan %.3f ms\n",
                        (double) (now_usec() - t_verified) / 1000.0, (double) t_facts / 1000.0, facts.n_ns, (double) t_plan / 1000.0);

        /* Deferred: the earlier devices go once the last namespace lets go of them. The previous
         * slot stays sealed while anything still has it mounted; it is unsealed when written again. */
        if (kernel)
                close_devices_but(name);
        s->active = slot;
        s->next_boot = slot;
        s->switching = -1;
        s->staged = -1;
        s->boot_tries = (int) cfg->boot.tries;
        s->good = false;
        r = session_save(cfg, s);
        if (r < 0)
                return r;
        failpoint("after-state-write");
        return 0;

fail_reject:
        if (kernel)
                (void) verity_close(name);
        mnt = safe_close(mnt);
        return slot_reject(cfg, &facts.device, s, slot, r);
fail_verity:
        if (kernel)
                (void) verity_close(name);
        return r;
}

