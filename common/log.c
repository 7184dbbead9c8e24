/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int max_level = LOG_LEVEL_INFO;
static _Thread_local char last_detail[1024];

const char *log_detail(void) {
        return last_detail[0] ? last_detail : NULL;
}

void log_detail_clear(void) {
        last_detail[0] = 0;
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_setup_from_env(void) {
        const char *e = getenv("OSUPDATE_DEBUG");

        if (e && *e && strcmp(e, "0") != 0)
                max_level = LOG_LEVEL_DEBUG;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        int saved = errno;
        if (error < 0)
                error = -error;

        if (level <= max_level || level == LOG_LEVEL_DEBUG) {
                char buf[4096];
                va_list ap;

                /* %m in our messages refers to `error`, not to whatever errno happens to hold. */
                errno = error;
                va_start(ap, fmt);
                (void) vsnprintf(buf, sizeof buf, fmt, ap);
                va_end(ap);

                /* The library's reason for a failure, for the one message main.c prints. */
                if (level == LOG_LEVEL_DEBUG && error != 0)
                {
                        size_t l = strnlen(buf, sizeof last_detail - 1);
                        memcpy(last_detail, buf, l);
                        last_detail[l] = 0;
                }
                if (level > max_level) {
                        errno = saved;
                        return -error;
                }

                if (level == LOG_LEVEL_DEBUG)
                        fprintf(stderr, "osupdate: (%s:%d) %s\n", file, line, buf);
                else
                        fprintf(stderr, "osupdate: %s%s\n",
                                level == LOG_LEVEL_ERROR ? "error: " : level == LOG_LEVEL_WARNING ? "warning: " : "",
                                buf);
        }
        errno = saved;
        return -error;
}
