/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "cleanup.h"
#include "fetch.h"
#include "http.h"
#include "json-util.h"
#include "lock.h"
#include "log.h"

/* Airlock's key (internal/lock/lock.go): the group is url.QueryEscape()d there; ours is
 * [a-zA-Z0-9.-]+, which that leaves as it is. */
#define SEMAPHORE_KEY_FMT "com.coreos.airlock/groups/%s/v1/semaphore"

/* Each request: the whole exchange within this, whatever ConnectTimeout= says. */
#define REQUEST_TIMEOUT_MS 10000L
/* What a server may answer: a semaphore of a few thousand holders fits, a runaway server does not. */
#define RESPONSE_MAX (1024U * 1024U)
/* A compare-and-swap that lost to another machine reads again; this often at most. */
#define CAS_ATTEMPTS 20
/* Airlock answers a lost race of its own with 500 "conflict on semaphore detected": ask again. */
#define FLEETLOCK_ATTEMPTS 5

struct LockClient {
        char *fleet_lock;               /* base URL without a trailing '/', or NULL */
        char **etcd;                    /* endpoints, NULL-terminated */
        size_t n_etcd;
        size_t current;                 /* the endpoint that answered last: asked first */
        unsigned slots;                 /* LockSlots=: total_slots of a semaphore we create */
        char *ca_file, *client_certificate, *client_key, *user_agent;
        uint64_t connect_timeout_usec;
};

static char *strdup_or_null(const char *s, bool *oom) {
        char *p;

        if (!s)
                return NULL;
        p = strdup(s);
        if (!p)
                *oom = true;
        return p;
}

