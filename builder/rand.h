/*
 * rand.h - the builder's one pseudo-random generator: splitmix64 (Steele,
 * Lea, Flood 2014), counter-based, so a value depends only on its seed and
 * index, never on thread scheduling or call order elsewhere. ALS start
 * values, the holdout's random split, cookie samples and the tuner's draws
 * all come from here; same seed, same numbers.
 */
#ifndef RB_RAND_H
#define RB_RAND_H

#include <stdint.h>

#define RB_GOLDEN64 0x9e3779b97f4a7c15ULL

/* A well-mixed function of x (a bijection on 64 bits). */
static inline uint64_t rb_splitmix64(uint64_t x)
{
    x += RB_GOLDEN64;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The next value of the sequence *state walks, advancing it. */
static inline uint64_t rb_rand_next(uint64_t *state)
{
    uint64_t x = *state;
    *state += RB_GOLDEN64;
    return rb_splitmix64(x);
}

/* Uniform in [0, 1), 53 bits, from one 64-bit value. */
static inline double rb_rand_unit(uint64_t v)
{
    return (double)(v >> 11) * (1.0 / 9007199254740992.0);
}

#endif
