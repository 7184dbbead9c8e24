/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cleanup.h"
#include "fetch.h"
#include "http.h"
#include "log.h"

/* Above this much undelivered data the transfer is paused: memory stays bounded however fast the
 * server is. */
#define PENDING_MAX (1024U * 1024U)

struct Fetch {
        FetchOptions o;
        char *url;
        char *shown;            /* the URL for messages: no credentials, no query */
        CURLM *multi;
        CURL *easy;
        struct curl_slist *headers;     /* this request's: the configured ones (+ If-Range) */
        char errbuf[CURL_ERROR_SIZE];

        uint8_t *pending;
        size_t pending_len, pending_off;
        bool paused;
        /* While fetch_read() waits, data goes straight into its buffer (one copy less). */
        uint8_t *dest;
        size_t dest_len, dest_filled;

        bool headers_done, done;
        CURLcode result;
        int error;              /* set by our callbacks */
        long status;
        char *etag, *last_modified;

        char *validator;        /* of the first response: what a resumed request must match */
        bool resumed;
        uint64_t start, position, total;
        unsigned attempts;
        uint64_t last_progress;
};

bool source_is_url(const char *s) {
        return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(CURLU *, curl_url_cleanup);

int fetch_url_redact(const char *url, char **ret) {
        _cleanup_(curl_url_cleanupp) CURLU *u = curl_url();
        char *s = NULL;

        if (!u)
                return -ENOMEM;
        if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
                return -EINVAL;
        /* Setting a part to NULL removes it. */
        if (curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK || curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
            curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) != CURLUE_OK || curl_url_set(u, CURLUPART_QUERY, NULL, 0) != CURLUE_OK ||
            curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK || curl_url_get(u, CURLUPART_URL, &s, 0) != CURLUE_OK)
                return -EINVAL;
        *ret = strdup(s);
        curl_free(s);
        return *ret ? 0 : -ENOMEM;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata) {
        Fetch *f = userdata;
        size_t len = size * n;
        char **dest = NULL;
        const char *v;

        if (len <= 2 && (data[0] == '\r' || data[0] == '\n')) {
                long code = 0;
                (void) curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
                /* A redirect's (or 100 Continue's) headers are not the final ones. */
                if (code >= 300 && code < 400)
                        return len;
                if (code == 100)
                        return len;
                f->status = code;
                f->headers_done = true;
                return len;
        }
        if (len > 5 && strncasecmp(data, "HTTP/", 5) == 0) {
                free(f->etag);
                free(f->last_modified);
                f->etag = f->last_modified = NULL;
                return len;
        }
        if (len > 5 && strncasecmp(data, "ETag:", 5) == 0)
                dest = &f->etag, v = data + 5;
        else if (len > 14 && strncasecmp(data, "Last-Modified:", 14) == 0)
                dest = &f->last_modified, v = data + 14;
        if (dest) {
                size_t l;
                while (*v == ' ' || *v == '\t')
                        v++;
                l = len - (size_t) (v - data);
                while (l > 0 && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' '))
                        l--;
                free(*dest);
                *dest = strndup(v, l);
        }
        return len;
}

static size_t on_data(char *data, size_t size, size_t n, void *userdata) {
        Fetch *f = userdata;
        size_t len = size * n;

        if (len == 0)
                return 0;

        if (f->status >= 400)
                return 0; /* an error page is not a bundle */
        if (f->o.max_bytes > 0 && f->position + len > f->o.max_bytes) {
                f->error = log_debug_errno(EFBIG, "The download exceeds MaxBytes=%llu: aborted.",
                                           (unsigned long long) f->o.max_bytes);
                return 0;
        }
        f->position += len;
        if (f->dest && f->pending_len == f->pending_off) {
                size_t k = MIN(len, f->dest_len - f->dest_filled);
                memcpy(f->dest + f->dest_filled, data, k);
                f->dest_filled += k;
                data += k;
                len -= k;
                if (len == 0)
                        goto progress;
        }
        if (f->pending_off > 0) {
                memmove(f->pending, f->pending + f->pending_off, f->pending_len - f->pending_off);
                f->pending_len -= f->pending_off;
                f->pending_off = 0;
        }
        /* curl hands over at most CURL_MAX_WRITE_SIZE at a time; beyond PENDING_MAX it waits. */
        if (f->pending_len > 0 && f->pending_len + len > PENDING_MAX) {
                /* Not taken: curl offers the same bytes again after the unpause. */
                f->position -= len;
                f->paused = true;
                return CURL_WRITEFUNC_PAUSE;
        }
        if (f->pending_len + len > PENDING_MAX + 2 * CURL_MAX_WRITE_SIZE) {
                f->error = log_debug_errno(EIO, "libcurl delivered an oversized block.");
                return 0;
        }
        memcpy(f->pending + f->pending_len, data, len);
        f->pending_len += len;
progress:
        if (f->o.progress) {
                uint64_t t = now_usec();
                if (t - f->last_progress > 200000) {
                        f->last_progress = t;
                        f->o.progress(f->position, f->total, f->o.userdata);
                }
        }
        return size * n;
}

