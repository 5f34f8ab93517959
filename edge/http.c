#include "http.h"
#include "beacon.h"
#include "error.h"
#include "explog.h"
#include "guard.h"
#include "linger.h"
#include "log.h"
#include "query.h"
#include "route.h"
#include "warns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define JSON_TYPE "application/json"
#define EXPOSE_HEADERS "X-Rec-Id, X-Experiment" /* Access-Control-Expose-Headers of /v1/recs */
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define ALLOWED "GET, HEAD, OPTIONS"
/* /v1/event also takes POST (navigator.sendBeacon); its preflight names
 * the methods a page script may use. */
#define EVENT_ALLOWED "GET, HEAD, POST, OPTIONS"
#define EVENT_METHODS "GET, POST, OPTIONS"

/* How much the read buffer of a connection grows at a time, within its
 * --conn-memory (libmicrohttpd's own default). */
#define RE_CONN_MEMORY_INCREMENT 1024

/* Header fields a request may carry (a browser and a CDN send 20-35). */
#define RE_FIELDS_MAX 64

/* Connection memory that one parsed header field or cookie takes besides
 * its text: libmicrohttpd 0.9.75 keeps each in a struct MHD_HTTP_Header
 * (56 bytes) allocated at its 16-byte alignment; the Cookie value is also
 * copied once (cookies are always parsed; 0.9.75 cannot turn that off). */
#define RE_FIELD_COST 64
#define RE_POOL_ALIGN 16

/* The libmicrohttpd whose log texts in_place reads and whose read-buffer
 * layout scan_field reads (tests/e2e/edge_in_place.sh, edge_http.sh): with
 * another, recedge warns at start. */
#define RE_MHD_TESTED "0.9.75"

/*
 * Requests recedge refuses from their request line and headers, before any
 * routing. libmicrohttpd 0.9.75 answers a few such faults itself (a missing
 * Host with MHD_OPTION_STRICT_FOR_CLIENT, a bad Content-Length) with an
 * HTML body and, after an error found once the headers are in, writes its
 * header block twice; recedge therefore leaves its strictness at the
 * default and checks these here, where every refusal is a JSON answer
 * with the CORS headers. The faults libmicrohttpd still finds first (the
 * last three, REF_HEAD for a head beyond the connection memory, REF_TARGET
 * for a request line beyond it) are answered in its place from its logger
 * (in_place).
 */
enum re_refusal {
    REF_NONE = -1,
    REF_FIELDS,    /* more than RE_FIELDS_MAX header fields */
    REF_HEAD,      /* the head leaves no room for the answer: written raw */
    REF_TARGET,    /* a request target longer than the line limit */
    REF_FIELD,     /* a header field longer than the line limit */
    REF_NO_HOST,   /* HTTP/1.1 without Host */
    REF_HOSTS,     /* Host given twice */
    REF_FOLDED,    /* obsolete line folding */
    REF_NAME,      /* a field name that is not a token */
    REF_FRAMING,   /* Transfer-Encoding, or Content-Length twice */
    /* found by libmicrohttpd once the head is in, answered in its place (mhd_log) */
    REF_LENGTH,    /* a Content-Length that is not a number */
    REF_LENGTH_BIG, /* a Content-Length beyond 64 bits */
    REF_COOKIES,   /* more cookie pairs than the connection memory can parse */
    REF_COUNT
};

/* The reason texts take "%u": the line limit or --conn-memory. */
static const struct refusal_text {
    unsigned status;
    const char *code;
    const char *reason;
} refusal_texts[REF_COUNT] = {
    [REF_FIELDS] = {431, "header_fields_too_large", "more than 64 header fields"},
    [REF_HEAD] = {431, "header_fields_too_large",
                  "request line and headers too large for the connection memory (%u bytes, --conn-memory)"},
    [REF_TARGET] = {414, "uri_too_long", "request target longer than %u bytes"},
    [REF_FIELD] = {431, "header_fields_too_large", "a header field longer than %u bytes"},
    [REF_NO_HOST] = {400, "bad_request", "HTTP/1.1 request without a Host header"},
    [REF_HOSTS] = {400, "bad_request", "more than one Host header"},
    [REF_FOLDED] = {400, "bad_request", "a header field continued on the next line (obsolete line folding)"},
    [REF_NAME] = {400, "bad_request", "a header field name that is not a token"},
    [REF_FRAMING] = {400, "bad_request",
                     "Transfer-Encoding or a repeated Content-Length (a body comes with one Content-Length)"},
    [REF_LENGTH] = {400, "bad_request", "a Content-Length that is not a number"},
    [REF_LENGTH_BIG] = {413, "payload_too_large", "a Content-Length too large to be a number"},
    [REF_COOKIES] = {431, "header_fields_too_large",
                     "a Cookie header with more pairs than the connection memory can parse (%u bytes, --conn-memory)"},
};

struct re_worker;

/*
 * The fixed answers of one CORS outcome, built once at start-up. With
 * "*", one origin or no --cors-origin there is one set; with an allow-list
 * of k origins, k + 1 sets: set 0 names no origin, set i the i-th.
 */
struct re_answers {
    const char *origin; /* Access-Control-Allow-Origin; NULL: not sent */
    struct MHD_Response *bad_request[RE_QERR_COUNT][RE_PARAM_COUNT];
    struct MHD_Response *refused[REF_COUNT];
    struct MHD_Response *not_found, *not_allowed, *not_ready, *internal, *options;
    struct MHD_Response *healthy, *ready, *unready;
    /* /v1/event: 400 per reason, 413, 204, its preflight and 405. */
    struct MHD_Response *bad_beacon[RE_BERR_COUNT][RE_BPARAM_COUNT];
    struct MHD_Response *too_large, *event_ok, *event_options, *event_not_allowed;
};

/* One request, from the URI log callback to the completion callback. */
struct re_request {
    struct re_query q;
    uint64_t t0_ns;
    enum re_endpoint ep;
    unsigned route;  /* enum rc_source, 0 outside /v1/recs */
    unsigned status; /* 0 until a response is queued */
    int called;      /* the access handler has seen this request */
    size_t target_len;              /* raw request target, bytes */
    const struct re_answers *a;     /* the CORS outcome of this request */
    struct re_guard_conn *gc;       /* the connection's deadline record */
    struct re_beacon beacon;        /* GET /v1/event: its parameters, parsed */
    char *body;                     /* POST /v1/event: RE_BEACON_MAX bytes, allocated on its first bytes */
    size_t body_len;
    int body_over;                  /* the body passed RE_BEACON_MAX: 413 */
    struct re_worker *owner;
    struct re_request *next_free;
    /* until the access handler sees it: its connection, in its owner's
     * list of heads still arriving (in_place) */
    struct MHD_Connection *conn;
    struct re_request *head_prev, *head_next;
};

