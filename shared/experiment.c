/*
 * experiment.c - experiments.json parsed and checked, and the arm of a
 * cookie (experiment.h, schemas/experiments.md).
 */
#include "experiment.h"
#include "error.h"
#include "file.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static const char *const tier_names[] = {"image", "cf", "segment", "global"};

const char *rc_tier_name(unsigned tier)
{
    for (unsigned i = 0; i < sizeof(tier_names) / sizeof(tier_names[0]); i++)
        if (tier == 1u << i)
            return tier_names[i];
    return NULL;
}

unsigned rc_experiment_describe(const struct rc_experiment *x, char *out, size_t cap)
{
    unsigned covered = 0;
    size_t at = 0;
    if (cap)
        out[0] = 0;
    for (unsigned i = 0; i < x->narms; i++) {
        const struct rc_experiment_arm *a = &x->arms[i];
        unsigned n = (unsigned)(a->to - a->from);
        covered += n;
        int w = snprintf(at < cap ? out + at : NULL, at < cap ? cap - at : 0, "%s%s:%u.%02u%%%s%s", i ? "," : "", a->name, n / 100,
                         n % 100, a->holdout ? "(holdout)" : "", a->cf_db == RC_DB_COOKIE_B ? "(cookie_b)" : "");
        if (w > 0)
            at += (size_t)w;
    }
    return covered;
}

void rc_experiment_free(struct rc_experiment *x)
{
    free(x);
}

