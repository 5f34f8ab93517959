/*
 * test_swap.c - edge/swap.c: loading, verifying and swapping cache versions
 * under requests that hold references and per-thread read transactions;
 * refusing corrupt versions; the watcher's inotify and poll paths.
 */
#include "error.h"
#include "experiment.h"
#include "fixture.h"
#include "scratch.h"
#include "log.h"
#include "query.h"
#include "route.h"
#include "swap.h"

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char root[PATH_MAX];

static void make_root(void)
{
    scratch_make(root, sizeof(root), "swap");
    rc_log_setup(RC_LOG_WARN, 0);
}

static void remove_root(void)
{
    scratch_remove(root);
}

/* A version whose global list holds one product named after it. */
static void write_version(const char *version, int flip)
{
    struct fx *f = fx_new();
    struct fx_entry e = {version, 0, 1.0f};
    fx_segment(f, "*", "*", &e, 1);
    char err[RC_ERRMSG_MAX];
    ck_assert_msg(fx_write(f, root, version, flip, err) == 0, "%s", err);
    fx_free(f);
}

static void flip(const char *version)
{
    char err[RC_ERRMSG_MAX];
    ck_assert_msg(rc_layout_flip(root, version, err) == 0, "%s", err);
}

/* Flip one byte in the middle of a version's data.mdb. */
static void corrupt(const char *version)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/versions/%s/data.mdb", root, version);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    unsigned char c;
    ck_assert_int_eq(pread(fd, &c, 1, st.st_size / 2), 1);
    c ^= 0x5a;
    ck_assert_int_eq(pwrite(fd, &c, 1, st.st_size / 2), 1);
    close(fd);
}

/* The one product of the global list in the thread's txn on v. */
static void assert_serves(struct re_holder *h, struct re_version *v, const char *want)
{
    MDB_txn *txn;
    ck_assert_int_eq(re_holder_txn(h, v, &txn), 0);
    struct re_query q;
    re_query_init(&q);
    static __thread struct re_route_scratch s;
    static __thread struct re_recs r;
    ck_assert_int_eq(re_route(&v->cache, txn, &q, &s, &r), 0);
    ck_assert_int_eq(r.count, 1);
    ck_assert_int_eq(r.items[0].id_len, strlen(want));
    ck_assert_int_eq(memcmp(r.items[0].id, want, strlen(want)), 0);
    re_holder_txn_done(txn);
}

START_TEST(test_no_version_yet)
{
    struct re_holder *h;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(re_holder_create(&h, root, err), 0);
    ck_assert_int_eq(re_holder_check(h, 0, err), RC_ENOTFOUND);
    ck_assert_ptr_null(re_holder_acquire(h));
    struct re_cache_info ci;
    re_holder_info(h, &ci);
    ck_assert_int_eq(ci.loaded, 0);
    re_holder_destroy(h);
}
END_TEST

START_TEST(test_load_swap_and_keep_old_while_referenced)
{
    struct re_holder *h;
    char err[RC_ERRMSG_MAX];
    write_version("20260101T000000Z", 1);
    write_version("20260101T010000Z", 0);
    ck_assert_int_eq(re_holder_create(&h, root, err), 0);
    ck_assert_msg(re_holder_check(h, 0, err) == 0, "%s", err);
    struct re_version *v1 = re_holder_acquire(h);
    ck_assert_ptr_nonnull(v1);
    ck_assert_str_eq(v1->cache.manifest.version, "20260101T000000Z");
    assert_serves(h, v1, "20260101T000000Z");

    /* Unchanged `current`: nothing happens. */
    ck_assert_int_eq(re_holder_check(h, 0, err), 0);
    struct re_version *same = re_holder_acquire(h);
    ck_assert_ptr_eq(same, v1);
    re_holder_release(h, same);

    flip("20260101T010000Z");
    ck_assert_msg(re_holder_check(h, 0, err) == 0, "%s", err);
    struct re_version *v2 = re_holder_acquire(h);
    ck_assert_ptr_ne(v2, v1);
    ck_assert_str_eq(v2->cache.manifest.version, "20260101T010000Z");
    ck_assert_uint_gt(v2->gen, v1->gen);
    /* The old version still answers for the request that holds it. */
    assert_serves(h, v1, "20260101T000000Z");
    assert_serves(h, v2, "20260101T010000Z");
    assert_serves(h, v1, "20260101T000000Z");
    re_holder_release(h, v1); /* the last reference: closed here (no watcher) */
    assert_serves(h, v2, "20260101T010000Z");

    /* Rolling back loads the old version again, as a new generation. */
    flip("20260101T000000Z");
    ck_assert_int_eq(re_holder_check(h, 0, err), 0);
    struct re_version *v3 = re_holder_acquire(h);
    ck_assert_str_eq(v3->cache.manifest.version, "20260101T000000Z");
    ck_assert_uint_gt(v3->gen, v2->gen);
    assert_serves(h, v3, "20260101T000000Z");
    re_holder_release(h, v3);
    re_holder_release(h, v2);

    struct re_cache_info ci;
    re_holder_info(h, &ci);
    ck_assert_int_eq(ci.loaded, 1);
    ck_assert_uint_eq(ci.swaps, 3);
    ck_assert_uint_eq(ci.refused, 0);
    ck_assert_uint_eq(ci.counts[RC_DB_SEGMENT], 1);
    ck_assert_uint_eq(ci.counts[RC_DB_ITEMS], 1);
    re_holder_destroy(h);
}
END_TEST

