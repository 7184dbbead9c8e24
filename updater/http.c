/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "fetch.h"
#include "http.h"
#include "log.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);

void http_response_done(HttpResponse *r) {
        free(r->data);
        *r = (HttpResponse) {};
}

typedef struct Sink {
        HttpResponse *resp;
        size_t max;
        bool too_large;
} Sink;

static size_t on_data(char *data, size_t size, size_t n, void *userdata) {
        Sink *s = userdata;
        HttpResponse *r = s->resp;
        size_t len = size * n;
        char *p;

        if (len > s->max || r->len > s->max - len) {
                s->too_large = true;
                return 0;
        }
        p = realloc(r->data, r->len + len + 1);
        if (!p)
                return 0;
        memcpy(p + r->len, data, len);
        r->data = p;
        r->len += len;
        r->data[r->len] = 0;
        return len;
}

int http_curl_error(CURLcode cr, const char *errbuf, const char *shown) {
        const char *msg = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(cr);

        switch (cr) {
        case CURLE_OPERATION_TIMEDOUT:
                return log_debug_errno(ETIMEDOUT, "%s: timed out (%s).", shown, msg);
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_CLIENTCERT:
                return log_debug_errno(ECONNABORTED, "%s: TLS failed: %s", shown, msg);
        case CURLE_UNSUPPORTED_PROTOCOL:
                return log_debug_errno(ECONNABORTED, "%s: refused: %s (http and https only; no redirect from HTTPS to HTTP).",
                                       shown, msg);
        case CURLE_URL_MALFORMAT:
                return log_debug_errno(EINVAL, "%s: not a valid URL.", shown);
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        default:
                return log_debug_errno(ECOMM, "%s: %s", shown, msg);
        }
}

int http_request(const HttpTls *tls, const char *method, const char *url, const char *const *headers, const char *body,
                 long timeout_ms, size_t max, HttpResponse *ret) {
        _cleanup_(curl_easy_cleanupp) CURL *e = NULL;
        _cleanup_(curl_slist_free_allp) struct curl_slist *list = NULL;
        _cleanup_free_ char *shown = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        Sink sink = { .resp = ret, .max = max };
        long connect_ms;
        CURLcode cr;

        *ret = (HttpResponse) {};
        if (fetch_url_redact(url, &shown) < 0)
                shown = strdup("(invalid URL)");
        e = curl_easy_init();
        if (!e || !shown)
                return -ENOMEM;
        for (const char *const *h = headers; h && *h; h++) {
                struct curl_slist *l = curl_slist_append(list, *h);
                if (!l)
                        return -ENOMEM;
                list = l;
        }
        connect_ms = (long) MIN(tls->connect_timeout_usec / 1000, (uint64_t) timeout_ms);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        if (tls->ca_file)
                curl_easy_setopt(e, CURLOPT_CAINFO, tls->ca_file);
        if (tls->client_certificate)
                curl_easy_setopt(e, CURLOPT_SSLCERT, tls->client_certificate);
        if (tls->client_key)
                curl_easy_setopt(e, CURLOPT_SSLKEY, tls->client_key);
        curl_easy_setopt(e, CURLOPT_USERAGENT, tls->user_agent ?: "osupdate");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        if (body) {
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
        }
        if (connect_ms > 0)
                curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &sink);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);

        cr = curl_easy_perform(e);
        if (sink.too_large) {
                http_response_done(ret);
                return log_debug_errno(EREMOTEIO, "%s: the answer is larger than %zu bytes.", shown, max);
        }
        if (cr != CURLE_OK) {
                http_response_done(ret);
                return cr == CURLE_WRITE_ERROR ? -ENOMEM : http_curl_error(cr, errbuf, shown);
        }
        (void) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &ret->status);
        if (!ret->data && !(ret->data = strdup("")))
                return -ENOMEM;
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(CURLU *, curl_url_cleanup);

typedef struct Origin {
        char *scheme, *host, *port;
} Origin;

static void origin_done(Origin *o) {
        curl_free(o->scheme);
        curl_free(o->host);
        curl_free(o->port);
}

static bool origin_of(const char *url, Origin *ret) {
        _cleanup_(curl_url_cleanupp) CURLU *u = curl_url();

        *ret = (Origin) {};
        if (!u || !url || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
                return false;
        if (curl_url_get(u, CURLUPART_SCHEME, &ret->scheme, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &ret->host, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PORT, &ret->port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
                origin_done(ret);
                return false;
        }
        return true;
}

bool http_same_origin(const char *a, const char *b) {
        Origin x, y;
        bool same;

        if (!origin_of(a, &x))
                return false;
        if (!origin_of(b, &y)) {
                origin_done(&x);
                return false;
        }
        same = strcasecmp(x.scheme, y.scheme) == 0 && strcasecmp(x.host, y.host) == 0 && strcmp(x.port, y.port) == 0;
        origin_done(&x);
        origin_done(&y);
        return same;
}

