/*
 * test_log.c - shared/log.c: one line per call on stderr, in logfmt or
 * JSON, filtered by level.
 *
 * stderr is pointed at a pipe (dup2) around each call and what arrives is
 * read back, so the tests see exactly the bytes rc_log wrote.
 */
#include "error.h"
#include "json.h"
#include "log.h"

#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int saved_stderr = -1, pipe_rd = -1;

static void capture_begin(void)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    saved_stderr = dup(STDERR_FILENO);
    ck_assert_int_ge(saved_stderr, 0);
    ck_assert_int_eq(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
    close(fds[1]);
    pipe_rd = fds[0];
}

/* Restore stderr and return what was written (malloc'ed, NUL-terminated). */
static char *capture_end(size_t *len)
{
    ck_assert_int_eq(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
    close(saved_stderr);
    size_t cap = 65536, n = 0;
    char *out = malloc(cap + 1);
    ssize_t r;
    while ((r = read(pipe_rd, out + n, cap - n)) > 0)
        n += (size_t)r;
    close(pipe_rd);
    out[n] = 0;
    if (len)
        *len = n;
    return out;
}

static size_t count_char(const char *s, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == c;
    return k;
}

/* ts=YYYY-MM-DDTHH:MM:SS.mmmZ at the start of s (after prefix). */
static int is_timestamp(const char *s)
{
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    }
    return 1;
}

START_TEST(test_logfmt_line)
{
    rc_log_setup(RC_LOG_INFO, 0);
    capture_begin();
    rc_log(RC_LOG_INFO, "swap", "version=%s records=%zu", "20261122T173000Z", (size_t)3);
    size_t n;
    char *out = capture_end(&n);
    ck_assert_int_eq(strncmp(out, "ts=", 3), 0);
    ck_assert_msg(is_timestamp(out + 3), "bad timestamp in '%s'", out);
    ck_assert_str_eq(out + 3 + 24, " level=info event=swap version=20261122T173000Z records=3\n");
    ck_assert_uint_eq(count_char(out, n, '\n'), 1);
    free(out);

    /* No message: no trailing space. */
    capture_begin();
    rc_log(RC_LOG_ERROR, "boom", "%s", "");
    out = capture_end(&n);
    ck_assert_str_eq(out + 3 + 24, " level=error event=boom\n");
    free(out);
}
END_TEST

START_TEST(test_one_line_per_call)
{
    rc_log_setup(RC_LOG_DEBUG, 0);
    capture_begin();
    for (int i = 0; i < 10; i++)
        rc_log(RC_LOG_INFO, "tick", "i=%d", i);
    /* A newline or other control byte in the message stays on its line. */
    rc_log(RC_LOG_WARN, "bad_input", "id=%s", "a\nb\rc\x01");
    size_t n;
    char *out = capture_end(&n);
    ck_assert_uint_eq(count_char(out, n, '\n'), 11);
    ck_assert_ptr_nonnull(strstr(out, "event=tick i=9\n"));
    ck_assert_ptr_nonnull(strstr(out, "level=warn event=bad_input id=a\\x0ab\\x0dc\\x01\n"));
    free(out);

    /* An over-long message is cut, still one line, within 2048 bytes. */
    char big[3000];
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    capture_begin();
    rc_log(RC_LOG_INFO, "long", "msg=%s", big);
    out = capture_end(&n);
    ck_assert_uint_le(n, 2048);
    ck_assert_uint_gt(n, 1500);
    ck_assert_uint_eq(count_char(out, n, '\n'), 1);
    ck_assert_int_eq(out[n - 1], '\n');
    free(out);
}
END_TEST

