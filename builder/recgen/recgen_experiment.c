/*
 * recgen_experiment.c - `recgen experiment`: the subcommand's flags and
 * usage over the generator in gen_experiment.h (schemas/recgen.md,
 * "recgen experiment").
 *
 * Exit status: 0 done; 1 the run failed (I/O, memory, a bad definition);
 * 2 bad usage.
 */
#include "error.h"
#include "gen_experiment.h"
#include "opt.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

int rb_genx_main(int argc, char **argv);

struct genx_cli {
    struct rb_genx_config gen;
    int help;
};

#define GX(field) (offsetof(struct genx_cli, gen) + offsetof(struct rb_genx_config, field))

static const struct rc_opt options[] = {
    {.name = "out", .arg = "DIR", .type = RC_OPT_STR, .off = GX(out_dir),
     .help = "output directory, created if missing (required)"},
    {.name = "experiments", .arg = "FILE", .type = RC_OPT_STR, .off = GX(experiments),
     .help = "experiment definition to simulate (default: control and treatment, 49 % each, and a holdout)"},
    {.name = "seed", .arg = "N", .type = RC_OPT_U64, .off = GX(seed),
     .help = "PRNG seed; the same seed and flags give the same bytes"},
    {.name = "visitors", .arg = "N", .type = RC_OPT_U64, .off = GX(visitors), .help = "distinct cookies exposed"},
    {.name = "products", .arg = "N", .type = RC_OPT_U32, .off = GX(products), .help = "catalog products"},
    {.name = "days", .arg = "N", .type = RC_OPT_U32, .off = GX(days), .help = "days the exposures spread over"},
    {.name = "end", .arg = "TS", .type = RC_OPT_I64, .off = GX(end_ts),
     .help = "end of the exposure period, Unix seconds"},
    {.name = "lift", .arg = "F", .type = RC_OPT_F64, .off = GX(lift),
     .help = "planted relative lift of every treatment arm over control (0: an A/A test)"},
    {.name = "holdout-lift", .arg = "F", .type = RC_OPT_F64, .off = GX(holdout_lift),
     .help = "planted relative lift of holdout arms over control"},
    {.name = "ctr", .arg = "P", .type = RC_OPT_F64, .off = GX(ctr),
     .help = "control's per-visitor probability of clicking a recommended product"},
    {.name = "purchase-rate", .arg = "P", .type = RC_OPT_F64, .off = GX(purchase_rate),
     .help = "control's per-visitor probability of purchasing a recommended product in the window (carts: twice)"},
    {.name = "skew", .arg = "F", .type = RC_OPT_F64, .off = GX(skew),
     .help = "share of control visitors logged in the first treatment arm (a broken assignment)"},
    {.name = "window-hours", .arg = "H", .type = RC_OPT_F64, .off = GX(window_hours),
     .help = "attribution window the carts and purchases fall in"},
    {.name = "nodes", .arg = "N", .type = RC_OPT_U32, .off = GX(nodes), .help = "edge nodes the log is spread over"},
    {.name = "rotate-lines", .arg = "N", .type = RC_OPT_U64, .off = GX(rotate_lines),
     .help = "lines per log file before the next file"},
    {.name = "help", .type = RC_OPT_FLAG, .off = offsetof(struct genx_cli, help), .help = "print this help and exit"},
    {0},
};

static void usage(FILE *f)
{
    struct genx_cli d;
    memset(&d, 0, sizeof(d));
    rb_genx_defaults(&d.gen);
    fprintf(f, "usage: recgen experiment --out DIR [options]\n\n"
               "Simulate an A/B experiment with planted outcomes: experiments.json, log/ (exposure and\n"
               "click lines), events.csv, catalog.csv and truth.json. See schemas/recgen.md.\n\noptions:\n");
    rc_opt_usage(f, options, &d, 0, 99);
}

/* argv[0] is "experiment". */
int rb_genx_main(int argc, char **argv)
{
    struct genx_cli cli;
    char err[RC_ERRMSG_MAX] = "";
    memset(&cli, 0, sizeof(cli));
    rb_genx_defaults(&cli.gen);
    struct rc_opt_state ost = {0};
    if (rc_opt_parse(options, &cli, argc, argv, &ost, err) != 0) {
        fprintf(stderr, "recgen experiment: %s\n\n", err);
        usage(stderr);
        return 2;
    }
    if (cli.help) {
        usage(stdout);
        return 0;
    }
    if (rb_genx_check(&cli.gen, err) != 0) {
        fprintf(stderr, "recgen experiment: %s\n\n", err);
        usage(stderr);
        return 2;
    }
    struct rb_genx_stats st;
    int rc = rb_genx_run(&cli.gen, &st, err);
    if (rc) {
        fprintf(stderr, "recgen experiment: %s\n", err[0] ? err : rc_strerror(rc));
        return 1;
    }
    fprintf(stderr, "recgen experiment: out=%s visitors=%llu exposures=%llu clicks=%llu carts=%llu purchases=%llu "
                    "log_files=%llu\n",
            cli.gen.out_dir, (unsigned long long)st.visitors, (unsigned long long)st.exposures,
            (unsigned long long)st.clicks, (unsigned long long)st.carts, (unsigned long long)st.purchases,
            (unsigned long long)st.log_files);
    return 0;
}
