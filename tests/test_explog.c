/*
 * test_explog.c - edge/explog.c: the exposure log. Lines round-trip as
 * JSON with every field of schemas/exposure.md; files rotate by size and
 * by age and are renamed from .jsonl.open to .jsonl; closing writes every
 * buffered line; a line too large for its worker's buffer, and the lines
 * of a failed write (RLIMIT_FSIZE makes write() fail with EFBIG, as a full
 * disk fails with ENOSPC), are dropped and counted without blocking the
 * caller; sampling is by visitor; a file a crash left open is closed at
 * the next start.
 */
#include "error.h"
#include "explog.h"
#include "json.h"
#include "scratch.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define REC_ID "0123456789abcdef0000000000000001"

static struct re_recs recs;

static void set_items(unsigned count, size_t id_len, char fill)
{
    static char ids[RE_N_MAX][RC_ID_MAX];
    recs.count = count;
    for (unsigned i = 0; i < count; i++) {
        memset(ids[i], fill, id_len);
        if (id_len > 3)
            snprintf(ids[i], 4, "%03u", i % 1000); /* distinct, then fill */
        if (id_len > 3)
            ids[i][3] = fill;
        recs.items[i].id = ids[i];
        recs.items[i].id_len = (uint16_t)id_len;
    }
}

static struct re_explog_config config(const char *dir)
{
    return (struct re_explog_config){
        .dir = dir, .node = "t1", .sample = 1, .rotate_bytes = 64 << 20, .rotate_seconds = 300, .buffer = 1 << 20};
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The names in dir ending with suffix, sorted; returns how many. */
static int list(const char *dir, const char *suffix, char names[][256], int cap)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (len > sl && strcmp(e->d_name + len - sl, suffix) == 0 && n < cap)
            snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, 256, (int (*)(const void *, const void *))strcmp);
    return n;
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Every line of every closed file parses as a JSON object; returns the
 * number of lines, and checks that no .open file is left. */
static unsigned check_closed(const char *dir, int *files)
{
    static char names[4096][256];
    ck_assert_int_eq(list(dir, ".jsonl.open", names, 4096), 0);
    int n = list(dir, ".jsonl", names, 4096);
    unsigned lines = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_msg(strncmp(names[i], "t1-", 3) == 0, "file name %s", names[i]);
        size_t len;
        char *text = slurp(dir, names[i], &len);
        ck_assert_msg(len > 0 && text[len - 1] == '\n', "%s ends with a complete line", names[i]);
        for (char *p = text, *nl; (nl = memchr(p, '\n', len - (size_t)(p - text))) != NULL; p = nl + 1) {
            struct rc_json *j = NULL;
            char err[RC_ERRMSG_MAX];
            ck_assert_msg(rc_json_parse(p, (size_t)(nl - p), &j, err) == 0, "line %u: %s", lines, err);
            ck_assert_int_eq(j->type, RC_JSON_OBJ);
            ck_assert_ptr_nonnull(rc_json_get_str(j, "type"));
            rc_json_free(j);
            lines++;
        }
        free(text);
    }
    if (files)
        *files = n;
    return lines;
}

