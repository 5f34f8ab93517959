#include "http.h"
#include "error.h"
#include "log.h"
#include "query.h"
#include "route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define JSON_TYPE "application/json"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define ALLOWED "GET, HEAD, OPTIONS"

/* How much the read buffer of a connection grows at a time, within its
 * --conn-memory (libmicrohttpd's own default). */
#define RE_CONN_MEMORY_INCREMENT 1024

struct re_worker;

/* One request, from the URI log callback to the completion callback. */
struct re_request {
    struct re_query q;
    uint64_t t0_ns;
    enum re_endpoint ep;
    unsigned route;  /* enum rc_source, 0 outside /v1/recs */
    unsigned status; /* 0 until a response is queued */
    int called;      /* the access handler has seen this request */
    struct re_worker *owner;
    struct re_request *next_free;
};

/* A worker thread's memory, created on its first request. */
struct re_worker {
    struct re_request *free_list; /* touched by the owning thread only */
    struct re_metrics_shard *shard;
    struct re_worker *next;
    struct re_route_scratch scratch;
    struct re_recs recs;
    char out[RE_RECS_JSON_MAX];
};

struct re_server {
    const struct re_config *cfg;
    struct re_holder *holder;
    struct re_metrics *metrics;
    struct MHD_Daemon *daemon;
    unsigned port;

    pthread_key_t wkey;
    pthread_mutex_t workers_mu;
    struct re_worker *workers;

    struct MHD_Response *bad_request[RE_QERR_COUNT][RE_PARAM_COUNT];
    struct MHD_Response *not_found, *not_allowed, *not_ready, *internal, *options;
    struct MHD_Response *healthy, *ready, *unready;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct re_worker *worker_get(struct re_server *s)
{
    struct re_worker *w = pthread_getspecific(s->wkey);
    if (w)
        return w;
    w = malloc(sizeof(*w));
    if (!w)
        return NULL;
    w->free_list = NULL;
    w->shard = re_metrics_shard(s->metrics);
    re_route_scratch_init(&w->scratch);
    pthread_mutex_lock(&s->workers_mu);
    w->next = s->workers;
    s->workers = w;
    pthread_mutex_unlock(&s->workers_mu);
    (void)pthread_setspecific(s->wkey, w);
    return w;
}

/* ---- responses ---- */

static int add_headers(struct MHD_Response *r, const struct re_config *cfg, const char *type, int cacheable)
{
    int ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_YES;
    if (cfg->cors_origin[0])
        ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, cfg->cors_origin) == MHD_YES;
    const char *cc = cacheable ? cfg->cache_control : "no-store";
    if (cc[0])
        ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cc) == MHD_YES;
    return ok ? 0 : -ENOMEM;
}

/* A fixed JSON response (body copied), built once. */
static struct MHD_Response *fixed(const struct re_config *cfg, const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r && add_headers(r, cfg, JSON_TYPE, 0) != 0) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return r;
}

static struct MHD_Response *fixed_error(const struct re_config *cfg, const char *code, const char *reason)
{
    char body[512];
    struct rc_buf b;
    rc_buf_fixed(&b, body, sizeof(body));
    rc_buf_adds(&b, "{\"error\":");
    rc_buf_json_str(&b, code, strlen(code));
    rc_buf_adds(&b, ",\"reason\":");
    rc_buf_json_str(&b, reason, strlen(reason));
    rc_buf_adds(&b, "}");
    return b.overflow ? NULL : fixed(cfg, rc_buf_cstr(&b));
}

static void destroy_responses(struct re_server *s)
{
    struct MHD_Response **all[] = {&s->not_found, &s->not_allowed, &s->not_ready, &s->internal,
                                   &s->options,   &s->healthy,     &s->ready,     &s->unready};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (*all[i])
            MHD_destroy_response(*all[i]);
        *all[i] = NULL;
    }
    for (int e = 0; e < RE_QERR_COUNT; e++)
        for (int p = 0; p < RE_PARAM_COUNT; p++) {
            if (s->bad_request[e][p])
                MHD_destroy_response(s->bad_request[e][p]);
            s->bad_request[e][p] = NULL;
        }
}

