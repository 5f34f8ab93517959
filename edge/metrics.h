/*
 * metrics.h - recedge's counters and their Prometheus text exposition
 * (schemas/http.md, "/metrics").
 *
 * Counters live in per-thread shards: a request thread only ever writes its
 * own shard (plain relaxed loads and stores, no locked instructions, no
 * shared cache lines), and a scrape sums every shard. A shard is created on
 * a thread's first call to re_metrics_shard() and owned by the metrics
 * object until re_metrics_destroy(), which runs after every request thread
 * has stopped.
 *
 * Series:
 *   recedge_requests_total{endpoint,route,status}   counter
 *   recedge_request_duration_microseconds{endpoint} histogram, buckets
 *       10 25 50 100 250 500 1000 2500 5000 10000 +Inf (first byte of the
 *       request line to the response handed to the kernel)
 *   recedge_requests_in_flight                      gauge
 *   recedge_bad_records_total                       counter
 *   recedge_cache_loaded                            gauge 0/1
 *   recedge_cache_info{version}                     gauge 1
 *   recedge_cache_created_timestamp_seconds         gauge
 *   recedge_cache_age_seconds                       gauge
 *   recedge_cache_records{db}                       gauge
 *   recedge_cache_swaps_total                       counter
 *   recedge_cache_refused_total                     counter
 *   recedge_overlay_loaded                          gauge 0/1
 *   recedge_overlay_info{id}                        gauge 1 (when loaded)
 *   recedge_overlay_products                        gauge
 *   recedge_overlay_loads_total                     counter
 *   recedge_overlay_refused_total                   counter
 *   edgerec_experiment_requests_total{experiment,arm} counter: /v1/recs
 *       answers (200) per experiment arm (schemas/experiments.md)
 *   edgerec_events_total{type}                      counter (beacons accepted, log on or off)
 *
 * Arms. Label pairs (experiment id, arm name) get a slot in a table of
 * RE_ARM_SLOTS for the process's life, in the order they are first seen
 * (a version with a new experiment adds its arms; pairs of versions gone
 * keep their counts, as counters must). A pair that finds the table full
 * is not counted (re_metrics_arm_slot returns -1).
 */
#ifndef RE_METRICS_H
#define RE_METRICS_H

#include <stdint.h>

#include "beacon.h"
#include "json.h"
#include "swap.h"

enum re_endpoint { RE_EP_RECS, RE_EP_VERSION, RE_EP_HEALTHZ, RE_EP_READYZ, RE_EP_METRICS, RE_EP_EVENT, RE_EP_OTHER,
                   RE_EP_COUNT };

#define RE_ROUTE_LABELS 7 /* 0 "none", then enum rc_source 1..RC_SRC_LAST (6, category) */
#define RE_STATUS_COUNT 8 /* 200 204 400 404 405 500 503, and "other" */
#define RE_LAT_BUCKETS 10
#define RE_ARM_SLOTS 32 /* (experiment, arm) label pairs counted */

struct re_metrics;
struct re_metrics_shard;

/* Errors: -ENOMEM, -errno of pthread_key_create. */
int re_metrics_create(struct re_metrics **out);
void re_metrics_destroy(struct re_metrics *m);

/* This thread's shard, created on first use; NULL when out of memory
 * (the calls below accept NULL and count nothing). */
struct re_metrics_shard *re_metrics_shard(struct re_metrics *m);

void re_metrics_started(struct re_metrics_shard *s);
/* A finished request: route 0 or enum rc_source, status the HTTP code,
 * usec its latency. */
void re_metrics_done(struct re_metrics_shard *s, enum re_endpoint ep, unsigned route, unsigned status, uint64_t usec);
void re_metrics_bad_records(struct re_metrics_shard *s, unsigned n);

/*
 * The slot of the label pair (experiment, arm), NUL-terminated ids of
 * [A-Za-z0-9._-] (experiment.h), taken now if new; -1 when the table is
 * full. Takes a mutex: call it once per version and arm (recedge caches
 * the slots per worker), not per request.
 */
int re_metrics_arm_slot(struct re_metrics *m, const char *experiment, const char *arm);

/* One answer of the arm in slot (re_metrics_arm_slot); slot -1 counts nothing. */
void re_metrics_arm(struct re_metrics_shard *s, int slot);
/* An accepted /v1/event beacon of type t. */
void re_metrics_event(struct re_metrics_shard *s, enum re_event_type t);

/* Requests started and not yet finished, over all threads. */
uint64_t re_metrics_in_flight(struct re_metrics *m);

/* Append the exposition text to b (a growing buffer); now in Unix seconds. */
void re_metrics_render(struct re_metrics *m, const struct re_cache_info *ci, int64_t now, struct rc_buf *b);

/* "recs", "version", ... */
const char *re_endpoint_name(enum re_endpoint ep);

#endif
