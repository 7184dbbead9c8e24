/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test-util.h"

#include "cleanup.h"
#include "install.h"
#include "log.h"

#define CREATED 1795611600 /* 2026-11-25T13:00:00Z */
#define EXPIRES 1798761600 /* 2027-01-01T00:00:00Z */

static Manifest manifest(void) {
        return (Manifest) {
                .format = 1,
                .os_id = (char *) "demo",
                .architecture = (char *) "x86_64",
                .version = (char *) "2.1",
                .min_version = (char *) "1.5",
                .created = CREATED,
                .expires = EXPIRES,
                .has_expires = true,
        };
}

static InstallFacts facts(void) {
        return (InstallFacts) {
                .os_id = "demo",
                .architecture = "x86_64",
                .running_version = "2.0",
                .version_floor = "1.0",
                .now = CREATED + 60,
        };
}

/* install_check() with one change to the facts; asserts the result and, for a refusal, that the
 * reason names what it must. */
static void expect(const Manifest *m, const InstallFacts *f, int r, const char *reason) {
        int got;

        log_detail_clear();
        got = install_check(m, f);
        if (got != r)
                fail_msg("install_check() = %d, expected %d (%s)", got, r, log_detail() ?: "no reason");
        if (reason) {
                assert_non_null(log_detail());
                if (!strstr(log_detail(), reason))
                        fail_msg("reason \"%s\" does not mention \"%s\"", log_detail(), reason);
        }
}

static void test_install_check_allowed(void **state) {
        Manifest m = manifest();
        InstallFacts f = facts();

        expect(&m, &f, 0, NULL);
        /* A pre-release of this version runs: the release is newer. */
        f.running_version = "2.1~rc1";
        expect(&m, &f, 0, NULL);
        f.running_version = "2.0.99";
        expect(&m, &f, 0, NULL);
}

static void test_install_check_time(void **state) {
        Manifest m = manifest();

        assert_int_equal(install_check_time(&m, CREATED), 0);
        assert_int_equal(install_check_time(&m, EXPIRES - 1), 0);
        /* Not before the creation time is checked: clocks of new devices are often behind. */
        assert_int_equal(install_check_time(&m, 0), 0);

        log_detail_clear();
        assert_int_equal(install_check_time(&m, EXPIRES), -EKEYEXPIRED);
        assert_non_null(log_detail());
        assert_non_null(strstr(log_detail(), "2027-01-01T00:00:00Z"));
        assert_int_equal(install_check_time(&m, EXPIRES + 1), -EKEYEXPIRED);
        assert_int_equal(install_check_time(&m, INT64_MAX), -EKEYEXPIRED);

        /* No expiry: never. */
        m.has_expires = false;
        assert_int_equal(install_check_time(&m, EXPIRES + 1), 0);
        assert_int_equal(install_check_time(&m, INT64_MAX), 0);

        /* An expiry at the epoch itself is an expiry, not "never". */
        m.has_expires = true;
        m.expires = 0;
        assert_int_equal(install_check_time(&m, 1), -EKEYEXPIRED);
}

static void test_install_check_expired(void **state) {
        Manifest m = manifest();
        InstallFacts f = facts();

        f.now = EXPIRES;
        expect(&m, &f, -EKEYEXPIRED, "expired");
        f.now = EXPIRES + 86400;
        expect(&m, &f, -EKEYEXPIRED, "expired");
        /* Expiry is checked first. */
        f.os_id = "other";
        f.running_version = "9";
        expect(&m, &f, -EKEYEXPIRED, "expired");

        f = facts();
        m.has_expires = false;
        f.now = INT64_MAX;
        expect(&m, &f, 0, NULL);
}

