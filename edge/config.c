#include "config.h"
#include "error.h"
#include "opt.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const level_names[] = {"debug", "info", "warn", "error", NULL}; /* enum rc_log_level */
static const char *const format_names[] = {"logfmt", "json", NULL};                 /* log_json */

#define RE_CORS_HEADERS_DEFAULT "Content-Type, X-Requested-With, X-Request-Id, traceparent, tracestate, baggage"

#define F(field) .off = offsetof(struct re_config, field), .size = sizeof(((struct re_config *)0)->field)

static const struct rc_opt options[] = {
    {.name = "root", .type = RC_OPT_BUF, F(root), .arg = "DIR", .env = "EDGEREC_ROOT", .def = "/var/lib/edgerec",
     .help = "cache root holding versions/ and the `current` symlink"},
    {.name = "bind", .type = RC_OPT_BUF, F(bind), .arg = "ADDR", .env = "EDGEREC_BIND", .def = "127.0.0.1",
     .help = "numeric IPv4 or IPv6 address to listen on; use 0.0.0.0 or :: on a node that serves clients directly"},
    {.name = "port", .type = RC_OPT_UINT, F(port), .arg = "PORT", .min = 0, .max = 65535,
     .env = "EDGEREC_PORT", .def = "8080",
     .help = "TCP port; 0 picks a free one and logs it in the `listen` line"},
    {.name = "threads", .type = RC_OPT_UINT, F(threads), .arg = "N", .min = 0, .max = 1024,
     .env = "EDGEREC_THREADS", .def = "0",
     .help = "worker threads (libmicrohttpd thread pool); 0 = one per online CPU"},
    {.name = "max-connections", .type = RC_OPT_UINT, F(max_connections), .arg = "N", .min = 1, .max = 1000000,
     .env = "EDGEREC_MAX_CONNECTIONS", .def = "10000",
     .help = "concurrent connections; RLIMIT_NOFILE is raised to fit"},
    {.name = "max-per-ip", .type = RC_OPT_UINT, F(max_per_ip), .arg = "N", .min = 0, .max = 1000000,
     .env = "EDGEREC_MAX_PER_IP", .def = "1000",
     .help = "concurrent connections from one client address, refused at accept beyond it; 0 = no limit (behind a "
     "CDN or load balancer that opens many connections from few addresses, raise it or use 0)"},
    {.name = "conn-memory", .type = RC_OPT_UINT, F(conn_memory), .arg = "BYTES", .min = 4096, .max = 1048576,
     .env = "EDGEREC_CONN_MEMORY", .def = "12288",
     .help = "memory per connection for the request line, the headers, the parsed cookies and the answer's headers; "
     "a larger request is refused with 414 or 431 (see \"Limits\" in schemas/http.md)"},
    {.name = "idle-timeout", .type = RC_OPT_UINT, F(idle_timeout), .arg = "SECONDS", .min = 0, .max = 86400,
     .env = "EDGEREC_IDLE_TIMEOUT", .def = "30",
     .help = "close a connection idle this long; 0 = never"},
    {.name = "request-timeout", .type = RC_OPT_UINT, F(request_timeout), .arg = "SECONDS", .min = 0, .max = 86400,
     .env = "EDGEREC_REQUEST_TIMEOUT", .def = "10",
     .help = "deadline from a request's first byte to the end of its headers, however slowly they trickle in "
     "(408, then the connection is closed); 0 = none"},
    {.name = "poll-ms", .type = RC_OPT_UINT, F(poll_ms), .arg = "MS", .min = 10, .max = 3600000,
     .env = "EDGEREC_POLL_MS", .def = "1000",
     .help = "how often `current` is re-read besides inotify events and SIGHUP"},
    {.name = "drain-ms", .type = RC_OPT_UINT, F(drain_ms), .arg = "MS", .min = 0, .max = 600000,
     .env = "EDGEREC_DRAIN_MS", .def = "5000",
     .help = "on SIGTERM/SIGINT, how long to wait for in-flight requests after accepting stops"},
    {.name = "cors-origin", .type = RC_OPT_BUF, F(cors_origin), .arg = "ORIGINS",
     .env = "EDGEREC_CORS_ORIGIN", .def = "*",
     .help = "Access-Control-Allow-Origin of every answer: \"*\", one origin (always sent), or up to 16 "
     "comma-separated origins (the request's Origin is sent back when listed, with Vary: Origin); "
     "empty = no CORS headers"},
    {.name = "cors-headers", .type = RC_OPT_BUF, F(cors_headers), .arg = "LIST",
     .env = "EDGEREC_CORS_HEADERS", .def = RE_CORS_HEADERS_DEFAULT,
     .help = "Access-Control-Allow-Headers of a preflight: the request headers page scripts may send"},
    {.name = "cors-max-age", .type = RC_OPT_UINT, F(cors_max_age), .arg = "SECONDS", .min = 0, .max = 86400,
     .env = "EDGEREC_CORS_MAX_AGE", .def = "86400",
     .help = "Access-Control-Max-Age of a preflight (browsers cap it: Chromium at 7200, Firefox at 86400); 0 = not sent"},
    {.name = "timing-allow-origin", .type = RC_OPT_BUF, F(timing_allow_origin), .arg = "LIST",
     .env = "EDGEREC_TIMING_ALLOW_ORIGIN", .def = "",
     .help = "Timing-Allow-Origin of every answer (\"*\" or origins separated by commas), so that page scripts "
     "see the Resource Timing of a call; empty = not sent"},
    {.name = "cache-control", .type = RC_OPT_BUF, F(cache_control), .arg = "VALUE",
     .env = "EDGEREC_CACHE_CONTROL", .def = "private, max-age=60",
     .help = "Cache-Control of successful /v1 answers (errors say no-store); empty = not sent"},
    {.name = "exposure-log", .type = RC_OPT_BUF, F(exposure_log), .arg = "DIR", .env = "EDGEREC_EXPOSURE_LOG",
     .def = "", .help = "write what each /v1/recs answer showed and each /v1/event beacon to JSON Lines files in DIR "
     "(schemas/exposure.md); empty = off"},
    {.name = "exposure-sample", .type = RC_OPT_F64, F(exposure_sample), .arg = "F", .min = 0.000001, .max = 1,
     .env = "EDGEREC_EXPOSURE_SAMPLE", .def = "1",
     .help = "share of visitors whose answers are logged (by a hash of the cookie: all of a visitor's or none)"},
    {.name = "exposure-rotate-bytes", .type = RC_OPT_U64, F(exposure_rotate_bytes), .arg = "BYTES", .min = 4096,
     .max = 1e12, .env = "EDGEREC_EXPOSURE_ROTATE_BYTES", .def = "67108864",
     .help = "close an exposure log file (rename *.jsonl.open to *.jsonl) once it holds this many bytes"},
    {.name = "exposure-rotate-seconds", .type = RC_OPT_UINT, F(exposure_rotate_seconds), .arg = "SECONDS", .min = 1,
     .max = 86400, .env = "EDGEREC_EXPOSURE_ROTATE_SECONDS", .def = "300",
     .help = "close an exposure log file this long after it was opened"},
    {.name = "exposure-buffer", .type = RC_OPT_U64, F(exposure_buffer), .arg = "BYTES", .min = 65536,
     .max = 1073741824, .env = "EDGEREC_EXPOSURE_BUFFER", .def = "4194304",
     .help = "exposure log buffer per worker thread; a line that finds it full is dropped and counted"},
    {.name = "node-name", .type = RC_OPT_BUF, F(node_name), .arg = "NAME", .env = "EDGEREC_NODE_NAME", .def = "",
     .help = "this node's name in exposure log file names (1..64 bytes of [A-Za-z0-9._-]); empty = the host name"},
    {.name = "log-level", .type = RC_OPT_CHOICE, F(log_level), .arg = "debug|info|warn|error", .choices = level_names,
     .env = "EDGEREC_LOG_LEVEL", .def = "info",
     .help = "debug, info, warn or error"},
    {.name = "log-format", .type = RC_OPT_CHOICE, F(log_json), .arg = "logfmt|json", .choices = format_names,
     .env = "EDGEREC_LOG_FORMAT", .def = "logfmt",
     .help = "logfmt or json"},
    {.name = "access-log", .type = RC_OPT_BOOL, F(access_log), .env = "EDGEREC_ACCESS_LOG", .def = "0",
     .help = "log one line per request (env: 1/0, true/false)"},
    {.name = "help", .type = RC_OPT_FLAG, F(help),
     .help = "print this help and exit"},
    {0},
};


