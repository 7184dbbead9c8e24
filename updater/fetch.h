/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Downloads over HTTP(S) with libcurl as a pull stream: fetch_read() drives a curl multi handle
 * until bytes are there, so libcurl feeds libarchive, the verifier and the slot writer in one
 * pass with bounded memory. A transfer that breaks is continued in-process with a Range request
 * guarded by If-Range (the first response's ETag, else its Last-Modified), with exponential
 * backoff and jitter; a server that answers 200 instead of 206 has changed the file and the
 * read fails with -EXDEV instead of splicing two files. A server that has no byte at the offset
 * asked for (416: a resume record that does not fit the file) is asked again for all of it. */

typedef struct FetchOptions {
        const char *ca_file;
        const char *client_certificate;
        const char *client_key;
        const char *user_agent;
        char **headers;                 /* "Name: value", NULL-terminated, may be NULL */
        uint64_t connect_timeout_usec;
        unsigned low_speed_limit;       /* bytes/s … */
        uint64_t low_speed_time_usec;   /* … for this long: time out */
        unsigned retries;
        uint64_t retry_delay_usec;      /* first backoff step */
        uint64_t max_bytes;             /* 0: no cap beyond the signed sizes */
        /* Progress, called at most a few times a second and at the end. */
        void (*progress)(uint64_t done, uint64_t total, void *userdata);
        void *userdata;
} FetchOptions;

typedef struct Fetch Fetch;

/* Starts a GET of url from byte offset (Range) with an If-Range validator (NULL: none) and waits
 * for the response headers. Errors: -EREMOTEIO HTTP error status, -ETIMEDOUT, -ECONNABORTED TLS
 * failure, -ECOMM other transfer failures, -EFBIG larger than max_bytes. */
int fetch_open(const FetchOptions *o, const char *url, uint64_t offset, const char *validator, Fetch **ret);

/* Did the server honour the Range (206)? false: the whole file follows from byte 0. */
bool fetch_resumed(const Fetch *f);
/* The response's validator (ETag or Last-Modified), or NULL. */
const char *fetch_validator(const Fetch *f);

/* A BundleReadFunc: bytes read, 0 at the end, negative errno. */
ssize_t fetch_read(void *userdata, void *buf, size_t len);

Fetch *fetch_free(Fetch *f);

bool source_is_url(const char *s);

/* The URL as it may be shown or stored: scheme://host[:port]/path, without user name, password,
 * query or fragment (where credentials and tokens travel). -EINVAL if it is not a URL. */
int fetch_url_redact(const char *url, char **ret);