static int build_responses(struct re_server *s)
{
    const struct re_config *cfg = s->cfg;
    for (int e = 0; e < RE_QERR_COUNT; e++)
        for (int p = 0; p < RE_PARAM_COUNT; p++) {
            char reason[160];
            re_query_reason((enum re_qerr)e, (enum re_param)p, reason, sizeof(reason));
            if (!(s->bad_request[e][p] = fixed_error(cfg, "bad_request", reason)))
                return -ENOMEM;
        }
    s->not_found = fixed_error(cfg, "not_found", "no such path; see /v1/recs");
    s->not_allowed = fixed_error(cfg, "method_not_allowed", "use GET, HEAD or OPTIONS");
    s->not_ready = fixed_error(cfg, "not_ready", "no verified cache version is loaded yet");
    s->internal = fixed_error(cfg, "internal", "the cache could not be read");
    s->healthy = fixed(cfg, "{\"status\":\"ok\"}");
    s->ready = fixed(cfg, "{\"status\":\"ready\"}");
    s->unready = fixed(cfg, "{\"status\":\"not_ready\"}");
    s->options = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!s->not_found || !s->not_allowed || !s->not_ready || !s->internal || !s->healthy || !s->ready ||
        !s->unready || !s->options)
        return -ENOMEM;
    if (MHD_add_response_header(s->not_allowed, MHD_HTTP_HEADER_ALLOW, ALLOWED) != MHD_YES ||
        MHD_add_response_header(s->options, MHD_HTTP_HEADER_ALLOW, ALLOWED) != MHD_YES ||
        MHD_add_response_header(s->options, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES)
        return -ENOMEM;
    if (cfg->cors_origin[0] &&
        (MHD_add_response_header(s->options, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, cfg->cors_origin) !=
             MHD_YES ||
         MHD_add_response_header(s->options, "Access-Control-Allow-Methods", ALLOWED) != MHD_YES ||
         MHD_add_response_header(s->options, "Access-Control-Allow-Headers", "Content-Type") != MHD_YES ||
         MHD_add_response_header(s->options, "Access-Control-Max-Age", "86400") != MHD_YES))
        return -ENOMEM;
    return 0;
}

static enum MHD_Result queue(struct MHD_Connection *c, struct re_request *r, unsigned status,
                             struct MHD_Response *resp)
{
    if (r)
        r->status = status;
    return MHD_queue_response(c, status, resp);
}

