/*
 * test_config.c - edge/config.c: defaults, environment variables, flags
 * (which win), value checks, and the --help text listing every option.
 */
#include "config.h"
#include "error.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct re_config c;
static char err[RC_ERRMSG_MAX];

static int parse(int argc, char **argv)
{
    return re_config_parse(&c, argc, argv, err);
}

#define ARGS(...) (sizeof((char *[]){"recedge", __VA_ARGS__}) / sizeof(char *)), (char *[]){"recedge", __VA_ARGS__}

static void clear_env(void)
{
    const char *vars[] = {"EDGEREC_ROOT", "EDGEREC_BIND", "EDGEREC_PORT", "EDGEREC_THREADS",
                          "EDGEREC_MAX_CONNECTIONS", "EDGEREC_CORS_ORIGIN", "EDGEREC_CACHE_CONTROL",
                          "EDGEREC_POLL_MS", "EDGEREC_LOG_LEVEL", "EDGEREC_LOG_FORMAT", "EDGEREC_ACCESS_LOG",
                          "EDGEREC_CONN_MEMORY", "EDGEREC_MAX_PER_IP", "EDGEREC_REQUEST_TIMEOUT",
                          "EDGEREC_CORS_HEADERS", "EDGEREC_CORS_MAX_AGE", "EDGEREC_TIMING_ALLOW_ORIGIN",
                          "EDGEREC_EXPOSURE_LOG", "EDGEREC_EXPOSURE_SAMPLE", "EDGEREC_EXPOSURE_ROTATE_BYTES",
                          "EDGEREC_EXPOSURE_ROTATE_SECONDS", "EDGEREC_EXPOSURE_BUFFER", "EDGEREC_NODE_NAME"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

START_TEST(test_defaults)
{
    char *argv[] = {"recedge"};
    ck_assert_int_eq(parse(1, argv), 0);
    ck_assert_str_eq(c.bind, "127.0.0.1");
    ck_assert_uint_eq(c.port, 8080);
    ck_assert_uint_ge(c.threads, 1); /* 0 resolved to the CPU count */
    ck_assert_uint_eq(c.max_connections, 10000);
    ck_assert_str_eq(c.cors_origin, "*");
    ck_assert_uint_eq(c.n_origins, 1);
    ck_assert_str_eq(c.origins[0], "*");
    ck_assert_ptr_nonnull(strstr(c.cors_headers, "X-Requested-With"));
    ck_assert_ptr_nonnull(strstr(c.cors_headers, "traceparent"));
    ck_assert_ptr_nonnull(strstr(c.cors_headers, "tracestate"));
    ck_assert_uint_eq(c.cors_max_age, 86400);
    ck_assert_str_eq(c.timing_allow_origin, "");
    ck_assert_uint_eq(c.conn_memory, 12288);
    ck_assert_uint_eq(c.max_per_ip, 1000);
    ck_assert_uint_eq(c.request_timeout, 10);
    ck_assert_str_eq(c.cache_control, "private, max-age=60");
    ck_assert_uint_eq(c.poll_ms, 1000);
    ck_assert_int_eq(c.log_level, RC_LOG_INFO);
    ck_assert_int_eq(c.log_json, 0);
    ck_assert_int_eq(c.access_log, 0);
    ck_assert_int_eq(c.help, 0);
}
END_TEST

START_TEST(test_env_then_flags)
{
    setenv("EDGEREC_ROOT", "/srv/env-root", 1);
    setenv("EDGEREC_PORT", "9000", 1);
    setenv("EDGEREC_CORS_ORIGIN", "https://shop.example", 1);
    setenv("EDGEREC_ACCESS_LOG", "true", 1);
    setenv("EDGEREC_LOG_FORMAT", "json", 1);
    ck_assert_int_eq(parse(ARGS("--port", "9100", "--cache-control=no-cache", "--threads=3")), 0);
    ck_assert_str_eq(c.root, "/srv/env-root");
    ck_assert_uint_eq(c.port, 9100); /* the flag wins */
    ck_assert_str_eq(c.cors_origin, "https://shop.example");
    ck_assert_str_eq(c.cache_control, "no-cache");
    ck_assert_uint_eq(c.threads, 3);
    ck_assert_int_eq(c.access_log, 1);
    ck_assert_int_eq(c.log_json, 1);
    ck_assert_int_eq(parse(ARGS("--access-log=0", "--cors-origin=", "--log-level", "debug")), 0);
    ck_assert_int_eq(c.access_log, 0);
    ck_assert_str_eq(c.cors_origin, "");
    ck_assert_int_eq(c.log_level, RC_LOG_DEBUG);
}
END_TEST

START_TEST(test_bad_values)
{
    ck_assert_int_eq(parse(ARGS("--port", "70000")), RC_ERANGE);
    ck_assert_ptr_nonnull(strstr(err, "--port"));
    ck_assert_int_eq(parse(ARGS("--port", "80x")), RC_EFORMAT);
    ck_assert_int_eq(parse(ARGS("--port", "-1")), RC_EFORMAT);
    ck_assert_int_eq(parse(ARGS("--port")), RC_EFORMAT);
    ck_assert_int_eq(parse(ARGS("--max-connections=0")), RC_ERANGE);
    ck_assert_int_eq(parse(ARGS("--log-level=loud")), RC_EFORMAT);
    ck_assert_int_eq(parse(ARGS("--log-format=xml")), RC_EFORMAT);
    ck_assert_int_eq(parse(ARGS("--no-such-flag")), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "--no-such-flag"));
    ck_assert_int_eq(parse(ARGS("stray")), RC_EFORMAT);
    ck_assert_int_eq(parse(ARGS("--root=")), RC_EFORMAT);
    ck_assert_int_eq(parse(ARGS("--cors-origin=a\r\nSet-Cookie: x")), RC_EFORMAT);
    setenv("EDGEREC_THREADS", "many", 1);
    ck_assert_int_eq(parse(ARGS("--port=1")), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "EDGEREC_THREADS"));
}
END_TEST

