/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cmd-bundle.h"
#include "cmd-update.h"
#include "log.h"

#define OSUPDATE_VERSION "0.1"

/* One table of meanings: docs/exit-codes.md documents each row, tests check them. */
static const struct {
        int error;
        int code;
} exit_codes[] = {
        { EINVAL, 2 },          /* usage */
        { ENOENT, 3 },          /* cannot read an input or write an output */
        { EACCES, 3 },
        { EIO, 3 },
        { ENOSPC, 3 },
        { ENOEXEC, 4 },         /* configuration error */
        { EBADMSG, 10 },        /* a byte differs from what was signed */
        { EKEYREJECTED, 11 },   /* unsigned, or too few valid signatures by trusted keys */
        { ENOKEY, 12 },         /* no trusted keys */
        { EKEYEXPIRED, 13 },    /* manifest expired */
        { EPROTO, 14 },         /* malformed bundle container */
        { EUCLEAN, 15 },        /* malformed manifest.json or manifest.sig */
        { EPROTONOSUPPORT, 16 },/* unknown manifest format version */
        { EMEDIUMTYPE, 17 },    /* not an erofs/squashfs image, or another OS id / architecture */
        { EBUSY, 20 },          /* another update is in progress */
        { ESTALE, 21 },         /* not newer than the running version, or below the version floor */
        { ENOPKG, 22 },         /* the device must first run the bundle's min_version */
        { ENOTBLK, 23 },        /* the target is not a mount point */
        { ENOTRECOVERABLE, 24 },/* state.json is corrupt */
        { EILSEQ, 25 },         /* the image's own os-release disagrees with its manifest */
        { ETXTBSY, 26 },        /* no slot can be written: both in use */
        { EOPNOTSUPP, 27 },     /* no mount-beneath in this kernel: staged for the next boot */
        { ENODEV, 28 },         /* Verity=kernel but no device-mapper */
        { ENOMEDIUM, 29 },      /* no slot to roll back to / none active to mark good / none staged */
        { ECOMM, 30 },          /* network: cannot connect, connection lost (after the retries) */
        { ETIMEDOUT, 31 },      /* network: timed out, or slower than LowSpeedLimit= */
        { EREMOTEIO, 32 },      /* the server answered an HTTP error (404, 500, …) */
        { ECONNABORTED, 33 },   /* TLS: untrusted certificate, client certificate refused, HTTPS->HTTP redirect */
        { EFBIG, 34 },          /* larger than MaxBytes= */
        { EXDEV, 35 },          /* the bundle changed on the server during the download */
        { EALREADY, 40 },       /* release: nothing pending for this namespace (nothing changed) */
        { ESRCH, 41 },          /* release --pid: no such process */
        { ELOOP, 36 },          /* StateDirectory, a slot or RuntimeDirectory: a symlink, not root's, or writable by others */
};

static int exit_code_of(int r) {
        if (r >= 0)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(exit_codes); i++)
                if (exit_codes[i].error == -r)
                        return exit_codes[i].code;
        return 1;
}

static void help(void) {
        printf("osupdate %s — A/B updates of a read-only /usr, live and without a downgrade window\n\n"
               "Publisher:\n"
               "  osupdate bundle create --key PRIV.pem [--key PRIV2.pem …] --version V --os-id ID\n"
               "                         [--arch ARCH] (--tree DIR | --image FILE [--hash-tree FILE])\n"
               "                         [--fstype erofs|squashfs] [--min-version V] [--expires TIME] [--critical]\n"
               "                         -o OUT.osup\n"
               "  osupdate bundle info BUNDLE [--json]        show the manifest (NOT verified)\n"
               "  osupdate bundle verify BUNDLE [--keys DIR] [--config FILE]\n\n"
               "Device:\n"
               "  osupdate apply SOURCE [--keys DIR] [--config FILE] [--json]   update /usr live, in every namespace\n"
               "  osupdate apply --staged [--config FILE]              switch live to what fetch staged\n"
               "  osupdate fetch SOURCE [--keys DIR] [--config FILE] [--json]   verify into the inactive slot only\n"
               "                         SOURCE: a bundle file, or an http:// or https:// URL (resumable)\n"
               "  osupdate status [--json] [--config FILE]\n"
               "  osupdate mark-good [--raise-floor] [--config FILE]   confirm the active slot\n"
               "  osupdate rollback [--config FILE]                    back to the other slot, live\n"
               "  osupdate gc [--config FILE]                          empty unused slots\n"
               "  osupdate release [--pid PID] [--check] [--config FILE]   drop a deferred old /usr (exit 40: none)\n"
               "  osupdate release --expired [--config FILE]           force deferrals past their deadline\n\n"
               "TIME is 2027-01-01T00:00:00Z, @EPOCH or +SPAN (e.g. +30d). Exit codes: docs/exit-codes.md.\n"
               "OSUPDATE_DEBUG=1 prints debug messages.\n",
               OSUPDATE_VERSION);
}

int main(int argc, char *argv[]) {
        int r;

        log_setup_from_env();
        srand((unsigned) time(NULL) ^ (unsigned) getpid()); /* retry jitter */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
                fprintf(stderr, "osupdate: error: cannot initialize libcurl\n");
                return 1;
        }
        if (argc < 2) {
                help();
                return 2;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
                help();
                return 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("osupdate %s\n", OSUPDATE_VERSION);
                return 0;
        }
        if (strcmp(argv[1], "bundle") == 0)
                r = cmd_bundle(argc - 2, argv + 2);
        else if (strcmp(argv[1], "apply") == 0)
                r = cmd_apply(argc - 1, argv + 1);
        else if (strcmp(argv[1], "fetch") == 0)
                r = cmd_fetch(argc - 1, argv + 1);
        else if (strcmp(argv[1], "status") == 0)
                r = cmd_status(argc - 1, argv + 1);
        else if (strcmp(argv[1], "mark-good") == 0)
                r = cmd_mark_good(argc - 1, argv + 1);
        else if (strcmp(argv[1], "rollback") == 0)
                r = cmd_rollback(argc - 1, argv + 1);
        else if (strcmp(argv[1], "gc") == 0)
                r = cmd_gc(argc - 1, argv + 1);
        else if (strcmp(argv[1], "release") == 0)
                r = cmd_release(argc - 1, argv + 1);
        else {
                fprintf(stderr, "osupdate: error: unknown command \"%s\". See 'osupdate --help'.\n", argv[1]);
                return 2;
        }
        return exit_code_of(r);
}
