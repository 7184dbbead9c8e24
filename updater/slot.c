/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "json-util.h"
#include "log.h"
#include "slot.h"
#include "state.h"

#define WRITEBACK_STEP (16U * 1024U * 1024U)

static const char *const slot_files[] = { SLOT_IMAGE, SLOT_TREE, SLOT_SIGNATURE, SLOT_MANIFEST, SLOT_HEAD, SLOT_RESUME };

char *slot_path(const char *state_dir, int slot) {
        char *p;

        if (asprintf(&p, "%s/slots/%s", state_dir, slot_name(slot)) < 0)
                return NULL;
        return p;
}

int slot_is_busy(const char *state_dir, int slot) {
        _cleanup_free_ char *dir = slot_path(state_dir, slot);
        char real[PATH_MAX];
        struct dirent *de;
        DIR *d;
        int busy = 0;

        if (!dir)
                return -ENOMEM;
        if (!realpath(dir, real))
                return errno == ENOENT ? 0 : -errno;

        d = opendir("/sys/block");
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL, *backing = NULL;
                size_t l = strlen(real);

                if (strncmp(de->d_name, "loop", 4) != 0)
                        continue;
                if (asprintf(&p, "/sys/block/%s/loop/backing_file", de->d_name) < 0) {
                        busy = -ENOMEM;
                        break;
                }
                /* Unused loop devices have no backing_file; a replaced file shows " (deleted)". */
                if (read_full_file(p, PATH_MAX, &backing, NULL) < 0)
                        continue;
                if (strncmp(backing, real, l) == 0 && backing[l] == '/') {
                        busy = 1;
                        break;
                }
        }
        closedir(d);
        return busy;
}

int slot_clear(const char *state_dir, int slot) {
        _cleanup_free_ char *dir = slot_path(state_dir, slot);

        if (!dir)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(slot_files); i++) {
                _cleanup_free_ char *p = NULL, *partial = NULL;
                if (asprintf(&p, "%s/%s", dir, slot_files[i]) < 0 || asprintf(&partial, "%s/%s.partial", dir, slot_files[i]) < 0)
                        return -ENOMEM;
                if (unlink(p) < 0 && errno != ENOENT)
                        return -errno;
                if (unlink(partial) < 0 && errno != ENOENT)
                        return -errno;
        }
        return 0;
}

static int open_partial(SlotWriter *w, const char *name) {
        _cleanup_free_ char *p = NULL;
        int fd;

        if (asprintf(&p, "%s.partial", name) < 0)
                return -ENOMEM;
        fd = openat(w->dir_fd, p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return log_debug_errno(errno, "Cannot create %s/%s: %m", w->dir, p);
        return fd;
}

static int write_partial(SlotWriter *w, const char *name, const char *data, size_t len) {
        _cleanup_close_ int fd = open_partial(w, name);
        int r;

        if (fd < 0)
                return fd;
        r = loop_write(fd, data, len);
        if (r < 0)
                return log_debug_errno(r, "Cannot write %s/%s: %m", w->dir, name);
        /* On disk before the rename that makes the slot complete, like the image. */
        if (fsync(fd) < 0)
                return log_debug_errno(errno, "Cannot write %s/%s: %m", w->dir, name);
        return 0;
}

static int slot_writer_open(SlotWriter *w);

static int sink_manifest(const Manifest *m, void *userdata) {
        SlotWriter *w = userdata;
        int r;

        if (m->n_images != 1 || strcmp(m->images[0].name, "usr") != 0)
                return log_debug_errno(EMEDIUMTYPE, "The bundle must hold exactly one image, named \"usr\".");
        if (w->check) {
                r = w->check(m, w->userdata);
                if (r < 0)
                        return r;
        }
        w->version = strdup(m->version);
        w->fstype = strdup(m->images[0].fstype);
        if (!w->version || !w->fstype)
                return -ENOMEM;
        return slot_writer_open(w);
}

static int sink_signed_bytes(const char *manifest, size_t manifest_len, const char *sig, size_t sig_len, void *userdata) {
        SlotWriter *w = userdata;
        int r;

        r = write_partial(w, SLOT_MANIFEST, manifest, manifest_len);
        if (r < 0)
                return r;
        return write_partial(w, SLOT_SIGNATURE, sig, sig_len);
}

static int sink_resume_point(const void *head, size_t head_len, void *userdata) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        SlotWriter *w = userdata;
        const char *text;
        int r;

        if (!w->url || !w->validator)
                return 0; /* not a download, or the server gave no validator: nothing to resume */
        r = write_partial(w, "head", head, head_len);
        if (r < 0)
                return r;
        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "url", json_object_new_string(w->url));
        json_object_object_add(o, "validator", json_object_new_string(w->validator));
        json_object_object_add(o, "head_size", json_object_new_int64((int64_t) head_len));
        text = json_object_to_json_string(o);
        /* The resume record goes in place at once (it describes the partial files). */
        {
                _cleanup_free_ char *p = path_join(w->dir, SLOT_RESUME);
                if (!p)
                        return -ENOMEM;
                return write_file_atomic(p, text, strlen(text), 0644);
        }
}

