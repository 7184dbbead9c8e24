/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parsing of /proc/PID/mountinfo for the target: one row per layout, with the facts expected. The
 * texts are written from what the 6.18 kernel prints for the layouts the tests build (host, service
 * slave, container in its own group, private), plus escapes and junk. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "namespace.h"
#include "test-util.h"

#define ROOT "22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
#define T_PARENT_HOST "300 22 0:50 / /t/root rw shared:200 - tmpfs x rw\n"
#define T_PARENT_SLAVE "300 22 0:50 / /t/root rw shared:310 master:200 - tmpfs x rw\n"
#define T_PARENT_OWN "300 22 0:50 / /t/root rw shared:320 - tmpfs x rw\n"
#define T_PARENT_PRIVATE "300 22 0:50 / /t/root rw - tmpfs x rw\n"
#define USR_BOOT "301 300 7:0 / /t/root/usr ro shared:201 - erofs /dev/loop0 ro\n"
#define USR_SLOT_A "302 300 7:1 / /t/root/usr ro shared:202 - erofs /dev/loop1 ro\n"
#define USR_SLOT_B "303 300 7:2 / /t/root/usr ro shared:203 - erofs /dev/loop2 ro\n"
#define SLOT_B_ELSEWHERE "304 22 7:2 / /mnt/b ro - erofs /dev/loop2 ro\n"

typedef struct Row {
        const char *name;
        const char *text;
        int r;
        bool found;
        int shared, master;
        unsigned mounts, slots_at_target, slots_elsewhere;
} Row;

static const Row rows[] = {
        { "host: shared parent, the boot image", ROOT T_PARENT_HOST USR_BOOT, 0, true, 200, 0, 1, 0, 0 },
        { "service: slave of the host, shared in its own group", ROOT T_PARENT_SLAVE USR_BOOT, 0, true, 310, 200, 1, 0, 0 },
        { "container: its own group only", ROOT T_PARENT_OWN USR_SLOT_A, 0, true, 320, 0, 1, 1, 0 },
        { "private", ROOT T_PARENT_PRIVATE USR_SLOT_A, 0, true, 0, 0, 1, 1, 0 },
        { "a deferral: old top over the new image beneath", ROOT T_PARENT_HOST USR_SLOT_A USR_SLOT_B, 0, true, 200, 0, 2, 3, 0 },
        { "slot b held elsewhere too", ROOT T_PARENT_HOST USR_SLOT_A SLOT_B_ELSEWHERE, 0, true, 200, 0, 1, 1, 2 },
        { "no target here", ROOT T_PARENT_HOST, 0, true, 200, 0, 0, 0, 0 },
        { "the parent is / (no mount of its own)", ROOT, 0, true, 1, 0, 0, 0, 0 },
        /* The last line for a mount point is the top of its stack: its tags count. */
        { "parent remounted over: the top's tags", ROOT T_PARENT_HOST T_PARENT_OWN USR_BOOT, 0, true, 320, 0, 1, 0, 0 },
        { "junk lines are skipped", "garbage\n\n" ROOT "1 2 x\n" T_PARENT_HOST USR_BOOT, 0, true, 200, 0, 1, 0, 0 },
        { "a longer path that merely starts like the parent", ROOT "310 22 0:51 / /t/rootfs rw shared:999 - tmpfs y rw\n", 0, true, 1, 0, 0, 0, 0 },
};

static const SlotDevices devs = { .d = { { 7, 1, 0 }, { 7, 2, 1 } }, .n = 2 };

static void test_rows(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                const Row *row = &rows[i];
                FILE *f = fmemopen((void *) row->text, strlen(row->text), "r");
                MountinfoFacts m;

                assert_non_null(f);
                print_message("%s\n", row->name);
                assert_int_equal(namespace_parse_mountinfo(f, "/t/root/usr", &devs, &m), row->r);
                fclose(f);
                assert_int_equal(m.found, row->found);
                assert_int_equal(m.shared, row->shared);
                assert_int_equal(m.master, row->master);
                assert_int_equal(m.mounts_at_target, row->mounts);
                assert_int_equal(m.slots_at_target, row->slots_at_target);
                assert_int_equal(m.slots_elsewhere, row->slots_elsewhere);
        }
}

/* Mount points with spaces come escaped (\040): the target must still be found. */
static void test_escaped_target(void **state) {
        static const char text[] = ROOT "300 22 0:50 / /t/my\\040root rw shared:200 - tmpfs x rw\n"
                                        "301 300 7:1 / /t/my\\040root/usr ro shared:201 - erofs /dev/loop1 ro\n";
        FILE *f = fmemopen((void *) text, strlen(text), "r");
        MountinfoFacts m;

        assert_non_null(f);
        assert_int_equal(namespace_parse_mountinfo(f, "/t/my root/usr", &devs, &m), 0);
        fclose(f);
        assert_int_equal(m.shared, 200);
        assert_int_equal(m.mounts_at_target, 1);
        assert_int_equal(m.slots_at_target, 1);
}

static void test_target_without_parent(void **state) {
        FILE *f = fmemopen((void *) ROOT, strlen(ROOT), "r");
        MountinfoFacts m;

        assert_non_null(f);
        assert_int_equal(namespace_parse_mountinfo(f, "usr", &devs, &m), -EINVAL);
        fclose(f);
}

static void test_slot_devices(void **state) {
        assert_int_equal(slot_devices_find(&devs, 7, 1), 0);
        assert_int_equal(slot_devices_find(&devs, 7, 2), 1);
        assert_int_equal(slot_devices_find(&devs, 7, 0), -1);
        assert_int_equal(slot_devices_find(&devs, 253, 1), -1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rows),
                cmocka_unit_test(test_escaped_target),
                cmocka_unit_test(test_target_without_parent),
                cmocka_unit_test(test_slot_devices),
        };
        return tu_run_group_tests(tests, NULL, NULL);
}