LockClient *lock_client_free(LockClient *c) {
        if (!c)
                return NULL;
        free(c->fleet_lock);
        strv_free(c->etcd);
        free(c->ca_file);
        free(c->client_certificate);
        free(c->client_key);
        free(c->user_agent);
        free(c);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(LockClient *, lock_client_free);

int lock_client_new(const Config *cfg, LockClient **ret) {
        _cleanup_(lock_client_freep) LockClient *c = NULL;
        const AgentConfig *a = &cfg->agent;
        size_t n = 0;
        bool oom = false;

        while (a->etcd && a->etcd[n])
                n++;
        if (!a->fleet_lock && n == 0) {
                log_error("%s: [Agent] the fleet semaphore needs FleetLock=URL or Etcd=URL …; neither is set.",
                          cfg->path ?: CONFIG_DEFAULT_FILE);
                return -ENOEXEC;
        }
        if (a->fleet_lock && n > 0) {
                /* Two back-ends could each be asked something else: say which one is meant. */
                log_error("%s: [Agent] FleetLock= and Etcd= are both set; set one of them.", cfg->path ?: CONFIG_DEFAULT_FILE);
                return -ENOEXEC;
        }

        c = calloc(1, sizeof *c);
        if (!c)
                return log_oom();
        c->slots = a->lock_slots > 0 ? a->lock_slots : 1;
        c->connect_timeout_usec = cfg->network.connect_timeout_usec;
        c->ca_file = strdup_or_null(cfg->network.ca_file, &oom);
        c->client_certificate = strdup_or_null(cfg->network.client_certificate, &oom);
        c->client_key = strdup_or_null(cfg->network.client_key, &oom);
        c->user_agent = strdup_or_null(cfg->network.user_agent, &oom);
        if (a->fleet_lock) {
                size_t l;
                c->fleet_lock = strdup_or_null(a->fleet_lock, &oom);
                if (c->fleet_lock) {
                        l = strlen(c->fleet_lock);
                        while (l > 0 && c->fleet_lock[l - 1] == '/')
                                c->fleet_lock[--l] = 0;
                }
        }
        if (n > 0) {
                c->etcd = calloc(n + 1, sizeof(char *));
                if (!c->etcd)
                        return log_oom();
                for (size_t i = 0; i < n; i++) {
                        size_t l;
                        c->etcd[i] = strdup_or_null(a->etcd[i], &oom);
                        if (!c->etcd[i])
                                break;
                        l = strlen(c->etcd[i]);
                        while (l > 0 && c->etcd[i][l - 1] == '/')
                                c->etcd[i][--l] = 0;
                }
                c->n_etcd = n;
        }
        if (oom)
                return log_oom();
        *ret = TAKE_PTR(c);
        return 0;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

/* A server's words, fit for one line of a message: printable ASCII, at most 200 bytes. */
static void sanitize(const char *s, size_t len, char *buf, size_t size) {
        size_t j = 0;

        for (size_t i = 0; i < len && j + 1 < size && j < 200; i++) {
                unsigned char ch = (unsigned char) s[i];
                if (ch == '\n' || ch == '\r') {
                        if (i + 1 < len)
                                buf[j++] = ' ';
                        continue;
                }
                buf[j++] = ch >= 0x20 && ch < 0x7f ? (char) ch : '?';
        }
        while (j > 0 && buf[j - 1] == ' ')
                j--;
        buf[j] = 0;
}

/* POSTs body to url: http_request(), whatever the status. */
static int http_post(LockClient *c, const char *url, bool fleet_lock, const char *body, HttpResponse *resp) {
        const HttpTls tls = {
                .ca_file = c->ca_file,
                .client_certificate = c->client_certificate,
                .client_key = c->client_key,
                .user_agent = c->user_agent,
                .connect_timeout_usec = c->connect_timeout_usec,
        };
        /* No "Expect: 100-continue" round trip: the bodies are small. */
        const char *headers[] = { "Content-Type: application/json", "Expect:",
                                  fleet_lock ? "fleet-lock-protocol: true" : NULL, NULL };

        return http_request(&tls, "POST", url, headers, body, REQUEST_TIMEOUT_MS, RESPONSE_MAX, resp);
}

/* ---- Base64 (etcd's JSON gateway carries keys and values so) ---------------------------------- */

static char *base64_encode(const char *s, size_t len) {
        size_t out_len = 4 * ((len + 2) / 3) + 1;
        char *out;

        if (len > INT32_MAX / 2)
                return NULL;
        out = malloc(out_len);
        if (!out)
                return NULL;
        (void) EVP_EncodeBlock((unsigned char *) out, (const unsigned char *) s, (int) len);
        return out;
}

/* -EBADMSG if s is not base64. The result is NUL-terminated; *ret_len its length. */
static int base64_decode(const char *s, char **ret, size_t *ret_len) {
        size_t len = strlen(s), pad = 0;
        _cleanup_free_ char *out = NULL;
        int n;

        if (len % 4 != 0 || len > INT32_MAX / 2)
                return -EBADMSG;
        out = malloc(len / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        if (len == 0) {
                out[0] = 0;
                *ret = TAKE_PTR(out);
                *ret_len = 0;
                return 0;
        }
        n = EVP_DecodeBlock((unsigned char *) out, (const unsigned char *) s, (int) len);
        if (n < 0)
                return -EBADMSG;
        /* EVP_DecodeBlock() counts the padding as zero bytes. */
        if (s[len - 1] == '=')
                pad++;
        if (s[len - 2] == '=')
                pad++;
        if ((size_t) n < pad)
                return -EBADMSG;
        n -= (int) pad;
        out[n] = 0;
        *ret = TAKE_PTR(out);
        *ret_len = (size_t) n;
        return 0;
}

/* ---- The semaphore's value ------------------------------------------------------------------ */

typedef struct Semaphore {
        uint64_t total;
        char **holders;         /* NULL-terminated, never NULL once parsed */
        size_t n;
} Semaphore;

static void semaphore_done(Semaphore *s) {
        strv_free(s->holders);
        *s = (Semaphore) {};
}

static bool group_valid(const char *g) {
        size_t l = g ? strlen(g) : 0;
        return l > 0 && l <= 64 &&
               strspn(g, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == l;
}

static bool id_valid(const char *id) {
        size_t l = id ? strlen(id) : 0;
        return l > 0 && l <= 128 &&
               strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == l;
}

static int check_args(const char *id, const char *group) {
        if (id && !id_valid(id))
                return log_debug_errno(EINVAL, "Invalid lock holder id \"%s\": 1 to 128 of [a-zA-Z0-9._-].", id);
        if (!group_valid(group))
                return log_debug_errno(EINVAL, "Invalid group \"%s\": 1 to 64 of [a-zA-Z0-9.-].", group ?: "");
        return 0;
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Airlock's layout exactly: {"total_slots": N, "holders": [ID, …]}, nothing else. Anything other
 * is somebody else's data (or a broken writer's), and a slot taken on a misread would let more
 * machines switch at once than the fleet allows: -EUCLEAN, and the value is never overwritten. */
static int semaphore_parse(const char *key, const char *buf, size_t len, Semaphore *ret) {
        static const char *const allowed[] = { "total_slots", "holders", NULL };
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_strv_free_ char **holders = NULL;
        json_object *arr, *t;
        const char *bad;
        size_t n;
        int r;

        r = json_parse_strict(buf, len, &o);
        if (r < 0 || !json_object_is_type(o, json_type_object))
                return log_debug_errno(EUCLEAN, "The value of %s in etcd is not a JSON object: not Airlock's semaphore, left as it is.", key);
        if (json_check_keys(o, allowed, &bad) < 0)
                return log_debug_errno(EUCLEAN, "The value of %s in etcd has the field \"%s\": not Airlock's semaphore "
                                       "({\"total_slots\":N,\"holders\":[…]}), left as it is.", key, bad);
        if (!json_object_object_get_ex(o, "total_slots", &t) || !json_object_is_type(t, json_type_int) ||
            json_object_get_int64(t) < 0 || json_object_get_int64(t) > UINT32_MAX)
                return log_debug_errno(EUCLEAN, "The value of %s in etcd has no valid \"total_slots\": not Airlock's semaphore, "
                                       "left as it is.", key);
        if (!json_object_object_get_ex(o, "holders", &arr))
                return log_debug_errno(EUCLEAN, "The value of %s in etcd has no \"holders\": not Airlock's semaphore, left as it is.", key);
        /* Go writes an empty list as null if it never made one: Airlock reads both. */
        n = arr ? (json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : SIZE_MAX) : 0;
        if (n == SIZE_MAX)
                return log_debug_errno(EUCLEAN, "The value of %s in etcd: \"holders\" is not a list: not Airlock's semaphore, "
                                       "left as it is.", key);
        holders = calloc(n + 1, sizeof(char *));
        if (!holders)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *h = json_object_array_get_idx(arr, i);
                const char *s = json_object_is_type(h, json_type_string) ? json_object_get_string(h) : NULL;
                if (!s || !*s || strlen(s) != (size_t) json_object_get_string_len(h))
                        return log_debug_errno(EUCLEAN, "The value of %s in etcd: holder %zu is not a non-empty string: "
                                               "not Airlock's semaphore, left as it is.", key, i);
                holders[i] = strdup(s);
                if (!holders[i])
                        return -ENOMEM;
        }
        /* Duplicates by sorting a copy: a value of 100 000 holders compared pairwise took the agent
         * half a minute per read. */
        if (n > 1) {
                _cleanup_free_ char **sorted = malloc(n * sizeof(char *));

                if (!sorted)
                        return -ENOMEM;
                memcpy(sorted, holders, n * sizeof(char *));
                qsort(sorted, n, sizeof(char *), cmp_strp);
                for (size_t i = 1; i < n; i++)
                        if (strcmp(sorted[i - 1], sorted[i]) == 0)
                                return log_debug_errno(EUCLEAN, "The value of %s in etcd names holder \"%s\" twice: "
                                                       "not Airlock's semaphore, left as it is.", key, sorted[i]);
        }
        *ret = (Semaphore) { .total = (uint64_t) json_object_get_int64(t), .holders = TAKE_PTR(holders), .n = n };
        return 0;
}

/* What Go's json.Marshal writes for Airlock's struct: compact, total_slots first, holders sorted. */
static char *semaphore_format(const Semaphore *s) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *arr = json_object_new_array();
        const char *t;

        if (!o || !arr)
                return NULL;
        for (size_t i = 0; i < s->n; i++)
                if (json_object_array_add(arr, json_object_new_string(s->holders[i])) < 0)
                        return NULL;
        if (json_object_object_add(o, "total_slots", json_object_new_int64((int64_t) s->total)) < 0 ||
            json_object_object_add(o, "holders", TAKE_PTR(arr)) < 0)
                return NULL;
        t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        return t ? strdup(t) : NULL;
}

static bool semaphore_holds(const Semaphore *s, const char *id) {
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->holders[i], id) == 0)
                        return true;
        return false;
}