/* A FIFO as data.mdb (listed as 0 bytes) and a link to /dev/zero: refused
 * at once, never opened; the old version keeps serving. Before the version
 * module a check blocked in open(2) on the FIFO and read /dev/zero forever. */
START_TEST(test_refuse_unsafe_files)
{
    struct re_holder *h;
    char err[RC_ERRMSG_MAX], path[PATH_MAX + 64];
    const char *bad[] = {"20260101T010000Z", "20260101T020000Z"};
    write_version("20260101T000000Z", 1);
    for (int i = 0; i < 2; i++) {
        write_version(bad[i], 0);
        snprintf(path, sizeof(path), "%s/versions/%s", root, bad[i]);
        struct rc_manifest m;
        ck_assert_int_eq(rc_manifest_read(path, &m, err), 0);
        m.files[0].bytes = 0; /* what a FIFO or /dev/zero measures */
        m.files[0].xxh3 = 0x2d06800538d394c2ull;
        ck_assert_int_eq(rc_manifest_write(path, &m, NULL, err), 0);
        rc_manifest_release(&m);
        snprintf(path, sizeof(path), "%s/versions/%s/data.mdb", root, bad[i]);
        ck_assert_int_eq(unlink(path), 0);
        if (i == 0)
            ck_assert_int_eq(mkfifo(path, 0644), 0);
        else
            ck_assert_int_eq(symlink("/dev/zero", path), 0);
    }
    ck_assert_int_eq(re_holder_create(&h, root, err), 0);
    ck_assert_int_eq(re_holder_check(h, 0, err), 0);
    for (int i = 0; i < 2; i++) {
        flip(bad[i]);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert_int_eq(re_holder_check(h, 0, err), RC_EFORMAT);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ck_assert_msg(t1.tv_sec - t0.tv_sec < 2, "refusing %s took %lds", bad[i], (long)(t1.tv_sec - t0.tv_sec));
        ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
        struct re_version *v = re_holder_acquire(h);
        assert_serves(h, v, "20260101T000000Z");
        re_holder_release(h, v);
    }
    re_holder_destroy(h);
}
END_TEST

