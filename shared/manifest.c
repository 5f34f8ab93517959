#include "manifest.h"
#include "error.h"
#include "layout.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

const char *const rc_db_names[RC_DB_COUNT] = {"cookie", "product", "segment", "coview",
                                                   "cookie_b", "category", "items", "catset"};

int rc_file_xxh3(const char *path, uint64_t *bytes, uint64_t *hash)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    XXH3_state_t *st = XXH3_createState();
    char *buf = malloc(1 << 20);
    int rc = 0;
    uint64_t total = 0;
    if (!st || !buf) {
        rc = -ENOMEM;
        goto out;
    }
    XXH3_64bits_reset(st);
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        if (n == 0)
            break;
        XXH3_64bits_update(st, buf, (size_t)n);
        total += (uint64_t)n;
    }
    *bytes = total;
    *hash = XXH3_64bits_digest(st);
out:
    free(buf);
    if (st)
        XXH3_freeState(st);
    close(fd);
    return rc;
}

int rc_manifest_add_file(struct rc_manifest *m, const char *dir, const char *name, char *err)
{
    if (m->nfiles >= RC_MANIFEST_FILES_MAX || strlen(name) >= sizeof(m->files[0].name))
        return rc_fail(err, RC_ERANGE, "cannot list '%s' in the manifest", name);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct rc_manifest_file *f = &m->files[m->nfiles];
    int rc = rc_file_xxh3(path, &f->bytes, &f->xxh3);
    if (rc)
        return rc_fail(err, rc, "unable to checksum '%s': %s", path, rc_strerror(rc));
    snprintf(f->name, sizeof(f->name), "%s", name);
    m->nfiles++;
    return 0;
}

/* ---- rendering recbuild's sections: "key": value, comma-separated ---- */

static void key(struct rc_buf *b, const char *k, int *first)
{
    if (!*first)
        rc_buf_adds(b, ", ");
    *first = 0;
    rc_buf_json_str(b, k, strlen(k));
    rc_buf_adds(b, ": ");
}

static void put_u64(struct rc_buf *b, const char *k, uint64_t v, int *first)
{
    key(b, k, first);
    rc_buf_add_u64(b, v);
}

static void put_num(struct rc_buf *b, const char *k, double v, int *first)
{
    key(b, k, first);
    rc_buf_add_float(b, v);
}

static void put_bool(struct rc_buf *b, const char *k, int v, int *first)
{
    key(b, k, first);
    rc_buf_adds(b, v ? "true" : "false");
}

static void put_str(struct rc_buf *b, const char *k, const char *v, int *first)
{
    key(b, k, first);
    if (v)
        rc_buf_json_str(b, v, strlen(v));
    else
        rc_buf_adds(b, "null");
}

static void render_inputs(struct rc_buf *b, const struct rc_manifest_info *in)
{
    rc_buf_adds(b, ",\n  \"inputs\": [");
    for (size_t i = 0; i < in->ninputs; i++) {
        const struct rc_manifest_input *f = &in->inputs[i];
        int first = 1;
        rc_buf_adds(b, i ? ",\n    {" : "\n    {");
        put_str(b, "role", f->role, &first);
        put_str(b, "name", f->name, &first);
        if (f->have_bytes)
            put_u64(b, "bytes", f->bytes, &first);
        if (f->have_xxh3) {
            char hex[17];
            snprintf(hex, sizeof(hex), "%016" PRIx64, f->xxh3);
            put_str(b, "xxh3", hex, &first);
        }
        put_u64(b, "rows", f->rows, &first);
        rc_buf_adds(b, "}");
    }
    rc_buf_adds(b, "\n  ]");
}