static void easy_done(Fetch *f) {
        if (f->easy) {
                curl_multi_remove_handle(f->multi, f->easy);
                curl_easy_cleanup(f->easy);
                f->easy = NULL;
        }
}

static int start(Fetch *f, uint64_t offset, const char *validator) {
        char range[64];

        easy_done(f);
        curl_slist_free_all(f->headers);
        f->headers = NULL;
        for (char **h = f->o.headers; h && *h; h++)
                f->headers = curl_slist_append(f->headers, *h);
        f->easy = curl_easy_init();
        if (!f->easy)
                return -ENOMEM;
        f->headers_done = f->done = f->paused = false;
        f->status = 0;
        f->error = 0;
        f->result = CURLE_OK;
        f->errbuf[0] = 0;
        f->start = f->position = offset;

        curl_easy_setopt(f->easy, CURLOPT_URL, f->url);
        curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(f->easy, CURLOPT_MAXREDIRS, 5L);
        /* Once on HTTPS, never let a redirect downgrade to plain HTTP. */
        curl_easy_setopt(f->easy, CURLOPT_REDIR_PROTOCOLS_STR, strncasecmp(f->url, "https://", 8) == 0 ? "https" : "http,https");
        curl_easy_setopt(f->easy, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(f->easy, CURLOPT_SSL_VERIFYHOST, 2L);
        if (f->o.ca_file)
                curl_easy_setopt(f->easy, CURLOPT_CAINFO, f->o.ca_file);
        if (f->o.client_certificate)
                curl_easy_setopt(f->easy, CURLOPT_SSLCERT, f->o.client_certificate);
        if (f->o.client_key)
                curl_easy_setopt(f->easy, CURLOPT_SSLKEY, f->o.client_key);
        curl_easy_setopt(f->easy, CURLOPT_USERAGENT, f->o.user_agent ?: "osupdate");
        if (f->headers)
                curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers);
        if (f->o.connect_timeout_usec)
                curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT_MS, (long) (f->o.connect_timeout_usec / 1000));
        if (f->o.low_speed_limit > 0) {
                curl_easy_setopt(f->easy, CURLOPT_LOW_SPEED_LIMIT, (long) f->o.low_speed_limit);
                curl_easy_setopt(f->easy, CURLOPT_LOW_SPEED_TIME, (long) MAX(f->o.low_speed_time_usec / 1000000, 1U));
        }
        if (offset > 0) {
                snprintf(range, sizeof range, "%llu-", (unsigned long long) offset);
                curl_easy_setopt(f->easy, CURLOPT_RANGE, range);
                if (validator) {
                        /* If-Range: the server sends the rest only if the file is still the same one. */
                        char *h;
                        if (asprintf(&h, "If-Range: %s", validator) < 0)
                                return -ENOMEM;
                        f->headers = curl_slist_append(f->headers, h);
                        free(h);
                        curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers);
                }
        }
        curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, f);
        curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
        curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, f->errbuf);
        curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
        if (curl_multi_add_handle(f->multi, f->easy) != CURLM_OK)
                return -ENOMEM;
        return 0;
}

/* One round of the multi loop: wait for the socket, transfer, notice the end. */
static int drive(Fetch *f) {
        int running = 0, msgs;
        CURLMsg *m;

        if (curl_multi_perform(f->multi, &running) != CURLM_OK)
                return -EIO;
        while ((m = curl_multi_info_read(f->multi, &msgs)))
                if (m->msg == CURLMSG_DONE) {
                        f->done = true;
                        f->result = m->data.result;
                }
        if (!f->done && running > 0 && !f->paused)
                (void) curl_multi_poll(f->multi, NULL, 0, 1000, NULL);
        return 0;
}

static bool status_retryable(long s) {
        return s >= 500 || s == 408 || s == 429;
}

/* Maps the end of a failed transfer to an errno and a message (log_detail()). */
static int transfer_error(Fetch *f, bool *ret_retryable) {
        int r;

        *ret_retryable = false;
        if (f->error < 0)
                return f->error;
        if (f->status >= 400) {
                *ret_retryable = status_retryable(f->status);
                return log_debug_errno(EREMOTEIO, "%s: the server answered HTTP %ld.", f->shown, f->status);
        }
        r = http_curl_error(f->result, f->errbuf, f->shown);
        /* A timeout or a connection that broke may go better next time; TLS and URLs do not. */
        *ret_retryable = r == -ETIMEDOUT || r == -ECOMM;
        return r;
}

