/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

/* One bounded HTTP exchange for the agent's servers (hawkBit, FleetLock, etcd): small JSON bodies,
 * the [Network] TLS settings, http and https only, no redirects (a redirected POST is not the same
 * request), peer and host verified, the whole exchange within a deadline, the answer within a size.
 * Bundles travel through fetch.c, which streams; this buffers. */

typedef struct HttpTls {
        const char *ca_file;            /* NULL: the system's CAs */
        const char *client_certificate; /* mTLS, with client_key */
        const char *client_key;
        const char *user_agent;         /* NULL: "osupdate" */
        uint64_t connect_timeout_usec;  /* 0: the deadline only */
} HttpTls;

typedef struct HttpResponse {
        long status;
        char *data;                     /* NUL-terminated ("" when empty) */
        size_t len;
} HttpResponse;

void http_response_done(HttpResponse *r);

/* METHOD url with headers (NULL-terminated "Name: value" lines, may be NULL) and body (NULL: none).
 * 0 with the status and the answer in *ret, whatever the status; else (logged at debug level,
 * log_detail(), the URL shown without credentials): -EREMOTEIO an answer larger than max,
 * -ETIMEDOUT, -ECONNABORTED (TLS, or a scheme other than http/https), -EINVAL (not a URL), -ECOMM
 * (no answer), -ENOMEM. */
int http_request(const HttpTls *tls, const char *method, const char *url, const char *const *headers, const char *body,
                 long timeout_ms, size_t max, HttpResponse *ret);

/* A failed libcurl transfer as an errno (as above), logged at debug level with SHOWN (the URL). */
int http_curl_error(CURLcode cr, const char *errbuf, const char *shown);

/* Do A and B name the same origin (scheme, host, port; default ports filled in, host case-blind)?
 * A credential (token) meant for one must not travel to the other. False when either is not a URL. */
bool http_same_origin(const char *a, const char *b);
