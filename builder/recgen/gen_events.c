/*
 * gen_events.c - recgen's cookies: events.csv and truth_cookies.csv,
 * written cookie by cookie in O(1) memory (contract in gen_files.h, model
 * in schemas/recgen.md, "Cookies" and "Sessions").
 *
 * A cookie draws from its own streams: DOMAIN_CONTENT (traits, session
 * devices, products, event types), DOMAIN_TIME (session sizes and gaps,
 * read twice: once to measure, once to write), DOMAIN_SLOT (session start
 * positions); its activity weight is a pure function of (seed, index).
 * Event rows are formatted without printf: this is the hot loop.
 */
#include "gen_files.h"
#include "gen_out.h"

#include "error.h"
#include "log.h"

#include <math.h>
#include <string.h>

enum ev_type { EV_VIEW, EV_CART, EV_PURCHASE };
/* Padded to 16 bytes so they are copied as fixed blocks (write_event). */
static const char ev_word[3][16] = {"view,", "cart,", "purchase,"};
static const size_t ev_word_len[] = {5, 5, 9};

struct cookie {
    char id[16];
    uint32_t loc, dev;
    uint32_t ntaste;
    uint32_t taste[3];
    double taste_w[3];
    int buyer;
    uint64_t events, sessions, views, carts, purchases;
};

/* Heavy-tailed activity weight of cookie i (Lomax, capped), > 0. */
static double cookie_weight(uint64_t seed, uint64_t i)
{
    double u = (double)(mix64(derive(seed, DOMAIN_WEIGHT, i)) >> 11) * 0x1.0p-53;
    double w = pow(1.0 - u, -1.0 / ACTIVITY_ALPHA) - 1.0;
    return (w < ACTIVITY_CAP ? w : ACTIVITY_CAP) + 0.01;
}

static inline uint32_t session_size(struct rng *t, uint64_t left)
{
    uint32_t n = 1 + (uint32_t)(rng_exp(t) * SESSION_MEAN_EXTRA);
    if (n > SESSION_MAX)
        n = SESSION_MAX;
    return n < left ? n : (uint32_t)left;
}

static inline double session_gap(struct rng *t)
{
    double g = GAP_MIN_S + rng_exp(t) * GAP_MEAN_S;
    return g < GAP_MAX_S ? g : GAP_MAX_S;
}

/* 1 to 3 favourite categories of the cookie's segment, with weights. */
static void draw_tastes(const struct model *m, struct rng *c, struct cookie *ck)
{
    double u = rng_unit(c);
    uint32_t want = u < 0.6 ? 1 : u < 0.95 ? 2 : 3;
    if (want > m->K)
        want = m->K;
    ck->ntaste = 0;
    for (uint32_t tries = 0; ck->ntaste < want && tries < 64; tries++) {
        uint32_t k = draw_category(m, c, ck->loc, ck->dev);
        int dup = 0;
        for (uint32_t i = 0; i < ck->ntaste; i++)
            dup |= ck->taste[i] == k;
        if (!dup)
            ck->taste[ck->ntaste++] = k;
    }
    if (ck->ntaste == 1) {
        ck->taste_w[0] = 1.0;
    } else if (ck->ntaste == 2) {
        ck->taste_w[0] = 0.55 + 0.3 * rng_unit(c);
        ck->taste_w[1] = 1.0 - ck->taste_w[0];
    } else {
        ck->taste_w[0] = 0.45 + 0.2 * rng_unit(c);
        ck->taste_w[1] = (1.0 - ck->taste_w[0]) * (0.55 + 0.25 * rng_unit(c));
        ck->taste_w[2] = 1.0 - ck->taste_w[0] - ck->taste_w[1];
    }
}

/* Latent traits of a cookie, from its content stream. */
static void cookie_traits(const struct model *m, struct rng *c, struct cookie *ck)
{
    ck->loc = cdf_pick(m->loc_cdf, m->L, rng_unit(c));
    double u = rng_unit(c);
    const double *share = rb_gen_device_primary_share;
    ck->dev = u < share[0] ? 0 : u < share[0] + share[1] ? 1 : 2;
    ck->buyer = rng_unit(c) < m->cfg->buyers;
    draw_tastes(m, c, ck);
}

