/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "os-release.h"
#include "release.h"
#include "session.h"
#include "slot-seal.h"
#include "slot.h"

int update_lock(const Config *cfg, int *ret_fd) {
        return update_lock_full(cfg, false, ret_fd);
}

int update_lock_full(const Config *cfg, bool wait, int *ret_fd) {
        _cleanup_free_ char *p = path_join(cfg->runtime_directory, "lock");
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!p)
                return -ENOMEM;
        if (mkdir(cfg->runtime_directory, 0755) < 0 && errno != EEXIST)
                return log_debug_errno(errno, "Cannot create %s: %m", cfg->runtime_directory);
        /* Whoever else could write there could take the lock or plant pending.json. */
        r = dir_check_safe(cfg->runtime_directory);
        if (r < 0)
                return r;
        fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return log_debug_errno(errno, "Cannot open %s: %m", p);
        if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
                if (errno == EWOULDBLOCK)
                        return log_debug_errno(EBUSY, "Another update is in progress (%s is locked).", p);
                return log_debug_errno(errno, "Cannot lock %s: %m", p);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int update_live_os(const Config *cfg, char **ret_id, char **ret_version) {
        _cleanup_close_ int fd = -EBADF;
        OsRelease o = {};
        int r;

        fd = open(cfg->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_debug_errno(errno, "Cannot open target %s: %m", cfg->target);
        r = os_release_read_at(fd, "lib/os-release", &o);
        if (r < 0)
                return log_debug_errno(r, "Cannot read %s/lib/os-release: %m", cfg->target);
        *ret_id = o.id;
        *ret_version = o.version;
        return 0;
}

/* Every state-changing command starts here: the lock, then state.json (a corrupt one changes
 * nothing and says so), then, if asked, recovery from an interrupted run. */
int session_begin(const Config *cfg, bool recover, int *ret_lock, State *ret_state) {
        _cleanup_(state_done) State s = {};
        _cleanup_close_ int lock = -EBADF;
        int r;

        r = update_lock(cfg, &lock);
        if (r < 0)
                return r;
        (void) release_expired(cfg);
        r = state_load(cfg->state_directory, &s);
        if (r == -EUCLEAN)
                return log_debug_errno(ENOTRECOVERABLE, "%s/state.json is corrupt: %s Nothing was changed; "
                                       "move it aside to start over.", cfg->state_directory, log_detail() ?: "");
        if (r < 0)
                return r;
        state_apply_booted(cfg->runtime_directory, &s);
        if (recover) {
                r = update_recover(cfg, &s);
                if (r < 0)
                        return r;
        }
        *ret_lock = TAKE_FD(lock);
        *ret_state = s;
        state_init(&s);
        return 0;
}

int session_save(const Config *cfg, const State *s) {
        int r = state_save(cfg->state_directory, s);
        if (r < 0)
                return log_debug_errno(r, "Cannot record the new state in %s: %m", cfg->state_directory);
        return 0;
}

void session_forget_slot(State *s, int slot) {
        slot_info_done(&s->slots[slot]);
        if (s->next_boot == slot)
                s->next_boot = s->active;
        if (s->staged == slot)
                s->staged = -1;
        if (s->switching == slot)
                s->switching = -1;
}

int update_recover(const Config *cfg, State *s) {
        bool changed = false;
        int r;

        for (int i = 0; i < SLOT_MAX; i++)
                if (s->slots[i].state != SLOT_READY) {
                        _cleanup_(slot_resume_done) SlotResume res = {};

                        /* A download with a resume record stays, to be continued (and verified again). */
                        if (slot_resume_load(cfg->state_directory, i, &res) >= 0)
                                continue;
                        /* Leftovers of an interrupted write: nothing in them was trusted yet. */
                        r = slot_unseal_and_clear(cfg->state_directory, i);
                        if (r < 0)
                                return r;
                        if (s->slots[i].state != SLOT_EMPTY) {
                                session_forget_slot(s, i);
                                changed = true;
                        }
                }

        if (s->switching >= 0) {
                int x = s->switching;
                bool switched = false;

                /* From the write-ahead records and what is mounted where: unrecorded stacks move
                 * forward (finishing the switch), recorded deferrals keep their deadlines. */
                r = release_recover(cfg, 1U << x, s->slots[x].version, &switched);
                if (r < 0)
                        return r;
                if (switched) {
                        log_debug("Recovering: the switch to slot %s went in; it is active.", slot_name(x));
                        s->active = x;
                        s->next_boot = x;
                        s->staged = -1;
                        s->boot_tries = (int) cfg->boot.tries;
                        s->good = false;
                } else
                        log_debug("Recovering: the switch to slot %s had not started; slot stays staged.", slot_name(x));
                s->switching = -1;
                changed = true;
        }
        return changed ? session_save(cfg, s) : 0;
}