/* A worker thread's memory, created on its first request. */
struct re_worker {
    struct re_request *free_list; /* touched by the owning thread only */
    struct re_request *heads;     /* requests whose head is still arriving (owning thread only) */
    struct re_metrics_shard *shard;
    struct re_explog_worker *xlog; /* this thread's exposure log buffer; NULL: log off */
    uint64_t rec_seq;              /* this worker's recommendation ids: index << 48 | sequence */
    uint64_t arm_gen;              /* the version arm_slot was resolved for; 0: none yet */
    int arm_slot[RC_EXPERIMENT_ARMS_MAX]; /* per arm of that version: its metrics slot, -1: none */
    struct re_worker *next;
    struct re_route_scratch scratch;
    struct re_recs recs;
    char out[RE_RECS_JSON_MAX];
};

struct re_server {
    const struct re_config *cfg;
    struct re_holder *holder;
    struct re_overlay_hold *overlay; /* the holder's, or NULL */
    struct re_metrics *metrics;
    struct re_explog *explog; /* NULL: --exposure-log off */
    struct MHD_Daemon *daemon;
    struct re_guard *guard;
    struct re_linger *linger; /* closes the sockets recedge answered itself (in_place) */
    struct re_warns *warns;
    unsigned port;
    size_t reserve;    /* connection memory kept for the largest answer's headers */
    size_t line_max;   /* longest request target or header field: 2/3 of --conn-memory */
    int vary;       /* an allow-list: every answer says Vary: Origin */

    pthread_key_t wkey;
    pthread_mutex_t workers_mu;
    struct re_worker *workers;
    unsigned n_workers;          /* workers created so far (workers_mu): the next one's index */
    char rec_prefix[16];         /* this process's recommendation id prefix: 16 hex digits of getrandom */

    unsigned n_answers;
    struct re_answers *answers;
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
    w->heads = NULL;
    w->arm_gen = 0;
    w->shard = re_metrics_shard(s->metrics);
    w->xlog = re_explog_worker(s->explog);
    re_route_scratch_init(&w->scratch);
    pthread_mutex_lock(&s->workers_mu);
    w->rec_seq = (uint64_t)(s->n_workers++ & 0xffff) << 48; /* the worker index in the top 16 bits */
    w->next = s->workers;
    s->workers = w;
    pthread_mutex_unlock(&s->workers_mu);
    (void)pthread_setspecific(s->wkey, w);
    return w;
}

/* ---- responses ---- */

/* The CORS headers of every answer of set a. */
static int add_cors(struct MHD_Response *r, const struct re_server *s, const struct re_answers *a)
{
    const struct re_config *cfg = s->cfg;
    int ok = 1;
    if (a->origin)
        ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, a->origin) == MHD_YES;
    if (s->vary)
        ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Origin") == MHD_YES;
    if (cfg->timing_allow_origin[0])
        ok &= MHD_add_response_header(r, "Timing-Allow-Origin", cfg->timing_allow_origin) == MHD_YES;
    return ok ? 0 : -ENOMEM;
}

static int add_headers(struct MHD_Response *r, const struct re_server *s, const struct re_answers *a,
                       const char *type, int cacheable)
{
    int ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_YES;
    ok &= add_cors(r, s, a) == 0;
    const char *cc = cacheable ? s->cfg->cache_control : "no-store";
    if (cc[0])
        ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cc) == MHD_YES;
    return ok ? 0 : -ENOMEM;
}

/* A fixed JSON response (body copied), built once. */
static struct MHD_Response *fixed(const struct re_server *s, const struct re_answers *a, const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r && add_headers(r, s, a, JSON_TYPE, 0) != 0) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return r;
}

/* {"error":CODE,"reason":REASON} into body (cap bytes); 0 or -ENOMEM. */
static int error_body(char *body, size_t cap, const char *code, const char *reason)
{
    struct rc_buf b;
    rc_buf_fixed(&b, body, cap);
    rc_buf_adds(&b, "{\"error\":");
    rc_buf_json_str(&b, code, strlen(code));
    rc_buf_adds(&b, ",\"reason\":");
    rc_buf_json_str(&b, reason, strlen(reason));
    rc_buf_adds(&b, "}");
    (void)rc_buf_cstr(&b); /* NUL-terminates */
    return b.overflow ? -ENOMEM : 0;
}

static const char *refusal_reason(const struct re_server *s, enum re_refusal why, char *out, size_t cap)
{
    unsigned arg = why == REF_HEAD || why == REF_COOKIES ? s->cfg->conn_memory : (unsigned)s->line_max;
    snprintf(out, cap, refusal_texts[why].reason, arg);
    return out;
}

static struct MHD_Response *fixed_error(const struct re_server *s, const struct re_answers *a, const char *code,
                                        const char *reason)
{
    char body[512];
    return error_body(body, sizeof(body), code, reason) ? NULL : fixed(s, a, body);
}

static void destroy_answers(struct re_answers *a)
{
    struct MHD_Response **all[] = {&a->not_found, &a->not_allowed, &a->not_ready,     &a->internal,
                                   &a->options,   &a->healthy,     &a->ready,         &a->unready,
                                   &a->too_large, &a->event_ok,    &a->event_options, &a->event_not_allowed};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (*all[i])
            MHD_destroy_response(*all[i]);
        *all[i] = NULL;
    }
    for (int e = 0; e < RE_QERR_COUNT; e++)
        for (int p = 0; p < RE_PARAM_COUNT; p++) {
            if (a->bad_request[e][p])
                MHD_destroy_response(a->bad_request[e][p]);
            a->bad_request[e][p] = NULL;
        }
    for (int i = 0; i < REF_COUNT; i++) {
        if (a->refused[i])
            MHD_destroy_response(a->refused[i]);
        a->refused[i] = NULL;
    }
    for (int e = 0; e < RE_BERR_COUNT; e++)
        for (int p = 0; p < RE_BPARAM_COUNT; p++) {
            if (a->bad_beacon[e][p])
                MHD_destroy_response(a->bad_beacon[e][p]);
            a->bad_beacon[e][p] = NULL;
        }
}

static void destroy_responses(struct re_server *s)
{
    for (unsigned i = 0; i < s->n_answers; i++)
        destroy_answers(&s->answers[i]);
    free(s->answers);
    s->answers = NULL;
    s->n_answers = 0;
}