struct session_plan {
    uint32_t n;
    uint32_t prod[SESSION_MAX];
    uint8_t type[SESSION_MAX];
};

/* The category a session is about: mostly one of the cookie's tastes. */
static uint32_t session_focus(const struct model *m, struct rng *c, const struct cookie *ck, uint32_t dev)
{
    if (rng_unit(c) >= P_FOCUS_TASTE)
        return draw_category(m, c, ck->loc, dev);
    double v = rng_unit(c);
    uint32_t i = 0;
    while (i + 1 < ck->ntaste && v >= ck->taste_w[i]) {
        v -= ck->taste_w[i];
        i++;
    }
    return ck->taste[i];
}

/* How many of a session's n events are carts and purchases; the rest are
 * views, at least one. */
static void session_funnel(struct rng *c, const struct cookie *ck, uint32_t n, uint32_t *carts, uint32_t *buys)
{
    *carts = *buys = 0;
    if (n < 2)
        return;
    double u = rng_unit(c);
    if (ck->buyer && u < P_BUYER_CONVERT) {
        *carts = 1 + (n >= 6 && rng_unit(c) < 0.35) + (n >= 10 && rng_unit(c) < 0.25);
        for (uint32_t i = 0; i < *carts; i++)
            *buys += rng_unit(c) < P_CART_PURCHASED;
    } else if (u < (ck->buyer ? P_BUYER_CONVERT + P_BUYER_ABANDON : P_BROWSER_ABANDON)) {
        *carts = 1;
    }
    while (*carts + *buys >= n) {
        if (*buys)
            (*buys)--;
        else
            (*carts)--;
    }
}

/* Products distinct so far in a session, in first-view order. */
struct seen {
    uint32_t j[SESSION_MAX];
    uint32_t n;
};

static void seen_add(struct seen *s, uint32_t j)
{
    uint32_t i = 0;
    while (i < s->n && s->j[i] != j)
        i++;
    if (i == s->n)
        s->j[s->n++] = j;
}

/* Product of the next view: a local hit, a revisit, an excursion out of
 * the focus category, or (most often) one of the focus category. */
static uint32_t view_product(const struct model *m, struct rng *c, const struct cookie *ck, uint32_t dev,
                             uint32_t focus, const struct seen *seen)
{
    double r = rng_unit(c);
    if (m->n_hits && r < P_VIEW_HIT)
        return m->hits[ck->loc][rng_below(c, m->n_hits)];
    if (seen->n && r < P_VIEW_HIT + P_VIEW_REVISIT)
        return seen->j[rng_below(c, seen->n)];
    if (r < P_VIEW_HIT + P_VIEW_REVISIT + P_VIEW_EXPLORE)
        return draw_product(m, c, draw_category(m, c, ck->loc, dev));
    return draw_product(m, c, focus);
}

/* Fill plan->prod/type for a session of plan->n events: views, then carts
 * of viewed products, then purchases of carted (or viewed) products. */
static void plan_session(const struct model *m, struct rng *c, const struct cookie *ck, uint32_t dev,
                         struct session_plan *plan)
{
    uint32_t focus = session_focus(m, c, ck, dev);
    uint32_t carts, buys;
    session_funnel(c, ck, plan->n, &carts, &buys);
    uint32_t views = plan->n - carts - buys;

