/*
 * gen_experiment.c - recgen experiment: a simulated A/B experiment with
 * planted outcomes (contract and model in gen_experiment.h).
 */
#include "gen_experiment.h"

#include "gen_out.h"
#include "gen_rng.h"

#include "error.h"
#include "experiment.h"
#include "file.h"
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GENX_ITEMS 6         /* products per exposure */
#define GENX_MAX_EXPOSURES 4 /* per visitor: 1..4 */
#define GENX_MAX_NODES 8

/* Streams of their own (gen_rng.h's domains stay recgen's main ones). */
enum { DOM_X_PRICE = 101, DOM_X_VISITOR, DOM_X_COOKIE, DOM_X_RECID };

/* Noise the report must not count (gen_experiment.h). */
#define NOISE_UNSHOWN_PURCHASE 0.05 /* a purchase of a product never shown */
#define NOISE_LATE_PURCHASE 0.03    /* a purchase of a shown product after the window */
#define NOISE_UNKNOWN_REC 0.01      /* a click beacon for a rec_id nobody logged */
#define NOISE_UNSHOWN_CLICK 0.01    /* a click beacon on a product the answer did not show */
#define EXTRA_CLICK 0.3             /* a clicker clicks a second time */
#define BEACON_COOKIE 0.9           /* a click beacon carries the cookie */

static const char builtin_experiment[] =
    "{\n  \"id\": \"gen-ab\",\n  \"salt\": \"s1\",\n  \"arms\": [\n"
    "    {\"name\": \"control\", \"buckets\": [0, 4900], \"control\": true},\n"
    "    {\"name\": \"treatment\", \"buckets\": [4900, 9800]},\n"
    "    {\"name\": \"holdout\", \"buckets\": [9800, 10000], \"holdout\": true}\n  ]\n}\n";

void rb_genx_defaults(struct rb_genx_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = 1;
    cfg->visitors = 20000;
    cfg->products = 500;
    cfg->days = 1;
    cfg->end_ts = 1767225600;
    cfg->lift = 0.1;
    cfg->holdout_lift = -0.2;
    cfg->ctr = 0.1;
    cfg->purchase_rate = 0.03;
    cfg->skew = 0;
    cfg->window_hours = 24;
    cfg->nodes = 2;
    cfg->rotate_lines = 50000;
}

static double cart_rate(double purchase_rate)
{
    return purchase_rate * 2 < 1 ? purchase_rate * 2 : 1;
}

int rb_genx_check(const struct rb_genx_config *c, char *err)
{
    if (!c->out_dir || !*c->out_dir)
        return rc_fail(err, RC_ERANGE, "--out is required");
    if (c->visitors < 1 || c->visitors > 100000000ULL)
        return rc_fail(err, RC_ERANGE, "--visitors must be 1 .. 10^8 (got %llu)", (unsigned long long)c->visitors);
    if (c->products < 100 || c->products > 10000000U) /* > 24 products shown to one visitor, so one not shown exists */
        return rc_fail(err, RC_ERANGE, "--products must be 100 .. 10^7 (got %u)", c->products);
    if (c->days < 1 || c->days > 3650)
        return rc_fail(err, RC_ERANGE, "--days must be 1 .. 3650 (got %u)", c->days);
    if (c->end_ts < (int64_t)c->days * 86400 || c->end_ts > 32503680000LL)
        return rc_fail(err, RC_ERANGE, "--end must be days*86400 .. 32503680000");
    if (!(c->lift > -1 && c->lift <= 100) || !(c->holdout_lift > -1 && c->holdout_lift <= 100))
        return rc_fail(err, RC_ERANGE, "--lift and --holdout-lift must be above -1 and at most 100");
    if (!(c->ctr > 0 && c->ctr < 1) || !(c->purchase_rate > 0 && c->purchase_rate < 1))
        return rc_fail(err, RC_ERANGE, "--ctr and --purchase-rate must be in (0, 1)");
    if (!(c->skew >= 0 && c->skew <= 1))
        return rc_fail(err, RC_ERANGE, "--skew must be in [0, 1] (got %g)", c->skew);
    if (!(c->window_hours >= 1 && c->window_hours <= 24 * 365))
        return rc_fail(err, RC_ERANGE, "--window-hours must be 1 .. 8760 (got %g)", c->window_hours);
    if (c->nodes < 1 || c->nodes > GENX_MAX_NODES)
        return rc_fail(err, RC_ERANGE, "--nodes must be 1 .. %d (got %u)", GENX_MAX_NODES, c->nodes);
    if (c->rotate_lines < 1)
        return rc_fail(err, RC_ERANGE, "--rotate-lines must be at least 1");
    double most = 1 + (c->lift > c->holdout_lift ? c->lift : c->holdout_lift);
    if (most < 1)
        most = 1;
    if (c->ctr * most > 1 || cart_rate(c->purchase_rate) * most > 1)
        return rc_fail(err, RC_ERANGE,
                       "a planted probability exceeds 1: --ctr %g and cart rate %g (2 x --purchase-rate) times %g",
                       c->ctr, cart_rate(c->purchase_rate), most);
    return 0;
}