START_TEST(test_refuse_corrupt_version)
{
    struct re_holder *h;
    char err[RC_ERRMSG_MAX];
    write_version("20260101T000000Z", 1);
    write_version("20260101T020000Z", 0);
    corrupt("20260101T020000Z");
    ck_assert_int_eq(re_holder_create(&h, root, err), 0);
    ck_assert_int_eq(re_holder_check(h, 0, err), 0);

    flip("20260101T020000Z");
    ck_assert_int_eq(re_holder_check(h, 0, err), RC_ECHECKSUM);
    struct re_version *v = re_holder_acquire(h);
    ck_assert_str_eq(v->cache.manifest.version, "20260101T000000Z");
    assert_serves(h, v, "20260101T000000Z");
    re_holder_release(h, v);
    struct re_cache_info ci;
    re_holder_info(h, &ci);
    ck_assert_uint_eq(ci.refused, 1);

    /* Not retried until forced (SIGHUP) or `current` moves. */
    ck_assert_int_eq(re_holder_check(h, 0, err), 0);
    re_holder_info(h, &ci);
    ck_assert_uint_eq(ci.refused, 1);
    ck_assert_int_eq(re_holder_check(h, 1, err), RC_ECHECKSUM);
    re_holder_info(h, &ci);
    ck_assert_uint_eq(ci.refused, 2);
    ck_assert_str_eq(ci.version, "20260101T000000Z");
    /* Back to the served version and forth again: a new attempt. */
    flip("20260101T000000Z");
    ck_assert_int_eq(re_holder_check(h, 0, err), 0);
    flip("20260101T020000Z");
    ck_assert_int_eq(re_holder_check(h, 0, err), RC_ECHECKSUM);
    re_holder_info(h, &ci);
    ck_assert_uint_eq(ci.refused, 3);
    ck_assert_uint_eq(ci.swaps, 1);

    /* A truncated file and a missing manifest are refused too. */
    write_version("20260101T030000Z", 0);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/versions/20260101T030000Z/data.mdb", root);
    ck_assert_int_eq(truncate(path, 4096), 0);
    flip("20260101T030000Z");
    ck_assert_int_eq(re_holder_check(h, 0, err), RC_ETRUNC);
    write_version("20260101T040000Z", 0);
    snprintf(path, sizeof(path), "%s/versions/20260101T040000Z/manifest.json", root);
    ck_assert_int_eq(unlink(path), 0);
    flip("20260101T040000Z");
    ck_assert_int_ne(re_holder_check(h, 0, err), 0);
    re_holder_info(h, &ci);
    ck_assert_uint_eq(ci.refused, 5);
    ck_assert_str_eq(ci.version, "20260101T000000Z");
    re_holder_destroy(h);
}
END_TEST

struct hammer {
    struct re_holder *h;
    int stop;
    unsigned long served;
};

static void *hammer_main(void *arg)
{
    struct hammer *hm = arg;
    struct re_route_scratch *s = calloc(1, sizeof(*s));
    struct re_recs *r = malloc(sizeof(*r));
    struct re_query q;
    re_query_init(&q);
    while (!__atomic_load_n(&hm->stop, __ATOMIC_ACQUIRE)) {
        struct re_version *v = re_holder_acquire(hm->h);
        if (!v)
            continue;
        MDB_txn *txn;
        if (re_holder_txn(hm->h, v, &txn) == 0) {
            if (re_route(&v->cache, txn, &q, s, r) == 0 && r->count == 1 &&
                memcmp(r->items[0].id, v->cache.manifest.version, r->items[0].id_len) == 0)
                __atomic_add_fetch(&hm->served, 1, __ATOMIC_RELAXED);
            re_holder_txn_done(txn);
        }
        re_holder_release(hm->h, v);
    }
    free(s);
    free(r);
    return NULL;
}