    struct seen seen = {.n = 0};
    for (uint32_t i = 0; i < views; i++) {
        uint32_t j = view_product(m, c, ck, dev, focus, &seen);
        plan->prod[i] = j;
        plan->type[i] = EV_VIEW;
        seen_add(&seen, j);
    }
    /* Carts: distinct viewed products while there are any, then repeats
     * (a second cart of the same product is a quantity change). */
    for (uint32_t i = 0; i < carts; i++) {
        uint32_t j;
        if (i < seen.n) {
            uint32_t pick = i + rng_below(c, seen.n - i);
            j = seen.j[pick];
            seen.j[pick] = seen.j[i];
            seen.j[i] = j;
        } else {
            j = seen.j[rng_below(c, seen.n)];
        }
        plan->prod[views + i] = j;
        plan->type[views + i] = EV_CART;
    }
    for (uint32_t i = 0; i < buys; i++) {
        uint32_t j = plan->prod[views + i];
        if (rng_unit(c) >= P_PURCHASE_OF_CART)
            j = seen.j[rng_below(c, seen.n)];
        plan->prod[views + carts + i] = j;
        plan->type[views + carts + i] = EV_PURCHASE;
    }
}

/* A cookie's place in time: its sessions use at most half the window (busy
 * time scaled by `scale`); the rest, `idle`, is spread by sorted uniform
 * start positions. */
struct timing {
    uint64_t nsessions;
    double scale, idle;
};

/* Pass 1 over a copy of the time stream: how many sessions, how long. */
static struct timing measure_sessions(const struct model *m, struct rng t, uint64_t nev)
{
    struct timing tm = {0, 1.0, 0.0};
    uint64_t left = nev;
    double busy = 0.0;
    while (left) {
        uint32_t n = session_size(&t, left);
        for (uint32_t e = 1; e < n; e++)
            busy += session_gap(&t);
        left -= n;
        tm.nsessions++;
    }
    double window = (double)m->cfg->days * 86400.0;
    tm.scale = busy > window / 2 ? window / 2 / busy : 1.0;
    tm.idle = window - 1.0 - busy * tm.scale;
    return tm;
}

/* The end of every row of a session: "LOC,DEVICE\n"; returns its length. */
static size_t row_suffix(char suffix[32], uint32_t loc, uint32_t dev)
{
    char *q = suffix;
    q = put_str(q, rb_gen_location_codes[loc]);
    *q++ = ',';
    q = put_str(q, rb_gen_device_names[dev]);
    *q++ = '\n';
    return (size_t)(q - suffix);
}

/* One events.csv row. A row is at most 20 + 1 + 16 + 1 + 9 + 10 + 1 + 11
 * bytes; the variable parts are copied as fixed 16-byte blocks (inlined,
 * no libc call) and the cursor advanced by their length. */
static inline int write_event(struct rb_gen_out *o, const struct model *m, int64_t ts, const char id[16], uint8_t type,
                              uint32_t j, const char suffix[32], size_t suffix_len, char *err)
{
    int rc = rb_gen_out_room(o, 128, err);
    if (rc)
        return rc;
    char *p = o->buf + o->len;
    p = put_u64(p, (uint64_t)ts);
    *p++ = ',';
    memcpy(p, id, 16);
    p[16] = ',';
    p += 17;
    memcpy(p, ev_word[type], 16);
    p += ev_word_len[type];
    memcpy(p, product_id(m, j), 16);
    p[m->pid_len] = ',';
    p += m->pid_len + 1;
    memcpy(p, suffix, 16);
    p += suffix_len;
    o->len = (size_t)(p - o->buf);
    return 0;
}

/* A cookie's streams and where its writing has got to. */
struct cookie_run {
    struct cookie ck;
    struct rng content, slot, time;
    struct timing tm;
    double x, busy_before; /* start position so far; busy time before the session */
    int64_t last_ts;
};

/* Plan and write session s of the cookie, which has `left` events to go. */
static int write_session(const struct model *m, struct cookie_run *cr, uint64_t s, uint64_t left,
                         struct rb_gen_out *ev, char *err)
{
    struct cookie *ck = &cr->ck;
    double v = 1.0 - rng_unit(&cr->slot); /* (0, 1] */
    cr->x += (1.0 - cr->x) * (1.0 - exp(log(v) / (double)(cr->tm.nsessions - s)));
    double when = (double)m->start_ts + cr->x * cr->tm.idle + cr->busy_before * cr->tm.scale;
    struct session_plan plan;
    plan.n = session_size(&cr->time, left);

