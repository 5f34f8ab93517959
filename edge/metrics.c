#include "metrics.h"
#include "experiment.h"
#include "record.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(RE_ROUTE_LABELS == RC_SRC_LAST + 1, "a route label for every source");

static const unsigned statuses[RE_STATUS_COUNT - 1] = {200, 204, 400, 404, 405, 500, 503};
static const unsigned lat_bounds[RE_LAT_BUCKETS] = {10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
static const char *const endpoint_names[RE_EP_COUNT] = {"recs",    "version", "healthz", "readyz",
                                                         "metrics", "event",   "other"};

struct re_metrics_shard {
    uint64_t requests[RE_EP_COUNT][RE_ROUTE_LABELS][RE_STATUS_COUNT];
    uint64_t lat[RE_EP_COUNT][RE_LAT_BUCKETS + 1]; /* per bucket, not cumulative; last is +Inf */
    uint64_t lat_sum[RE_EP_COUNT];
    uint64_t started, finished, bad_records;
    uint64_t events[RE_EVENT_TYPE_COUNT];
    uint64_t arm_requests[RE_ARM_SLOTS];
    struct re_metrics_shard *next;
};

struct re_metrics {
    pthread_key_t key;
    pthread_mutex_t mu; /* guards the shard list and the arm labels */
    struct re_metrics_shard *shards;
    unsigned n_arms;
    struct {
        char experiment[RC_EXPERIMENT_ID_MAX + 1], arm[RC_EXPERIMENT_ID_MAX + 1];
    } arms[RE_ARM_SLOTS];
};

const char *re_endpoint_name(enum re_endpoint ep)
{
    return (unsigned)ep < RE_EP_COUNT ? endpoint_names[ep] : "other";
}

int re_metrics_create(struct re_metrics **out)
{
    struct re_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    int rc = pthread_key_create(&m->key, NULL);
    if (rc) {
        free(m);
        return -rc;
    }
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return 0;
}

void re_metrics_destroy(struct re_metrics *m)
{
    if (!m)
        return;
    for (struct re_metrics_shard *s = m->shards, *next; s; s = next) {
        next = s->next;
        free(s);
    }
    (void)pthread_key_delete(m->key);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

struct re_metrics_shard *re_metrics_shard(struct re_metrics *m)
{
    struct re_metrics_shard *s = pthread_getspecific(m->key);
    if (s)
        return s;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_mutex_lock(&m->mu);
    s->next = m->shards;
    m->shards = s;
    pthread_mutex_unlock(&m->mu);
    (void)pthread_setspecific(m->key, s);
    return s;
}

/* Single writer per shard: a relaxed load and store, read by scrapes. */
static inline void bump(uint64_t *p, uint64_t by)
{
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
}

static inline uint64_t get(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void re_metrics_started(struct re_metrics_shard *s)
{
    if (s)
        bump(&s->started, 1);
}

void re_metrics_bad_records(struct re_metrics_shard *s, unsigned n)
{
    if (s && n)
        bump(&s->bad_records, n);
}

void re_metrics_event(struct re_metrics_shard *s, enum re_event_type t)
{
    if (s && (unsigned)t < RE_EVENT_TYPE_COUNT)
        bump(&s->events[t], 1);
}

void re_metrics_done(struct re_metrics_shard *s, enum re_endpoint ep, unsigned route, unsigned status, uint64_t usec)
{
    if (!s)
        return;
    unsigned si = RE_STATUS_COUNT - 1;
    for (unsigned i = 0; i < RE_STATUS_COUNT - 1; i++)
        if (statuses[i] == status) {
            si = i;
            break;
        }
    if ((unsigned)ep >= RE_EP_COUNT)
        ep = RE_EP_OTHER;
    if (route >= RE_ROUTE_LABELS)
        route = 0;
    unsigned b = 0;
    while (b < RE_LAT_BUCKETS && usec > lat_bounds[b])
        b++;
    bump(&s->requests[ep][route][si], 1);
    bump(&s->lat[ep][b], 1);
    bump(&s->lat_sum[ep], usec);
    bump(&s->finished, 1);
}

int re_metrics_arm_slot(struct re_metrics *m, const char *experiment, const char *arm)
{
    int slot = -1;
    pthread_mutex_lock(&m->mu);
    for (unsigned i = 0; i < m->n_arms && slot < 0; i++)
        if (strcmp(m->arms[i].experiment, experiment) == 0 && strcmp(m->arms[i].arm, arm) == 0)
            slot = (int)i;
    if (slot < 0 && m->n_arms < RE_ARM_SLOTS) {
        slot = (int)m->n_arms++;
        snprintf(m->arms[slot].experiment, sizeof(m->arms[slot].experiment), "%s", experiment);
        snprintf(m->arms[slot].arm, sizeof(m->arms[slot].arm), "%s", arm);
    }
    pthread_mutex_unlock(&m->mu);
    return slot;
}

void re_metrics_arm(struct re_metrics_shard *s, int slot)
{
    if (s && slot >= 0 && slot < RE_ARM_SLOTS)
        bump(&s->arm_requests[slot], 1);
}

uint64_t re_metrics_in_flight(struct re_metrics *m)
{
    uint64_t started = 0, finished = 0;
    pthread_mutex_lock(&m->mu);
    for (struct re_metrics_shard *s = m->shards; s; s = s->next) {
        finished += get(&s->finished);
        started += get(&s->started);
    }
    pthread_mutex_unlock(&m->mu);
    return started > finished ? started - finished : 0;
}

void re_metrics_render(struct re_metrics *m, const struct re_cache_info *ci, int64_t now, struct rc_buf *b)
{
    struct re_metrics_shard sum;
    memset(&sum, 0, sizeof(sum));
    pthread_mutex_lock(&m->mu);
    for (struct re_metrics_shard *s = m->shards; s; s = s->next) {
        const uint64_t *src = (const uint64_t *)s;
        uint64_t *dst = (uint64_t *)&sum;
        for (size_t i = 0; i < offsetof(struct re_metrics_shard, next) / sizeof(uint64_t); i++)
            dst[i] += get(&src[i]);
    }
    unsigned n_arms = m->n_arms;
    char arm_labels[RE_ARM_SLOTS][2 * RC_EXPERIMENT_ID_MAX + 32];
    for (unsigned i = 0; i < n_arms; i++)
        snprintf(arm_labels[i], sizeof(arm_labels[i]), "experiment=\"%s\",arm=\"%s\"", m->arms[i].experiment,
                 m->arms[i].arm);
    pthread_mutex_unlock(&m->mu);

    rc_buf_adds(b, "# HELP recedge_requests_total HTTP requests answered, by endpoint, route of /v1/recs and status.\n"
                   "# TYPE recedge_requests_total counter\n");
    for (int ep = 0; ep < RE_EP_COUNT; ep++)
        for (int r = 0; r < RE_ROUTE_LABELS; r++)
            for (int st = 0; st < RE_STATUS_COUNT; st++) {
                uint64_t v = sum.requests[ep][r][st];
                if (!v)
                    continue;
                rc_buf_addf(b, "recedge_requests_total{endpoint=\"%s\",route=\"%s\",status=\"", endpoint_names[ep],
                            r ? rc_source_name(r) : "none");
                if (st < RE_STATUS_COUNT - 1)
                    rc_buf_add_u64(b, statuses[st]);
                else
                    rc_buf_adds(b, "other");
                rc_buf_adds(b, "\"} ");
                rc_buf_add_u64(b, v);
                rc_buf_adds(b, "\n");
            }

    rc_buf_adds(b, "# HELP recedge_request_duration_microseconds Time from the request line to the response "
                   "handed to the kernel.\n"
                   "# TYPE recedge_request_duration_microseconds histogram\n");
    for (int ep = 0; ep < RE_EP_COUNT; ep++) {
        uint64_t cum = 0;
        for (int i = 0; i <= RE_LAT_BUCKETS; i++) {
            cum += sum.lat[ep][i];
            if (i < RE_LAT_BUCKETS)
                rc_buf_addf(b, "recedge_request_duration_microseconds_bucket{endpoint=\"%s\",le=\"%u\"} ",
                            endpoint_names[ep], lat_bounds[i]);
            else
                rc_buf_addf(b, "recedge_request_duration_microseconds_bucket{endpoint=\"%s\",le=\"+Inf\"} ",
                            endpoint_names[ep]);
            rc_buf_add_u64(b, cum);
            rc_buf_adds(b, "\n");
        }
        rc_buf_addf(b, "recedge_request_duration_microseconds_sum{endpoint=\"%s\"} ", endpoint_names[ep]);
        rc_buf_add_u64(b, sum.lat_sum[ep]);
        rc_buf_addf(b, "\nrecedge_request_duration_microseconds_count{endpoint=\"%s\"} ", endpoint_names[ep]);
        rc_buf_add_u64(b, cum);
        rc_buf_adds(b, "\n");
    }

    rc_buf_adds(b, "# HELP recedge_requests_in_flight Requests started and not yet answered.\n"
                   "# TYPE recedge_requests_in_flight gauge\nrecedge_requests_in_flight ");
    /* The scrape itself is in flight: it has started and not finished. */
    rc_buf_add_u64(b, sum.started > sum.finished ? sum.started - sum.finished : 0);
    rc_buf_adds(b, "\n# HELP recedge_bad_records_total List records that failed to decode and were skipped.\n"
                   "# TYPE recedge_bad_records_total counter\nrecedge_bad_records_total ");
    rc_buf_add_u64(b, sum.bad_records);
    rc_buf_adds(b, "\n# HELP edgerec_events_total Beacons accepted on /v1/event, by type.\n"
                   "# TYPE edgerec_events_total counter");
    for (int t = 0; t < RE_EVENT_TYPE_COUNT; t++) {
        rc_buf_addf(b, "\nedgerec_events_total{type=\"%s\"} ", re_event_type_name((enum re_event_type)t));
        rc_buf_add_u64(b, sum.events[t]);
    }
    rc_buf_adds(b, "\n# HELP recedge_cache_loaded 1 when a verified cache version is being served.\n"
                   "# TYPE recedge_cache_loaded gauge\nrecedge_cache_loaded ");
    rc_buf_adds(b, ci->loaded ? "1\n" : "0\n");
    if (ci->loaded) {
        rc_buf_adds(b, "# HELP recedge_cache_info The cache version being served.\n"
                       "# TYPE recedge_cache_info gauge\nrecedge_cache_info{version=");
        /* Version ids are [A-Za-z0-9._-]: a JSON string is a valid label value. */
        rc_buf_json_str(b, ci->version, strlen(ci->version));
        rc_buf_adds(b, "} 1\n# HELP recedge_cache_created_timestamp_seconds When the served version was built.\n"
                       "# TYPE recedge_cache_created_timestamp_seconds gauge\n"
                       "recedge_cache_created_timestamp_seconds ");
        rc_buf_addf(b, "%lld\n", (long long)ci->created_at);
        rc_buf_adds(b, "# HELP recedge_cache_age_seconds Seconds since the served version was built.\n"
                       "# TYPE recedge_cache_age_seconds gauge\nrecedge_cache_age_seconds ");
        rc_buf_addf(b, "%lld\n", (long long)(now - ci->created_at));
        rc_buf_adds(b, "# HELP recedge_cache_records Records per LMDB database of the served version.\n"
                       "# TYPE recedge_cache_records gauge\n");
        for (int i = 0; i < RC_DB_COUNT; i++) {
            rc_buf_addf(b, "recedge_cache_records{db=\"%s\"} ", rc_db_names[i]);
            rc_buf_add_u64(b, ci->counts[i]);
            rc_buf_adds(b, "\n");
        }
    }
    rc_buf_adds(b, "# HELP recedge_cache_swaps_total Cache versions loaded since start-up.\n"
                   "# TYPE recedge_cache_swaps_total counter\nrecedge_cache_swaps_total ");
    rc_buf_add_u64(b, ci->swaps);
    rc_buf_adds(b, "\n# HELP recedge_cache_refused_total Cache versions refused (failed to open or verify).\n"
                   "# TYPE recedge_cache_refused_total counter\nrecedge_cache_refused_total ");
    rc_buf_add_u64(b, ci->refused);
    rc_buf_adds(b, "\n");
    /* Overlay ids are version-like ids: valid label values as they are. */
    rc_buf_adds(b, "# HELP recedge_overlay_loaded Whether an overlay is loaded (schemas/overlay.md).\n"
                   "# TYPE recedge_overlay_loaded gauge\nrecedge_overlay_loaded ");
    rc_buf_addf(b, "%d\n", ci->overlay.loaded);
    if (ci->overlay.loaded) {
        rc_buf_addf(b, "# HELP recedge_overlay_info The loaded overlay.\n# TYPE recedge_overlay_info gauge\n"
                       "recedge_overlay_info{id=\"%s\"} 1\n", ci->overlay.id);
    }
    rc_buf_adds(b, "# HELP recedge_overlay_products Products the loaded overlay suppresses.\n"
                   "# TYPE recedge_overlay_products gauge\nrecedge_overlay_products ");
    rc_buf_addf(b, "%u\n", ci->overlay.count);
    rc_buf_adds(b, "# HELP recedge_overlay_loads_total Overlays loaded since start-up.\n"
                   "# TYPE recedge_overlay_loads_total counter\nrecedge_overlay_loads_total ");
    rc_buf_add_u64(b, ci->overlay.loads);
    rc_buf_adds(b, "\n# HELP recedge_overlay_refused_total Overlays refused (failed to read or verify).\n"
                   "# TYPE recedge_overlay_refused_total counter\nrecedge_overlay_refused_total ");
    rc_buf_add_u64(b, ci->overlay.refused);
    rc_buf_adds(b, "\n");
    if (n_arms) {
        /* Ids are [A-Za-z0-9._-] (experiment.h): valid label values as they are. */
        rc_buf_adds(b, "# HELP edgerec_experiment_requests_total /v1/recs answers by experiment and arm.\n"
                       "# TYPE edgerec_experiment_requests_total counter\n");
        for (unsigned i = 0; i < n_arms; i++) {
            rc_buf_addf(b, "edgerec_experiment_requests_total{%s} ", arm_labels[i]);
            rc_buf_add_u64(b, sum.arm_requests[i]);
            rc_buf_adds(b, "\n");
        }
    }
}
