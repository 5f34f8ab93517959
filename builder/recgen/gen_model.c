/*
 * gen_model.c - the model recgen draws from (contract in gen_model.h,
 * description in schemas/recgen.md, "The model").
 *
 * rb_gen_model_build() is a sequence of steps, each drawing from the one
 * DOMAIN_MODEL stream in turn: the order of the steps that take an rng is
 * part of the output (a step moved, or a draw added, changes every file).
 */
#include "gen_model.h"

#include "error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const rb_gen_category_names[RB_GEN_CATEGORY_NAMES] = {
    "womens-shoes", "mens-shoes", "sneakers",   "handbags",    "watches",     "jewelry",      "sunglasses",
    "dresses",      "jeans",      "t-shirts",   "jackets",     "sportswear",  "laptops",      "smartphones",
    "headphones",   "cameras",    "tv-audio",   "gaming",      "smart-home",  "kitchen",      "cookware",
    "furniture",    "bedding",    "lighting",   "garden",      "tools",       "toys",         "baby",
    "books",        "beauty",     "skincare",   "fragrance",   "pet-supplies", "groceries",   "coffee-tea",
    "wine",         "bikes",      "outdoor",    "fitness",     "office",
};

/* Ordered by traffic: location l gets a share proportional to 1/(l+1). */
const char *const rb_gen_location_codes[RB_GEN_MAX_LOCATIONS] = {
    "US", "DE", "GB", "FR", "JP", "CA", "BR", "IN", "IT", "ES", "NL", "AU", "SE", "PL",
    "MX", "KR", "CH", "BE", "AT", "DK", "NO", "FI", "IE", "PT", "CZ", "TR", "AR", "CL",
    "CO", "ZA", "SG", "NZ", "IL", "AE", "SA", "TH", "ID", "MY", "PH", "VN",
};

const char *const rb_gen_device_names[RB_GEN_DEVICES] = {"mobile", "desktop", "tablet"};
const double rb_gen_device_primary_share[RB_GEN_DEVICES] = {0.55, 0.35, 0.10};
const uint32_t rb_gen_device_boost_count[RB_GEN_DEVICES] = {2, 2, 1};

const char *const rb_gen_title_adjectives[RB_GEN_TITLE_ADJECTIVES] = {
    "Classic", "Urban", "Pro", "Essential", "Premium", "Compact", "Vintage", "Smart",
    "Everyday", "Deluxe", "Nordic", "Studio", "Active", "Soft", "Bold", "Eco",
};

uint64_t rb_gen_effective_cookies(const struct rb_gen_config *cfg)
{
    if (cfg->cookies)
        return cfg->cookies;
    return cfg->events / 10 ? cfg->events / 10 : 1;
}

/* ------------------------------------------------------------- helpers */