/* Queue a copy of body[0, len) with the given headers. */
static enum MHD_Result queue_copy(struct re_server *s, struct MHD_Connection *c, struct re_request *r,
                                  unsigned status, const char *body, size_t len, const char *type, int cacheable)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    if (add_headers(resp, s->cfg, type, cacheable) != 0) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    enum MHD_Result ret = queue(c, r, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- endpoints ---- */

static enum MHD_Result recs(struct re_server *s, struct MHD_Connection *c, struct re_request *r)
{
    if (r->q.err != RE_QERR_NONE)
        return queue(c, r, MHD_HTTP_BAD_REQUEST, s->bad_request[r->q.err][r->q.err_param]);
    struct re_worker *w = worker_get(s);
    if (!w)
        return queue(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, s->internal);
    struct re_version *v = re_holder_acquire(s->holder);
    if (!v)
        return queue(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, s->not_ready);
    MDB_txn *txn;
    int rc = re_holder_txn(s->holder, v, &txn);
    if (!rc)
        rc = re_route(&v->cache, txn, &r->q, &w->scratch, &w->recs);
    struct rc_buf b;
    rc_buf_fixed(&b, w->out, sizeof(w->out));
    if (!rc) {
        /* Items point into the map: encode before the txn is reset. */
        re_recs_json(&w->recs, v->cache.manifest.version, &b);
        re_metrics_bad_records(w->shard, w->recs.bad_records);
        r->route = w->recs.route;
    }
    re_holder_txn_done(txn);
    re_holder_release(s->holder, v);
    if (rc || b.overflow) {
        rc_log(RC_LOG_ERROR, "recs", "reason=\"%s\"", rc ? rc_strerror(rc) : "answer overflowed its buffer");
        return queue(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, s->internal);
    }
    return queue_copy(s, c, r, MHD_HTTP_OK, b.data, b.len, JSON_TYPE, 1);
}

static enum MHD_Result version(struct re_server *s, struct MHD_Connection *c, struct re_request *r)
{
    struct re_worker *w = worker_get(s);
    if (!w)
        return queue(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, s->internal);
    struct re_version *v = re_holder_acquire(s->holder);
    if (!v)
        return queue(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, s->not_ready);
    const struct rc_manifest *m = &v->cache.manifest;
    struct rc_buf b;
    rc_buf_fixed(&b, w->out, sizeof(w->out));
    rc_buf_adds(&b, "{\"version\":");
    rc_buf_json_str(&b, m->version, strlen(m->version));
    rc_buf_addf(&b, ",\"created_at\":%lld,\"counts\":{", (long long)m->created_at);
    for (int i = 0; i < RC_DB_COUNT; i++) {
        rc_buf_addf(&b, "%s\"%s\":", i ? "," : "", rc_db_names[i]);
        rc_buf_add_u64(&b, m->counts[i]);
    }
    rc_buf_adds(&b, "}}");
    re_holder_release(s->holder, v);
    return queue_copy(s, c, r, MHD_HTTP_OK, b.data, b.len, JSON_TYPE, 1);
}

static enum MHD_Result metrics(struct re_server *s, struct MHD_Connection *c, struct re_request *r)
{
    struct re_cache_info ci;
    re_holder_info(s->holder, &ci);
    struct rc_buf b;
    rc_buf_init(&b);
    re_metrics_render(s->metrics, &ci, (int64_t)time(NULL), &b);
    if (b.overflow) {
        rc_buf_release(&b);
        return queue(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, s->internal);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        rc_buf_release(&b);
        return MHD_NO;
    }
    enum MHD_Result ret = MHD_NO;
    if (add_headers(resp, s->cfg, METRICS_TYPE, 0) == 0)
        ret = queue(c, r, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum re_endpoint endpoint_of(const char *url)
{
    if (strcmp(url, "/v1/recs") == 0)
        return RE_EP_RECS;
    if (strcmp(url, "/v1/version") == 0)
        return RE_EP_VERSION;
    if (strcmp(url, "/healthz") == 0)
        return RE_EP_HEALTHZ;
    if (strcmp(url, "/readyz") == 0)
        return RE_EP_READYZ;
    if (strcmp(url, "/metrics") == 0)
        return RE_EP_METRICS;
    return RE_EP_OTHER;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *http_version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct re_server *s = cls;
    struct re_request *r = *con_cls;
    if (!r)
        return queue(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, s->internal);
    if (r->status) {
        /* Answer already queued; drop any body the client still sends. */
        *upload_size = 0;
        return MHD_YES;
    }
    int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int options = !get && strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0;
    if (!r->called && (get || options)) {
        /* libmicrohttpd closes the connection after a response queued on
         * the first call (the request might still carry a body), so the
         * answer waits for the call that follows the complete request. */
        r->called = 1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* a GET with a body: ignored */
        return MHD_YES;
    }
    enum re_endpoint ep = endpoint_of(url);
    r->ep = ep;
    if (ep == RE_EP_OTHER)
        return queue(c, r, MHD_HTTP_NOT_FOUND, s->not_found);
    if (options)
        return queue(c, r, MHD_HTTP_NO_CONTENT, s->options);
    if (!get)
        return queue(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, s->not_allowed);
    switch (ep) {
    case RE_EP_RECS:
        return recs(s, c, r);
    case RE_EP_VERSION:
        return version(s, c, r);
    case RE_EP_HEALTHZ:
        return queue(c, r, MHD_HTTP_OK, s->healthy);
    case RE_EP_READYZ: {
        struct re_version *v = re_holder_acquire(s->holder);
        if (!v)
            return queue(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, s->unready);
        re_holder_release(s->holder, v);
        return queue(c, r, MHD_HTTP_OK, s->ready);
    }
    case RE_EP_METRICS:
        return metrics(s, c, r);
    default:
        return queue(c, r, MHD_HTTP_NOT_FOUND, s->not_found);
    }
}

static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct re_server *s = cls;
    struct re_worker *w = worker_get(s);
    if (!w)
        return NULL;
    struct re_request *r = w->free_list;
    if (r)
        w->free_list = r->next_free;
    else if (!(r = malloc(sizeof(*r))))
        return NULL;
    r->t0_ns = now_ns();
    r->ep = RE_EP_OTHER;
    r->route = 0;
    r->status = 0;
    r->called = 0;
    r->owner = w;
    const char *qm = strchr(uri, '?');
    if (qm)
        (void)re_query_parse(&r->q, qm + 1, strlen(qm + 1));
    else
        re_query_init(&r->q);
    re_metrics_started(w->shard);
    return r;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct re_server *s = cls;
    struct re_request *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    uint64_t usec = (now_ns() - r->t0_ns) / 1000;
    struct re_worker *w = worker_get(s); /* the owner's, except at shutdown */
    re_metrics_done(w ? w->shard : NULL, r->ep, r->route, r->status, usec);
    if (s->cfg->access_log)
        rc_log(RC_LOG_INFO, "access", "endpoint=%s status=%u route=%s us=%llu products=%u n=%u%s",
               re_endpoint_name(r->ep), r->status, r->route ? rc_source_name((int)r->route) : "none",
               (unsigned long long)usec, r->q.nproducts, r->q.n,
               toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
    if (w == r->owner) {
        r->next_free = w->free_list;
        w->free_list = r;
    } else {
        free(r); /* finished on another thread (shutdown): never share a free list */
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    for (char *p = msg; *p; p++)
        if (*p == '"')
            *p = '\'';
    rc_log(RC_LOG_WARN, "mhd", "msg=\"%s\"", msg);
}

/* ---- lifecycle ---- */

static void free_workers(struct re_server *s)
{
    for (struct re_worker *w = s->workers, *next; w; w = next) {
        next = w->next;
        for (struct re_request *r = w->free_list, *rn; r; r = rn) {
            rn = r->next_free;
            free(r);
        }
        free(w);
    }
    s->workers = NULL;
}

int re_server_start(struct re_server **out, const struct re_config *cfg, struct re_holder *h, struct re_metrics *m,
                    char *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    int ipv6 = 0;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->bind, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, cfg->bind, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)cfg->port);
        ipv6 = 1;
    } else {
        return rc_fail(err, RC_EFORMAT, "--bind: '%s' is not a numeric IPv4 or IPv6 address", cfg->bind);
    }

    struct re_server *s = calloc(1, sizeof(*s));
    if (!s)
        return rc_fail(err, -ENOMEM, "out of memory");
    s->cfg = cfg;
    s->holder = h;
    s->metrics = m;
    int rc = pthread_key_create(&s->wkey, NULL);
    if (rc) {
        free(s);
        return rc_fail(err, -rc, "pthread_key_create: %s", strerror(rc));
    }
    pthread_mutex_init(&s->workers_mu, NULL);
    if (build_responses(s) != 0) {
        rc = rc_fail(err, -ENOMEM, "unable to build the fixed responses");
        goto fail;
    }

    /* One thread: no pool, the daemon's own polling thread serves. */
    struct MHD_OptionItem pool[] = {{MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)cfg->threads, NULL},
                                    {MHD_OPTION_END, 0, NULL}};
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_ARRAY, cfg->threads > 1 ? pool : pool + 1, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->conn_memory, MHD_OPTION_CONNECTION_MEMORY_INCREMENT,
        (size_t)RE_CONN_MEMORY_INCREMENT,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096, MHD_OPTION_URI_LOG_CALLBACK, uri_logged, s,
        MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
    if (!s->daemon) {
        rc = rc_fail(err, RC_EINTERNAL, "unable to listen on %s port %u (see the mhd log line)", cfg->bind,
                     cfg->port);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    *out = s;
    return 0;
fail:
    destroy_responses(s);
    (void)pthread_key_delete(s->wkey);
    pthread_mutex_destroy(&s->workers_mu);
    free(s);
    return rc;
}

unsigned re_server_port(const struct re_server *s)
{
    return s->port;
}

void re_server_stop(struct re_server *s)
{
    if (!s)
        return;
    MHD_socket lfd = MHD_quiesce_daemon(s->daemon);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd); /* quiesce hands the listening socket to us */
    uint64_t deadline = now_ns() + (uint64_t)s->cfg->drain_ms * 1000000u;
    uint64_t left;
    while ((left = re_metrics_in_flight(s->metrics)) != 0 && now_ns() < deadline) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    rc_log(RC_LOG_INFO, "drain", "in_flight=%llu", (unsigned long long)left);
    MHD_stop_daemon(s->daemon);
    destroy_responses(s);
    free_workers(s);
    (void)pthread_key_delete(s->wkey);
    pthread_mutex_destroy(&s->workers_mu);
    free(s);
}
