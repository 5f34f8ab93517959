/*
 * test_stages.c - builder/stages.c: the --shard and stage flag checks, the
 * train stage's files read back exactly (parameters and factors), shards
 * scored apart and merged equal to the whole scorer's lists, and the merge
 * refusing a missing shard, a damaged one, one of other factors, and
 * factors of other inputs. tests/e2e/shards.sh runs the stages end to end.
 */
#include "stages.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "scratch.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static float rng_sym(uint64_t *s)
{
    return (float)((double)(rng_next(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

struct fixture {
    struct rb_als_model m;
    struct rb_train t;
    struct rb_dataset d;
};

/* users x items random factors (f); every third user wants no list; user u
 * bought product u % items. */
static void fixture_make(struct fixture *x, uint32_t users, uint32_t items, uint32_t f, uint64_t seed)
{
    memset(x, 0, sizeof(*x));
    uint64_t s = seed;
    x->m = (struct rb_als_model){.users = users, .items = items, .f = f};
    x->m.U = malloc(sizeof(float) * ((size_t)users * f + 1));
    x->m.V = malloc(sizeof(float) * ((size_t)items * f + 1));
    for (size_t j = 0; j < (size_t)users * f; j++)
        x->m.U[j] = rng_sym(&s);
    for (size_t j = 0; j < (size_t)items * f; j++)
        x->m.V[j] = rng_sym(&s);
    struct rb_train *t = &x->t;
    t->ui.rows = users;
    t->ui.cols = items;
    t->ui.indptr = calloc((size_t)users + 1, sizeof(uint64_t));
    t->row_cookie = malloc(sizeof(uint32_t) * (users + 1));
    t->row_wants_list = malloc(users + 1);
    struct rb_csr *b = &t->bought;
    b->rows = users;
    b->cols = items;
    b->indptr = calloc((size_t)users + 1, sizeof(uint64_t));
    b->indices = malloc(sizeof(uint32_t) * (users + 1));
    b->values = malloc(sizeof(float) * (users + 1));
    for (uint32_t u = 0; u < users; u++) {
        t->row_cookie[u] = u;
        t->row_wants_list[u] = u % 3 != 0;
        b->indices[b->nnz] = u % items;
        b->values[b->nnz++] = 1.0f;
        b->indptr[u + 1] = b->nnz;
    }
    x->d.cookies.n = users;
    x->d.cookies.keys = malloc(sizeof(uint64_t) * (users + 1));
    for (uint32_t c = 0; c < users; c++)
        x->d.cookies.keys[c] = 0xc00c1e0000ULL + c;
    x->d.products.n = items;
    x->d.products.keys = malloc(sizeof(uint64_t) * (items + 1));
    for (uint32_t i = 0; i < items; i++)
        x->d.products.keys[i] = 0x9e0d000000ULL + i;
}

static void fixture_free(struct fixture *x)
{
    rb_als_release(&x->m);
    rb_train_release(&x->t);
    free(x->d.cookies.keys);
    free(x->d.products.keys);
}

static struct rb_params params_example(void)
{
    struct rb_params p;
    memset(&p, 0, sizeof(p));
    rb_train_opts_default(&p.train);
    rb_als_opts_default(&p.als);
    p.als.factors = 8;
    p.als.reg = 0.1f / 3; /* not exact in decimal: must still read back bit for bit */
    p.als.alpha = 7.25f;
    p.als.iterations = 9;
    p.train.weight[RB_VIEW] = 1.0f / 7;
    p.train.weight[RB_CART] = 3;
    p.train.weight[RB_PURCHASE] = 11.5f;
    p.train.half_life_days = 1.0 / 3;
    return p;
}

START_TEST(test_flags)
{
    struct rb_stage_opts o;
    char err[RC_ERRMSG_MAX];
    memset(&o, 0, sizeof(o));
    ck_assert_int_eq(rb_stage_parse_shard(&o, "3/4", err), 0);
    ck_assert_uint_eq(o.shard, 3);
    ck_assert_uint_eq(o.shards, 4);
    ck_assert_int_eq(rb_stage_parse_shard(&o, "0/1", err), 0);
    static const char *const bad[] = {"4/4", "1", "1/", "/4", "-1/4", "1/-4", "1/0", "a/4", "1/4x", "0/4097", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(rb_stage_parse_shard(&o, bad[i], err) != 0, "'%s' accepted", bad[i]);

    memset(&o, 0, sizeof(o));
    ck_assert_int_eq(rb_stage_check(&o, err), 0); /* the one-command build */
    o.work = "w";
    ck_assert_int_eq(rb_stage_check(&o, err), RC_EFORMAT); /* --work without --stage */
    o.stage = RB_STAGE_TRAIN;
    ck_assert_int_eq(rb_stage_check(&o, err), 0);
    o.stage = RB_STAGE_SCORE;
    ck_assert_int_eq(rb_stage_check(&o, err), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "--shard I/N"));
    ck_assert_int_eq(rb_stage_parse_shard(&o, "1/2", err), 0);
    ck_assert_int_eq(rb_stage_check(&o, err), 0);
    o.stage = RB_STAGE_MERGE; /* --shard is score's */
    ck_assert_int_eq(rb_stage_check(&o, err), RC_EFORMAT);
    o.have_shard = 0;
    ck_assert_int_eq(rb_stage_check(&o, err), 0);
    o.shards = 0;
    ck_assert_int_eq(rb_stage_check(&o, err), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "--shards N"));
    o.work = NULL;
    o.shards = 2;
    ck_assert_int_eq(rb_stage_check(&o, err), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "--work"));
}
END_TEST

/* A whole text file (at most 4 KiB, NUL-terminated), and writing it back. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *text = calloc(4097, 1);
    ck_assert_ptr_nonnull(text);
    size_t len = fread(text, 1, 4096, f);
    ck_assert(feof(f) && len > 0);
    fclose(f);
    return text;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

static void shard_file(char *path, size_t cap, const char *dir, uint32_t i, uint32_t n)
{
    ck_assert_int_lt(snprintf(path, cap, "%s/shard-%u-of-%u.bin", dir, i, n), (int)cap);
}

START_TEST(test_round_trip)
{
    char dir[PATH_MAX], err[RC_ERRMSG_MAX] = "", path[PATH_MAX + 64], source[RB_STAGE_SOURCE_MAX] = "";
    scratch_make(dir, sizeof(dir), "stages");
    struct fixture x;
    fixture_make(&x, 2000, 300, 8, 7);
    struct rb_stage_opts o = {.stage = RB_STAGE_TRAIN, .work = dir};
    struct rb_params p = params_example(), q;
    ck_assert_msg(rb_stage_write_train(&o, &p, "tuned", &x.t, &x.d, &x.m, err) == 0, "%s", err);

    /* the parameters and the factors read back exactly */
    memset(&q, 0, sizeof(q));
    ck_assert_msg(rb_stage_read_params(&o, &q, source, err) == 0, "%s", err);
    ck_assert_uint_eq(q.als.factors, p.als.factors);
    ck_assert(q.als.reg == p.als.reg && q.als.alpha == p.als.alpha);
    ck_assert_uint_eq(q.als.iterations, p.als.iterations);
    for (int w = RB_VIEW; w <= RB_PURCHASE; w++)
        ck_assert(q.train.weight[w] == p.train.weight[w]);
    ck_assert(q.train.half_life_days == p.train.half_life_days);
    ck_assert_str_eq(source, "tuned"); /* the merge's parameters.source is train's */
    struct rb_als_model back;
    memset(&back, 0, sizeof(back));
    ck_assert_msg(rb_stage_read_factors(&o, &x.t, &x.d, &back, err) == 0, "%s", err);
    ck_assert_uint_eq(back.users, 2000);
    ck_assert_uint_eq(back.items, 300);
    ck_assert_uint_eq(back.f, 8);
    ck_assert_int_eq(memcmp(back.U, x.m.U, sizeof(float) * 2000 * 8), 0);
    ck_assert_int_eq(memcmp(back.V, x.m.V, sizeof(float) * 300 * 8), 0);

    /* three shards, scored out of order, merge into the whole scorer's lists */
    uint32_t n = 12;
    struct rb_lists whole, merged;
    struct rb_score_opts so;
    struct rb_score_stats st;
    rb_score_opts_default(&so);
    ck_assert_msg(rb_score_cf(&whole, &x.m, &x.t, &x.d, n, 1, RB_SCORE_AUTO, err) == 0, "%s", err);
    o.stage = RB_STAGE_SCORE;
    o.shards = 3;
    for (int i = 2; i >= 0; i--) {
        const char *written;
        o.shard = (uint32_t)i;
        ck_assert_msg(rb_stage_score(&o, &back, &x.t, &x.d, n, 1, &so, &written, err) == 0, "%s", err);
        shard_file(path, sizeof(path), dir, (uint32_t)i, 3);
        ck_assert_str_eq(written, path);
    }
    o.stage = RB_STAGE_MERGE;
    ck_assert_msg(rb_stage_merge_shards(&o, &back, &x.t, &x.d, n, &so, &st, &merged, err) == 0, "%s", err);
    ck_assert_uint_eq(merged.n, whole.n);
    ck_assert_uint_eq(merged.k, whole.k);
    for (size_t li = 0; li < whole.n; li++) {
        ck_assert_uint_eq(merged.owner_key[li], whole.owner_key[li]);
        ck_assert_uint_eq(merged.len[li], whole.len[li]);
        ck_assert_uint_eq(merged.source[li], whole.source[li]);
        ck_assert_int_eq(memcmp(&merged.items[li * n], &whole.items[li * n], sizeof(uint32_t) * whole.len[li]), 0);
        ck_assert_int_eq(memcmp(&merged.scores[li * n], &whole.scores[li * n], sizeof(float) * whole.len[li]), 0);
    }
    rb_lists_release(&merged);

    /* another depth than the shards': of another run */
    ck_assert_int_eq(rb_stage_merge_shards(&o, &back, &x.t, &x.d, n + 1, &so, &st, &merged, err), RC_EMISMATCH);
    ck_assert_ptr_nonnull(strstr(err, "of another run"));

    /* a damaged shard: one byte of its lists */
    shard_file(path, sizeof(path), dir, 1, 3);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 100, SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_eq(fseek(f, 100, SEEK_SET), 0);
    fputc(c ^ 1, f);
    fclose(f);
    ck_assert_int_eq(rb_stage_merge_shards(&o, &back, &x.t, &x.d, n, &so, &st, &merged, err), RC_ECHECKSUM);
    ck_assert_ptr_nonnull(strstr(err, "shard 1 of 3 is damaged"));
    /* cut short */
    ck_assert_int_eq(truncate(path, 40), 0);
    ck_assert_int_eq(rb_stage_merge_shards(&o, &back, &x.t, &x.d, n, &so, &st, &merged, err), RC_ETRUNC);
    /* missing */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rb_stage_merge_shards(&o, &back, &x.t, &x.d, n, &so, &st, &merged, err), RC_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "shard 1 of 3 is missing"));
    ck_assert_ptr_null(merged.items);

    /* shards of other factors: of another run */
    o.stage = RB_STAGE_SCORE;
    o.shard = 1;
    const char *written;
    ck_assert_int_eq(rb_stage_score(&o, &back, &x.t, &x.d, n, 1, &so, &written, err), 0);
    back.V[5] += 1.0f;
    o.stage = RB_STAGE_MERGE;
    ck_assert_int_eq(rb_stage_merge_shards(&o, &back, &x.t, &x.d, n, &so, &st, &merged, err), RC_EMISMATCH);
    back.V[5] -= 1.0f;

    /* other inputs than train's: the factors are refused */
    x.d.cookies.keys[7] ^= 1;
    ck_assert_int_eq(rb_stage_read_factors(&o, &x.t, &x.d, &back, err), RC_EMISMATCH);
    ck_assert_ptr_nonnull(strstr(err, "differ from the train stage"));
    x.d.cookies.keys[7] ^= 1;

    /* factors changed after train.txt was written: the checksum says so */
    ck_assert_int_lt(snprintf(path, sizeof(path), "%s/factors_item.npy", dir), (int)sizeof(path));
    f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, -1, SEEK_END), 0);
    fputc(0x55, f);
    fclose(f);
    ck_assert_int_eq(rb_stage_read_factors(&o, &x.t, &x.d, &back, err), RC_ECHECKSUM);

    /* a source that is none of the four, and none at all */
    ck_assert_int_eq(rb_stage_write_train(&o, &p, "guessed", &x.t, &x.d, &x.m, err), RC_EINTERNAL);
    ck_assert_int_lt(snprintf(path, sizeof(path), "%s/train.txt", dir), (int)sizeof(path));
    char *text = read_text(path);
    char *line = strstr(text, "source = tuned\n");
    ck_assert_ptr_nonnull(line);
    memcpy(line, "source = guess\n", 15);
    write_text(path, text);
    ck_assert_int_eq(rb_stage_read_params(&o, &q, source, err), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "bad value for 'source'"));
    memcpy(line, "#ource = tuned\n", 15);
    write_text(path, text);
    ck_assert_int_eq(rb_stage_read_params(&o, &q, source, err), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "incomplete"));
    free(text);

    /* no train stage */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rb_stage_read_params(&o, &q, source, err), RC_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "--stage train"));

    rb_lists_release(&whole);
    rb_als_release(&back);
    fixture_free(&x);
    scratch_remove(dir);
}
END_TEST

