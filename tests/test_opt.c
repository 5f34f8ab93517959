/*
 * test_opt.c - shared/opt.c: the one command-line parser: spellings
 * (--x v, --x=v, flags, -h, --), types and ranges, choices, env and
 * defaults with the command line winning, aliases, scopes, operands, and
 * --help's text.
 */
#include "error.h"
#include "opt.h"

#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cfg {
    const char *path;
    char buf[8];
    uint32_t n;
    uint64_t seed;
    int64_t delta;
    int level;
    unsigned port;
    long keep;
    float f;
    double d;
    int flag, on, help, fmt;
    int custom_calls;
    const char *ops[4];
    int nops;
};

static const char *const fmts[] = {"logfmt", "json", NULL};

static int set_custom(void *c, const struct rc_opt *o, const char *v, char *err)
{
    struct cfg *cfg = c;
    if (strcmp(v, "bad") == 0)
        return rc_fail(err, RC_ERANGE, "--%s '%s': custom says no", o->name, v);
    cfg->custom_calls++;
    return 0;
}

static int operand(void *c, const char *arg, unsigned *scope, char *err)
{
    struct cfg *cfg = c;
    if (cfg->nops == 4)
        return rc_fail(err, RC_ERANGE, "too many arguments at '%s'", arg);
    if (cfg->nops == 0 && strcmp(arg, "cmd2") == 0)
        *scope = 2;
    cfg->ops[cfg->nops++] = arg;
    return 0;
}

#define O(f) offsetof(struct cfg, f)
static const struct rc_opt table[] = {
    {.name = "path", .arg = "FILE", .type = RC_OPT_STR, .off = O(path), .help = "a path", .section = "Files"},
    {.name = "buf", .arg = "S", .type = RC_OPT_BUF, .off = O(buf), .size = 8, .help = "a short text"},
    {.name = "n", .arg = "N", .type = RC_OPT_U32, .off = O(n), .min = 1, .max = 100, .help = "a count"},
    {.name = "seed", .arg = "S", .type = RC_OPT_U64, .off = O(seed), .help = "a seed"},
    {.name = "delta", .arg = "D", .type = RC_OPT_I64, .off = O(delta), .help = "signed"},
    {.name = "port", .arg = "PORT", .type = RC_OPT_UINT, .off = O(port), .max = 65535, .env = "TEST_OPT_PORT",
     .def = "8080", .help = "a port"},
    {.name = "keep", .arg = "K", .type = RC_OPT_LONG, .off = O(keep), .min = 1, .max = 1000000, .scope = 2,
     .help = "cmd2 only"},
    {.name = "f", .arg = "F", .type = RC_OPT_F32, .off = O(f), .min = 0, .max = 1, .help = "a share"},
    {.name = "d", .arg = "D", .type = RC_OPT_F64, .off = O(d), .help = "any number"},
    {.name = "flag", .type = RC_OPT_FLAG, .off = O(flag), .help = "a flag"},
    {.name = "on", .type = RC_OPT_BOOL, .off = O(on), .env = "TEST_OPT_ON", .def = "0", .help = "a switch"},
    {.name = "log-format", .arg = "logfmt|json", .type = RC_OPT_CHOICE, .off = O(fmt), .choices = fmts,
     .help = "format"},
    {.name = "log-json", .alias = "log-format", .alias_value = "json"},
    {.name = "custom", .arg = "X", .type = RC_OPT_CUSTOM, .set = set_custom, .help = "collects"},
    {.name = "help", .type = RC_OPT_FLAG, .off = O(help), .help = "print this help"},
    {0},
};

static int parse(struct cfg *c, char *err, int argc, ...)
{
    char *argv[32] = {"prog"};
    va_list ap;
    va_start(ap, argc);
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    struct rc_opt_state st = {.scope = 1, .operand = operand};
    return rc_opt_parse(table, c, argc, argv, &st, err);
}

START_TEST(test_spellings)
{
    struct cfg c = {0};
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(parse(&c, err, 9, "--path", "a b", "--n=7", "--flag", "op1", "--", "--n", "-x"), 0);
    ck_assert_str_eq(c.path, "a b");
    ck_assert_uint_eq(c.n, 7);
    ck_assert_int_eq(c.flag, 1);
    ck_assert_int_eq(c.nops, 3);
    ck_assert_str_eq(c.ops[0], "op1");
    ck_assert_str_eq(c.ops[1], "--n"); /* after --, operands */
    ck_assert_str_eq(c.ops[2], "-x");
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(parse(&c, err, 2, "-h"), 0);
    ck_assert_int_eq(c.help, 1);
    ck_assert_int_eq(parse(&c, err, 4, "--n", "3", "--n=4"), 0); /* the last wins */
    ck_assert_uint_eq(c.n, 4);
}
END_TEST

