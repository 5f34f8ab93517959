/*
 * gen_truth.c - the planted truth recgen writes beside the inputs:
 * truth_products.csv, truth_categories.csv, truth_segments.csv (contract
 * in gen_files.h, columns in schemas/recgen.md). No draws: everything comes
 * from the model.
 */
#include "gen_files.h"
#include "gen_out.h"

#include "error.h"

#include <stdio.h>

int rb_gen_write_truth_products(const struct model *m, const char *dir, char *err)
{
    struct rb_gen_out o;
    int rc = rb_gen_out_start(&o, dir, "truth_products.csv",
                              "product,category,cluster,popularity_rank,expected_share,in_stock,new\n", err);
    if (rc)
        return rc;
    for (uint32_t j = 0; j < m->P && rc == 0; j++)
        rc = rb_gen_out_printf(&o, err, "%.*s,%s,%u,%u,%.6e,%d,%d\n", (int)m->pid_len, product_id(m, j),
                               m->cat_name[m->cat[j]], m->cluster[j], m->rank[j], m->share[j],
                               (m->flags[j] & PF_IN_STOCK) != 0, (m->flags[j] & PF_NEW) != 0);
    return rb_gen_out_finish(&o, rc, err);
}

int rb_gen_write_truth_categories(const struct model *m, const char *dir, char *err)
{
    struct rb_gen_out o;
    int rc = rb_gen_out_start(&o, dir, "truth_categories.csv",
                              "category,prior,expected_share,products,new_products,out_of_stock\n", err);
    if (rc)
        return rc;
    for (uint32_t k = 0; k < m->K && rc == 0; k++) {
        uint32_t off = m->cat_off[k], n = m->cat_off[k + 1] - off, nnew = 0, noos = 0;
        double share = 0.0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t j = m->cat_prods[off + i];
            share += m->share[j];
            nnew += (m->flags[j] & PF_NEW) != 0;
            noos += (m->flags[j] & PF_IN_STOCK) == 0;
        }
        rc = rb_gen_out_printf(&o, err, "%s,%.6e,%.6e,%u,%u,%u\n", m->cat_name[k], m->cat_prior[k], share, n, nnew,
                               noos);
    }
    return rb_gen_out_finish(&o, rc, err);
}

/* ---------------------------------------------------------- segments */

enum { TOP = RB_GEN_TOP_PER_SEGMENT };

/* The TOP best candidates so far, best first (rb_gen_ranked_cmp). */
struct top {
    struct ranked item[TOP];
    uint32_t n;
};

static void top_offer(struct top *t, struct ranked cand)
{
    if (t->n == TOP && rb_gen_ranked_cmp(&cand, &t->item[TOP - 1]) >= 0)
        return;
    uint32_t pos = t->n < TOP ? t->n++ : TOP - 1;
    while (pos > 0 && rb_gen_ranked_cmp(&cand, &t->item[pos - 1]) < 0) {
        t->item[pos] = t->item[pos - 1];
        pos--;
    }
    t->item[pos] = cand;
}

/* Expected share in segment (l, d) of product j through its category
 * (without the hit mass); c is the segment's category table. */
static double segment_share(const struct model *m, const double *c, uint32_t j)
{
    uint32_t k = m->cat[j];
    return (1.0 - m->p_hit) * cdf_mass(c, k) * rb_gen_product_weight(m, j) / m->cat_weight[k];
}

/* Expected top products of segment (l, d). Candidates are each category's
 * first TOP products that are neither new nor hits (weights fall with the
 * within-rank, so no later one can beat them), and the location's hits
 * with their hit mass. */
static void segment_top(const struct model *m, uint32_t l, uint32_t d, struct top *t)
{
    const double *c = seg_cdf_of(m, l, d);
    t->n = 0;
    for (uint32_t k = 0; k < m->K; k++)
        for (uint32_t i = m->cat_off[k], taken = 0; i < m->cat_off[k + 1] && taken < TOP; i++) {
            uint32_t j = m->cat_prods[i];
            if ((m->flags[j] & PF_NEW) || rb_gen_is_hit(m, l, j))
                continue;
            taken++;
            top_offer(t, (struct ranked){segment_share(m, c, j), j});
        }
    for (uint32_t h = 0; h < m->n_hits; h++) {
        uint32_t j = m->hits[l][h];
        top_offer(t, (struct ranked){segment_share(m, c, j) + m->p_hit / m->n_hits, j});
    }
}

/* n strings joined by '|' at p; returns the end. */
static char *put_joined(char *p, const char *const *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            *p++ = '|';
        p = put_str(p, s[i]);
    }
    return p;
}

/* n product ids joined by '|' at p; returns the end. */
static char *put_products(char *p, const struct model *m, const uint32_t *js, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            *p++ = '|';
        p = put_mem(p, product_id(m, js[i]), m->pid_len);
    }
    return p;
}

/* One truth_segments line at p (at most OUT_LINE_MAX bytes); returns the end. */
static char *segment_line(char *p, const struct model *m, uint32_t l, uint32_t d, const struct top *t)
{
    const char *names[RB_GEN_MAX_LOCATIONS];
    uint32_t ids[TOP];
    p = put_str(p, rb_gen_location_codes[l]);
    *p++ = ',';
    p = put_str(p, rb_gen_device_names[d]);
    *p++ = ',';
    p += snprintf(p, 32, "%.6f", m->loc_share[l] * m->dev_session_share[d]);
    *p++ = ',';
    for (uint32_t b = 0; b < m->n_loc_boost; b++)
        names[b] = m->cat_name[m->loc_boost[l][b]];
    p = put_joined(p, names, m->n_loc_boost);
    *p++ = ',';
    uint32_t nd = 0;
    for (uint32_t b = 0; b < rb_gen_device_boost_count[d] && b < m->K; b++)
        names[nd++] = m->cat_name[m->dev_boost[d][b]];
    p = put_joined(p, names, nd);
    *p++ = ',';
    p = put_products(p, m, m->hits[l], m->n_hits);
    *p++ = ',';
    for (uint32_t i = 0; i < t->n; i++)
        ids[i] = t->item[i].j;
    p = put_products(p, m, ids, t->n);
    *p++ = '\n';
    return p;
}

/* One line per (location, device): the planted boosts and the expected top
 * products there. */
int rb_gen_write_truth_segments(const struct model *m, const char *dir, char *err)
{
    struct rb_gen_out o;
    int rc = rb_gen_out_start(&o, dir, "truth_segments.csv",
                              "location,device,event_share,location_categories,device_categories,"
                              "hit_products,expected_top\n",
                              err);
    if (rc)
        return rc;
    for (uint32_t l = 0; l < m->L && rc == 0; l++)
        for (uint32_t d = 0; d < RB_GEN_DEVICES && rc == 0; d++) {
            struct top t;
            segment_top(m, l, d, &t);
            rc = rb_gen_out_room(&o, OUT_LINE_MAX, err);
            if (rc == 0)
                o.len = (size_t)(segment_line(o.buf + o.len, m, l, d, &t) - o.buf);
        }
    return rb_gen_out_finish(&o, rc, err);
}
