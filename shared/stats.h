/*
 * stats.h - the statistics of an A/B report (recctl ab-report,
 * schemas/recctl.md "ab-report"): distribution functions, two-sample
 * tests with confidence intervals, and the sample-ratio-mismatch test.
 *
 * Accuracy (tests/test_stats.c holds each to known values and identities):
 *   - rc_stats_norm_cdf: erfc from libm, relative error ~1e-15 over the
 *     whole range (no cancellation in either tail).
 *   - rc_stats_norm_quantile: Acklam's rational approximation (relative
 *     error 1.15e-9) refined by one Halley step: ~1e-15.
 *   - rc_stats_gamma_q: the regularised upper incomplete gamma by its power
 *     series (x < a + 1) or Lentz's continued fraction (x >= a + 1), both
 *     run to a relative step of 1e-15: relative error ~1e-13 for a up to
 *     ~1e4 (the SRM test has a = (arms - 1) / 2 <= 3.5).
 *   - rc_stats_beta_inc: the regularised incomplete beta by its continued
 *     fraction (Lentz), the symmetry relation picking the side that
 *     converges: ~1e-13 relative.
 *   - rc_stats_t_quantile: bisection on rc_stats_t_sf2 to 1e-12 absolute.
 * Probabilities that underflow come back as 0, never as NaN.
 *
 * The tests assume what the report states: outcomes are per visitor (each
 * visitor one Bernoulli trial or one revenue value), visitors are
 * independent, and samples are large enough for the normal approximation
 * (two-proportion z) or the t approximation (Welch). Pure functions; no
 * state; thread-safe.
 */
#ifndef RC_STATS_H
#define RC_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Standard normal CDF Phi(x). */
double rc_stats_norm_cdf(double x);

/* Two-sided normal p-value: P(|Z| >= |z|) = erfc(|z| / sqrt 2). */
double rc_stats_norm_p2(double z);

/* Phi^-1(p) for 0 < p < 1; -inf / +inf at 0 / 1, NaN outside [0, 1]. */
double rc_stats_norm_quantile(double p);

/* Regularised upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a),
 * a > 0, x >= 0 (NaN otherwise). */
double rc_stats_gamma_q(double a, double x);

/* Chi-square survival P(X >= x) with k > 0 degrees of freedom: Q(k/2, x/2). */
double rc_stats_chi2_sf(double x, double k);

/* Regularised incomplete beta I_x(a, b), a, b > 0, 0 <= x <= 1. */
double rc_stats_beta_inc(double a, double b, double x);

/* Two-sided Student t p-value P(|T| >= |t|) with df > 0 degrees of freedom
 * (df may be fractional, as Welch's is): I_{df/(df+t^2)}(df/2, 1/2). */
double rc_stats_t_p2(double t, double df);

/* The t quantile: the t > 0 with P(T <= t) = p, for 0.5 <= p < 1. */
double rc_stats_t_quantile(double p, double df);

/*
 * A treatment against its control. Rates (or means) t and c; the absolute
 * lift t - c with its interval [diff_lo, diff_hi]; the relative lift
 * t / c - 1 with [rel_lo, rel_hi]; the test statistic (z or t), its
 * degrees of freedom (Welch; 0 for z) and the two-sided p-value. A value
 * that cannot be computed (no visitors, a zero control) is NaN.
 */
struct rc_stats_lift {
    double t, c;
    double diff, diff_lo, diff_hi;
    double rel, rel_lo, rel_hi;
    double stat, df, p;
};

/*
 * Two-proportion z-test of xt successes in nt trials against xc in nc, at
 * confidence `level` (0.95). The test uses the pooled standard error
 * sqrt(p(1-p)(1/nt + 1/nc)); the interval of the difference the unpooled
 * one sqrt(pt(1-pt)/nt + pc(1-pc)/nc) (Wald); the interval of the relative
 * lift is the delta method on log(pt/pc), standard error
 * sqrt((1-pt)/xt + (1-pc)/xc) (Katz), undefined (NaN) when xt or xc is 0.
 */
void rc_stats_two_prop(uint64_t xt, uint64_t nt, uint64_t xc, uint64_t nc, double level, struct rc_stats_lift *out);

/*
 * Welch's unequal-variance t-test of means mt, mc with sample variances
 * vt, vc (n - 1 in the denominator) over nt, nc >= 2 observations, at
 * confidence `level`. Degrees of freedom by Welch-Satterthwaite; the
 * interval of the difference uses the t quantile at those df; the relative
 * lift's interval is the delta method on log(mt/mc), standard error
 * sqrt(vt/(nt mt^2) + vc/(nc mc^2)), NaN when a mean is not positive.
 */
void rc_stats_welch(double mt, double vt, uint64_t nt, double mc, double vc, uint64_t nc, double level,
                    struct rc_stats_lift *out);

/*
 * Sample-ratio mismatch: Pearson's chi-square of the observed counts
 * obs[0, k) against the expected shares share[0, k) (normalised here, so
 * they need not sum to 1) with k - 1 degrees of freedom. Writes the
 * statistic and its p-value. Returns 0, or RC_ERANGE when k < 2, a share
 * is not positive, or no count is positive.
 */
int rc_stats_srm(const uint64_t *obs, const double *share, size_t k, double *chi2, double *p);

#endif