/* The approximate scorer in shards: every shard calibrates on the same
 * sample of all the rows, so the merge equals the whole run and carries
 * its nlist and nprobe; a shard of another flags digest is of another run. */
START_TEST(test_ivf_shards)
{
    char dir[PATH_MAX], err[RC_ERRMSG_MAX] = "";
    scratch_make(dir, sizeof(dir), "stages-ivf");
    struct fixture x;
    fixture_make(&x, 10000, 800, 8, 11); /* 6,666 rows with a list: two shards of 4,096-row units */
    struct rb_stage_opts o = {.stage = RB_STAGE_TRAIN, .work = dir, .flags = 42};
    struct rb_params p = params_example();
    ck_assert_msg(rb_stage_write_train(&o, &p, "tuned", &x.t, &x.d, &x.m, err) == 0, "%s", err);
    struct rb_score_opts so;
    struct rb_score_stats whole_st, st;
    rb_score_opts_default(&so);
    so.method = RB_SCORE_IVF;
    so.recall_sample = 200;
    uint32_t n = 10;
    struct rb_lists whole, merged;
    ck_assert_msg(rb_score_cf_all(&whole, &whole_st, &x.m, &x.t, &x.d, n, 1, &so, err) == 0, "%s", err);
    ck_assert_int_eq(whole_st.method, RB_SCORE_IVF);
    ck_assert_uint_eq(whole_st.nlist, 800 / 39);
    ck_assert_uint_ge(whole_st.nprobe, 8);
    ck_assert_uint_eq(whole_st.sampled, 200);
    ck_assert(whole_st.recall > 0.5 && whole_st.recall <= 1.0);

    o.stage = RB_STAGE_SCORE;
    o.shards = 2;
    for (uint32_t i = 0; i < 2; i++) {
        const char *written;
        o.shard = i;
        ck_assert_msg(rb_stage_score(&o, &x.m, &x.t, &x.d, n, 1, &so, &written, err) == 0, "%s", err);
    }
    o.stage = RB_STAGE_MERGE;
    ck_assert_msg(rb_stage_merge_shards(&o, &x.m, &x.t, &x.d, n, &so, &st, &merged, err) == 0, "%s", err);
    ck_assert_int_eq(st.method, RB_SCORE_IVF);
    ck_assert_uint_eq(st.nlist, whole_st.nlist);
    ck_assert_uint_eq(st.nprobe, whole_st.nprobe);
    ck_assert_uint_eq(merged.n, whole.n);
    for (size_t li = 0; li < whole.n; li++) {
        ck_assert_uint_eq(merged.len[li], whole.len[li]);
        ck_assert_int_eq(memcmp(&merged.items[li * n], &whole.items[li * n], sizeof(uint32_t) * whole.len[li]), 0);
    }
    ck_assert_msg(rb_score_cf_recall(&st, &merged, &x.m, &x.t, &x.d, n, 1, 200, err) == 0, "%s", err);
    ck_assert(st.recall == whole_st.recall);
    /* a sample larger than half the rows is cut to half: the measuring
     * sample never shares a row with the calibration's */
    ck_assert_msg(rb_score_cf_recall(&st, &merged, &x.m, &x.t, &x.d, n, 1, 100000, err) == 0, "%s", err);
    ck_assert_uint_eq(st.sampled, 6666 / 2);

    /* auto: GEMM until both the candidates and the exact work are large */
    struct rb_score_opts ao;
    rb_score_opts_default(&ao);
    ck_assert_int_eq(rb_score_cf_method(&ao, &x.m, &x.t, &x.d), RB_SCORE_GEMM);
    ao.approx_min = 800;
    ck_assert_int_eq(rb_score_cf_method(&ao, &x.m, &x.t, &x.d), RB_SCORE_GEMM); /* 6,666 x 800 x 8 multiply-adds */
    ao.approx_work = 6666.0 * 800 * 8;
    ck_assert_int_eq(rb_score_cf_method(&ao, &x.m, &x.t, &x.d), RB_SCORE_IVF);
    ao.approx_min = 801;
    ck_assert_int_eq(rb_score_cf_method(&ao, &x.m, &x.t, &x.d), RB_SCORE_GEMM);

    /* calibration aims 0.01 above the target, or half-way to 1 when that
     * is less (0.99 must not mean a full scan) */
    ck_assert(fabs(rb_score_recall_aim(0.95) - 0.96) < 1e-12);
    ck_assert(fabs(rb_score_recall_aim(0.99) - 0.995) < 1e-12);
    ck_assert(rb_score_recall_aim(1.0) == 1.0);
    rb_lists_release(&merged);

    /* the merge, told the shards were scored exactly, refuses them */
    so.method = RB_SCORE_FAISS;
    ck_assert_int_eq(rb_stage_merge_shards(&o, &x.m, &x.t, &x.d, n, &so, &st, &merged, err), RC_EMISMATCH);
    so.method = RB_SCORE_IVF;

    /* other flags (their digest) than train's: refused */
    o.flags = 43;
    ck_assert_int_eq(rb_stage_read_factors(&o, &x.t, &x.d, &x.m, err), RC_EMISMATCH);
    ck_assert_ptr_nonnull(strstr(err, "differ from the train stage"));
    ck_assert_int_eq(rb_stage_merge_shards(&o, &x.m, &x.t, &x.d, n, &so, &st, &merged, err), RC_EMISMATCH);

    rb_lists_release(&whole);
    fixture_free(&x);
    scratch_remove(dir);
}
END_TEST

static Suite *stages_suite(void)
{
    Suite *s = suite_create("stages");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_flags);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_ivf_shards);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stages_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
