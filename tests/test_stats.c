/*
 * test_stats.c - shared/stats.c against published values (tables of the
 * normal, chi-square and t distributions to 16 digits) and closed forms:
 * chi-square with 1, 2 and 3 degrees of freedom, t with 1 (Cauchy) and 2.
 */
#include "stats.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "error.h"

/* |got - want| <= rel * |want| (or <= rel when want is 0). */
#define ck_assert_rel(got, want, rel)                                                                                 \
    do {                                                                                                              \
        double g_ = (got), w_ = (want);                                                                               \
        double tol_ = (rel) * (w_ != 0 ? fabs(w_) : 1.0);                                                             \
        ck_assert_msg(fabs(g_ - w_) <= tol_, "%s = %.17g, want %.17g (rel %g)", #got, g_, w_, (double)(rel));         \
    } while (0)

START_TEST(test_norm_cdf)
{
    ck_assert_rel(rc_stats_norm_cdf(0), 0.5, 1e-15);
    ck_assert_rel(rc_stats_norm_cdf(1.959963984540054), 0.975, 1e-14);
    ck_assert_rel(rc_stats_norm_cdf(-3), 0.0013498980316300946, 1e-13);
    ck_assert_rel(rc_stats_norm_cdf(-10), 7.6198530241605269e-24, 1e-12);
    ck_assert_rel(rc_stats_norm_p2(2.8284271247461903), 0.004677734981047266, 1e-13); /* erfc(2) */
    ck_assert_rel(rc_stats_norm_p2(-1.959963984540054), 0.05, 1e-13);
}
END_TEST

START_TEST(test_norm_quantile)
{
    ck_assert_rel(rc_stats_norm_quantile(0.975), 1.959963984540054, 1e-14);
    ck_assert_rel(rc_stats_norm_quantile(0.025), -1.959963984540054, 1e-14);
    ck_assert_rel(rc_stats_norm_quantile(0.5), 0, 1e-15);
    ck_assert_rel(rc_stats_norm_quantile(0.001), -3.090232306167813, 1e-13);
    ck_assert_rel(rc_stats_norm_quantile(0.999), 3.090232306167813, 1e-13);
    ck_assert_rel(rc_stats_norm_quantile(1e-10), -6.361340902404056, 1e-12);
    /* Round trip over the range. */
    for (double p = 1e-12; p < 1; p = p < 0.1 ? p * 10 : p + 0.1)
        ck_assert_rel(rc_stats_norm_cdf(rc_stats_norm_quantile(p)), p, 1e-12);
    ck_assert(isnan(rc_stats_norm_quantile(1.5)));
    ck_assert(isinf(rc_stats_norm_quantile(1)));
}
END_TEST

START_TEST(test_chi2_table)
{
    ck_assert_rel(rc_stats_chi2_sf(3.841458820694124, 1), 0.05, 1e-12);
    ck_assert_rel(rc_stats_chi2_sf(10.827566170662733, 1), 0.001, 1e-12);
    ck_assert_rel(rc_stats_chi2_sf(5.991464547107979, 2), 0.05, 1e-12);
    ck_assert_rel(rc_stats_chi2_sf(18.307038053275146, 10), 0.05, 1e-12);
    ck_assert_rel(rc_stats_chi2_sf(0, 3), 1, 0);
}
END_TEST

/* Closed forms: k = 1: erfc(sqrt(x/2)); k = 2: exp(-x/2);
 * k = 3: erfc(sqrt(x/2)) + sqrt(2x/pi) exp(-x/2). Both branches of the
 * incomplete gamma (series below a + 1, fraction above) are crossed. */
START_TEST(test_chi2_closed_forms)
{
    static const double xs[] = {1e-6, 0.01, 0.3, 1, 1.5, 2.5, 4, 9, 25, 60, 200, 700};
    for (size_t i = 0; i < sizeof(xs) / sizeof(xs[0]); i++) {
        double x = xs[i];
        double k1 = erfc(sqrt(x / 2)), k2 = exp(-x / 2), k3 = k1 + sqrt(2 * x / M_PI) * exp(-x / 2);
        ck_assert_rel(rc_stats_chi2_sf(x, 1), k1, 1e-12);
        ck_assert_rel(rc_stats_chi2_sf(x, 2), k2, 1e-12);
        ck_assert_rel(rc_stats_chi2_sf(x, 3), k3, 1e-12);
    }
    ck_assert(isnan(rc_stats_chi2_sf(1, 0)));
    ck_assert(isnan(rc_stats_gamma_q(-1, 1)));
}
END_TEST

START_TEST(test_t)
{
    ck_assert_rel(rc_stats_t_p2(2.228138851986274, 10), 0.05, 1e-12);
    ck_assert_rel(rc_stats_t_p2(2.042272456301238, 30), 0.05, 1e-12);
    ck_assert_rel(rc_stats_t_p2(0, 7), 1, 1e-14);
    static const double ts[] = {0.01, 0.5, 1, 2, 5, 30, 1000};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        double t = ts[i];
        ck_assert_rel(rc_stats_t_p2(t, 1), 1 - 2 / M_PI * atan(t), 1e-12);  /* Cauchy */
        ck_assert_rel(rc_stats_t_p2(-t, 2), 1 - t / sqrt(2 + t * t), 1e-11); /* closed form for 2 df */
    }
    /* Large df: the normal. */
    ck_assert_rel(rc_stats_t_p2(1.959963984540054, 1e7), 0.05, 1e-6);
    ck_assert_rel(rc_stats_t_quantile(0.975, 10), 2.228138851986274, 1e-11);
    ck_assert_rel(rc_stats_t_quantile(0.975, 30), 2.042272456301238, 1e-11);
    ck_assert_rel(rc_stats_t_quantile(0.975, 1), 12.706204736174707, 1e-11);
    ck_assert_rel(rc_stats_t_quantile(0.975, 47.5), 2.0107, 1e-3);
}
END_TEST