static void render_params(struct rc_buf *b, const struct rc_manifest_params *p)
{
    int first = 1, f2 = 1;
    rc_buf_adds(b, ",\n  \"parameters\": {");
    put_u64(b, "n", p->n, &first);
    if (p->segment_n)
        put_u64(b, "segment_n", p->segment_n, &first);
    put_bool(b, "exclude_bought", p->exclude_bought, &first);
    put_str(b, "source", p->source, &first);
    if (p->params_file)
        put_str(b, "params_file", p->params_file, &first);
    key(b, "weights", &first);
    rc_buf_adds(b, "{");
    put_num(b, "view", p->weight_view, &f2);
    put_num(b, "cart", p->weight_cart, &f2);
    put_num(b, "purchase", p->weight_purchase, &f2);
    put_num(b, "click", p->weight_click, &f2);
    rc_buf_adds(b, "}");
    put_num(b, "half_life_days", p->half_life_days, &first);
    put_num(b, "popularity_half_life_days", p->popularity_half_life_days, &first);
    put_num(b, "window_days", p->window_days, &first);
    put_u64(b, "min_events", p->min_events, &first);
    put_num(b, "active_days", p->active_days, &first);
    put_u64(b, "min_purchases", p->min_purchases, &first);
    put_u64(b, "holdout", p->holdout, &first);
    put_str(b, "holdout_split", p->holdout_split, &first);
    put_u64(b, "eval_k", p->eval_k, &first);
    put_u64(b, "factors", p->factors, &first);
    put_num(b, "reg", p->reg, &first);
    put_num(b, "alpha", p->alpha, &first);
    put_u64(b, "iterations", p->iterations, &first);
    put_u64(b, "cg_steps", p->cg_steps, &first);
    put_u64(b, "seed", p->seed, &first);
    put_u64(b, "threads", p->threads, &first);
    put_str(b, "score_method", p->score_method, &first);
    if (p->score_used)
        put_str(b, "score_used", p->score_used, &first);
    if (p->score_ivf) {
        put_u64(b, "score_nlist", p->score_nlist, &first);
        put_u64(b, "score_nprobe", p->score_nprobe, &first);
        put_num(b, "score_recall_target", p->score_recall_target, &first);
    }
    put_str(b, "knn", p->knn, &first);
    if (p->knn_used)
        put_str(b, "knn_used", p->knn_used, &first);
    if (p->knn_ivf) {
        put_u64(b, "knn_nlist", p->knn_nlist, &first);
        put_u64(b, "knn_nprobe", p->knn_nprobe, &first);
    } else if (p->knn_hnsw) {
        put_u64(b, "knn_m", p->knn_m, &first);
        put_u64(b, "knn_ef", p->knn_ef, &first);
    }
    put_num(b, "session_gap_minutes", p->session_gap_minutes, &first);
    put_u64(b, "coview_window", p->coview_window, &first);
    put_u64(b, "coview_min", p->coview_min, &first);
    put_str(b, "coview_norm", p->coview_norm, &first);
    put_bool(b, "coview_typed", p->coview_typed, &first);
    put_num(b, "coview_half_life_days", p->coview_half_life_days, &first);
    put_num(b, "coview_backward", p->coview_backward, &first);
    key(b, "blend_weight", &first);
    if (p->blend_weight >= 0)
        rc_buf_add_float(b, p->blend_weight);
    else
        rc_buf_adds(b, "null");
    put_str(b, "blend_weight_source", p->blend_weight_source, &first);
    put_num(b, "max_bad_ratio", p->max_bad_ratio, &first);
    put_str(b, "ts_unit", p->ts_unit, &first);
    if (p->preset)
        put_str(b, "preset", p->preset, &first);
    if (p->map)
        put_str(b, "map", p->map, &first);
    if (p->map_event)
        put_str(b, "map_event", p->map_event, &first);
    rc_buf_adds(b, "}");
}

static void render_tuning(struct rc_buf *b, const struct rc_manifest_tuning *t)
{
    int first = 1;
    rc_buf_adds(b, ",\n  \"tuning\": {");
    put_num(b, "budget_s", t->budget_s, &first);
    put_num(b, "seconds", t->seconds, &first);
    put_bool(b, "budget_hit", t->budget_hit, &first);
    put_str(b, "split", t->split, &first);
    put_u64(b, "k", t->k, &first);
    put_u64(b, "users", t->users, &first);
    put_u64(b, "cookies", t->cookies, &first);
    put_u64(b, "trials", t->trials, &first);
    put_num(b, "ndcg", t->ndcg, &first);
    put_num(b, "hr", t->hr, &first);
    put_num(b, "pop_ndcg", t->pop_ndcg, &first);
    put_num(b, "pop_hr", t->pop_hr, &first);
    put_bool(b, "kept_base", t->kept_base, &first);
    put_num(b, "gain", t->gain, &first);
    put_num(b, "gain_se", t->gain_se, &first);
    rc_buf_adds(b, "}");
}

