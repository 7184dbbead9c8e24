/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>

#include "cleanup.h"

/* Logging to stderr. Libraries (verify/, policy/) log at debug level only; main.c logs once per
 * failure. OSUPDATE_DEBUG=1 in the environment turns debug output on. */

enum {
        LOG_LEVEL_ERROR,
        LOG_LEVEL_WARNING,
        LOG_LEVEL_NOTICE,
        LOG_LEVEL_INFO,
        LOG_LEVEL_DEBUG,
};

void log_set_max_level(int level);
int log_get_max_level(void);
void log_setup_from_env(void);

/* Logs the message; returns -abs(error) (or 0 when error is 0) so callers can
 * `return log_error_errno(r, "…: %m");` — %m expands to strerror(abs(error)). */
int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) _printf_(5, 6);

/* verify/ and policy/ explain failures at debug level only; the last such explanation that carried
 * an error is kept (per thread) so the caller can print it once. */
const char *log_detail(void);
void log_detail_clear(void);

#define log_full_errno(level, error, ...) log_internal(level, error, __FILE__, __LINE__, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_LEVEL_ERROR, error, __VA_ARGS__)
#define log_debug_errno(error, ...) log_full_errno(LOG_LEVEL_DEBUG, error, __VA_ARGS__)
#define log_error(...) (void) log_full_errno(LOG_LEVEL_ERROR, 0, __VA_ARGS__)
#define log_warning(...) (void) log_full_errno(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_info(...) (void) log_full_errno(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_debug(...) (void) log_full_errno(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
