/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"
#include "agent.h"
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
        AgentHandling handling; /* download, update, maintenanceWindow, as agent_handling() reads them */
        char *problem;          /* non-NULL: the offer cannot be used (no sha256, no artifact, …): why */
} HawkbitOffer;

HawkbitOffer *hawkbit_offer_free(HawkbitOffer *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(HawkbitOffer *, hawkbit_offer_free);

/* "Authorization: TargetToken <t>" (or GatewayToken) from [hawkBit]; *ret NULL when no token is
 * configured. -EACCES (log_detail()) when a token file cannot be read or holds no token: read at
 * every poll, it may be provisioned later (the daemon backs off meanwhile, as for a 401). */
int hawkbit_auth_header(const Config *cfg, char **ret);

/* The controller's base URL: Server/Tenant/controller/v1/ControllerID. */
int hawkbit_base_url(const Config *cfg, const char *controller_id, char **ret);

/* What one poll of the base found. */
typedef struct HawkbitPoll {
        HawkbitOffer *offer;    /* deploymentBase (maybe with ->problem set); NULL: none */
        uint64_t cancel_id;     /* cancelAction: the stopId of the action to cancel; 0: none */
        uint64_t confirm_id;    /* confirmationBase: the action waiting for this device's consent; 0: none */
        uint64_t sleep_usec;    /* config.polling.sleep, within [1 s, 24 h]; 0: not given */
} HawkbitPoll;

void hawkbit_poll_done(HawkbitPoll *p);

/* GETs the base; sends configData when asked for (not with dry_run); follows deploymentBase,
 * cancelAction, confirmationBase. Errors (logged at debug level, log_detail()):
 *   -EACCES    401: the token was refused
 *   -EREMOTEIO another HTTP error, or an answer that is not DDI's JSON
 *   -ECOMM, -ETIMEDOUT, -ECONNABORTED (TLS): no answer */
int hawkbit_poll(const Config *cfg, const char *controller_id, bool dry_run, HawkbitPoll *ret);

/* One DdiActionFeedback. */
typedef struct HawkbitFeedback {
        bool cancel;            /* on cancelAction/<id>/feedback (else deploymentBase/<id>/feedback) */
        const char *execution;  /* closed, proceeding, downloaded, rejected, … */
        const char *finished;   /* success, failure, none */
        const char *details;    /* lines; at most 50 sent, each at most 512 bytes; NULL: none */
        int64_t progress_cnt;   /* result.progress {cnt, of}; of <= 0: none */
        int64_t progress_of;
        bool quick;             /* a progress report: given 5 s, not 30 */
} HawkbitFeedback;

/* POSTs the feedback. 0: delivered; 1: the server considers the action over already (410, or 405
 * for a cancellation that is no longer pending): as good as delivered; errors as hawkbit_poll(). */
int hawkbit_feedback(const Config *cfg, const char *controller_id, uint64_t action_id, const HawkbitFeedback *fb);

/* POSTs confirmationBase/<action_id>/feedback: confirmed (details: one line). 0, or 1 when the
 * action no longer waits (404/410); errors as hawkbit_poll(). */
int hawkbit_confirm(const Config *cfg, const char *controller_id, uint64_t action_id, const char *details);