static void render_dropped(struct rc_buf *b, const struct rc_manifest_dropped *d)
{
    int first = 1, f2 = 1, f3 = 1;
    uint64_t bad = 0, coll = 0;
    for (int i = 0; i < RC_MANIFEST_BAD_REASONS; i++)
        bad += d->bad_by_reason[i];
    for (int i = 0; i < RC_MANIFEST_LIST_DBS; i++)
        coll += d->collisions_by_db[i];
    rc_buf_adds(b, ",\n  \"counts_dropped\": {");
    put_u64(b, "bad_lines", bad, &first);
    key(b, "bad_lines_by_reason", &first);
    rc_buf_adds(b, "{");
    for (int i = 0; i < RC_MANIFEST_BAD_REASONS; i++)
        put_u64(b, d->bad_reason_names[i], d->bad_by_reason[i], &f2);
    rc_buf_adds(b, "}");
    put_u64(b, "collisions", coll, &first);
    key(b, "collisions_by_db", &first);
    rc_buf_adds(b, "{");
    for (int i = 0; i < RC_MANIFEST_LIST_DBS; i++)
        put_u64(b, rc_db_names[i], d->collisions_by_db[i], &f3);
    rc_buf_adds(b, "}");
    put_u64(b, "empty_lists", d->empty_lists, &first);
    put_u64(b, "catalog_bad_rows", d->catalog_bad_rows, &first);
    put_u64(b, "catalog_bad_values", d->catalog_bad_values, &first);
    put_u64(b, "events_unknown_type", d->events_unknown_type, &first);
    put_u64(b, "event_products_not_in_catalog", d->event_products_not_in_catalog, &first);
    put_u64(b, "embedding_bad_values", d->embedding_bad_values, &first);
    put_u64(b, "embedding_not_in_catalog", d->embedding_not_in_catalog, &first);
    put_u64(b, "embedding_duplicates", d->embedding_duplicates, &first);
    put_u64(b, "catalog_without_embedding", d->catalog_without_embedding, &first);
    rc_buf_adds(b, "}");
}

static void render_timings(struct rc_buf *b, const struct rc_manifest_info *in)
{
    int first = 1;
    rc_buf_adds(b, ",\n  \"timings_ms\": {");
    for (size_t i = 0; i < in->ntimings && i < RC_MANIFEST_TIMINGS_MAX; i++)
        put_u64(b, in->timings[i].name, (uint64_t)llround(in->timings[i].ms), &first);
    rc_buf_adds(b, "}");
}

static void render_throughput(struct rc_buf *b, const struct rc_manifest_throughput *t)
{
    int first = 1;
    rc_buf_adds(b, ",\n  \"throughput\": {");
    put_num(b, "ingest_events_per_s", t->ingest_events_per_s, &first);
    put_num(b, "lmdb_records_per_s", t->lmdb_records_per_s, &first);
    put_num(b, "lmdb_records_per_cpu_s", t->lmdb_records_per_cpu_s, &first);
    put_u64(b, "peak_rss_bytes", t->peak_rss_bytes, &first);
    rc_buf_adds(b, "}");
}

static void render_next_item(struct rc_buf *b, const struct rc_manifest_eval *e, int *first)
{
    int f2 = 1;
    key(b, "next_item", first);
    rc_buf_adds(b, "{");
    put_u64(b, "k", e->next_k, &f2);
    put_u64(b, "sessions", e->next_sessions, &f2);
    put_u64(b, "steps", e->next_steps, &f2);
    for (int i = 0; i < RC_MANIFEST_NEXT_KINDS; i++) {
        if (!e->next_have[i])
            continue;
        char name[32];
        snprintf(name, sizeof(name), "%s_hr", e->next_kind_names[i]);
        put_num(b, name, e->next_hr[i], &f2);
        snprintf(name, sizeof(name), "%s_mrr", e->next_kind_names[i]);
        put_num(b, name, e->next_mrr[i], &f2);
    }
    if (e->ngrid > 1) {
        key(b, "blend_grid", &f2);
        rc_buf_adds(b, "[");
        for (unsigned g = 0; g < e->ngrid && g < RC_MANIFEST_GRID_MAX; g++) {
            int f3 = 1;
            rc_buf_adds(b, g ? ", {" : "{");
            put_num(b, "w", e->grid_w[g], &f3);
            put_num(b, "hr", e->grid_hr[g], &f3);
            put_num(b, "mrr", e->grid_mrr[g], &f3);
            rc_buf_adds(b, "}");
        }
        rc_buf_adds(b, "]");
    }
    rc_buf_adds(b, "}");
}