    uint32_t dev = ck->dev;
    if (rng_unit(&cr->content) >= SESSION_DEVICE_STICKY)
        dev = (ck->dev + 1 + rng_below(&cr->content, 2)) % RB_GEN_DEVICES;
    plan_session(m, &cr->content, ck, dev, &plan);
    char suffix[32] = "";
    size_t suffix_len = row_suffix(suffix, ck->loc, dev);

    for (uint32_t e = 0; e < plan.n; e++) {
        if (e) {
            double g = session_gap(&cr->time);
            cr->busy_before += g;
            when += g * cr->tm.scale;
        }
        int64_t ts = (int64_t)when;
        if (ts < cr->last_ts)
            ts = cr->last_ts;
        cr->last_ts = ts;
        int rc = write_event(ev, m, ts, ck->id, plan.type[e], plan.prod[e], suffix, suffix_len, err);
        if (rc)
            return rc;
        ck->views += plan.type[e] == EV_VIEW;
        ck->carts += plan.type[e] == EV_CART;
        ck->purchases += plan.type[e] == EV_PURCHASE;
    }
    ck->events += plan.n;
    ck->sessions++;
    return 0;
}

/* The cookie's truth_cookies.csv line. */
static int write_truth_cookie(struct rb_gen_out *o, const struct model *m, const struct cookie *ck, char *err)
{
    int rc = rb_gen_out_room(o, OUT_LINE_MAX, err);
    if (rc)
        return rc;
    char *p = o->buf + o->len;
    p = put_mem(p, ck->id, 16);
    *p++ = ',';
    p = put_str(p, rb_gen_location_codes[ck->loc]);
    *p++ = ',';
    p = put_str(p, rb_gen_device_names[ck->dev]);
    *p++ = ',';
    for (uint32_t i = 0; i < ck->ntaste; i++) {
        if (i)
            *p++ = '|';
        p = put_str(p, m->cat_name[ck->taste[i]]);
    }
    *p++ = ',';
    for (uint32_t i = 0; i < ck->ntaste; i++) {
        if (i)
            *p++ = '|';
        p = put_milli(p, ck->taste_w[i]);
    }
    *p++ = ',';
    *p++ = ck->buyer ? '1' : '0';
    *p++ = ',';
    *p++ = ck->purchases ? '1' : '0';
    uint64_t counts[5] = {ck->sessions, ck->events, ck->views, ck->carts, ck->purchases};
    for (int i = 0; i < 5; i++) {
        *p++ = ',';
        p = put_u64(p, counts[i]);
    }
    *p++ = '\n';
    o->len = (size_t)(p - o->buf);
    return 0;
}

static void count_cookie(struct rb_gen_stats *st, const struct cookie *ck)
{
    st->events += ck->events;
    st->views += ck->views;
    st->carts += ck->carts;
    st->purchases += ck->purchases;
    st->sessions += ck->sessions;
    st->cookies++;
    st->purchasers += ck->purchases > 0;
    st->one_session_cookies += ck->sessions == 1;
    if (ck->events > st->max_cookie_events)
        st->max_cookie_events = ck->events;
}

struct cookie_outs {
    struct rb_gen_out events;
    struct rb_gen_out truth;
};

/* Generate and write cookie `index` with `nev` events. */
static int emit_cookie(const struct model *m, uint64_t index, uint64_t nev, uint64_t id_key,
                       struct cookie_outs *outs, struct rb_gen_stats *st, char *err)
{
    uint64_t seed = m->cfg->seed;
    struct cookie_run cr;
    memset(&cr, 0, sizeof(cr));
    put_hex16(cr.ck.id, mix64(index ^ id_key));
    rng_seed_for(&cr.content, seed, DOMAIN_CONTENT, index);
    rng_seed_for(&cr.slot, seed, DOMAIN_SLOT, index);
    rng_seed_for(&cr.time, seed, DOMAIN_TIME, index);
    cookie_traits(m, &cr.content, &cr.ck);
    cr.tm = measure_sessions(m, cr.time, nev);
    cr.last_ts = m->start_ts;

