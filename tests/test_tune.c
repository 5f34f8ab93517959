/*
 * test_tune.c - builder/tune.c on a small planted log written as CSV and
 * read by the real ingest: each cookie buys within one favourite category,
 * so a taste model beats most-popular. The search must find such a model
 * from a base that cannot learn (reg 1000), follow successive halving's
 * shape (18 -> 6 -> 2 trials at 2, 6, 18 iterations), carry the base and
 * an anchor within noise of the best past the cut and drop an anchor
 * clearly behind, keep pinned
 * parameters, be deterministic, and refuse data with too few validation
 * cookies.
 */
#include "tune.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ingest.h"
#include "rand.h"
#include "scratch.h"
#include "train.h"

#define CATS 6
#define PER_CAT 40

/* users cookies, each 6-10 purchases: 9 in 10 in its category (skewed to low ranks), else anywhere. */
static void planted_log(struct rb_dataset *d, uint32_t users)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], err[RC_ERRMSG_MAX] = "";
    scratch_make(dir, sizeof(dir), "tune");
    snprintf(path, sizeof(path), "%s/events.csv", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "ts,cookie,event,product\n");
    uint64_t s = 11;
    for (uint32_t u = 0; u < users; u++) {
        uint32_t cat = (uint32_t)(rb_rand_next(&s) % CATS), n = 6 + (uint32_t)(rb_rand_next(&s) % 5);
        for (uint32_t j = 0; j < n; j++) {
            uint32_t c = rb_rand_next(&s) % 10 == 0 ? (uint32_t)(rb_rand_next(&s) % CATS) : cat;
            uint32_t a = (uint32_t)(rb_rand_next(&s) % PER_CAT), b = (uint32_t)(rb_rand_next(&s) % PER_CAT);
            uint32_t rank = a < b ? a : b; /* lower ranks more popular */
            fprintf(f, "%u,c%u,purchase,p%u_%u\n", 1700000000u + u * 97u + j * 3600u, u, c, rank);
        }
    }
    ck_assert_int_eq(fclose(f), 0);
    rb_dataset_init(d);
    ck_assert_msg(rb_ingest_events(d, path, NULL, NULL, NULL, err) == 0, "%s", err);
    scratch_remove(dir);
}

static void base_params(struct rb_params *p)
{
    memset(p, 0, sizeof(*p));
    rb_train_opts_default(&p->train);
    rb_als_opts_default(&p->als);
    p->als.threads = 2;
    p->als.factors = 16;
    p->als.reg = 1000.0f; /* shrinks every factor to nothing */
}

/* A base that learns: decay of a year on a two-day log, so the base without decay measures as it does. */
static void learning_base(struct rb_params *p, uint32_t factors, float reg, float alpha, float weight_purchase)
{
    p->als.factors = factors;
    p->als.reg = reg;
    p->als.alpha = alpha;
    p->train.weight[RB_PURCHASE] = weight_purchase;
    p->train.half_life_days = 365;
}

/* A planted log of `cookies` cookies, the base above, default options with a budget that does not bite. */
static void setup(struct rb_dataset *d, struct rb_params *base, struct rb_tune_opts *o, uint32_t cookies)
{
    planted_log(d, cookies);
    base_params(base);
    rb_tune_opts_default(o);
    o->budget_s = 600;
}