/* The members of an "evaluation" object, after *first. */
static void render_eval_members(struct rc_buf *b, const struct rc_manifest_eval *e, int *first_member)
{
    int first = *first_member, full = e->holdout == RC_HOLDOUT_FULL;
    if (e->holdout != RC_HOLDOUT_NONE) {
        put_u64(b, "k", e->k, &first);
        if (full)
            put_u64(b, "users", e->users, &first);
        put_num(b, "hr", e->hr, &first);
        if (full)
            put_num(b, "recall", e->recall, &first);
        put_num(b, "ndcg", e->ndcg, &first);
    }
    if (full) {
        put_num(b, "precision", e->precision, &first);
        put_num(b, "pop_hr", e->pop_hr, &first);
        put_num(b, "pop_recall", e->pop_recall, &first);
        put_num(b, "pop_ndcg", e->pop_ndcg, &first);
        put_num(b, "pop_precision", e->pop_precision, &first);
        if (e->have_lift)
            put_num(b, "lift", e->lift, &first);
        put_str(b, "split", e->split, &first);
        put_num(b, "coverage", e->coverage, &first);
        put_num(b, "pop_bias", e->pop_bias, &first);
    }
    if (e->have_health) {
        put_bool(b, "degenerate", e->degenerate, &first);
        if (e->degenerate)
            put_str(b, "degenerate_reason", e->degenerate_reason, &first);
        put_num(b, "cold_share", e->cold_share, &first);
        put_num(b, "factor_norm", e->factor_norm, &first);
        put_num(b, "score_spread", e->score_spread, &first);
    }
    if (e->have_cf_recall) {
        put_num(b, "cf_recall", e->cf_recall, &first);
        put_u64(b, "cf_recall_sampled", e->cf_recall_sampled, &first);
    }
    if (e->have_knn) {
        put_num(b, "knn_recall", e->knn_recall, &first);
        put_u64(b, "knn_recall_sampled", e->knn_recall_sampled, &first);
    }
    if (e->have_next)
        render_next_item(b, e, &first);
    *first_member = first;
}

static void render_eval(struct rc_buf *b, const struct rc_manifest_eval *e)
{
    int first = 1;
    rc_buf_adds(b, ",\n  \"evaluation\": {");
    render_eval_members(b, e, &first);
    rc_buf_adds(b, "}");
}

static void render_cf_b(struct rc_buf *b, const struct rc_manifest_cf_b *p)
{
    int first = 1, f2 = 1, f3 = 1;
    rc_buf_adds(b, ",\n  \"cf_b\": {");
    put_str(b, "db", "cookie_b", &first);
    put_str(b, "params_file", p->params_file, &first);
    key(b, "weights", &first);
    rc_buf_adds(b, "{");
    put_num(b, "view", p->weight_view, &f2);
    put_num(b, "cart", p->weight_cart, &f2);
    put_num(b, "purchase", p->weight_purchase, &f2);
    rc_buf_adds(b, "}");
    put_num(b, "half_life_days", p->half_life_days, &first);
    put_u64(b, "factors", p->factors, &first);
    put_num(b, "reg", p->reg, &first);
    put_num(b, "alpha", p->alpha, &first);
    put_u64(b, "iterations", p->iterations, &first);
    key(b, "evaluation", &first);
    rc_buf_adds(b, "{");
    render_eval_members(b, &p->eval, &f3);
    rc_buf_adds(b, "}}");
}

/* "name": {"without": pair[0], "with": pair[1]} */
static void put_pair(struct rc_buf *b, const char *k, const double pair[2], int *first)
{
    int f = 1;
    key(b, k, first);
    rc_buf_adds(b, "{");
    put_num(b, "without", pair[0], &f);
    put_num(b, "with", pair[1], &f);
    rc_buf_adds(b, "}");
}