START_TEST(test_levels)
{
    enum rc_log_level l;
    ck_assert_int_eq(rc_log_parse_level("debug", &l), 0);
    ck_assert_int_eq(l, RC_LOG_DEBUG);
    ck_assert_int_eq(rc_log_parse_level("info", &l), 0);
    ck_assert_int_eq(l, RC_LOG_INFO);
    ck_assert_int_eq(rc_log_parse_level("warn", &l), 0);
    ck_assert_int_eq(l, RC_LOG_WARN);
    ck_assert_int_eq(rc_log_parse_level("error", &l), 0);
    ck_assert_int_eq(l, RC_LOG_ERROR);
    l = RC_LOG_WARN;
    ck_assert_int_eq(rc_log_parse_level("INFO", &l), RC_ERANGE);
    ck_assert_int_eq(rc_log_parse_level("warning", &l), RC_ERANGE);
    ck_assert_int_eq(rc_log_parse_level("", &l), RC_ERANGE);
    ck_assert_int_eq(l, RC_LOG_WARN); /* untouched on error */

    rc_log_setup(RC_LOG_WARN, 0);
    capture_begin();
    rc_log(RC_LOG_DEBUG, "d", "x=1");
    rc_log(RC_LOG_INFO, "i", "x=2");
    rc_log(RC_LOG_WARN, "w", "x=3");
    rc_log(RC_LOG_ERROR, "e", "x=4");
    size_t n;
    char *out = capture_end(&n);
    ck_assert_uint_eq(count_char(out, n, '\n'), 2);
    ck_assert_ptr_null(strstr(out, "event=d"));
    ck_assert_ptr_null(strstr(out, "event=i"));
    ck_assert_ptr_nonnull(strstr(out, "level=warn event=w x=3\n"));
    ck_assert_ptr_nonnull(strstr(out, "level=error event=e x=4\n"));
    free(out);

    rc_log_setup(RC_LOG_DEBUG, 0);
    capture_begin();
    rc_log(RC_LOG_DEBUG, "d", "x=1");
    out = capture_end(&n);
    ck_assert_ptr_nonnull(strstr(out, "level=debug event=d x=1\n"));
    free(out);

    rc_log_setup(RC_LOG_ERROR, 1);
    capture_begin();
    rc_log(RC_LOG_WARN, "w", "x=3");
    out = capture_end(&n);
    ck_assert_uint_eq(n, 0);
    free(out);
}
END_TEST

/* The line parses as JSON; returns the parsed object (caller frees). */
static struct rc_json *parse_line(const char *out, size_t n)
{
    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(out[n - 1], '\n');
    ck_assert_uint_eq(count_char(out, n, '\n'), 1);
    struct rc_json *j = NULL;
    char err[RC_ERRMSG_MAX] = "";
    int rc = rc_json_parse(out, n, &j, err);
    ck_assert_msg(rc == 0, "'%s' is not JSON: %s", out, err);
    ck_assert_int_eq(j->type, RC_JSON_OBJ);
    return j;
}

START_TEST(test_json_line)
{
    rc_log_setup(RC_LOG_INFO, 1);
    capture_begin();
    rc_log(RC_LOG_WARN, "reload", "version=%s reason=\"%s\" path=%s", "v1", "bad \"quote\"", "a\\b\tc\nd");
    size_t n;
    char *out = capture_end(&n);
    struct rc_json *j = parse_line(out, n);
    ck_assert_str_eq(rc_json_get_str(j, "level"), "warn");
    ck_assert_str_eq(rc_json_get_str(j, "event"), "reload");
    ck_assert_str_eq(rc_json_get_str(j, "msg"), "version=v1 reason=\"bad \"quote\"\" path=a\\b\tc\nd");
    const char *ts = rc_json_get_str(j, "ts");
    ck_assert_ptr_nonnull(ts);
    ck_assert_uint_eq(strlen(ts), 24);
    ck_assert(is_timestamp(ts));
    rc_json_free(j);
    /* The raw line escapes the quotes. */
    ck_assert_ptr_nonnull(strstr(out, "reason=\\\"bad \\\"quote\\\"\\\""));
    free(out);
}
END_TEST

/* Messages that are not valid UTF-8, or far too long once escaped, still
 * give one complete JSON object per line. */
START_TEST(test_json_hostile)
{
    rc_log_setup(RC_LOG_DEBUG, 1);
    capture_begin();
    rc_log(RC_LOG_INFO, "bytes", "id=%s", "\xff\xc0\x80 ok \xe2\x82\xac");
    size_t n;
    char *out = capture_end(&n);
    struct rc_json *j = parse_line(out, n);
    ck_assert_str_eq(rc_json_get_str(j, "msg"), "id=\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd ok \xe2\x82\xac");
    rc_json_free(j);
    free(out);

    /* 1599 control bytes escape to ~9600 bytes: more than one line holds. */
    char big[1600];
    memset(big, '\x01', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    capture_begin();
    rc_log(RC_LOG_INFO, "long", "%s", big);
    out = capture_end(&n);
    ck_assert_uint_le(n, 2048);
    j = parse_line(out, n);
    const char *msg = rc_json_get_str(j, "msg");
    ck_assert_ptr_nonnull(msg);
    ck_assert_uint_gt(strlen(msg), 100); /* cut, not dropped */
    ck_assert_uint_eq(strspn(msg, "\x01"), strlen(msg));
    rc_json_free(j);
    free(out);

    memset(big, '"', sizeof(big) - 1);
    capture_begin();
    rc_log(RC_LOG_INFO, "quotes", "%s", big);
    out = capture_end(&n);
    j = parse_line(out, n);
    ck_assert_uint_gt(strlen(rc_json_get_str(j, "msg")), 500);
    rc_json_free(j);
    free(out);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_logfmt_line);
    tcase_add_test(tc, test_one_line_per_call);
    tcase_add_test(tc, test_levels);
    tcase_add_test(tc, test_json_line);
    tcase_add_test(tc, test_json_hostile);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(log_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