static void test_install_check_other_os_or_architecture(void **state) {
        Manifest m = manifest();
        InstallFacts f = facts();

        f.os_id = "other";
        expect(&m, &f, -EMEDIUMTYPE, "other");
        f.os_id = "Demo";
        expect(&m, &f, -EMEDIUMTYPE, "Demo");
        f.os_id = "demo2";
        expect(&m, &f, -EMEDIUMTYPE, "demo2");

        f = facts();
        f.architecture = "aarch64";
        expect(&m, &f, -EMEDIUMTYPE, "aarch64");
        f.architecture = "x86";
        expect(&m, &f, -EMEDIUMTYPE, "x86");
        /* The OS before the version. */
        f.running_version = "3.0";
        expect(&m, &f, -EMEDIUMTYPE, "x86");
}

static void test_install_check_not_newer(void **state) {
        static const char *const running[] = { "2.1", "02.1", "2.1.0", "2.1.1", "2.2", "2.1^1", "3", "10.0" };
        Manifest m = manifest();
        InstallFacts f = facts();

        for (size_t i = 0; i < ELEMENTSOF(running); i++) {
                print_message("running %s\n", running[i]);
                f.running_version = running[i];
                expect(&m, &f, -ESTALE, running[i]);
        }
}

static void test_install_check_version_floor(void **state) {
        Manifest m = manifest();
        InstallFacts f = facts();

        f.version_floor = "2.2";
        expect(&m, &f, -ESTALE, "2.2");
        f.version_floor = "2.1.1";
        expect(&m, &f, -ESTALE, "2.1.1");
        /* Equal to the floor is not below it. */
        f.version_floor = "2.1";
        expect(&m, &f, 0, NULL);
        f.version_floor = "2.1~rc1";
        expect(&m, &f, 0, NULL);
        /* The floor applies with no running version known too. */
        f.running_version = NULL;
        f.version_floor = "3";
        expect(&m, &f, -ESTALE, "floor");
}

static void test_install_check_min_version(void **state) {
        Manifest m = manifest();
        InstallFacts f = facts();

        f.running_version = "1.4";
        expect(&m, &f, -ENOPKG, "1.5");
        f.running_version = "1.5~rc1";
        expect(&m, &f, -ENOPKG, "1.5");
        f.running_version = "1.5";
        expect(&m, &f, 0, NULL);
        f.running_version = "1.6";
        expect(&m, &f, 0, NULL);

        /* Nothing to check without a running version or a min_version. */
        f.running_version = NULL;
        expect(&m, &f, 0, NULL);
        f.running_version = "0.1";
        m.min_version = NULL;
        expect(&m, &f, 0, NULL);
}

static void test_install_check_null_facts(void **state) {
        Manifest m = manifest();
        InstallFacts f = { .now = CREATED };

        expect(&m, &f, 0, NULL);
        /* Each fact alone is checked. */
        f.os_id = "other";
        expect(&m, &f, -EMEDIUMTYPE, NULL);
        f = (InstallFacts) { .now = CREATED, .architecture = "riscv64" };
        expect(&m, &f, -EMEDIUMTYPE, NULL);
        f = (InstallFacts) { .now = CREATED, .running_version = "2.1" };
        expect(&m, &f, -ESTALE, NULL);
        f = (InstallFacts) { .now = CREATED, .version_floor = "5" };
        expect(&m, &f, -ESTALE, NULL);
        f = (InstallFacts) { .now = CREATED, .running_version = "1.0" };
        expect(&m, &f, -ENOPKG, NULL);
        f = (InstallFacts) { .now = EXPIRES };
        expect(&m, &f, -EKEYEXPIRED, NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_install_check_allowed),
                cmocka_unit_test(test_install_check_time),
                cmocka_unit_test(test_install_check_expired),
                cmocka_unit_test(test_install_check_other_os_or_architecture),
                cmocka_unit_test(test_install_check_not_newer),
                cmocka_unit_test(test_install_check_version_floor),
                cmocka_unit_test(test_install_check_min_version),
                cmocka_unit_test(test_install_check_null_facts),
        };

        return tu_run_group_tests(tests, NULL, NULL);
}
