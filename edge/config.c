#include "config.h"
#include "error.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum opt_type { OPT_STR, OPT_UINT, OPT_BOOL, OPT_LEVEL, OPT_FORMAT, OPT_FLAG };

struct opt {
    const char *name; /* without the leading "--" */
    const char *env;  /* NULL: command line only */
    enum opt_type type;
    size_t off;
    size_t size;        /* OPT_STR: buffer size */
    unsigned min, max;  /* OPT_UINT */
    const char *def;    /* default as text; NULL: none */
    const char *arg;    /* shown in --help */
    const char *help;
};

#define F(field) offsetof(struct re_config, field), sizeof(((struct re_config *)0)->field)

static const struct opt options[] = {
    {"root", "EDGEREC_ROOT", OPT_STR, F(root), 0, 0, "/var/lib/edgerec", "DIR",
     "cache root holding versions/ and the `current` symlink"},
    {"bind", "EDGEREC_BIND", OPT_STR, F(bind), 0, 0, "127.0.0.1", "ADDR",
     "numeric IPv4 or IPv6 address to listen on; use 0.0.0.0 or :: on a node that serves clients directly"},
    {"port", "EDGEREC_PORT", OPT_UINT, F(port), 0, 65535, "8080", "PORT",
     "TCP port; 0 picks a free one and logs it in the `listen` line"},
    {"threads", "EDGEREC_THREADS", OPT_UINT, F(threads), 0, 1024, "0", "N",
     "worker threads (libmicrohttpd thread pool); 0 = one per online CPU"},
    {"max-connections", "EDGEREC_MAX_CONNECTIONS", OPT_UINT, F(max_connections), 1, 1000000, "10000", "N",
     "concurrent connections; RLIMIT_NOFILE is raised to fit"},
    {"conn-memory", "EDGEREC_CONN_MEMORY", OPT_UINT, F(conn_memory), 4096, 1048576, "5120", "BYTES",
     "memory per connection for the request line, the headers and the answer's headers; a larger request is "
     "refused (414, 431 or a closed connection; see \"Limits\" in schemas/http.md)"},
    {"idle-timeout", "EDGEREC_IDLE_TIMEOUT", OPT_UINT, F(idle_timeout), 0, 86400, "30", "SECONDS",
     "close a connection idle this long; 0 = never"},
    {"poll-ms", "EDGEREC_POLL_MS", OPT_UINT, F(poll_ms), 10, 3600000, "1000", "MS",
     "how often `current` is re-read besides inotify events and SIGHUP"},
    {"drain-ms", "EDGEREC_DRAIN_MS", OPT_UINT, F(drain_ms), 0, 600000, "5000", "MS",
     "on SIGTERM/SIGINT, how long to wait for in-flight requests after accepting stops"},
    {"cors-origin", "EDGEREC_CORS_ORIGIN", OPT_STR, F(cors_origin), 0, 0, "*", "ORIGIN",
     "Access-Control-Allow-Origin of every /v1 answer; empty = not sent"},
    {"cache-control", "EDGEREC_CACHE_CONTROL", OPT_STR, F(cache_control), 0, 0, "private, max-age=60", "VALUE",
     "Cache-Control of successful /v1 answers (errors say no-store); empty = not sent"},
    {"log-level", "EDGEREC_LOG_LEVEL", OPT_LEVEL, F(log_level), 0, 0, "info", "LEVEL", "debug, info, warn or error"},
    {"log-format", "EDGEREC_LOG_FORMAT", OPT_FORMAT, F(log_json), 0, 0, "logfmt", "FORMAT", "logfmt or json"},
    {"access-log", "EDGEREC_ACCESS_LOG", OPT_BOOL, F(access_log), 0, 0, "0", NULL,
     "log one line per request (env: 1/0, true/false)"},
    {"help", NULL, OPT_FLAG, F(help), 0, 0, NULL, NULL, "print this help and exit"},
};

#define NOPTS (sizeof(options) / sizeof(options[0]))

void re_config_usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s [options]\n"
            "\n"
            "Serve precomputed recommendations from an edgerec cache over HTTP:\n"
            "GET /v1/recs, /v1/version, /healthz, /readyz, /metrics (see schemas/http.md).\n"
            "A new version is picked up when `current` changes and on SIGHUP; SIGTERM and\n"
            "SIGINT stop accepting, drain in-flight requests and exit 0.\n"
            "\n"
            "Options (each may also be set through its environment variable; the command\n"
            "line wins):\n",
            prog);
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &options[i];
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(out, "  %-28s %s\n", left, o->help);
        if (o->env || o->def) {
            fprintf(out, "  %-28s ", "");
            if (o->env)
                fprintf(out, "env %s", o->env);
            if (o->def && o->type != OPT_FLAG)
                fprintf(out, "%sdefault: %s%s%s", o->env ? ", " : "", o->type == OPT_STR ? "\"" : "", o->def,
                        o->type == OPT_STR ? "\"" : "");
            fprintf(out, "\n");
        }
    }
}

