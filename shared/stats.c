/*
 * stats.c - distribution functions and two-sample tests (contract and
 * accuracy in stats.h). The incomplete gamma and beta follow the classic
 * series / continued-fraction evaluations (Numerical Recipes, 2nd ed.,
 * 6.2 and 6.4) with Lentz's method.
 */
#include "stats.h"

#include <math.h>

#include "error.h"

#define STATS_EPS 1e-15
#define STATS_TINY 1e-300
#define STATS_ITER 10000

double rc_stats_norm_cdf(double x)
{
    return 0.5 * erfc(-x / M_SQRT2);
}

double rc_stats_norm_p2(double z)
{
    if (isnan(z))
        return NAN;
    return erfc(fabs(z) / M_SQRT2);
}

/* Acklam's approximation, then Halley steps on erfc. */
double rc_stats_norm_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (isnan(p) || p < 0 || p > 1)
        return NAN;
    if (p == 0)
        return -INFINITY;
    if (p == 1)
        return INFINITY;
    const double plow = 0.02425;
    double x;
    if (p < plow || p > 1 - plow) {
        double q = sqrt(-2 * log(p < plow ? p : 1 - p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        if (p > 1 - plow)
            x = -x;
    } else {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    for (int i = 0; i < 2; i++) {
        /* Halley on f(x) = Phi(x) - p; the upper tail through its own erfc
         * so that p near 1 keeps its digits. */
        double e = p > 0.5 ? (1 - p) - 0.5 * erfc(x / M_SQRT2) : 0.5 * erfc(-x / M_SQRT2) - p;
        double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
        x = x - u / (1 + x * u / 2);
    }
    return x;
}

/* P(a, x) by its series; for x < a + 1. */
static double gamma_p_series(double a, double x)
{
    double ap = a, del = 1 / a, sum = del;
    for (int n = 0; n < STATS_ITER; n++) {
        ap += 1;
        del *= x / ap;
        sum += del;
        if (fabs(del) < fabs(sum) * STATS_EPS)
            break;
    }
    return sum * exp(-x + a * log(x) - lgamma(a));
}

/* Q(a, x) by its continued fraction; for x >= a + 1. */
static double gamma_q_fraction(double a, double x)
{
    double b = x + 1 - a, c = 1 / STATS_TINY, d = 1 / b, h = d;
    for (int i = 1; i < STATS_ITER; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < STATS_TINY)
            d = STATS_TINY;
        c = b + an / c;
        if (fabs(c) < STATS_TINY)
            c = STATS_TINY;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < STATS_EPS)
            break;
    }
    return exp(-x + a * log(x) - lgamma(a)) * h;
}

double rc_stats_gamma_q(double a, double x)
{
    if (isnan(a) || isnan(x) || a <= 0 || x < 0)
        return NAN;
    if (x == 0)
        return 1;
    if (isinf(x))
        return 0;
    if (x < a + 1) {
        double q = 1 - gamma_p_series(a, x);
        return q < 0 ? 0 : q;
    }
    return gamma_q_fraction(a, x);
}

double rc_stats_chi2_sf(double x, double k)
{
    if (isnan(x) || isnan(k) || k <= 0)
        return NAN;
    if (x <= 0)
        return 1;
    return rc_stats_gamma_q(k / 2, x / 2);
}

/* The continued fraction of I_x(a, b) (without its prefactor). */
static double beta_fraction(double a, double b, double x)
{
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < STATS_TINY)
        d = STATS_TINY;
    d = 1 / d;
    double h = d;
    for (int m = 1; m < STATS_ITER; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < STATS_TINY)
            d = STATS_TINY;
        c = 1 + aa / c;
        if (fabs(c) < STATS_TINY)
            c = STATS_TINY;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < STATS_TINY)
            d = STATS_TINY;
        c = 1 + aa / c;
        if (fabs(c) < STATS_TINY)
            c = STATS_TINY;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < STATS_EPS)
            break;
    }
    return h;
}

double rc_stats_beta_inc(double a, double b, double x)
{
    if (isnan(a) || isnan(b) || isnan(x) || a <= 0 || b <= 0 || x < 0 || x > 1)
        return NAN;
    if (x == 0 || x == 1)
        return x;
    double bt = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2))
        return bt * beta_fraction(a, b, x) / a;
    double r = 1 - bt * beta_fraction(b, a, 1 - x) / b;
    return r < 0 ? 0 : r;
}

double rc_stats_t_p2(double t, double df)
{
    if (isnan(t) || isnan(df) || df <= 0)
        return NAN;
    if (isinf(t))
        return 0;
    if (isinf(df))
        return rc_stats_norm_p2(t);
    return rc_stats_beta_inc(df / 2, 0.5, df / (df + t * t));
}