START_TEST(test_finds_a_model)
{
    struct rb_dataset d;
    struct rb_params base;
    struct rb_tune_opts o;
    setup(&d, &base, &o, 900);
    static struct rb_tune_result r, r2;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_tune(&r, &d, &base, &o, err) == 0, "%s", err);
    ck_assert_int_eq(r.budget_hit, 0);
    ck_assert_uint_eq(r.ntrials, 18 + 6 + 2);
    uint32_t per_rung[3] = {0};
    for (uint32_t i = 0; i < r.ntrials; i++) {
        ck_assert_uint_lt(r.trials[i].rung, 3);
        per_rung[r.trials[i].rung]++;
        ck_assert_uint_eq(r.trials[i].p.als.iterations, r.trials[i].rung == 0 ? 2 : r.trials[i].rung == 1 ? 6 : 18);
    }
    ck_assert_uint_eq(per_rung[0], 18);
    ck_assert_uint_eq(per_rung[1], 6);
    ck_assert_uint_eq(per_rung[2], 2);
    /* the base runs at every rung, however badly it does; the anchors are
     * clearly behind here (the base without decay learns nothing, the
     * light anchor measures half the best) and go no further than any
     * other configuration would */
    unsigned fixed_rungs[RB_TUNE_FIXED] = {0};
    for (uint32_t i = 0; i < r.ntrials; i++)
        if (r.trials[i].config < RB_TUNE_FIXED)
            fixed_rungs[r.trials[i].config] |= 1u << r.trials[i].rung;
    ck_assert_uint_eq(fixed_rungs[0], 7);
    ck_assert_uint_eq(fixed_rungs[1], 1);
    ck_assert_uint_eq(fixed_rungs[2], 1);
    /* far better than the base: the one-standard-error rule lets the best win */
    ck_assert_int_eq(r.kept_base, 0);
    ck_assert_msg(r.gain > 3 * r.gain_se, "gain %.4f, se %.4f", r.gain, r.gain_se);
    ck_assert_uint_ne(r.trials[r.best_trial].config, 0);
    /* trial 0 is the base: it learns nothing; the best beats most-popular clearly */
    ck_assert_uint_eq(r.trials[0].config, 0);
    ck_assert_msg(r.best_ndcg > 1.3 * r.pop_ndcg, "best ndcg %.4f, most popular %.4f", r.best_ndcg, r.pop_ndcg);
    ck_assert_msg(r.best_ndcg > r.trials[0].ndcg + 0.05, "best %.4f, base %.4f", r.best_ndcg, r.trials[0].ndcg);
    ck_assert_float_lt(r.best.als.reg, 1000.0f);
    ck_assert_uint_gt(r.users, 500);
    /* the choice is the best trial of the last rung; the earlier rungs only prune */
    ck_assert_uint_eq(r.trials[r.best_trial].rung, 2);
    ck_assert_uint_eq(r.best.als.iterations, 18);
    for (uint32_t i = 0; i < r.ntrials; i++)
        if (r.trials[i].rung == 2)
            ck_assert_double_le(r.trials[i].ndcg, r.best_ndcg);
    /* the best is one of the trials, iterations included */
    int found = 0;
    for (uint32_t i = 0; i < r.ntrials; i++)
        found |= r.trials[i].ndcg == r.best_ndcg && r.trials[i].p.als.iterations == r.best.als.iterations &&
                 r.trials[i].p.als.reg == r.best.als.reg;
    ck_assert(found);

    /* deterministic */
    ck_assert_msg(rb_tune(&r2, &d, &base, &o, err) == 0, "%s", err);
    ck_assert_uint_eq(r2.ntrials, r.ntrials);
    for (uint32_t i = 0; i < r.ntrials; i++) {
        ck_assert_uint_eq(r2.trials[i].config, r.trials[i].config);
        ck_assert_double_eq(r2.trials[i].ndcg, r.trials[i].ndcg);
    }
    rb_dataset_release(&d);
}
END_TEST

/*
 * A base as good as the search can find (the search's own choice on this
 * data) stays. So does one within noise of it (the choice with reg x 0.9):
 * the choice itself, drawn again, measures best by less than one standard
 * error, and the base's parameters stay.
 */
START_TEST(test_keeps_a_good_base)
{
    struct rb_dataset d;
    struct rb_params base;
    struct rb_tune_opts o;
    setup(&d, &base, &o, 900);
    static struct rb_tune_result r;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_tune(&r, &d, &base, &o, err) == 0, "%s", err);
    const struct rb_params choice = r.best;
    const uint32_t choice_config = r.trials[r.best_trial].config;
    ck_assert_uint_ne(choice_config, 0);

    base = choice; /* measured best itself, or kept: the base's parameters either way */
    ck_assert_msg(rb_tune(&r, &d, &base, &o, err) == 0, "%s", err);
    ck_assert_uint_eq(r.trials[r.best_trial].config, 0);
    ck_assert(r.kept_base || r.best_trial == r.base_trial);
    ck_assert_float_eq(r.best.als.reg, base.als.reg);

    base = choice;
    base.als.reg *= 0.9f;
    ck_assert_msg(rb_tune(&r, &d, &base, &o, err) == 0, "%s", err);
    /* the choice, drawn again, measured best, by less than one standard error: the base stays */
    ck_assert_int_eq(r.kept_base, 1);
    ck_assert_msg(r.gain > 0 && r.gain <= r.gain_se, "gain %.4f, se %.4f", r.gain, r.gain_se);
    ck_assert_uint_eq(r.trials[r.best_trial].config, 0);
    ck_assert_uint_eq(r.best_trial, r.base_trial);
    /* weighed against the base's trial of the last rung, not an earlier one */
    ck_assert_uint_eq(r.trials[r.base_trial].rung, 2);
    double challenger = -1;
    for (uint32_t i = 0; i < r.ntrials; i++)
        if (r.trials[i].rung == 2 && r.trials[i].config != 0 && r.trials[i].ndcg > challenger)
            challenger = r.trials[i].ndcg;
    ck_assert_double_eq_tol(r.gain, challenger - r.trials[r.base_trial].ndcg, 1e-9);
    ck_assert_float_eq(r.best.als.reg, base.als.reg);
    ck_assert_float_eq(r.best.als.alpha, base.als.alpha);
    ck_assert_uint_eq(r.best.als.factors, base.als.factors);
    ck_assert_double_eq(r.best.train.half_life_days, base.train.half_life_days);
    rb_dataset_release(&d);
}
END_TEST