/* ---- the arms and what is planted in each ---- */

enum arm_role { ROLE_CONTROL, ROLE_TREATMENT, ROLE_HOLDOUT };

struct plan {
    const struct rc_experiment *x;
    int treat; /* the first treatment arm (where --skew moves control visitors), -1 when none */
    enum arm_role role[RC_EXPERIMENT_ARMS_MAX];
    double click[RC_EXPERIMENT_ARMS_MAX], cart[RC_EXPERIMENT_ARMS_MAX], purchase[RC_EXPERIMENT_ARMS_MAX];
    double mult[RC_EXPERIMENT_ARMS_MAX];
    double gap_click, gap_cart, gap_purchase; /* visitors in no arm: control's */
};

static void plan_arms(struct plan *p, const struct rc_experiment *x, const struct rb_genx_config *c)
{
    p->x = x;
    p->treat = -1;
    for (unsigned a = 0; a < x->narms; a++) {
        p->role[a] = a == x->control ? ROLE_CONTROL : x->arms[a].holdout ? ROLE_HOLDOUT : ROLE_TREATMENT;
        p->mult[a] = p->role[a] == ROLE_CONTROL ? 1 : p->role[a] == ROLE_HOLDOUT ? 1 + c->holdout_lift : 1 + c->lift;
        if (p->role[a] == ROLE_TREATMENT && p->treat < 0)
            p->treat = (int)a;
        p->click[a] = c->ctr * p->mult[a];
        p->cart[a] = cart_rate(c->purchase_rate) * p->mult[a];
        p->purchase[a] = c->purchase_rate * p->mult[a];
    }
    p->gap_click = c->ctr;
    p->gap_cart = cart_rate(c->purchase_rate);
    p->gap_purchase = c->purchase_rate;
}

/* ---- log files: one open file per node, rotated every rotate_lines ---- */

struct node_log {
    struct rb_gen_out o;
    int open;
    uint64_t lines, seq;
};

struct genx {
    const struct rb_genx_config *cfg;
    struct plan plan;
    char logdir[PATH_MAX];
    struct node_log node[GENX_MAX_NODES];
    struct rb_gen_out events;
    double *price; /* [products] */
    double mean_price;
    int64_t start_ms, span_ms, window_ms;
    struct rb_genx_stats *st;
};

static int node_open(struct genx *g, unsigned k, char *err)
{
    struct node_log *n = &g->node[k];
    time_t t = (time_t)(g->cfg->end_ts - (int64_t)g->cfg->days * 86400 + (int64_t)n->seq * 300);
    struct tm tm;
    char stamp[32], name[96];
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(name, sizeof(name), "gen%u-%s-%06llu.jsonl", k + 1, stamp, (unsigned long long)n->seq);
    int rc = rb_gen_out_open(&n->o, g->logdir, name, err);
    if (rc)
        return rc;
    n->open = 1;
    n->lines = 0;
    n->seq++;
    g->st->log_files++;
    return 0;
}

static int node_close(struct node_log *n, char *err)
{
    if (!n->open)
        return 0;
    n->open = 0;
    return rb_gen_out_commit(&n->o, err);
}