    for (uint64_t s = 0; s < cr.tm.nsessions; s++) {
        int rc = write_session(m, &cr, s, nev - cr.ck.events, &outs->events, err);
        if (rc)
            return rc;
    }
    int rc = write_truth_cookie(&outs->truth, m, &cr.ck, err);
    if (rc == 0)
        count_cookie(st, &cr.ck);
    return rc;
}

/* Events per cookie: 1 + its share of the other N - C by activity weight,
 * rounded along the cumulative sum so that the total is exactly N. The
 * weights are recomputed rather than stored: memory stays O(1). */
struct event_split {
    double wsum, cum;
    uint64_t extra, prev;
};

static void event_split_init(struct event_split *sp, const struct model *m)
{
    sp->wsum = 0.0;
    for (uint64_t i = 0; i < m->C; i++)
        sp->wsum += cookie_weight(m->cfg->seed, i);
    sp->cum = 0.0;
    sp->extra = m->N - m->C;
    sp->prev = 0;
}

/* Events of cookie i; called for i = 0, 1, ... C-1 in turn. */
static uint64_t event_split_next(struct event_split *sp, const struct model *m, uint64_t i)
{
    sp->cum += cookie_weight(m->cfg->seed, i);
    uint64_t upto = i + 1 == m->C ? sp->extra : (uint64_t)((double)sp->extra * (sp->cum / sp->wsum));
    if (upto > sp->extra)
        upto = sp->extra;
    if (upto < sp->prev)
        upto = sp->prev;
    uint64_t nev = 1 + upto - sp->prev;
    sp->prev = upto;
    return nev;
}

/* Both files with their header lines; on failure neither is left open. */
static int open_cookie_outs(struct cookie_outs *outs, const char *dir, char *err)
{
    int rc = rb_gen_out_start(&outs->events, dir, "events.csv", "ts,cookie,event,product,location,device\n", err);
    if (rc)
        return rc;
    rc = rb_gen_out_start(&outs->truth, dir, "truth_cookies.csv",
                          "cookie,location,device,categories,weights,buyer,purchaser,"
                          "sessions,events,views,carts,purchases\n",
                          err);
    if (rc)
        rb_gen_out_discard(&outs->events);
    return rc;
}

/* Commit both files when rc is 0, else discard both; returns the first error. */
static int close_cookie_outs(struct cookie_outs *outs, int rc, char *err)
{
    rc = rb_gen_out_finish(&outs->events, rc, err);
    if (rc) {
        rb_gen_out_discard(&outs->truth);
        return rc;
    }
    return rb_gen_out_commit(&outs->truth, err);
}

int rb_gen_write_cookies(const struct model *m, const char *dir, struct rb_gen_stats *st, char *err)
{
    struct cookie_outs outs;
    int rc = open_cookie_outs(&outs, dir, err);
    if (rc)
        return rc;
    struct event_split split;
    event_split_init(&split, m);
    uint64_t id_key = derive(m->cfg->seed, DOMAIN_COOKIE_ID, 0);
    uint64_t step = m->N / 10 ? m->N / 10 : 1, next_log = step;
    for (uint64_t i = 0; i < m->C && rc == 0; i++) {
        rc = emit_cookie(m, i, event_split_next(&split, m, i), id_key, &outs, st, err);
        if (rc == 0 && st->events >= next_log) {
            rc_log(RC_LOG_DEBUG, "progress", "events=%llu cookies=%llu", (unsigned long long)st->events,
                   (unsigned long long)st->cookies);
            next_log += step;
        }
    }
    if (rc == 0 && (st->events != m->N || st->cookies != m->C))
        rc = rc_fail(err, RC_EINTERNAL, "wrote %llu events for %llu cookies, expected %llu and %llu",
                     (unsigned long long)st->events, (unsigned long long)st->cookies, (unsigned long long)m->N,
                     (unsigned long long)m->C);
    return close_cookie_outs(&outs, rc, err);
}
