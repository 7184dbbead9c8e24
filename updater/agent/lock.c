/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* STUB: replaced by the lock helper. */
#include <errno.h>
#include "lock.h"
int lock_client_new(const Config *cfg, LockClient **ret) { (void) cfg; (void) ret; return -EOPNOTSUPP; }
LockClient *lock_client_free(LockClient *c) { (void) c; return NULL; }
int lock_acquire(LockClient *c, const char *id, const char *g) { (void) c; (void) id; (void) g; return -EOPNOTSUPP; }
int lock_release(LockClient *c, const char *id, const char *g) { (void) c; (void) id; (void) g; return -EOPNOTSUPP; }
int lock_status(LockClient *c, const char *g, unsigned *t, char ***h) { (void) c; (void) g; (void) t; (void) h; return -EOPNOTSUPP; }
