/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "os-release.h"

#define OS_RELEASE_MAX (64U * 1024U)

/* The character classes of systemd's env-file parser. */
#define WHITESPACE " \t\n\r"
#define NEWLINE "\n\r"
#define COMMENTS "#;"
#define SHELL_NEED_ESCAPE "\"\\`$"

typedef enum ParseState {
        PRE_KEY,
        KEY,
        PRE_VALUE,
        VALUE,
        VALUE_ESCAPE,
        SINGLE_QUOTE_VALUE,
        DOUBLE_QUOTE_VALUE,
        DOUBLE_QUOTE_VALUE_ESCAPE,
        COMMENT,
} ParseState;

typedef struct Parser {
        char *key, *value; /* each as large as the input: neither can grow longer */
        size_t n_key, n_value;
        size_t key_ws, value_ws; /* where trailing whitespace starts, SIZE_MAX if none */
        bool has_value;          /* a character was stored: "KEY=" stays unset */
        char *id, *image_version, *version_id;
} Parser;

static void parser_done(Parser *p) {
        free(p->key);
        free(p->value);
        free(p->id);
        free(p->image_version);
        free(p->version_id);
}

static bool in_set(char c, const char *set) {
        /* c is never NUL: the text was checked for NUL bytes first. */
        return strchr(set, c) != NULL;
}

/* The code point range systemd's utf8_is_valid() accepts: shortest form only, no surrogates,
 * nothing past U+10FFFF, and no noncharacters (U+FDD0..U+FDEF, U+xxFFFE, U+xxFFFF). */
static bool utf8_is_valid(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s;

        for (size_t i = 0; i < n;) {
                size_t len, shortest;
                uint32_t u;

                if (p[i] < 0x80) {
                        i++;
                        continue;
                }
                if ((p[i] & 0xe0) == 0xc0) {
                        len = 2;
                        u = p[i] & 0x1f;
                } else if ((p[i] & 0xf0) == 0xe0) {
                        len = 3;
                        u = p[i] & 0x0f;
                } else if ((p[i] & 0xf8) == 0xf0) {
                        len = 4;
                        u = p[i] & 0x07;
                } else
                        /* A continuation byte first, or a 5- or 6-byte form (always past U+10FFFF). */
                        return false;
                if (len > n - i)
                        return false;
                for (size_t k = 1; k < len; k++) {
                        if ((p[i + k] & 0xc0) != 0x80)
                                return false;
                        u = (u << 6) | (p[i + k] & 0x3f);
                }
                shortest = u < 0x80 ? 1 : u < 0x800 ? 2 : u < 0x10000 ? 3 : 4;
                if (len != shortest || u >= 0x110000 || (u & 0xfffff800) == 0xd800 || (u >= 0xfdd0 && u <= 0xfdef) ||
                    (u & 0xfffe) == 0xfffe)
                        return false;
                i += len;
        }
        return true;
}

static int assign(char **dest, const Parser *p) {
        char *v = NULL;

        if (p->has_value) {
                v = strdup(p->value);
                if (!v)
                        return -ENOMEM;
        }
        free(*dest);
        *dest = v;
        return 0;
}

/* One complete assignment: the key's trailing whitespace dropped, and the value's if chomp (only an
 * unquoted value ended by a newline or the end of the file is chomped). */
static int push(Parser *p, bool chomp) {
        int r = 0;

        if (p->key_ws != SIZE_MAX)
                p->n_key = p->key_ws;
        p->key[p->n_key] = 0;
        if (chomp && p->value_ws != SIZE_MAX)
                p->n_value = p->value_ws;
        p->value[p->n_value] = 0;

        /* systemd refuses the whole file, not just this line, when any assignment (wanted or not)
         * is not UTF-8: a file it would not read must not name an OS to us either. */
        if (!utf8_is_valid(p->key, p->n_key) || (p->has_value && !utf8_is_valid(p->value, p->n_value)))
                return -EILSEQ;

        if (strcmp(p->key, "ID") == 0)
                r = assign(&p->id, p);
        else if (strcmp(p->key, "IMAGE_VERSION") == 0)
                r = assign(&p->image_version, p);
        else if (strcmp(p->key, "VERSION_ID") == 0)
                r = assign(&p->version_id, p);

        p->n_key = p->n_value = 0;
        p->has_value = false;
        return r;
}

static void append_key(Parser *p, char c) {
        p->key[p->n_key++] = c;
}

static void append_value(Parser *p, char c) {
        p->value[p->n_value++] = c;
        p->has_value = true;
}

