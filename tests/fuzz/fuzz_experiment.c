/*
 * fuzz_experiment.c - rc_experiment_parse (shared/experiment.h) on any
 * experiments.json.
 *
 * A refused document leaves nothing behind (*out NULL) and says why. An
 * accepted one keeps every rule of schemas/experiments.md: 1..8 arms with
 * distinct names of [A-Za-z0-9._-], bucket ranges inside [0, 10000) that
 * never overlap, exactly one control, tiers never empty (a holdout's are
 * segment and global), its answer texts valid JSON of the right length;
 * and every cookie is assigned the arm whose range holds its bucket.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "experiment.h"
#include "fuzz.h"
#include "json.h"

static int valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > RC_EXPERIMENT_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]))
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rc_experiment *x = (struct rc_experiment *)&x;
    char err[RC_ERRMSG_MAX] = "";
    int rc = rc_experiment_parse((const char *)data, size, &x, err);
    if (rc != 0) {
        FUZZ_CHECK(rc == RC_EFORMAT || rc == RC_ETOOLONG || rc == -12 /* -ENOMEM */);
        FUZZ_CHECK(!x);
        FUZZ_CHECK(err[0]);
        return 0;
    }
    FUZZ_CHECK(x);
    FUZZ_CHECK(valid_id(x->id) && valid_id(x->salt));
    FUZZ_CHECK(x->narms >= 1 && x->narms <= RC_EXPERIMENT_ARMS_MAX);
    FUZZ_CHECK(x->control < x->narms);
    unsigned controls = 0;
    for (unsigned i = 0; i < x->narms; i++) {
        const struct rc_experiment_arm *a = &x->arms[i];
        FUZZ_CHECK(valid_id(a->name));
        FUZZ_CHECK(a->from < a->to && a->to <= RC_EXPERIMENT_BUCKETS);
        FUZZ_CHECK(a->tiers && !(a->tiers & ~(unsigned)RC_TIER_ALL));
        FUZZ_CHECK(!a->holdout || a->tiers == RC_TIER_HOLDOUT);
        FUZZ_CHECK(a->cf_db == RC_DB_COOKIE || a->cf_db == RC_DB_COOKIE_B);
        controls += a->control != 0;
        for (unsigned k = 0; k < i; k++) {
            FUZZ_CHECK(strcmp(a->name, x->arms[k].name) != 0);
            FUZZ_CHECK(a->to <= x->arms[k].from || x->arms[k].to <= a->from);
        }
        FUZZ_CHECK(a->json_len == strlen(a->json));
        char doc[sizeof(a->json) + 2];
        snprintf(doc, sizeof(doc), "{%s}", a->json + 1); /* the text starts with a comma */
        struct rc_json *j;
        FUZZ_CHECK(rc_json_parse(doc, strlen(doc), &j, NULL) == 0);
        FUZZ_CHECK(strcmp(rc_json_get_str(j, "experiment"), x->id) == 0);
        FUZZ_CHECK(strcmp(rc_json_get_str(j, "arm"), a->name) == 0);
        rc_json_free(j);
    }
    FUZZ_CHECK(controls == 1 && x->arms[x->control].control);
    /* The input's own bytes as a cookie, and a few slices of it. */
    for (size_t len = 0; len <= size && len < 64; len += 7) {
        int arm = rc_experiment_assign(x, (const char *)data, len);
        unsigned b = rc_experiment_bucket(x, (const char *)data, len);
        FUZZ_CHECK(b < RC_EXPERIMENT_BUCKETS);
        if (len == 0) {
            FUZZ_CHECK(arm == -1);
            continue;
        }
        if (arm >= 0)
            FUZZ_CHECK(b >= x->arms[arm].from && b < x->arms[arm].to);
        else
            for (unsigned i = 0; i < x->narms; i++)
                FUZZ_CHECK(b < x->arms[i].from || b >= x->arms[i].to);
    }
    rc_experiment_free(x);
    return 0;
}