void re_config_usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s [options]\n"
            "\n"
            "Serve precomputed recommendations from an edgerec cache over HTTP:\n"
            "GET /v1/recs, /v1/version, /healthz, /readyz, /metrics, GET and POST /v1/event\n"
            "(see schemas/http.md); with --exposure-log, a log of answers and beacons\n"
            "(schemas/exposure.md).\n"
            "A new version is picked up when `current` changes and on SIGHUP; SIGTERM and\n"
            "SIGINT stop accepting, drain in-flight requests and exit 0.\n"
            "\n"
            "Options (each may also be set through its environment variable; the command\n"
            "line wins):\n",
            prog);
    rc_opt_usage(out, options, NULL, 0, 99);
}

/* Split --cors-origin at commas into c->origins (spaces around each
 * trimmed): "*" alone, or 1..RE_ORIGINS_MAX origins without spaces. */
static int split_origins(struct re_config *c, char *err)
{
    c->n_origins = 0;
    const char *p = c->cors_origin;
    while (*p == ' ')
        p++;
    if (!*p)
        return 0;
    for (;;) {
        size_t len = strcspn(p, ",");
        size_t end = len;
        while (end && p[end - 1] == ' ')
            end--;
        if (!end || memchr(p, ' ', end) || memchr(p, '\t', end))
            return rc_fail(err, RC_EFORMAT, "--cors-origin: '%s' is not \"*\" or a comma-separated list of origins",
                           c->cors_origin);
        if (c->n_origins == RE_ORIGINS_MAX)
            return rc_fail(err, RC_ERANGE, "--cors-origin: more than %d origins", RE_ORIGINS_MAX);
        if (end >= RE_ORIGIN_MAX)
            return rc_fail(err, RC_ETOOLONG, "--cors-origin: an origin longer than %d bytes", RE_ORIGIN_MAX - 1);
        memcpy(c->origins[c->n_origins], p, end);
        c->origins[c->n_origins++][end] = 0;
        if (!p[len])
            break;
        p += len + 1;
        while (*p == ' ')
            p++;
    }
    for (unsigned i = 0; i < c->n_origins; i++)
        if (strcmp(c->origins[i], "*") == 0 && c->n_origins > 1)
            return rc_fail(err, RC_EFORMAT, "--cors-origin: \"*\" cannot be part of a list");
    return 0;
}

int re_config_parse(struct re_config *c, int argc, char **argv, char *err)
{
    memset(c, 0, sizeof(*c));
    int rc = rc_opt_defaults(options, c, err);
    struct rc_opt_state st = {0};
    if (!rc)
        rc = rc_opt_parse(options, c, argc, argv, &st, err);
    if (rc)
        return rc;
    if (!c->root[0])
        return rc_fail(err, RC_EFORMAT, "--root: the cache root must not be empty");
    if (c->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->threads = n > 0 ? (unsigned)n : 1;
    }
    const char *values[] = {c->cors_origin, c->cors_headers, c->timing_allow_origin, c->cache_control};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        for (const char *p = values[i]; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return rc_fail(err, RC_EFORMAT, "header values must not hold control bytes or line breaks");
    for (const char *p = c->node_name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '-'))
            return rc_fail(err, RC_EFORMAT, "--node-name: '%s' is not 1..64 bytes of [A-Za-z0-9._-]", c->node_name);
    return split_origins(c, err);
}