/* The state machine of systemd's parse_env_file_internal(), byte by byte. */
static int parse_text(Parser *p, const char *text, size_t len) {
        ParseState state = PRE_KEY;
        int r;

        for (size_t i = 0; i < len; i++) {
                char c = text[i];

                switch (state) {

                case PRE_KEY:
                        if (in_set(c, COMMENTS))
                                state = COMMENT;
                        else if (!in_set(c, WHITESPACE)) {
                                state = KEY;
                                p->key_ws = SIZE_MAX;
                                append_key(p, c);
                        }
                        break;

                case KEY:
                        if (in_set(c, NEWLINE)) {
                                /* A line without '=' is no assignment: dropped unread. */
                                state = PRE_KEY;
                                p->n_key = 0;
                        } else if (c == '=') {
                                state = PRE_VALUE;
                                p->value_ws = SIZE_MAX;
                        } else {
                                if (!in_set(c, WHITESPACE))
                                        p->key_ws = SIZE_MAX;
                                else if (p->key_ws == SIZE_MAX)
                                        p->key_ws = p->n_key;
                                append_key(p, c);
                        }
                        break;

                case PRE_VALUE:
                        if (in_set(c, NEWLINE)) {
                                state = PRE_KEY;
                                r = push(p, false);
                                if (r < 0)
                                        return r;
                        } else if (c == '\'')
                                state = SINGLE_QUOTE_VALUE;
                        else if (c == '"')
                                state = DOUBLE_QUOTE_VALUE;
                        else if (c == '\\')
                                state = VALUE_ESCAPE;
                        else if (!in_set(c, WHITESPACE)) {
                                state = VALUE;
                                append_value(p, c);
                        }
                        break;

                case VALUE:
                        /* Quotes are ordinary characters here: A=a"b" is a"b". */
                        if (in_set(c, NEWLINE)) {
                                state = PRE_KEY;
                                r = push(p, true);
                                if (r < 0)
                                        return r;
                        } else if (c == '\\') {
                                state = VALUE_ESCAPE;
                                p->value_ws = SIZE_MAX;
                        } else {
                                if (!in_set(c, WHITESPACE))
                                        p->value_ws = SIZE_MAX;
                                else if (p->value_ws == SIZE_MAX)
                                        p->value_ws = p->n_value;
                                append_value(p, c);
                        }
                        break;

                case VALUE_ESCAPE:
                        /* Any character literally (an escaped space survives the chomp); a newline
                         * ("\n" or "\r") is eaten: a continuation line. */
                        state = VALUE;
                        if (!in_set(c, NEWLINE))
                                append_value(p, c);
                        break;

                case SINGLE_QUOTE_VALUE:
                        if (c == '\'')
                                state = PRE_VALUE;
                        else
                                append_value(p, c);
                        break;

                case DOUBLE_QUOTE_VALUE:
                        if (c == '"')
                                state = PRE_VALUE;
                        else if (c == '\\')
                                state = DOUBLE_QUOTE_VALUE_ESCAPE;
                        else
                                append_value(p, c);
                        break;

                case DOUBLE_QUOTE_VALUE_ESCAPE:
                        /* As a shell does: \" \\ \` \$ give the character, backslash-newline
                         * ("\n" only) is eaten, any other backslash stays ("a\qb" is a\qb). */
                        state = DOUBLE_QUOTE_VALUE;
                        if (in_set(c, SHELL_NEED_ESCAPE))
                                append_value(p, c);
                        else if (c != '\n') {
                                append_value(p, '\\');
                                append_value(p, c);
                        }
                        break;

                case COMMENT:
                        /* Since systemd 254 a backslash does not continue a comment (its
                         * COMMENT_ESCAPE state leads to the same place as this one). */
                        if (in_set(c, NEWLINE))
                                state = PRE_KEY;
                        break;
                }
        }

        /* The end of the file ends an assignment anywhere after its '=', even inside an unclosed
         * quote; only an unquoted value is chomped. A key without '=' is dropped. */
        if (state == PRE_KEY || state == KEY || state == COMMENT)
                return 0;
        return push(p, state == VALUE);
}

int os_release_parse(const char *text, size_t len, OsRelease *ret) {
        _cleanup_(parser_done) Parser p = {};
        int r;

        /* systemd reads the file as one C string and refuses it if it holds a NUL byte: what
         * follows would be invisible to it. */
        if (len > 0 && memchr(text, 0, len))
                return -EILSEQ;

        /* Key and value are at most one byte per input byte ("\q" in double quotes gives two for
         * two), plus the terminating NUL. */
        p.key = malloc(len + 1);
        p.value = malloc(len + 1);
        if (!p.key || !p.value)
                return -ENOMEM;

        r = parse_text(&p, text, len);
        if (r < 0)
                return r;

        ret->id = TAKE_PTR(p.id);
        ret->version = p.image_version && *p.image_version ? TAKE_PTR(p.image_version) : TAKE_PTR(p.version_id);
        return 0;
}

int os_release_read_at(int dir_fd, const char *path, OsRelease *ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        /* The file may sit in a tree someone else controls (another namespace, an image being
         * checked): never through a symlink out of dir_fd, never block on a FIFO or a device, a
         * regular file only, and size-capped. */
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };

        fd = (int) syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
        if (fd < 0)
                return -errno;
        r = read_regular_fd(fd, OS_RELEASE_MAX, &buf, &len);
        if (r < 0)
                return r;
        return os_release_parse(buf, len, ret);
}

void os_release_done(OsRelease *o) {
        free(o->id);
        free(o->version);
        *o = (OsRelease){};
}
