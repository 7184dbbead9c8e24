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

#include <openssl/evp.h>

#include "fetch.h"
#include "fileio.h"
#include "hex.h"
#include "json-util.h"
#include "log.h"
#include "slot.h"
#include "state.h"

#define WRITEBACK_STEP (16U * 1024U * 1024U)
#define HEAD_MAX (16U * 1024U * 1024U)

/* A complete slot's files; while being written each is <name>.partial. */
static const char *const slot_files[] = { SLOT_IMAGE, SLOT_TREE, SLOT_SIGNATURE, SLOT_MANIFEST };

/* StateDirectory, slots/ and the slot's directory, each opened below the one before without
 * following a symlink, each checked for owner and mode: an attacker with disk access who replaces
 * slots/b by a symlink to /etc must not get us to unlink or write files there. With create,
 * missing directories are made first; otherwise -ENOENT. */
static int slot_open_dir(const char *state_dir, int slot, bool create, int *ret_fd) {
        _cleanup_free_ char *slots = path_join(state_dir, "slots"), *dir = slot_path(state_dir, slot);
        _cleanup_close_ int state_fd = -EBADF, slots_fd = -EBADF;
        int r;

        if (!slots || !dir)
                return -ENOMEM;
        if (create) {
                r = mkdir_parents(state_dir, 0755);
                if (r < 0)
                        return log_debug_errno(r, "Cannot create %s: %m", state_dir);
        }
        r = dir_open_safe_at(AT_FDCWD, state_dir, state_dir, &state_fd);
        if (r < 0)
                return r;
        if (create && mkdirat(state_fd, "slots", 0755) < 0 && errno != EEXIST)
                return log_debug_errno(errno, "Cannot create %s: %m", slots);
        r = dir_open_safe_at(state_fd, "slots", slots, &slots_fd);
        if (r < 0)
                return r;
        if (create && mkdirat(slots_fd, slot_name(slot), 0755) < 0 && errno != EEXIST)
                return log_debug_errno(errno, "Cannot create %s: %m", dir);
        return dir_open_safe_at(slots_fd, slot_name(slot), dir, ret_fd);
}

static int read_at(int dir_fd, const char *name, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return read_full_fd(fd, max, ret, ret_len);
}

static int sha256_hex(const void *p, size_t len, char **ret) {
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        if (EVP_Digest(p, len, md, &n, EVP_sha256(), NULL) != 1)
                return -EIO;
        *ret = hex_encode(md, n);
        return *ret ? 0 : -ENOMEM;
}

int slot_is_busy(const char *state_dir, int slot) {
        _cleanup_free_ char *dir = slot_path(state_dir, slot);
        _cleanup_close_ int dfd = -EBADF;
        char real[PATH_MAX];
        struct dirent *de;
        DIR *d;
        int busy = 0, r;

        if (!dir)
                return -ENOMEM;
        /* Refused like any other use: through a symlink we would judge some other directory. */
        r = slot_open_dir(state_dir, slot, false, &dfd);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
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
                /* A replaced (unlinked) file shows " (deleted)": whoever still holds it holds an old
                 * image, not the slot's files, which may be written again. */
                if (strncmp(backing, real, l) == 0 && backing[l] == '/' && !strstr(backing, " (deleted)")) {
                        busy = 1;
                        break;
                }
        }
        closedir(d);
        return busy;
}

static int unlink_in(int dir_fd, const char *dir, const char *name) {
        if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
                return log_debug_errno(errno, "Cannot remove %s/%s: %m", dir, name);
        return 0;
}

/* What a download leaves before its bundle verified: the partial files (head.partial among them),
 * the resume record and write_file_atomic_at()'s temporary files of it. */
static bool is_download_file(const char *name) {
        size_t l = strlen(name), sl = strlen(".partial");

        return strcmp(name, SLOT_RESUME) == 0 || strncmp(name, SLOT_RESUME ".tmp", strlen(SLOT_RESUME ".tmp")) == 0 ||
               (l > sl && strcmp(name + l - sl, ".partial") == 0);
}

static int clear_download_in(int dir_fd, const char *dir) {
        _cleanup_close_ int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (fd < 0)
                return log_debug_errno(errno, "Cannot read %s: %m", dir);
        d = fdopendir(fd);
        if (!d)
                return log_debug_errno(errno, "Cannot read %s: %m", dir);
        TAKE_FD(fd);
        while (r >= 0 && (de = readdir(d)))
                if (de->d_type != DT_DIR && is_download_file(de->d_name))
                        r = unlink_in(dir_fd, dir, de->d_name);
        closedir(d);
        return r;
}