static int sink_tree_fd(const ManifestImage *img, void *userdata) {
        SlotWriter *w = userdata;

        w->tree_fd = safe_close(w->tree_fd);
        w->tree_fd = open_partial(w, SLOT_TREE);
        return w->tree_fd;
}

static int sink_begin(const ManifestImage *img, bool hash_tree, void *userdata) {
        SlotWriter *w = userdata;

        w->fd = safe_close(w->fd);
        w->pos = w->flushed = 0;
        w->in_image = !hash_tree;
        if (!hash_tree && w->image_on_disk > 0) {
                /* Resuming: keep what is on disk; it streams by again (from disk) to be verified. */
                w->fd = openat(w->dir_fd, SLOT_IMAGE ".partial", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
                if (w->fd < 0)
                        return log_debug_errno(errno, "Cannot reopen %s/" SLOT_IMAGE ".partial: %m", w->dir);
                return 0;
        }
        w->fd = open_partial(w, hash_tree ? SLOT_TREE : SLOT_IMAGE);
        return w->fd < 0 ? w->fd : 0;
}

static int sink_data(const void *buf, size_t len, void *userdata) {
        SlotWriter *w = userdata;
        const uint8_t *p = buf;
        int r;

        if (w->in_image && w->pos < w->image_on_disk) {
                uint64_t skip = MIN((uint64_t) len, w->image_on_disk - w->pos);
                w->pos += skip;
                p += skip;
                len -= (size_t) skip;
                if (len == 0)
                        return 0;
        }
        r = loop_pwrite(w->fd, p, len, w->pos);
        if (r < 0)
                return log_debug_errno(r, "Cannot write to slot %s: %m", w->dir);
        w->pos += len;
        /* Start writeback as the image streams, so the fsync at its end does not find a whole
         * image of dirty pages (and the download and the disk overlap). */
        if (w->pos - w->flushed >= WRITEBACK_STEP) {
                (void) sync_file_range(w->fd, (off_t) w->flushed, (off_t) (w->pos - w->flushed), SYNC_FILE_RANGE_WRITE);
                w->flushed = w->pos;
        }
        return 0;
}

static int sink_end(const ManifestImage *img, bool hash_tree, void *userdata) {
        SlotWriter *w = userdata;

        if (fsync(w->fd) < 0)
                return log_debug_errno(errno, "Cannot write to slot %s: %m", w->dir);
        w->fd = safe_close(w->fd);
        return 0;
}

int slot_writer_init(SlotWriter *w, const char *state_dir, int slot) {
        *w = (SlotWriter) { .dir_fd = -EBADF, .fd = -EBADF, .tree_fd = -EBADF };
        w->state_dir = strdup(state_dir);
        w->dir = slot_path(state_dir, slot);
        if (!w->state_dir || !w->dir)
                return -ENOMEM;
        w->sink = (BundleSink) {
                .manifest = sink_manifest,
                .signed_bytes = sink_signed_bytes,
                .resume_point = sink_resume_point,
                .tree_fd = sink_tree_fd,
                .begin = sink_begin,
                .data = sink_data,
                .end = sink_end,
                .userdata = w,
        };
        return 0;
}

/* Nothing is created before the manifest is authentic and accepted. */
static int slot_writer_open(SlotWriter *w) {
        _cleanup_free_ char *slots = path_join(w->state_dir, "slots");

        if (!slots)
                return -ENOMEM;
        if ((mkdir(w->state_dir, 0755) < 0 && errno != EEXIST) || (mkdir(slots, 0755) < 0 && errno != EEXIST) ||
            (mkdir(w->dir, 0755) < 0 && errno != EEXIST))
                return log_debug_errno(errno, "Cannot create %s: %m", w->dir);
        w->dir_fd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (w->dir_fd < 0)
                return log_debug_errno(errno, "Cannot open %s: %m", w->dir);
        return 0;
}

int slot_writer_commit(SlotWriter *w) {
        if (w->tree_fd >= 0 && fsync(w->tree_fd) < 0)
                return log_debug_errno(errno, "Cannot write to slot %s: %m", w->dir);
        /* Complete: nothing to resume any more. */
        (void) unlinkat(w->dir_fd, SLOT_RESUME, 0);
        (void) unlinkat(w->dir_fd, SLOT_HEAD, 0);
        for (size_t i = 0; i < 4; i++) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s.partial", slot_files[i]) < 0)
                        return -ENOMEM;
                if (renameat(w->dir_fd, p, w->dir_fd, slot_files[i]) < 0)
                        return log_debug_errno(errno, "Cannot complete %s/%s: %m", w->dir, slot_files[i]);
        }
        if (fsync(w->dir_fd) < 0)
                return log_debug_errno(errno, "Cannot write to slot %s: %m", w->dir);
        return 0;
}