/* The preflight answer: 204, no body; allow: the Allow header, methods:
 * Access-Control-Allow-Methods. */
static struct MHD_Response *preflight(const struct re_server *s, const struct re_answers *a, const char *allow,
                                      const char *methods)
{
    const struct re_config *cfg = s->cfg;
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return NULL;
    int ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow) == MHD_YES &&
             MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES &&
             add_cors(r, s, a) == 0;
    if (ok && a->origin) {
        char age[16];
        snprintf(age, sizeof(age), "%u", cfg->cors_max_age);
        ok = MHD_add_response_header(r, "Access-Control-Allow-Methods", methods) == MHD_YES &&
             (!cfg->cors_headers[0] ||
              MHD_add_response_header(r, "Access-Control-Allow-Headers", cfg->cors_headers) == MHD_YES) &&
             (!cfg->cors_max_age || MHD_add_response_header(r, "Access-Control-Max-Age", age) == MHD_YES);
    }
    if (!ok) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return r;
}

/* The 204 of an accepted beacon: no body, CORS, not cacheable. */
static struct MHD_Response *no_content(const struct re_server *s, const struct re_answers *a)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (r && (add_cors(r, s, a) != 0 ||
              MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES)) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return r;
}

static int build_event_answers(const struct re_server *s, struct re_answers *a)
{
    for (int e = 0; e < RE_BERR_COUNT; e++)
        for (int p = 0; p < RE_BPARAM_COUNT; p++) {
            char reason[160];
            re_beacon_reason((enum re_berr)e, (enum re_bparam)p, reason, sizeof(reason));
            if (!(a->bad_beacon[e][p] = fixed_error(s, a, "bad_request", reason)))
                return -ENOMEM;
        }
    char reason[96];
    snprintf(reason, sizeof(reason), "a /v1/event body longer than %d bytes", RE_BEACON_MAX);
    a->too_large = fixed_error(s, a, "payload_too_large", reason);
    a->event_ok = no_content(s, a);
    a->event_options = preflight(s, a, EVENT_ALLOWED, EVENT_METHODS);
    a->event_not_allowed = fixed_error(s, a, "method_not_allowed", "use GET, POST, HEAD or OPTIONS");
    if (!a->too_large || !a->event_ok || !a->event_options || !a->event_not_allowed ||
        MHD_add_response_header(a->event_not_allowed, MHD_HTTP_HEADER_ALLOW, EVENT_ALLOWED) != MHD_YES)
        return -ENOMEM;
    return 0;
}

static int build_answers(const struct re_server *s, struct re_answers *a)
{
    for (int e = 0; e < RE_QERR_COUNT; e++)
        for (int p = 0; p < RE_PARAM_COUNT; p++) {
            char reason[160];
            re_query_reason((enum re_qerr)e, (enum re_param)p, reason, sizeof(reason));
            if (!(a->bad_request[e][p] = fixed_error(s, a, "bad_request", reason)))
                return -ENOMEM;
        }
    for (int i = 0; i < REF_COUNT; i++) {
        char reason[160];
        if (i != REF_HEAD && /* written raw: refuse_raw */
            !(a->refused[i] = fixed_error(s, a, refusal_texts[i].code,
                                          refusal_reason(s, (enum re_refusal)i, reason, sizeof(reason)))))
            return -ENOMEM;
    }
    a->not_found = fixed_error(s, a, "not_found", "no such path; see /v1/recs");
    a->not_allowed = fixed_error(s, a, "method_not_allowed", "use GET, HEAD or OPTIONS");
    a->not_ready = fixed_error(s, a, "not_ready", "no verified cache version is loaded yet");
    a->internal = fixed_error(s, a, "internal", "the cache could not be read");
    a->healthy = fixed(s, a, "{\"status\":\"ok\"}");
    a->ready = fixed(s, a, "{\"status\":\"ready\"}");
    a->unready = fixed(s, a, "{\"status\":\"not_ready\"}");
    a->options = preflight(s, a, ALLOWED, ALLOWED);
    if (build_event_answers(s, a) != 0)
        return -ENOMEM;
    if (!a->not_found || !a->not_allowed || !a->not_ready || !a->internal || !a->healthy || !a->ready ||
        !a->unready || !a->options)
        return -ENOMEM;
    if (MHD_add_response_header(a->not_allowed, MHD_HTTP_HEADER_ALLOW, ALLOWED) != MHD_YES)
        return -ENOMEM;
    return 0;
}

static int build_responses(struct re_server *s)
{
    const struct re_config *cfg = s->cfg;
    s->vary = cfg->n_origins > 1;
    s->n_answers = s->vary ? cfg->n_origins + 1 : 1;
    s->answers = calloc(s->n_answers, sizeof(*s->answers));
    if (!s->answers)
        return -ENOMEM;
    if (!s->vary)
        s->answers[0].origin = cfg->n_origins ? cfg->origins[0] : NULL;
    else
        for (unsigned i = 0; i < cfg->n_origins; i++)
            s->answers[i + 1].origin = cfg->origins[i];
    for (unsigned i = 0; i < s->n_answers; i++)
        if (build_answers(s, &s->answers[i]) != 0)
            return -ENOMEM;
    return 0;
}

/*
 * Connection memory kept free for the answer's header block: the status
 * line, Date, Connection and Content-Length libmicrohttpd writes (under
 * 160 bytes), and the longest set of headers recedge adds (the preflight,
 * or a /metrics or /v1 answer), each line with its name, ": " and CRLF.
 */
static size_t answer_reserve(const struct re_config *cfg)
{
    size_t longest_origin = 1;
    for (unsigned i = 0; i < cfg->n_origins; i++)
        if (strlen(cfg->origins[i]) > longest_origin)
            longest_origin = strlen(cfg->origins[i]);
    size_t cors = 32 + longest_origin + 16 + 24 + strlen(cfg->timing_allow_origin);
    size_t answer = 16 + strlen(METRICS_TYPE) + 18 + (strlen(cfg->cache_control) > 8 ? strlen(cfg->cache_control) : 8);
    /* a /v1/recs answer's own: X-Rec-Id, X-Experiment, Access-Control-Expose-Headers */
    answer += 12 + RE_REC_ID_LEN + 16 + 2 * RC_EXPERIMENT_ID_MAX + 1 + 34 + strlen(EXPOSE_HEADERS);
    size_t options =
        10 + strlen(EVENT_ALLOWED) + 26 + 8 + 32 + strlen(EVENT_METHODS) + 32 + strlen(cfg->cors_headers) + 36;
    return 160 + cors + (answer > options ? answer : options) + 64;
}