/* Inserts id before the first holder that sorts after it (Airlock keeps them sorted). */
static int semaphore_add(Semaphore *s, const char *id) {
        char **l = realloc(s->holders, (s->n + 2) * sizeof(char *));
        size_t at = 0;
        char *d;

        if (!l)
                return -ENOMEM;
        s->holders = l;
        d = strdup(id);
        if (!d)
                return -ENOMEM;
        while (at < s->n && strcmp(s->holders[at], id) < 0)
                at++;
        memmove(s->holders + at + 1, s->holders + at, (s->n - at + 1) * sizeof(char *));
        s->holders[at] = d;
        s->n++;
        return 0;
}

static void semaphore_remove(Semaphore *s, const char *id) {
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->holders[i], id) == 0) {
                        free(s->holders[i]);
                        memmove(s->holders + i, s->holders + i + 1, (s->n - i) * sizeof(char *));
                        s->n--;
                        return;
                }
}

static char *holders_joined(const Semaphore *s) {
        size_t len = 1;
        char *j;

        for (size_t i = 0; i < s->n; i++)
                len += strlen(s->holders[i]) + 2;
        j = malloc(len);
        if (!j)
                return NULL;
        j[0] = 0;
        for (size_t i = 0; i < s->n; i++) {
                if (i > 0)
                        strcat(j, ", ");
                strcat(j, s->holders[i]);
        }
        return j;
}