/* Swaps under load: every answer comes from the version it holds. */
static void hammer(int watcher)
{
    struct re_holder *h;
    char err[RC_ERRMSG_MAX];
    write_version("20260101T000000Z", 1);
    write_version("20260101T000000Z-2", 0);
    ck_assert_int_eq(re_holder_create(&h, root, err), 0);
    ck_assert_int_eq(re_holder_check(h, 0, err), 0);
    if (watcher)
        ck_assert_int_eq(re_watcher_start(h, 3600000, err), 0);
    struct hammer hm = {h, 0, 0};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer_main, &hm), 0);
    for (int i = 0; i < 20; i++) {
        flip(i % 2 ? "20260101T000000Z" : "20260101T000000Z-2");
        if (!watcher)
            ck_assert_int_eq(re_holder_check(h, 0, err), 0);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    __atomic_store_n(&hm.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ck_assert_uint_gt(hm.served, 100);
    struct re_cache_info ci;
    re_holder_info(h, &ci);
    if (!watcher)
        ck_assert_uint_eq(ci.swaps, 21);
    else
        ck_assert_uint_ge(ci.swaps, 2);
    re_holder_destroy(h);
}

START_TEST(test_swaps_under_load)
{
    hammer(0);
}
END_TEST

START_TEST(test_swaps_under_load_with_watcher)
{
    hammer(1);
}
END_TEST

static int wait_for(struct re_holder *h, const char *version, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        struct re_cache_info ci;
        re_holder_info(h, &ci);
        if (ci.loaded && strcmp(ci.version, version) == 0)
            return 1;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

START_TEST(test_watcher_inotify)
{
    struct re_holder *h;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(re_holder_create(&h, root, err), 0);
    /* An hour-long poll: only inotify (and the first check) can see these. */
    ck_assert_int_eq(re_watcher_start(h, 3600000, err), 0);
    write_version("20260101T000000Z", 1);
    ck_assert_msg(wait_for(h, "20260101T000000Z", 3000), "first version not picked up");
    write_version("20260101T050000Z", 1);
    ck_assert_msg(wait_for(h, "20260101T050000Z", 3000), "flip not picked up");
    re_holder_destroy(h);
}
END_TEST

START_TEST(test_watcher_poll_and_kick)
{
    struct re_holder *h;
    char err[RC_ERRMSG_MAX];
    char missing[PATH_MAX + 16];
    /* A root that does not exist yet: no inotify watch, the poll finds it. */
    snprintf(missing, sizeof(missing), "%s/later", root);
    ck_assert_int_eq(re_holder_create(&h, missing, err), 0);
    ck_assert_int_eq(re_watcher_start(h, 20, err), 0);
    char saved[PATH_MAX];
    snprintf(saved, sizeof(saved), "%s", root);
    snprintf(root, sizeof(root), "%s", missing);
    write_version("20260101T000000Z", 1);
    ck_assert_msg(wait_for(h, "20260101T000000Z", 3000), "not picked up by the poll");
    re_holder_kick(h);
    ck_assert(wait_for(h, "20260101T000000Z", 100));
    snprintf(root, sizeof(root), "%s", saved);
    re_holder_destroy(h);
}
END_TEST

/* A version carrying an experiment is loaded with it; one whose
 * experiments.json breaks a rule is refused, naming the fault, and the
 * version before keeps serving with its own experiment. */
START_TEST(test_experiment_with_version)
{
    static const char good[] = "{\"id\":\"e1\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,10000]}]}";
    struct fx *f = fx_new();
    struct fx_entry e = {"p", 0, 1.0f};
    fx_segment(f, "*", "*", &e, 1);
    char err[RC_ERRMSG_MAX], path[PATH_MAX + 96];
    f->experiments = good;
    ck_assert_msg(fx_write(f, root, "20260101T000000Z", 1, err) == 0, "%s", err);
    ck_assert_msg(fx_write(f, root, "20260101T010000Z", 0, err) == 0, "%s", err);
    fx_free(f);
    /* The second one's definition goes bad, listed with its true size and hash. */
    snprintf(path, sizeof(path), "%s/versions/20260101T010000Z/experiments.json", root);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("{\"id\":\"e1\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,10001]}]}", fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/versions/20260101T010000Z", root);
    struct rc_manifest m;
    ck_assert_int_eq(rc_manifest_read(path, &m, err), 0);
    char file[PATH_MAX + 96];
    snprintf(file, sizeof(file), "%s/experiments.json", path);
    ck_assert_str_eq(m.files[1].name, "experiments.json");
    ck_assert_int_eq(rc_file_xxh3(file, &m.files[1].bytes, &m.files[1].xxh3), 0);
    ck_assert_int_eq(rc_manifest_write(path, &m, NULL, err), 0);
    rc_manifest_release(&m);

    struct re_holder *h;
    ck_assert_int_eq(re_holder_create(&h, root, err), 0);
    ck_assert_int_eq(re_holder_check(h, 0, err), 0);
    struct re_version *v = re_holder_acquire(h);
    ck_assert_ptr_nonnull(v->cache.experiment);
    ck_assert_str_eq(v->cache.experiment->id, "e1");
    re_holder_release(h, v);
    flip("20260101T010000Z");
    ck_assert_int_eq(re_holder_check(h, 0, err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "experiments.json': arms[0] ('a'): buckets: [0, 10001] is not"), "%s", err);
    v = re_holder_acquire(h);
    ck_assert_str_eq(v->cache.manifest.version, "20260101T000000Z");
    ck_assert_ptr_nonnull(v->cache.experiment);
    re_holder_release(h, v);
    re_holder_destroy(h);
}
END_TEST

static Suite *swap_suite(void)
{
    Suite *s = suite_create("swap");
    TCase *tc = tcase_create("swap");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, make_root, remove_root);
    tcase_add_test(tc, test_no_version_yet);
    tcase_add_test(tc, test_load_swap_and_keep_old_while_referenced);
    tcase_add_test(tc, test_refuse_corrupt_version);
    tcase_add_test(tc, test_refuse_unsafe_files);
    tcase_add_test(tc, test_experiment_with_version);
    tcase_add_test(tc, test_swaps_under_load);
    tcase_add_test(tc, test_swaps_under_load_with_watcher);
    tcase_add_test(tc, test_watcher_inotify);
    tcase_add_test(tc, test_watcher_poll_and_kick);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(swap_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