/*
 * A complete answer as bytes, for the cases where recedge writes to the
 * socket itself rather than through libmicrohttpd: a request whose head
 * fills the connection memory (libmicrohttpd 0.9.75 would find no room for
 * the answer's header block and close the connection without a word), and
 * the guard's 408. Returns the length, 0 if cap is too small.
 */
static size_t raw_answer(const struct re_server *s, const struct re_answers *a, unsigned status, const char *code,
                         const char *reason, int head_only, char *out, size_t cap)
{
    char body[512], date[64];
    if (error_body(body, sizeof(body), code, reason))
        return 0;
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    const char *tao = s->cfg->timing_allow_origin;
    int n = snprintf(out, cap,
                     "HTTP/1.1 %u %s\r\nDate: %s\r\nConnection: close\r\nContent-Type: " JSON_TYPE
                     "\r\nCache-Control: no-store\r\n%s%s%s%s%s%s%sContent-Length: %zu\r\n\r\n%s",
                     status, MHD_get_reason_phrase_for(status), date,
                     a->origin ? "Access-Control-Allow-Origin: " : "", a->origin ? a->origin : "",
                     a->origin ? "\r\n" : "", s->vary ? "Vary: Origin\r\n" : "", tao[0] ? "Timing-Allow-Origin: " : "",
                     tao, tao[0] ? "\r\n" : "", strlen(body), head_only ? "" : body);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* The guard's answer to a request that misses its deadline (its Origin is
 * not known yet: the answer set of no origin). */
static size_t late_answer(void *arg, char *out, size_t cap)
{
    const struct re_server *s = arg;
    return raw_answer(s, &s->answers[0], 408, "request_timeout",
                      "the request line and headers did not arrive in time (--request-timeout)", 0, out, cap);
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
    if (add_headers(resp, s, r->a, type, cacheable) != 0) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    enum MHD_Result ret = queue(c, r, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The headers a /v1/recs answer adds to add_headers': the recommendation id,
 * the arm (arm may be NULL), and with an Access-Control-Allow-Origin the
 * names of both for page scripts (schemas/http.md, "Headers"). */

static enum MHD_Result queue_recs(struct re_server *s, struct MHD_Connection *c, struct re_request *r,
                                  const char *body, size_t len, const char *rec_id,
                                  const struct rc_experiment_arm *arm)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    int ok = add_headers(resp, s, r->a, JSON_TYPE, 1) == 0 &&
             MHD_add_response_header(resp, "X-Rec-Id", rec_id) == MHD_YES &&
             (!arm || MHD_add_response_header(resp, "X-Experiment", arm->label) == MHD_YES) &&
             (!r->a->origin ||
              MHD_add_response_header(resp, "Access-Control-Expose-Headers", EXPOSE_HEADERS) == MHD_YES);
    enum MHD_Result ret = ok ? queue(c, r, MHD_HTTP_OK, resp) : MHD_NO;
    MHD_destroy_response(resp);
    return ret;
}

/* ---- the request line and headers ---- */

/* The endpoint of a raw request target: its path (before '?'),
 * percent-decoded strictly, compared exactly (a decoded NUL is a byte like
 * any other: "/healthz%00.json" is not /healthz). */
static enum re_endpoint endpoint_of(const char *target)
{
    static const struct {
        const char *path;
        enum re_endpoint ep;
    } paths[] = {{"/v1/recs", RE_EP_RECS},   {"/v1/version", RE_EP_VERSION}, {"/healthz", RE_EP_HEALTHZ},
                 {"/readyz", RE_EP_READYZ}, {"/metrics", RE_EP_METRICS}, {"/v1/event", RE_EP_EVENT}};
    char path[16];
    long n = re_pct_decode(path, sizeof(path), target, strcspn(target, "?"));
    for (size_t i = 0; n > 0 && i < sizeof(paths) / sizeof(paths[0]); i++)
        if (strlen(paths[i].path) == (size_t)n && memcmp(paths[i].path, path, (size_t)n) == 0)
            return paths[i].ep;
    return RE_EP_OTHER;
}

/* The answer set of an Origin value (len bytes): its own when listed, else set 0. */
static const struct re_answers *answers_of_origin(const struct re_server *s, const char *origin, size_t len)
{
    for (unsigned i = 1; i < s->n_answers; i++)
        if (strlen(s->answers[i].origin) == len && memcmp(s->answers[i].origin, origin, len) == 0)
            return &s->answers[i];
    return &s->answers[0];
}

/* The answer set for the request's Origin. */
static const struct re_answers *answers_for(const struct re_server *s, struct MHD_Connection *c)
{
    if (s->n_answers == 1)
        return &s->answers[0];
    const char *origin;
    size_t len;
    if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, "Origin", 6, &origin, &len) == MHD_YES)
        return answers_of_origin(s, origin, len);
    return &s->answers[0];
}

struct head_scan {
    unsigned fields, hosts, lengths, encodings;
    size_t longest;    /* longest field: name, ": ", value */
    size_t cookie_len; /* 0: no Cookie header */
    int folded, bad_name;
    const char *prev_end;
};

/* RFC 9110 tchar: letters, digits and !#$%&'*+-.^_`|~ (a table: this runs
 * over every byte of every field name of every request). */
static const unsigned char tchar[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1,
    ['&'] = 1,         ['\''] = 1,        ['*'] = 1,         ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1,
    ['_'] = 1,         ['`'] = 1,         ['|'] = 1,         ['~'] = 1,
};

static int is_token(const char *p, size_t n)
{
    unsigned ok = n != 0;
    for (size_t i = 0; i < n; i++)
        ok &= tchar[(unsigned char)p[i]];
    return (int)ok;
}

static int name_is(const char *key, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(key, name, len) == 0;
}

/*
 * One header field, as libmicrohttpd 0.9.75 parsed it in place in the
 * connection's read buffer: the name, ':', blanks, the value, then the line
 * end (CRLF or LF) overwritten with NULs, then the next field. A folded
 * field breaks this layout (0.9.75 appends the continuation line to a copy
 * of the name, elsewhere in the buffer), which is how folding is found:
 * there is no other trace of it. tests/e2e/edge_http.sh holds this to the
 * library in use.
 */
