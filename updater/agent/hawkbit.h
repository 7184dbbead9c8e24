/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"
#include "config.h"

/* The hawkBit back-end ([Agent] Backend=hawkbit): a client of Eclipse hawkBit's Direct Device
 * Integration API (release 1.1.0; docs/hawkbit.md), on libcurl easy handles with the [Network]
 * TLS settings, bounded answers and the token in an Authorization header (never logged). */

#define HAWKBIT_RESPONSE_MAX (1024U * 1024U)

/* What a deploymentBase offers, reduced to what the agent needs. */
typedef struct HawkbitOffer {
        uint64_t action_id;
        char *version;          /* the "version" of the chunk that holds the bundle artifact */
        char *filename;         /* the artifact's file name */
        char *url;              /* its "download" link, else "download-http" */
        uint64_t size;
        uint8_t sha256[32];     /* hashes.sha256: required (SHA-1 and MD5 are not trusted) */
        char *download;         /* skip|attempt|forced, NULL: absent */
        char *update;           /* skip|attempt|forced, NULL: absent */
        bool window_unavailable;/* maintenanceWindow: unavailable */
        char *problem;          /* non-NULL: the offer cannot be used (no sha256, no artifact, …): why */
} HawkbitOffer;

HawkbitOffer *hawkbit_offer_free(HawkbitOffer *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(HawkbitOffer *, hawkbit_offer_free);

/* "Authorization: TargetToken <t>" (or GatewayToken) from [hawkBit]; *ret NULL when no token is
 * configured. -ENOEXEC (logged) when a token file cannot be read or is empty. */
int hawkbit_auth_header(const Config *cfg, char **ret);

/* The controller's base URL: Server/Tenant/controller/v1/ControllerID. */
int hawkbit_base_url(const Config *cfg, const char *controller_id, char **ret);

/* GETs the base; sends configData when asked for (not with dry_run); follows deploymentBase. Returns 1 with *ret an
 * offer (maybe with ->problem set), 0 with *ret NULL when nothing is to be done. *ret_sleep_usec:
 * config.polling.sleep (0: not given). Errors (logged at debug level, log_detail()):
 *   -EACCES    401: the token was refused
 *   -EREMOTEIO another HTTP error, or an answer that is not DDI's JSON
 *   -ECOMM, -ETIMEDOUT, -ECONNABORTED (TLS): no answer */
int hawkbit_poll(const Config *cfg, const char *controller_id, bool dry_run, HawkbitOffer **ret, uint64_t *ret_sleep_usec);

/* POSTs deploymentBase/<action_id>/feedback: execution (closed, proceeding, …), finished
 * (success, failure, none), details (lines; at most 50 sent, each at most 512 bytes; NULL: none).
 * 0: delivered; 1: 410, the server had already closed the action (as good as delivered);
 * errors as hawkbit_poll(). */
int hawkbit_feedback(const Config *cfg, const char *controller_id, uint64_t action_id, const char *execution,
                     const char *finished, const char *details);