static void render_rules(struct rc_buf *b, const struct rc_manifest_rules *r)
{
    static const char *const dbs[RC_MANIFEST_RULES_DBS] = {"cookie", "product", "segment", "coview", "cookie_b",
                                                           "category"};
    int first = 1, fe = 1, fl = 1;
    rc_buf_adds(b, ",\n  \"rules\": {");
    put_str(b, "file", r->file, &first);
    put_str(b, "rules", r->rules, &first);
    put_u64(b, "k", r->k, &first);
    put_u64(b, "unknown_categories", r->unknown_categories, &first);
    put_u64(b, "unmatched_segments", r->unmatched_segments, &first);
    key(b, "evaluation", &first);
    rc_buf_adds(b, "{");
    if (r->have_holdout) {
        put_u64(b, "users", r->users, &fe);
        put_pair(b, "hr", r->hr, &fe);
        put_pair(b, "ndcg", r->ndcg, &fe);
    }
    const struct rc_manifest_rules_list *cf = &r->lists[0];
    if (cf->have) {
        put_pair(b, "coverage", cf->coverage, &fe);
        put_pair(b, "ild_category", cf->ild_category, &fe);
        put_pair(b, "ild_embedding", cf->ild_embedding, &fe);
    }
    rc_buf_adds(b, "}");
    key(b, "lists", &first);
    rc_buf_adds(b, "{");
    for (int db = 0; db < RC_MANIFEST_RULES_DBS; db++) {
        const struct rc_manifest_rules_list *l = &r->lists[db];
        int f = 1;
        if (!l->have)
            continue;
        key(b, dbs[db], &fl);
        rc_buf_adds(b, "{");
        put_u64(b, "lists", l->lists, &f);
        put_u64(b, "changed", l->changed, &f);
        put_u64(b, "emptied", l->emptied, &f);
        put_u64(b, "entries_before", l->entries_before, &f);
        put_u64(b, "entries_after", l->entries_after, &f);
        put_u64(b, "excluded", l->excluded, &f);
        put_u64(b, "capped", l->capped, &f);
        put_u64(b, "moved", l->moved, &f);
        put_pair(b, "coverage", l->coverage, &f);
        put_pair(b, "ild_category", l->ild_category, &f);
        put_pair(b, "ild_embedding", l->ild_embedding, &f);
        rc_buf_adds(b, "}");
    }
    rc_buf_adds(b, "}}");
}

static void render_explore(struct rc_buf *b, const struct rc_manifest_explore *x)
{
    int first = 1;
    rc_buf_adds(b, ",\n  \"exploration\": {");
    put_num(b, "age_days", x->age_days, &first);
    put_num(b, "share", x->share, &first);
    key(b, "now", &first);
    rc_buf_addf(b, "%" PRId64, x->now);
    put_bool(b, "first_event_used", x->first_event_used, &first);
    put_u64(b, "age_created_at", x->age_created_at, &first);
    put_u64(b, "age_first_event", x->age_first_event, &first);
    put_u64(b, "age_unknown", x->age_unknown, &first);
    put_u64(b, "new_products", x->new_products, &first);
    put_u64(b, "new_with_slot", x->new_with_slot, &first);
    put_u64(b, "slots", x->slots, &first);
    put_u64(b, "slots_added", x->slots_added, &first);
    put_u64(b, "lists", x->lists, &first);
    put_u64(b, "lists_changed", x->lists_changed, &first);
    rc_buf_adds(b, "}");
}

/* The sections, in schemas/manifest.md's order, after the required members. */
static void render_info(struct rc_buf *b, const struct rc_manifest_info *in)
{
    if (in->device) {
        rc_buf_adds(b, ",\n  \"device\": ");
        rc_buf_json_str(b, in->device, strlen(in->device));
    }
    if (in->have_inputs)
        render_inputs(b, in);
    if (in->params)
        render_params(b, in->params);
    if (in->tuning)
        render_tuning(b, in->tuning);
    if (in->dropped)
        render_dropped(b, in->dropped);
    if (in->have_timings)
        render_timings(b, in);
    if (in->throughput)
        render_throughput(b, in->throughput);
    if (in->eval)
        render_eval(b, in->eval);
    if (in->cf_b)
        render_cf_b(b, in->cf_b);
    if (in->explore)
        render_explore(b, in->explore);
    if (in->rules)
        render_rules(b, in->rules);
}