/* 1..64 bytes of [A-Za-z0-9._-]. */
static int valid_id(const char *s, size_t len)
{
    if (len < 1 || len > RC_EXPERIMENT_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* Where a fault is: "arms[1] ('treatment')", "arms[1]" before the name is
 * known, or "" at the top. */
struct where {
    char text[RC_EXPERIMENT_ID_MAX + 32];
};

static const char *at(const struct where *w)
{
    return w->text;
}

/* An ID member into out (RC_EXPERIMENT_ID_MAX + 1 bytes). */
static int get_id(const struct rc_json *v, const struct where *w, const char *key, char *out, char *err)
{
    if (v->type != RC_JSON_STR)
        return rc_fail(err, RC_EFORMAT, "%s%s: expected a string", at(w), key);
    if (!valid_id(v->str, v->str_len))
        return rc_fail(err, RC_EFORMAT, "%s%s: '%.*s' is not 1..%d bytes of [A-Za-z0-9._-]", at(w), key,
                       v->str_len > 80 ? 80 : (int)v->str_len, v->str, RC_EXPERIMENT_ID_MAX);
    memcpy(out, v->str, v->str_len + 1);
    return 0;
}

static int get_bool(const struct rc_json *v, const struct where *w, const char *key, int *out, char *err)
{
    if (v->type != RC_JSON_BOOL)
        return rc_fail(err, RC_EFORMAT, "%s%s: expected true or false", at(w), key);
    *out = v->num != 0;
    return 0;
}

static int check_keys(const struct rc_json *obj, const struct where *w, const char *const *known, char *err)
{
    const char *dup = rc_json_repeated_key(obj), *unknown;
    if (dup)
        return rc_fail(err, RC_EFORMAT, "%skey '%s' given twice", at(w), dup);
    if ((unknown = rc_json_unknown_key(obj, known)) != NULL)
        return rc_fail(err, RC_EFORMAT, "%sunknown key '%.64s'", at(w), unknown);
    return 0;
}

static int get_buckets(const struct rc_json *v, const struct where *w, struct rc_experiment_arm *a, char *err)
{
    const struct rc_json *from = v->type == RC_JSON_ARR ? v->child : NULL;
    const struct rc_json *to = from ? from->next : NULL;
    if (!from || !to || to->next || from->type != RC_JSON_NUM || to->type != RC_JSON_NUM)
        return rc_fail(err, RC_EFORMAT, "%sbuckets: expected [from, to], two integers", at(w));
    double f = from->num, t = to->num;
    if (f != floor(f) || t != floor(t) || !(f >= 0) || !(t <= RC_EXPERIMENT_BUCKETS) || !(f < t))
        return rc_fail(err, RC_EFORMAT, "%sbuckets: [%g, %g] is not [from, to) with 0 <= from < to <= %d, integers",
                       at(w), f, t, RC_EXPERIMENT_BUCKETS);
    a->from = (uint16_t)f;
    a->to = (uint16_t)t;
    return 0;
}

static int get_tiers(const struct rc_json *v, const struct where *w, struct rc_experiment_arm *a, char *err)
{
    if (v->type != RC_JSON_ARR)
        return rc_fail(err, RC_EFORMAT, "%stiers: expected an array of image, cf, segment, global", at(w));
    unsigned tiers = 0;
    for (const struct rc_json *t = v->child; t; t = t->next) {
        unsigned bit = 0;
        for (unsigned i = 0; t->type == RC_JSON_STR && i < sizeof(tier_names) / sizeof(tier_names[0]); i++)
            if (strcmp(t->str, tier_names[i]) == 0 && strlen(tier_names[i]) == t->str_len)
                bit = 1u << i;
        if (!bit)
            return rc_fail(err, RC_EFORMAT, "%stiers: '%.64s' is not a tier (image, cf, segment, global)", at(w),
                           t->type == RC_JSON_STR ? t->str : "(not a string)");
        if (tiers & bit)
            return rc_fail(err, RC_EFORMAT, "%stiers: '%s' listed twice", at(w), rc_tier_name(bit));
        tiers |= bit;
    }
    if (!tiers)
        return rc_fail(err, RC_EFORMAT, "%stiers: empty; an arm answers from at least one tier", at(w));
    a->tiers = tiers;
    return 0;
}

static int get_cf(const struct rc_json *v, const struct where *w, struct rc_experiment_arm *a, char *err)
{
    if (v->type != RC_JSON_STR)
        return rc_fail(err, RC_EFORMAT, "%scf: expected a string", at(w));
    if (strcmp(v->str, "cookie") == 0 && v->str_len == 6) {
        a->cf_db = RC_DB_COOKIE;
        return 0;
    }
    if (strcmp(v->str, "cookie_b") == 0 && v->str_len == 8) {
        a->cf_db = RC_DB_COOKIE_B;
        return 0;
    }
    return rc_fail(err, RC_EFORMAT, "%scf: '%.64s' is not a CF list ('cookie' or 'cookie_b')", at(w), v->str);
}

static int parse_arm(const struct rc_json *j, unsigned i, struct rc_experiment_arm *a, char *err)
{
    static const char *const known[] = {"name", "buckets", "control", "holdout", "tiers", "cf", NULL};
    struct where w;
    snprintf(w.text, sizeof(w.text), "arms[%u]: ", i);
    if (j->type != RC_JSON_OBJ)
        return rc_fail(err, RC_EFORMAT, "%sexpected an object", at(&w));
    const struct rc_json *name = rc_json_get(j, "name");
    if (!name)
        return rc_fail(err, RC_EFORMAT, "%slacks a name", at(&w));
    int rc = get_id(name, &w, "name", a->name, err);
    if (rc)
        return rc;
    snprintf(w.text, sizeof(w.text), "arms[%u] ('%s'): ", i, a->name);
    if ((rc = check_keys(j, &w, known, err)) != 0)
        return rc;
    a->tiers = RC_TIER_ALL;
    a->cf_db = RC_DB_COOKIE;
    const struct rc_json *v;
    if (!(v = rc_json_get(j, "buckets")))
        return rc_fail(err, RC_EFORMAT, "%slacks buckets", at(&w));
    if ((rc = get_buckets(v, &w, a, err)) != 0)
        return rc;
    if ((v = rc_json_get(j, "control")) && (rc = get_bool(v, &w, "control", &a->control, err)) != 0)
        return rc;
    if ((v = rc_json_get(j, "holdout")) && (rc = get_bool(v, &w, "holdout", &a->holdout, err)) != 0)
        return rc;
    if ((v = rc_json_get(j, "tiers"))) {
        if (a->holdout)
            return rc_fail(err, RC_EFORMAT, "%sholdout and tiers together: a holdout answers from segment and "
                           "global only", at(&w));
        if ((rc = get_tiers(v, &w, a, err)) != 0)
            return rc;
    }
    if (a->holdout)
        a->tiers = RC_TIER_HOLDOUT;
    if ((v = rc_json_get(j, "cf")) && (rc = get_cf(v, &w, a, err)) != 0)
        return rc;
    return 0;
}

/* Names distinct, ranges apart, at most one control. */
static int check_arms(struct rc_experiment *x, char *err)
{
    int control = -1;
    for (unsigned i = 0; i < x->narms; i++) {
        const struct rc_experiment_arm *a = &x->arms[i];
        for (unsigned k = 0; k < i; k++) {
            const struct rc_experiment_arm *b = &x->arms[k];
            if (strcmp(a->name, b->name) == 0)
                return rc_fail(err, RC_EFORMAT, "arms[%u]: name '%s' is also arms[%u]'s", i, a->name, k);
            if (a->from < b->to && b->from < a->to)
                return rc_fail(err, RC_EFORMAT, "arms[%u] ('%s'): buckets [%u, %u) overlap arms[%u] ('%s') [%u, %u)",
                               i, a->name, a->from, a->to, k, b->name, b->from, b->to);
        }
        if (a->control && control >= 0)
            return rc_fail(err, RC_EFORMAT, "arms[%u] ('%s'): a second control (arms[%d] ('%s') is one)", i, a->name,
                           control, x->arms[control].name);
        if (a->control)
            control = (int)i;
    }
    x->control = control >= 0 ? (unsigned)control : 0;
    x->arms[x->control].control = 1;
    return 0;
}

/* The arm's texts for answers (experiment.h); ids need no escaping. */
static void arm_texts(const char *id, struct rc_experiment_arm *a)
{
    char json[sizeof(a->json)], label[sizeof(a->label)];
    int n = snprintf(json, sizeof(json), ",\"experiment\":\"%s\",\"arm\":\"%s\"", id, a->name);
    snprintf(label, sizeof(label), "%s/%s", id, a->name);
    memcpy(a->json, json, sizeof(json));
    memcpy(a->label, label, sizeof(label));
    a->json_len = (uint8_t)n;
}

static int parse_doc(const struct rc_json *doc, struct rc_experiment *x, char *err)
{
    static const char *const known[] = {"id", "salt", "arms", NULL};
    struct where top = {""};
    if (doc->type != RC_JSON_OBJ)
        return rc_fail(err, RC_EFORMAT, "expected a JSON object {\"id\", \"salt\", \"arms\"}");
    int rc = check_keys(doc, &top, known, err);
    if (rc)
        return rc;
    const struct rc_json *id = rc_json_get(doc, "id"), *salt = rc_json_get(doc, "salt"),
                         *arms = rc_json_get(doc, "arms");
    if (!id || !salt || !arms)
        return rc_fail(err, RC_EFORMAT, "lacks %s", !id ? "an id" : !salt ? "a salt" : "arms");
    if ((rc = get_id(id, &top, "id", x->id, err)) != 0 || (rc = get_id(salt, &top, "salt", x->salt, err)) != 0)
        return rc;
    if (arms->type != RC_JSON_ARR)
        return rc_fail(err, RC_EFORMAT, "arms: expected an array of 1..%d arms", RC_EXPERIMENT_ARMS_MAX);
    for (const struct rc_json *a = arms->child; a; a = a->next) {
        if (x->narms == RC_EXPERIMENT_ARMS_MAX)
            return rc_fail(err, RC_EFORMAT, "arms: more than %d arms", RC_EXPERIMENT_ARMS_MAX);
        if ((rc = parse_arm(a, x->narms, &x->arms[x->narms], err)) != 0)
            return rc;
        x->narms++;
    }
    if (!x->narms)
        return rc_fail(err, RC_EFORMAT, "arms: empty; an experiment has 1..%d arms", RC_EXPERIMENT_ARMS_MAX);
    if ((rc = check_arms(x, err)) != 0)
        return rc;
    x->seed = XXH3_64bits(x->salt, strlen(x->salt));
    for (unsigned i = 0; i < x->narms; i++)
        arm_texts(x->id, &x->arms[i]);
    return 0;
}

int rc_experiment_parse(const char *text, size_t len, struct rc_experiment **out, char *err)
{
    *out = NULL;
    if (len > RC_EXPERIMENT_FILE_MAX)
        return rc_fail(err, RC_ETOOLONG, "%zu bytes, more than the %d an experiment may take", len,
                       RC_EXPERIMENT_FILE_MAX);
    struct rc_json *doc = NULL;
    char why[RC_ERRMSG_MAX];
    int rc = rc_json_parse(text, len, &doc, why);
    if (rc)
        return rc == -ENOMEM ? rc_fail(err, rc, "out of memory") : rc_fail(err, RC_EFORMAT, "not JSON: %s", why);
    struct rc_experiment *x = calloc(1, sizeof(*x));
    if (!x) {
        rc_json_free(doc);
        return rc_fail(err, -ENOMEM, "out of memory");
    }
    rc = parse_doc(doc, x, err);
    rc_json_free(doc);
    if (rc) {
        free(x);
        return rc;
    }
    *out = x;
    return 0;
}

int rc_experiment_read_text(const char *path, struct rc_experiment **out, char **text, size_t *len, char *err)
{
    *out = NULL;
    if (text)
        *text = NULL;
    char *buf;
    size_t got;
    int rc = rc_read_small_file(path, RC_EXPERIMENT_FILE_MAX, "an experiment", &buf, &got, err);
    if (rc)
        return rc;
    char why[RC_ERRMSG_MAX];
    if ((rc = rc_experiment_parse(buf, got, out, why)) != 0)
        rc_fail(err, rc, "'%s': %s", path, why);
    if (!rc && text) {
        *text = buf;
        *len = got;
        return 0;
    }
    free(buf);
    return rc;
}

int rc_experiment_read(const char *path, struct rc_experiment **out, char *err)
{
    return rc_experiment_read_text(path, out, NULL, NULL, err);
}

unsigned rc_experiment_bucket(const struct rc_experiment *x, const char *cookie, size_t len)
{
    return (unsigned)(XXH3_64bits_withSeed(cookie, len, x->seed) % RC_EXPERIMENT_BUCKETS);
}

int rc_experiment_assign(const struct rc_experiment *x, const char *cookie, size_t len)
{
    if (!len)
        return -1;
    unsigned b = rc_experiment_bucket(x, cookie, len);
    for (unsigned i = 0; i < x->narms; i++)
        if (b >= x->arms[i].from && b < x->arms[i].to)
            return (int)i;
    return -1;
}
