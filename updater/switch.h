/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "apply.h"
#include "plan.h"
#include "signature.h"
#include "state.h"

/* Puts a complete slot live (apply, apply --staged, rollback): its stored signed manifest is
 * authenticated again and admitted by the planner for this kind of switch; the slot is sealed,
 * attached read-only and bound to the signed root hash (dm-verity, or the whole tree checked over
 * the loop device that is then mounted); the detached mount's own os-release must agree with the
 * manifest (a slot that disagrees is emptied); then plan_switch(), `switching` recorded, the tuck
 * beneath Target, propagate_execute(), and `active` recorded.
 * -EOPNOTSUPP (ret->staged_only) on kernels without mount-beneath: staged for the next boot. */
int switch_to_slot(const Config *cfg, const Keyring *keyring, State *s, int slot, PlanKind kind, ApplyResult *ret);