int rc_manifest_write(const char *dir, const struct rc_manifest *m, const struct rc_manifest_info *info, char *err)
{
    struct rc_buf b;
    rc_buf_init(&b);
    char when[32];
    time_t t = (time_t)m->created_at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    rc_buf_addf(&b, "{\n  \"format\": \"%s\",\n  \"format_version\": %d,\n  \"version\": ", RC_MANIFEST_FORMAT,
                RC_MANIFEST_VERSION);
    rc_buf_json_str(&b, m->version, strlen(m->version));
    rc_buf_addf(&b, ",\n  \"created_at\": %" PRId64 ",\n  \"created_at_iso\": \"%s\",\n  \"counts\": {", m->created_at,
                when);
    for (int i = 0; i < RC_DB_COUNT; i++)
        rc_buf_addf(&b, "%s\"%s\": %" PRIu64, i ? ", " : "", rc_db_names[i], m->counts[i]);
    rc_buf_adds(&b, "},\n  \"files\": [");
    for (unsigned i = 0; i < m->nfiles; i++) {
        rc_buf_addf(&b, "%s\n    {\"name\": ", i ? "," : "");
        rc_buf_json_str(&b, m->files[i].name, strlen(m->files[i].name));
        rc_buf_addf(&b, ", \"bytes\": %" PRIu64 ", \"xxh3\": \"%016" PRIx64 "\"}", m->files[i].bytes,
                    m->files[i].xxh3);
    }
    rc_buf_adds(&b, "\n  ]");
    if (info)
        render_info(&b, info);
    rc_buf_adds(&b, "\n}\n");
    if (b.overflow) {
        rc_buf_release(&b);
        return rc_fail(err, -ENOMEM, "out of memory writing the manifest");
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, RC_MANIFEST_NAME);
    int rc = rc_write_file_atomic(path, b.data, b.len);
    rc_buf_release(&b);
    if (rc)
        return rc_fail(err, rc, "unable to write '%s': %s", path, rc_strerror(rc));
    return 0;
}

/* Doubles hold every integer up to 2^53 exactly. */
#define JSON_INT_MAX 9007199254740992.0

/* 1 if v is a whole number in [lo, hi] (within +-JSON_INT_MAX); JSON numbers
 * arrive as doubles, and converting one out of range to an integer type is
 * undefined. */
static int whole_in(double v, double lo, double hi)
{
    return v >= lo && v <= hi && v == (double)(int64_t)v;
}

/* 1 if h is exactly 16 lowercase hex digits, as manifest.md specifies. */
static int hex16(const char *h)
{
    size_t n = strspn(h, "0123456789abcdef");
    return n == 16 && h[n] == 0;
}

#define MANIFEST_MAX (1 << 24)

/* The whole manifest, opened as a regular file only (rc_version_open_file). */
static int read_all(int dirfd, const char *dir, char **out, size_t *len, char *err)
{
    int fd;
    struct stat st;
    int rc = rc_version_open_file(dirfd, dir, RC_MANIFEST_NAME, UINT64_MAX, &fd, &st, err);
    if (rc)
        return rc;
    if (st.st_size > MANIFEST_MAX) {
        close(fd);
        return rc_fail(err, RC_ETOOLONG, "'%s/%s' is %lld bytes, a manifest is at most %d", dir, RC_MANIFEST_NAME,
                       (long long)st.st_size, MANIFEST_MAX);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return rc_fail(err, -ENOMEM, "out of memory reading '%s/%s'", dir, RC_MANIFEST_NAME);
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return rc_fail(err, -e, "unable to read '%s/%s': %s", dir, RC_MANIFEST_NAME, strerror(e));
        }
        if (n == 0)
            break; /* shrank under us: parse what is there, the JSON check refuses a torn file */
        got += (size_t)n;
    }
    close(fd);
    buf[got] = 0;
    *out = buf;
    *len = got;
    return 0;
}

int rc_manifest_read(const char *dir, struct rc_manifest *m, char *err)
{
    memset(m, 0, sizeof(*m));
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return rc_fail(err, -errno, "unable to read '%s/%s': %s", dir, RC_MANIFEST_NAME, strerror(errno));
    int rc = rc_manifest_read_at(dirfd, dir, m, err);
    close(dirfd);
    return rc;
}

