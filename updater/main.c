/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"
#include "log.h"

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
        { EAGAIN, 43 },         /* the fleet semaphore is full */
        { EBADE, 44 },          /* agent: channel serial lower than the accepted one, or the same serial with other content */
        { ECANCELED, 45 },      /* agent: the new version failed its health checks and was rolled back */
        { ELOOP, 36 },
        { ELIBACC, 42 },        /* the new image lacks the running kernel's modules: staged for the next boot */          /* StateDirectory, a slot or RuntimeDirectory: a symlink, not root's, or writable by others */
};

static int exit_code_of(int r) {
        if (r >= 0)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(exit_codes); i++)
                if (exit_codes[i].error == -r)
                        return exit_codes[i].code;
        return 1;
}

int main(int argc, char *argv[]) {
        int r;

        log_setup_from_env();
        srand((unsigned) time(NULL) ^ (unsigned) getpid()); /* retry jitter */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
                fprintf(stderr, "osupdate: error: cannot initialize libcurl\n");
                return 1;
        }
        r = cli_run(argc, argv);
        return exit_code_of(r);
}