void slot_writer_done(SlotWriter *w) {
        safe_close(w->fd);
        safe_close(w->tree_fd);
        safe_close(w->dir_fd);
        free(w->dir);
        free(w->state_dir);
        free(w->version);
        free(w->fstype);
        *w = (SlotWriter) { .dir_fd = -EBADF, .fd = -EBADF, .tree_fd = -EBADF };
}

int slot_resume_load(const char *state_dir, int slot, SlotResume *ret) {
        _cleanup_free_ char *dir = slot_path(state_dir, slot), *p = NULL, *buf = NULL, *img = NULL, *head = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *url = NULL, *validator = NULL;
        uint64_t head_size;
        struct stat st;
        size_t len;
        int r;

        if (!dir || !(p = path_join(dir, SLOT_RESUME)) || !(img = path_join(dir, SLOT_IMAGE ".partial")) ||
            !(head = path_join(dir, SLOT_HEAD)))
                return -ENOMEM;
        r = read_full_file(p, 64 * 1024, &buf, &len);
        if (r < 0)
                return r;
        if (json_parse_strict(buf, len, &o) < 0 || json_get_string(o, "url", false, &url) < 0 ||
            json_get_string(o, "validator", false, &validator) < 0 ||
            json_get_u64(o, "head_size", false, 16 * 1024 * 1024, &head_size) < 0)
                return -EUCLEAN;
        if (stat(head, &st) < 0 || (uint64_t) st.st_size != head_size)
                return -ENOENT;
        *ret = (SlotResume) { .url = strdup(url), .validator = strdup(validator), .head_size = head_size };
        if (!ret->url || !ret->validator) {
                slot_resume_done(ret);
                return -ENOMEM;
        }
        /* Whole data blocks only: a torn last block is fetched again. */
        ret->image_size = stat(img, &st) < 0 ? 0 : (uint64_t) st.st_size / 4096 * 4096;
        return 0;
}

void slot_resume_done(SlotResume *r) {
        free(r->url);
        free(r->validator);
        *r = (SlotResume) {};
}

int slot_load_manifest(const char *state_dir, int slot, Manifest **ret) {
        _cleanup_free_ char *dir = slot_path(state_dir, slot), *p = NULL, *buf = NULL;
        size_t len;
        int r;

        if (!dir || !(p = path_join(dir, SLOT_MANIFEST)))
                return -ENOMEM;
        r = read_full_file(p, MANIFEST_MAX_SIZE, &buf, &len);
        if (r < 0)
                return log_debug_errno(r, "Cannot read %s: %m", p);
        return manifest_parse(buf, len, ret);
}