START_TEST(test_refusals)
{
    struct cfg c = {0};
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(parse(&c, err, 2, "--nope"), RC_EFORMAT);
    ck_assert_str_eq(err, "unknown option '--nope'");
    ck_assert_int_eq(parse(&c, err, 2, "-x"), RC_EFORMAT);
    ck_assert_str_eq(err, "unknown option '-x'");
    ck_assert_int_eq(parse(&c, err, 2, "--n"), RC_EFORMAT);
    ck_assert_str_eq(err, "option --n needs a value (N)");
    ck_assert_int_eq(parse(&c, err, 2, "--flag=1"), RC_EFORMAT);
    ck_assert_str_eq(err, "option --flag takes no value");
    ck_assert_int_eq(parse(&c, err, 2, "--path="), RC_EFORMAT);
    ck_assert_int_eq(parse(&c, err, 3, "--buf", "12345678"), RC_ETOOLONG);
    ck_assert_int_eq(parse(&c, err, 3, "--buf", "1234567"), 0);
    ck_assert_str_eq(c.buf, "1234567");
    ck_assert_int_eq(parse(&c, err, 3, "--custom", "bad"), RC_ERANGE);
    ck_assert_str_eq(err, "--custom 'bad': custom says no");
    ck_assert_int_eq(parse(&c, err, 5, "a", "b", "c", "d"), 0);
    ck_assert_int_eq(parse(&c, err, 2, "e"), RC_ERANGE);
    struct rc_opt_state st = {.scope = 1};
    char *argv[] = {"prog", "operand"};
    ck_assert_int_eq(rc_opt_parse(table, &c, 2, argv, &st, err), RC_EFORMAT);
    ck_assert_str_eq(err, "unexpected argument 'operand'");
}
END_TEST

START_TEST(test_numbers)
{
    struct cfg c = {0};
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(parse(&c, err, 3, "--n", "0"), RC_ERANGE);
    ck_assert_str_eq(err, "--n '0': expected an integer from 1 to 100");
    ck_assert_int_eq(parse(&c, err, 3, "--n", "101"), RC_ERANGE);
    ck_assert_int_eq(parse(&c, err, 3, "--n", "1.5"), RC_EFORMAT);
    ck_assert_int_eq(parse(&c, err, 3, "--n", "-1"), RC_EFORMAT);
    ck_assert_int_eq(parse(&c, err, 3, "--n", "+1"), RC_EFORMAT);
    ck_assert_int_eq(parse(&c, err, 3, "--n", ""), RC_EFORMAT);
    ck_assert_int_eq(parse(&c, err, 3, "--seed", "18446744073709551615"), 0);
    ck_assert_uint_eq(c.seed, UINT64_MAX);
    ck_assert_int_eq(parse(&c, err, 3, "--seed", "18446744073709551616"), RC_ERANGE);
    ck_assert_int_eq(parse(&c, err, 3, "--delta", "-9223372036854775808"), 0);
    ck_assert(c.delta == INT64_MIN);
    ck_assert_int_eq(parse(&c, err, 3, "--port", "65536"), RC_ERANGE);
    ck_assert_int_eq(parse(&c, err, 3, "--port", "0"), 0);
    ck_assert_int_eq(parse(&c, err, 3, "--f", "0.25"), 0);
    ck_assert(c.f == 0.25f);
    ck_assert_int_eq(parse(&c, err, 3, "--f", "1.5"), RC_ERANGE);
    ck_assert_int_eq(parse(&c, err, 3, "--f", "nan"), RC_EFORMAT);
    ck_assert_int_eq(parse(&c, err, 3, "--d", "-1e300"), 0);
    ck_assert(c.d == -1e300);
    ck_assert_int_eq(parse(&c, err, 3, "--d", "1e999"), RC_EFORMAT);
    ck_assert_int_eq(parse(&c, err, 3, "--d", "2x"), RC_EFORMAT);
}
END_TEST