static int wait_headers(Fetch *f) {
        int r;

        while (!f->headers_done && !f->done) {
                r = drive(f);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void backoff(Fetch *f) {
        uint64_t d = f->o.retry_delay_usec ?: 500000;

        for (unsigned i = 1; i < f->attempts && d < 30000000; i++)
                d *= 2;
        d = MIN(d, (uint64_t) 30000000);
        /* Jitter, so a fleet that failed together does not retry together. */
        d += (uint64_t) rand() % (d / 2 + 1);
        log_debug("Retrying %s in %llu ms (attempt %u of %u).", f->shown, (unsigned long long) (d / 1000), f->attempts,
                  f->o.retries);
        (void) usleep((useconds_t) MIN(d, (uint64_t) 60000000));
}

/* (Re)starts the request at `position` until the headers are in, retrying what is transient. */
static int connect_at(Fetch *f, uint64_t position, const char *validator) {
        for (;;) {
                bool retryable;
                int r;

                r = start(f, position, validator);
                if (r < 0)
                        return r;
                r = wait_headers(f);
                if (r < 0)
                        return r;
                if (position > 0 && f->headers_done && f->status == 416) {
                        /* The file has no byte `position`: what said to continue there (a resume
                         * record on disk, a file that shrank) does not fit it. Asking again for the
                         * same range would fail forever; ask for the whole file. */
                        log_debug("%s has no byte %llu (HTTP 416): downloading it whole.", f->shown,
                                  (unsigned long long) position);
                        position = 0;
                        validator = NULL;
                        continue;
                }
                if (f->headers_done && f->status < 400) {
                        curl_off_t cl = -1;
                        (void) curl_easy_getinfo(f->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
                        f->resumed = position > 0 && f->status == 206;
                        if (position > 0 && !f->resumed) {
                                /* The whole file follows from byte 0; body bytes may already be in. */
                                f->position -= position;
                                f->start = 0;
                        }
                        f->total = cl >= 0 ? f->start + (uint64_t) cl : 0;
                        if (f->o.max_bytes > 0 && f->total > f->o.max_bytes)
                                return log_debug_errno(EFBIG, "%s is %llu bytes, more than MaxBytes=%llu.", f->shown,
                                                       (unsigned long long) f->total, (unsigned long long) f->o.max_bytes);
                        return 0;
                }
                if (!f->done) {
                        /* Headers of an error status: finish to get the result. */
                        while (!f->done && (r = drive(f)) >= 0)
                                ;
                }
                r = transfer_error(f, &retryable);
                if (!retryable || f->attempts >= f->o.retries)
                        return r;
                f->attempts++;
                backoff(f);
        }
}

int fetch_open(const FetchOptions *o, const char *url, uint64_t offset, const char *validator, Fetch **ret) {
        Fetch *f;
        int r;

        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->o = *o;
        f->url = strdup(url);
        if (fetch_url_redact(url, &f->shown) < 0)
                f->shown = strdup("(the URL)");
        f->multi = curl_multi_init();
        f->pending = malloc(PENDING_MAX + 2 * CURL_MAX_WRITE_SIZE);
        if (!f->url || !f->shown || !f->multi || !f->pending) {
                fetch_free(f);
                return -ENOMEM;
        }
        r = connect_at(f, offset, validator);
        if (r < 0) {
                fetch_free(f);
                return r;
        }
        if (f->etag && f->etag[0] != 'W')
                f->validator = strdup(f->etag);
        else if (f->last_modified)
                f->validator = strdup(f->last_modified);
        *ret = f;
        return 0;
}

bool fetch_resumed(const Fetch *f) {
        return f->resumed;
}

const char *fetch_validator(const Fetch *f) {
        return f->validator;
}

ssize_t fetch_read(void *userdata, void *buf, size_t len) {
        Fetch *f = userdata;

        for (;;) {
                size_t avail = f->pending_len - f->pending_off;
                int r;

                if (avail > 0) {
                        size_t n = MIN(avail, len);
                        memcpy(buf, f->pending + f->pending_off, n);
                        f->pending_off += n;
                        if (f->pending_off == f->pending_len)
                                f->pending_off = f->pending_len = 0;
                        if (f->paused) {
                                f->paused = false;
                                (void) curl_easy_pause(f->easy, CURLPAUSE_CONT);
                        }
                        return (ssize_t) n;
                }
                if (f->done) {
                        bool retryable;

                        if (f->result == CURLE_OK && f->error == 0 && f->status < 400) {
                                if (f->o.progress)
                                        f->o.progress(f->position, f->total, f->o.userdata);
                                return 0;
                        }
                        r = transfer_error(f, &retryable);
                        if (!retryable || f->attempts >= f->o.retries || !f->validator)
                                return r;
                        f->attempts++;
                        backoff(f);
                        /* Continue where the verified stream stands; only the same file may continue it. */
                        uint64_t at = f->position;
                        r = connect_at(f, at, f->validator);
                        if (r < 0)
                                return r;
                        if (!f->resumed)
                                return log_debug_errno(EXDEV, "%s changed on the server during the download: not splicing two files.",
                                                       f->shown);
                        continue;
                }
                f->dest = buf;
                f->dest_len = len;
                f->dest_filled = 0;
                r = drive(f);
                f->dest = NULL;
                if (r < 0)
                        return r;
                if (f->dest_filled > 0)
                        return (ssize_t) f->dest_filled;
        }
}

Fetch *fetch_free(Fetch *f) {
        if (!f)
                return NULL;
        easy_done(f);
        if (f->multi)
                curl_multi_cleanup(f->multi);
        curl_slist_free_all(f->headers);
        free(f->pending);
        free(f->url);
        free(f->shown);
        free(f->etag);
        free(f->last_modified);
        free(f->validator);
        free(f);
        return NULL;
}
