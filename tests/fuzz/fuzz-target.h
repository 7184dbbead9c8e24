/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The two entry points every fuzz target (fuzz-*.c) defines. */

/* libFuzzer's: fuzz_verdict() with the verdict dropped. Always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds one input to the parser under test, runs the target's checks on what it returns (abort()
 * when the code breaks a promise) and returns the parser's verdict: ≥ 0 accepted, a negative
 * errno refused. The standalone driver (standalone.c) holds it to the seed's name (seed-name.h). */
int fuzz_verdict(const uint8_t *data, size_t size);