double rc_stats_t_quantile(double p, double df)
{
    if (isnan(p) || isnan(df) || df <= 0 || p < 0.5 || p >= 1)
        return NAN;
    if (isinf(df))
        return rc_stats_norm_quantile(p);
    double target = 2 * (1 - p), lo = 0, hi = 1;
    while (rc_stats_t_p2(hi, df) > target && hi < 1e300)
        hi *= 2;
    for (int i = 0; i < 400 && hi - lo > 1e-13 * (hi > 1 ? hi : 1); i++) {
        double mid = 0.5 * (lo + hi);
        if (rc_stats_t_p2(mid, df) > target)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

static void lift_unknown(struct rc_stats_lift *o)
{
    o->t = o->c = o->diff = o->diff_lo = o->diff_hi = NAN;
    o->rel = o->rel_lo = o->rel_hi = o->stat = o->p = NAN;
    o->df = 0;
}

void rc_stats_two_prop(uint64_t xt, uint64_t nt, uint64_t xc, uint64_t nc, double level, struct rc_stats_lift *o)
{
    lift_unknown(o);
    if (nt == 0 || nc == 0 || xt > nt || xc > nc)
        return;
    double pt = (double)xt / (double)nt, pc = (double)xc / (double)nc;
    double zq = rc_stats_norm_quantile(0.5 + level / 2);
    o->t = pt;
    o->c = pc;
    o->diff = pt - pc;
    double pool = (double)(xt + xc) / (double)(nt + nc);
    double se0 = sqrt(pool * (1 - pool) * (1.0 / (double)nt + 1.0 / (double)nc));
    if (se0 > 0) {
        o->stat = o->diff / se0;
        o->p = rc_stats_norm_p2(o->stat);
    } else { /* all successes or none in both arms: no difference to see */
        o->stat = 0;
        o->p = 1;
    }
    double se1 = sqrt(pt * (1 - pt) / (double)nt + pc * (1 - pc) / (double)nc);
    o->diff_lo = o->diff - zq * se1;
    o->diff_hi = o->diff + zq * se1;
    if (pc > 0)
        o->rel = pt / pc - 1;
    if (xt > 0 && xc > 0) {
        double sel = sqrt((1 - pt) / (double)xt + (1 - pc) / (double)xc);
        o->rel_lo = pt / pc * exp(-zq * sel) - 1;
        o->rel_hi = pt / pc * exp(zq * sel) - 1;
    }
}

void rc_stats_welch(double mt, double vt, uint64_t nt, double mc, double vc, uint64_t nc, double level,
                    struct rc_stats_lift *o)
{
    lift_unknown(o);
    if (nt < 2 || nc < 2 || !(vt >= 0) || !(vc >= 0))
        return;
    double at = vt / (double)nt, ac = vc / (double)nc, se = sqrt(at + ac);
    o->t = mt;
    o->c = mc;
    o->diff = mt - mc;
    if (se > 0) {
        o->df = (at + ac) * (at + ac) / (at * at / (double)(nt - 1) + ac * ac / (double)(nc - 1));
        o->stat = o->diff / se;
        o->p = rc_stats_t_p2(o->stat, o->df);
    } else {
        o->df = (double)(nt + nc - 2);
        o->stat = o->diff == 0 ? 0 : copysign(INFINITY, o->diff);
        o->p = o->diff == 0 ? 1 : 0;
    }
    double tq = rc_stats_t_quantile(0.5 + level / 2, o->df);
    o->diff_lo = o->diff - tq * se;
    o->diff_hi = o->diff + tq * se;
    if (mc > 0)
        o->rel = mt / mc - 1;
    if (mt > 0 && mc > 0) {
        double sel = sqrt(vt / ((double)nt * mt * mt) + vc / ((double)nc * mc * mc));
        o->rel_lo = mt / mc * exp(-tq * sel) - 1;
        o->rel_hi = mt / mc * exp(tq * sel) - 1;
    }
}

int rc_stats_srm(const uint64_t *obs, const double *share, size_t k, double *chi2, double *p)
{
    double total = 0, shares = 0;
    if (k < 2)
        return RC_ERANGE;
    for (size_t i = 0; i < k; i++) {
        if (!(share[i] > 0))
            return RC_ERANGE;
        total += (double)obs[i];
        shares += share[i];
    }
    if (total <= 0)
        return RC_ERANGE;
    double x = 0;
    for (size_t i = 0; i < k; i++) {
        double e = total * share[i] / shares, d = (double)obs[i] - e;
        x += d * d / e;
    }
    *chi2 = x;
    *p = rc_stats_chi2_sf(x, (double)(k - 1));
    return 0;
}