/* The node file a visitor's lines go to, rotated when full. */
static struct node_log *node_for(struct genx *g, uint64_t visitor, char *err, int *rc)
{
    unsigned k = (unsigned)(visitor % g->cfg->nodes);
    struct node_log *n = &g->node[k];
    if (n->open && n->lines >= g->cfg->rotate_lines)
        *rc = node_close(n, err);
    if (!*rc && !n->open)
        *rc = node_open(g, k, err);
    return n;
}

/* "1767139200.123" */
static void ts_text(char out[32], int64_t ms)
{
    snprintf(out, 32, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
}

static void rec_id(char out[33], const struct genx *g, uint64_t visitor, unsigned j)
{
    put_hex16(out, mix64(derive(g->cfg->seed, DOM_X_RECID, visitor)));
    put_hex16(out + 16, visitor << 4 | j);
    out[32] = '\0';
}

/* ---- one visitor ---- */

struct visitor {
    uint64_t index;
    char cookie[17];
    int arm; /* -1: in a bucket gap */
    unsigned k; /* exposures */
    int64_t ts[GENX_MAX_EXPOSURES]; /* ms */
    uint32_t items[GENX_MAX_EXPOSURES][GENX_ITEMS];
};

static int shown(const struct visitor *v, uint32_t p)
{
    for (unsigned j = 0; j < v->k; j++)
        for (unsigned i = 0; i < GENX_ITEMS; i++)
            if (v->items[j][i] == p)
                return 1;
    return 0;
}

static void draw_exposures(struct genx *g, struct visitor *v, struct rng *r)
{
    v->k = 1 + rng_below(r, GENX_MAX_EXPOSURES);
    for (unsigned j = 0; j < v->k; j++)
        v->ts[j] = g->start_ms + (int64_t)(rng_unit(r) * (double)g->span_ms);
    for (unsigned j = 1; j < v->k; j++) /* insertion sort of at most 4 */
        for (unsigned i = j; i > 0 && v->ts[i - 1] > v->ts[i]; i--) {
            int64_t t = v->ts[i];
            v->ts[i] = v->ts[i - 1];
            v->ts[i - 1] = t;
        }
    for (unsigned j = 0; j < v->k; j++)
        for (unsigned i = 0; i < GENX_ITEMS; i++) {
            uint32_t p;
            int dup;
            do {
                p = rng_below(r, g->cfg->products);
                dup = 0;
                for (unsigned q = 0; q < i; q++)
                    dup |= v->items[j][q] == p;
            } while (dup);
            v->items[j][i] = p;
        }
}

static int write_exposures(struct genx *g, const struct visitor *v, struct node_log *n, char *err)
{
    const struct rc_experiment *x = g->plan.x;
    int rc = 0;
    for (unsigned j = 0; j < v->k && !rc; j++) {
        char id[33], ts[32], arm[3 * RC_EXPERIMENT_ID_MAX] = "";
        rec_id(id, g, v->index, j);
        ts_text(ts, v->ts[j]);
        if (v->arm >= 0)
            snprintf(arm, sizeof(arm), "\"experiment\":\"%s\",\"arm\":\"%s\",", x->id, x->arms[v->arm].name);
        const char *route = v->arm >= 0 && x->arms[v->arm].holdout ? "segment" : "cf";
        rc = rb_gen_out_printf(&n->o, err,
                               "{\"type\":\"exposure\",\"ts\":%s,\"rec_id\":\"%s\",\"cookie\":\"%s\",%s"
                               "\"route\":\"%s\",\"version\":\"gen-v1\",\"items\":[",
                               ts, id, v->cookie, arm, route);
        for (unsigned i = 0; i < GENX_ITEMS && !rc; i++)
            rc = rb_gen_out_printf(&n->o, err, "%s\"p%06u\"", i ? "," : "", v->items[j][i]);
        if (!rc)
            rc = rb_gen_out_bytes(&n->o, "]}\n", 3, err);
        n->lines++;
        g->st->exposures++;
    }
    return rc;
}

static int write_beacon(struct genx *g, struct node_log *n, const char *type, int64_t ms, const char *id, uint32_t p,
                        const char *cookie, char *err)
{
    char ts[32];
    ts_text(ts, ms);
    n->lines++;
    if (cookie)
        return rb_gen_out_printf(&n->o, err,
                                 "{\"type\":\"%s\",\"ts\":%s,\"rec_id\":\"%s\",\"product\":\"p%06u\","
                                 "\"cookie\":\"%s\"}\n",
                                 type, ts, id, p, cookie);
    return rb_gen_out_printf(&n->o, err, "{\"type\":\"%s\",\"ts\":%s,\"rec_id\":\"%s\",\"product\":\"p%06u\"}\n", type,
                             ts, id, p);
}

static int write_event(struct genx *g, int64_t ms, const char *cookie, const char *event, uint32_t p, char *err)
{
    g->st->events++;
    return rb_gen_out_printf(&g->events, err, "%lld,%s,%s,p%06u\n", (long long)(ms / 1000), cookie, event, p);
}

/* A click on exposure j's item i: the beacon and the shop's view. */
static int click(struct genx *g, const struct visitor *v, struct node_log *n, struct rng *r, char *err)
{
    unsigned j = rng_below(r, v->k), i = rng_below(r, GENX_ITEMS);
    int64_t t = v->ts[j] + 2000 + (int64_t)rng_below(r, 58000);
    int with_cookie = rng_unit(r) < BEACON_COOKIE;
    char id[33];
    rec_id(id, g, v->index, j);
    g->st->clicks++;
    int rc = write_beacon(g, n, "click", t, id, v->items[j][i], with_cookie ? v->cookie : NULL, err);
    return rc ? rc : write_event(g, t, v->cookie, "view", v->items[j][i], err);
}

/* A cart (and, when purchase, a purchase) of a recommended product inside
 * the window after its exposure. */
static int convert(struct genx *g, const struct visitor *v, struct rng *r, int purchase, char *err)
{
    unsigned j = rng_below(r, v->k), i = rng_below(r, GENX_ITEMS);
    uint32_t p = v->items[j][i];
    int64_t t = v->ts[j] + 1000 + (int64_t)((0.05 + 0.45 * rng_unit(r)) * (double)g->window_ms);
    int64_t tp = t + (int64_t)(0.1 * rng_unit(r) * (double)g->window_ms);
    int rc = write_event(g, t - 1000, v->cookie, "view", p, err);
    if (!rc)
        rc = write_event(g, t, v->cookie, "cart", p, err);
    g->st->carts++;
    if (!rc && purchase) {
        g->st->purchases++;
        rc = write_event(g, tp, v->cookie, "purchase", p, err);
    }
    return rc;
}

/* What the report must leave out (gen_experiment.h). */
static int noise(struct genx *g, const struct visitor *v, struct node_log *n, struct rng *r, char *err)
{
    int rc = 0;
    double u1 = rng_unit(r), u2 = rng_unit(r), u3 = rng_unit(r), u4 = rng_unit(r);
    if (u1 < NOISE_UNSHOWN_PURCHASE) {
        uint32_t p;
        do
            p = rng_below(r, g->cfg->products);
        while (shown(v, p));
        rc = write_event(g, v->ts[0] + 60000, v->cookie, "purchase", p, err);
    }
    if (!rc && u2 < NOISE_LATE_PURCHASE) /* the last exposure's first item, after every window */
        rc = write_event(g, v->ts[v->k - 1] + g->window_ms + 3600000, v->cookie, "purchase",
                         v->items[v->k - 1][0], err);
    if (!rc && u3 < NOISE_UNKNOWN_REC) {
        char id[33];
        put_hex16(id, rng_next(r));
        put_hex16(id + 16, rng_next(r));
        id[32] = '\0';
        rc = write_beacon(g, n, "click", v->ts[0] + 5000, id, v->items[0][0], v->cookie, err);
    }
    if (!rc && u4 < NOISE_UNSHOWN_CLICK) {
        char id[33];
        uint32_t p;
        do
            p = rng_below(r, g->cfg->products);
        while (shown(v, p));
        rec_id(id, g, v->index, 0);
        rc = write_beacon(g, n, "click", v->ts[0] + 7000, id, p, v->cookie, err);
    }
    return rc;
}

static int one_visitor(struct genx *g, uint64_t index, char *err)
{
    const struct plan *pl = &g->plan;
    struct visitor v = {.index = index};
    struct rng r;
    rng_seed(&r, derive(g->cfg->seed, DOM_X_VISITOR, index));
    put_hex16(v.cookie, mix64(derive(g->cfg->seed, DOM_X_COOKIE, index)));
    v.cookie[16] = '\0';
    v.arm = rc_experiment_assign(pl->x, v.cookie, 16);
    double u_skew = rng_unit(&r), u_click = rng_unit(&r), u_conv = rng_unit(&r), u_extra = rng_unit(&r);
    if (v.arm == (int)pl->x->control && pl->treat >= 0 && u_skew < g->cfg->skew)
        v.arm = pl->treat;
    draw_exposures(g, &v, &r);
    double pc = v.arm >= 0 ? pl->click[v.arm] : pl->gap_click;
    double pcart = v.arm >= 0 ? pl->cart[v.arm] : pl->gap_cart;
    double pp = v.arm >= 0 ? pl->purchase[v.arm] : pl->gap_purchase;
    if (v.arm >= 0)
        g->st->arm_visitors[v.arm]++;
    else
        g->st->gap_visitors++;
    g->st->visitors++;

    int rc = 0;
    struct node_log *n = node_for(g, index, err, &rc);
    if (!rc)
        rc = write_exposures(g, &v, n, err);
    if (!rc && u_click < pc) {
        rc = click(g, &v, n, &r, err);
        if (!rc && u_extra < EXTRA_CLICK)
            rc = click(g, &v, n, &r, err);
    }
    if (!rc && u_conv < pcart)
        rc = convert(g, &v, &r, u_conv < pp, err);
    if (!rc)
        rc = noise(g, &v, n, &r, err);
    return rc;
}

/* ---- the files around the log ---- */

static int write_catalog(struct genx *g, char *err)
{
    struct rb_gen_out o;
    int rc = rb_gen_out_start(&o, g->cfg->out_dir, "catalog.csv", "product,category,in_stock,price\n", err);
    if (rc)
        return rc;
    double sum = 0;
    for (uint32_t p = 0; p < g->cfg->products && !rc; p++) {
        struct rng r;
        rng_seed(&r, derive(g->cfg->seed, DOM_X_PRICE, p));
        long cents = 500 + (long)rng_below(&r, 19500); /* 5.00 .. 199.99 */
        g->price[p] = (double)cents / 100;
        sum += g->price[p];
        rc = rb_gen_out_printf(&o, err, "p%06u,c%u,1,%ld.%02ld\n", p, p % 10, cents / 100, cents % 100);
    }
    g->mean_price = sum / (double)g->cfg->products;
    return rb_gen_out_finish(&o, rc, err);
}

static const char *role_name(enum arm_role r)
{
    return r == ROLE_CONTROL ? "control" : r == ROLE_HOLDOUT ? "holdout" : "treatment";
}

static void truth_arm(struct rc_buf *b, const struct genx *g, unsigned a)
{
    const struct plan *pl = &g->plan;
    const struct rc_experiment_arm *arm = &pl->x->arms[a];
    rc_buf_adds(b, "{\"name\":");
    rc_buf_json_str(b, arm->name, strlen(arm->name));
    rc_buf_addf(b, ",\"role\":\"%s\",\"buckets\":[%u,%u],\"share\":", role_name(pl->role[a]), arm->from, arm->to);
    rc_buf_add_double(b, (double)(arm->to - arm->from) / RC_EXPERIMENT_BUCKETS);
    rc_buf_addf(b, ",\"visitors\":%llu,\"click_prob\":", (unsigned long long)g->st->arm_visitors[a]);
    rc_buf_add_double(b, pl->click[a]);
    rc_buf_adds(b, ",\"cart_prob\":");
    rc_buf_add_double(b, pl->cart[a]);
    rc_buf_adds(b, ",\"purchase_prob\":");
    rc_buf_add_double(b, pl->purchase[a]);
    rc_buf_adds(b, ",\"revenue_per_visitor\":");
    rc_buf_add_double(b, pl->purchase[a] * g->mean_price);
    rc_buf_adds(b, "}");
}

static void truth_lift(struct rc_buf *b, const struct genx *g, unsigned a)
{
    const struct plan *pl = &g->plan;
    unsigned c = pl->x->control;
    rc_buf_adds(b, "{\"arm\":");
    rc_buf_json_str(b, pl->x->arms[a].name, strlen(pl->x->arms[a].name));
    rc_buf_adds(b, ",\"relative\":");
    rc_buf_add_double(b, pl->mult[a] - 1);
    rc_buf_adds(b, ",\"click_diff\":");
    rc_buf_add_double(b, pl->click[a] - pl->click[c]);
    rc_buf_adds(b, ",\"cart_diff\":");
    rc_buf_add_double(b, pl->cart[a] - pl->cart[c]);
    rc_buf_adds(b, ",\"purchase_diff\":");
    rc_buf_add_double(b, pl->purchase[a] - pl->purchase[c]);
    rc_buf_adds(b, ",\"revenue_diff\":");
    rc_buf_add_double(b, (pl->purchase[a] - pl->purchase[c]) * g->mean_price);
    rc_buf_adds(b, "}");
}

static int write_truth(struct genx *g, char *err)
{
    const struct rb_genx_config *c = g->cfg;
    const struct plan *pl = &g->plan;
    struct rc_buf b;
    rc_buf_init(&b);
    rc_buf_addf(&b, "{\"format\":1,\"seed\":%llu,\"visitors\":%llu,\"experiment\":", (unsigned long long)c->seed,
                (unsigned long long)c->visitors);
    rc_buf_json_str(&b, pl->x->id, strlen(pl->x->id));
    rc_buf_adds(&b, ",\"control\":");
    rc_buf_json_str(&b, pl->x->arms[pl->x->control].name, strlen(pl->x->arms[pl->x->control].name));
    rc_buf_adds(&b, ",\"lift\":");
    rc_buf_add_double(&b, c->lift);
    rc_buf_adds(&b, ",\"holdout_lift\":");
    rc_buf_add_double(&b, c->holdout_lift);
    rc_buf_adds(&b, ",\"ctr\":");
    rc_buf_add_double(&b, c->ctr);
    rc_buf_adds(&b, ",\"purchase_rate\":");
    rc_buf_add_double(&b, c->purchase_rate);
    rc_buf_adds(&b, ",\"skew\":");
    rc_buf_add_double(&b, c->skew);
    rc_buf_adds(&b, ",\"window_hours\":");
    rc_buf_add_double(&b, c->window_hours);
    rc_buf_adds(&b, ",\"mean_price\":");
    rc_buf_add_double(&b, g->mean_price);
    rc_buf_addf(&b, ",\"gap_visitors\":%llu,\"arms\":[", (unsigned long long)g->st->gap_visitors);
    for (unsigned a = 0; a < pl->x->narms; a++) {
        if (a)
            rc_buf_adds(&b, ",");
        truth_arm(&b, g, a);
    }
    rc_buf_adds(&b, "],\"lifts\":[");
    int first = 1;
    for (unsigned a = 0; a < pl->x->narms; a++) {
        if (a == pl->x->control)
            continue;
        if (!first)
            rc_buf_adds(&b, ",");
        first = 0;
        truth_lift(&b, g, a);
    }
    rc_buf_addf(&b, "],\"counts\":{\"exposures\":%llu,\"clicks\":%llu,\"carts\":%llu,\"purchases\":%llu,"
                    "\"events\":%llu,\"log_files\":%llu}}\n",
                (unsigned long long)g->st->exposures, (unsigned long long)g->st->clicks,
                (unsigned long long)g->st->carts, (unsigned long long)g->st->purchases,
                (unsigned long long)g->st->events, (unsigned long long)g->st->log_files);
    struct rb_gen_out o;
    int rc = b.overflow ? rc_fail(err, -ENOMEM, "out of memory for truth.json")
                        : rb_gen_out_start(&o, c->out_dir, "truth.json", rc_buf_cstr(&b), err);
    if (!rc)
        rc = rb_gen_out_commit(&o, err);
    rc_buf_release(&b);
    return rc;
}

/* experiments.json: the given definition's bytes, or the built-in one. */
static int load_experiment(const struct rb_genx_config *c, struct rc_experiment **x, char *err)
{
    int rc;
    struct rb_gen_out o;
    if (c->experiments) {
        rc = rc_experiment_read(c->experiments, x, err);
        if (rc)
            return rc;
        FILE *f = fopen(c->experiments, "rb");
        if (!f)
            return rc_fail(err, -errno, "unable to open '%s': %s", c->experiments, strerror(errno));
        static char text[RC_EXPERIMENT_FILE_MAX];
        size_t n = fread(text, 1, sizeof(text), f);
        fclose(f);
        rc = rb_gen_out_open(&o, c->out_dir, "experiments.json", err);
        if (!rc)
            rc = rb_gen_out_finish(&o, rb_gen_out_bytes(&o, text, n, err), err);
        return rc;
    }
    rc = rc_experiment_parse(builtin_experiment, strlen(builtin_experiment), x, err);
    if (rc)
        return rc;
    rc = rb_gen_out_start(&o, c->out_dir, "experiments.json", builtin_experiment, err);
    return rc ? rc : rb_gen_out_commit(&o, err);
}

static int prepare_dirs(struct genx *g, char *err)
{
    const char *dir = g->cfg->out_dir;
    char truth[PATH_MAX];
    int rc = rc_mkdir_p(dir);
    if (rc)
        return rc_fail(err, rc, "unable to create '%s': %s", dir, rc_strerror(rc));
    if (snprintf(g->logdir, sizeof(g->logdir), "%s/log", dir) >= (int)sizeof(g->logdir) ||
        snprintf(truth, sizeof(truth), "%s/truth.json", dir) >= (int)sizeof(truth))
        return rc_fail(err, -ENAMETOOLONG, "output path too long: '%s'", dir);
    if (unlink(truth) != 0 && errno != ENOENT) /* its presence means a finished run */
        return rc_fail(err, -errno, "unable to remove '%s': %s", truth, strerror(errno));
    rc = rc_mkdir_p(g->logdir);
    if (rc)
        return rc_fail(err, rc, "unable to create '%s': %s", g->logdir, rc_strerror(rc));
    return 0;
}

int rb_genx_run(const struct rb_genx_config *cfg, struct rb_genx_stats *st, char *err)
{
    struct genx g = {.cfg = cfg, .st = st};
    struct rc_experiment *x = NULL;
    memset(st, 0, sizeof(*st));
    int rc = prepare_dirs(&g, err);
    if (!rc)
        rc = load_experiment(cfg, &x, err);
    if (rc)
        return rc;
    plan_arms(&g.plan, x, cfg);
    g.start_ms = (cfg->end_ts - (int64_t)cfg->days * 86400) * 1000;
    g.span_ms = (int64_t)cfg->days * 86400 * 1000;
    g.window_ms = (int64_t)(cfg->window_hours * 3600 * 1000);
    g.price = malloc((size_t)cfg->products * sizeof(*g.price));
    if (!g.price) {
        rc_experiment_free(x);
        return rc_fail(err, -ENOMEM, "out of memory for %u prices", cfg->products);
    }
    rc = write_catalog(&g, err);
    if (!rc)
        rc = rb_gen_out_start(&g.events, cfg->out_dir, "events.csv", "ts,cookie,event,product\n", err);
    if (!rc) {
        for (uint64_t i = 0; i < cfg->visitors && !rc; i++)
            rc = one_visitor(&g, i, err);
        rc = rb_gen_out_finish(&g.events, rc, err);
    }
    for (unsigned k = 0; k < GENX_MAX_NODES; k++) {
        if (!g.node[k].open)
            continue;
        if (rc) {
            rb_gen_out_discard(&g.node[k].o);
            g.node[k].open = 0;
        } else {
            rc = node_close(&g.node[k], err);
        }
    }
    if (!rc)
        rc = write_truth(&g, err);
    free(g.price);
    rc_experiment_free(x);
    return rc;
}
