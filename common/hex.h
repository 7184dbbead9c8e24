/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Lower-case hex. hex_encode returns a new NUL-terminated string or NULL on OOM. */
char *hex_encode(const void *p, size_t len);

/* Strict decoding: even length, [0-9a-fA-F] only, non-empty. -EINVAL otherwise. */
int hex_decode(const char *s, uint8_t **ret, size_t *ret_len);
