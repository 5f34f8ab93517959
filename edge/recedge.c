/*
 * recedge - serve precomputed recommendations from an edgerec cache.
 *
 * main() reads the config, raises RLIMIT_NOFILE, blocks the signals it
 * handles (every thread inherits the mask), starts the version holder's
 * watcher and the HTTP server, then waits in sigwait(): SIGHUP forces a
 * check of `current`, SIGTERM/SIGINT drain and exit 0. With
 * --exposure-log, the log is opened before the server starts and closed
 * (every buffered line written, the file renamed) after it has drained.
 */
#include "config.h"
#include "error.h"
#include "explog.h"
#include "http.h"
#include "linger.h"
#include "log.h"
#include "metrics.h"
#include "swap.h"

#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Room for every connection, the sockets that linger after recedge's own
 * refusals (edge/linger.h), the listening socket, epoll, eventfds,
 * inotify, stdio and the LMDB files of two versions during a swap. */
static void raise_nofile(const struct re_config *cfg)
{
    rlim_t need = (rlim_t)cfg->max_connections + RE_LINGER_MAX + 64 + 4 * (rlim_t)cfg->threads;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    struct rlimit want = rl;
    want.rlim_cur = need;
    if (want.rlim_max != RLIM_INFINITY && want.rlim_max < need)
        want.rlim_max = need; /* allowed with CAP_SYS_RESOURCE */
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
        want.rlim_max = rl.rlim_max;
        want.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
        (void)setrlimit(RLIMIT_NOFILE, &want);
    }
    (void)getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < need)
        rc_log(RC_LOG_WARN, "nofile",
               "limit=%llu wanted=%llu reason=\"less room than --max-connections plus the sockets that linger after "
               "recedge's own refusals\"",
               (unsigned long long)rl.rlim_cur, (unsigned long long)need);
}

/* The exposure log of --exposure-log; *out stays NULL when it is off. */
static int open_explog(const struct re_config *cfg, struct re_explog **out, char *err)
{
    if (!cfg->exposure_log[0])
        return 0;
    struct re_explog_config xc = {
        .dir = cfg->exposure_log,
        .node = cfg->node_name,
        .sample = cfg->exposure_sample,
        .rotate_bytes = cfg->exposure_rotate_bytes,
        .rotate_seconds = cfg->exposure_rotate_seconds,
        .buffer = (size_t)cfg->exposure_buffer,
    };
    return re_explog_open(out, &xc, err);
}

int main(int argc, char **argv)
{
    static struct re_config cfg;
    char err[RC_ERRMSG_MAX];
    if (re_config_parse(&cfg, argc, argv, err) != 0) {
        fprintf(stderr, "recedge: %s\n", err);
        return 2;
    }
    if (cfg.help) {
        re_config_usage(stdout, "recedge");
        return 0;
    }
    rc_log_setup(cfg.log_level, cfg.log_json);
    raise_nofile(&cfg);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    /* A write past RLIMIT_FSIZE (the exposure log) fails with EFBIG and is
     * counted as a drop, rather than killing the server. */
    signal(SIGXFSZ, SIG_IGN);

    struct re_metrics *metrics = NULL;
    struct re_holder *holder = NULL;
    struct re_server *server = NULL;
    struct re_explog *explog = NULL;
    struct re_overlay_hold *overlay = NULL;
    int rc = re_metrics_create(&metrics);
    if (rc) {
        fprintf(stderr, "recedge: unable to set up metrics: %s\n", rc_strerror(rc));
        return 1;
    }
    if ((rc = open_explog(&cfg, &explog, err)) != 0 || (rc = re_holder_create(&holder, cfg.root, err)) != 0 ||
        (rc = re_overlay_hold_create(&overlay, cfg.root, err)) != 0 ||
        (re_holder_set_overlay(holder, overlay), rc = re_server_start(&server, &cfg, holder, metrics, explog, err)) != 0 ||
        (rc = re_watcher_start(holder, cfg.poll_ms, err)) != 0) {
        rc_log(RC_LOG_ERROR, "start", "reason=\"%s\"", err);
        re_server_stop(server);
        re_explog_close(explog);
        re_holder_destroy(holder);
        re_overlay_hold_destroy(overlay);
        re_metrics_destroy(metrics);
        return 1;
    }
    rc_log(RC_LOG_INFO, "listen",
           "bind=%s port=%u threads=%u max_connections=%u conn_memory=%u max_per_ip=%u request_timeout=%u "
           "root=\"%s\" mhd=%s",
           cfg.bind, re_server_port(server), cfg.threads, cfg.max_connections, cfg.conn_memory, cfg.max_per_ip,
           cfg.request_timeout, cfg.root, MHD_get_version());

    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            rc_log(RC_LOG_INFO, "sighup", "action=check");
            re_holder_kick(holder);
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            rc_log(RC_LOG_INFO, "stop", "signal=%s", sig == SIGTERM ? "TERM" : "INT");
            break;
        }
    }
    re_server_stop(server);
    re_explog_close(explog); /* after the server: no request logs any more */
    re_holder_destroy(holder); /* stops the watcher, which checks the overlay */
    re_overlay_hold_destroy(overlay);
    re_metrics_destroy(metrics);
    rc_log(RC_LOG_INFO, "exit", "status=0");
    return 0;
}
