/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bundle-craft IN OUT [OP…]: rewrites a bundle with deliberate defects, for the bad-input tests.
 * Members are read into memory (test bundles are small), the operations applied in order, and
 * the result written as a pax tar with libarchive:
 *   --manifest FILE      replace manifest.json          --sig FILE        replace manifest.sig
 *   --sign KEY           re-sign the current manifest.json with KEY (repeat for more keys; each
 *                        --sign starts a fresh manifest.sig unless it directly follows another)
 *   --drop NAME          --dup NAME (copy right after)  --swap NAME NAME  --rename OLD NEW
 *   --add NAME FILE      --symlink NAME TARGET          --hardlink NAME TARGET   --device NAME
 *   --flip NAME OFFSET   XOR one byte (OFFSET < 0 counts from the end)
 *   --resize NAME SIZE   truncate or zero-extend a member
 *   --trailing TEXT      raw bytes after the end of the archive
 *   --cut N              cut the output file to N bytes (N < 0: drop -N bytes from the end) */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "signature.h"

typedef struct Member {
        char *name;
        unsigned type; /* AE_IFREG, AE_IFLNK, AE_IFCHR, or 0 for a hard link */
        char *link;
        char *data;
        size_t len;
} Member;

static Member members[64];
static size_t n_members;

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "bundle-craft: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(1);
}

static Member *find(const char *name) {
        for (size_t i = 0; i < n_members; i++)
                if (strcmp(members[i].name, name) == 0)
                        return &members[i];
        die("no member %s", name);
}

static void load(const char *path) {
        struct archive *a = archive_read_new();
        struct archive_entry *e;

        archive_read_support_format_tar(a);
        if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK)
                die("cannot open %s", path);
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                Member *m = &members[n_members++];
                la_int64_t size = archive_entry_size(e);

                m->name = strdup(archive_entry_pathname(e));
                m->type = AE_IFREG;
                m->len = (size_t) size;
                m->data = malloc(m->len + 1);
                if (archive_read_data(a, m->data, m->len) != (la_ssize_t) m->len)
                        die("short member in %s", path);
        }
        archive_read_free(a);
}

static void insert(size_t at, Member m) {
        memmove(&members[at + 1], &members[at], (n_members - at) * sizeof(Member));
        members[at] = m;
        n_members++;
}

static void set_data(Member *m, const char *file) {
        free(m->data);
        if (read_full_file(file, 1U << 30, &m->data, &m->len) < 0)
                die("cannot read %s", file);
}

static void sign(char **keys, size_t n) {
        EVP_PKEY *pk[16];
        Member *mj = find("manifest.json"), *ms = find("manifest.sig");
        char *sig;

        for (size_t i = 0; i < n; i++)
                if (private_key_load(keys[i], &pk[i]) < 0)
                        die("cannot load key %s", keys[i]);
        if (signature_sign(mj->data, mj->len, pk, n, &sig) < 0)
                die("%s", "signing failed");
        for (size_t i = 0; i < n; i++)
                EVP_PKEY_free(pk[i]);
        free(ms->data);
        ms->data = sig;
        ms->len = strlen(sig);
}

