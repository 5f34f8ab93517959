/*
 * rules.c - build-time business rules (rules.h, schemas/rules.md): the
 * rules file parsed and checked, and applied to recbuild's lists.
 */
#include "rules.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "file.h"
#include "json.h"
#include "keys.h"

const char *const rb_rules_sim_names[] = {"auto", "embeddings", "categories", NULL};

/* The list DBs a rule may name, in rc_db order (RC_DB_COOKIE..RC_DB_CATEGORY). */
static const char *const db_names[RB_RULES_DBS] = {"cookie", "product", "segment", "coview", "cookie_b", "category"};
#define ALL_DBS ((1u << RB_RULES_DBS) - 1)
/* A category list holds one category: only an exclusion can change it. */
#define CATEGORY_DB (1u << RC_DB_CATEGORY)

/* Category names, as given (not NUL-safe: compared by length). */
struct names {
    char **s;
    size_t *len;
    uint32_t n;
};

struct seg_rule {
    char *loc, *dev;   /* NULL: any ("*" or absent) */
    size_t loc_len, dev_len;
    struct names exclude, boost;
    double *factor;    /* [boost.n] */
};

struct rb_rules {
    struct names exclude;   /* top-level exclusion */
    unsigned exclude_dbs;
    struct seg_rule *seg;
    uint32_t nseg;
    int have_mmr, mmr_sim;
    double mmr_weight;
    unsigned mmr_dbs;
    int have_cap;
    uint32_t cap_max;
    unsigned cap_dbs;
};

/* ---- parsing ---- */

static void names_free(struct names *n)
{
    for (uint32_t i = 0; n->s && i < n->n; i++)
        free(n->s[i]);
    free(n->s);
    free(n->len);
}

void rb_rules_free(struct rb_rules *r)
{
    if (!r)
        return;
    names_free(&r->exclude);
    for (uint32_t i = 0; i < r->nseg; i++) {
        struct seg_rule *s = &r->seg[i];
        free(s->loc);
        free(s->dev);
        names_free(&s->exclude);
        names_free(&s->boost);
        free(s->factor);
    }
    free(r->seg);
    free(r);
}

/* obj is an object of known keys only, each once. where: "" or "segments[2]: ". */
static int check_object(const struct rc_json *obj, const char *where, const char *what,
                        const char *const *known, char *err)
{
    if (!obj || obj->type != RC_JSON_OBJ)
        return rc_fail(err, RC_EFORMAT, "%s%s: expected an object", where, what);
    const char *dup = rc_json_repeated_key(obj), *unknown;
    if (dup)
        return rc_fail(err, RC_EFORMAT, "%s%s: key '%.64s' given twice", where, what, dup);
    if ((unknown = rc_json_unknown_key(obj, known)) != NULL)
        return rc_fail(err, RC_EFORMAT, "%s%s: unknown key '%.64s'", where, what, unknown);
    return 0;
}

/* A category name or a segment field: 1..RC_ID_MAX bytes. */
static int get_id(const struct rc_json *v, const char *where, const char *what, char err[])
{
    if (v->type != RC_JSON_STR)
        return rc_fail(err, RC_EFORMAT, "%s%s: expected a string", where, what);
    if (v->str_len < 1 || v->str_len > RC_ID_MAX)
        return rc_fail(err, RC_EFORMAT, "%s%s: '%.64s' is not 1..%d bytes", where, what, v->str, RC_ID_MAX);
    return 0;
}