int rc_manifest_read_at(int dirfd, const char *dir, struct rc_manifest *m, char *err)
{
    memset(m, 0, sizeof(*m));
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, RC_MANIFEST_NAME);
    char *text = NULL;
    size_t len = 0;
    int rc = read_all(dirfd, dir, &text, &len, err);
    if (rc)
        return rc;
    struct rc_json *doc;
    char jerr[RC_ERRMSG_MAX];
    rc = rc_json_parse(text, len, &doc, jerr);
    free(text);
    if (rc)
        return rc_fail(err, RC_EMANIFEST, "'%s' is not valid JSON: %s", path, jerr);

    const char *fmt = rc_json_get_str(doc, "format");
    const char *version = rc_json_get_str(doc, "version");
    double fv, created;
    const struct rc_json *counts = rc_json_get(doc, "counts");
    const struct rc_json *files = rc_json_get(doc, "files");
    if (!fmt || strcmp(fmt, RC_MANIFEST_FORMAT) != 0) {
        rc = rc_fail(err, RC_EMANIFEST, "'%s' is not an edgerec manifest (format is not '%s')", path,
                     RC_MANIFEST_FORMAT);
        goto fail;
    }
    if (rc_json_get_num(doc, "format_version", &fv) != 0 || !whole_in(fv, 1, JSON_INT_MAX)) {
        rc = rc_fail(err, RC_EMANIFEST, "'%s' has no valid format_version", path);
        goto fail;
    }
    if (fv > RC_MANIFEST_VERSION) {
        rc = rc_fail(err, RC_EVERSION, "'%s' has format_version %.0f, this build reads %d", path, fv,
                     RC_MANIFEST_VERSION);
        goto fail;
    }
    if (!version || !rc_version_valid(version) || rc_json_get_num(doc, "created_at", &created) != 0 ||
        !whole_in(created, -JSON_INT_MAX, JSON_INT_MAX) || !counts ||
        !files || files->type != RC_JSON_ARR) {
        rc = rc_fail(err, RC_EMANIFEST, "'%s' lacks a valid version, created_at, counts or files", path);
        goto fail;
    }
    snprintf(m->version, sizeof(m->version), "%s", version);
    m->created_at = (int64_t)created;
    for (int i = 0; i < RC_DB_COUNT; i++) {
        double c;
        if (RC_DB_OPTIONAL(i) && !rc_json_get(counts, rc_db_names[i])) {
            m->counts[i] = 0; /* written before the DB existed */
            continue;
        }
        if (rc_json_get_num(counts, rc_db_names[i], &c) != 0 || !whole_in(c, 0, JSON_INT_MAX)) {
            rc = rc_fail(err, RC_EMANIFEST, "'%s' lacks counts.%s", path, rc_db_names[i]);
            goto fail;
        }
        m->counts[i] = (uint64_t)c;
    }
    for (const struct rc_json *f = files->child; f; f = f->next) {
        const char *name = rc_json_get_str(f, "name");
        const char *hash = rc_json_get_str(f, "xxh3");
        double bytes;
        if (m->nfiles >= RC_MANIFEST_FILES_MAX || !name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
            strcmp(name, "..") == 0 || strlen(name) >= 64 || !hash || !hex16(hash) ||
            rc_json_get_num(f, "bytes", &bytes) != 0 || !whole_in(bytes, 0, JSON_INT_MAX)) {
            rc = rc_fail(err, RC_EMANIFEST, "'%s' has a bad files entry", path);
            goto fail;
        }
        struct rc_manifest_file *mf = &m->files[m->nfiles++];
        snprintf(mf->name, sizeof(mf->name), "%s", name);
        mf->bytes = (uint64_t)bytes;
        mf->xxh3 = strtoull(hash, NULL, 16);
    }
    if (m->nfiles == 0) {
        rc = rc_fail(err, RC_EMANIFEST, "'%s' lists no files", path);
        goto fail;
    }
    m->doc = doc;
    return 0;
fail:
    rc_json_free(doc);
    return rc;
}

void rc_manifest_release(struct rc_manifest *m)
{
    rc_json_free(m->doc);
    m->doc = NULL;
}