static enum MHD_Result scan_field(void *cls, enum MHD_ValueKind kind, const char *key, size_t klen,
                                  const char *value, size_t vlen)
{
    struct head_scan *h = cls;
    (void)kind;
    h->fields++;
    if (klen + 2 + vlen > h->longest)
        h->longest = klen + 2 + vlen;
    h->bad_name |= !is_token(key, klen);
    const char *after = key + klen + 1;
    if (value < after || value - after > 256)
        h->folded = 1;
    else
        for (const char *p = after; p < value; p++)
            h->folded |= *p != ' ' && *p != '\t';
    if (h->prev_end && (key < h->prev_end + 1 || key > h->prev_end + 2))
        h->folded = 1;
    h->prev_end = value + vlen;
    if (name_is(key, klen, "Host"))
        h->hosts++;
    else if (name_is(key, klen, "Content-Length"))
        h->lengths++;
    else if (name_is(key, klen, "Transfer-Encoding"))
        h->encodings++;
    else if (name_is(key, klen, "Cookie"))
        h->cookie_len += vlen + 1;
    return MHD_YES;
}

static size_t pool_round(size_t n)
{
    return (n + RE_POOL_ALIGN - 1) / RE_POOL_ALIGN * RE_POOL_ALIGN;
}

/* What is wrong with the request line and headers, REF_NONE if nothing. */
static enum re_refusal check_head(const struct re_server *s, struct MHD_Connection *c, const struct re_request *r,
                                  const char *http_version)
{
    struct head_scan h = {0};
    (void)MHD_get_connection_values_n(c, MHD_HEADER_KIND, scan_field, &h);
    if (h.fields > RE_FIELDS_MAX)
        return REF_FIELDS;
    int cookies = MHD_get_connection_values_n(c, MHD_COOKIE_KIND, NULL, NULL);
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    size_t head = info ? info->header_size : 0;
    size_t used = head + RE_FIELD_COST * (h.fields + (cookies > 0 ? (size_t)cookies : 0)) + pool_round(h.cookie_len);
    if (used + s->reserve > s->cfg->conn_memory)
        return REF_HEAD;
    if (r->target_len > s->line_max)
        return REF_TARGET;
    if (h.longest > s->line_max)
        return REF_FIELD;
    if (h.hosts > 1)
        return REF_HOSTS;
    if (!h.hosts && strcmp(http_version, MHD_HTTP_VERSION_1_0) != 0)
        return REF_NO_HOST;
    if (h.folded)
        return REF_FOLDED;
    if (h.bad_name)
        return REF_NAME;
    if (h.encodings || h.lengths > 1)
        return REF_FRAMING;
    return REF_NONE;
}

/* ---- endpoints ---- */

/* v's experiment arm of the request's cookie (NULL: none), and its
 * metrics slot in *slot; the worker resolves the slots of a version's arms
 * once, on its first request on that version. */
static const struct rc_experiment_arm *arm_of(struct re_server *s, struct re_worker *w, const struct re_version *v,
                                              const struct re_query *q, int *slot)
{
    const struct rc_experiment *x = v->cache.experiment;
    int i = rc_experiment_assign(x, q->cookie.p, q->cookie.len);
    if (i < 0)
        return NULL;
    if (w->arm_gen != v->gen) {
        for (unsigned k = 0; k < x->narms; k++)
            w->arm_slot[k] = re_metrics_arm_slot(s->metrics, x->id, x->arms[k].name);
        w->arm_gen = v->gen;
    }
    *slot = w->arm_slot[i];
    return &x->arms[i];
}

/* The next recommendation id of worker w into out (RE_REC_ID_LEN + 1
 * bytes): the process prefix, then index << 48 | sequence, in hex. */
static void next_rec_id(const struct re_server *s, struct re_worker *w, char *out)
{
    static const char digits[] = "0123456789abcdef";
    uint64_t n = w->rec_seq;
    w->rec_seq = (n & 0xffff000000000000u) | ((n + 1) & 0x0000ffffffffffffu);
    memcpy(out, s->rec_prefix, 16);
    for (int i = 31; i >= 16; i--, n >>= 4)
        out[i] = digits[n & 15];
    out[RE_REC_ID_LEN] = 0;
}

/* GET or HEAD /v1/recs; a HEAD shows nothing, so it is not an exposure. */
static enum MHD_Result recs(struct re_server *s, struct MHD_Connection *c, struct re_request *r, int head)
{
    if (r->q.err != RE_QERR_NONE)
        return queue(c, r, MHD_HTTP_BAD_REQUEST, r->a->bad_request[r->q.err][r->q.err_param]);
    struct re_worker *w = worker_get(s);
    if (!w)
        return queue(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, r->a->internal);
    struct re_version *v = re_holder_acquire(s->holder);
    if (!v)
        return queue(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, r->a->not_ready);
    MDB_txn *txn;
    int rc = re_holder_txn(s->holder, v, &txn);
    /* One branch with no overlay loaded (edge/overlay_hold.h). */
    struct re_overlay_ref *ov = s->overlay ? re_overlay_acquire(s->overlay) : NULL;
    w->scratch.suppress = ov ? ov->ov : NULL;
    const struct rc_experiment_arm *arm = NULL;
    int arm_slot = -1;
    if (!rc) {
        /* One branch for a version without an experiment (schemas/experiments.md). */
        if (__builtin_expect(v->cache.experiment != NULL, 0) &&
            (arm = arm_of(s, w, v, &r->q, &arm_slot)) != NULL)
            rc = re_route_arm(&v->cache, txn, &r->q, arm, &w->scratch, &w->recs);
        else
            rc = re_route(&v->cache, txn, &r->q, &w->scratch, &w->recs);
    }
    char rec_id[RE_REC_ID_LEN + 1];
    struct rc_buf b;
    rc_buf_fixed(&b, w->out, sizeof(w->out));
    if (!rc) {
        next_rec_id(s, w, rec_id);
        w->recs.rec_id = rec_id;
        /* Items point into the map: encode before the txn is reset. */
        re_recs_json(&w->recs, v->cache.manifest.version, &b);
        re_metrics_bad_records(w->shard, w->recs.bad_records);
        r->route = w->recs.route;
        /* exposure log: helper B (edge/explog.h); samples, never blocks */
        if (!head)
            re_explog_exposure(w->xlog, rec_id, r->q.cookie.p, r->q.cookie.len,
                               arm ? v->cache.experiment->id : NULL, arm ? arm->name : NULL,
                               rc_source_name(w->recs.route), v->cache.manifest.version, &w->recs);
    }
    re_holder_txn_done(txn);
    re_holder_release(s->holder, v);
    w->scratch.suppress = NULL;
    re_overlay_release(s->overlay, ov);
    if (rc || b.overflow) {
        rc_log(RC_LOG_ERROR, "recs", "reason=\"%s\"", rc ? rc_strerror(rc) : "answer overflowed its buffer");
        return queue(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, r->a->internal);
    }
    re_metrics_arm(w->shard, arm_slot);
    return queue_recs(s, c, r, b.data, b.len, rec_id, arm);
}

