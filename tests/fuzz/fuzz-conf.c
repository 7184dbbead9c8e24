/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The input is an INI file for conf_parse_file(), with one item of each value parser in two
 * sections. The file lives in a memfd and is parsed through /proc/self/fd/N: no disk writes. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cleanup.h"
#include "conf-parser.h"
#include "fileio.h"
#include "fuzz-target.h"
#include "log.h"

typedef struct Settings {
        char *name;
        char *directory;
        unsigned count;
        bool enabled;
        uint64_t interval;
        char *url;
} Settings;

static void settings_done(Settings *s) {
        free(s->name);
        free(s->directory);
        free(s->url);
}

int fuzz_verdict(const uint8_t *data, size_t size) {
        static bool initialized;
        _cleanup_(settings_done) Settings s = {};
        const ConfItem items[] = {
                { "Update", "Name", conf_parse_string, &s.name },
                { "Update", "Directory", conf_parse_path, &s.directory },
                { "Update", "Count", conf_parse_unsigned, &s.count },
                { "Update", "Enabled", conf_parse_bool, &s.enabled },
                { "Fetch", "Interval", conf_parse_timespan, &s.interval },
                { "Fetch", "URL", conf_parse_string, &s.url },
                {},
        };
        _cleanup_close_ int fd = -EBADF;
        char path[64];
        int r;

        if (!initialized) {
                /* conf_parse_file() reports each error at error level; that would flood a fuzzing
                 * run. OSUPDATE_DEBUG=1 shows them (and the debug detail) again. */
                log_set_max_level(-1);
                log_setup_from_env();
                initialized = true;
        }

        fd = memfd_create("fuzz-conf", MFD_CLOEXEC);
        if (fd < 0 || loop_write(fd, data, size) < 0) {
                perror("fuzz-conf: memfd");
                abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

        r = conf_parse_file(path, items);
        /* The file is always readable: only a configuration error (-ENOEXEC, conf-parser.h) may fail it. */
        if (r < 0 && r != -ENOEXEC) {
                fprintf(stderr, "fuzz-conf: conf_parse_file() returned %d (%s), not 0 or -ENOEXEC\n", r, strerror(-r));
                abort();
        }
        if (r >= 0 && s.directory && s.directory[0] != '/') {
                fprintf(stderr, "fuzz-conf: a relative Directory= was accepted: %s\n", s.directory);
                abort();
        }
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        (void) fuzz_verdict(data, size);
        return 0;
}