static void shuffle_u32(struct rng *r, uint32_t *a, uint32_t n)
{
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = rng_below(r, i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* 0..n-1 in an order drawn from r (malloc'ed), or NULL without memory. */
static uint32_t *shuffled_indices(struct rng *r, uint32_t n)
{
    uint32_t *a = malloc(sizeof(*a) * n);
    if (!a)
        return NULL;
    for (uint32_t i = 0; i < n; i++)
        a[i] = i;
    shuffle_u32(r, a, n);
    return a;
}

/* Turn w[0..n) (non-negative, positive sum) into a cumulative table. */
static void make_cdf(double *w, uint32_t n)
{
    double total = 0.0;
    for (uint32_t i = 0; i < n; i++)
        total += w[i];
    double acc = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        acc += w[i];
        w[i] = acc / total;
    }
    w[n - 1] = 1.0;
}

/* Vose's alias method over w[0..n) (sum > 0), into prob/alias. The work
 * arrays scaled/small/large hold n entries each. */
static void alias_build(const double *w, uint32_t n, float *prob, uint32_t *alias, double *scaled,
                        uint32_t *small, uint32_t *large)
{
    double total = 0.0;
    for (uint32_t i = 0; i < n; i++)
        total += w[i];
    uint32_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        scaled[i] = w[i] * n / total;
        if (scaled[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[nl - 1];
        prob[s] = (float)scaled[s];
        alias[s] = l;
        scaled[l] = (scaled[l] + scaled[s]) - 1.0;
        if (scaled[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    while (nl) {
        uint32_t l = large[--nl];
        prob[l] = 1.0f;
        alias[l] = l;
    }
    while (ns) { /* only from rounding */
        uint32_t s = small[--ns];
        prob[s] = 1.0f;
        alias[s] = s;
    }
}

double rb_gen_product_weight(const struct model *m, uint32_t j)
{
    if (m->flags[j] & PF_NEW)
        return 0.0;
    return pow((double)m->within[j] + 1.0, -m->cfg->zipf);
}

int rb_gen_is_hit(const struct model *m, uint32_t loc, uint32_t j)
{
    for (uint32_t h = 0; h < m->n_hits; h++)
        if (m->hits[loc][h] == j)
            return 1;
    return 0;
}

int rb_gen_ranked_cmp(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->share != y->share)
        return x->share > y->share ? -1 : 1;
    return x->j < y->j ? -1 : x->j > y->j;
}

/* --------------------------------------------------------------- steps */

static void model_size(struct model *m, const struct rb_gen_config *cfg)
{
    memset(m, 0, sizeof(*m));
    m->cfg = cfg;
    m->P = cfg->products;
    m->K = cfg->categories;
    m->Q = cfg->clusters;
    m->L = cfg->locations;
    m->N = cfg->events;
    m->C = rb_gen_effective_cookies(cfg);
    m->start_ts = cfg->end_ts - (int64_t)cfg->days * 86400;
    m->pid_len = 1 + 6;
    for (uint32_t v = m->P / 1000000; v; v /= 10)
        m->pid_len++;
}

static int model_alloc(struct model *m, char *err)
{
    uint32_t P = m->P, K = m->K;
    m->cat = malloc(sizeof(*m->cat) * P);
    m->cluster = malloc(sizeof(*m->cluster) * P);
    m->flags = malloc(sizeof(*m->flags) * P);
    m->within = malloc(sizeof(*m->within) * P);
    m->rank = malloc(sizeof(*m->rank) * P);
    m->share = malloc(sizeof(*m->share) * P);
    m->pid = calloc(P, PID_STRIDE);
    m->cat_name = malloc(sizeof(*m->cat_name) * K);
    m->cat_off = calloc((size_t)K + 1, sizeof(*m->cat_off));
    m->cat_prods = malloc(sizeof(*m->cat_prods) * P);
    m->alias_prob = malloc(sizeof(*m->alias_prob) * P);
    m->alias_idx = malloc(sizeof(*m->alias_idx) * P);
    m->cat_prior = malloc(sizeof(*m->cat_prior) * K);
    m->cat_weight = malloc(sizeof(*m->cat_weight) * K);
    m->cat_mix = calloc(K, sizeof(*m->cat_mix));
    m->seg_cdf = malloc(sizeof(*m->seg_cdf) * K * m->L * RB_GEN_DEVICES);
    if (!m->cat || !m->cluster || !m->flags || !m->within || !m->rank || !m->share || !m->pid || !m->cat_name ||
        !m->cat_off || !m->cat_prods || !m->alias_prob || !m->alias_idx || !m->cat_prior || !m->cat_weight ||
        !m->cat_mix ||
        !m->seg_cdf)
        return rc_fail(err, -ENOMEM, "out of memory for the model of %u products", P);
    return 0;
}

/* The first 40 names as they are, then "name-2", "name-3", ... */
static void name_categories(struct model *m)
{
    for (uint32_t k = 0; k < m->K; k++) {
        const char *base = rb_gen_category_names[k % RB_GEN_CATEGORY_NAMES];
        if (k < RB_GEN_CATEGORY_NAMES)
            snprintf(m->cat_name[k], CAT_NAME_MAX, "%s", base);
        else
            snprintf(m->cat_name[k], CAT_NAME_MAX, "%s-%u", base, k / RB_GEN_CATEGORY_NAMES + 1);
    }
}

/* "p" and index + 1 zero-padded to pid_len - 1 digits. */
static void name_products(struct model *m)
{
    for (uint32_t j = 0; j < m->P; j++) {
        char *p = m->pid + (size_t)j * PID_STRIDE;
        p[0] = 'p';
        uint32_t v = j + 1;
        for (uint32_t i = m->pid_len - 1; i >= 1; i--) {
            p[i] = (char)('0' + v % 10);
            v /= 10;
        }
    }
}

/* Category sizes: uneven (Zipf over a random order), each at least one
 * product. Products are dealt in a random order, which is their within-
 * category rank; the first K found the categories (each its top product).
 * Fills cat, within, cat_off and cat_prods. */
static int deal_products(struct model *m, struct rng *r, char *err)
{
    uint32_t P = m->P, K = m->K;
    double *cdf = malloc(sizeof(*cdf) * K);
    uint32_t *order = shuffled_indices(r, K);
    if (!cdf || !order) {
        free(cdf);
        free(order);
        return rc_fail(err, -ENOMEM, "out of memory for the categories");
    }
    for (uint32_t k = 0; k < K; k++)
        cdf[order[k]] = pow((double)k + 1.0, -CATEGORY_SIZE_ZIPF);
    make_cdf(cdf, K);
    free(order);
    order = shuffled_indices(r, P);
    if (!order) {
        free(cdf);
        return rc_fail(err, -ENOMEM, "out of memory for the categories");
    }
    for (uint32_t t = 0; t < P; t++) {
        uint32_t k = t < K ? t : cdf_pick(cdf, K, rng_unit(r));
        m->cat[order[t]] = k;
        m->within[order[t]] = m->cat_off[k + 1]++; /* count, turned into offsets below */
    }
    for (uint32_t k = 0; k < K; k++)
        m->cat_off[k + 1] += m->cat_off[k];
    for (uint32_t j = 0; j < P; j++)
        m->cat_prods[m->cat_off[m->cat[j]] + m->within[j]] = j;
    free(order);
    free(cdf);
    return 0;
}

/* Per product, in id order: cluster, new (never a category's top product,
 * so every category can be drawn from), out of stock. */
static void draw_product_flags(struct model *m, struct rng *r)
{
    for (uint32_t j = 0; j < m->P; j++) {
        m->cluster[j] = (uint8_t)rng_below(r, m->Q);
        m->flags[j] = PF_IN_STOCK;
        if (m->within[j] > 0 && rng_unit(r) < m->cfg->new_products) {
            m->flags[j] |= PF_NEW;
            m->new_count++;
        } else if (rng_unit(r) < m->cfg->out_of_stock) {
            m->flags[j] &= (uint8_t)~PF_IN_STOCK;
            m->oos_count++;
        }
    }
}

/* Each category's total weight, summed in within-rank order. */
static void weigh_categories(struct model *m)
{
    for (uint32_t k = 0; k < m->K; k++) {
        double total = 0.0;
        for (uint32_t i = m->cat_off[k]; i < m->cat_off[k + 1]; i++)
            total += rb_gen_product_weight(m, m->cat_prods[i]);
        m->cat_weight[k] = total;
    }
}

/* Within-category popularity (rb_gen_product_weight) as alias tables. */
static int build_alias_tables(struct model *m, char *err)
{
    uint32_t maxn = 0;
    for (uint32_t k = 0; k < m->K; k++)
        if (m->cat_off[k + 1] - m->cat_off[k] > maxn)
            maxn = m->cat_off[k + 1] - m->cat_off[k];
    double *w = malloc(sizeof(*w) * maxn), *scaled = malloc(sizeof(*scaled) * maxn);
    uint32_t *small = malloc(sizeof(*small) * maxn), *large = malloc(sizeof(*large) * maxn);
    int rc = 0;
    if (!w || !scaled || !small || !large) {
        rc = rc_fail(err, -ENOMEM, "out of memory for the alias tables");
    } else {
        for (uint32_t k = 0; k < m->K; k++) {
            uint32_t off = m->cat_off[k], n = m->cat_off[k + 1] - off;
            for (uint32_t i = 0; i < n; i++)
                w[i] = rb_gen_product_weight(m, m->cat_prods[off + i]);
            alias_build(w, n, m->alias_prob + off, m->alias_idx + off, scaled, small, large);
        }
    }
    free(w);
    free(scaled);
    free(small);
    free(large);
    return rc;
}

/* Category popularity prior: Zipf over an order independent of size. */
static int draw_category_prior(struct model *m, struct rng *r, char *err)
{
    uint32_t *order = shuffled_indices(r, m->K);
    if (!order)
        return rc_fail(err, -ENOMEM, "out of memory for the category prior");
    double total = 0.0;
    for (uint32_t k = 0; k < m->K; k++)
        total += m->cat_prior[order[k]] = pow((double)k + 1.0, -CATEGORY_POPULARITY_ZIPF);
    for (uint32_t k = 0; k < m->K; k++)
        m->cat_prior[k] /= total;
    free(order);
    return 0;
}

/* Location traffic 1/(l+1), as shares and a cumulative table. */
static void set_location_shares(struct model *m)
{
    double total = 0.0;
    for (uint32_t l = 0; l < m->L; l++)
        total += m->loc_share[l] = 1.0 / (l + 1.0);
    double acc = 0.0;
    for (uint32_t l = 0; l < m->L; l++) {
        m->loc_share[l] /= total;
        acc += m->loc_share[l];
        m->loc_cdf[l] = acc;
    }
    m->loc_cdf[m->L - 1] = 1.0;
}

/* LOCATION_BOOSTED distinct categories per location; per device
 * rb_gen_device_boost_count categories, repeats allowed. */
static void draw_boosts(struct model *m, struct rng *r)
{
    m->n_loc_boost = m->K < LOCATION_BOOSTED ? m->K : LOCATION_BOOSTED;
    for (uint32_t l = 0; l < m->L; l++)
        for (uint32_t b = 0; b < m->n_loc_boost; b++) {
            uint32_t k;
            int dup;
            do {
                k = rng_below(r, m->K);
                dup = 0;
                for (uint32_t c = 0; c < b; c++)
                    dup |= m->loc_boost[l][c] == k;
            } while (dup);
            m->loc_boost[l][b] = k;
        }
    for (uint32_t d = 0; d < RB_GEN_DEVICES; d++)
        for (uint32_t b = 0; b < rb_gen_device_boost_count[d]; b++)
            m->dev_boost[d][b] = rng_below(r, m->K);
}

/* Segment category tables: prior * location boost * device boost. */
static void build_segment_tables(struct model *m)
{
    uint32_t K = m->K;
    for (uint32_t l = 0; l < m->L; l++)
        for (uint32_t d = 0; d < RB_GEN_DEVICES; d++) {
            double *c = m->seg_cdf + ((size_t)l * RB_GEN_DEVICES + d) * K;
            for (uint32_t k = 0; k < K; k++)
                c[k] = m->cat_prior[k];
            for (uint32_t b = 0; b < m->n_loc_boost; b++)
                c[m->loc_boost[l][b]] *= LOCATION_BOOST;
            for (uint32_t b = 0; b < rb_gen_device_boost_count[d] && b < K; b++)
                c[m->dev_boost[d][b]] *= DEVICE_BOOST; /* a repeated pick boosts twice */
            make_cdf(c, K);
        }
}

/* Local hits: a few products each location favours whatever the category.
 * Drawn among products that have events, distinct. */
static void draw_local_hits(struct model *m, struct rng *r)
{
    uint32_t P = m->P;
    m->n_hits = P - m->new_count < RB_GEN_HITS_PER_LOCATION ? P - m->new_count : RB_GEN_HITS_PER_LOCATION;
    m->p_hit = m->n_hits ? P_VIEW_HIT : 0.0;
    for (uint32_t l = 0; l < m->L; l++)
        for (uint32_t h = 0; h < m->n_hits; h++) {
            uint32_t j = rng_below(r, P);
            for (uint32_t tries = 0;; tries++) {
                int bad = (m->flags[j] & PF_NEW) != 0;
                for (uint32_t c = 0; c < h && !bad; c++)
                    bad = m->hits[l][c] == j;
                if (!bad)
                    break;
                j = tries < 64 ? rng_below(r, P) : (j + 1) % P;
            }
            m->hits[l][h] = j;
        }
}

/* Session devices: the cookie's own with SESSION_DEVICE_STICKY, else one
 * of the other two. */
static void set_session_device_shares(struct model *m)
{
    for (uint32_t d = 0; d < RB_GEN_DEVICES; d++) {
        m->dev_session_share[d] = 0.0;
        for (uint32_t p = 0; p < RB_GEN_DEVICES; p++)
            m->dev_session_share[d] += rb_gen_device_primary_share[p] *
                                       (p == d ? SESSION_DEVICE_STICKY : (1.0 - SESSION_DEVICE_STICKY) / 2.0);
    }
}

/* Expected share of category draws over all segments, by their traffic. */
static void mix_categories(struct model *m)
{
    for (uint32_t l = 0; l < m->L; l++)
        for (uint32_t d = 0; d < RB_GEN_DEVICES; d++) {
            const double *c = seg_cdf_of(m, l, d);
            double w = m->loc_share[l] * m->dev_session_share[d];
            for (uint32_t k = 0; k < m->K; k++)
                m->cat_mix[k] += w * cdf_mass(c, k);
        }
}

/* Expected shares of views: (1 - hit) * category mix * within-category
 * share, plus the hit mass (schemas/recgen.md). */
static void set_expected_shares(struct model *m)
{
    for (uint32_t k = 0; k < m->K; k++) {
        double total = m->cat_weight[k];
        for (uint32_t i = m->cat_off[k]; i < m->cat_off[k + 1]; i++) {
            uint32_t j = m->cat_prods[i];
            m->share[j] = (1.0 - m->p_hit) * m->cat_mix[k] * rb_gen_product_weight(m, j) / total;
        }
    }
    for (uint32_t l = 0; l < m->L; l++)
        for (uint32_t h = 0; h < m->n_hits; h++)
            m->share[m->hits[l][h]] += m->p_hit * m->loc_share[l] / m->n_hits;
}

/* Global popularity rank by expected share, 1-based. */
static int rank_products(struct model *m, char *err)
{
    struct ranked *order = malloc(sizeof(*order) * m->P);
    if (!order)
        return rc_fail(err, -ENOMEM, "out of memory for the product ranks");
    for (uint32_t j = 0; j < m->P; j++) {
        order[j].share = m->share[j];
        order[j].j = j;
    }
    qsort(order, m->P, sizeof(*order), rb_gen_ranked_cmp);
    for (uint32_t i = 0; i < m->P; i++)
        m->rank[order[i].j] = i + 1;
    free(order);
    return 0;
}

/* --------------------------------------------------------------- model */

void rb_gen_model_free(struct model *m)
{
    free(m->cat);
    free(m->cluster);
    free(m->flags);
    free(m->within);
    free(m->rank);
    free(m->share);
    free(m->pid);
    free(m->cat_name);
    free(m->cat_off);
    free(m->cat_prods);
    free(m->alias_prob);
    free(m->alias_idx);
    free(m->cat_prior);
    free(m->cat_weight);
    free(m->cat_mix);
    free(m->seg_cdf);
    memset(m, 0, sizeof(*m));
}

/* The catalog: names, categories, flags, within-category popularity. */
static int build_catalog(struct model *m, struct rng *r, char *err)
{
    name_categories(m);
    name_products(m);
    int rc = deal_products(m, r, err);
    if (rc)
        return rc;
    draw_product_flags(m, r);
    weigh_categories(m);
    rc = build_alias_tables(m, err);
    if (rc)
        return rc;
    return draw_category_prior(m, r, err);
}

/* The segments: traffic, boosts, category tables, hits. */
static void build_segments(struct model *m, struct rng *r)
{
    set_location_shares(m);
    draw_boosts(m, r);
    build_segment_tables(m);
    draw_local_hits(m, r);
    set_session_device_shares(m);
}

int rb_gen_model_build(struct model *m, const struct rb_gen_config *cfg, char *err)
{
    model_size(m, cfg);
    int rc = model_alloc(m, err);
    struct rng r;
    rng_seed_for(&r, cfg->seed, DOMAIN_MODEL, 0);
    if (rc == 0)
        rc = build_catalog(m, &r, err);
    if (rc == 0) {
        build_segments(m, &r);
        mix_categories(m);
        set_expected_shares(m);
        rc = rank_products(m, err);
    }
    if (rc)
        rb_gen_model_free(m);
    return rc;
}