static int set(struct re_config *c, const struct opt *o, const char *val, const char *from, char *err)
{
    char *field = (char *)c + o->off;
    switch (o->type) {
    case OPT_STR:
        if (strlen(val) >= o->size)
            return rc_fail(err, RC_ETOOLONG, "%s: value longer than %zu bytes", from, o->size - 1);
        memcpy(field, val, strlen(val) + 1);
        return 0;
    case OPT_UINT: {
        char *end;
        if (!*val || *val == '-' || *val == '+')
            return rc_fail(err, RC_EFORMAT, "%s: '%s' is not a number", from, val);
        unsigned long v = strtoul(val, &end, 10);
        if (*end)
            return rc_fail(err, RC_EFORMAT, "%s: '%s' is not a number", from, val);
        if (v < o->min || v > o->max)
            return rc_fail(err, RC_ERANGE, "%s: %lu is outside %u..%u", from, v, o->min, o->max);
        *(unsigned *)field = (unsigned)v;
        return 0;
    }
    case OPT_BOOL:
    case OPT_FLAG:
        if (!strcmp(val, "1") || !strcmp(val, "true") || !strcmp(val, "yes") || !strcmp(val, "on"))
            *(int *)field = 1;
        else if (!strcmp(val, "0") || !strcmp(val, "false") || !strcmp(val, "no") || !strcmp(val, "off") ||
                 !*val)
            *(int *)field = 0;
        else
            return rc_fail(err, RC_EFORMAT, "%s: '%s' is not a boolean (1/0, true/false)", from, val);
        return 0;
    case OPT_LEVEL:
        if (rc_log_parse_level(val, (enum rc_log_level *)field) != 0)
            return rc_fail(err, RC_EFORMAT, "%s: '%s' is not debug, info, warn or error", from, val);
        return 0;
    case OPT_FORMAT:
        if (strcmp(val, "logfmt") && strcmp(val, "json"))
            return rc_fail(err, RC_EFORMAT, "%s: '%s' is not logfmt or json", from, val);
        *(int *)field = strcmp(val, "json") == 0;
        return 0;
    }
    return rc_fail(err, RC_EINTERNAL, "%s: unknown option type", from);
}

int re_config_parse(struct re_config *c, int argc, char **argv, char *err)
{
    memset(c, 0, sizeof(*c));
    char from[128];
    int rc;
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &options[i];
        if (o->def && (rc = set(c, o, o->def, o->name, err)) != 0)
            return rc;
        const char *env = o->env ? getenv(o->env) : NULL;
        if (env) {
            snprintf(from, sizeof(from), "%s", o->env);
            if ((rc = set(c, o, env, from, err)) != 0)
                return rc;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return rc_fail(err, RC_EFORMAT, "unexpected argument '%s' (see --help)", a);
        const char *eq = strchr(a + 2, '=');
        size_t nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        const struct opt *o = NULL;
        for (size_t k = 0; k < NOPTS && !o; k++)
            if (strlen(options[k].name) == nlen && strncmp(options[k].name, a + 2, nlen) == 0)
                o = &options[k];
        if (!o)
            return rc_fail(err, RC_EFORMAT, "unknown option '%.*s' (see --help)", (int)nlen + 2, a);
        snprintf(from, sizeof(from), "--%s", o->name);
        const char *val;
        if (eq)
            val = eq + 1;
        else if (o->type == OPT_BOOL || o->type == OPT_FLAG)
            val = "1";
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return rc_fail(err, RC_EFORMAT, "%s needs a value", from);
        if ((rc = set(c, o, val, from, err)) != 0)
            return rc;
    }
    if (!c->root[0])
        return rc_fail(err, RC_EFORMAT, "--root: the cache root must not be empty");
    if (c->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->threads = n > 0 ? (unsigned)n : 1;
    }
    if (strchr(c->cors_origin, '\r') || strchr(c->cors_origin, '\n') || strchr(c->cache_control, '\r') ||
        strchr(c->cache_control, '\n'))
        return rc_fail(err, RC_EFORMAT, "header values must not hold line breaks");
    return 0;
}