START_TEST(test_choices_aliases_bools)
{
    struct cfg c = {0};
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(parse(&c, err, 3, "--log-format", "json"), 0);
    ck_assert_int_eq(c.fmt, 1);
    ck_assert_int_eq(parse(&c, err, 2, "--log-format=logfmt"), 0);
    ck_assert_int_eq(c.fmt, 0);
    ck_assert_int_eq(parse(&c, err, 2, "--log-json"), 0);
    ck_assert_int_eq(c.fmt, 1);
    ck_assert_int_eq(parse(&c, err, 2, "--log-json=x"), RC_EFORMAT);
    ck_assert_int_eq(parse(&c, err, 3, "--log-format", "xml"), RC_EFORMAT);
    ck_assert_str_eq(err, "--log-format 'xml': expected logfmt|json");
    ck_assert_int_eq(parse(&c, err, 2, "--on"), 0);
    ck_assert_int_eq(c.on, 1);
    ck_assert_int_eq(parse(&c, err, 2, "--on=off"), 0);
    ck_assert_int_eq(c.on, 0);
    ck_assert_int_eq(parse(&c, err, 2, "--on=maybe"), RC_EFORMAT);
    ck_assert_int_eq(parse(&c, err, 5, "--custom", "a", "--custom", "b"), 0);
    ck_assert_int_eq(c.custom_calls, 2);
}
END_TEST

START_TEST(test_scope)
{
    struct cfg c = {0};
    char err[RC_ERRMSG_MAX];
    /* --keep belongs to scope 2, which the operand "cmd2" switches to */
    ck_assert_int_eq(parse(&c, err, 3, "--keep", "3"), RC_EFORMAT);
    ck_assert_str_eq(err, "unknown option '--keep'");
    ck_assert_int_eq(parse(&c, err, 4, "cmd2", "--keep", "3"), 0);
    ck_assert_int_eq(c.keep, 3);
    ck_assert_ptr_null(rc_opt_find(table, "keep", 4, 1));
    ck_assert_ptr_nonnull(rc_opt_find(table, "keep", 4, 2));
    ck_assert_ptr_nonnull(rc_opt_find(table, "path", 4, 2)); /* scope 0: everywhere */
    ck_assert_ptr_null(rc_opt_find(table, "pat", 3, 1));     /* no prefixes */
}
END_TEST

START_TEST(test_defaults_env)
{
    struct cfg c = {0};
    char err[RC_ERRMSG_MAX];
    unsetenv("TEST_OPT_PORT");
    unsetenv("TEST_OPT_ON");
    ck_assert_int_eq(rc_opt_defaults(table, &c, err), 0);
    ck_assert_uint_eq(c.port, 8080);
    ck_assert_int_eq(c.on, 0);
    setenv("TEST_OPT_PORT", "9000", 1);
    setenv("TEST_OPT_ON", "true", 1);
    ck_assert_int_eq(rc_opt_defaults(table, &c, err), 0);
    ck_assert_uint_eq(c.port, 9000);
    ck_assert_int_eq(c.on, 1);
    ck_assert_int_eq(parse(&c, err, 3, "--port", "9001"), 0); /* the command line wins */
    ck_assert_uint_eq(c.port, 9001);
    setenv("TEST_OPT_PORT", "70000", 1);
    ck_assert_int_eq(rc_opt_defaults(table, &c, err), RC_ERANGE);
    ck_assert_str_eq(err, "TEST_OPT_PORT '70000': expected an integer from 0 to 65535");
    unsetenv("TEST_OPT_PORT");
    unsetenv("TEST_OPT_ON");
}
END_TEST

START_TEST(test_usage)
{
    struct cfg d = {.n = 20, .f = 0.5f};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    rc_opt_usage(f, table, &d, 1, 80);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "\nFiles:\n  --path FILE"));
    ck_assert_ptr_nonnull(strstr(text, "  --n N                      a count [20]\n"));
    ck_assert_ptr_nonnull(strstr(text, "a share [0.5]"));
    ck_assert_ptr_nonnull(strstr(text, "a port [0] (env TEST_OPT_PORT)"));
    ck_assert_ptr_nonnull(strstr(text, "  --flag                     a flag\n"));
    ck_assert_ptr_nonnull(strstr(text, "--log-format logfmt|json   format [logfmt]"));
    ck_assert_ptr_null(strstr(text, "--log-json")); /* an alias without help is not listed */
    ck_assert_ptr_null(strstr(text, "--keep"));     /* another scope */
    for (char *line = text; *line;) {               /* wrapped to 80 columns */
        size_t n = strcspn(line, "\n");
        ck_assert_msg(n <= 80, "line of %zu columns: %.*s", n, (int)n, line);
        line += n + (line[n] == '\n');
    }
    free(text);
}
END_TEST

static Suite *opt_suite(void)
{
    Suite *s = suite_create("opt");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_spellings);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_choices_aliases_bools);
    tcase_add_test(tc, test_scope);
    tcase_add_test(tc, test_defaults_env);
    tcase_add_test(tc, test_usage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(opt_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