/* Removes the slot's download leftovers and, with finals, its complete files too. */
static int clear(const char *state_dir, int slot, bool finals) {
        _cleanup_free_ char *dir = slot_path(state_dir, slot);
        _cleanup_close_ int dfd = -EBADF;
        int r;

        if (!dir)
                return -ENOMEM;
        r = slot_open_dir(state_dir, slot, false, &dfd);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        for (size_t i = 0; finals && i < ELEMENTSOF(slot_files); i++) {
                r = unlink_in(dfd, dir, slot_files[i]);
                if (r < 0)
                        return r;
        }
        return clear_download_in(dfd, dir);
}

int slot_clear(const char *state_dir, int slot) {
        return clear(state_dir, slot, true);
}

int slot_clear_download(const char *state_dir, int slot) {
        return clear(state_dir, slot, false);
}

static int open_partial(SlotWriter *w, const char *name, mode_t mode) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (asprintf(&p, "%s.partial", name) < 0)
                return -ENOMEM;
        fd = openat(w->dir_fd, p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return log_debug_errno(errno, "Cannot create %s/%s: %m", w->dir, p);
        /* O_TRUNC keeps the mode of a file that exists (an older osupdate made head.partial 0644). */
        if (fchmod(fd, mode) < 0)
                return log_debug_errno(errno, "Cannot create %s/%s: %m", w->dir, p);
        return TAKE_FD(fd);
}

static int write_partial(SlotWriter *w, const char *name, const char *data, size_t len, mode_t mode) {
        _cleanup_close_ int fd = open_partial(w, name, mode);
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
        w->image_size = m->images[0].size;
        if (!w->version || !w->fstype)
                return -ENOMEM;
        return slot_writer_open(w);
}

static int sink_signed_bytes(const char *manifest, size_t manifest_len, const char *sig, size_t sig_len, void *userdata) {
        SlotWriter *w = userdata;
        int r;

        r = write_partial(w, SLOT_MANIFEST, manifest, manifest_len, 0644);
        if (r < 0)
                return r;
        return write_partial(w, SLOT_SIGNATURE, sig, sig_len, 0644);
}

static int sink_resume_point(const void *head, size_t head_len, void *userdata) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *shown = NULL, *url_hash = NULL, *head_hash = NULL;
        SlotWriter *w = userdata;
        const char *text;
        int r;

        if (!w->url || !w->validator)
                return 0; /* not a download, or the server gave no validator: nothing to resume */
        r = write_partial(w, "head", head, head_len, 0600);
        if (r < 0)
                return r;
        /* Never the URL itself: a user:password@ or a ?token= in it would sit on disk. Its hash
         * recognises it on the next run; the rest of it is for people. The head's hash catches a
         * head.partial that changed before it is replayed. */
        if ((r = fetch_url_redact(w->url, &shown)) < 0 || (r = sha256_hex(w->url, strlen(w->url), &url_hash)) < 0 ||
            (r = sha256_hex(head, head_len, &head_hash)) < 0)
                return r;
        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "url", json_object_new_string(shown));
        json_object_object_add(o, "url_sha256", json_object_new_string(url_hash));
        json_object_object_add(o, "validator", json_object_new_string(w->validator));
        json_object_object_add(o, "head_size", json_object_new_int64((int64_t) head_len));
        json_object_object_add(o, "head_sha256", json_object_new_string(head_hash));
        json_object_object_add(o, "image_size", json_object_new_int64((int64_t) w->image_size));
        text = json_object_to_json_string(o);
        /* The resume record goes in place at once (it describes the partial files). */
        return write_file_atomic_at(w->dir_fd, SLOT_RESUME, text, strlen(text), 0600);
}

static int sink_tree_fd(const ManifestImage *img, void *userdata) {
        SlotWriter *w = userdata;

        w->tree_fd = safe_close(w->tree_fd);
        w->tree_fd = open_partial(w, SLOT_TREE, 0644);
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
        w->fd = open_partial(w, hash_tree ? SLOT_TREE : SLOT_IMAGE, 0644);
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
        *w = (SlotWriter) { .dir_fd = -EBADF, .fd = -EBADF, .tree_fd = -EBADF, .slot = slot };
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
        w->dir_fd = safe_close(w->dir_fd);
        return slot_open_dir(w->state_dir, w->slot, true, &w->dir_fd);
}