static enum MHD_Result version(struct re_server *s, struct MHD_Connection *c, struct re_request *r)
{
    struct re_worker *w = worker_get(s);
    if (!w)
        return queue(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, r->a->internal);
    struct re_version *v = re_holder_acquire(s->holder);
    if (!v)
        return queue(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, r->a->not_ready);
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
    rc_buf_adds(&b, "}");
    if (v->cache.experiment) { /* ids need no escaping (experiment.h) */
        rc_buf_adds(&b, ",\"experiment\":");
        rc_buf_json_str(&b, v->cache.experiment->id, strlen(v->cache.experiment->id));
    }
    rc_buf_adds(&b, "}");
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
    re_explog_render(s->explog, &b);
    if (b.overflow) {
        rc_buf_release(&b);
        return queue(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, r->a->internal);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        rc_buf_release(&b);
        return MHD_NO;
    }
    enum MHD_Result ret = MHD_NO;
    if (add_headers(resp, s, r->a, METRICS_TYPE, 0) == 0)
        ret = queue(c, r, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/*
 * GET, HEAD or POST /v1/event: 204 and a line in the exposure log (HEAD
 * checks the parameters and logs nothing), 400 for bad parameters, 413
 * for a POST body over RE_BEACON_MAX. The beacon of a GET was parsed from
 * the raw query by uri_logged; a POST's is its body.
 */
static enum MHD_Result event(struct re_server *s, struct MHD_Connection *c, struct re_request *r, int post, int head)
{
    struct re_beacon *b = &r->beacon;
    if (post) {
        if (r->body_over)
            return queue(c, r, MHD_HTTP_CONTENT_TOO_LARGE, r->a->too_large);
        (void)re_beacon_parse(b, r->body ? r->body : "", r->body_len);
    }
    if (b->err != RE_BERR_NONE)
        return queue(c, r, MHD_HTTP_BAD_REQUEST, r->a->bad_beacon[b->err][b->err_param]);
    if (!head) {
        struct re_worker *w = worker_get(s);
        if (w) {
            re_metrics_event(w->shard, b->type);
            re_explog_event(w->xlog, re_event_type_name(b->type), b->rec_id, b->product.p, b->product.len,
                            b->cookie.p, b->cookie.len);
        }
    }
    return queue(c, r, MHD_HTTP_NO_CONTENT, r->a->event_ok);
}

/* A chunk of a POST /v1/event body: kept up to RE_BEACON_MAX bytes (the
 * answer waits for the whole body: libmicrohttpd 0.9.75 takes no answer
 * while a body is coming in). */
static enum MHD_Result take_body(struct MHD_Connection *c, struct re_request *r, const char *data, size_t *size)
{
    size_t n = *size;
    *size = 0;
    if (r->body_over || r->body_len + n > RE_BEACON_MAX) {
        r->body_over = 1;
        return MHD_YES;
    }
    if (!r->body && !(r->body = malloc(RE_BEACON_MAX)))
        return queue(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, r->a->internal);
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    return MHD_YES;
}

/* A POST whose Content-Length says its body is over RE_BEACON_MAX. */
static int body_too_large(struct MHD_Connection *c)
{
    const char *v;
    size_t len;
    if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH,
                                      strlen(MHD_HTTP_HEADER_CONTENT_LENGTH), &v, &len) != MHD_YES)
        return 0;
    unsigned long long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9' || n > RE_BEACON_MAX)
            return v[i] >= '0' && v[i] <= '9'; /* a bad number is libmicrohttpd's to refuse */
        n = n * 10 + (unsigned)(v[i] - '0');
    }
    return n > RE_BEACON_MAX;
}

/* The owner's list of requests whose head is still arriving. */
static void head_add(struct re_worker *w, struct re_request *r, struct MHD_Connection *c)
{
    r->conn = c;
    r->head_prev = NULL;
    r->head_next = w->heads;
    if (w->heads)
        w->heads->head_prev = r;
    w->heads = r;
}

static void head_done(struct re_request *r)
{
    if (!r->conn)
        return;
    if (r->head_prev)
        r->head_prev->head_next = r->head_next;
    else
        r->owner->heads = r->head_next;
    if (r->head_next)
        r->head_next->head_prev = r->head_prev;
    r->conn = NULL;
}

static int conn_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/*
 * Write refusal why, with the CORS headers of answer set a, as a whole
 * answer straight to socket fd (no answer of this request has been sent;
 * the previous one is complete). 0, or -1 when nothing could be written.
 */