int main(int argc, char *argv[]) {
        const char *trailing = NULL;
        long long cut = 0;
        struct archive *a;
        int i;

        if (argc < 3)
                die("%s", "usage: bundle-craft IN OUT [OP…]");
        load(argv[1]);

        for (i = 3; i < argc; i++) {
                const char *op = argv[i];
                const char *x = i + 1 < argc ? argv[i + 1] : NULL, *y = i + 2 < argc ? argv[i + 2] : NULL;

                if (strcmp(op, "--manifest") == 0 && x) {
                        set_data(find("manifest.json"), x);
                        i++;
                } else if (strcmp(op, "--sig") == 0 && x) {
                        set_data(find("manifest.sig"), x);
                        i++;
                } else if (strcmp(op, "--sign") == 0 && x) {
                        char *keys[16];
                        size_t n = 0;
                        while (i + 1 < argc && strcmp(argv[i], "--sign") == 0 && n < 16) {
                                keys[n++] = argv[i + 1];
                                i += 2;
                        }
                        i--;
                        sign(keys, n);
                } else if (strcmp(op, "--drop") == 0 && x) {
                        Member *m = find(x);
                        size_t at = (size_t) (m - members);
                        free(m->name);
                        free(m->data);
                        free(m->link);
                        memmove(&members[at], &members[at + 1], (n_members - at - 1) * sizeof(Member));
                        n_members--;
                        i++;
                } else if (strcmp(op, "--dup") == 0 && x) {
                        Member *m = find(x), c = *m;
                        c.name = strdup(m->name);
                        c.data = malloc(m->len + 1);
                        memcpy(c.data, m->data, m->len);
                        insert((size_t) (m - members) + 1, c);
                        i++;
                } else if (strcmp(op, "--swap") == 0 && x && y) {
                        Member *p = find(x), *q = find(y), t = *p;
                        *p = *q;
                        *q = t;
                        i += 2;
                } else if (strcmp(op, "--rename") == 0 && x && y) {
                        Member *m = find(x);
                        free(m->name);
                        m->name = strdup(y);
                        i += 2;
                } else if (strcmp(op, "--add") == 0 && x && y) {
                        Member m = { .name = strdup(x), .type = AE_IFREG };
                        set_data(&m, y);
                        members[n_members++] = m;
                        i += 2;
                } else if ((strcmp(op, "--symlink") == 0 || strcmp(op, "--hardlink") == 0) && x && y) {
                        Member m = { .name = strdup(x), .type = op[2] == 's' ? AE_IFLNK : 0, .link = strdup(y) };
                        members[n_members++] = m;
                        i += 2;
                } else if (strcmp(op, "--device") == 0 && x) {
                        Member m = { .name = strdup(x), .type = AE_IFCHR };
                        members[n_members++] = m;
                        i++;
                } else if (strcmp(op, "--flip") == 0 && x && y) {
                        Member *m = find(x);
                        long long off = atoll(y);
                        if (off < 0)
                                off += (long long) m->len;
                        if (off < 0 || (size_t) off >= m->len)
                                die("offset out of range in %s", x);
                        m->data[off] ^= 0x01;
                        i += 2;
                } else if (strcmp(op, "--resize") == 0 && x && y) {
                        Member *m = find(x);
                        size_t n = (size_t) atoll(y);
                        m->data = realloc(m->data, n + 1);
                        if (n > m->len)
                                memset(m->data + m->len, 0, n - m->len);
                        m->len = n;
                        i += 2;
                } else if (strcmp(op, "--trailing") == 0 && x) {
                        trailing = x;
                        i++;
                } else if (strcmp(op, "--cut") == 0 && x) {
                        cut = atoll(x);
                        i++;
                } else
                        die("bad operation %s", op);
        }

        a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        if (archive_write_open_filename(a, argv[2]) != ARCHIVE_OK)
                die("cannot write %s", argv[2]);
        for (size_t k = 0; k < n_members; k++) {
                Member *m = &members[k];
                struct archive_entry *e = archive_entry_new();

                archive_entry_set_pathname(e, m->name);
                archive_entry_set_perm(e, 0644);
                if (m->type == 0) {
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_hardlink(e, m->link);
                        archive_entry_set_size(e, 0);
                } else if (m->type == AE_IFLNK) {
                        archive_entry_set_filetype(e, AE_IFLNK);
                        archive_entry_set_symlink(e, m->link);
                } else if (m->type == AE_IFCHR) {
                        archive_entry_set_filetype(e, AE_IFCHR);
                        archive_entry_set_rdevmajor(e, 1);
                        archive_entry_set_rdevminor(e, 3);
                } else {
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_size(e, (la_int64_t) m->len);
                }
                if (archive_write_header(a, e) != ARCHIVE_OK)
                        die("cannot write header: %s", archive_error_string(a));
                if (m->type == AE_IFREG && m->len > 0 && archive_write_data(a, m->data, m->len) != (la_ssize_t) m->len)
                        die("cannot write data: %s", archive_error_string(a));
                archive_entry_free(e);
        }
        archive_write_close(a);
        archive_write_free(a);
        for (size_t k = 0; k < n_members; k++) {
                free(members[k].name);
                free(members[k].data);
                free(members[k].link);
        }

        if (trailing) {
                int fd = open(argv[2], O_WRONLY | O_APPEND | O_CLOEXEC);
                if (fd < 0 || loop_write(fd, trailing, strlen(trailing)) < 0)
                        die("cannot append to %s", argv[2]);
                close(fd);
        }
        if (cut != 0) {
                int fd = open(argv[2], O_WRONLY | O_CLOEXEC);
                off_t end = lseek(fd, 0, SEEK_END);
                if (fd < 0 || ftruncate(fd, cut > 0 ? (off_t) cut : end + (off_t) cut) < 0)
                        die("cannot cut %s", argv[2]);
                close(fd);
        }
        return 0;
}