/* Pinned parameters keep the base's value in every trial; iterations pinned: one rung. */
START_TEST(test_pinned)
{
    struct rb_dataset d;
    planted_log(&d, 600);
    struct rb_params base;
    base_params(&base);
    base.als.reg = 0.5f;
    base.als.iterations = 4;
    base.train.half_life_days = 0;
    struct rb_tune_opts o;
    rb_tune_opts_default(&o);
    o.budget_s = 600;
    o.configs = 6;
    o.pinned = RB_PARAM_REG | RB_PARAM_ITERATIONS | RB_PARAM_HALF_LIFE;
    static struct rb_tune_result r;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_tune(&r, &d, &base, &o, err) == 0, "%s", err);
    ck_assert_uint_eq(r.ntrials, 6);
    int factors_differ = 0;
    for (uint32_t i = 0; i < r.ntrials; i++) {
        ck_assert_float_eq(r.trials[i].p.als.reg, 0.5f);
        ck_assert_uint_eq(r.trials[i].p.als.iterations, 4);
        ck_assert_double_eq(r.trials[i].p.train.half_life_days, 0);
        factors_differ |= r.trials[i].p.als.factors != base.als.factors;
    }
    ck_assert(factors_differ); /* what is not pinned is searched */
    rb_dataset_release(&d);
}
END_TEST

/* A budget that ends the search early still leaves a choice and says so. */
START_TEST(test_budget)
{
    struct rb_dataset d;
    planted_log(&d, 600);
    struct rb_params base;
    base_params(&base);
    struct rb_tune_opts o;
    rb_tune_opts_default(&o);
    o.budget_s = 1e-9;
    static struct rb_tune_result r;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_tune(&r, &d, &base, &o, err) == 0, "%s", err);
    ck_assert_int_eq(r.budget_hit, 1);
    ck_assert_uint_eq(r.ntrials, 1); /* the first trial always runs */
    rb_dataset_release(&d);
}
END_TEST

/*
 * A budget that ends a later rung partway: its trials are not chosen from
 * (the base ran first in it, the others may not have), the last complete
 * rung's choice stands, weighed against the base's trial of that rung.
 */
START_TEST(test_budget_cuts_a_rung)
{
    struct rb_dataset d;
    struct rb_params base;
    struct rb_tune_opts o;
    setup(&d, &base, &o, 600);
    o.max_trials = 18 + 6 + 1; /* the last rung: the base's trial only */
    static struct rb_tune_result r;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_tune(&r, &d, &base, &o, err) == 0, "%s", err);
    ck_assert_int_eq(r.budget_hit, 1);
    ck_assert_uint_eq(r.ntrials, 25);
    ck_assert_uint_eq(r.trials[24].rung, 2);
    ck_assert_uint_eq(r.trials[24].config, 0); /* the base runs first in a later rung */
    ck_assert_uint_eq(r.trials[r.best_trial].rung, 1);
    ck_assert_uint_eq(r.best.als.iterations, 6);
    ck_assert_uint_ne(r.trials[r.best_trial].config, 0); /* the base learns nothing */
    ck_assert_uint_eq(r.trials[r.base_trial].rung, 1);
    ck_assert_uint_eq(r.trials[r.base_trial].config, 0);
    ck_assert_int_eq(r.kept_base, 0);
    ck_assert_msg(r.gain > r.gain_se, "gain %.4f, se %.4f", r.gain, r.gain_se);

    o.max_trials = 10; /* the first rung cut short: its trials are all there is */
    ck_assert_msg(rb_tune(&r, &d, &base, &o, err) == 0, "%s", err);
    ck_assert_uint_eq(r.ntrials, 10);
    ck_assert_uint_eq(r.trials[r.best_trial].rung, 0);
    ck_assert_uint_ne(r.trials[r.best_trial].config, 0);
    rb_dataset_release(&d);
}
END_TEST

/*
 * An anchor within noise of the best goes on whatever its rank: from a
 * good base (learning_base), the base without decay measures about the
 * same. It reaches the last rung beside the base and the best other,
 * past the third (2) of the rung before.
 */