static int write_refusal(const struct re_server *s, int fd, const struct re_answers *a, enum re_refusal why,
                         int head_only)
{
    char out[2048];
    const struct refusal_text *t = &refusal_texts[why];
    char reason[160];
    size_t len = raw_answer(s, a, t->status, t->code, refusal_reason(s, why, reason, sizeof(reason)), head_only,
                            out, sizeof(out));
    if (!len || fd < 0)
        return -1;
    (void)send(fd, out, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    return 0;
}

/* Refuse a request whose head leaves too little connection memory for an
 * answer: the answer written raw, then libmicrohttpd closes. */
static enum MHD_Result refuse_raw(struct re_server *s, struct MHD_Connection *c, struct re_request *r,
                                  enum re_refusal why, int head_only)
{
    r->status = refusal_texts[why].status;
    (void)write_refusal(s, conn_fd(c), r->a, why, head_only);
    return MHD_NO; /* libmicrohttpd closes the connection */
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *http_version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct re_server *s = cls;
    struct re_request *r = *con_cls;
    (void)url; /* decoded by libmicrohttpd; the endpoint comes from the raw target */
    if (!r)
        return MHD_queue_response(c, MHD_HTTP_INTERNAL_SERVER_ERROR, s->answers[0].internal);
    if (r->status) {
        /* Answer already queued; drop any body the client still sends. */
        *upload_size = 0;
        return MHD_YES;
    }
    int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int options = !get && strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0;
    int post = r->ep == RE_EP_EVENT && strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (!r->called) {
        /* The request line and headers are complete. */
        r->called = 1;
        head_done(r);
        if (re_guard_busy(r->gc) != 0)
            return MHD_NO; /* answered 408 by the guard: close */
        r->a = answers_for(s, c);
        enum re_refusal why = check_head(s, c, r, http_version);
        if (why == REF_HEAD)
            return refuse_raw(s, c, r, why, strcmp(method, MHD_HTTP_METHOD_HEAD) == 0);
        if (why != REF_NONE)
            return queue(c, r, refusal_texts[why].status, r->a->refused[why]);
        /* libmicrohttpd closes the connection after a response queued on
         * the first call (the request might still carry a body), so the
         * answer to GET, HEAD and OPTIONS waits for the call that follows
         * the complete request. */
        if (post && body_too_large(c))
            return queue(c, r, MHD_HTTP_CONTENT_TOO_LARGE, r->a->too_large);
        if (get || options || post)
            return MHD_YES;
    }
    if (*upload_size) {
        if (post)
            return take_body(c, r, upload_data, upload_size);
        *upload_size = 0; /* a GET with a body: ignored */
        return MHD_YES;
    }
    enum re_endpoint ep = r->ep;
    if (ep == RE_EP_OTHER)
        return queue(c, r, MHD_HTTP_NOT_FOUND, r->a->not_found);
    if (options)
        return queue(c, r, MHD_HTTP_NO_CONTENT, ep == RE_EP_EVENT ? r->a->event_options : r->a->options);
    if (post)
        return event(s, c, r, 1, 0);
    if (!get)
        return queue(c, r, MHD_HTTP_METHOD_NOT_ALLOWED,
                     ep == RE_EP_EVENT ? r->a->event_not_allowed : r->a->not_allowed);
    switch (ep) {
    case RE_EP_RECS:
        return recs(s, c, r, strcmp(method, MHD_HTTP_METHOD_HEAD) == 0);
    case RE_EP_VERSION:
        return version(s, c, r);
    case RE_EP_HEALTHZ:
        return queue(c, r, MHD_HTTP_OK, r->a->healthy);
    case RE_EP_READYZ: {
        struct re_version *v = re_holder_acquire(s->holder);
        if (!v)
            return queue(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, r->a->unready);
        re_holder_release(s->holder, v);
        return queue(c, r, MHD_HTTP_OK, r->a->ready);
    }
    case RE_EP_METRICS:
        return metrics(s, c, r);
    case RE_EP_EVENT:
        return event(s, c, r, 0, strcmp(method, MHD_HTTP_METHOD_HEAD) == 0);
    default:
        return queue(c, r, MHD_HTTP_NOT_FOUND, r->a->not_found);
    }
}

/*
 * The socket of libmicrohttpd's last read, write or request line on this
 * thread.
 *
 * libmicrohttpd 0.9.75 reports the faults it finds while parsing a head
 * only to its logger, with no word of the connection. Once a request line
 * is in, the connection can be found among the thread's heads; before it
 * (a request target beyond the connection memory) nothing else names it.
 * So recedge defines recv, send and sendmsg, the calls libmicrohttpd makes
 * on its sockets (below): the dynamic linker resolves the library's calls
 * to a program's own definitions first. Each notes its socket here and
 * then does exactly what the C library's does. A head is parsed right
 * after the read that brought its last bytes, on the same thread, before
 * any other connection's; but a request pipelined behind others was read
 * with them, and is parsed in a later step, after other connections' reads
 * and writes. Its request line (uri_logged) comes right before the rest of
 * its head is parsed, in the same step, so uri_logged notes its socket
 * too. A request line too long for the connection memory (414) has no
 * uri_logged; it is found when a read has filled the read buffer, right
 * after that read on its own socket, pipelined or not. In the logger, the
 * socket noted is the connection the message is about.
 */
static __thread int io_fd = -1;

static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *c)
{
    io_fd = conn_fd(c); /* first: also when no request record can be had below */
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
    r->route = 0;
    r->status = 0;
    r->called = 0;
    r->owner = w;
    r->a = &s->answers[0];
    r->ep = endpoint_of(uri);
    r->target_len = strlen(uri);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->gc = ci ? ci->socket_context : NULL;
    r->body = NULL;
    r->body_len = 0;
    r->body_over = 0;
    head_add(w, r, c);
    const char *qm = strchr(uri, '?');
    const char *raw = qm ? qm + 1 : "";
    if (r->ep == RE_EP_EVENT) {
        re_query_init(&r->q);
        (void)re_beacon_parse(&r->beacon, raw, strlen(raw));
    } else if (qm) {
        (void)re_query_parse(&r->q, raw, strlen(raw));
    } else {
        re_query_init(&r->q);
    }
    re_metrics_started(w->shard);
    return r;
}

/* The end of request r: its metrics, its access line, its memory. */
static void finish(struct re_server *s, struct re_request *r, enum MHD_RequestTerminationCode toe)
{
    head_done(r); /* a head that never completed */
    free(r->body);
    r->body = NULL;
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        re_guard_waiting(r->gc);
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

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)c;
    struct re_request *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    finish(cls, r, toe);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    io_fd = fd;
    return recvfrom(fd, buf, len, flags, NULL, NULL);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    io_fd = fd;
    return sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    io_fd = fd;
    return syscall(SYS_sendmsg, fd, msg, flags);
}

/*
 * The answer set of a request whose head libmicrohttpd never parsed (a
 * request target beyond the connection memory): with an allow-list, the
 * Origin is read from the rest of the head, when it has arrived in the
 * socket within one peek of 64 KB (the request line's end comes first).
 * Otherwise the set of no origin.
 */
static const struct re_answers *answers_unparsed(const struct re_server *s, int fd)
{
    if (s->n_answers == 1)
        return &s->answers[0];
    enum { PEEK = 65536 };
    const struct re_answers *a = &s->answers[0];
    char *buf = malloc(PEEK); /* a rare fault: not worth a buffer in every thread */
    ssize_t n = buf ? recv(fd, buf, PEEK, MSG_PEEK | MSG_DONTWAIT) : -1;
    const char *origin;
    size_t len;
    if (n > 0 && re_head_origin(buf, (size_t)n, &origin, &len))
        a = answers_of_origin(s, origin, len);
    free(buf);
    return a;
}

/*
 * libmicrohttpd 0.9.75 answers some faults itself, with an HTML page and
 * no CORS headers: three it finds once a request's head is in (a
 * Content-Length that is not a number or too large, a cookie jar it
 * cannot parse), whose page it then sends with its header block written
 * twice, a garbled answer; and a head too large for the connection memory:
 * 414 while the request line is still arriving, 431 after it. It says so
 * only to this logger, on the thread that holds the connection, before it
 * queues that page. recedge finds the connection (io_fd), writes its own
 * JSON refusal to the socket and ends its side of the connection, so
 * libmicrohttpd's page never leaves and it closes the connection; the
 * socket itself is closed by the lingering closer once the client is done
 * sending (edge/linger.h), so that the answer is not lost to a reset.
 */
