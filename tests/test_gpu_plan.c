/*
 * test_gpu_plan.c - builder/gpu_plan.c, the plain-C half of the GPU
 * backend; runs without a GPU. The merge of ranked lists against a sort,
 * the host reference of the per-tile top-k kernel against a brute-force
 * top-n (ties, -inf, NaN, buffer flushes, many tiles), and the batch/tile
 * arithmetic from free device memory.
 */
#include "gpu.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int cmp_before(const void *a, const void *b)
{
    struct rb_hit x = *(const struct rb_hit *)a, y = *(const struct rb_hit *)b;
    return rb_hit_before(x, y) ? -1 : rb_hit_before(y, x) ? 1 : 0;
}

/* The n best of s[0, len) (index = position), -inf and NaN left out. Returns the count. */
static uint32_t brute(struct rb_hit *out, const float *s, uint32_t len, uint32_t n)
{
    struct rb_hit *all = malloc(sizeof(*all) * (len + 1));
    uint32_t m = 0;
    for (uint32_t j = 0; j < len; j++)
        if (s[j] > -INFINITY)
            all[m++] = (struct rb_hit){s[j], j};
    qsort(all, m, sizeof(*all), cmp_before);
    uint32_t k = m < n ? m : n;
    memcpy(out, all, sizeof(*all) * k);
    free(all);
    return k;
}

#ifdef RB_HAVE_CUDA
/* rb does not link cuBLAS; the GPU path loads it on first use. Where the
 * toolkit is installed (every build with CUDA on) it must load, device or
 * not. */
START_TEST(test_cublas_loads)
{
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_cublas_load(err) == 0, "%s", err);
    ck_assert_msg(rb_cublas_load(err) == 0, "second call: %s", err);
}
END_TEST
#endif

START_TEST(test_order)
{
    ck_assert(rb_hit_before((struct rb_hit){2.0f, 9}, (struct rb_hit){1.0f, 0}));
    ck_assert(rb_hit_before((struct rb_hit){1.0f, 3}, (struct rb_hit){1.0f, 4}));
    ck_assert(!rb_hit_before((struct rb_hit){1.0f, 4}, (struct rb_hit){1.0f, 4}));
    struct rb_hit x[] = {{5, 1}, {4, 0}, {4, 2}, {1, 7}};
    ck_assert_uint_eq(rb_hits_before(x, 4, (struct rb_hit){6, 0}), 0);
    ck_assert_uint_eq(rb_hits_before(x, 4, (struct rb_hit){4, 1}), 2);
    ck_assert_uint_eq(rb_hits_before(x, 4, (struct rb_hit){0, 0}), 4);
    ck_assert_uint_eq(rb_hits_before(x, 0, (struct rb_hit){0, 0}), 0);
}
END_TEST

START_TEST(test_merge)
{
    uint64_t s = 7;
    for (int round = 0; round < 200; round++) {
        uint32_t na = (uint32_t)(rng_next(&s) % 40), nb = (uint32_t)(rng_next(&s) % 40);
        uint32_t n = 1 + (uint32_t)(rng_next(&s) % 50);
        struct rb_hit a[40], b[40], all[80], out[50];
        /* disjoint indices: a even, b odd; few distinct scores, so many ties */
        for (uint32_t j = 0; j < na; j++)
            a[j] = (struct rb_hit){(float)(rng_next(&s) % 5), 2 * j};
        for (uint32_t j = 0; j < nb; j++)
            b[j] = (struct rb_hit){(float)(rng_next(&s) % 5), 2 * j + 1};
        qsort(a, na, sizeof(*a), cmp_before);
        qsort(b, nb, sizeof(*b), cmp_before);
        memcpy(all, a, sizeof(*a) * na);
        memcpy(all + na, b, sizeof(*b) * nb);
        qsort(all, na + nb, sizeof(*all), cmp_before);
        uint32_t m = rb_topk_merge(out, n, a, na, b, nb);
        ck_assert_uint_eq(m, na + nb < n ? na + nb : n);
        for (uint32_t j = 0; j < m; j++) {
            ck_assert_float_eq(out[j].s, all[j].s);
            ck_assert_uint_eq(out[j].i, all[j].i);
        }
    }
}
END_TEST

/*
 * A row of `total` scores fed tile by tile through the kernel's host
 * reference equals the brute-force top n, for block sizes and buffers that
 * force flushes mid-tile, tiles that are not multiples of the block, and
 * scores with many ties, -inf (excluded) and NaN.
 */