START_TEST(test_carries_a_close_anchor)
{
    struct rb_dataset d;
    struct rb_params base;
    struct rb_tune_opts o;
    setup(&d, &base, &o, 900);
    learning_base(&base, 32, 2.6f, 0.43f, 23.0f);
    static struct rb_tune_result r;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_tune(&r, &d, &base, &o, err) == 0, "%s", err);
    ck_assert_int_eq(r.budget_hit, 0);
    uint32_t per_rung[3] = {0};
    unsigned fixed_rungs[RB_TUNE_FIXED] = {0};
    for (uint32_t i = 0; i < r.ntrials; i++) {
        per_rung[r.trials[i].rung]++;
        if (r.trials[i].config < RB_TUNE_FIXED)
            fixed_rungs[r.trials[i].config] |= 1u << r.trials[i].rung;
    }
    ck_assert_uint_eq(per_rung[0], 18);
    ck_assert_uint_eq(per_rung[1], 6);
    ck_assert_uint_eq(per_rung[2], 3);
    ck_assert_uint_eq(fixed_rungs[0], 7);
    ck_assert_uint_eq(fixed_rungs[1], 7);
    rb_dataset_release(&d);
}
END_TEST

/*
 * Few configurations: the base and a close anchor go on at each rung
 * however small the third, and one other with them, so the search can
 * still leave a base that learns nothing.
 */
START_TEST(test_few_configs)
{
    struct rb_dataset d;
    struct rb_params base;
    struct rb_tune_opts o;
    setup(&d, &base, &o, 600);
    o.configs = 4;
    static struct rb_tune_result r;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_tune(&r, &d, &base, &o, err) == 0, "%s", err);
    ck_assert_int_eq(r.budget_hit, 0);
    uint32_t per_rung[3] = {0}, others_last = 0;
    for (uint32_t i = 0; i < r.ntrials; i++) {
        per_rung[r.trials[i].rung]++;
        others_last += r.trials[i].rung == 2 && r.trials[i].config != 0;
    }
    ck_assert_uint_eq(per_rung[0], 4);
    ck_assert_uint_eq(per_rung[1], 3);
    ck_assert_uint_ge(others_last, 1);
    ck_assert_uint_ne(r.trials[r.best_trial].config, 0);
    ck_assert_uint_eq(r.trials[r.best_trial].rung, 2);
    ck_assert_int_eq(r.kept_base, 0);
    rb_dataset_release(&d);
}
END_TEST

/*
 * A later best can end the carry of both anchors at once, and every
 * configuration beyond the third is then released, not one. From a base
 * that measures about as the anchors do after 2 iterations
 * (learning_base), the ninth configuration is far
 * better than all three: rung 1 holds the base and the best two others,
 * 3 (the third of 9), and neither anchor.
 */
START_TEST(test_release_after_carry)
{
    struct rb_dataset d;
    struct rb_params base;
    struct rb_tune_opts o;
    setup(&d, &base, &o, 900);
    learning_base(&base, 32, 0.16f, 11.0f, 28.0f);
    o.configs = 9;
    o.rungs = 2;
    static struct rb_tune_result r;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_tune(&r, &d, &base, &o, err) == 0, "%s", err);
    uint32_t got = 0;
    for (uint32_t i = 0; i < r.ntrials; i++) {
        if (r.trials[i].rung != 1)
            continue;
        got++;
        ck_assert_msg(r.trials[i].config != 1 && r.trials[i].config != 2, "anchor %u reached rung 1",
                      r.trials[i].config);
    }
    ck_assert_uint_eq(got, 3);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_too_little_data)
{
    struct rb_dataset d;
    planted_log(&d, 20); /* fewer than RB_TUNE_MIN_USERS cookies to validate on */
    struct rb_params base;
    base_params(&base);
    struct rb_tune_opts o;
    rb_tune_opts_default(&o);
    static struct rb_tune_result r;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rb_tune(&r, &d, &base, &o, err), RC_EEMPTY);
    ck_assert_ptr_nonnull(strstr(err, "validation"));
    o.configs = 0;
    ck_assert_int_eq(rb_tune(&r, &d, &base, &o, err), RC_ERANGE);
    rb_dataset_release(&d);
}
END_TEST

static Suite *tune_suite(void)
{
    Suite *s = suite_create("tune");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_finds_a_model);
    tcase_add_test(tc, test_keeps_a_good_base);
    tcase_add_test(tc, test_pinned);
    tcase_add_test(tc, test_budget);
    tcase_add_test(tc, test_budget_cuts_a_rung);
    tcase_add_test(tc, test_carries_a_close_anchor);
    tcase_add_test(tc, test_few_configs);
    tcase_add_test(tc, test_release_after_carry);
    tcase_add_test(tc, test_too_little_data);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tune_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