static void in_place(struct re_server *s, const char *msg)
{
    enum re_refusal why;
    if (strstr(msg, "Failed to parse `Content-Length' header"))
        why = REF_LENGTH;
    else if (strstr(msg, "Too large value of 'Content-Length' header"))
        why = REF_LENGTH_BIG;
    else if (strstr(msg, "Not enough memory in pool to parse cookies") ||
             strstr(msg, "Not enough memory in pool to allocate header record"))
        why = REF_COOKIES; /* the second also for a header's or an argument's record: see below */
    else if (strstr(msg, "Error processing request (HTTP response code is 431 "))
        why = REF_HEAD;
    else if (strstr(msg, "Error processing request (HTTP response code is 414 "))
        why = REF_TARGET;
    else
        return;
    int fd = io_fd;
    if (fd < 0)
        return;
    struct re_worker *w = pthread_getspecific(s->wkey);
    struct re_request *found = NULL;
    for (struct re_request *r = w ? w->heads : NULL; r; r = r->head_next)
        if (conn_fd(r->conn) == fd) {
            found = r;
            break;
        }
    const struct re_answers *a;
    if (why == REF_TARGET) {
        if (found)
            return; /* its request line is in: not this fault's connection */
        a = answers_unparsed(s, fd);
    } else {
        if (!found || found->status || MHD_get_connection_info(found->conn, MHD_CONNECTION_INFO_HTTP_STATUS))
            return; /* not a head of this thread's, or answered already */
        if (why != REF_HEAD && !MHD_get_connection_info(found->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE))
            return; /* the head is not in: no cookie or Content-Length parsed yet. A record of a header or a
                       query argument that found no room; the 431 libmicrohttpd logs next is answered */
        a = found->a = answers_for(s, found->conn);
        found->status = refusal_texts[why].status;
    }
    if (write_refusal(s, fd, a, why, 0) != 0)
        return;
    int keep = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* the socket outlives libmicrohttpd's close */
    (void)shutdown(fd, SHUT_WR);
    re_linger_add(s->linger, keep);
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
        else if (*p == '\n' || *p == '\r')
            *p = ' ';
    struct re_server *s = cls;
    in_place(s, msg);
    re_warns_log(s->warns, fmt, "mhd", msg);
}

/* libmicrohttpd's connection notifications: the guard's record. */
static void conn_notified(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct re_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? re_guard_open(s->guard, ci->connect_fd) : NULL;
    } else {
        /* A request of this connection still among the heads never got its
         * completion: libmicrohttpd 0.9.75 closes a connection whose request
         * line it refused (query arguments beyond the connection memory)
         * without one. Finished here, before the connection and its socket
         * number are gone, so no head outlives its connection. */
        struct re_worker *w = pthread_getspecific(s->wkey);
        for (struct re_request *r = w ? w->heads : NULL, *next; r; r = next) {
            next = r->head_next;
            if (r->conn == c)
                finish(s, r, MHD_REQUEST_TERMINATED_WITH_ERROR);
        }
        re_guard_close(s->guard, *socket_context);
        *socket_context = NULL;
    }
}

static void guard_tick(void *arg)
{
    struct re_server *s = arg;
    re_warns_flush(s->warns);
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
                    struct re_explog *log, char *err)
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
    s->overlay = re_holder_overlay(h);
    s->metrics = m;
    s->explog = log;
    int rc = pthread_key_create(&s->wkey, NULL);
    if (rc) {
        free(s);
        return rc_fail(err, -rc, "pthread_key_create: %s", strerror(rc));
    }
    pthread_mutex_init(&s->workers_mu, NULL);
    s->reserve = answer_reserve(cfg);
    uint64_t prefix;
    if (getrandom(&prefix, sizeof(prefix), 0) != (ssize_t)sizeof(prefix)) {
        rc = rc_fail(err, -errno, "getrandom for the recommendation ids: %s", strerror(errno));
        goto fail;
    }
    for (int i = 15; i >= 0; i--, prefix >>= 4)
        s->rec_prefix[i] = "0123456789abcdef"[prefix & 15];
    s->line_max = (size_t)cfg->conn_memory * 2 / 3;
    if (build_responses(s) != 0 || re_warns_create(&s->warns) != 0) {
        rc = rc_fail(err, -ENOMEM, "unable to build the fixed responses");
        goto fail;
    }
    if (s->reserve + 1024 > cfg->conn_memory) {
        rc = rc_fail(err, RC_ERANGE, "--conn-memory %u leaves no room for a request beside the %zu bytes of the "
                     "answer's headers", cfg->conn_memory, s->reserve);
        goto fail;
    }
    if ((rc = re_guard_start(&s->guard, cfg->request_timeout, late_answer, guard_tick, s)) != 0) {
        rc = rc_fail(err, rc, "unable to start the request deadline thread: %s", rc_strerror(rc));
        goto fail;
    }
    if ((rc = re_linger_start(&s->linger, RE_LINGER_MS, RE_LINGER_BYTES, RE_LINGER_MAX)) != 0) {
        rc = rc_fail(err, rc, "unable to start the lingering close thread: %s", rc_strerror(rc));
        goto fail;
    }

    if (strcmp(MHD_get_version(), RE_MHD_TESTED) != 0)
        rc_log(RC_LOG_WARN, "mhd_version",
               "version=%s tested=%s reason=\"the answers in libmicrohttpd's place and the checks of folded "
               "header lines follow the tested version's log texts and parsing; run tests/e2e/edge_in_place.sh and "
               "edge_http.sh against this one\"",
               MHD_get_version(), RE_MHD_TESTED);

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
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_per_ip,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096, MHD_OPTION_URI_LOG_CALLBACK, uri_logged, s,
        MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_NOTIFY_CONNECTION, conn_notified, s, MHD_OPTION_END);
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
    re_linger_stop(s->linger);
    re_guard_stop(s->guard);
    re_warns_destroy(s->warns);
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
    re_linger_stop(s->linger);
    re_guard_stop(s->guard);
    re_warns_destroy(s->warns);
    destroy_responses(s);
    free_workers(s);
    (void)pthread_key_delete(s->wkey);
    pthread_mutex_destroy(&s->workers_mu);
    free(s);
}
