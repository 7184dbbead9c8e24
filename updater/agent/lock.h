/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "config.h"

/* The fleet's counting semaphore, for Strategy=fleet-lock: a slot is taken before a machine
 * switches and given back once the new version is healthy (docs/agent.md).
 *
 * Two back-ends share one semaphore layout, so a fleet can mix them:
 *  - FleetLock (Zincati's protocol, served by Airlock): POST <FleetLock=>/v1/pre-reboot to take,
 *    /v1/steady-state to give back, header `fleet-lock-protocol: true`, body
 *    {"client_params": {"id": ID, "group": GROUP}}; 200 is success, anything else failure with
 *    {"kind": …, "value": …};
 *  - etcd v3 directly (its HTTP/JSON gateway, POST /v3/kv/range and /v3/kv/txn, keys and values
 *    base64), with Airlock's layout: key com.coreos.airlock/groups/<GROUP>/v1/semaphore, value
 *    {"total_slots": N, "holders": [ID, …]}, created if missing with LockSlots= (a transaction on
 *    create_revision == 0), changed only by a compare-and-swap on the key's mod_revision. Each
 *    Etcd= endpoint is tried in turn: one member down changes nothing.
 * Both are recursive: taking a slot this id holds succeeds; giving back one it does not hold too. */

typedef struct LockClient LockClient;

/* From [Agent] FleetLock= or Etcd= (one of them must be set: -ENOEXEC otherwise, logged) and the
 * [Network] TLS settings. */
int lock_client_new(const Config *cfg, LockClient **ret);
LockClient *lock_client_free(LockClient *c);

/* 0 taken (or already held by id); -EAGAIN the semaphore is full (log_detail(): who holds it);
 * -ECOMM / -ETIMEDOUT / -EREMOTEIO / -ECONNABORTED no endpoint answered as it should (logged);
 * -EUCLEAN the semaphore's value in etcd is not Airlock's layout (never overwritten). */
int lock_acquire(LockClient *c, const char *id, const char *group);
/* 0 given back, or id held none. Errors as lock_acquire(). */
int lock_release(LockClient *c, const char *id, const char *group);

/* etcd only (FleetLock has no way to ask): the semaphore as it is. -EOPNOTSUPP over FleetLock;
 * -ENOENT no semaphore yet. *ret_holders is NULL-terminated, freed by the caller (strv_free). */
int lock_status(LockClient *c, const char *group, unsigned *ret_total, char ***ret_holders);
