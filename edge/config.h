/*
 * config.h - recedge's settings: one struct, filled from one option table
 * that also prints --help.
 *
 * Order of precedence: built-in default, then the option's environment
 * variable (EDGEREC_*), then the command line (--name=value or --name
 * value). re_config_parse() checks every value once; afterwards the struct
 * is passed around as const.
 */
#ifndef RE_CONFIG_H
#define RE_CONFIG_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

#define RE_ORIGINS_MAX 16     /* origins in --cors-origin */
#define RE_ORIGIN_MAX 256     /* bytes of one origin, NUL included */
#define RE_ORIGIN_LIST_MAX 1024

struct re_config {
    char root[PATH_MAX];      /* cache root: versions/, current */
    char bind[64];            /* numeric IPv4 or IPv6 address */
    unsigned port;            /* 0: any free port (logged at start-up) */
    unsigned threads;         /* libmicrohttpd thread pool size */
    unsigned max_connections; /* concurrent connections */
    unsigned idle_timeout;    /* seconds before an idle connection is closed */
    unsigned conn_memory;     /* bytes of libmicrohttpd memory per connection */
    unsigned poll_ms;         /* readlink poll of `current`, milliseconds */
    unsigned drain_ms;        /* how long SIGTERM waits for in-flight requests */
    unsigned max_per_ip;      /* concurrent connections from one address; 0: no limit */
    unsigned request_timeout; /* seconds from a request's first byte to its last header; 0: none */
    char cors_origin[RE_ORIGIN_LIST_MAX]; /* "*", one origin, or an allow-list; empty: no CORS */
    char cors_headers[512];   /* Access-Control-Allow-Headers of a preflight */
    unsigned cors_max_age;    /* Access-Control-Max-Age of a preflight, seconds; 0: not sent */
    char timing_allow_origin[256]; /* Timing-Allow-Origin; empty: not sent */
    char cache_control[256];  /* Cache-Control of 200 answers under /v1; empty: not sent */
    /* cors_origin split at commas (filled by re_config_parse): one entry
     * for "*" or a single origin, which every answer names; with two or
     * more, an answer names the request's Origin when it is one of them. */
    unsigned n_origins;
    char origins[RE_ORIGINS_MAX][RE_ORIGIN_MAX];
    /* The exposure log (explog.h, schemas/exposure.md). */
    char exposure_log[PATH_MAX];     /* directory; empty: off */
    double exposure_sample;          /* 0 < F <= 1: share of visitors logged */
    uint64_t exposure_rotate_bytes;  /* close a file at this size */
    unsigned exposure_rotate_seconds; /* close a file this long after it opened */
    uint64_t exposure_buffer;        /* bytes per worker thread */
    char node_name[65];              /* file name prefix; empty: the host name */
    enum rc_log_level log_level;
    int log_json;   /* --log-format json */
    int access_log; /* one log line per request */
    int help;       /* --help given */
};

/*
 * Fill c from defaults, the environment and argv. Returns 0, or RC_EFORMAT /
 * RC_ERANGE with a message naming the option (and its variable) in err.
 * When --help is given, c->help is set and the rest of argv is still
 * checked.
 */
int re_config_parse(struct re_config *c, int argc, char **argv, char *err);

/* The --help text: every option, its variable and default. */
void re_config_usage(FILE *out, const char *prog);

#endif