START_TEST(lines_round_trip)
{
    char dir[PATH_MAX];
    scratch_make(dir, sizeof(dir), "explog");
    struct re_explog_config c = config(dir);
    struct re_explog *log;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(re_explog_open(&log, &c, err), 0);
    struct re_explog_worker *w = re_explog_worker(log);
    ck_assert_ptr_nonnull(w);

    static char odd[] = {'p', '"', '\\', '\n', (char)0xff, 0, 'x'}; /* quote, backslash, control, bad UTF-8, NUL */
    recs.count = 2;
    recs.items[0] = (struct re_item){.id = "p1", .id_len = 2};
    recs.items[1] = (struct re_item){.id = odd, .id_len = sizeof(odd)};
    re_explog_exposure(w, REC_ID, "c\"1", 3, "cf-2026-12", "treatment", "cf", "v20261203", &recs);
    recs.count = 0;
    re_explog_exposure(w, REC_ID, NULL, 0, NULL, NULL, "global", "v20261203", &recs);
    re_explog_event(w, "click", REC_ID, "p1", 2, "c\"1", 3);
    re_explog_event(w, "purchase", REC_ID, odd, sizeof(odd), NULL, 0);
    re_explog_close(log);

    char names[8][256];
    ck_assert_int_eq(list(dir, ".jsonl.open", names, 8), 0);
    ck_assert_int_eq(list(dir, ".jsonl", names, 8), 1);
    /* <node>-<YYYYmmddTHHMMSSZ>-<seq>.jsonl */
    ck_assert_uint_eq(strlen(names[0]), strlen("t1-20261203T120000Z-0.jsonl"));
    ck_assert_int_eq(names[0][11], 'T');
    ck_assert_int_eq(names[0][18], 'Z');
    size_t len;
    char *text = slurp(dir, names[0], &len);
    const char *want_ts = strstr(text, "\"ts\":");
    ck_assert_ptr_nonnull(want_ts);
    const char *dot = strchr(want_ts, '.');
    ck_assert_int_eq(dot[4], ','); /* exactly 3 decimals */

    struct rc_json *j[4] = {0};
    char *p = text;
    for (int i = 0; i < 4; i++) {
        char *nl = strchr(p, '\n');
        ck_assert_ptr_nonnull(nl);
        ck_assert_int_eq(rc_json_parse(p, (size_t)(nl - p), &j[i], err), 0);
        p = nl + 1;
    }
    ck_assert_int_eq(*p, 0);
    ck_assert_str_eq(rc_json_get_str(j[0], "type"), "exposure");
    ck_assert_str_eq(rc_json_get_str(j[0], "rec_id"), REC_ID);
    ck_assert_str_eq(rc_json_get_str(j[0], "cookie"), "c\"1");
    ck_assert_str_eq(rc_json_get_str(j[0], "experiment"), "cf-2026-12");
    ck_assert_str_eq(rc_json_get_str(j[0], "arm"), "treatment");
    ck_assert_str_eq(rc_json_get_str(j[0], "route"), "cf");
    ck_assert_str_eq(rc_json_get_str(j[0], "version"), "v20261203");
    double ts;
    ck_assert_int_eq(rc_json_get_num(j[0], "ts", &ts), 0);
    ck_assert(ts > 1.7e9 && fabs(ts - (double)time(NULL)) < 60);
    const struct rc_json *items = rc_json_get(j[0], "items");
    ck_assert_int_eq(items->type, RC_JSON_ARR);
    ck_assert_str_eq(items->child->str, "p1");
    ck_assert_uint_eq(items->child->next->str_len, 7 + 2); /* \n kept, 0xff as U+FFFD (3 bytes) */
    ck_assert_ptr_null(items->child->next->next);

    ck_assert_ptr_null(rc_json_get(j[1], "cookie"));
    ck_assert_ptr_null(rc_json_get(j[1], "experiment"));
    ck_assert_ptr_null(rc_json_get(j[1], "arm"));
    ck_assert_ptr_null(rc_json_get(j[1], "items")->child);

    ck_assert_str_eq(rc_json_get_str(j[2], "type"), "click");
    ck_assert_str_eq(rc_json_get_str(j[2], "product"), "p1");
    ck_assert_str_eq(rc_json_get_str(j[2], "cookie"), "c\"1");
    ck_assert_str_eq(rc_json_get_str(j[3], "type"), "purchase");
    ck_assert_ptr_null(rc_json_get(j[3], "cookie"));
    for (int i = 0; i < 4; i++)
        rc_json_free(j[i]);
    free(text);
    scratch_remove(dir);
}
END_TEST