START_TEST(test_cors_origins)
{
    ck_assert_int_eq(parse(ARGS("--cors-origin", "https://shop.example")), 0);
    ck_assert_uint_eq(c.n_origins, 1);
    ck_assert_str_eq(c.origins[0], "https://shop.example");
    ck_assert_int_eq(parse(ARGS("--cors-origin", " https://a.example ,https://b.example:8443,  http://c.example ")), 0);
    ck_assert_uint_eq(c.n_origins, 3);
    ck_assert_str_eq(c.origins[0], "https://a.example");
    ck_assert_str_eq(c.origins[1], "https://b.example:8443");
    ck_assert_str_eq(c.origins[2], "http://c.example");
    ck_assert_int_eq(parse(ARGS("--cors-origin=")), 0);
    ck_assert_uint_eq(c.n_origins, 0);
    ck_assert_int_eq(parse(ARGS("--cors-origin", "https://a.example,,https://b.example")), RC_EFORMAT);
    ck_assert_int_eq(parse(ARGS("--cors-origin", "https://a.example https://b.example")), RC_EFORMAT);
    ck_assert_int_eq(parse(ARGS("--cors-origin", "*,https://b.example")), RC_EFORMAT);
    ck_assert_int_eq(parse(ARGS("--cors-origin", "https://a.example,")), RC_EFORMAT);
    char many[1024] = "";
    for (int i = 0; i < 17; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%shttps://s%d.example", i ? "," : "", i);
    ck_assert_int_eq(parse(ARGS("--cors-origin", many)), RC_ERANGE);
    ck_assert_int_eq(parse(ARGS("--cors-headers=X-A\tB")), RC_EFORMAT); /* control bytes */
    ck_assert_int_eq(parse(ARGS("--timing-allow-origin=a\nb")), RC_EFORMAT);
    setenv("EDGEREC_CORS_HEADERS", "Content-Type, X-Custom", 1);
    setenv("EDGEREC_CORS_MAX_AGE", "600", 1);
    setenv("EDGEREC_TIMING_ALLOW_ORIGIN", "*", 1);
    setenv("EDGEREC_MAX_PER_IP", "0", 1);
    setenv("EDGEREC_REQUEST_TIMEOUT", "3", 1);
    ck_assert_int_eq(parse(ARGS("--cors-max-age=0")), 0);
    ck_assert_str_eq(c.cors_headers, "Content-Type, X-Custom");
    ck_assert_uint_eq(c.cors_max_age, 0); /* the flag wins */
    ck_assert_str_eq(c.timing_allow_origin, "*");
    ck_assert_uint_eq(c.max_per_ip, 0);
    ck_assert_uint_eq(c.request_timeout, 3);
}
END_TEST

/* The exposure log's flags (schemas/exposure.md): defaults, variables,
 * ranges. */
START_TEST(test_exposure_flags)
{
    char *argv[] = {"recedge"};
    ck_assert_int_eq(parse(1, argv), 0);
    ck_assert_str_eq(c.exposure_log, "");
    ck_assert(c.exposure_sample == 1.0);
    ck_assert_uint_eq(c.exposure_rotate_bytes, 67108864);
    ck_assert_uint_eq(c.exposure_rotate_seconds, 300);
    ck_assert_uint_eq(c.exposure_buffer, 4194304);
    ck_assert_str_eq(c.node_name, "");
    setenv("EDGEREC_EXPOSURE_LOG", "/var/log/edgerec/exposure", 1);
    setenv("EDGEREC_EXPOSURE_SAMPLE", "0.25", 1);
    setenv("EDGEREC_NODE_NAME", "edge-1", 1);
    ck_assert_int_eq(parse(ARGS("--exposure-rotate-bytes", "1048576", "--exposure-rotate-seconds=60",
                                "--exposure-buffer", "262144", "--exposure-sample", "0.5")), 0);
    ck_assert_str_eq(c.exposure_log, "/var/log/edgerec/exposure");
    ck_assert(c.exposure_sample == 0.5); /* the flag wins */
    ck_assert_str_eq(c.node_name, "edge-1");
    ck_assert_uint_eq(c.exposure_rotate_bytes, 1048576);
    ck_assert_uint_eq(c.exposure_rotate_seconds, 60);
    ck_assert_uint_eq(c.exposure_buffer, 262144);
    ck_assert_int_eq(parse(ARGS("--exposure-sample", "0")), RC_ERANGE);
    ck_assert_ptr_nonnull(strstr(err, "--exposure-sample"));
    ck_assert_int_eq(parse(ARGS("--exposure-sample", "1.5")), RC_ERANGE);
    ck_assert_int_eq(parse(ARGS("--exposure-rotate-bytes", "100")), RC_ERANGE);
    ck_assert_int_eq(parse(ARGS("--exposure-rotate-seconds", "0")), RC_ERANGE);
    ck_assert_int_eq(parse(ARGS("--exposure-buffer", "1000")), RC_ERANGE);
    ck_assert_int_eq(parse(ARGS("--node-name", "a/b")), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "--node-name"));
    unsetenv("EDGEREC_NODE_NAME");
    char long_name[80];
    memset(long_name, 'n', 65);
    long_name[65] = 0;
    ck_assert_int_eq(parse(ARGS("--node-name", long_name)), RC_ETOOLONG);
}
END_TEST