static void check_update(uint32_t total, uint32_t n, uint32_t tile, uint32_t chunk, uint32_t buf_cap, int distinct,
                         uint64_t seed)
{
    uint64_t s = seed;
    float *sc = malloc(sizeof(float) * (total + 1));
    for (uint32_t j = 0; j < total; j++) {
        uint64_t r = rng_next(&s);
        sc[j] = distinct ? (float)((double)(r >> 11) * (1.0 / 9007199254740992.0)) : (float)(r % 17) - 8.0f;
        if (r % 23 == 0)
            sc[j] = -INFINITY;
        else if (r % 97 == 0)
            sc[j] = NAN;
    }
    struct rb_hit *list = malloc(sizeof(*list) * n), *want = malloc(sizeof(*want) * n);
    struct rb_hit *scratch = malloc(sizeof(*scratch) * (buf_cap + n));
    uint32_t len = 0, flushes = 0;
    for (uint32_t j0 = 0; j0 < total; j0 += tile) {
        uint32_t tn = total - j0 < tile ? total - j0 : tile;
        flushes += rb_topk_update_host(list, &len, n, sc + j0, tn, j0, chunk, buf_cap, scratch);
    }
    uint32_t wl = brute(want, sc, total, n);
    ck_assert_uint_eq(len, wl);
    for (uint32_t j = 0; j < len; j++) {
        ck_assert_msg(list[j].i == want[j].i && list[j].s == want[j].s,
                      "total %u n %u tile %u chunk %u buf %u: at %u got (%g, %u) want (%g, %u)", total, n, tile, chunk,
                      buf_cap, j, (double)list[j].s, list[j].i, (double)want[j].s, want[j].i);
    }
    ck_assert_uint_ge(flushes, total > 0 && wl > 0 ? 1 : 0);
    free(sc);
    free(list);
    free(want);
    free(scratch);
}

START_TEST(test_update_matches_brute_force)
{
    /* the kernel's shape: blocks of 256, a buffer of 2048 */
    check_update(100000, 100, 4096, 256, 2048, 1, 1);
    check_update(100000, 100, 4096, 256, 2048, 0, 2);   /* 17 distinct scores: ties everywhere */
    check_update(100000, 1000, 100000, 256, 2048, 1, 3); /* n = RC_LIST_MAX, one tile */
    check_update(100000, 1000, 777, 256, 2048, 0, 4);
    /* small shapes: flush after every chunk, tiles shorter than a chunk */
    check_update(5000, 7, 13, 4, 4, 0, 5);
    check_update(5000, 50, 300, 32, 40, 1, 6);
    check_update(3, 10, 1, 1, 1, 0, 7);   /* fewer candidates than n */
    check_update(0, 10, 16, 4, 8, 1, 8);  /* nothing at all */
    check_update(1000, 1, 1000, 256, 256, 0, 9);
}
END_TEST

START_TEST(test_update_all_excluded)
{
    float sc[64];
    for (int j = 0; j < 64; j++)
        sc[j] = -INFINITY;
    struct rb_hit list[8], scratch[16 + 8];
    uint32_t len = 0;
    ck_assert_uint_eq(rb_topk_update_host(list, &len, 8, sc, 64, 0, 8, 16, scratch), 0);
    ck_assert_uint_eq(len, 0);
    /* bad shapes do nothing */
    ck_assert_uint_eq(rb_topk_update_host(list, &len, 8, sc, 64, 0, 0, 16, scratch), 0);
    ck_assert_uint_eq(rb_topk_update_host(list, &len, 8, sc, 64, 0, 32, 16, scratch), 0);
}
END_TEST