START_TEST(rotates_by_size_and_age)
{
    char dir[PATH_MAX];
    scratch_make(dir, sizeof(dir), "explog");
    struct re_explog_config c = config(dir);
    c.rotate_bytes = 4096;
    c.rotate_seconds = 2;
    struct re_explog *log;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(re_explog_open(&log, &c, err), 0);
    struct re_explog_worker *w = re_explog_worker(log);
    set_items(10, 12, 'a'); /* lines of about 300 bytes */
    for (int i = 0; i < 200; i++) {
        re_explog_exposure(w, REC_ID, "c1", 2, NULL, NULL, "cf", "v1", &recs);
        if (i % 5 == 4)
            sleep_ms(12); /* chunks smaller than the file limit */
    }
    /* The writer runs on its own: wait (up to 10 s, a loaded machine) for
     * what it must do, rather than a fixed time. */
    char names[256][256];
    int open_files = 0, closed = 0;
    for (int tries = 0; tries < 500; tries++) {
        open_files = list(dir, ".jsonl.open", names, 256);
        closed = list(dir, ".jsonl", names, 256);
        if (open_files == 1 && closed >= 4)
            break;
        sleep_ms(20);
    }
    ck_assert_int_eq(open_files, 1); /* the one being written */
    closed = list(dir, ".jsonl", names, 256);
    ck_assert_int_ge(closed, 4); /* 60 KB over 4 KB files */
    struct stat st;
    for (int i = 0; i < closed; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_le(st.st_size, 16384); /* 4096, or one chunk when the writer was late */
    }
    /* By age: with no traffic, the open file is closed after 2 s. */
    sleep_ms(2000);
    for (int tries = 0; tries < 400 && list(dir, ".jsonl.open", names, 256) != 0; tries++)
        sleep_ms(20);
    ck_assert_int_eq(list(dir, ".jsonl.open", names, 256), 0);
    /* Counted again: a late writer may have closed another file by size
     * after the count above (seen once at load 7); the age close adds one. */
    int all = list(dir, ".jsonl", names, 256);
    ck_assert_int_ge(all, closed + 1);
    struct re_explog_stats s;
    re_explog_stats(log, &s);
    ck_assert_uint_eq(s.records, 200);
    ck_assert_uint_eq(s.files, (uint64_t)all);
    re_explog_close(log);
    int files;
    ck_assert_uint_eq(check_closed(dir, &files), 200);
    ck_assert_int_eq(files, all);
    scratch_remove(dir);
}
END_TEST

/* What SIGTERM does in recedge: close right after a burst. */
START_TEST(close_flushes_everything)
{
    char dir[PATH_MAX];
    scratch_make(dir, sizeof(dir), "explog");
    struct re_explog_config c = config(dir);
    c.buffer = 8 << 20;
    struct re_explog *log;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(re_explog_open(&log, &c, err), 0);
    struct re_explog_worker *w[3] = {re_explog_worker(log), re_explog_worker(log), re_explog_worker(log)};
    set_items(5, 8, 'b');
    for (int i = 0; i < 6000; i++)
        re_explog_exposure(w[i % 3], REC_ID, "c1", 2, "e", "a", "cf", "v1", &recs);
    struct re_explog_stats s;
    re_explog_stats(log, &s);
    ck_assert_uint_eq(s.dropped_buffer_full, 0);
    re_explog_close(log);
    ck_assert_uint_eq(check_closed(dir, NULL), 6000);
    scratch_remove(dir);
}
END_TEST

START_TEST(full_buffer_drops_and_counts)
{
    char dir[PATH_MAX];
    scratch_make(dir, sizeof(dir), "explog");
    struct re_explog_config c = config(dir);
    c.buffer = RE_EXPLOG_BUFFER_MIN; /* halves of 32 KiB */
    struct re_explog *log;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(re_explog_open(&log, &c, err), 0);
    struct re_explog_worker *w = re_explog_worker(log);
    /* A line larger than what is left of the half is dropped; one larger
     * than a whole half, always. */
    set_items(RE_N_MAX, RC_ID_MAX, (char)0xfe); /* 100 ids escaped to 6 bytes a byte: ~150 KB */
    re_explog_exposure(w, REC_ID, NULL, 0, NULL, NULL, "cf", "v1", &recs);
    struct re_explog_stats s;
    re_explog_stats(log, &s);
    ck_assert_uint_eq(s.dropped_buffer_full, 1);
    ck_assert_uint_eq(s.records, 0);
    /* A burst of 20 KB lines (one fits a half): every line is either
     * written or counted as dropped. */
    set_items(RE_N_MAX, 200, 'z');
    for (int i = 0; i < 500; i++)
        re_explog_exposure(w, REC_ID, "c", 1, NULL, NULL, "cf", "v1", &recs);
    for (int tries = 0; tries < 200; tries++) { /* wait for the writer */
        re_explog_stats(log, &s);
        if (s.records + s.dropped_buffer_full == 501)
            break;
        sleep_ms(10);
    }
    ck_assert_uint_eq(s.records + s.dropped_buffer_full, 501);
    ck_assert_uint_ge(s.dropped_buffer_full, 1);
    struct rc_buf b;
    rc_buf_init(&b);
    re_explog_render(log, &b);
    char want[128];
    snprintf(want, sizeof(want), "edgerec_log_dropped_total{reason=\"buffer_full\"} %llu\n",
             (unsigned long long)s.dropped_buffer_full);
    ck_assert_ptr_nonnull(strstr(rc_buf_cstr(&b), want));
    snprintf(want, sizeof(want), "edgerec_log_records_total %llu\n", (unsigned long long)s.records);
    ck_assert_ptr_nonnull(strstr(rc_buf_cstr(&b), want));
    ck_assert_ptr_nonnull(strstr(rc_buf_cstr(&b), "edgerec_log_dropped_total{reason=\"write_error\"} 0\n"));
    rc_buf_release(&b);
    re_explog_close(log);
    ck_assert_uint_eq(check_closed(dir, NULL), s.records);
    scratch_remove(dir);
}
END_TEST