START_TEST(test_help_lists_everything)
{
    ck_assert_int_eq(parse(ARGS("--help")), 0);
    ck_assert_int_eq(c.help, 1);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    re_config_usage(f, "recedge");
    fclose(f);
    const char *want[] = {"--root", "EDGEREC_ROOT", "--bind", "--port", "--threads", "--max-connections",
                          "--cors-origin", "--cache-control", "--poll-ms", "--log-level", "--log-format",
                          "--access-log", "EDGEREC_ACCESS_LOG", "private, max-age=60", "--max-per-ip",
                          "--request-timeout", "--cors-headers", "--cors-max-age", "--timing-allow-origin",
                          "EDGEREC_REQUEST_TIMEOUT", "traceparent", "--exposure-log", "--exposure-sample",
                          "--exposure-rotate-bytes", "--exposure-rotate-seconds", "--exposure-buffer",
                          "--node-name", "EDGEREC_NODE_NAME"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(text, want[i]) != NULL, "--help lacks %s", want[i]);
    free(text);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, clear_env, clear_env);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_env_then_flags);
    tcase_add_test(tc, test_bad_values);
    tcase_add_test(tc, test_cors_origins);
    tcase_add_test(tc, test_exposure_flags);
    tcase_add_test(tc, test_help_lists_everything);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
