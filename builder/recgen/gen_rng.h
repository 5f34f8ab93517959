/*
 * gen_rng.h - recgen's pseudo-random streams: xoshiro256** (Blackman,
 * Vigna) seeded through splitmix64's output function.
 *
 * Every stream is seeded from (run seed, domain, index) by derive(), so a
 * value depends only on those three and on how far its own stream has been
 * read - never on another stream. Changing what a stream draws, or in which
 * order, changes recgen's output bytes (schemas/recgen.md, "Guarantees").
 * Header-only: the generator's inner loops inline these.
 */
#ifndef RB_GEN_RNG_H
#define RB_GEN_RNG_H

#include <math.h>
#include <stdint.h>

/* splitmix64's output function: a bijection on 64-bit integers. */
static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Independent seed for (domain, index) under the run's seed. */
static inline uint64_t derive(uint64_t seed, uint64_t domain, uint64_t index)
{
    return mix64(mix64(seed ^ (domain * 0x9e3779b97f4a7c15ULL)) ^ mix64(index + 0x632be59bd9b4e019ULL));
}

enum gen_domain {
    DOMAIN_MODEL = 1,   /* catalog structure, boosts, hits */
    DOMAIN_CATALOG,     /* titles and prices */
    DOMAIN_EMB,         /* embedding centroids and rows */
    DOMAIN_WEIGHT,      /* per cookie: activity weight */
    DOMAIN_TIME,        /* per cookie: session sizes and gaps */
    DOMAIN_SLOT,        /* per cookie: session start positions */
    DOMAIN_CONTENT,     /* per cookie: tastes, devices, products, types */
    DOMAIN_COOKIE_ID,   /* key that turns a cookie index into its id */
};

struct rng {
    uint64_t s[4];
};

static inline void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ULL;
        r->s[i] = mix64(seed);
    }
}

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

/* Uniform in [0, 1). */
static inline double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), n >= 1. */
static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Exponential with mean 1. */
static inline double rng_exp(struct rng *r)
{
    return -log1p(-rng_unit(r));
}

/* Standard normal (Marsaglia's polar method, one value per call). */
static inline double rng_normal(struct rng *r)
{
    for (;;) {
        double u = 2.0 * rng_unit(r) - 1.0, v = 2.0 * rng_unit(r) - 1.0;
        double s = u * u + v * v;
        if (s > 0.0 && s < 1.0)
            return u * sqrt(-2.0 * log(s) / s);
    }
}

/* Seed *r for (domain, index) under the run's seed. */
static inline void rng_seed_for(struct rng *r, uint64_t seed, enum gen_domain domain, uint64_t index)
{
    rng_seed(r, derive(seed, domain, index));
}

#endif