/* A file system that refuses writes: RLIMIT_FSIZE makes write() fail with
 * EFBIG past 16 KiB (a short write first), as a full disk fails with
 * ENOSPC. Lines are dropped and counted, calls stay fast, and the file
 * keeps only complete lines. */
START_TEST(failing_write_drops_and_counts)
{
    char dir[PATH_MAX];
    scratch_make(dir, sizeof(dir), "explog");
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {16384, 16384};
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    struct re_explog_config c = config(dir);
    c.buffer = 8 << 20; /* all 1000 lines fit even if the writer is starved: only write errors drop */
    struct re_explog *log;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(re_explog_open(&log, &c, err), 0);
    struct re_explog_worker *w = re_explog_worker(log);
    set_items(10, 40, 'q'); /* ~560-byte lines */
    double slowest = 0;
    for (int i = 0; i < 1000; i++) {
        double t0 = now_s();
        re_explog_exposure(w, REC_ID, "c1", 2, NULL, NULL, "cf", "v1", &recs);
        double dt = now_s() - t0;
        if (dt > slowest)
            slowest = dt;
        if (i % 20 == 19)
            sleep_ms(11);
    }
    struct re_explog_stats s;
    for (int tries = 0; tries < 200; tries++) {
        re_explog_stats(log, &s);
        if (s.records + s.dropped_write_error == 1000)
            break;
        sleep_ms(10);
    }
    ck_assert_uint_eq(s.records + s.dropped_write_error + s.dropped_buffer_full, 1000);
    ck_assert_uint_eq(s.dropped_buffer_full, 0);
    ck_assert_uint_gt(s.dropped_write_error, 900);
    ck_assert_uint_gt(s.records, 0);
    /* A hang detector, not a speed test (the bench measures speed): a call
     * that waited for the failing write would take the writer's whole retry. */
    ck_assert_msg(slowest < 1.0, "a call took %.3f s", slowest);
    struct rc_buf b;
    rc_buf_init(&b);
    re_explog_render(log, &b);
    ck_assert_ptr_null(strstr(rc_buf_cstr(&b), "edgerec_log_dropped_total{reason=\"write_error\"} 0\n"));
    rc_buf_release(&b);
    uint64_t written = s.records;
    re_explog_close(log);
    ck_assert_uint_eq(check_closed(dir, NULL), written);
    scratch_remove(dir);
}
END_TEST

START_TEST(samples_by_visitor)
{
    char dir[PATH_MAX];
    scratch_make(dir, sizeof(dir), "explog");
    struct re_explog_config c = config(dir);
    c.sample = 0.25;
    struct re_explog *log;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(re_explog_open(&log, &c, err), 0);
    int in = 0;
    for (int i = 0; i < 20000; i++) {
        char cookie[32];
        int n = snprintf(cookie, sizeof(cookie), "cookie-%d", i);
        int s = re_explog_sampled(log, cookie, (size_t)n, REC_ID);
        ck_assert_int_eq(re_explog_sampled(log, cookie, (size_t)n, "ffffffffffffffffffffffffffffffff"), s);
        in += s;
    }
    ck_assert_int_gt(in, 5000 - 300); /* 5000 +- 5 sigma (61) and more */
    ck_assert_int_lt(in, 5000 + 300);
    /* The lines follow the same rule. */
    struct re_explog_worker *w = re_explog_worker(log);
    recs.count = 0;
    int want = 0;
    for (int i = 0; i < 400; i++) {
        char cookie[32];
        int n = snprintf(cookie, sizeof(cookie), "v%d", i);
        want += re_explog_sampled(log, cookie, (size_t)n, REC_ID);
        re_explog_exposure(w, REC_ID, cookie, (size_t)n, NULL, NULL, "cf", "v1", &recs);
        re_explog_event(w, "click", REC_ID, "p", 1, cookie, (size_t)n); /* events: all */
    }
    ck_assert_ptr_eq(re_explog_worker(NULL), NULL);
    ck_assert_int_eq(re_explog_sampled(NULL, "c", 1, REC_ID), 0);
    re_explog_close(log);
    ck_assert_uint_eq(check_closed(dir, NULL), (unsigned)(want + 400));
    scratch_remove(dir);
}
END_TEST