START_TEST(test_plan)
{
    struct rb_gpu_plan p;
    const uint64_t GiB = 1ull << 30;

    /* 80 GB device, 1M users x 100k in-stock products, f 64, n 100: one tile, a full batch */
    ck_assert_int_eq(rb_gpu_plan_topk(&p, 80 * GiB, 1000000, 100000, 64, 100, 64 << 20), 0);
    ck_assert_uint_eq(p.tile, 100000);
    ck_assert_uint_eq(p.batch, (uint32_t)(RB_GPU_SCORES_MAX / 100000));
    ck_assert_uint_le(p.bytes, (uint64_t)(80 * GiB * RB_GPU_HEADROOM));
    ck_assert_uint_le((uint64_t)p.batch * p.tile, RB_GPU_SCORES_MAX);

    /* more candidates than a tile: tiles of RB_GPU_TILE_MAX */
    ck_assert_int_eq(rb_gpu_plan_topk(&p, 80 * GiB, 1000000, 10000000, 64, 100, 0), 0);
    ck_assert_uint_eq(p.tile, RB_GPU_TILE_MAX);

    /* few queries: the batch is all of them */
    ck_assert_int_eq(rb_gpu_plan_topk(&p, 80 * GiB, 10, 5000, 64, 100, 0), 0);
    ck_assert_uint_eq(p.batch, 10);
    ck_assert_uint_eq(p.tile, 5000);

    /* tight memory: the tile halves until 256 rows fit, then the batch is what fits */
    uint64_t nc = 1000000, f = 64, n = 100;
    uint64_t resident = nc * f * 4;
    uint64_t free_b = (uint64_t)((double)(resident + 256 * (4 * (f + 8192) + 8 * n + 4)) / RB_GPU_HEADROOM) + 4096;
    ck_assert_int_eq(rb_gpu_plan_topk(&p, free_b, 1000000, nc, (uint32_t)f, (uint32_t)n, 0), 0);
    ck_assert_uint_eq(p.tile, RB_GPU_TILE_MAX / 16); /* 8192 */
    ck_assert_uint_ge(p.batch, 256);
    ck_assert_uint_le(p.bytes, (uint64_t)((double)free_b * RB_GPU_HEADROOM));

    /* the tile never drops below RB_GPU_TILE_MIN; then fewer rows */
    free_b = (uint64_t)((double)(resident + 10 * (4 * (f + RB_GPU_TILE_MIN) + 8 * n + 4)) / RB_GPU_HEADROOM) + 4096;
    ck_assert_int_eq(rb_gpu_plan_topk(&p, free_b, 1000000, nc, (uint32_t)f, (uint32_t)n, 0), 0);
    ck_assert_uint_eq(p.tile, RB_GPU_TILE_MIN);
    ck_assert_uint_ge(p.batch, 10);
    ck_assert_uint_lt(p.batch, 256);

    /* candidates alone do not fit, or not one row beside them */
    ck_assert_int_eq(rb_gpu_plan_topk(&p, 100 << 20, 1000, 10000000, 64, 100, 0), -ENOMEM);
    ck_assert_int_eq(rb_gpu_plan_topk(&p, (uint64_t)((double)resident / RB_GPU_HEADROOM) + 1000, 1000, nc, 64, 100, 0),
                     -ENOMEM);
    /* exclusions count as resident */
    ck_assert_int_eq(rb_gpu_plan_topk(&p, 80 * GiB, 1000, 1000, 64, 100, 80 * GiB), -ENOMEM);

    /* degenerate shapes */
    ck_assert_int_eq(rb_gpu_plan_topk(&p, GiB, 0, 1000, 64, 100, 0), 0);
    ck_assert_uint_eq(p.batch, 1);
    ck_assert_int_eq(rb_gpu_plan_topk(&p, GiB, 1000, 0, 64, 100, 0), 0);
    ck_assert_int_eq(rb_gpu_plan_topk(&p, GiB, 1000, 1000, 0, 100, 0), RC_ERANGE);
    ck_assert_int_eq(rb_gpu_plan_topk(&p, GiB, 1000, 1000, 64, 0, 0), RC_ERANGE);
}
END_TEST

START_TEST(test_parts)
{
    uint64_t lo, hi, covered = 0, k;
    for (k = 0; rb_gpu_part(10007, 1000, k, &lo, &hi); k++) {
        ck_assert_uint_eq(lo, covered);
        ck_assert_uint_gt(hi, lo);
        ck_assert_uint_le(hi - lo, 1000);
        covered = hi;
    }
    ck_assert_uint_eq(k, 11);
    ck_assert_uint_eq(covered, 10007);
    ck_assert_int_eq(rb_gpu_part(0, 1000, 0, &lo, &hi), 0);
    ck_assert_int_eq(rb_gpu_part(10, 0, 0, &lo, &hi), 0);
    ck_assert_int_eq(rb_gpu_part(1000, 1000, 0, &lo, &hi), 1);
    ck_assert_uint_eq(hi, 1000);
    ck_assert_int_eq(rb_gpu_part(1000, 1000, 1, &lo, &hi), 0);
}
END_TEST

static Suite *gpu_plan_suite(void)
{
    Suite *s = suite_create("gpu_plan");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_order);
    tcase_add_test(tc, test_merge);
    tcase_add_test(tc, test_update_matches_brute_force);
    tcase_add_test(tc, test_update_all_excluded);
    tcase_add_test(tc, test_plan);
    tcase_add_test(tc, test_parts);
#ifdef RB_HAVE_CUDA
    tcase_add_test(tc, test_cublas_loads);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gpu_plan_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
