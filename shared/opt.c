/*
 * opt.c - the command-line parser of every edgerec program (opt.h).
 */
#include "opt.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define FIELD(cfg, o, type) ((type *)((char *)(cfg) + (o)->off))

static int ranged(const struct rc_opt *o)
{
    return o->min != 0 || o->max != 0;
}

static int takes_value(const struct rc_opt *o)
{
    return o->arg != NULL && !o->alias_value;
}

const struct rc_opt *rc_opt_find(const struct rc_opt *table, const char *name, size_t len, unsigned scope)
{
    for (const struct rc_opt *o = table; o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0 && (!o->scope || (o->scope & scope)))
            return o;
    return NULL;
}

/* A bound as people write it: 1000000, not 1e+06. */
static void bound(double v, char *out, size_t cap)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, cap, "%.0f", v);
    else
        snprintf(out, cap, "%g", v);
}

/* "an integer from 1 to 10", "a number" for messages. */
static void expected(const struct rc_opt *o, int integer, char *out, size_t cap)
{
    const char *what = integer ? "an integer" : "a number";
    char lo[32], hi[32];
    bound(o->min, lo, sizeof(lo));
    bound(o->max, hi, sizeof(hi));
    if (ranged(o))
        snprintf(out, cap, "%s from %s to %s", what, lo, hi);
    else
        snprintf(out, cap, "%s", what);
}

static int set_integer(const struct rc_opt *o, void *cfg, const char *v, const char *from, char *err)
{
    char want[96];
    expected(o, 1, want, sizeof(want));
    int is_signed = o->type == RC_OPT_I64 || o->type == RC_OPT_INT || o->type == RC_OPT_LONG;
    const char *d = v + (is_signed && *v == '-');
    if (*d < '0' || *d > '9')
        return rc_fail(err, RC_EFORMAT, "%s '%s': expected %s", from, v, want);
    char *end;
    errno = 0;
    long long s = 0;
    unsigned long long u = 0;
    if (is_signed)
        s = strtoll(v, &end, 10);
    else
        u = strtoull(v, &end, 10);
    if (*end)
        return rc_fail(err, RC_EFORMAT, "%s '%s': expected %s", from, v, want);
    int over = errno == ERANGE;
    switch (o->type) {
    case RC_OPT_U32:
        over |= u > UINT32_MAX;
        break;
    case RC_OPT_UINT:
        over |= u > UINT_MAX;
        break;
    case RC_OPT_INT:
        over |= s < INT_MIN || s > INT_MAX;
        break;
    case RC_OPT_LONG:
        over |= s < LONG_MIN || s > LONG_MAX;
        break;
    default:
        break;
    }
    double x = is_signed ? (double)s : (double)u;
    if (over || (ranged(o) && (x < o->min || x > o->max)))
        return rc_fail(err, RC_ERANGE, "%s '%s': expected %s", from, v, want);
    switch (o->type) {
    case RC_OPT_U32:
        *FIELD(cfg, o, uint32_t) = (uint32_t)u;
        break;
    case RC_OPT_U64:
        *FIELD(cfg, o, uint64_t) = (uint64_t)u;
        break;
    case RC_OPT_UINT:
        *FIELD(cfg, o, unsigned) = (unsigned)u;
        break;
    case RC_OPT_I64:
        *FIELD(cfg, o, int64_t) = (int64_t)s;
        break;
    case RC_OPT_INT:
        *FIELD(cfg, o, int) = (int)s;
        break;
    default:
        *FIELD(cfg, o, long) = (long)s;
        break;
    }
    return 0;
}

static int set_real(const struct rc_opt *o, void *cfg, const char *v, const char *from, char *err)
{
    char want[96];
    expected(o, 0, want, sizeof(want));
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x))
        return rc_fail(err, RC_EFORMAT, "%s '%s': expected %s", from, v, want);
    if (ranged(o) && (x < o->min || x > o->max))
        return rc_fail(err, RC_ERANGE, "%s '%s': expected %s", from, v, want);
    if (o->type == RC_OPT_F32)
        *FIELD(cfg, o, float) = (float)x;
    else
        *FIELD(cfg, o, double) = x;
    return 0;
}

static int parse_bool(const char *v)
{
    static const char *const yes[] = {"1", "true", "yes", "on", NULL}, *const no[] = {"0", "false", "no", "off", "", NULL};
    for (int i = 0; yes[i]; i++)
        if (strcmp(v, yes[i]) == 0)
            return 1;
    for (int i = 0; no[i]; i++)
        if (strcmp(v, no[i]) == 0)
            return 0;
    return -1;
}