int slot_writer_commit(SlotWriter *w) {
        if (w->tree_fd >= 0 && fsync(w->tree_fd) < 0)
                return log_debug_errno(errno, "Cannot write to slot %s: %m", w->dir);
        /* Complete: nothing to resume any more. */
        (void) unlinkat(w->dir_fd, SLOT_RESUME, 0);
        (void) unlinkat(w->dir_fd, SLOT_HEAD, 0);
        for (size_t i = 0; i < ELEMENTSOF(slot_files); i++) {
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

#define discard(dir, fmt, ...)                                                                         \
        ({                                                                                             \
                log_debug("The resume record in %s does not check out: " fmt " Discarded: the download " \
                          "starts over from byte 0.", dir, ##__VA_ARGS__);                             \
                -EUCLEAN;                                                                              \
        })

int slot_resume_load(const char *state_dir, int slot, SlotResume *ret) {
        static const char *const keys[] = { "url", "url_sha256", "validator", "head_size", "head_sha256", "image_size", NULL };
        _cleanup_free_ char *dir = slot_path(state_dir, slot), *buf = NULL, *head = NULL, *head_hash = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_close_ int dfd = -EBADF;
        const char *url = NULL, *url_hash = NULL, *validator = NULL, *want_head = NULL;
        uint64_t head_size, image_size;
        struct stat st;
        size_t len;
        int r;

        if (!dir)
                return -ENOMEM;
        r = slot_open_dir(state_dir, slot, false, &dfd);
        if (r < 0)
                return r;
        r = read_at(dfd, SLOT_RESUME, 64 * 1024, &buf, &len);
        if (r < 0)
                return r;
        if (json_parse_strict(buf, len, &o) < 0 || !json_object_is_type(o, json_type_object) ||
            json_check_keys(o, keys, NULL) < 0 || json_get_string(o, "url", false, &url) < 0 ||
            json_get_string(o, "url_sha256", false, &url_hash) < 0 || strlen(url_hash) != 64 ||
            json_get_string(o, "validator", false, &validator) < 0 || json_get_u64(o, "head_size", false, HEAD_MAX, &head_size) < 0 ||
            json_get_string(o, "head_sha256", false, &want_head) < 0 ||
            json_get_u64(o, "image_size", false, UINT64_MAX - 1, &image_size) < 0)
                return discard(dir, "%s is malformed (or from an older osupdate).", SLOT_RESUME);

        /* The head is replayed through the verifier, but a wrong one would fail there on every run. */
        r = read_at(dfd, SLOT_HEAD, HEAD_MAX, &head, &len);
        if (r == -ENOENT || r == -EFBIG || (r >= 0 && len != head_size))
                return discard(dir, "%s is missing or not the recorded %llu bytes.", SLOT_HEAD, (unsigned long long) head_size);
        if (r < 0)
                return log_debug_errno(r, "Cannot read %s/%s: %m", dir, SLOT_HEAD);
        r = sha256_hex(head, len, &head_hash);
        if (r < 0)
                return r;
        if (strcmp(head_hash, want_head) != 0)
                return discard(dir, "%s is not what was recorded (SHA-256 %s).", SLOT_HEAD, head_hash);

        /* Asking for a range past the image would replay bytes that are no part of it, or get a 416. */
        if (fstatat(dfd, SLOT_IMAGE ".partial", &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                        return log_debug_errno(errno, "Cannot inspect %s/" SLOT_IMAGE ".partial: %m", dir);
                st = (struct stat) {};
        } else if (!S_ISREG(st.st_mode))
                return discard(dir, SLOT_IMAGE ".partial is not a regular file.");
        else if ((uint64_t) st.st_size > image_size)
                return discard(dir, SLOT_IMAGE ".partial is %llu bytes, more than the image's %llu.",
                               (unsigned long long) st.st_size, (unsigned long long) image_size);

        *ret = (SlotResume) {
                .url = strdup(url),
                .url_sha256 = strdup(url_hash),
                .validator = strdup(validator),
                .head_size = head_size,
                /* Whole data blocks only: a torn last block is fetched again. */
                .image_size = (uint64_t) st.st_size / 4096 * 4096,
        };
        if (!ret->url || !ret->url_sha256 || !ret->validator) {
                slot_resume_done(ret);
                return -ENOMEM;
        }
        return 0;
}

bool slot_resume_matches(const SlotResume *r, const char *url) {
        _cleanup_free_ char *h = NULL;

        return r->url_sha256 && sha256_hex(url, strlen(url), &h) >= 0 && strcmp(h, r->url_sha256) == 0;
}

void slot_resume_done(SlotResume *r) {
        free(r->url);
        free(r->url_sha256);
        free(r->validator);
        *r = (SlotResume) {};
}

int slot_load_manifest(const char *state_dir, int slot, Manifest **ret) {
        _cleanup_free_ char *dir = slot_path(state_dir, slot), *buf = NULL;
        _cleanup_close_ int dfd = -EBADF;
        size_t len;
        int r;

        if (!dir)
                return -ENOMEM;
        r = slot_open_dir(state_dir, slot, false, &dfd);
        if (r == -ENOENT)
                return log_debug_errno(r, "Cannot open %s: %m", dir);
        if (r < 0)
                return r;
        r = read_at(dfd, SLOT_MANIFEST, MANIFEST_MAX_SIZE, &buf, &len);
        if (r < 0)
                return log_debug_errno(r, "Cannot read %s/%s: %m", dir, SLOT_MANIFEST);
        return manifest_parse(buf, len, ret);
}