START_TEST(recovers_a_file_left_open)
{
    char dir[PATH_MAX], path[PATH_MAX];
    scratch_make(dir, sizeof(dir), "explog");
    snprintf(path, sizeof(path), "%s/t1-20260101T000000Z-0.jsonl.open", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"type\":\"click\"}\n{\"type\":\"cart\"}\n{\"type\":\"purch", f);
    fclose(f);
    /* Other nodes' files are left alone, "t1-x" too. */
    const char *others[] = {"other-20260101T000000Z-0.jsonl.open", "t1-x-20260101T000000Z-0.jsonl.open",
                            "t1-20260101T000000Z-.jsonl.open"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, others[i]);
        f = fopen(path, "w");
        fputs("x", f);
        fclose(f);
    }
    struct re_explog_config c = config(dir);
    struct re_explog *log;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(re_explog_open(&log, &c, err), 0);
    re_explog_close(log);
    size_t len;
    char *text = slurp(dir, "t1-20260101T000000Z-0.jsonl", &len);
    ck_assert_str_eq(text, "{\"type\":\"click\"}\n{\"type\":\"cart\"}\n");
    free(text);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, others[i]);
        ck_assert_msg(access(path, F_OK) == 0, "%s was touched", others[i]);
    }
    scratch_remove(dir);
}
END_TEST

START_TEST(refuses_bad_config)
{
    char dir[PATH_MAX];
    scratch_make(dir, sizeof(dir), "explog");
    struct re_explog *log;
    char err[RC_ERRMSG_MAX];
    struct re_explog_config c = config(dir);
    c.sample = 0;
    ck_assert_int_eq(re_explog_open(&log, &c, err), RC_ERANGE);
    c = config(dir);
    c.node = "a/b";
    ck_assert_int_eq(re_explog_open(&log, &c, err), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "--node-name"));
    c = config(dir);
    c.buffer = 1000;
    ck_assert_int_eq(re_explog_open(&log, &c, err), RC_ERANGE);
    char missing[PATH_MAX + 8];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    c = config(missing);
    ck_assert_int_eq(re_explog_open(&log, &c, err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "nope"));
    /* The host name when no node is given. */
    c = config(dir);
    c.node = NULL;
    ck_assert_int_eq(re_explog_open(&log, &c, err), 0);
    re_explog_close(log);
    /* NULL everywhere: the log is off. */
    re_explog_exposure(NULL, REC_ID, NULL, 0, NULL, NULL, "cf", "v1", &recs);
    re_explog_event(NULL, "click", REC_ID, "p", 1, NULL, 0);
    re_explog_close(NULL);
    struct rc_buf b;
    rc_buf_init(&b);
    re_explog_render(NULL, &b);
    ck_assert_ptr_nonnull(strstr(rc_buf_cstr(&b), "edgerec_log_records_total 0\n"));
    rc_buf_release(&b);
    scratch_remove(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("explog");
    TCase *tc = tcase_create("explog");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, lines_round_trip);
    tcase_add_test(tc, rotates_by_size_and_age);
    tcase_add_test(tc, close_flushes_everything);
    tcase_add_test(tc, full_buffer_drops_and_counts);
    tcase_add_test(tc, failing_write_drops_and_counts);
    tcase_add_test(tc, samples_by_visitor);
    tcase_add_test(tc, recovers_a_file_left_open);
    tcase_add_test(tc, refuses_bad_config);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