int rc_opt_set(const struct rc_opt *o, void *cfg, const char *value, const char *from, char *err)
{
    switch (o->type) {
    case RC_OPT_STR:
        if (!*value && !(o->min < 0))
            return rc_fail(err, RC_EFORMAT, "%s needs a non-empty value", from);
        *FIELD(cfg, o, const char *) = value;
        return 0;
    case RC_OPT_BUF: {
        size_t n = strlen(value);
        if (n >= o->size)
            return rc_fail(err, RC_ETOOLONG, "%s: value longer than %zu bytes", from, o->size - 1);
        memcpy(FIELD(cfg, o, char), value, n + 1);
        return 0;
    }
    case RC_OPT_U32:
    case RC_OPT_U64:
    case RC_OPT_I64:
    case RC_OPT_INT:
    case RC_OPT_UINT:
    case RC_OPT_LONG:
        return set_integer(o, cfg, value, from, err);
    case RC_OPT_F32:
    case RC_OPT_F64:
        return set_real(o, cfg, value, from, err);
    case RC_OPT_FLAG:
        *FIELD(cfg, o, int) = 1;
        return 0;
    case RC_OPT_BOOL: {
        int b = parse_bool(value);
        if (b < 0)
            return rc_fail(err, RC_EFORMAT, "%s '%s': expected 1/0, true/false, yes/no or on/off", from, value);
        *FIELD(cfg, o, int) = b;
        return 0;
    }
    case RC_OPT_CHOICE:
        for (int i = 0; o->choices[i]; i++)
            if (strcmp(value, o->choices[i]) == 0) {
                *FIELD(cfg, o, int) = i;
                return 0;
            }
        return rc_fail(err, RC_EFORMAT, "%s '%s': expected %s", from, value, o->arg ? o->arg : "one of the choices");
    case RC_OPT_CUSTOM:
        return o->set(cfg, o, value, err);
    }
    return rc_fail(err, RC_EINTERNAL, "%s: option of unknown type %d", from, (int)o->type);
}

int rc_opt_defaults(const struct rc_opt *table, void *cfg, char *err)
{
    char from[128];
    int rc;
    for (const struct rc_opt *o = table; o->name; o++) {
        if (o->alias)
            continue;
        snprintf(from, sizeof(from), "--%s", o->name);
        if (o->def && (rc = rc_opt_set(o, cfg, o->def, from, err)) != 0)
            return rc;
        const char *env = o->env ? getenv(o->env) : NULL;
        if (env && (rc = rc_opt_set(o, cfg, env, o->env, err)) != 0)
            return rc;
    }
    return 0;
}

/* One "--name[=value]" at argv[*i]; may consume argv[*i + 1]. */
static int parse_long_option(const struct rc_opt *table, void *cfg, int argc, char **argv, int *i,
                             const struct rc_opt_state *st, char *err)
{
    const char *a = argv[*i], *name = a + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const struct rc_opt *o = rc_opt_find(table, name, len, st->scope);
    if (!o)
        return rc_fail(err, RC_EFORMAT, "unknown option '--%.*s'", (int)len, name);
    const struct rc_opt *target = o;
    if (o->alias && !(target = rc_opt_find(table, o->alias, strlen(o->alias), st->scope)))
        return rc_fail(err, RC_EINTERNAL, "--%s is an alias of an unknown option --%s", o->name, o->alias);
    char from[128];
    snprintf(from, sizeof(from), "--%s", target->name);
    const char *value;
    if (!takes_value(o)) {
        if (eq && target->type != RC_OPT_BOOL)
            return rc_fail(err, RC_EFORMAT, "option --%s takes no value", o->name);
        value = o->alias_value ? o->alias_value : eq ? eq + 1 : "1";
    } else if (eq) {
        value = eq + 1;
    } else if (*i + 1 < argc) {
        value = argv[++*i];
    } else {
        return rc_fail(err, RC_EFORMAT, "option --%s needs a value (%s)", o->name, o->arg);
    }
    int rc = rc_opt_set(target, cfg, value, from, err);
    if (!rc && st->seen)
        st->seen(cfg, target);
    return rc;
}

int rc_opt_parse(const struct rc_opt *table, void *cfg, int argc, char **argv, struct rc_opt_state *st, char *err)
{
    int operands_only = 0, rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!operands_only && strcmp(a, "--") == 0) {
            operands_only = 1;
            continue;
        }
        if (!operands_only && strcmp(a, "-h") == 0) {
            const struct rc_opt *h = rc_opt_find(table, "help", 4, st->scope);
            if (!h)
                return rc_fail(err, RC_EFORMAT, "unknown option '-h'");
            if ((rc = rc_opt_set(h, cfg, "1", "-h", err)) != 0)
                return rc;
            continue;
        }
        if (!operands_only && strncmp(a, "--", 2) == 0) {
            if ((rc = parse_long_option(table, cfg, argc, argv, &i, st, err)) != 0)
                return rc;
            continue;
        }
        if (!operands_only && a[0] == '-' && a[1])
            return rc_fail(err, RC_EFORMAT, "unknown option '%s'", a);
        if (!st->operand)
            return rc_fail(err, RC_EFORMAT, "unexpected argument '%s'", a);
        if ((rc = st->operand(cfg, a, &st->scope, err)) != 0)
            return rc;
    }
    return 0;
}

