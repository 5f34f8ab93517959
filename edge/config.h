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
#include <stdio.h>

#include "log.h"

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
    char cors_origin[256];    /* Access-Control-Allow-Origin; empty: not sent */
    char cache_control[256];  /* Cache-Control of 200 answers under /v1; empty: not sent */
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