START_TEST(test_beta)
{
    /* I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b. */
    for (double x = 0.05; x < 1; x += 0.1) {
        ck_assert_rel(rc_stats_beta_inc(1, 1, x), x, 1e-13);
        ck_assert_rel(rc_stats_beta_inc(3.5, 1, x), pow(x, 3.5), 1e-12);
        ck_assert_rel(rc_stats_beta_inc(1, 4, x), 1 - pow(1 - x, 4), 1e-12);
    }
}
END_TEST

/* 60/100 against 40/100: pooled p 0.5, z = 0.2 / sqrt(0.25 * 0.02) = 2 sqrt 2,
 * p = erfc(2). */
START_TEST(test_two_prop)
{
    struct rc_stats_lift l;
    rc_stats_two_prop(60, 100, 40, 100, 0.95, &l);
    ck_assert_rel(l.t, 0.6, 1e-15);
    ck_assert_rel(l.c, 0.4, 1e-15);
    ck_assert_rel(l.diff, 0.2, 1e-14);
    ck_assert_rel(l.stat, 2.8284271247461903, 1e-13);
    ck_assert_rel(l.p, 0.004677734981047266, 1e-12);
    double se = sqrt(0.0048), z = 1.959963984540054;
    ck_assert_rel(l.diff_lo, 0.2 - z * se, 1e-12);
    ck_assert_rel(l.diff_hi, 0.2 + z * se, 1e-12);
    ck_assert_rel(l.rel, 0.5, 1e-14);
    double sel = sqrt(0.4 / 60 + 0.6 / 40);
    ck_assert_rel(l.rel_lo, 1.5 * exp(-z * sel) - 1, 1e-12);
    ck_assert_rel(l.rel_hi, 1.5 * exp(z * sel) - 1, 1e-12);
    ck_assert_double_eq(l.df, 0);

    /* Nothing happened in either arm: no difference, p = 1; no ratio. */
    rc_stats_two_prop(0, 100, 0, 100, 0.95, &l);
    ck_assert_double_eq(l.p, 1);
    ck_assert(isnan(l.rel));
    /* No visitors: nothing known. */
    rc_stats_two_prop(0, 0, 5, 10, 0.95, &l);
    ck_assert(isnan(l.p) && isnan(l.diff));
}
END_TEST