/* ---- etcd v3 (the JSON gateway of etcd ≥ 3.4: /v3/kv/…) --------------------------------------- */

/* An answer that says this member cannot serve now (no leader, lost quorum, shutting down): grpc
 * Unavailable (14), DeadlineExceeded (4), Canceled (1), or a 5xx without a code. */
static bool etcd_member_unavailable(long status, json_object *o) {
        json_object *code;

        if (o && json_object_object_get_ex(o, "code", &code) && json_object_is_type(code, json_type_int)) {
                int64_t v = json_object_get_int64(code);
                return v == 14 || v == 4 || v == 1;
        }
        return status >= 500;
}

/* POSTs body to /v3/kv/<what> on the endpoints in turn, starting with the one that answered last;
 * a member that does not answer or cannot serve now gives way to the next. The answer, a JSON
 * object, in *ret. */
static int etcd_call(LockClient *c, const char *what, json_object *body, json_object **ret) {
        const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        char errors[1024] = "";
        int last = -ECOMM;

        if (!text)
                return -ENOMEM;
        for (size_t k = 0; k < c->n_etcd; k++) {
                size_t i = (c->current + k) % c->n_etcd;
                _cleanup_(http_response_done) HttpResponse resp = {};
                _cleanup_(json_object_putp) json_object *o = NULL;
                _cleanup_free_ char *url = NULL, *shown = NULL;
                char said[256];
                int r;

                if (asprintf(&url, "%s/v3/kv/%s", c->etcd[i], what) < 0)
                        return -ENOMEM;
                if (fetch_url_redact(url, &shown) < 0)
                        shown = strdup("(invalid URL)");
                if (!shown)
                        return -ENOMEM;
                r = http_post(c, url, false, text, &resp);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        size_t l = strlen(errors);
                        snprintf(errors + l, sizeof errors - l, "%s%s", l ? "; " : "", log_detail() ?: shown);
                        last = r;
                        continue;
                }
                o = json_tokener_parse(resp.data);
                if (resp.status == 200 && o && json_object_is_type(o, json_type_object)) {
                        c->current = i;
                        *ret = TAKE_PTR(o);
                        return 0;
                }
                if (o && json_object_is_type(o, json_type_object)) {
                        json_object *m;
                        const char *s = json_object_object_get_ex(o, "message", &m) && json_object_is_type(m, json_type_string) ?
                                                json_object_get_string(m) : "";
                        sanitize(s, strlen(s), said, sizeof said);
                } else
                        sanitize(resp.data, resp.len, said, sizeof said);
                if (resp.status == 200)
                        return log_debug_errno(EREMOTEIO, "%s: the answer is not a JSON object: %s", shown, said);
                if (!etcd_member_unavailable(resp.status, o))
                        /* The request itself is refused (authentication, a bad key): another member
                         * would say the same. */
                        return log_debug_errno(EREMOTEIO, "%s: etcd answered HTTP %ld: %s", shown, resp.status, said);
                {
                        size_t l = strlen(errors);
                        snprintf(errors + l, sizeof errors - l, "%s%s: HTTP %ld: %s", l ? "; " : "", shown, resp.status, said);
                }
                last = -EREMOTEIO;
        }
        return log_debug_errno(last, "No etcd endpoint answered: %s", errors);
}

