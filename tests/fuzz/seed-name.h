/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A seed's file name says what the parser must do with it (docs/fuzzing.md, "Seed names"):
 *   valid-…         accepted: the parser returns ≥ 0
 *   bad-EXXX-…      refused with exactly -EXXX, an errno name as strerrorname_np() spells it,
 *                   followed by '-' and a lower-case description
 *   anything else   refused, with any negative errno: bad-… without an errno name, and libFuzzer's
 *                   crash-…, leak-…, timeout-…, oom-… artifacts copied into a corpus as they are
 * The standalone driver holds every replayed seed to its name; gen-fuzz-corpus writes each
 * generated seed only if the real parser gives it the verdict its name promises. */

typedef struct SeedExpect {
        bool accept;
        int error; /* when refused: the exact negative errno the name demands, or 0 for any */
} SeedExpect;

/* The verdict the file name of path (what follows its last '/') promises. -EINVAL if the name
 * starts "bad-E…-" with an upper-case word that is not an errno name: a typo must not quietly turn
 * an exact check into "any refusal". */
int seed_name_expect(const char *path, SeedExpect *ret);

/* What follows the verdict in name: after "valid-", "bad-EXXX-" or "bad-"; all of name otherwise. */
const char *seed_name_description(const char *name);

/* Whether the parser's result r is what e promises. */
bool seed_expect_met(const SeedExpect *e, int r);

/* r as text: "accepted" for r ≥ 0, else "-EPROTO" (or "-<number>" for an errno without a name). */
const char *seed_verdict_to_string(int r, char *buf, size_t size);

/* The promise as text: "accepted", "refused" or "refused with -EPROTO". */
const char *seed_expect_to_string(const SeedExpect *e, char *buf, size_t size);
