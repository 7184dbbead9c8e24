/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mountinfo_unescape(): the kernel writes the fields of /proc/PID/mountinfo with space, tab, newline
 * and backslash as \040 \011 \012 \134 (fs/proc_namespace.c, seq_path_root() and mangle()), and
 * newer kernels write '#' in the mount source as \043. One row per input, with the text that must
 * come out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "mountinfo.h"
#include "test-util.h"

typedef struct Row {
        const char *in;
        const char *out;
} Row;

static const Row rows[] = {
        /* Nothing to undo. */
        { "", "" },
        { "/", "/" },
        { "/usr", "/usr" },
        { "/run/media/user/disk", "/run/media/user/disk" },

        /* The four characters the kernel escapes. */
        { "\\040", " " },
        { "\\011", "\t" },
        { "\\012", "\n" },
        { "\\134", "\\" },
        { "/run/media/user/My\\040Disk", "/run/media/user/My Disk" },
        { "/a\\011b\\012c\\134d\\040e", "/a\tb\nc\\d e" },
        { "src\\043a\\040b", "src#a b" }, /* a mount source, as Linux 6.x shows "src#a b" */
        { "\\040\\040", "  " },
        { "\\040/mnt", " /mnt" },
        { "/mnt\\040", "/mnt " },

        /* One pass only: an escaped backslash followed by digits stays a backslash and digits. A
         * second pass would turn the directory "\040" (written \134040) into " ". */
        { "\\134040", "\\040" },
        { "/x\\134134y", "/x\\134y" },

        /* Exactly three digits; what follows is text. */
        { "\\0400", " 0" },
        { "\\1341", "\\1" },

        /* Any three-digit octal escape is undone, not only the four the kernel writes. */
        { "\\101", "A" },
        { "\\177", "\177" },
        { "\\200", "\200" },
        { "\\377", "\377" },

        /* Not an escape: copied as it is. */
        { "\\400", "\\400" }, /* above \377: would not fit a byte */
        { "\\777", "\\777" },
        { "\\800", "\\800" },
        { "\\080", "\\080" },
        { "\\008", "\\008" },
        { "\\04a", "\\04a" },
        { "\\x20", "\\x20" },
        { "\\ ", "\\ " },
        { "\\\\040", "\\ " }, /* the first backslash is not followed by digits; the second is */

        /* Truncated escapes at the end of the string: copied, nothing read past the terminator. */
        { "\\", "\\" },
        { "a\\", "a\\" },
        { "\\0", "\\0" },
        { "\\04", "\\04" },
        { "/mnt\\04", "/mnt\\04" },
        { "\\13", "\\13" },

        /* \000 becomes the NUL byte, which ends the string there. The kernel never writes it: no path
         * holds a NUL. */
        { "a\\000b", "a" },
        { "\\000", "" },
};

/* Every row runs; the test fails at the end, naming each wrong row. */
static void test_mountinfo_unescape_table(void **state) {
        unsigned wrong = 0;

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                /* A buffer of exactly the input's size, so that ASan catches a read or write past it. */
                size_t len = strlen(rows[i].in);
                _cleanup_free_ char *buf = malloc(len + 1);

                assert_non_null(buf);
                memcpy(buf, rows[i].in, len + 1);
                mountinfo_unescape(buf);
                if (strcmp(buf, rows[i].out) != 0) {
                        print_error("row %zu: mountinfo_unescape(\"%s\") gave \"%s\", expected \"%s\"\n", i, rows[i].in,
                                    buf, rows[i].out);
                        wrong++;
                }
        }
        if (wrong > 0)
                fail_msg("%u of %zu rows wrong (above)", wrong, ELEMENTSOF(rows));
}

/* The result is never longer than the input, and what lies after its terminator is left alone. */
static void test_mountinfo_unescape_in_place(void **state) {
        char buf[] = "/a\\040b\0XYZ";

        mountinfo_unescape(buf);
        assert_string_equal(buf, "/a b");
        assert_memory_equal(buf + strlen("/a\\040b") + 1, "XYZ", 4);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mountinfo_unescape_table),
                cmocka_unit_test(test_mountinfo_unescape_in_place),
        };

        return tu_run_group_tests(tests, NULL, NULL);
}