static json_object *b64_string(const char *s) {
        _cleanup_free_ char *e = base64_encode(s, strlen(s));
        return e ? json_object_new_string(e) : NULL;
}

static bool parse_int64_string(json_object *o, const char *field, int64_t *ret) {
        json_object *v;
        const char *s;
        char *end;
        long long n;

        /* int64 fields come as strings ("5"); a zero is left out. */
        if (!json_object_object_get_ex(o, field, &v)) {
                *ret = 0;
                return true;
        }
        if (json_object_is_type(v, json_type_int)) {
                *ret = json_object_get_int64(v);
                return true;
        }
        if (!json_object_is_type(v, json_type_string))
                return false;
        s = json_object_get_string(v);
        errno = 0;
        n = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end)
                return false;
        *ret = n;
        return true;
}

/* The semaphore's value and its mod_revision; *ret_found false when there is no key. */
static int etcd_read(LockClient *c, const char *key, Semaphore *ret, int64_t *ret_mod_revision, bool *ret_found) {
        _cleanup_(json_object_putp) json_object *req = json_object_new_object(), *resp = NULL;
        _cleanup_free_ char *value = NULL;
        json_object *kvs, *kv, *v;
        Semaphore s = {};
        int64_t mod;
        size_t len;
        int r;

        if (!req || json_object_object_add(req, "key", b64_string(key)) < 0)
                return -ENOMEM;
        r = etcd_call(c, "range", req, &resp);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(resp, "kvs", &kvs) ||
            (json_object_is_type(kvs, json_type_array) && json_object_array_length(kvs) == 0)) {
                *ret_found = false;
                *ret = (Semaphore) {};
                *ret_mod_revision = 0;
                return 0;
        }
        if (!json_object_is_type(kvs, json_type_array) || json_object_array_length(kvs) != 1 ||
            !json_object_is_type(kv = json_object_array_get_idx(kvs, 0), json_type_object) ||
            !parse_int64_string(kv, "mod_revision", &mod) || mod <= 0)
                return log_debug_errno(EREMOTEIO, "etcd's answer to a read of %s is malformed.", key);
        if (!json_object_object_get_ex(kv, "value", &v))
                value = strdup(""), len = 0;
        else if (!json_object_is_type(v, json_type_string) || base64_decode(json_object_get_string(v), &value, &len) < 0)
                return log_debug_errno(EREMOTEIO, "etcd's answer to a read of %s has no valid base64 value.", key);
        if (!value)
                return -ENOMEM;
        r = semaphore_parse(key, value, len, &s);
        if (r < 0)
                return r;
        *ret = s;
        *ret_mod_revision = mod;
        *ret_found = true;
        return 0;
}

/* Writes value if the key is still as read: absent (mod_revision 0: compare create_revision == 0)
 * or last changed at mod_revision. 1 written, 0 somebody else changed it first. */
static int etcd_write_if(LockClient *c, const char *key, int64_t mod_revision, const char *value) {
        _cleanup_(json_object_putp) json_object *req = json_object_new_object(), *resp = NULL;
        json_object *cmp = json_object_new_object(), *cmps = json_object_new_array(), *put = json_object_new_object(),
                    *op = json_object_new_object(), *ops = json_object_new_array(), *ok;
        char rev[32];
        int r;

        /* Owned by req from here on, whatever fails. */
        if (!req || !cmp || !cmps || !put || !op || !ops) {
                json_object_put(cmp), json_object_put(cmps), json_object_put(put), json_object_put(op), json_object_put(ops);
                return -ENOMEM;
        }
        json_object_object_add(req, "compare", cmps);
        json_object_object_add(req, "success", ops);
        json_object_array_add(cmps, cmp);
        json_object_array_add(ops, op);
        json_object_object_add(op, "request_put", put);

        snprintf(rev, sizeof rev, "%lld", (long long) mod_revision);
        if (json_object_object_add(cmp, "target", json_object_new_string(mod_revision == 0 ? "CREATE" : "MOD")) < 0 ||
            json_object_object_add(cmp, "key", b64_string(key)) < 0 ||
            json_object_object_add(cmp, mod_revision == 0 ? "create_revision" : "mod_revision", json_object_new_string(rev)) < 0 ||
            json_object_object_add(put, "key", b64_string(key)) < 0 || json_object_object_add(put, "value", b64_string(value)) < 0)
                return -ENOMEM;
        r = etcd_call(c, "txn", req, &resp);
        if (r < 0)
                return r;
        /* false is left out of the answer. */
        return json_object_object_get_ex(resp, "succeeded", &ok) && json_object_get_boolean(ok) ? 1 : 0;
}