START_TEST(test_welch)
{
    struct rc_stats_lift l;
    rc_stats_welch(10, 4, 20, 9, 9, 30, 0.95, &l);
    double t = 1 / sqrt(0.5), df = 0.25 / (0.04 / 19 + 0.09 / 29);
    ck_assert_rel(l.stat, t, 1e-14);
    ck_assert_rel(l.df, df, 1e-14);
    ck_assert_rel(l.p, rc_stats_t_p2(t, df), 1e-14);
    ck_assert(l.p > 0.16 && l.p < 0.17);
    double tq = rc_stats_t_quantile(0.975, df);
    ck_assert_rel(l.diff_lo, 1 - tq * sqrt(0.5), 1e-12);
    ck_assert_rel(l.diff_hi, 1 + tq * sqrt(0.5), 1e-12);
    ck_assert_rel(l.rel, 1.0 / 9, 1e-14);
    ck_assert(l.rel_lo < l.rel && l.rel < l.rel_hi);
    /* Equal samples: t = 0, p = 1. */
    rc_stats_welch(3, 2, 50, 3, 2, 50, 0.95, &l);
    ck_assert_rel(l.p, 1, 1e-14);
    /* Too few observations. */
    rc_stats_welch(3, 2, 1, 3, 2, 50, 0.95, &l);
    ck_assert(isnan(l.p));
}
END_TEST

START_TEST(test_srm)
{
    double chi2, p;
    uint64_t obs[] = {5100, 4900};
    double share[] = {0.5, 0.5};
    ck_assert_int_eq(rc_stats_srm(obs, share, 2, &chi2, &p), 0);
    ck_assert_rel(chi2, 4, 1e-14);
    ck_assert_rel(p, 0.04550026389635842, 1e-12); /* erfc(sqrt 2) */

    uint64_t obs3[] = {4900, 4900, 200};
    double share3[] = {4900, 4900, 200}; /* bucket widths: normalised inside */
    ck_assert_int_eq(rc_stats_srm(obs3, share3, 3, &chi2, &p), 0);
    ck_assert_rel(chi2, 0, 1e-15);
    ck_assert_rel(p, 1, 1e-15);

    uint64_t skew[] = {9310, 10290, 400};
    ck_assert_int_eq(rc_stats_srm(skew, share3, 3, &chi2, &p), 0);
    ck_assert(p < 1e-6);

    ck_assert_int_eq(rc_stats_srm(obs, share, 1, &chi2, &p), RC_ERANGE);
    double bad[] = {0.5, 0};
    ck_assert_int_eq(rc_stats_srm(obs, bad, 2, &chi2, &p), RC_ERANGE);
    uint64_t none[] = {0, 0};
    ck_assert_int_eq(rc_stats_srm(none, share, 2, &chi2, &p), RC_ERANGE);
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("distributions");
    tcase_add_test(tc, test_norm_cdf);
    tcase_add_test(tc, test_norm_quantile);
    tcase_add_test(tc, test_chi2_table);
    tcase_add_test(tc, test_chi2_closed_forms);
    tcase_add_test(tc, test_t);
    tcase_add_test(tc, test_beta);
    suite_add_tcase(s, tc);
    tc = tcase_create("tests");
    tcase_add_test(tc, test_two_prop);
    tcase_add_test(tc, test_welch);
    tcase_add_test(tc, test_srm);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stats_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
