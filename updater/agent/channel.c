/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* STUB: replaced by the channel helper. */
#include <errno.h>
#include <stdlib.h>
#include "channel.h"
Channel *channel_free(Channel *c) { free(c); return NULL; }
int channel_create(const ChannelSpec *spec, EVP_PKEY *const *keys, size_t n_keys, char **ret) { (void) spec; (void) keys; (void) n_keys; (void) ret; return -EOPNOTSUPP; }
int channel_verify(const char *buf, size_t len, const Keyring *k, unsigned req, time_t now, Channel **ret) { (void) buf; (void) len; (void) k; (void) req; (void) now; (void) ret; return -EOPNOTSUPP; }
int channel_load(const Config *cfg, const char *url, const Keyring *k, time_t now, Channel **ret) { (void) cfg; (void) url; (void) k; (void) now; (void) ret; return -EOPNOTSUPP; }