static void backoff(unsigned attempt) {
        /* 10 … 50 ms, more as the race goes on: the machines that lost spread out. */
        long ms = 10 + rand() % (40 + 10 * (long) MIN(attempt, 10U));
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
        (void) nanosleep(&ts, NULL);
}

static int etcd_acquire(LockClient *c, const char *id, const char *group, const char *key) {
        for (unsigned attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
                _cleanup_(semaphore_done) Semaphore s = {};
                _cleanup_free_ char *value = NULL;
                int64_t mod;
                bool found;
                int r;

                if (attempt > 0)
                        backoff(attempt);
                r = etcd_read(c, key, &s, &mod, &found);
                if (r < 0)
                        return r;
                if (!found) {
                        s.total = c->slots;
                        s.holders = calloc(1, sizeof(char *));
                        if (!s.holders)
                                return -ENOMEM;
                } else if (semaphore_holds(&s, id)) {
                        log_debug("%s already holds a slot of group %s's semaphore.", id, group);
                        return 0;
                } else if (s.n >= s.total) {
                        _cleanup_free_ char *who = holders_joined(&s);
                        return log_debug_errno(EAGAIN, "The fleet semaphore of group %s is full (%zu of %llu slots): held by %s.",
                                               group, s.n, (unsigned long long) s.total, who && *who ? who : "(nobody)");
                }
                r = semaphore_add(&s, id);
                if (r < 0)
                        return r;
                value = semaphore_format(&s);
                if (!value)
                        return -ENOMEM;
                r = etcd_write_if(c, key, found ? mod : 0, value);
                if (r < 0)
                        return r;
                if (r > 0) {
                        log_debug("%s took a slot of group %s's semaphore (%zu of %llu held).", id, group, s.n,
                                  (unsigned long long) s.total);
                        return 0;
                }
                log_debug("The semaphore of group %s changed meanwhile: reading it again.", group);
        }
        return log_debug_errno(ECOMM, "The semaphore of group %s kept changing under %d tries: given up for now.", group, CAS_ATTEMPTS);
}

static int etcd_release(LockClient *c, const char *id, const char *group, const char *key) {
        for (unsigned attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
                _cleanup_(semaphore_done) Semaphore s = {};
                _cleanup_free_ char *value = NULL;
                int64_t mod;
                bool found;
                int r;

                if (attempt > 0)
                        backoff(attempt);
                r = etcd_read(c, key, &s, &mod, &found);
                if (r < 0)
                        return r;
                if (!found || !semaphore_holds(&s, id)) {
                        log_debug("%s holds no slot of group %s's semaphore.", id, group);
                        return 0;
                }
                semaphore_remove(&s, id);
                value = semaphore_format(&s);
                if (!value)
                        return -ENOMEM;
                r = etcd_write_if(c, key, mod, value);
                if (r < 0)
                        return r;
                if (r > 0)
                        return 0;
        }
        return log_debug_errno(ECOMM, "The semaphore of group %s kept changing under %d tries: given up for now.", group, CAS_ATTEMPTS);
}

/* ---- FleetLock ------------------------------------------------------------------------------ */

