/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cleanup.h"
#include "fetch.h"
#include "fileio.h"
#include "hawkbit.h"
#include "hex.h"
#include "http.h"
#include "json-util.h"
#include "log.h"

#define REQUEST_TIMEOUT_MS 30000L
#define QUICK_TIMEOUT_MS 5000L
#define DETAILS_MAX 50U
#define DETAIL_LEN_MAX 512U


HawkbitOffer *hawkbit_offer_free(HawkbitOffer *o) {
        if (!o)
                return NULL;
        free(o->version);
        free(o->filename);
        free(o->url);
        free(o->problem);
        free(o);
        return NULL;
}

static int token_read(const char *inline_token, const char *file, char **ret) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        size_t len;
        int r;

        if (inline_token && *inline_token)
                return (*ret = strdup(inline_token)) ? 1 : -ENOMEM;
        if (!file) {
                *ret = NULL;
                return 0;
        }
        /* A secret: never through a symlink, and only from a file nobody else can read or replace. */
        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return log_debug_errno(EACCES, "Cannot read the hawkBit token from %s: %s", file, strerror(errno));
        if (fstat(fd, &st) < 0)
                return log_debug_errno(EACCES, "Cannot read the hawkBit token from %s: %s", file, strerror(errno));
        if (S_ISREG(st.st_mode) && ((st.st_mode & 0077) != 0 || st.st_uid != geteuid()))
                return log_debug_errno(EACCES, "%s holds a secret but is %s (mode %04o, owner %u): make it the agent's "
                                       "own and mode 0600.", file,
                                       st.st_uid != geteuid() ? "owned by someone else" : "readable by others",
                                       (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid);
        r = read_regular_fd(fd, 4096, &buf, &len);
        if (r < 0)
                return log_debug_errno(EACCES, "Cannot read the hawkBit token from %s: %s", file, strerror(-r));
        buf[strcspn(buf, "\r\n")] = 0;
        if (!*buf || strspn(buf, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-~+/=") != strlen(buf))
                return log_debug_errno(EACCES, "%s holds no usable hawkBit token (empty, or characters a token has not).", file);
        *ret = TAKE_PTR(buf);
        return 1;
}

int hawkbit_auth_header(const Config *cfg, char **ret) {
        _cleanup_free_ char *t = NULL;
        const char *scheme = "TargetToken";
        int r;

        r = token_read(cfg->hawkbit.target_token, cfg->hawkbit.target_token_file, &t);
        if (r == 0) {
                scheme = "GatewayToken";
                r = token_read(cfg->hawkbit.gateway_token, cfg->hawkbit.gateway_token_file, &t);
        }
        if (r < 0)
                return r;
        if (r == 0) {
                *ret = NULL;
                return 0;
        }
        if (asprintf(ret, "Authorization: %s %s", scheme, t) < 0)
                return -ENOMEM;
        return 0;
}

int hawkbit_base_url(const Config *cfg, const char *controller_id, char **ret) {
        const char *s = cfg->hawkbit.server;
        size_t l;

        if (!s)
                return -EINVAL;
        l = strlen(s);
        while (l > 0 && s[l - 1] == '/')
                l--;
        if (asprintf(ret, "%.*s/%s/controller/v1/%s", (int) l, s, cfg->hawkbit.tenant ?: "DEFAULT",
                     cfg->hawkbit.controller_id ?: controller_id) < 0)
                return -ENOMEM;
        return 0;
}

/* One DDI request: the token in Authorization (never logged), JSON both ways, bounded; 401 →
 * -EACCES with what to do about it. */
static int ddi_request(const Config *cfg, const char *method, const char *url, const char *body, long timeout_ms,
                       HttpResponse *resp) {
        _cleanup_free_ char *auth = NULL, *shown = NULL;
        const NetworkConfig *n = &cfg->network;
        const HttpTls tls = {
                .ca_file = n->ca_file,
                .client_certificate = n->client_certificate,
                .client_key = n->client_key,
                .user_agent = n->user_agent,
                .connect_timeout_usec = n->connect_timeout_usec,
        };
        int r;

        *resp = (HttpResponse) {};
        r = hawkbit_auth_header(cfg, &auth);
        if (r < 0)
                return r;
        const char *headers[5];
        size_t k = 0;
        headers[k++] = "Accept: application/json";
        if (body)
                headers[k++] = "Content-Type: application/json";
        headers[k++] = "Expect:"; /* no 100-continue round trip: the bodies are small */
        if (auth && http_same_origin(cfg->hawkbit.server, url)) /* the token goes to Server= only */
                headers[k++] = auth;
        headers[k] = NULL;
        r = http_request(&tls, method, url, headers, body, timeout_ms, HAWKBIT_RESPONSE_MAX, resp);
        if (r < 0)
                return r;
        if (resp->status == 401) {
                bool target = cfg->hawkbit.target_token || cfg->hawkbit.target_token_file;

                http_response_done(resp);
                (void) fetch_url_redact(url, &shown);
                return log_debug_errno(EACCES, "%s: 401: the %s token was refused (re-provision it: [hawkBit] %s).",
                                       shown ?: "hawkBit", target ? "target" : "gateway",
                                       target ? "TargetToken= or TargetTokenFile=" : "GatewayToken= or GatewayTokenFile=");
        }
        return 0;
}

/* GET url → the parsed JSON object (200 only). */
static int get_json(const Config *cfg, const char *url, json_object **ret) {
        _cleanup_free_ char *shown = NULL;
        HttpResponse resp;
        int r;

        r = ddi_request(cfg, "GET", url, NULL, REQUEST_TIMEOUT_MS, &resp);
        if (r < 0)
                return r;
        if (resp.status != 200) {
                (void) fetch_url_redact(url, &shown);
                http_response_done(&resp);
                return log_debug_errno(EREMOTEIO, "%s: HTTP %ld.", shown ?: "hawkBit", resp.status);
        }
        r = json_parse_strict(resp.data, resp.len, ret);
        http_response_done(&resp);
        if (r < 0 || !json_object_is_type(*ret, json_type_object)) {
                (void) fetch_url_redact(url, &shown);
                return log_debug_errno(EREMOTEIO, "%s: the answer is not a JSON object.", shown ?: "hawkBit");
        }
        return 0;
}

/* _links.<rel>.href, or NULL. */
static const char *link_href_any(json_object *o, const char *rel) {
        json_object *links, *l, *h;

        if (!json_object_object_get_ex(o, "_links", &links) || !json_object_object_get_ex(links, rel, &l) ||
            !json_object_object_get_ex(l, "href", &h) || !json_object_is_type(h, json_type_string))
                return NULL;
        return json_object_get_string(h);
}

/* A link the agent follows with the token: on Server='s origin only (scheme, host, port). A link
 * elsewhere — another host, plain http under https — is refused (-EREMOTEIO). NULL: no such link. */
static int link_follow(const Config *cfg, json_object *o, const char *rel, const char **ret) {
        const char *h = link_href_any(o, rel);
        _cleanup_free_ char *shown = NULL;

        *ret = NULL;
        if (!h)
                return 0;
        if (!http_same_origin(cfg->hawkbit.server, h)) {
                (void) fetch_url_redact(h, &shown);
                return log_debug_errno(EREMOTEIO, "hawkBit's %s link %s leaves Server=%s (another scheme, host or port): refused.",
                                       rel, shown ?: "(invalid URL)", cfg->hawkbit.server);
        }
        *ret = h;
        return 1;
}

static const char *get_str(json_object *o, const char *key) {
        json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* "HH:MM:SS" → µs within [1 s, 24 h] (a server cannot make the agent spin, nor fall silent for
 * days); 0 when absent or malformed. */
static uint64_t polling_sleep(json_object *base) {
        json_object *c, *p;

        if (!json_object_object_get_ex(base, "config", &c) || !json_object_object_get_ex(c, "polling", &p))
                return 0;
        return agent_server_interval_usec(get_str(p, "sleep"));
}

/* The offer cannot be used: o->problem = before + arg + after, and the offer goes to *ret as it is
 * (the caller reports the problem to the server). */
static int offer_refuse(HawkbitOffer **o, HawkbitOffer **ret, const char *before, const char *arg, const char *after) {
        free((*o)->problem);
        (*o)->problem = NULL;
        if (asprintf(&(*o)->problem, "%s%s%s", before, arg ?: "?", after) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(*o);
        return 0;
}

static bool ends_with(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* An action id as DDI writes it: a decimal string (some servers: a number). 0: none or malformed. */
static uint64_t action_id_of(json_object *o, const char *key) {
        json_object *v;
        const char *s;
        char *end = NULL;
        uint64_t n;

        if (!o || !json_object_object_get_ex(o, key, &v))
                return 0;
        if (json_object_is_type(v, json_type_int))
                return json_object_get_int64(v) > 0 ? (uint64_t) json_object_get_int64(v) : 0;
        s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
        if (!s || *s < '0' || *s > '9')
                return 0;
        errno = 0;
        n = strtoull(s, &end, 10);
        return errno == 0 && end && !*end ? n : 0;
}

/* Picks the bundle: the artifact named *.osup, else the only artifact of the deployment. */
static int offer_from_deployment(const Config *cfg, json_object *d, HawkbitOffer **ret) {
        _cleanup_(hawkbit_offer_freep) HawkbitOffer *o = calloc(1, sizeof(HawkbitOffer));
        json_object *dep, *chunks, *pick = NULL, *pick_chunk = NULL;
        const char *s, *url, *sha;
        unsigned n_artifacts = 0;

        if (!o)
                return -ENOMEM;
        o->action_id = action_id_of(d, "id");
        if (o->action_id == 0)
                return log_debug_errno(EREMOTEIO, "deploymentBase: no action id, or a malformed one (a positive decimal number).");
        if (!json_object_object_get_ex(d, "deployment", &dep) || !json_object_is_type(dep, json_type_object) ||
            !json_object_object_get_ex(dep, "chunks", &chunks) || !json_object_is_type(chunks, json_type_array))
                return log_debug_errno(EREMOTEIO, "deploymentBase %" PRIu64 ": no deployment.chunks.", o->action_id);
        o->handling = agent_handling(get_str(dep, "download"), get_str(dep, "update"), get_str(dep, "maintenanceWindow"));

        for (size_t i = 0; i < json_object_array_length(chunks); i++) {
                json_object *c = json_object_array_get_idx(chunks, i), *arts;

                if (!json_object_object_get_ex(c, "artifacts", &arts) || !json_object_is_type(arts, json_type_array))
                        continue;
                for (size_t j = 0; j < json_object_array_length(arts); j++) {
                        json_object *a = json_object_array_get_idx(arts, j);
                        const char *fn = get_str(a, "filename");

                        n_artifacts++;
                        if (fn && ends_with(fn, ".osup") && !pick) {
                                pick = a;
                                pick_chunk = c;
                        }
                        if (n_artifacts == 1 && !pick) {
                                pick = a;
                                pick_chunk = c;
                        }
                }
        }
        if (pick && n_artifacts > 1 && !ends_with(get_str(pick, "filename") ?: "", ".osup"))
                pick = NULL;
        if (!pick) {
                return offer_refuse(&o, ret, "the deployment has ", n_artifacts ? "several artifacts and none named *.osup" :
                                                                         "no artifact", "");
        }
        if (!(o->filename = strdup(get_str(pick, "filename") ?: "?")))
                return -ENOMEM;
        /* The server's words go into messages: printable ASCII only (no terminal escapes). */
        for (char *c = o->filename; *c; c++)
                if ((unsigned char) *c < 0x20 || (unsigned char) *c >= 0x7f)
                        *c = '?';
        /* The version: the "version" of the software module (chunk) that carries the bundle. */
        s = get_str(pick_chunk, "version");
        if (!s) {
                return offer_refuse(&o, ret, "the chunk of ", o->filename, " names no version");
        }
        if (!(o->version = strdup(s)))
                return -ENOMEM;
        {
                json_object *hashes, *size;
                if (json_object_object_get_ex(pick, "size", &size) && json_object_is_type(size, json_type_int))
                        o->size = (uint64_t) json_object_get_int64(size);
                sha = json_object_object_get_ex(pick, "hashes", &hashes) ? get_str(hashes, "sha256") : NULL;
        }
        if (!sha) {
                return offer_refuse(&o, ret, "the artifact ", o->filename, " has no SHA-256 (SHA-1 and MD5 are not trusted): refused");
        }
        {
                _cleanup_free_ uint8_t *bin = NULL;
                size_t len = 0;
                if (hex_decode(sha, &bin, &len) < 0 || len != 32) {
                        return offer_refuse(&o, ret, "the artifact ", o->filename, " has a malformed SHA-256: refused");
                }
                memcpy(o->sha256, bin, 32);
        }
        url = link_href_any(pick, "download") ?: link_href_any(pick, "download-http");
        if (!url || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)) {
                return offer_refuse(&o, ret, "the artifact ", o->filename, " has no usable download link");
        }
        /* Plain http only where the operator chose it for the server too. */
        if (strncmp(url, "http://", 7) == 0 && strncmp(cfg->hawkbit.server, "http://", 7) != 0) {
                return offer_refuse(&o, ret, "the artifact ", o->filename, " is offered over plain http while Server= is https: refused");
        }
        if (!(o->url = strdup(url)))
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* PUT configData: Attributes= (mode merge). Failures are only warned about: the link stays. */
static void send_config_data(const Config *cfg, const char *url) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *data = json_object_new_object();
        HttpResponse resp;
        int r;

        if (!o || !data) {
                json_object_put(data);
                return;
        }
        for (char **a = cfg->hawkbit.attributes; a && *a; a++) {
                const char *eq = strchr(*a, '=');
                _cleanup_free_ char *k = eq ? strndup(*a, (size_t) (eq - *a)) : NULL;
                if (k)
                        json_object_object_add(data, k, json_object_new_string(eq + 1));
        }
        if (json_object_object_length(data) == 0)
                json_object_object_add(data, "osupdate", json_object_new_string("1"));
        json_object_object_add(o, "mode", json_object_new_string("merge"));
        json_object_object_add(o, "data", data);
        r = ddi_request(cfg, "PUT", url, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), REQUEST_TIMEOUT_MS, &resp);
        if (r < 0)
                log_warning("Cannot send the attributes to hawkBit: %s", log_detail() ?: strerror(-r));
        else if (resp.status != 200)
                log_warning("hawkBit refused the attributes: HTTP %ld.", resp.status);
        http_response_done(&resp);
}

void hawkbit_poll_done(HawkbitPoll *p) {
        hawkbit_offer_free(p->offer);
        *p = (HawkbitPoll) {};
}

int hawkbit_poll(const Config *cfg, const char *controller_id, bool dry_run, HawkbitPoll *ret) {
        _cleanup_(json_object_putp) json_object *base = NULL, *dep = NULL, *cancel = NULL, *conf = NULL;
        _cleanup_free_ char *url = NULL;
        json_object *ca;
        const char *href;
        int r;

        *ret = (HawkbitPoll) {};
        r = hawkbit_base_url(cfg, controller_id, &url);
        if (r < 0)
                return r == -EINVAL ? log_error_errno(ENOEXEC, "Backend=hawkbit needs Server= in the [hawkBit] section.") : r;
        r = get_json(cfg, url, &base);
        if (r < 0)
                return r;
        ret->sleep_usec = polling_sleep(base);
        r = link_follow(cfg, base, "configData", &href);
        if (r < 0)
                return r;
        if (!dry_run && href)
                send_config_data(cfg, href);

        /* A cancellation: its stopId names the action (hawkBit offers no deploymentBase meanwhile). */
        r = link_follow(cfg, base, "cancelAction", &href);
        if (r < 0)
                return r;
        if (href) {
                r = get_json(cfg, href, &cancel);
                if (r < 0)
                        return r;
                ret->cancel_id = json_object_object_get_ex(cancel, "cancelAction", &ca) ? action_id_of(ca, "stopId") : 0;
                if (ret->cancel_id == 0)
                        ret->cancel_id = action_id_of(cancel, "id");
                if (ret->cancel_id == 0)
                        return log_debug_errno(EREMOTEIO, "cancelAction: no stopId.");
        }
        /* An action waiting for this device's consent. */
        r = link_follow(cfg, base, "confirmationBase", &href);
        if (r < 0)
                return r;
        if (href) {
                r = get_json(cfg, href, &conf);
                if (r < 0)
                        return r;
                ret->confirm_id = action_id_of(conf, "id");
                if (ret->confirm_id == 0)
                        return log_debug_errno(EREMOTEIO, "confirmationBase: no action id.");
        }
        r = link_follow(cfg, base, "deploymentBase", &href);
        if (r <= 0)
                return r;
        r = get_json(cfg, href, &dep);
        if (r < 0)
                return r;
        return offer_from_deployment(cfg, dep, &ret->offer);
}

/* POST url body → 0 (200), 1 (one of the "over already" statuses), or an error. */
static int post_json(const Config *cfg, const char *url, json_object *o, long timeout_ms, const long *over, size_t n_over,
                     const char *what) {
        _cleanup_free_ char *shown = NULL;
        HttpResponse resp;
        int r;

        r = ddi_request(cfg, "POST", url, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), timeout_ms, &resp);
        if (r < 0)
                return r;
        r = 0;
        if (resp.status != 200) {
                r = -EREMOTEIO;
                for (size_t i = 0; i < n_over; i++)
                        if (resp.status == over[i])
                                r = 1;
        }
        if (r < 0) {
                (void) fetch_url_redact(url, &shown);
                r = log_debug_errno(EREMOTEIO, "%s: hawkBit answered HTTP %ld to %s.", shown ?: "hawkBit", resp.status, what);
        }
        http_response_done(&resp);
        return r;
}

/* details → a JSON array of at most DETAILS_MAX lines of at most DETAIL_LEN_MAX bytes. */
static json_object *details_array(const char *details) {
        _cleanup_free_ char *copy = strdup(details);
        json_object *d = json_object_new_array();
        char *save = NULL;
        unsigned n = 0;

        if (!copy || !d) {
                json_object_put(d);
                return NULL;
        }
        for (char *l = strtok_r(copy, "\n", &save); l && n < DETAILS_MAX; l = strtok_r(NULL, "\n", &save), n++)
                json_object_array_add(d, json_object_new_string_len(l, (int) MIN(strlen(l), (size_t) DETAIL_LEN_MAX)));
        return d;
}

int hawkbit_feedback(const Config *cfg, const char *controller_id, uint64_t action_id, const HawkbitFeedback *fb) {
        /* 410: the action is closed; 405 on cancelAction: it is no longer being cancelled. */
        static const long over_action[] = { 410 }, over_cancel[] = { 410, 405 };
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_free_ char *base = NULL, *url = NULL;
        json_object *status, *result;
        struct timespec ts;
        char what[96];
        int r;

        if (!o)
                return -ENOMEM;
        r = hawkbit_base_url(cfg, controller_id, &base);
        if (r < 0)
                return r;
        if (asprintf(&url, "%s/%s/%" PRIu64 "/feedback", base, fb->cancel ? "cancelAction" : "deploymentBase", action_id) < 0)
                return -ENOMEM;
        clock_gettime(CLOCK_REALTIME, &ts);
        status = json_object_new_object();
        result = json_object_new_object();
        json_object_object_add(result, "finished", json_object_new_string(fb->finished));
        if (fb->progress_of > 0) {
                json_object *pr = json_object_new_object();
                json_object_object_add(pr, "cnt", json_object_new_int64(fb->progress_cnt));
                json_object_object_add(pr, "of", json_object_new_int64(fb->progress_of));
                json_object_object_add(result, "progress", pr);
        }
        json_object_object_add(status, "execution", json_object_new_string(fb->execution));
        json_object_object_add(status, "result", result);
        if (fb->details && *fb->details) {
                json_object *d = details_array(fb->details);
                if (!d)
                        return -ENOMEM;
                json_object_object_add(status, "details", d);
        }
        json_object_object_add(o, "timestamp", json_object_new_int64((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
        json_object_object_add(o, "status", status);
        (void) snprintf(what, sizeof what, "the %s feedback on action %" PRIu64, fb->execution, action_id);
        return post_json(cfg, url, o, fb->quick ? QUICK_TIMEOUT_MS : REQUEST_TIMEOUT_MS, fb->cancel ? over_cancel : over_action,
                         fb->cancel ? ELEMENTSOF(over_cancel) : ELEMENTSOF(over_action), what);
}

int hawkbit_confirm(const Config *cfg, const char *controller_id, uint64_t action_id, const char *details) {
        /* 404: the action does not wait (any more); 410: it is closed. */
        static const long over[] = { 404, 410 };
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_free_ char *base = NULL, *url = NULL;
        char what[96];
        int r;

        if (!o)
                return -ENOMEM;
        r = hawkbit_base_url(cfg, controller_id, &base);
        if (r < 0)
                return r;
        if (asprintf(&url, "%s/confirmationBase/%" PRIu64 "/feedback", base, action_id) < 0)
                return -ENOMEM;
        json_object_object_add(o, "confirmation", json_object_new_string("confirmed"));
        if (details) {
                json_object *d = details_array(details);
                if (!d)
                        return -ENOMEM;
                json_object_object_add(o, "details", d);
        }
        (void) snprintf(what, sizeof what, "the confirmation of action %" PRIu64, action_id);
        return post_json(cfg, url, o, REQUEST_TIMEOUT_MS, over, ELEMENTSOF(over), what);
}