static int names_add(struct names *n, const char *s, size_t len)
{
    char **ns = realloc(n->s, (n->n + 1) * sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    n->s = ns;
    size_t *nl = realloc(n->len, (n->n + 1) * sizeof(*nl));
    if (!nl)
        return -ENOMEM;
    n->len = nl;
    if (!(n->s[n->n] = malloc(len + 1)))
        return -ENOMEM;
    memcpy(n->s[n->n], s, len);
    n->s[n->n][len] = 0;
    n->len[n->n++] = len;
    return 0;
}

static int names_has(const struct names *n, const char *s, size_t len)
{
    for (uint32_t i = 0; i < n->n; i++)
        if (n->len[i] == len && memcmp(n->s[i], s, len) == 0)
            return 1;
    return 0;
}

/* An array of 1..RB_RULES_CATEGORIES_MAX distinct category names. */
static int get_categories(const struct rc_json *v, const char *where, const char *what, struct names *out,
                          char *err)
{
    if (v->type != RC_JSON_ARR || !v->child)
        return rc_fail(err, RC_EFORMAT, "%s%s: expected a non-empty array of category names", where, what);
    uint32_t i = 0;
    for (const struct rc_json *c = v->child; c; c = c->next, i++) {
        char item[96];
        snprintf(item, sizeof(item), "%s[%u]", what, i);
        if (i >= RB_RULES_CATEGORIES_MAX)
            return rc_fail(err, RC_EFORMAT, "%s%s: more than %d categories", where, what, RB_RULES_CATEGORIES_MAX);
        int rc = get_id(c, where, item, err);
        if (rc)
            return rc;
        if (names_has(out, c->str, c->str_len))
            return rc_fail(err, RC_EFORMAT, "%s%s: category '%.64s' listed twice", where, what, c->str);
        if (names_add(out, c->str, c->str_len) != 0)
            return rc_fail(err, -ENOMEM, "out of memory");
    }
    return 0;
}

/* "lists": a non-empty array of distinct list DB names, into a bit mask;
 * "category" only where the rule is an exclusion (with_category). */
static int get_lists(const struct rc_json *v, const char *where, int with_category, unsigned *out, char *err)
{
    if (v->type != RC_JSON_ARR || !v->child)
        return rc_fail(err, RC_EFORMAT, "%slists: expected a non-empty array of cookie, cookie_b, product, "
                       "coview, segment%s", where, with_category ? ", category" : "");
    unsigned mask = 0;
    for (const struct rc_json *c = v->child; c; c = c->next) {
        unsigned bit = 0;
        for (int db = 0; c->type == RC_JSON_STR && db < RB_RULES_DBS; db++)
            if (strlen(db_names[db]) == c->str_len && memcmp(c->str, db_names[db], c->str_len) == 0)
                bit = 1u << db;
        if (bit == CATEGORY_DB && !with_category)
            return rc_fail(err, RC_EFORMAT, "%slists: 'category': a category list holds one category, only an "
                           "exclusion applies to it", where);
        if (!bit)
            return rc_fail(err, RC_EFORMAT, "%slists: '%.64s' is not a kind of list (cookie, cookie_b, product, "
                           "coview, segment%s)", where, c->type == RC_JSON_STR ? c->str : "(not a string)",
                           with_category ? ", category" : "");
        if (mask & bit)
            return rc_fail(err, RC_EFORMAT, "%slists: '%s' listed twice", where, c->str);
        mask |= bit;
    }
    *out = mask;
    return 0;
}

static int parse_exclude(const struct rc_json *v, struct rb_rules *r, char *err)
{
    static const char *const known[] = {"categories", "lists", NULL};
    int rc = check_object(v, "", "exclude", known, err);
    if (rc)
        return rc;
    const struct rc_json *c = rc_json_get(v, "categories"), *l = rc_json_get(v, "lists");
    if (!c)
        return rc_fail(err, RC_EFORMAT, "exclude: lacks categories");
    if ((rc = get_categories(c, "exclude: ", "categories", &r->exclude, err)) != 0)
        return rc;
    r->exclude_dbs = ALL_DBS;
    return l ? get_lists(l, "exclude: ", 1, &r->exclude_dbs, err) : 0;
}

static int parse_mmr(const struct rc_json *v, struct rb_rules *r, char *err)
{
    static const char *const known[] = {"weight", "similarity", "lists", NULL};
    int rc = check_object(v, "", "mmr", known, err);
    if (rc)
        return rc;
    const struct rc_json *w = rc_json_get(v, "weight"), *s = rc_json_get(v, "similarity"), *l = rc_json_get(v, "lists");
    if (!w)
        return rc_fail(err, RC_EFORMAT, "mmr: lacks a weight");
    if (w->type != RC_JSON_NUM || !(w->num >= 0 && w->num <= 1))
        return rc_fail(err, RC_EFORMAT, "mmr: weight: expected a number within [0, 1] (0: no rerank, 1: "
                       "similarity alone)");
    r->have_mmr = 1;
    r->mmr_weight = w->num;
    r->mmr_sim = RB_SIM_AUTO;
    if (s) {
        int found = -1;
        for (int i = 0; s->type == RC_JSON_STR && rb_rules_sim_names[i]; i++)
            if (strcmp(s->str, rb_rules_sim_names[i]) == 0 && strlen(rb_rules_sim_names[i]) == s->str_len)
                found = i;
        if (found < 0)
            return rc_fail(err, RC_EFORMAT, "mmr: similarity: '%.64s' is not auto, embeddings or categories",
                           s->type == RC_JSON_STR ? s->str : "(not a string)");
        r->mmr_sim = found;
    }
    r->mmr_dbs = (1u << RC_DB_COOKIE) | (1u << RC_DB_COOKIE_B) | (1u << RC_DB_SEGMENT);
    return l ? get_lists(l, "mmr: ", 0, &r->mmr_dbs, err) : 0;
}

static int parse_cap(const struct rc_json *v, struct rb_rules *r, char *err)
{
    static const char *const known[] = {"max", "lists", NULL};
    int rc = check_object(v, "", "category_cap", known, err);
    if (rc)
        return rc;
    const struct rc_json *m = rc_json_get(v, "max"), *l = rc_json_get(v, "lists");
    if (!m)
        return rc_fail(err, RC_EFORMAT, "category_cap: lacks max");
    if (m->type != RC_JSON_NUM || m->num != floor(m->num) || !(m->num >= 1 && m->num <= RC_LIST_MAX))
        return rc_fail(err, RC_EFORMAT, "category_cap: max: expected an integer within 1..%d", RC_LIST_MAX);
    r->have_cap = 1;
    r->cap_max = (uint32_t)m->num;
    /* not the image lists: they are nearly all one category, and a cap would cut them to max */
    r->cap_dbs = ALL_DBS & ~CATEGORY_DB & ~(1u << RC_DB_PRODUCT);
    return l ? get_lists(l, "category_cap: ", 0, &r->cap_dbs, err) : 0;
}

/* "location" / "device": a name, or "*" for any (s stays NULL). */
static int get_segment_field(const struct rc_json *v, const char *where, const char *what, char **s, size_t *len,
                             char *err)
{
    int rc = get_id(v, where, what, err);
    if (rc)
        return rc;
    if (v->str_len == 1 && v->str[0] == '*')
        return 0;
    if (!(*s = malloc(v->str_len + 1)))
        return rc_fail(err, -ENOMEM, "out of memory");
    memcpy(*s, v->str, v->str_len + 1);
    *len = v->str_len;
    return 0;
}

static int get_boost(const struct rc_json *v, const char *where, struct seg_rule *s, char *err)
{
    if (v->type != RC_JSON_OBJ || !v->child)
        return rc_fail(err, RC_EFORMAT, "%sboost: expected a non-empty object {\"category\": factor}", where);
    const char *dup = rc_json_repeated_key(v);
    if (dup)
        return rc_fail(err, RC_EFORMAT, "%sboost: category '%.64s' given twice", where, dup);
    uint32_t n = 0;
    for (const struct rc_json *c = v->child; c; c = c->next)
        n++;
    if (n > RB_RULES_CATEGORIES_MAX)
        return rc_fail(err, RC_EFORMAT, "%sboost: more than %d categories", where, RB_RULES_CATEGORIES_MAX);
    if (!(s->factor = malloc(n * sizeof(*s->factor))))
        return rc_fail(err, -ENOMEM, "out of memory");
    for (const struct rc_json *c = v->child; c; c = c->next) {
        size_t len = strlen(c->key);
        if (len < 1 || len > RC_ID_MAX)
            return rc_fail(err, RC_EFORMAT, "%sboost: category '%.64s' is not 1..%d bytes", where, c->key,
                           RC_ID_MAX);
        if (c->type != RC_JSON_NUM || !(c->num > 0 && c->num <= RB_RULES_BOOST_MAX))
            return rc_fail(err, RC_EFORMAT, "%sboost: '%.64s': expected a factor within (0, %g] (1: no change)",
                           where, c->key, RB_RULES_BOOST_MAX);
        if (names_has(&s->exclude, c->key, len))
            return rc_fail(err, RC_EFORMAT, "%scategory '%.64s' both excluded and boosted", where, c->key);
        s->factor[s->boost.n] = c->num;
        if (names_add(&s->boost, c->key, len) != 0)
            return rc_fail(err, -ENOMEM, "out of memory");
    }
    return 0;
}

static int parse_segment(const struct rc_json *v, uint32_t i, struct seg_rule *s, char *err)
{
    static const char *const known[] = {"location", "device", "exclude", "boost", NULL};
    char where[48], what[32];
    snprintf(where, sizeof(where), "segments[%u]: ", i);
    snprintf(what, sizeof(what), "segments[%u]", i);
    int rc = check_object(v, "", what, known, err);
    if (rc)
        return rc;
    const struct rc_json *loc = rc_json_get(v, "location"), *dev = rc_json_get(v, "device"),
                         *ex = rc_json_get(v, "exclude"), *bo = rc_json_get(v, "boost");
    if (loc && (rc = get_segment_field(loc, where, "location", &s->loc, &s->loc_len, err)) != 0)
        return rc;
    if (dev && (rc = get_segment_field(dev, where, "device", &s->dev, &s->dev_len, err)) != 0)
        return rc;
    if (!ex && !bo)
        return rc_fail(err, RC_EFORMAT, "%slacks exclude and boost; a segment rule has one or both", where);
    if (ex && (rc = get_categories(ex, where, "exclude", &s->exclude, err)) != 0)
        return rc;
    return bo ? get_boost(bo, where, s, err) : 0;
}

static int parse_segments(const struct rc_json *v, struct rb_rules *r, char *err)
{
    if (v->type != RC_JSON_ARR || !v->child)
        return rc_fail(err, RC_EFORMAT, "segments: expected a non-empty array of segment rules");
    uint32_t n = 0;
    for (const struct rc_json *c = v->child; c; c = c->next)
        n++;
    if (n > RB_RULES_SEGMENTS_MAX)
        return rc_fail(err, RC_EFORMAT, "segments: more than %d rules", RB_RULES_SEGMENTS_MAX);
    if (!(r->seg = calloc(n, sizeof(*r->seg))))
        return rc_fail(err, -ENOMEM, "out of memory");
    for (const struct rc_json *c = v->child; c; c = c->next) {
        int rc = parse_segment(c, r->nseg, &r->seg[r->nseg], err);
        r->nseg++; /* counted even when it failed: rb_rules_free releases what it holds */
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_doc(const struct rc_json *doc, struct rb_rules *r, char *err)
{
    static const char *const known[] = {"exclude", "segments", "mmr", "category_cap", NULL};
    if (doc->type != RC_JSON_OBJ)
        return rc_fail(err, RC_EFORMAT, "expected a JSON object of exclude, segments, mmr, category_cap");
    int rc = check_object(doc, "", "top level", known, err);
    if (rc)
        return rc;
    if (!doc->child)
        return rc_fail(err, RC_EFORMAT, "no rules: give at least one of exclude, segments, mmr, category_cap");
    const struct rc_json *v;
    if ((v = rc_json_get(doc, "exclude")) && (rc = parse_exclude(v, r, err)) != 0)
        return rc;
    if ((v = rc_json_get(doc, "segments")) && (rc = parse_segments(v, r, err)) != 0)
        return rc;
    if ((v = rc_json_get(doc, "mmr")) && (rc = parse_mmr(v, r, err)) != 0)
        return rc;
    if ((v = rc_json_get(doc, "category_cap")) && (rc = parse_cap(v, r, err)) != 0)
        return rc;
    return 0;
}

int rb_rules_parse(const char *text, size_t len, struct rb_rules **out, char *err)
{
    *out = NULL;
    if (len > RB_RULES_FILE_MAX)
        return rc_fail(err, RC_ETOOLONG, "%zu bytes, more than the %d a rules file may take", len,
                       RB_RULES_FILE_MAX);
    struct rc_json *doc = NULL;
    char why[RC_ERRMSG_MAX];
    int rc = rc_json_parse(text, len, &doc, why);
    if (rc)
        return rc == -ENOMEM ? rc_fail(err, rc, "out of memory") : rc_fail(err, RC_EFORMAT, "not JSON: %s", why);
    struct rb_rules *r = calloc(1, sizeof(*r));
    if (!r) {
        rc_json_free(doc);
        return rc_fail(err, -ENOMEM, "out of memory");
    }
    rc = parse_doc(doc, r, err);
    rc_json_free(doc);
    if (rc) {
        rb_rules_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int rb_rules_read(const char *path, struct rb_rules **out, char *err)
{
    *out = NULL;
    char *buf;
    size_t got;
    int rc = rc_read_small_file(path, RB_RULES_FILE_MAX, "a rules file", &buf, &got, err);
    if (rc)
        return rc;
    char why[RC_ERRMSG_MAX];
    if ((rc = rb_rules_parse(buf, got, out, why)) != 0)
        rc_fail(err, rc, "'%s': %s", path, why);
    free(buf);
    return rc;
}

/* Append printf text at out + *at (cap bytes in all), truncating. */
static void put(char *out, size_t cap, size_t *at, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *out, size_t cap, size_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(*at < cap ? out + *at : NULL, *at < cap ? cap - *at : 0, fmt, ap);
    va_end(ap);
    if (w > 0)
        *at += (size_t)w;
}

/* "/cookie+segment": the kinds of list a rule is on, unless all (`all`). */
static void put_dbs(char *out, size_t cap, size_t *at, unsigned dbs, unsigned all)
{
    if (dbs == all)
        return;
    for (int db = 0; db < RB_RULES_DBS; db++)
        if (dbs & (1u << db))
            put(out, cap, at, "%s%s", (dbs & ((1u << db) - 1)) ? "+" : "/", db_names[db]);
}

void rb_rules_describe(const struct rb_rules *r, char *out, size_t cap)
{
    size_t at = 0;
    if (cap)
        out[0] = 0;
    put(out, cap, &at, "exclude=%u", r->exclude.n);
    put_dbs(out, cap, &at, r->exclude_dbs, ALL_DBS);
    put(out, cap, &at, " segments=%u", r->nseg);
    if (r->have_mmr) {
        put(out, cap, &at, " mmr=%g/%s", r->mmr_weight, rb_rules_sim_names[r->mmr_sim]);
        put_dbs(out, cap, &at, r->mmr_dbs, 0);
    } else {
        put(out, cap, &at, " mmr=none");
    }
    if (r->have_cap) {
        put(out, cap, &at, " cap=%u", r->cap_max);
        put_dbs(out, cap, &at, r->cap_dbs, ALL_DBS & ~CATEGORY_DB);
    } else {
        put(out, cap, &at, " cap=none");
    }
}

int rb_rules_touch(const struct rb_rules *r, int db)
{
    if (db < 0 || db >= RB_RULES_DBS)
        return 0;
    unsigned bit = 1u << db;
    return (r->exclude.n && (r->exclude_dbs & bit)) || (r->nseg && db == RC_DB_SEGMENT) ||
           (r->have_mmr && r->mmr_weight > 0 && (r->mmr_dbs & bit)) || (r->have_cap && (r->cap_dbs & bit));
}

/* ---- applying ---- */

/* A segment rule resolved against the dataset. */
struct seg_plan {
    int all;           /* matches every segment list */
    uint64_t *keys;    /* sorted owner keys it matches (when !all) */
    size_t nkeys;
    uint32_t *exclude; /* category indices */
    uint32_t nexclude;
    uint32_t *boost;   /* category indices, with factor[] */
    double *factor;
    uint32_t nboost;
    uint8_t hit;       /* matched a list */
};

/* What one apply call works from. */
struct plan {
    const struct rb_rules *r;
    const struct rb_dataset *d;
    int db;
    uint8_t *excluded;     /* [categories] top-level exclusion on this db, or NULL */
    struct seg_plan *seg;  /* [r->nseg] (NULL without segment rules); keys only on the segment db */
    int mmr, cap, sim;     /* this db's: MMR rerank, cap, enum rb_rules_sim resolved (not AUTO) */
    int32_t *emb_row;      /* [products] embedding row or -1, when sim is EMBEDDINGS */
    uint32_t unknown;
};

/* Per-thread scratch, k entries each. */
struct scratch {
    uint32_t *items, *order, *pos, *kept, *cat_of, *match;
    float *scores, *kept_scores;
    double *rank, *maxsim;
    uint8_t *done, *has_emb;
    float *emb;            /* [k][dim]: the candidates' embeddings, in order[] order (MMR by embeddings) */
    uint32_t keep;         /* entries a list stores at most (0: all) */
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_float_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : x < y;
}

static uint32_t category_of(const struct rb_dataset *d, uint32_t p)
{
    return d->category && p < d->products.n ? d->category[p] : RB_NONE;
}

/* Category indices of names, unknown ones counted and left out. */
static int resolve(const struct names *n, const struct rb_dataset *d, uint32_t **out, uint32_t *nout,
                   uint32_t *unknown)
{
    *nout = 0;
    if (!(*out = malloc((n->n ? n->n : 1) * sizeof(**out))))
        return -ENOMEM;
    for (uint32_t i = 0; i < n->n; i++) {
        uint32_t c = d->categories.n ? rb_strtab_find(&d->categories, n->s[i], n->len[i]) : RB_NONE;
        if (c == RB_NONE)
            (*unknown)++;
        else
            (*out)[(*nout)++] = c;
    }
    return 0;
}

/* The segment keys a rule with one side given matches: (given, *) and
 * (given, x) for every x the other side's table holds. */
static int segment_keys(struct seg_plan *p, const struct seg_rule *s, const struct rb_dataset *d)
{
    if (!s->loc && !s->dev) {
        p->all = 1;
        return 0;
    }
    const struct rb_strtab *other = s->loc ? &d->devices : &d->locs;
    size_t n = s->loc && s->dev ? 1 : (size_t)other->n + 1;
    if (!(p->keys = malloc(n * sizeof(*p->keys))))
        return -ENOMEM;
    if (s->loc && s->dev) {
        p->keys[p->nkeys++] = rc_segment_key(s->loc, s->loc_len, s->dev, s->dev_len);
        return 0;
    }
    const char *given = s->loc ? s->loc : s->dev;
    size_t glen = s->loc ? s->loc_len : s->dev_len;
    p->keys[p->nkeys++] =
        s->loc ? rc_segment_key(given, glen, RC_WILDCARD, 1) : rc_segment_key(RC_WILDCARD, 1, given, glen);
    for (uint32_t i = 0; i < other->n; i++) {
        size_t len;
        const char *x = rb_strtab_str(other, i, &len);
        p->keys[p->nkeys++] = s->loc ? rc_segment_key(given, glen, x, len) : rc_segment_key(x, len, given, glen);
    }
    qsort(p->keys, p->nkeys, sizeof(*p->keys), cmp_u64);
    return 0;
}

static void plan_release(struct plan *p)
{
    free(p->excluded);
    for (uint32_t i = 0; p->seg && i < p->r->nseg; i++) {
        free(p->seg[i].keys);
        free(p->seg[i].exclude);
        free(p->seg[i].boost);
    }
    free(p->seg);
    free(p->emb_row);
}

static int plan_build(struct plan *p, const struct rb_rules *r, const struct rb_dataset *d, int db)
{
    memset(p, 0, sizeof(*p));
    p->r = r;
    p->d = d;
    p->db = db;
    unsigned bit = 1u << db;
    uint32_t ncat = d->categories.n, *idx = NULL, nidx = 0;
    /* Unknown names are counted over the whole file, whichever lists they touch. */
    if (resolve(&r->exclude, d, &idx, &nidx, &p->unknown) != 0)
        return -ENOMEM;
    if (r->exclude.n && (r->exclude_dbs & bit) && nidx) {
        if (!(p->excluded = calloc(ncat, 1))) {
            free(idx);
            return -ENOMEM;
        }
        for (uint32_t i = 0; i < nidx; i++)
            p->excluded[idx[i]] = 1;
    }
    free(idx);
    if (r->nseg && !(p->seg = calloc(r->nseg, sizeof(*p->seg))))
        return -ENOMEM;
    for (uint32_t i = 0; i < r->nseg; i++) {
        struct seg_plan *sp = &p->seg[i];
        const struct seg_rule *s = &r->seg[i];
        uint32_t *bidx = NULL;
        if (resolve(&s->exclude, d, &sp->exclude, &sp->nexclude, &p->unknown) != 0 ||
            resolve(&s->boost, d, &bidx, &sp->nboost, &p->unknown) != 0) {
            free(bidx);
            return -ENOMEM;
        }
        /* factors of the known names, in the same order */
        sp->boost = bidx;
        sp->factor = s->factor;
        if (sp->nboost != s->boost.n) {
            double *f = malloc((s->boost.n ? s->boost.n : 1) * sizeof(*f));
            if (!f)
                return -ENOMEM;
            uint32_t k = 0;
            for (uint32_t j = 0; j < s->boost.n; j++)
                if (d->categories.n && rb_strtab_find(&d->categories, s->boost.s[j], s->boost.len[j]) != RB_NONE)
                    f[k++] = s->factor[j];
            sp->factor = f; /* freed below as owned: marked by differing pointer */
        }
        if (db == RC_DB_SEGMENT && segment_keys(sp, s, d) != 0)
            return -ENOMEM;
    }
    p->mmr = r->have_mmr && r->mmr_weight > 0 && (r->mmr_dbs & bit);
    p->cap = r->have_cap && (r->cap_dbs & bit);
    p->sim = r->mmr_sim == RB_SIM_AUTO ? (d->emb_rows ? RB_SIM_EMBEDDINGS : RB_SIM_CATEGORIES) : r->mmr_sim;
    if (p->mmr && p->sim == RB_SIM_EMBEDDINGS && d->emb_rows) {
        if (!(p->emb_row = malloc((d->products.n ? d->products.n : 1) * sizeof(*p->emb_row))))
            return -ENOMEM;
        for (uint32_t i = 0; i < d->products.n; i++)
            p->emb_row[i] = -1;
        for (uint32_t row = 0; row < d->emb_rows; row++)
            if (d->emb_product[row] < d->products.n && p->emb_row[d->emb_product[row]] < 0)
                p->emb_row[d->emb_product[row]] = (int32_t)row;
    }
    return 0;
}

/* The boost factors the plan owns (those copied for unknown names). */
static void plan_release_factors(struct plan *p)
{
    for (uint32_t i = 0; p->seg && i < p->r->nseg; i++)
        if (p->seg[i].factor != p->r->seg[i].factor)
            free(p->seg[i].factor);
}

/*
 * x . y over n floats, in eight partial sums: the compiler vectorises them,
 * where a single running sum is a chain it may not reorder. The MMR rerank
 * of CF lists spends its time here. On recgen data with 16,277 CF lists,
 * 60 candidates each and 64-d embeddings (2 threads, loaded machine), the
 * rules stage (MMR at 0.3) took 2.7 s with a double sum, 1.7-1.9 s with
 * this one (gathering each list's rows into one block, as rerank_mmr does,
 * changed nothing measurable there), and 1.1 s once the picks stopped at
 * keep; the same figures to four places each time.
 */
static float dot(const float *x, const float *y, uint32_t n)
{
    float acc[8] = {0};
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += x[i + j] * y[i + j];
    float sum = 0;
    for (; i < n; i++)
        sum += x[i] * y[i];
    for (int j = 0; j < 8; j++)
        sum += acc[j];
    return sum;
}

/* Similarity in [0, 1] (enum rb_rules_sim) of the candidates at positions a
 * and b of sc->order, whose embeddings rerank_mmr gathered. */
static double similarity(const struct plan *p, const struct scratch *sc, uint32_t a, uint32_t b)
{
    if (sc->has_emb[a] && sc->has_emb[b]) {
        uint32_t dim = p->d->dim;
        float c = dot(sc->emb + (size_t)a * dim, sc->emb + (size_t)b * dim, dim);
        return c > 1 ? 1 : c > 0 ? c : 0;
    }
    uint32_t ca = sc->cat_of[sc->order[a]], cb = sc->cat_of[sc->order[b]];
    return ca != RB_NONE && ca == cb;
}

/* The rank score of s under factor f: away from zero in f's direction. */
static double boosted(float s, double f)
{
    return s >= 0 ? s * f : s / f;
}

/* Greedy MMR over order[0, m) (positions into sc->items), in place. Only
 * the entries a list can store need placing: without a cap to drop some
 * of them, the picks stop at keep and the rest follow in their order (the
 * keep step drops them). rank[] is spent here (it becomes the relevance). */
static void rerank_mmr(const struct plan *p, struct scratch *sc, uint32_t m)
{
    double w = p->r->mmr_weight, lo = INFINITY, hi = -INFINITY;
    uint32_t picks = !p->cap && sc->keep && sc->keep < m ? sc->keep : m;
    for (uint32_t j = 0; j < m; j++) {
        double v = sc->rank[sc->order[j]];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    for (uint32_t j = 0; j < m; j++) {
        double *rel = &sc->rank[sc->order[j]];
        *rel = hi > lo ? (*rel - lo) / (hi - lo) : 1.0;
        sc->maxsim[j] = 0;
        sc->done[j] = 0;
        int32_t row = p->emb_row ? p->emb_row[sc->items[sc->order[j]]] : -1;
        sc->has_emb[j] = row >= 0;
        if (row >= 0)
            memcpy(sc->emb + (size_t)j * p->d->dim, p->d->emb + (size_t)row * p->d->dim, p->d->dim * sizeof(float));
    }
    /* pos[] holds the new order, as indices into order[] */
    for (uint32_t t = 0; t < picks; t++) {
        uint32_t best = RB_NONE;
        double best_v = -INFINITY;
        for (uint32_t j = 0; j < m; j++) {
            if (sc->done[j])
                continue;
            double v = (1 - w) * sc->rank[sc->order[j]] - w * sc->maxsim[j];
            if (best == RB_NONE || v > best_v) {
                best = j;
                best_v = v;
            }
        }
        sc->done[best] = 1;
        sc->pos[t] = best;
        if (t + 1 == picks)
            break;
        for (uint32_t j = 0; j < m; j++)
            if (!sc->done[j]) {
                double s = similarity(p, sc, best, j);
                if (s > sc->maxsim[j])
                    sc->maxsim[j] = s;
            }
    }
    for (uint32_t j = 0, t = picks; j < m; j++)
        if (!sc->done[j])
            sc->pos[t++] = j;
    for (uint32_t t = 0; t < m; t++)
        sc->kept[t] = sc->order[sc->pos[t]];
    memcpy(sc->order, sc->kept, m * sizeof(*sc->order));
}

/* Stable sort of order[0, m) by rank, best first (ties: earlier position). */
static void sort_by_rank(struct scratch *sc, uint32_t m)
{
    for (uint32_t i = 1; i < m; i++) {
        uint32_t x = sc->order[i], j = i;
        while (j > 0 && sc->rank[sc->order[j - 1]] < sc->rank[x]) {
            sc->order[j] = sc->order[j - 1];
            j--;
        }
        sc->order[j] = x;
    }
}

/* Is category c excluded from list li (matching segment rules in match[0, nmatch))? */
static int excluded(const struct plan *p, const struct scratch *sc, uint32_t nmatch, uint32_t c)
{
    if (c == RB_NONE)
        return 0;
    if (p->excluded && p->excluded[c])
        return 1;
    for (uint32_t i = 0; i < nmatch; i++) {
        const struct seg_plan *s = &p->seg[sc->match[i]];
        for (uint32_t j = 0; j < s->nexclude; j++)
            if (s->exclude[j] == c)
                return 1;
    }
    return 0;
}

static double boost_of(const struct plan *p, const struct scratch *sc, uint32_t nmatch, uint32_t c)
{
    double f = 1.0;
    for (uint32_t i = 0; c != RB_NONE && i < nmatch; i++) {
        const struct seg_plan *s = &p->seg[sc->match[i]];
        for (uint32_t j = 0; j < s->nboost; j++)
            if (s->boost[j] == c)
                f *= s->factor[j];
    }
    return f;
}

/* The rules on list li of l. */
static void apply_list(struct plan *p, struct rb_lists *l, size_t li, struct scratch *sc, struct rb_rules_stats *st)
{
    uint32_t len = l->len[li];
    uint32_t *items = l->items + li * l->k;
    float *scores = l->scores + li * l->k;
    uint32_t nmatch = 0;
    if (p->db == RC_DB_SEGMENT)
        for (uint32_t i = 0; i < p->r->nseg; i++) {
            struct seg_plan *s = &p->seg[i];
            if (s->all || bsearch(&l->owner_key[li], s->keys, s->nkeys, sizeof(*s->keys), cmp_u64)) {
                sc->match[nmatch++] = i;
                __atomic_store_n(&s->hit, 1, __ATOMIC_RELAXED);
            }
        }
    memcpy(sc->items, items, len * sizeof(*items));
    memcpy(sc->scores, scores, len * sizeof(*scores));
    uint32_t plain = sc->keep && len > sc->keep ? sc->keep : len; /* what the list stores without rules */
    st->lists++;
    st->entries_before += plain;

    /* 1. exclude, 2. boost */
    uint32_t m = 0;
    int boosted_any = 0;
    for (uint32_t j = 0; j < len; j++) {
        uint32_t c = category_of(p->d, sc->items[j]);
        if (excluded(p, sc, nmatch, c)) {
            st->excluded++;
            continue;
        }
        double f = boost_of(p, sc, nmatch, c);
        boosted_any |= f != 1.0;
        sc->rank[j] = boosted(sc->scores[j], f);
        sc->cat_of[j] = c;
        sc->order[m++] = j;
    }
    if (boosted_any)
        sort_by_rank(sc, m);
    /* 3. mmr */
    if (p->mmr && m > 2)
        rerank_mmr(p, sc, m);
    /* 4. cap: pos[] holds (category, count) pairs of the categories seen so far */
    uint32_t kept = 0, ncats = 0;
    for (uint32_t t = 0; t < m && (!sc->keep || kept < sc->keep); t++) {
        uint32_t j = sc->order[t], c = sc->cat_of[j];
        if (p->cap && c != RB_NONE) {
            uint32_t i = 0;
            while (i < ncats && sc->pos[2 * i] != c)
                i++;
            if (i == ncats) {
                sc->pos[2 * ncats] = c;
                sc->pos[2 * ncats + 1] = 0;
                ncats++;
            }
            if (sc->pos[2 * i + 1] >= p->r->cap_max) {
                st->capped++;
                continue;
            }
            sc->pos[2 * i + 1]++;
        }
        sc->kept[kept++] = j;
    }
    /* the kept entries' own scores, best first, position by position */
    for (uint32_t t = 0; t < kept; t++)
        sc->kept_scores[t] = sc->scores[sc->kept[t]];
    qsort(sc->kept_scores, kept, sizeof(*sc->kept_scores), cmp_float_desc);
    int changed = kept != plain;
    for (uint32_t t = 0; t < kept; t++) {
        uint32_t j = sc->kept[t];
        if (t >= plain || items[t] != sc->items[j]) {
            changed = 1;
            st->moved++;
        }
        items[t] = sc->items[j];
        scores[t] = sc->kept_scores[t];
    }
    l->len[li] = (uint16_t)kept;
    st->entries_after += kept;
    st->changed += changed;
    st->emptied += kept == 0 && plain > 0;
}

uint32_t rb_rules_depth(const struct rb_rules *r, int db, uint32_t n)
{
    if (!r || !rb_rules_touch(r, db))
        return n;
    return n > RC_LIST_MAX / RB_RULES_DEPTH ? RC_LIST_MAX : n * RB_RULES_DEPTH;
}

int rb_rules_apply(const struct rb_rules *r, struct rb_lists *l, int db, uint32_t keep, const struct rb_dataset *d,
                   struct rb_rules_stats *st, char *err)
{
    memset(st, 0, sizeof(*st));
    if (db < 0 || db >= RB_RULES_DBS)
        return rc_fail(err, RC_ERANGE, "rules: %d is not a list DB", db);
    struct plan p;
    int rc = plan_build(&p, r, d, db);
    if (rc) {
        plan_release_factors(&p);
        plan_release(&p);
        return rc_fail(err, rc, "out of memory preparing the rules");
    }
    st->unknown_categories = p.unknown;
    int nt = omp_get_max_threads();
    size_t k = l->k ? l->k : 1, per = 2 * k; /* pos[] holds the cap's (category, count) pairs: 2k */
    /* One block per thread: double x 2k (rank, maxsim), float x 2k (scores, kept_scores), float x k x dim
     * (emb, when MMR reads embeddings), u32 x (items, order, kept, cat_of: k each; pos: 2k; match: nseg),
     * u8 x 2k (done, has_emb); blocks 64-byte apart. */
    size_t nseg = r->nseg ? r->nseg : 1, dim = p.emb_row ? d->dim : 0;
    size_t u32 = 4 * k + per + nseg, bytes = 2 * k * 8 + 2 * k * 4 + k * dim * 4 + u32 * 4 + 2 * k;
    bytes = (bytes + 63) / 64 * 64;
    unsigned char *mem = malloc((size_t)nt * bytes);
    if (!mem) {
        plan_release_factors(&p);
        plan_release(&p);
        return rc_fail(err, -ENOMEM, "out of memory applying the rules");
    }
    struct rb_rules_stats sum = *st;
    if (rb_rules_touch(r, db)) {
#pragma omp parallel num_threads(nt)
        {
            struct rb_rules_stats mine;
            memset(&mine, 0, sizeof(mine));
            unsigned char *b = mem + (size_t)omp_get_thread_num() * bytes;
            struct scratch sc;
            /* doubles first: aligned */
            sc.rank = (double *)b;
            sc.maxsim = sc.rank + k;
            sc.scores = (float *)(sc.maxsim + k);
            sc.kept_scores = sc.scores + k;
            sc.emb = sc.kept_scores + k;
            sc.items = (uint32_t *)(sc.emb + k * dim);
            sc.order = sc.items + k;
            sc.kept = sc.order + k;
            sc.cat_of = sc.kept + k;
            sc.pos = sc.cat_of + k;
            sc.match = sc.pos + per;
            sc.done = (uint8_t *)(sc.match + nseg);
            sc.has_emb = sc.done + k;
            sc.keep = keep;
#pragma omp for schedule(dynamic, 64)
            for (size_t li = 0; li < l->n; li++)
                apply_list(&p, l, li, &sc, &mine);
#pragma omp critical
            {
                sum.lists += mine.lists;
                sum.changed += mine.changed;
                sum.emptied += mine.emptied;
                sum.entries_before += mine.entries_before;
                sum.entries_after += mine.entries_after;
                sum.excluded += mine.excluded;
                sum.capped += mine.capped;
                sum.moved += mine.moved;
            }
        }
    } else {
        for (size_t li = 0; li < l->n; li++) {
            if (keep && l->len[li] > keep)
                l->len[li] = (uint16_t)keep;
            sum.lists++;
            sum.entries_before += l->len[li];
            sum.entries_after += l->len[li];
        }
    }
    if (db == RC_DB_SEGMENT)
        for (uint32_t i = 0; i < r->nseg; i++)
            sum.unmatched_segments += !p.seg[i].hit;
    *st = sum;
    free(mem);
    plan_release_factors(&p);
    plan_release(&p);
    return 0;
}