static int fleetlock_call(LockClient *c, const char *endpoint, const char *id, const char *group) {
        _cleanup_(json_object_putp) json_object *body = json_object_new_object();
        json_object *params = json_object_new_object();
        _cleanup_free_ char *url = NULL, *shown = NULL;
        const char *text;

        if (!body || !params) {
                json_object_put(params);
                return -ENOMEM;
        }
        json_object_object_add(body, "client_params", params);
        if (json_object_object_add(params, "id", json_object_new_string(id)) < 0 ||
            json_object_object_add(params, "group", json_object_new_string(group)) < 0)
                return -ENOMEM;
        text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text || asprintf(&url, "%s%s", c->fleet_lock, endpoint) < 0)
                return -ENOMEM;
        if (fetch_url_redact(url, &shown) < 0)
                shown = strdup("(invalid URL)");
        if (!shown)
                return -ENOMEM;

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_(http_response_done) HttpResponse resp = {};
                _cleanup_(json_object_putp) json_object *o = NULL;
                const char *kind = NULL, *value = NULL;
                char k[256], v[256];
                json_object *x;
                int r;

                if (attempt > 0)
                        backoff(attempt);
                r = http_post(c, url, true, text, &resp);
                if (r < 0)
                        return r;
                if (resp.status == 200)
                        return 0;
                /* Airlock: http.Error(w, `{"kind":…,"value":…}`, code), a text/plain body ending in
                 * a newline. */
                o = json_tokener_parse(resp.data);
                if (o && json_object_is_type(o, json_type_object)) {
                        if (json_object_object_get_ex(o, "kind", &x) && json_object_is_type(x, json_type_string))
                                kind = json_object_get_string(x);
                        if (json_object_object_get_ex(o, "value", &x) && json_object_is_type(x, json_type_string))
                                value = json_object_get_string(x);
                }
                if (!kind) {
                        sanitize(resp.data, resp.len, v, sizeof v);
                        return log_debug_errno(EREMOTEIO, "%s: HTTP %ld: %s", shown, resp.status, *v ? v : "(no reason given)");
                }
                sanitize(kind, strlen(kind), k, sizeof k);
                sanitize(value ?: "", value ? strlen(value) : 0, v, sizeof v);
                /* Airlock says a full semaphore with 500 failed_lock "all N semaphore slots currently
                 * locked" (internal/lock/semaphore.go); other servers may name it in the kind. */
                if (strstr(kind, "semaphore_full") ||
                    (strcmp(kind, "failed_lock") == 0 && value && strstr(value, "slots currently locked")))
                        return log_debug_errno(EAGAIN, "The fleet semaphore of group %s is full: %s (%s).", group,
                                               *v ? v : k, shown);
                if (strcmp(kind, "failed_lock") == 0 && value && strstr(value, "conflict") && attempt + 1 < FLEETLOCK_ATTEMPTS)
                        continue;
                return log_debug_errno(EREMOTEIO, "%s: HTTP %ld: %s: %s", shown, resp.status, k, *v ? v : "(no reason given)");
        }
}

/* ---- The interface ---------------------------------------------------------------------------- */

static int semaphore_key(const char *group, char **ret) {
        return asprintf(ret, SEMAPHORE_KEY_FMT, group) < 0 ? -ENOMEM : 0;
}

int lock_acquire(LockClient *c, const char *id, const char *group) {
        _cleanup_free_ char *key = NULL;
        int r;

        r = check_args(id, group);
        if (r < 0)
                return r;
        if (c->fleet_lock)
                return fleetlock_call(c, "/v1/pre-reboot", id, group);
        if (semaphore_key(group, &key) < 0)
                return -ENOMEM;
        return etcd_acquire(c, id, group, key);
}

int lock_release(LockClient *c, const char *id, const char *group) {
        _cleanup_free_ char *key = NULL;
        int r;

        r = check_args(id, group);
        if (r < 0)
                return r;
        if (c->fleet_lock)
                return fleetlock_call(c, "/v1/steady-state", id, group);
        if (semaphore_key(group, &key) < 0)
                return -ENOMEM;
        return etcd_release(c, id, group, key);
}

int lock_status(LockClient *c, const char *group, unsigned *ret_total, char ***ret_holders) {
        _cleanup_(semaphore_done) Semaphore s = {};
        _cleanup_free_ char *key = NULL;
        int64_t mod;
        bool found;
        int r;

        r = check_args(NULL, group);
        if (r < 0)
                return r;
        if (c->fleet_lock)
                return log_debug_errno(EOPNOTSUPP, "The FleetLock protocol has no way to ask who holds the semaphore: "
                                       "read it from etcd (Etcd=).");
        if (semaphore_key(group, &key) < 0)
                return -ENOMEM;
        r = etcd_read(c, key, &s, &mod, &found);
        if (r < 0)
                return r;
        if (!found)
                return log_debug_errno(ENOENT, "Group %s has no semaphore in etcd yet (%s).", group, key);
        *ret_total = (unsigned) s.total;
        *ret_holders = TAKE_PTR(s.holders);
        return 0;
}