/* The default shown for o: the field's value in defaults, else o->def. */
static void default_text(const struct rc_opt *o, const void *defaults, char *out, size_t cap)
{
    out[0] = 0;
    if (!defaults || o->type == RC_OPT_CUSTOM || o->type == RC_OPT_FLAG) {
        if (o->def && o->type != RC_OPT_FLAG)
            snprintf(out, cap, "%s", o->def);
        return;
    }
    void *d = (void *)defaults;
    switch (o->type) {
    case RC_OPT_STR: {
        const char *s = *FIELD(d, o, const char *);
        if (s)
            snprintf(out, cap, "%s", s);
        break;
    }
    case RC_OPT_BUF:
        snprintf(out, cap, "%s", FIELD(d, o, char));
        break;
    case RC_OPT_U32:
        snprintf(out, cap, "%" PRIu32, *FIELD(d, o, uint32_t));
        break;
    case RC_OPT_U64:
        snprintf(out, cap, "%" PRIu64, *FIELD(d, o, uint64_t));
        break;
    case RC_OPT_I64:
        snprintf(out, cap, "%" PRId64, *FIELD(d, o, int64_t));
        break;
    case RC_OPT_INT:
        snprintf(out, cap, "%d", *FIELD(d, o, int));
        break;
    case RC_OPT_UINT:
        snprintf(out, cap, "%u", *FIELD(d, o, unsigned));
        break;
    case RC_OPT_LONG:
        snprintf(out, cap, "%ld", *FIELD(d, o, long));
        break;
    case RC_OPT_F32:
        snprintf(out, cap, "%g", (double)*FIELD(d, o, float));
        break;
    case RC_OPT_F64:
        snprintf(out, cap, "%g", *FIELD(d, o, double));
        break;
    case RC_OPT_BOOL:
        snprintf(out, cap, "%s", *FIELD(d, o, int) ? "on" : "off");
        break;
    case RC_OPT_CHOICE: {
        int i = *FIELD(d, o, int), n = 0;
        while (o->choices[n])
            n++;
        if (i >= 0 && i < n)
            snprintf(out, cap, "%s", o->choices[i]);
        break;
    }
    default:
        break;
    }
}

/* Write text wrapped to `room` columns, continuation lines indented by `indent`. */
static void wrap(FILE *out, const char *text, int indent, int room)
{
    int col = 0;
    const char *h = text;
    while (*h) {
        int w = (int)strcspn(h, " ");
        if (col && col + 1 + w > room) {
            fprintf(out, "\n%*s", indent, "");
            col = 0;
        } else if (col) {
            fputc(' ', out);
            col++;
        }
        fwrite(h, 1, (size_t)w, out);
        col += w;
        h += w;
        while (*h == ' ')
            h++;
    }
}

void rc_opt_usage(FILE *out, const struct rc_opt *table, const void *defaults, unsigned scope, int width)
{
    enum { HEAD = 26 };
    int indent = 2 + HEAD + 1, room = width - indent > 30 ? width - indent : 30;
    for (const struct rc_opt *o = table; o->name; o++) {
        if (o->scope && !(o->scope & scope))
            continue;
        if (o->section)
            fprintf(out, "\n%s:\n", o->section);
        if (o->alias && !o->help)
            continue;
        char head[96], val[128], text[1024];
        snprintf(head, sizeof(head), "--%s%s%s", o->name, takes_value(o) ? " " : "", takes_value(o) ? o->arg : "");
        if ((int)strlen(head) > HEAD)
            fprintf(out, "  %s\n%*s", head, indent, "");
        else
            fprintf(out, "  %-*s ", HEAD, head);
        default_text(o, defaults, val, sizeof(val));
        size_t n = (size_t)snprintf(text, sizeof(text), "%s", o->help ? o->help : "");
        if (o->alias && n < sizeof(text))
            n += (size_t)snprintf(text + n, sizeof(text) - n, " (--%s%s%s)", o->alias, o->alias_value ? " " : "",
                                  o->alias_value ? o->alias_value : "");
        if (val[0] && n < sizeof(text))
            n += (size_t)snprintf(text + n, sizeof(text) - n, " [%s]", val);
        if (o->env && n < sizeof(text))
            snprintf(text + n, sizeof(text) - n, " (env %s)", o->env);
        wrap(out, text, indent, room);
        fputc('\n', out);
    }
}
