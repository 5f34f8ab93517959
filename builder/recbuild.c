/*
 * recbuild - the batch job: event logs, catalog and image embeddings in, one
 * new published cache version out (schemas/cache.md, schemas/manifest.md).
 *
 *   ingest -> train matrix -> ALS -> CF scoring -> image kNN
 *          -> sessions -> coview (+ next-item evaluation, blend weight) -> popularity
 *          -> exploration -> (rules, builder/rules.h) -> (holdout evaluation)
 *          -> write + manifest -> publish, flip, prune
 *
 * --stage train|score|merge runs it in parts with files between them
 * (stages.h, schemas/stages.md): ALS in train, CF scoring in N shards, the
 * rest in merge, with the same lists as the one command.
 *
 * Everything the run can be told lives in struct rb_config, filled from the
 * option table below (which also prints --help), checked once by
 * check_config, then passed as const. Exit codes: see EXIT_* and --help.
 */
#include <cblas.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>
#include <xxhash.h>

#include "als.h"
#include "backend.h"
#include "clicks.h"
#include "coview.h"
#include "dataset.h"
#include "error.h"
#include "eval.h"
#include "experiment.h"
#include "explore.h"
#include "ingest.h"
#include "json.h"
#include "knn.h"
#include "layout.h"
#include "log.h"
#include "opt.h"
#include "output.h"
#include "popularity.h"
#include "progress.h"
#include "rules.h"
#include "score.h"
#include "session.h"
#include "stages.h"
#include "train.h"
#include "tune.h"

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,    /* the build failed (message logged); current unchanged */
    EXIT_USAGE = 2,     /* bad command line */
    EXIT_BAD_INPUT = 3, /* input unusable: bad lines past --max-bad-ratio, empty, wrong format */
};

#define MAX_EVENT_FILES 64

enum device { DEVICE_AUTO, DEVICE_CPU, DEVICE_GPU };
enum tune_mode { TUNE_AUTO, TUNE_OFF, TUNE_BUDGET };
enum log_format { LOG_LOGFMT, LOG_JSON };

struct rb_config {
    const char *events[MAX_EVENT_FILES];
    size_t nevents;
    const char *clicks[MAX_EVENT_FILES]; /* --clicks: exposure-log files or directories (clicks.h) */
    size_t nclicks;
    const char *catalog;
    const char *embeddings;
    const char *embedding_ids; /* NULL: derived from embeddings */
    const char *out;

    struct rb_ingest_opts ingest; /* holds pointers into itself: never copied */
    struct rb_train_opts train;
    struct rb_als_opts als;
    struct rb_knn_opts knn;
    struct rb_coview_opts coview;
    struct rb_explore_opts explore; /* --explore-age-days, --explore-share (seed: --seed) */
    struct rb_stage_opts stage;   /* --stage, --work, --shard, --shards (stages.h) */
    double session_gap_min;       /* --session-gap, minutes */
    double blend_weight;          /* --blend-weight; < 0: auto */
    struct rb_score_opts score;   /* --score-method and the approximate scorer's flags */
    uint32_t n;
    uint32_t segment_n;           /* --segment-n: segment, global and category lists */
    int keep_bought;
    uint32_t eval_k;
    uint32_t keep;
    int no_flip;
    int device;                   /* enum device */
    int log_level;                /* enum rc_log_level */
    int log_format;               /* enum log_format */
    int progress;                 /* enum rb_progress_mode */
    int help;
    int tune;                     /* enum tune_mode */
    double tune_budget;           /* seconds: --tune N, or --tune auto's safety limit */
    uint32_t tune_configs;        /* configurations at the search's first rung */
    int tune_only;
    const char *tune_out, *params;
    const char *experiments;      /* --experiments FILE: the version's experiments.json */
    char *experiments_text;       /* its bytes, read and checked by check_config (owned); NULL without */
    size_t experiments_len;
    const char *rules;            /* --rules FILE (schemas/rules.md) */
    struct rb_rules *rules_parsed; /* read and checked by check_config (owned); NULL without */
    unsigned given;               /* enum rb_param bits set by a flag on the command line */
    unsigned from_file;           /* ... set by --params */
    double cf_half_life_days;     /* --params' half-life-days: CF's only (popularity keeps train.half_life_days) */
    const char *cf_b_params;      /* --cf-b-params FILE: a second CF parameter set, its lists into cookie_b */
    struct rb_params cf_b;        /* the file's values: the fields cf_b_set names */
    unsigned cf_b_set;            /* enum rb_param bits --cf-b-params set */

    char ids_path[PATH_MAX];      /* derived --embedding-ids */
    const char *map_spec, *map_event_spec, *preset; /* as given, for the manifest */
};

static void config_default(struct rb_config *c)
{
    memset(c, 0, sizeof(*c));
    rb_ingest_opts_default(&c->ingest);
    rb_train_opts_default(&c->train);
    rb_als_opts_default(&c->als);
    rb_knn_opts_default(&c->knn);
    rb_coview_opts_default(&c->coview);
    rb_explore_opts_default(&c->explore);
    c->session_gap_min = RB_SESSION_GAP_MIN_DEFAULT;
    c->blend_weight = -1;
    rb_score_opts_default(&c->score);
    c->n = 20;
    c->segment_n = 200;
    c->eval_k = 10;
    c->keep = 5;
    c->device = DEVICE_AUTO;
    c->log_level = RC_LOG_INFO;
    c->progress = RB_PROGRESS_AUTO;
    c->tune = TUNE_AUTO;
    c->tune_budget = 300.0; /* --tune auto: a safety limit the search's plan stays far below */
    c->tune_configs = 18;
}

/* ---- the option table ---- */

static const char *const device_names[] = {"auto", "cpu", "gpu", NULL};
static const char *const score_names[] = {"auto", "faiss", "gemm", "ivf", NULL};
static const char *const knn_names[] = {"exact", "ivf", "hnsw", "auto", NULL};
static const char *const ts_unit_names[] = {"auto", "s", "ms", "us", NULL}; /* enum rb_ts_unit */
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_names[] = {"logfmt", "json", NULL};
static const char *const progress_names[] = {"auto", "always", "never", NULL};
static const char *const split_names[] = {"temporal", "random", NULL}; /* enum rb_split */
static const char *const coview_norm_names[] = {"raw", "cosine", "lift", NULL}; /* enum rb_coview_norm */

/* Options with more to them than a field: rc_opt setters (opt.h). */
static int set_events(void *cfg, const struct rc_opt *o, const char *arg, char *err);
static int set_clicks(void *cfg, const struct rc_opt *o, const char *arg, char *err);
static int set_map(void *cfg, const struct rc_opt *o, const char *arg, char *err);
static int set_map_event(void *cfg, const struct rc_opt *o, const char *arg, char *err);
static int set_preset(void *cfg, const struct rc_opt *o, const char *arg, char *err);
static int set_tune(void *cfg, const struct rc_opt *o, const char *arg, char *err);
static int set_blend(void *cfg, const struct rc_opt *o, const char *arg, char *err);
static int set_shard(void *cfg, const struct rc_opt *o, const char *arg, char *err);

#define C(field) offsetof(struct rb_config, field)

static const struct rc_opt options[] = {
    {.name = "events", .arg = "FILE", .type = RC_OPT_CUSTOM, .set = set_events,
     .help = "events CSV/TSV (schemas/inputs.md); repeatable, \"-\" reads standard input (once)", .section = "Inputs"},
    {.name = "clicks", .arg = "PATH", .type = RC_OPT_CUSTOM, .set = set_clicks,
     .help = "recedge's exposure log: a closed *.jsonl file, or a directory of them (and of its subdirectories, "
     "as ops/rollout.sh collect leaves them); click, cart and purchase beacons become events (schemas/inputs.md, "
     "\"Clicks\"); repeatable"},
    {.name = "catalog", .arg = "FILE", .type = RC_OPT_STR, .off = C(catalog),
     .help = "catalog CSV (product, category, in_stock); without it every product seen is in stock"},
    {.name = "embeddings", .arg = "FILE", .type = RC_OPT_STR, .off = C(embeddings),
     .help = "image embeddings, float32 .npy (rows, dim); without it no image-similarity lists (warning)"},
    {.name = "embedding-ids", .arg = "FILE", .type = RC_OPT_STR, .off = C(embedding_ids),
     .help = "product id per embedding row (default: the .npy path with .npy replaced by _ids.txt)"},
    {.name = "preset", .arg = "NAME", .type = RC_OPT_CUSTOM, .set = set_preset,
     .help = "read a public log layout as published: retailrocket (events.csv: timestamp in ms, visitorid, "
     "event view/addtocart/transaction, itemid) or rees46 (event_time, event_type, product_id, user_id, "
     "user_session); sets --map, --map-event and --ts-unit, which override it when given later "
     "(schemas/inputs.md)"},
    {.name = "map", .arg = "COL=NAME,...", .type = RC_OPT_CUSTOM, .set = set_map,
     .help = "read event columns under other names, e.g. cookie=visitorid,product=itemid,ts=timestamp"},
    {.name = "map-event", .arg = "TYPE=NAME,...", .type = RC_OPT_CUSTOM, .set = set_map_event,
     .help = "accept other event names, e.g. cart=addtocart,purchase=transaction"},
    {.name = "ts-unit", .arg = "auto|s|ms|us", .type = RC_OPT_CHOICE, .off = C(ingest.ts_unit),
     .choices = ts_unit_names,
     .help = "unit of numeric timestamps; auto decides per value: >= 1e14 microseconds, >= 1e11 milliseconds, "
     "else seconds (ISO-8601 text is read as it is)"},
    {.name = "max-bad-ratio", .arg = "R", .type = RC_OPT_F64, .off = C(ingest.max_bad_ratio), .min = 0, .max = 1,
     .help = "fail (exit 3) when more than this share of event lines is malformed or of an unknown event type"},

    {.name = "weight-view", .arg = "W", .type = RC_OPT_F32, .off = C(train.weight[RB_VIEW]), .min = 0, .max = 1e6,
     .help = "weight of a view event", .section = "Training data"},
    {.name = "weight-cart", .arg = "W", .type = RC_OPT_F32, .off = C(train.weight[RB_CART]), .min = 0, .max = 1e6,
     .help = "weight of an add-to-cart event"},
    {.name = "weight-purchase", .arg = "W", .type = RC_OPT_F32, .off = C(train.weight[RB_PURCHASE]),
     .min = 0, .max = 1e6,
     .help = "weight of a purchase event"},
    {.name = "weight-click", .arg = "W", .type = RC_OPT_F32, .off = C(train.weight[RB_CLICK]), .min = 0, .max = 1e6,
     .help = "weight of a click on a recommendation (--clicks; not tuned)"},
    {.name = "half-life-days", .arg = "D", .type = RC_OPT_F64, .off = C(train.half_life_days), .min = 0, .max = 36500,
     .help = "an event's weight halves every D days back from the newest event (0: no decay); also for popularity"},
    {.name = "window-days", .arg = "D", .type = RC_OPT_F64, .off = C(train.window_days), .min = 0, .max = 36500,
     .help = "ignore events older than D days before the newest (0: all); also for popularity"},
    {.name = "min-events", .arg = "N", .type = RC_OPT_U32, .off = C(train.min_events), .min = 0, .max = 1e9,
     .help = "a cookie trains with at least N events ..."},
    {.name = "active-days", .arg = "D", .type = RC_OPT_F64, .off = C(train.active_days), .min = 0, .max = 36500,
     .help = "... within the last D days (0: the whole window)"},
    {.name = "min-purchases", .arg = "N", .type = RC_OPT_U32, .off = C(train.min_purchases), .min = 0, .max = 1e9,
     .help = "a cookie gets a CF list with at least N purchases"},

    {.name = "factors", .arg = "F", .type = RC_OPT_U32, .off = C(als.factors), .min = 1, .max = 1024,
     .help = "ALS latent factors", .section = "Collaborative filtering (ALS)"},
    {.name = "reg", .arg = "L", .type = RC_OPT_F32, .off = C(als.reg), .min = 0, .max = 1e6,
     .help = "ALS L2 regularisation per observed entry: a row with n entries gets reg * n"},
    {.name = "alpha", .arg = "A", .type = RC_OPT_F32, .off = C(als.alpha), .min = 0, .max = 1e6,
     .help = "ALS confidence scale: c = 1 + alpha * weight"},
    {.name = "iterations", .arg = "N", .type = RC_OPT_U32, .off = C(als.iterations), .min = 1, .max = 1000,
     .help = "ALS iterations"},
    {.name = "cg-steps", .arg = "N", .type = RC_OPT_U32, .off = C(als.cg_steps), .min = 0, .max = 100,
     .help = "conjugate-gradient steps per row solve (0: exact Cholesky solve)"},
    {.name = "seed", .arg = "S", .type = RC_OPT_U64, .off = C(als.seed),
     .help = "random seed (same inputs, seed and --threads: same lists)"},
    {.name = "threads", .arg = "T", .type = RC_OPT_INT, .off = C(als.threads), .min = 0, .max = 4096,
     .help = "worker threads (0: all cores)"},
    {.name = "score-method", .arg = "auto|faiss|gemm|ivf", .type = RC_OPT_CHOICE, .off = C(score.method),
     .choices = score_names,
     .help = "how CF lists are scored: faiss and gemm exactly (the same lists), ivf approximately (FAISS IVF over the "
             "item factors, recall measured); auto: ivf from --score-approx-min in-stock products when exact scoring "
             "would take 2e12 multiply-adds or more (cookies with a list x products x factors), else gemm"},
    {.name = "score-approx-min", .arg = "N", .type = RC_OPT_U32, .off = C(score.approx_min), .min = 1, .max = 4e9,
     .help = "in-stock products from which --score-method auto scores approximately"},
    {.name = "score-nlist", .arg = "N", .type = RC_OPT_U32, .off = C(score.nlist), .min = 0, .max = 1e7,
     .help = "ivf: clusters of the item factors, at most products / 39 (0: 4 sqrt(products))"},
    {.name = "score-nprobe", .arg = "N", .type = RC_OPT_U32, .off = C(score.nprobe), .min = 0, .max = 1e7,
     .help = "ivf: clusters searched per cookie (0: the smallest power of two from 8 reaching --score-recall plus a "
             "margin, 0.01 or half the way to 1, on a sample)"},
    {.name = "score-recall", .arg = "R", .type = RC_OPT_F64, .off = C(score.recall_target), .min = 0.01, .max = 1,
     .help = "ivf: the recall@n against exact scoring the lists should have (measured on another sample, in the "
             "manifest)"},
    {.name = "score-recall-sample", .arg = "N", .type = RC_OPT_U32, .off = C(score.recall_sample), .min = 1,
     .max = 1e6, .help = "ivf: cookies scored exactly to calibrate nprobe, and as many others to measure the recall "
                         "written to the manifest (each at most half the cookies with a list)"},

    {.name = "tune", .arg = "auto|off|SECONDS", .type = RC_OPT_CUSTOM, .set = set_tune, .max = 1e6, .def = "auto",
     .help = "choose --factors, --reg, --alpha, --iterations, the event weights and --half-life-days from the events "
     "(successive halving on a validation split, best NDCG@--eval-k; schemas/params.md): SECONDS searches "
     "every one not given as a flag or by --params within that budget; auto runs the whole search (it stops "
     "only past 300 s) when none of them is given and there is no --params; off never", .section = "Parameters"},
    {.name = "params", .arg = "FILE", .type = RC_OPT_STR, .off = C(params),
     .help = "read those parameters from FILE (written by --tune-out; flags given on the command line win)"},
    {.name = "cf-b-params", .arg = "FILE", .type = RC_OPT_STR, .off = C(cf_b_params),
     .help = "also train a second CF model over the same events with the parameters in FILE (--params' format; "
     "those it leaves out are this build's) and write its lists into cookie_b, for an experiment arm with "
     "\"cf\": \"cookie_b\" (schemas/experiments.md)"},
    {.name = "tune-out", .arg = "FILE", .type = RC_OPT_STR, .off = C(tune_out),
     .help = "write the parameters the build used, with the search's table when it tuned, to FILE"},
    {.name = "tune-configs", .arg = "N", .type = RC_OPT_U32, .off = C(tune_configs), .min = 3, .max = 60,
     .help = "configurations the search starts with; the best third goes on at each rung (a wider daily search: 54)"},
    {.name = "tune-only", .arg = NULL, .type = RC_OPT_FLAG, .off = C(tune_only),
     .help = "tune (as --tune; auto: the whole search), write --tune-out and stop: no version is built"},

    {.name = "session-gap", .arg = "MINUTES", .type = RC_OPT_F64, .off = C(session_gap_min), .min = 0.01, .max = 1e6,
     .help = "events without a session id (no session column, or an empty field) are cut into sessions per cookie "
     "where more than MINUTES pass without an event (schemas/inputs.md)", .section = "Co-view (browsing route)"},
    {.name = "coview-window", .arg = "N", .type = RC_OPT_U32, .off = C(coview.window), .min = 1, .max = 100,
     .help = "count two events of a session as co-viewed when at most N positions apart (weight 1/distance)"},
    {.name = "coview-min", .arg = "N", .type = RC_OPT_U32, .off = C(coview.min_count), .min = 1, .max = 1e9,
     .help = "a co-viewed product is listed with at least N co-occurrences"},
    {.name = "coview-typed", .arg = NULL, .type = RC_OPT_FLAG, .off = C(coview.typed),
     .help = "weigh co-viewed pairs by the events' --weight-view/-cart/-purchase (default: every event 1)"},
    {.name = "coview-half-life-days", .arg = "D", .type = RC_OPT_F64, .off = C(coview.half_life_days),
     .min = 0, .max = 36500,
     .help = "a co-viewed pair's weight halves every D days back from the newest event (0: no decay)"},
    {.name = "coview-backward", .arg = "B", .type = RC_OPT_F64, .off = C(coview.backward), .min = 0, .max = 1,
     .help = "weight of a co-view in the order opposite to the events' (b viewed after a counts 1 for a -> b and B "
     "for b -> a)"},
    {.name = "coview-norm", .arg = "raw|cosine|lift", .type = RC_OPT_CHOICE, .off = C(coview.norm),
     .choices = coview_norm_names,
     .help = "co-view score: the weighted count, count / sqrt(both products' counts), or count / the listed product's "
     "count"},
    {.name = "blend-weight", .arg = "auto|W", .type = RC_OPT_CUSTOM, .set = set_blend, .min = 0, .max = 1,
     .def = "auto",
     .help = "the browsing route ranks co-view against image similarity as W x coview (1 for a list's best) vs "
     "(1 - W) x cosine (1: coview lists alone, image lists not served); auto chooses W on the next-item holdout with "
     "--holdout, else 0.5 (schemas/cache.md)"},

    {.name = "knn", .arg = "auto|exact|ivf|hnsw", .type = RC_OPT_CHOICE, .off = C(knn.method), .choices = knn_names,
     .help = "image-similarity search: exact, or approximate (recall measured on a sample); auto: exact below "
             "--knn-approx-min in-stock products with an embedding, ivf from there (exact on the GPU)",
     .section = "Image similarity"},
    {.name = "knn-approx-min", .arg = "N", .type = RC_OPT_U32, .off = C(knn.approx_min), .min = 1, .max = 4e9,
     .help = "candidates from which --knn auto searches approximately"},
    {.name = "knn-nlist", .arg = "N", .type = RC_OPT_U32, .off = C(knn.ivf_nlist), .min = 0, .max = 1e7,
     .help = "IVF lists (0: about 4 sqrt(rows))"},
    {.name = "knn-nprobe", .arg = "N", .type = RC_OPT_U32, .off = C(knn.ivf_nprobe), .min = 1, .max = 1e7,
     .help = "IVF lists probed per query"},
    {.name = "knn-m", .arg = "M", .type = RC_OPT_U32, .off = C(knn.hnsw_m), .min = 2, .max = 1024,
     .help = "HNSW links per node"},
    {.name = "knn-ef", .arg = "N", .type = RC_OPT_U32, .off = C(knn.hnsw_ef), .min = 1, .max = 1e6,
     .help = "HNSW search breadth"},
    {.name = "knn-recall-sample", .arg = "N", .type = RC_OPT_U32, .off = C(knn.recall_sample), .min = 0, .max = 1e7,
     .help = "products checked against exact search to measure recall"},

    {.name = "n", .arg = "N", .type = RC_OPT_U32, .off = C(n), .min = 1, .max = RC_LIST_MAX,
     .help = "entries per cf, image and coview list (20: 2.5x the widget's 8, room for products on screen and "
     "filtered ones)", .section = "Lists and evaluation"},
    {.name = "segment-n", .arg = "N", .type = RC_OPT_U32, .off = C(segment_n), .min = 1, .max = RC_LIST_MAX,
     .help = "entries per segment, global and category list (200: these lists are few, and every filtered or "
     "overlaid request fills from them, so they are stored long; schemas/cache.md)"},
    {.name = "explore-age-days", .arg = "D", .type = RC_OPT_F64, .off = C(explore.age_days), .min = 0, .max = 36500,
     .help = "a product younger than D days (catalog created_at, else its first event; schemas/inputs.md, "
     "\"Product age\") is new, and gets --explore-share of the segment, global, category and image lists' slots "
     "(14: the "
     "popularity half-life, by when a product shown from its first day has half the score its demand earns; "
     "README, \"New products\"; 0: off)"},
    {.name = "explore-share", .arg = "S", .type = RC_OPT_F64, .off = C(explore.share), .min = 0, .max = 1,
     .help = "share of each segment, global, category and image list's slots kept for new products, spread evenly (0.1: "
     "positions 5, 15, 25, ...: one of the widget's 8, a cost of one item in ten; 0: off)"},
    {.name = "keep-bought", .arg = NULL, .type = RC_OPT_FLAG, .off = C(keep_bought),
     .help = "let CF lists hold products the cookie bought (default: excluded)"},
    {.name = "holdout", .arg = "K", .type = RC_OPT_U32, .off = C(train.holdout), .min = 0, .max = 1000,
     .help = "evaluate: hold out each purchasing cookie's last K purchases from training, report HR, Recall, NDCG and "
     "precision of CF vs most-popular, CF's lift, coverage, popularity bias and whether the model is degenerate "
     "(logged and in the manifest; the published lists are then trained without them; 0: off)"},
    {.name = "eval-k", .arg = "K", .type = RC_OPT_U32, .off = C(eval_k), .min = 1, .max = RC_LIST_MAX,
     .help = "cut-off of the evaluation metrics (at most --n)"},
    {.name = "holdout-split", .arg = "temporal|random", .type = RC_OPT_CHOICE, .off = C(train.holdout_split),
     .choices = split_names,
     .help = "which purchases --holdout (and the tuner's validation) hold out: each cookie's latest, or random ones "
     "(seeded by --seed)"},

    {.name = "out", .arg = "ROOT", .type = RC_OPT_STR, .off = C(out),
     .help = "cache root: versions/, current, .staging/ (created)", .section = "Output"},
    {.name = "experiments", .arg = "FILE", .type = RC_OPT_STR, .off = C(experiments),
     .help = "experiments.json the version carries (schemas/experiments.md): checked before any work, a bad one "
     "fails the build (exit 2) naming the fault"},
    {.name = "rules", .arg = "FILE", .type = RC_OPT_STR, .off = C(rules),
     .help = "business rules on the lists (schemas/rules.md): category exclusion, per-segment exclusion and "
     "boost, an MMR rerank, category caps; checked before any work, a bad file fails the build (exit 2)"},
    {.name = "keep", .arg = "K", .type = RC_OPT_U32, .off = C(keep), .min = 0, .max = 1e6,
     .help = "versions kept under versions/ (0: keep all); current always stays"},
    {.name = "no-flip", .arg = NULL, .type = RC_OPT_FLAG, .off = C(no_flip),
     .help = "publish the version but leave current as it is (a rollout job verifies, then flips)"},
    {.name = "stage", .arg = "all|train|score|merge", .type = RC_OPT_CHOICE, .off = C(stage.stage),
     .choices = rb_stage_names,
     .help = "run one stage of a build a scheduler spreads over machines (schemas/stages.md): train writes the "
     "factors to --work, score one --shard of the cookies' CF lists, merge checks every shard and builds, verifies "
     "and publishes the version as the one-command build (all) does, with the same lists; every stage takes the "
     "same inputs and flags"},
    {.name = "work", .arg = "DIR", .type = RC_OPT_STR, .off = C(stage.work),
     .help = "--stage: the folder the stages share (factors, train.txt, shard files); on a shared file system"},
    {.name = "shard", .arg = "I/N", .type = RC_OPT_CUSTOM, .set = set_shard,
     .help = "--stage score: score shard I (0-based) of N: a range of the cookies with a CF list and one of the "
             "products with an embedding (image lists)"},
    {.name = "shards", .arg = "N", .type = RC_OPT_U32, .off = C(stage.shards), .min = 1, .max = RB_SHARDS_MAX,
     .help = "--stage merge: how many shards the score stages wrote (each must be there)"},
    {.name = "device", .arg = "auto|cpu|gpu", .type = RC_OPT_CHOICE, .off = C(device), .choices = device_names,
     .help = "where ALS, CF scoring and exact kNN run; gpu fails (exit 1) without CUDA or a device; auto uses cpu then"},

    {.name = "log-level", .arg = "debug|info|warn|error", .type = RC_OPT_CHOICE, .off = C(log_level),
     .choices = level_names,
     .help = "least level logged", .section = "Logging"},
    {.name = "log-format", .arg = "logfmt|json", .type = RC_OPT_CHOICE, .off = C(log_format), .choices = format_names,
     .help = "log line format (stderr)"},
    {.name = "progress", .arg = "auto|always|never", .type = RC_OPT_CHOICE, .off = C(progress),
     .choices = progress_names,
     .help = "progress display: a redrawn line on a terminal (auto), or log lines every few seconds"},
    {.name = "help", .arg = NULL, .type = RC_OPT_FLAG, .off = C(help),
     .help = "print this help and exit"},
    {0},
};

static void usage(FILE *f)
{
    struct rb_config def;
    config_default(&def);
    fprintf(f, "usage: recbuild --events FILE [--events FILE ...] --out ROOT [options]\n"
               "\n"
               "Build a new version of the recommendation cache from event logs, the product catalog\n"
               "and image embeddings: collaborative filtering (implicit ALS) per cookie, image\n"
               "similarity and co-view (viewed in the same sessions) per product, popularity per\n"
               "location x device segment. The version is\n"
               "written under ROOT/.staging, verified, renamed into ROOT/versions/<id> and ROOT/current\n"
               "is flipped to it. On any failure or interruption current is left as it was.\n"
               "stdout gets the new version id (with --tune-only: the parameter file's path; --stage train:\n"
               "the --work folder; --stage score: the shard file); logs and the summary go to stderr.\n");
    rc_opt_usage(f, options, &def, 0, 99);
    fprintf(f, "\nExit status:\n"
               "  0  the version was published (and current flipped unless --no-flip); --stage train or score:\n"
               "     its files were written\n"
               "  1  the build failed or was interrupted (SIGINT, SIGTERM); nothing was published\n"
               "  2  bad command line or --params file\n"
               "  3  unusable input: more malformed or unknown-type event lines than --max-bad-ratio, no usable rows,\n"
               "     an input not in the format of schemas/inputs.md, or no cookie passing the\n"
               "     training thresholds\n");
}

static int set_clicks(void *cfg, const struct rc_opt *o, const char *arg, char *err)
{
    struct rb_config *c = cfg;
    (void)o;
    if (!*arg)
        return rc_fail(err, RC_EFORMAT, "--clicks needs a non-empty value");
    if (c->nclicks == MAX_EVENT_FILES)
        return rc_fail(err, RC_ERANGE, "at most %d --clicks paths", MAX_EVENT_FILES);
    c->clicks[c->nclicks++] = arg;
    return 0;
}

static int set_events(void *cfg, const struct rc_opt *o, const char *arg, char *err)
{
    struct rb_config *c = cfg;
    (void)o;
    if (!*arg)
        return rc_fail(err, RC_EFORMAT, "--events needs a non-empty value");
    if (c->nevents == MAX_EVENT_FILES)
        return rc_fail(err, RC_ERANGE, "at most %d --events files", MAX_EVENT_FILES);
    c->events[c->nevents++] = arg;
    return 0;
}

static int set_shard(void *cfg, const struct rc_opt *o, const char *arg, char *err)
{
    (void)o;
    return rb_stage_parse_shard(&((struct rb_config *)cfg)->stage, arg, err);
}

static int set_map(void *cfg, const struct rc_opt *o, const char *arg, char *err)
{
    struct rb_config *c = cfg;
    (void)o;
    c->map_spec = arg;
    return rb_ingest_parse_map(&c->ingest, arg, err);
}

static int set_map_event(void *cfg, const struct rc_opt *o, const char *arg, char *err)
{
    struct rb_config *c = cfg;
    (void)o;
    c->map_event_spec = arg;
    return rb_ingest_parse_event_map(&c->ingest, arg, err);
}

static int set_preset(void *cfg, const struct rc_opt *o, const char *arg, char *err)
{
    struct rb_config *c = cfg;
    (void)o;
    c->preset = arg;
    return rb_ingest_preset(&c->ingest, arg, err);
}

static int set_tune(void *cfg, const struct rc_opt *o, const char *arg, char *err)
{
    struct rb_config *c = cfg;
    if (strcmp(arg, "auto") == 0 || strcmp(arg, "off") == 0) {
        c->tune = arg[0] == 'a' ? TUNE_AUTO : TUNE_OFF;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (end == arg || *end || errno || !isfinite(v) || v < 1 || v > o->max)
        return rc_fail(err, RC_ERANGE, "--tune '%s': expected auto, off or seconds from 1 to %g", arg, o->max);
    c->tune = TUNE_BUDGET;
    c->tune_budget = v;
    return 0;
}

static int set_blend(void *cfg, const struct rc_opt *o, const char *arg, char *err)
{
    struct rb_config *c = cfg;
    if (strcmp(arg, "auto") == 0) {
        c->blend_weight = -1;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (end == arg || *end || errno || !isfinite(v) || v < o->min || v > o->max)
        return rc_fail(err, RC_ERANGE, "--%s '%s': expected auto or a number from %g to %g", o->name, arg, o->min,
                       o->max);
    c->blend_weight = v;
    return 0;
}

/* The options the tuner chooses (tune.h), which --params may set. */
static const struct {
    size_t off;
    unsigned bit;
} tunable[] = {
    {C(als.factors), RB_PARAM_FACTORS},
    {C(als.reg), RB_PARAM_REG},
    {C(als.alpha), RB_PARAM_ALPHA},
    {C(als.iterations), RB_PARAM_ITERATIONS},
    {C(train.weight[RB_VIEW]), RB_PARAM_WEIGHT_VIEW},
    {C(train.weight[RB_CART]), RB_PARAM_WEIGHT_CART},
    {C(train.weight[RB_PURCHASE]), RB_PARAM_WEIGHT_PURCHASE},
    {C(train.half_life_days), RB_PARAM_HALF_LIFE},
};

/* The RB_PARAM_* bit of an option, 0 when the tuner does not choose it. */
static unsigned tunable_bit(const struct rc_opt *o)
{
    for (size_t i = 0; i < sizeof(tunable) / sizeof(tunable[0]); i++)
        if (o->type != RC_OPT_CUSTOM && o->off == tunable[i].off)
            return tunable[i].bit;
    return 0;
}

/*
 * A parameter file (schemas/params.md), named by flag ("--params") at
 * path: "name = value" lines naming tunable options, '#' comments, blank
 * lines, set into c. A parameter whose bit is in skip (given as a flag)
 * is left as it is; the bits of those set are added to *set. The values go
 * through rc_opt_set, so the flags' ranges apply.
 */
static int read_params_file(struct rb_config *c, const char *flag, const char *path, unsigned skip, unsigned *set,
                            char *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return rc_fail(err, -errno, "unable to open %s '%s': %s", flag, path, rc_strerror(-errno));
    char *line = NULL; /* a whole line, however long (a comment can be) */
    size_t cap = 0;
    unsigned lineno = 0;
    int rc = 0;
    while (!rc && getline(&line, &cap, f) >= 0) {
        lineno++;
        char *p = line + strspn(line, " \t");
        p[strcspn(p, "#\r\n")] = 0;
        if (!*p)
            continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            rc = rc_fail(err, RC_EFORMAT, "%s:%u: expected 'name = value'", path, lineno);
            break;
        }
        char *name = p, *value = eq + 1, *e = eq;
        while (e > name && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *e = 0;
        value += strspn(value, " \t");
        for (e = value + strlen(value); e > value && (e[-1] == ' ' || e[-1] == '\t');)
            *--e = 0;
        const struct rc_opt *o = rc_opt_find(options, name, strlen(name), 0);
        unsigned bit = o ? tunable_bit(o) : 0;
        if (!bit) {
            rc = rc_fail(err, RC_EFORMAT, "%s:%u: '%s' is not a tunable parameter", path, lineno, name);
            break;
        }
        if (skip & bit)
            continue;
        /* The file's half-life is CF's, as the tuner's is: popularity keeps --half-life-days. */
        double popularity_half_life = c->train.half_life_days;
        char from[64];
        snprintf(from, sizeof(from), "--%s", o->name);
        if ((rc = rc_opt_set(o, c, value, from, err)) != 0) {
            char inner[RC_ERRMSG_MAX];
            snprintf(inner, sizeof(inner), "%s", err);
            rc = rc_fail(err, rc, "%s:%u: %s", path, lineno, inner);
            break;
        }
        *set |= bit;
        if (bit == RB_PARAM_HALF_LIFE) {
            c->cf_half_life_days = c->train.half_life_days;
            c->train.half_life_days = popularity_half_life;
        }
    }
    if (!rc && ferror(f))
        rc = rc_fail(err, -EIO, "error reading %s '%s'", flag, path);
    free(line);
    fclose(f);
    return rc;
}

/* --params FILE: flags given on the command line win. */
static int read_params(struct rb_config *c, char *err)
{
    return read_params_file(c, "--params", c->params, c->given, &c->from_file, err);
}

/* --cf-b-params FILE: read as --params is, into a scratch config (no flag
 * wins: the file is the second set), of which c->cf_b keeps the tunable
 * fields; cf_b_params() lays them over the build's own set. */
static int read_cf_b_params(struct rb_config *c, char *err)
{
    struct rb_config *s = malloc(sizeof(*s));
    if (!s)
        return rc_fail(err, -ENOMEM, "out of memory reading --cf-b-params");
    config_default(s);
    int rc = read_params_file(s, "--cf-b-params", c->cf_b_params, 0, &c->cf_b_set, err);
    c->cf_b.train = s->train;
    c->cf_b.als = s->als;
    c->cf_b.train.half_life_days = s->cf_half_life_days;
    free(s);
    if (!rc && !c->cf_b_set)
        rc = rc_fail(err, RC_EFORMAT, "--cf-b-params '%s' sets no parameter: the second set would be the first",
                     c->cf_b_params);
    return rc;
}

/* A flag on the command line fixes its parameter for the tuner and --params. */
static void option_seen(void *cfg, const struct rc_opt *o)
{
    ((struct rb_config *)cfg)->given |= tunable_bit(o);
}

static int parse_args(struct rb_config *c, int argc, char **argv, char *err)
{
    struct rc_opt_state st = {.seen = option_seen};
    return rc_opt_parse(options, c, argc, argv, &st, err);
}

/* What the version's experiment does, in the build log, with a warning for
 * a definition that is valid but rarely meant: arms that cover under 10 %
 * of visitors (buckets are out of 10,000, not 100), or a second CF set no
 * arm reads. */
static void log_experiment(const char *text, size_t len, int cf_b)
{
    char why[RC_ERRMSG_MAX];
    struct rc_experiment *x;
    if (rc_experiment_parse(text, len, &x, why) != 0)
        return; /* checked by check_config: cannot happen */
    int cf_b_unread = cf_b;
    for (unsigned i = 0; i < x->narms; i++)
        if (x->arms[i].cf_db == RC_DB_COOKIE_B)
            cf_b_unread = 0;
    char arms[RC_EXPERIMENT_ARMS_MAX * (RC_EXPERIMENT_ID_MAX + 32)];
    unsigned covered = rc_experiment_describe(x, arms, sizeof(arms));
    rc_log(RC_LOG_INFO, "experiment", "id=%s arms=\"%s\" covered=%u.%02u%%", x->id, arms, covered / 100,
           covered % 100);
    if (covered < RC_EXPERIMENT_BUCKETS / 10)
        rc_log(RC_LOG_WARN, "experiment_small",
               "id=%s covered=%u.%02u%% msg=\"the arms cover few visitors: buckets are out of %u\"", x->id,
               covered / 100, covered % 100, (unsigned)RC_EXPERIMENT_BUCKETS);
    if (cf_b_unread)
        rc_log(RC_LOG_WARN, "cf_b_unread", "id=%s msg=\"--cf-b-params builds cookie_b, but no arm reads it\"", x->id);
    rc_experiment_free(x);
}

/* Everything that can be said about the options before reading any input. */
/*
 * The flags every stage of a staged build must share, as one XXH3-64
 * (stages.h: part of the fingerprint): each option's value as parsed, the
 * contents of the small files named by --params, --cf-b-params, --rules
 * and --experiments. Left out: where things are (input paths, whose
 * contents the fingerprint covers, --out, --work), which stage or shard,
 * and what does not change a list (threads, logging, progress, --keep,
 * --no-flip, --device: stages run on the CPU).
 */
static uint64_t flags_digest(const struct rb_config *c)
{
    static const char *const local[] = {"events", "clicks", "catalog", "embeddings", "embedding-ids", "out",
                                        "threads", "tune-out", "tune-only", "keep", "no-flip", "stage", "work",
                                        "shard", "shards", "device", "log-level", "log-format", "progress", "help",
                                        NULL};
    static const char *const files[] = {"params", "cf-b-params", "rules", "experiments", NULL};
    XXH3_state_t *h = XXH3_createState();
    if (!h)
        return 0;
    XXH3_64bits_reset(h);
    for (const struct rc_opt *o = options; o->name; o++) {
        int skip = o->alias != NULL, file = 0;
        for (int i = 0; local[i] && !skip; i++)
            skip = strcmp(o->name, local[i]) == 0;
        for (int i = 0; files[i]; i++)
            file |= strcmp(o->name, files[i]) == 0;
        if (skip)
            continue;
        const char *field = (const char *)c + o->off;
        size_t size = 0;
        switch (o->type) {
        case RC_OPT_U32: case RC_OPT_F32: size = 4; break;
        case RC_OPT_U64: case RC_OPT_I64: case RC_OPT_F64: size = 8; break;
        case RC_OPT_INT: case RC_OPT_UINT: case RC_OPT_FLAG: case RC_OPT_BOOL: case RC_OPT_CHOICE:
            size = sizeof(int);
            break;
        case RC_OPT_LONG: size = sizeof(long); break;
        case RC_OPT_BUF: size = o->size; break;
        case RC_OPT_STR: case RC_OPT_CUSTOM: break;
        }
        XXH3_64bits_update(h, o->name, strlen(o->name) + 1);
        if (size) {
            XXH3_64bits_update(h, field, size);
        } else if (o->type == RC_OPT_STR) {
            const char *v = *(const char *const *)(const void *)field;
            uint64_t bytes = 0, sum = 0;
            if (v && file && rc_file_xxh3(v, &bytes, &sum) == 0) {
                XXH3_64bits_update(h, &bytes, sizeof(bytes));
                XXH3_64bits_update(h, &sum, sizeof(sum));
            } else if (v) {
                XXH3_64bits_update(h, v, strlen(v) + 1);
            }
        }
    }
    /* the CUSTOM options' values, where they are kept */
    const char *texts[3] = {c->preset, c->map_spec, c->map_event_spec};
    for (int i = 0; i < 3; i++)
        XXH3_64bits_update(h, texts[i] ? texts[i] : "", texts[i] ? strlen(texts[i]) + 1 : 1);
    XXH3_64bits_update(h, &c->tune, sizeof(c->tune));
    XXH3_64bits_update(h, &c->tune_budget, sizeof(c->tune_budget));
    XXH3_64bits_update(h, &c->blend_weight, sizeof(c->blend_weight));
    uint64_t v = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return v;
}

static int check_config(struct rb_config *c, char *err)
{
    if (c->help)
        return 0;
    if (!c->nevents)
        return rc_fail(err, RC_EFORMAT, "--events is required");
    int rc_stage = rb_stage_check(&c->stage, err);
    if (rc_stage)
        return rc_stage;
    c->stage.flags = flags_digest(c);
    if (c->stage.stage != RB_STAGE_ALL && (c->tune_only || c->cf_b_params || c->device == DEVICE_GPU))
        return rc_fail(err, RC_EFORMAT, "--stage %s: --tune-only, --cf-b-params and --device gpu are not available "
                       "in a staged build", rb_stage_names[c->stage.stage]);
    if (!c->out && !c->tune_only && (c->stage.stage == RB_STAGE_ALL || c->stage.stage == RB_STAGE_MERGE))
        return rc_fail(err, RC_EFORMAT, "--out is required");
    if (c->params) {
        int rc = read_params(c, err);
        if (rc)
            return rc;
    }
    if (c->cf_b_params) {
        if (c->tune_only)
            return rc_fail(err, RC_EFORMAT, "--cf-b-params with --tune-only: no version is written");
        int rc = read_cf_b_params(c, err);
        if (rc)
            return rc;
    }
    if (c->experiments) {
        if (c->tune_only)
            return rc_fail(err, RC_EFORMAT, "--experiments with --tune-only: no version is written");
        char why[RC_ERRMSG_MAX];
        struct rc_experiment *x;
        int rc = rc_experiment_read_text(c->experiments, &x, &c->experiments_text, &c->experiments_len, why);
        if (rc)
            return rc_fail(err, rc, "--experiments %s", why);
        int arm_b = -1;
        for (unsigned i = 0; i < x->narms && arm_b < 0; i++)
            if (x->arms[i].cf_db == RC_DB_COOKIE_B)
                arm_b = (int)i;
        if (arm_b >= 0 && !c->cf_b_params)
            rc = rc_fail(err, RC_EFORMAT, "--experiments '%s': arms[%d] ('%s') reads its cf tier from cookie_b, which "
                         "only --cf-b-params builds", c->experiments, arm_b, x->arms[arm_b].name);
        rc_experiment_free(x);
        if (rc)
            return rc;
    }
    if (c->rules) {
        if (c->tune_only)
            return rc_fail(err, RC_EFORMAT, "--rules with --tune-only: no version is written");
        char why[RC_ERRMSG_MAX];
        int rc = rb_rules_read(c->rules, &c->rules_parsed, why);
        if (rc)
            return rc_fail(err, rc, "--rules %s", why);
    }
    int stdin_uses = 0;
    for (size_t i = 0; i < c->nevents; i++)
        stdin_uses += strcmp(c->events[i], "-") == 0;
    if (stdin_uses > 1)
        return rc_fail(err, RC_EFORMAT, "standard input ('-') can be read only once");
    if (c->embedding_ids && !c->embeddings)
        return rc_fail(err, RC_EFORMAT, "--embedding-ids needs --embeddings");
    if (c->embeddings && !c->embedding_ids) {
        size_t len = strlen(c->embeddings);
        size_t stem = len >= 4 && strcmp(c->embeddings + len - 4, ".npy") == 0 ? len - 4 : len;
        if (snprintf(c->ids_path, sizeof(c->ids_path), "%.*s_ids.txt", (int)stem, c->embeddings) >=
            (int)sizeof(c->ids_path))
            return rc_fail(err, RC_ETOOLONG, "--embeddings path is too long");
        c->embedding_ids = c->ids_path;
    }
    if (c->train.weight[RB_VIEW] + c->train.weight[RB_CART] + c->train.weight[RB_PURCHASE] <= 0)
        return rc_fail(err, RC_ERANGE, "at least one of --weight-view, --weight-cart, --weight-purchase must be above 0");
    if (c->train.holdout > 0 && c->eval_k > c->n)
        return rc_fail(err, RC_ERANGE, "--eval-k %u is larger than the list length --n %u", c->eval_k, c->n);
    if (c->tune_only && !c->tune_out)
        return rc_fail(err, RC_EFORMAT, "--tune-only needs --tune-out FILE");
    if (c->tune_only && c->tune == TUNE_OFF)
        return rc_fail(err, RC_EFORMAT, "--tune-only with --tune off has nothing to do");
    if (c->tune_only && (c->given | c->from_file) == RB_PARAM_ALL)
        return rc_fail(err, RC_EFORMAT, "--tune-only: flags and --params fix every parameter, nothing is left to "
                       "search (a daily search reads no --params)");
    c->train.split_seed = c->als.seed;
    return 0;
}

/* ---- signals ---- */

/*
 * The only mutable globals: a signal handler can reach nothing else.
 * Before the output stage has begun there is nothing on disk to undo, so a
 * signal ends the process at once (_exit is async-signal-safe); after, it
 * sets `cancel`, which output checks between batches, and the staging dir
 * is removed on the way out.
 */
static volatile sig_atomic_t cancel_signal;
static volatile sig_atomic_t output_begun;

static void on_signal(int sig)
{
    if (!output_begun) {
        static const char msg[] = "recbuild: interrupted before writing; nothing to clean up\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)w;
        _exit(EXIT_FAILED);
    }
    cancel_signal = sig;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- the build ---- */

struct input {
    const char *role, *path;
    uint64_t bytes, rows, xxh3;
    int have_bytes, have_xxh3;
};

struct build {
    const struct rb_config *cfg;
    struct rb_progress progress;
    const struct rb_backend *backend; /* where ALS, CF scoring and image kNN run */
    const char *device;            /* backend->name: "cpu" or "gpu" */
    struct rb_dataset d;
    struct rb_train t;
    struct rb_als_model model;
    struct rb_lists cf, image, segments, coview;
    struct rb_lists categories;    /* the category DB's lists (empty without catalog categories) */
    struct rb_sessions sessions;
    struct rb_coview_stats coview_stats;
    struct rb_next_eval next;
    double blend_weight;           /* the w the coview scores were scaled for */
    uint64_t sessions_held;
    struct rb_knn_stats knn_stats;
    struct rb_score_stats score_stats, score_stats_b; /* the CF scorers used (cookie, cookie_b) */
    struct rb_explore_stats explore; /* new-product exploration (explore.h) */
    int have_explore;
    struct rb_params params;       /* the CF parameters this build uses: flags, --params, or tuned */
    struct rb_params params_b;     /* --cf-b-params: the second set (cf_b_params()) */
    struct rb_train t_b;           /* ... its training matrix, */
    struct rb_lists cf_b;          /* ... its lists (cookie_b), */
    struct rb_health health_b;     /* ... their health */
    struct rb_eval eval_b;         /* ... and holdout figures */
    int have_cf_b, have_eval_b;
    struct rb_tune_result tune;
    struct rb_eval eval;
    struct rb_health health;
    int have_eval, have_image, have_cf, have_tune, have_next;
    struct rules_figures {         /* --rules: what they did to each kind of list (run_rules) */
        int have;
        struct rb_rules_stats stats;
        struct rb_diversity before, after;
    } rules[RB_RULES_DBS];
    struct rb_eval eval_plain;     /* ... the holdout on the CF lists before the rules */
    int have_eval_plain;
    char rules_line[256];          /* ... rb_rules_describe */
    struct rb_output out;
    struct input inputs[MAX_EVENT_FILES + 3];
    size_t ninputs;
    double t_start;
    double ms_checksum;
    const char *stage_file;        /* --stage train|score: the file written (stdout) */
    char stage_source[RB_STAGE_SOURCE_MAX]; /* --stage score|merge: train's parameters.source */
};

static void build_release(struct build *b)
{
    rb_output_release(&b->out);
    rb_lists_release(&b->cf);
    rb_lists_release(&b->cf_b);
    rb_lists_release(&b->image);
    rb_lists_release(&b->segments);
    rb_lists_release(&b->categories);
    rb_lists_release(&b->coview);
    rb_sessions_release(&b->sessions);
    rb_als_release(&b->model);
    rb_train_release(&b->t);
    rb_train_release(&b->t_b);
    rb_dataset_release(&b->d);
}

static int is_input_error(int rc)
{
    return rc == RC_EBADLINES || rc == RC_EEMPTY || rc == RC_EFORMAT || rc == RC_ETRUNC || rc == RC_ETOOLONG;
}

static void stage(struct build *b, const char *name, const char *unit)
{
    rb_progress_stage(&b->progress, name, unit);
}

static double stage_end(struct build *b)
{
    return rb_progress_stage_end(&b->progress);
}

static struct input *add_input(struct build *b, const char *role, const char *path)
{
    struct input *in = &b->inputs[b->ninputs++];
    memset(in, 0, sizeof(*in));
    in->role = role;
    in->path = path;
    return in;
}

/* Ingest every input; *bad_input set when the error is the input's fault. */
static int run_ingest(struct build *b, int *bad_input, char *err)
{
    const struct rb_config *c = b->cfg;
    struct rb_dataset *d = &b->d;
    int rc;
    *bad_input = 0;
    if (c->catalog) {
        stage(b, "catalog", NULL);
        if ((rc = rb_ingest_catalog(d, c->catalog, err)) != 0)
            goto fail;
        struct input *in = add_input(b, "catalog", c->catalog);
        in->rows = d->stats.catalog_rows;
        stage_end(b);
    }
    stage(b, "events", "bytes");
    for (size_t i = 0; i < c->nevents; i++) {
        uint64_t before = d->stats.lines;
        if ((rc = rb_ingest_events(d, c->events[i], &c->ingest, rb_progress_update, &b->progress, err)) != 0)
            goto fail;
        struct input *in = add_input(b, "events", c->events[i]);
        in->rows = d->stats.lines - before;
        if (strcmp(c->events[i], "-") == 0) {
            /* The reader's last progress call, at end of file, is the bytes it read. */
            in->bytes = __atomic_load_n(&b->progress.done, __ATOMIC_RELAXED);
            in->have_bytes = 1;
        }
    }
    stage_end(b);
    if ((rc = rb_ingest_check_bad(d, c->ingest.max_bad_ratio, err)) != 0)
        goto fail;
    if (c->nclicks) {
        struct rb_clicks_stats cs;
        stage(b, "clicks", NULL);
        if ((rc = rb_ingest_clicks(d, c->clicks, c->nclicks, &cs, err)) != 0)
            goto fail;
        stage_end(b);
        rb_clicks_report(&cs);
    }
    if (c->embeddings) {
        stage(b, "embeddings", NULL);
        if ((rc = rb_ingest_embeddings(d, c->embeddings, c->embedding_ids, err)) != 0)
            goto fail;
        struct input *in = add_input(b, "embeddings", c->embeddings);
        in->rows = d->stats.emb_rows;
        in = add_input(b, "embedding_ids", c->embedding_ids);
        in->rows = d->stats.emb_rows;
        stage_end(b);
    } else {
        if (!c->tune_only)
            rc_log(RC_LOG_WARN, "embeddings", "msg=\"no --embeddings given: image-similarity lists are skipped\"");
    }
    return 0;
fail:
    *bad_input = is_input_error(rc);
    return rc;
}

/* Size and XXH3 of every input file (standard input: bytes read only). */
static int checksum_inputs(struct build *b, char *err)
{
    double t0 = rb_now_ms();
    for (size_t i = 0; i < b->ninputs; i++) {
        struct input *in = &b->inputs[i];
        if (strcmp(in->path, "-") == 0)
            continue;
        int rc = rc_file_xxh3(in->path, &in->bytes, &in->xxh3);
        if (rc)
            return rc_fail(err, rc, "unable to checksum '%s': %s", in->path, rc_strerror(rc));
        in->have_bytes = in->have_xxh3 = 1;
    }
    b->ms_checksum = rb_now_ms() - t0;
    return 0;
}

/* Where the CF parameters came from, for the log and the manifest. */
static const char *params_source(const struct build *b)
{
    const struct rb_config *c = b->cfg;
    if (b->stage_source[0]) /* score, merge: the parameters are train's, from train.txt */
        return b->stage_source;
    if (b->have_tune)
        return "tuned";
    if (c->from_file)
        return "params-file";
    return c->given ? "flags" : "defaults";
}

/* The tuner's pinned parameters, or -1 when this run does not tune. */
static int tune_plan(const struct rb_config *c, unsigned *pinned)
{
    *pinned = c->given | c->from_file;
    if (c->tune == TUNE_OFF)
        return -1;
    if (c->tune == TUNE_AUTO && !c->tune_only && (c->given || c->params))
        return -1;
    return *pinned == RB_PARAM_ALL ? -1 : 0;
}

/* Search the CF parameters (--tune); b->params takes the best. */
static int run_tune(struct build *b, int *bad_input, char *err)
{
    const struct rb_config *c = b->cfg;
    unsigned pinned;
    /* The later stages use the parameters the train stage used (and maybe tuned). */
    if (c->stage.stage == RB_STAGE_SCORE || c->stage.stage == RB_STAGE_MERGE)
        return rb_stage_read_params(&c->stage, &b->params, b->stage_source, err);
    if (tune_plan(c, &pinned) != 0)
        return 0;
    struct rb_tune_opts o;
    rb_tune_opts_default(&o);
    o.budget_s = c->tune_budget;
    o.configs = c->tune_configs;
    o.k = c->eval_k;
    o.skip = c->train.holdout;
    o.split = c->train.holdout_split;
    o.seed = c->als.seed;
    o.pinned = pinned;
    o.exclude_bought = !c->keep_bought;
    stage(b, "tune", NULL);
    int rc = rb_tune(&b->tune, &b->d, &b->params, &o, err);
    if (rc == RC_EEMPTY && !c->tune_only) {
        rc_log(RC_LOG_WARN, "tune", "msg=\"not tuned, the %s parameters build: %s\"", params_source(b), err);
        err[0] = 0;
        return 0;
    }
    if (rc) {
        *bad_input = rc == RC_EEMPTY;
        return rc;
    }
    stage_end(b);
    b->have_tune = 1;
    b->params.train.weight[RB_VIEW] = b->tune.best.train.weight[RB_VIEW];
    b->params.train.weight[RB_CART] = b->tune.best.train.weight[RB_CART];
    b->params.train.weight[RB_PURCHASE] = b->tune.best.train.weight[RB_PURCHASE];
    b->params.train.half_life_days = b->tune.best.train.half_life_days;
    b->params.als.factors = b->tune.best.als.factors;
    b->params.als.reg = b->tune.best.als.reg;
    b->params.als.alpha = b->tune.best.als.alpha;
    b->params.als.iterations = b->tune.best.als.iterations;
    const struct rb_tune_result *t = &b->tune;
    const struct rb_params *p = &b->params;
    rc_log(t->best_ndcg > t->pop_ndcg ? RC_LOG_INFO : RC_LOG_WARN, "tune.best",
           "factors=%u reg=%g alpha=%g iterations=%u weight_view=%g weight_cart=%g weight_purchase=%g "
           "half_life_days=%g ndcg=%.4f hr=%.4f pop_ndcg=%.4f pop_hr=%.4f users=%" PRIu64 " cookies=%u trials=%u "
           "seconds=%.1f budget_hit=%d kept_base=%d gain=%.4f gain_se=%.4f",
           p->als.factors, (double)p->als.reg, (double)p->als.alpha, p->als.iterations,
           (double)p->train.weight[RB_VIEW], (double)p->train.weight[RB_CART], (double)p->train.weight[RB_PURCHASE],
           p->train.half_life_days, t->best_ndcg, t->best_hr, t->pop_ndcg, t->pop_hr, t->users, t->cookies,
           t->ntrials, t->seconds, t->budget_hit, t->kept_base, t->gain, t->gain_se);
    return 0;
}

/* Warn loudly about a CF model that learned nothing usable. (One that loses
 * to most-popular on the holdout is said by the summary's evaluation line,
 * logged as an error then.) */
static void report_quality(const struct build *b)
{
    const struct rb_health *h = &b->health;
    if (h->degenerate)
        rc_log(RC_LOG_ERROR, "quality", "degenerate=1 reason=\"%s\" cold_share=%.3f factor_norm=%.3g spread=%.3g "
               "msg=\"the CF model is degenerate; ops/rebuild.sh refuses to publish it\"",
               h->reason, h->cold_share, h->factor_norm, h->spread);
}

/* The blend weights the next-item holdout tries (--blend-weight auto). */
static const double blend_grid[] = {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1};

/* Sessions and the co-view lists; with --holdout, the next-item evaluation
 * (the lists then learn without the held-out sessions) and the blend
 * weight; last, the co-view scores are scaled for recedge's merge. */
static int run_coview(struct build *b, char *err)
{
    const struct rb_config *c = b->cfg;
    const struct rb_dataset *d = &b->d;
    uint8_t *held = NULL;
    struct rb_lists base;
    struct rb_coview_stats base_stats;
    memset(&base, 0, sizeof(base));
    int rc;
    int64_t since = rb_window_start(d->ts_max, c->train.window_days);
    stage(b, "coview", NULL);
    if ((rc = rb_sessions_build(&b->sessions, d, since, c->session_gap_min * 60.0, err)) != 0)
        goto out;
    if (c->train.holdout > 0) {
        if (!(held = malloc(b->sessions.n ? b->sessions.n : 1))) {
            rc = rc_fail(err, -ENOMEM, "out of memory holding out sessions");
            goto out;
        }
        if ((rc = rb_sessions_holdout(&b->sessions, d->cookies.n, held, &b->sessions_held)) != 0) {
            rc_fail(err, rc, "out of memory holding out sessions");
            goto out;
        }
    }
    /* The configured type weights, as popularity: the tuner chooses CF's. */
    if ((rc = rb_coview(&b->coview, &b->coview_stats, d, &b->sessions, held, &c->train,
                        rb_rules_depth(c->rules_parsed, RC_DB_COVIEW, c->n), &c->coview, err)) != 0)
        goto out;
    rc_log(RC_LOG_INFO, "coview", "sessions=%" PRIu32 " from_column=%d held_out=%" PRIu64 " pairs=%" PRIu64
           " passes=%" PRIu32 " lists=%" PRIu32 " norm=%s", b->sessions.n, b->sessions.from_column,
           b->sessions_held, b->coview_stats.pairs, b->coview_stats.passes, b->coview_stats.lists,
           coview_norm_names[c->coview.norm]);
    double w = c->blend_weight >= 0 ? c->blend_weight : 0.5;
    if (held && b->sessions_held) {
        struct rb_coview_opts plain = c->coview;
        plain.plain = 1;
        plain.min_count = 1;
        plain.norm = RB_COVIEW_RAW;
        if ((rc = rb_coview(&base, &base_stats, d, &b->sessions, held, &c->train, c->n, &plain, err)) != 0)
            goto out;
        const double *grid = c->blend_weight >= 0 ? &c->blend_weight : blend_grid;
        uint32_t ngrid = c->blend_weight >= 0 ? 1 : (uint32_t)(sizeof(blend_grid) / sizeof(blend_grid[0]));
        if ((rc = rb_eval_next_item(&b->next, &b->coview, b->have_image ? &b->image : NULL, &base, &b->sessions,
                                    held, d, c->eval_k, grid, ngrid, err)) != 0)
            goto out;
        b->have_next = 1;
        if (b->have_image)
            w = b->next.weight;
    }
    /* recedge merges by score: w x coview (1 for a list's best) against
     * (1 - w) x cosine ranks as coview x w / (1 - w) against the cosine,
     * which image lists keep as they are. */
    b->blend_weight = b->have_image ? w : -1;
    if (b->have_image)
        rb_coview_blend(&b->coview, w);
    /* At 1 image items lost to the fill after the coview items: the image
     * lists are kept (recctl get, the next version's gates) but not served. */
    if (b->have_image && w >= 1)
        b->image.flags = RC_LIST_ASIDE;
    stage_end(b);
out:
    free(held);
    rb_lists_release(&base);
    rb_sessions_release(&b->sessions);
    return rc;
}

/* The stage (and log) names of one CF model's steps. */
struct cf_stages {
    const char *train, *als, *score;
    int db; /* where the lists go */
};
static const struct cf_stages cf_stages_a = {"train", "als", "score", RC_DB_COOKIE};
static const struct cf_stages cf_stages_b = {"train_b", "als_b", "score_b", RC_DB_COOKIE_B};

/* One CF model with parameters p: the training matrix into t, ALS (into
 * b->model, released after), the lists into lists and their health. The
 * build's own model and --cf-b-params' second one both run here. */
static int run_cf(struct build *b, const struct rb_params *p, struct rb_train *t, struct rb_lists *lists,
                  struct rb_score_stats *score, struct rb_health *health, const struct cf_stages *st,
                  int *bad_input, char *err)
{
    const struct rb_config *c = b->cfg;
    stage(b, st->train, NULL);
    int rc = rb_train_build(t, &b->d, &p->train, err);
    if (rc) {
        *bad_input = rc == RC_EEMPTY;
        return rc;
    }
    stage_end(b);
    rc_log(RC_LOG_INFO, st->train, "rows=%" PRIu32 " products=%" PRIu32 " nnz=%" PRIu64, t->ui.rows, t->ui.cols,
           t->ui.nnz);

    int staged = c->stage.stage; /* a staged build's CF: stages.h */
    stage(b, st->als, NULL);
    if ((rc = staged == RB_STAGE_SCORE || staged == RB_STAGE_MERGE
                  ? rb_stage_read_factors(&c->stage, t, &b->d, &b->model, err)
                  : b->backend->als_train(&b->model, t, &p->als, err)) != 0)
        return rc;
    stage_end(b);
    if (staged == RB_STAGE_TRAIN)
        return rb_stage_write_train(&c->stage, p, params_source(b), t, &b->d, &b->model, err);

    uint32_t depth = rb_rules_depth(c->rules_parsed, st->db, c->n);
    stage(b, st->score, NULL);
    if (staged == RB_STAGE_SCORE)
        return rb_stage_score(&c->stage, &b->model, t, &b->d, depth, !c->keep_bought, &c->score, &b->stage_file,
                              err);
    if (staged == RB_STAGE_MERGE) {
        if ((rc = rb_stage_merge_shards(&c->stage, &b->model, t, &b->d, depth, &c->score, score, lists, err)) ||
            (score->method == RB_SCORE_IVF &&
             (rc = rb_score_cf_recall(score, lists, &b->model, t, &b->d, depth, !c->keep_bought,
                                      c->score.recall_sample, err))))
            return rc;
    } else if ((rc = b->backend->score_cf(lists, score, &b->model, t, &b->d, depth, !c->keep_bought, &c->score,
                                          err)) != 0) {
        return rc;
    }
    if (score->method == RB_SCORE_IVF)
        rc_log(RC_LOG_INFO, st->score, "method=ivf nlist=%u nprobe=%u recall=%.4f sampled=%u", score->nlist,
               score->nprobe, score->recall, score->sampled);
    stage_end(b);
    if ((rc = rb_eval_health_n(health, lists, &b->model, t, c->n, err)) != 0) /* the first --n: what a list stores */
        return rc;
    rb_als_release(&b->model);
    return 0;
}

/* The second CF set: the build's own parameters, with those --cf-b-params
 * set laid over them. */
static void cf_b_params(const struct build *b, struct rb_params *p)
{
    const struct rb_config *c = b->cfg;
    const struct rb_params *f = &c->cf_b;
    unsigned set = c->cf_b_set;
    *p = b->params;
    if (set & RB_PARAM_FACTORS)
        p->als.factors = f->als.factors;
    if (set & RB_PARAM_REG)
        p->als.reg = f->als.reg;
    if (set & RB_PARAM_ALPHA)
        p->als.alpha = f->als.alpha;
    if (set & RB_PARAM_ITERATIONS)
        p->als.iterations = f->als.iterations;
    if (set & RB_PARAM_WEIGHT_VIEW)
        p->train.weight[RB_VIEW] = f->train.weight[RB_VIEW];
    if (set & RB_PARAM_WEIGHT_CART)
        p->train.weight[RB_CART] = f->train.weight[RB_CART];
    if (set & RB_PARAM_WEIGHT_PURCHASE)
        p->train.weight[RB_PURCHASE] = f->train.weight[RB_PURCHASE];
    if (set & RB_PARAM_HALF_LIFE)
        p->train.half_life_days = f->train.half_life_days;
}

/* --cf-b-params: the second CF model over the same events, its lists for
 * cookie_b, and (with --holdout) its evaluation on the same held-out
 * purchases as the first's. A degenerate second model is said, not
 * refused: only an experiment arm reads it. */
static int run_cf_b(struct build *b, int *bad_input, char *err)
{
    const struct rb_config *c = b->cfg;
    if (!c->cf_b_params)
        return 0;
    const struct rb_params *p = &b->params_b;
    cf_b_params(b, &b->params_b);
    rc_log(RC_LOG_INFO, "params_b", "file=\"%s\" factors=%u reg=%g alpha=%g iterations=%u weight_view=%g "
           "weight_cart=%g weight_purchase=%g half_life_days=%g", c->cf_b_params, p->als.factors,
           (double)p->als.reg, (double)p->als.alpha, p->als.iterations, (double)p->train.weight[RB_VIEW],
           (double)p->train.weight[RB_CART], (double)p->train.weight[RB_PURCHASE], p->train.half_life_days);
    int rc = run_cf(b, p, &b->t_b, &b->cf_b, &b->score_stats_b, &b->health_b, &cf_stages_b, bad_input, err);
    if (rc)
        return rc;
    b->have_cf_b = 1;
    if (b->health_b.degenerate)
        rc_log(RC_LOG_WARN, "quality_b", "degenerate=1 reason=\"%s\" msg=\"the --cf-b-params model is degenerate\"",
               b->health_b.reason);
    if (c->train.holdout > 0) {
        stage(b, "eval_b", NULL);
        if ((rc = rb_eval_holdout(&b->eval_b, &b->cf_b, &b->t_b, &b->d, c->eval_k, !c->keep_bought, err)) != 0)
            return rc;
        b->have_eval_b = 1;
        stage_end(b);
        rc_log(RC_LOG_INFO, "eval_b", "k=%u users=%" PRIu64 " hr=%.4f ndcg=%.4f pop_ndcg=%.4f lift=%.3f",
               b->eval_b.k, b->eval_b.users, b->eval_b.hr, b->eval_b.ndcg, b->eval_b.pop_ndcg,
               rb_eval_lift(&b->eval_b));
    }
    rb_train_release(&b->t_b);
    return 0;
}

/* The image-similarity lists, when there are embedding rows. */
static int run_knn(struct build *b, char *err)
{
    const struct rb_config *c = b->cfg;
    if (b->d.emb_rows == 0) {
        if (c->embeddings)
            rc_log(RC_LOG_WARN, "knn", "msg=\"no usable embedding rows: image-similarity lists are skipped\"");
        return 0;
    }
    stage(b, "knn", NULL);
    uint32_t depth = rb_rules_depth(c->rules_parsed, RC_DB_PRODUCT, c->n);
    int rc, staged = c->stage.stage; /* a staged build's image lists: stages.h */
    if (staged == RB_STAGE_SCORE) {
        if ((rc = rb_stage_score_image(&c->stage, &b->t, &b->d, depth, &c->knn, err)) == 0)
            stage_end(b);
        return rc;
    }
    if (staged == RB_STAGE_MERGE)
        rc = rb_stage_merge_image(&c->stage, &b->t, &b->d, depth, &c->knn, &b->knn_stats, &b->image, err);
    else
        rc = b->backend->knn_image(&b->image, &b->knn_stats, &b->d, depth, &c->knn, err);
    if (!rc && staged == RB_STAGE_MERGE && (rc = rb_knn_recall(&b->knn_stats, &b->image, &b->d, depth, &c->knn, err)))
        rb_lists_release(&b->image);
    if (rc)
        return rc;
    b->have_image = 1;
    stage_end(b);
    return 0;
}

/* New-product exploration over the segment, global, category and image lists (explore.h). */
static int run_explore(struct build *b, char *err)
{
    const struct rb_config *c = b->cfg;
    if (c->explore.age_days <= 0 || c->explore.share <= 0) {
        rc_log(RC_LOG_INFO, "explore", "msg=\"off (--explore-age-days or --explore-share is 0)\"");
        return 0;
    }
    struct rb_explore_opts o = c->explore;
    o.seed = c->als.seed;
    stage(b, "explore", NULL);
    int rc = rb_explore(&b->segments, &b->categories, b->have_image ? &b->image : NULL, &b->d, &o, &b->explore, err);
    if (rc)
        return rc;
    stage_end(b);
    b->have_explore = 1;
    const struct rb_explore_stats *s = &b->explore;
    rc_log(RC_LOG_INFO, "explore", "age_days=%g share=%g now=%" PRId64 " new_products=%" PRIu64
           " new_with_slot=%" PRIu64 " slots=%" PRIu64 " slots_added=%" PRIu64 " lists=%" PRIu64
           " lists_changed=%" PRIu64 " age_created_at=%" PRIu64 " age_first_event=%" PRIu64 " age_unknown=%" PRIu64
           " first_event_used=%d", o.age_days, o.share, s->now, s->new_products, s->new_with_slot, s->slots,
           s->slots_added, s->lists, s->lists_changed, s->age_created_at, s->age_first_event, s->age_unknown,
           s->first_event_used);
    if (!s->first_event_used && s->age_created_at == 0)
        rc_log(RC_LOG_INFO, "explore_no_age", "msg=\"no product has an age: the catalog has no created_at and the "
               "events span less than --explore-age-days, so no product is new\" age_days=%g", o.age_days);
    return 0;
}

/* --rules, last of the list stages (rules.h): on each kind of list the
 * build has, its diversity before, the rules, its diversity after; the
 * CF lists' holdout figures before the rules are kept for the comparison
 * (the "eval" stage scores the lists as stored). */
static int run_rules(struct build *b, char *err)
{
    const struct rb_config *c = b->cfg;
    if (!c->rules_parsed)
        return 0;
    struct rb_lists *lists[RB_RULES_DBS] = {
        [RC_DB_COOKIE] = b->have_cf ? &b->cf : NULL,
        [RC_DB_PRODUCT] = b->have_image ? &b->image : NULL,
        [RC_DB_SEGMENT] = &b->segments,
        [RC_DB_COVIEW] = &b->coview,
        [RC_DB_COOKIE_B] = b->have_cf_b ? &b->cf_b : NULL,
        [RC_DB_CATEGORY] = &b->categories,
    };
    int rc;
    stage(b, "rules", NULL);
    rb_rules_describe(c->rules_parsed, b->rules_line, sizeof(b->rules_line));
    if (c->train.holdout > 0 && b->have_cf) {
        if ((rc = rb_eval_holdout(&b->eval_plain, &b->cf, &b->t, &b->d, c->eval_k, !c->keep_bought, err)) != 0)
            return rc;
        b->have_eval_plain = 1;
    }
    for (int db = 0; db < RB_RULES_DBS; db++) {
        struct rules_figures *f = &b->rules[db];
        if (!lists[db])
            continue;
        if ((rc = rb_eval_diversity(&f->before, lists[db], &b->d, c->eval_k, err)) != 0 ||
            (rc = rb_rules_apply(c->rules_parsed, lists[db], db,
                                 db == RC_DB_SEGMENT || db == RC_DB_CATEGORY ? c->segment_n : c->n, &b->d,
                                 &f->stats, err)) != 0 ||
            (rc = rb_eval_diversity(&f->after, lists[db], &b->d, c->eval_k, err)) != 0)
            return rc;
        f->have = 1;
        const struct rb_rules_stats *st = &f->stats;
        rc_log(RC_LOG_INFO, "rules", "db=%s lists=%" PRIu64 " changed=%" PRIu64 " emptied=%" PRIu64 " entries=%" PRIu64
               "->%" PRIu64 " excluded=%" PRIu64 " capped=%" PRIu64 " moved=%" PRIu64 " k=%u coverage=%.4f->%.4f "
               "ild_category=%.4f->%.4f ild_embedding=%.4f->%.4f", rc_db_names[db], st->lists, st->changed,
               st->emptied, st->entries_before, st->entries_after, st->excluded, st->capped, st->moved, c->eval_k,
               f->before.coverage, f->after.coverage, f->before.ild_category, f->after.ild_category,
               f->before.ild_embedding, f->after.ild_embedding);
    }
    const struct rb_rules_stats *seg = &b->rules[RC_DB_SEGMENT].stats;
    rc_log(seg->unknown_categories || seg->unmatched_segments ? RC_LOG_WARN : RC_LOG_INFO, "rules.file",
           "file=\"%s\" rules=\"%s\" unknown_categories=%u unmatched_segments=%u", c->rules, b->rules_line,
           seg->unknown_categories, seg->unmatched_segments);
    stage_end(b);
    return 0;
}

/* The holdout with and without the rules, once the "eval" stage ran. */
static void report_rules(const struct build *b)
{
    if (!b->cfg->rules_parsed || !b->have_eval || !b->have_eval_plain)
        return;
    const struct rb_eval *w = &b->eval, *o = &b->eval_plain;
    const struct rules_figures *f = &b->rules[RC_DB_COOKIE];
    rc_log(RC_LOG_INFO, "rules.eval", "k=%u users=%" PRIu64 " ndcg=%.4f->%.4f hr=%.4f->%.4f coverage=%.4f->%.4f "
           "ild_category=%.4f->%.4f ild_embedding=%.4f->%.4f", w->k, w->users, o->ndcg, w->ndcg, o->hr, w->hr,
           f->before.coverage, f->after.coverage, f->before.ild_category, f->after.ild_category,
           f->before.ild_embedding, f->after.ild_embedding);
}

static int run_models(struct build *b, int *bad_input, char *err)
{
    const struct rb_config *c = b->cfg;
    int rc;
    *bad_input = 0;

    if ((rc = run_tune(b, bad_input, err)) != 0 || c->tune_only)
        return rc;
    rc_log(RC_LOG_INFO, "params", "source=%s factors=%u reg=%g alpha=%g iterations=%u weight_view=%g "
           "weight_cart=%g weight_purchase=%g half_life_days=%g", params_source(b), b->params.als.factors,
           (double)b->params.als.reg, (double)b->params.als.alpha, b->params.als.iterations,
           (double)b->params.train.weight[RB_VIEW], (double)b->params.train.weight[RB_CART],
           (double)b->params.train.weight[RB_PURCHASE], b->params.train.half_life_days);

    if ((rc = run_cf(b, &b->params, &b->t, &b->cf, &b->score_stats, &b->health, &cf_stages_a, bad_input, err)) != 0)
        return rc;
    if (c->stage.stage == RB_STAGE_SCORE)
        return run_knn(b, err); /* and the image shard; the merge stage does the rest */
    if (c->stage.stage == RB_STAGE_TRAIN)
        return 0; /* its files are written */
    b->have_cf = 1;
    if ((rc = run_cf_b(b, bad_input, err)) != 0 || (rc = run_knn(b, err)) != 0 || (rc = run_coview(b, err)) != 0)
        return rc;

    /* Popularity keeps the configured half-life: the tuner chooses CF's. */
    stage(b, "popularity", NULL);
    if ((rc = rb_popularity_categories(&b->segments, &b->categories, &b->d, &c->train, c->segment_n, err)) != 0)
        return rc;
    stage_end(b);
    if ((rc = run_explore(b, err)) != 0)
        return rc;
    if ((rc = run_rules(b, err)) != 0)
        return rc;
    if (b->have_explore && c->rules_parsed) {
        /* the rules drop and move entries: count the new products' slots as stored */
        struct rb_explore_opts o = c->explore;
        if ((rc = rb_explore_recount(&b->segments, &b->categories, b->have_image ? &b->image : NULL, &b->d, &o,
                                     &b->explore, err)) != 0)
            return rc;
        rc_log(RC_LOG_INFO, "explore", "after_rules=1 new_with_slot=%" PRIu64 " slots=%" PRIu64,
               b->explore.new_with_slot, b->explore.slots);
    }

    if (c->train.holdout > 0) {
        stage(b, "eval", NULL);
        if ((rc = rb_eval_holdout(&b->eval, &b->cf, &b->t, &b->d, c->eval_k, !c->keep_bought, err)) != 0)
            return rc;
        b->have_eval = 1;
        stage_end(b);
    }
    report_rules(b);
    report_quality(b);
    rb_train_release(&b->t);
    return 0;
}

static uint64_t peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024;
}

static double stage_ms(const struct build *b, const char *name)
{
    for (int i = 0; i < b->progress.nstages; i++)
        if (strcmp(b->progress.stages[i].name, name) == 0)
            return b->progress.stages[i].ms;
    return 0;
}

/* The manifest's sections (schemas/manifest.md, "recbuild's sections"),
 * filled from the build; rc_manifest_write renders them. */
struct manifest_sections {
    struct rc_manifest_info info;
    struct rc_manifest_input inputs[MAX_EVENT_FILES + 3];
    struct rc_manifest_params params;
    struct rc_manifest_tuning tuning;
    struct rc_manifest_dropped dropped;
    struct rc_manifest_throughput throughput;
    struct rc_manifest_eval eval;
    struct rc_manifest_cf_b cf_b;
    struct rc_manifest_rules rules;
    struct rc_manifest_explore explore;
};

_Static_assert(RB_BAD_REASONS == RC_MANIFEST_BAD_REASONS, "counts_dropped.bad_lines_by_reason");
_Static_assert(RB_OUTPUT_LISTS == RC_MANIFEST_LIST_DBS, "counts_dropped.collisions_by_db");
_Static_assert(RB_NEXT_KINDS == RC_MANIFEST_NEXT_KINDS, "evaluation.next_item");
_Static_assert(RB_RULES_DBS == RC_MANIFEST_RULES_DBS, "rules.lists");
_Static_assert(RB_NEXT_GRID_MAX <= RC_MANIFEST_GRID_MAX, "evaluation.next_item.blend_grid");
_Static_assert(RB_PROGRESS_STAGES + 7 <= RC_MANIFEST_TIMINGS_MAX, "timings_ms");

static void manifest_inputs(const struct build *b, struct manifest_sections *s)
{
    for (size_t i = 0; i < b->ninputs; i++) {
        const struct input *in = &b->inputs[i];
        const char *base = strcmp(in->path, "-") == 0 ? "-" : strrchr(in->path, '/');
        base = base && base[0] == '/' ? base + 1 : (base ? base : in->path);
        s->inputs[i] = (struct rc_manifest_input){.role = in->role, .name = base, .bytes = in->bytes,
                                                  .xxh3 = in->xxh3, .rows = in->rows, .have_bytes = in->have_bytes,
                                                  .have_xxh3 = in->have_xxh3};
    }
    s->info.inputs = s->inputs;
    s->info.ninputs = b->ninputs;
    s->info.have_inputs = 1;
}

static void manifest_params(const struct build *b, struct rc_manifest_params *m)
{
    const struct rb_config *c = b->cfg;
    const struct rb_params *p = &b->params;
    const char *pb = c->params ? strrchr(c->params, '/') : NULL;
    *m = (struct rc_manifest_params){
        .n = c->n,
        .segment_n = c->segment_n,
        .exclude_bought = !c->keep_bought,
        .source = params_source(b),
        .params_file = c->params ? (pb ? pb + 1 : c->params) : NULL,
        .weight_view = p->train.weight[RB_VIEW],
        .weight_cart = p->train.weight[RB_CART],
        .weight_purchase = p->train.weight[RB_PURCHASE],
        .weight_click = c->train.weight[RB_CLICK],
        .half_life_days = p->train.half_life_days,
        .popularity_half_life_days = c->train.half_life_days,
        .window_days = c->train.window_days,
        .min_events = c->train.min_events,
        .active_days = c->train.active_days,
        .min_purchases = c->train.min_purchases,
        .holdout = c->train.holdout,
        .holdout_split = split_names[c->train.holdout_split],
        .eval_k = c->eval_k,
        .factors = p->als.factors,
        .reg = p->als.reg,
        .alpha = p->als.alpha,
        .iterations = p->als.iterations,
        .cg_steps = c->als.cg_steps,
        .seed = c->als.seed,
        .threads = (uint64_t)(c->als.threads > 0 ? c->als.threads : omp_get_max_threads()),
        .score_method = score_names[c->score.method],
        .score_used = b->have_cf ? score_names[b->score_stats.method] : NULL,
        .score_ivf = b->have_cf && b->score_stats.method == RB_SCORE_IVF,
        .score_nlist = b->score_stats.nlist,
        .score_nprobe = b->score_stats.nprobe,
        .score_recall_target = c->score.recall_target,
        .knn = knn_names[c->knn.method],
        .knn_used = b->have_image ? knn_names[b->knn_stats.method] : NULL,
        .knn_ivf = b->have_image && b->knn_stats.method == RB_KNN_IVF,
        .knn_hnsw = b->have_image && b->knn_stats.method == RB_KNN_HNSW,
        .knn_nlist = b->knn_stats.nlist,
        .knn_nprobe = b->knn_stats.nprobe,
        .knn_m = c->knn.hnsw_m,
        .knn_ef = c->knn.hnsw_ef,
        .session_gap_minutes = c->session_gap_min,
        .coview_window = c->coview.window,
        .coview_min = c->coview.min_count,
        .coview_norm = coview_norm_names[c->coview.norm],
        .coview_typed = c->coview.typed,
        .coview_half_life_days = c->coview.half_life_days,
        .coview_backward = c->coview.backward,
        .blend_weight = b->blend_weight,
        .blend_weight_source = !b->have_image ? "none" : c->blend_weight >= 0 ? "flag"
                             : b->have_next ? "holdout" : "default",
        .max_bad_ratio = c->ingest.max_bad_ratio,
        .ts_unit = ts_unit_names[c->ingest.ts_unit],
        .preset = c->preset,
        .map = c->map_spec,
        .map_event = c->map_event_spec,
    };
}

static void manifest_tuning(const struct build *b, struct rc_manifest_tuning *m)
{
    const struct rb_config *c = b->cfg;
    const struct rb_tune_result *t = &b->tune;
    *m = (struct rc_manifest_tuning){
        .budget_s = c->tune_budget, .seconds = t->seconds, .budget_hit = t->budget_hit,
        .split = split_names[c->train.holdout_split], .k = c->eval_k, .users = t->users, .cookies = t->cookies,
        .trials = t->ntrials, .ndcg = t->best_ndcg, .hr = t->best_hr, .pop_ndcg = t->pop_ndcg, .pop_hr = t->pop_hr,
        .kept_base = t->kept_base, .gain = t->gain, .gain_se = t->gain_se,
    };
}

static void manifest_dropped(const struct build *b, struct rc_manifest_dropped *m)
{
    const struct rb_ingest_stats *st = &b->d.stats;
    *m = (struct rc_manifest_dropped){
        .empty_lists = 0,
        .catalog_bad_rows = st->catalog_bad,
        .catalog_bad_values = st->catalog_bad_values,
        .events_unknown_type = st->events_unknown_type,
        .event_products_not_in_catalog = st->event_products_not_in_catalog,
        .embedding_bad_values = st->emb_bad_values,
        .embedding_not_in_catalog = st->emb_no_catalog,
        .embedding_duplicates = st->emb_duplicates,
        .catalog_without_embedding = st->catalog_no_emb,
    };
    for (int i = 0; i < RB_BAD_REASONS; i++) {
        m->bad_reason_names[i] = rb_bad_reason_names[i];
        m->bad_by_reason[i] = st->bad[i];
    }
    for (int i = 0; i < RB_OUTPUT_LISTS; i++)
        m->collisions_by_db[i] = b->out.collisions[i];
    for (int i = 0; i < RC_DB_COUNT; i++)
        m->empty_lists += b->out.empty[i];
}

static void manifest_timings(const struct build *b, struct rc_manifest_info *info)
{
    size_t n = 0;
    for (int i = 0; i < b->progress.nstages; i++)
        info->timings[n++] = (struct rc_manifest_timing){b->progress.stages[i].name, b->progress.stages[i].ms};
    info->timings[n++] = (struct rc_manifest_timing){"checksum_inputs", b->ms_checksum};
    info->timings[n++] = (struct rc_manifest_timing){"sort", b->out.sort_ms};
    info->timings[n++] = (struct rc_manifest_timing){"lmdb_write", b->out.write_ms};
    info->timings[n++] = (struct rc_manifest_timing){"lmdb_write_cpu", b->out.write_cpu_ms};
    info->timings[n++] = (struct rc_manifest_timing){"lmdb_compact", b->out.compact_ms};
    info->timings[n++] = (struct rc_manifest_timing){"total_before_publish", rb_now_ms() - b->t_start};
    info->ntimings = n;
    info->have_timings = 1;
}

static void manifest_throughput(const struct build *b, struct rc_manifest_throughput *m)
{
    double ev_ms = stage_ms(b, "events");
    const struct rb_output *o = &b->out;
    *m = (struct rc_manifest_throughput){
        .ingest_events_per_s = ev_ms > 0 ? (double)b->d.stats.events / (ev_ms / 1e3) : 0,
        .lmdb_records_per_s = o->write_ms > 0 ? (double)o->records / (o->write_ms / 1e3) : 0,
        .lmdb_records_per_cpu_s = o->write_cpu_ms > 0 ? (double)o->records / (o->write_cpu_ms / 1e3) : 0,
        .peak_rss_bytes = peak_rss_bytes(),
    };
}

/* One CF model's holdout figures (e, when not NULL) and health (h). */
static void manifest_cf_eval(const struct build *b, const struct rb_eval *e, const struct rb_health *h,
                             struct rc_manifest_eval *m)
{
    if (e) {
        m->holdout = RC_HOLDOUT_FULL;
        m->k = e->k;
        m->users = e->users;
        m->hr = e->hr;
        m->recall = e->recall;
        m->ndcg = e->ndcg;
        m->precision = e->precision;
        m->pop_hr = e->pop_hr;
        m->pop_recall = e->pop_recall;
        m->pop_ndcg = e->pop_ndcg;
        m->pop_precision = e->pop_precision;
        m->have_lift = e->pop_ndcg > 0;
        m->lift = rb_eval_lift(e);
        m->split = split_names[b->cfg->train.holdout_split];
        m->coverage = e->coverage;
        m->pop_bias = e->pop_bias;
    }
    m->have_health = 1;
    m->degenerate = h->degenerate;
    m->degenerate_reason = h->reason;
    m->cold_share = h->cold_share;
    m->factor_norm = h->factor_norm;
    m->score_spread = h->spread;
}

static void manifest_eval(const struct build *b, struct rc_manifest_eval *m)
{
    memset(m, 0, sizeof(*m));
    if (b->have_cf) /* have_eval only with have_cf */
        manifest_cf_eval(b, b->have_eval ? &b->eval : NULL, &b->health, m);
    if (b->have_cf && b->score_stats.method == RB_SCORE_IVF) {
        m->have_cf_recall = 1;
        m->cf_recall = b->score_stats.recall;
        m->cf_recall_sampled = b->score_stats.sampled;
    }
    if (b->have_image) {
        m->have_knn = 1;
        m->knn_recall = b->knn_stats.recall;
        m->knn_recall_sampled = b->knn_stats.sampled;
    }
    if (b->have_next) {
        const struct rb_next_eval *n = &b->next;
        m->have_next = 1;
        m->next_k = n->k;
        m->next_sessions = n->sessions;
        m->next_steps = n->steps;
        for (int i = 0; i < RB_NEXT_KINDS; i++) {
            m->next_kind_names[i] = rb_next_kind_names[i];
            m->next_have[i] = n->have[i];
            m->next_hr[i] = n->hr[i];
            m->next_mrr[i] = n->mrr[i];
        }
        m->ngrid = b->have_image ? n->ngrid : 0;
        for (uint32_t g = 0; g < n->ngrid && g < RB_NEXT_GRID_MAX; g++) {
            m->grid_w[g] = n->grid_w[g];
            m->grid_hr[g] = n->grid_hr[g];
            m->grid_mrr[g] = n->grid_mrr[g];
        }
    }
}

static void manifest_cf_b(const struct build *b, struct rc_manifest_cf_b *m)
{
    const char *file = b->cfg->cf_b_params, *base = strrchr(file, '/');
    const struct rb_params *p = &b->params_b;
    *m = (struct rc_manifest_cf_b){
        .params_file = base ? base + 1 : file,
        .weight_view = p->train.weight[RB_VIEW],
        .weight_cart = p->train.weight[RB_CART],
        .weight_purchase = p->train.weight[RB_PURCHASE],
        .half_life_days = p->train.half_life_days,
        .factors = p->als.factors,
        .iterations = p->als.iterations,
        .reg = p->als.reg,
        .alpha = p->als.alpha,
    };
    manifest_cf_eval(b, b->have_eval_b ? &b->eval_b : NULL, &b->health_b, &m->eval);
}

static void manifest_explore(const struct build *b, struct rc_manifest_explore *m)
{
    const struct rb_explore_stats *s = &b->explore;
    *m = (struct rc_manifest_explore){
        .age_days = b->cfg->explore.age_days,
        .share = b->cfg->explore.share,
        .now = s->now,
        .first_event_used = s->first_event_used,
        .age_created_at = s->age_created_at,
        .age_first_event = s->age_first_event,
        .age_unknown = s->age_unknown,
        .new_products = s->new_products,
        .new_with_slot = s->new_with_slot,
        .slots = s->slots,
        .slots_added = s->slots_added,
        .lists = s->lists,
        .lists_changed = s->lists_changed,
    };
}

static void manifest_rules(const struct build *b, struct rc_manifest_rules *m)
{
    const struct rb_config *c = b->cfg;
    const char *base = strrchr(c->rules, '/');
    memset(m, 0, sizeof(*m));
    m->file = base ? base + 1 : c->rules;
    m->rules = b->rules_line;
    m->k = c->eval_k;
    m->unknown_categories = b->rules[RC_DB_SEGMENT].stats.unknown_categories;
    m->unmatched_segments = b->rules[RC_DB_SEGMENT].stats.unmatched_segments;
    if (b->have_eval && b->have_eval_plain) {
        m->have_holdout = 1;
        m->users = b->eval.users;
        m->hr[0] = b->eval_plain.hr;
        m->hr[1] = b->eval.hr;
        m->ndcg[0] = b->eval_plain.ndcg;
        m->ndcg[1] = b->eval.ndcg;
    }
    for (int db = 0; db < RB_RULES_DBS; db++) {
        const struct rules_figures *f = &b->rules[db];
        struct rc_manifest_rules_list *l = &m->lists[db];
        const struct rb_rules_stats *st = &f->stats;
        if (!f->have)
            continue;
        *l = (struct rc_manifest_rules_list){
            .have = 1, .lists = st->lists, .changed = st->changed, .emptied = st->emptied,
            .entries_before = st->entries_before, .entries_after = st->entries_after, .excluded = st->excluded,
            .capped = st->capped, .moved = st->moved,
            .coverage = {f->before.coverage, f->after.coverage},
            .ild_category = {f->before.ild_category, f->after.ild_category},
            .ild_embedding = {f->before.ild_embedding, f->after.ild_embedding}};
    }
}

static void manifest_fill(const struct build *b, struct manifest_sections *s)
{
    memset(s, 0, sizeof(*s));
    s->info.device = b->device;
    manifest_inputs(b, s);
    manifest_params(b, &s->params);
    s->info.params = &s->params;
    if (b->have_tune) {
        manifest_tuning(b, &s->tuning);
        s->info.tuning = &s->tuning;
    }
    manifest_dropped(b, &s->dropped);
    s->info.dropped = &s->dropped;
    manifest_timings(b, &s->info);
    manifest_throughput(b, &s->throughput);
    s->info.throughput = &s->throughput;
    manifest_eval(b, &s->eval);
    s->info.eval = &s->eval;
    if (b->have_cf_b) {
        manifest_cf_b(b, &s->cf_b);
        s->info.cf_b = &s->cf_b;
    }
    if (b->cfg->rules_parsed) {
        manifest_rules(b, &s->rules);
        s->info.rules = &s->rules;
    }
    if (b->have_explore) {
        manifest_explore(b, &s->explore);
        s->info.explore = &s->explore;
    }
}

/* --tune-out: the parameters this build uses, in --params form, with the search's trials as comments. */
static int write_params(const struct build *b, char *err)
{
    const struct rb_config *c = b->cfg;
    const struct rb_params *p = &b->params;
    const struct rb_tune_result *t = &b->tune;
    struct rc_buf f;
    rc_buf_init(&f);
    rc_buf_addf(&f, "# recbuild parameters (schemas/params.md); source: %s\n", params_source(b));
    if (b->have_tune) {
        rc_buf_addf(&f, "# tuned on %" PRIu64 " events: %s split, %" PRIu64 " validation cookies, NDCG@%u %.4f "
                    "(most popular %.4f), %u trials in %.1f s%s\n# chosen: trial %u%s (gain over the base %.4f, "
                    "standard error %.4f)\n", b->d.stats.events, split_names[c->train.holdout_split], t->users,
                    c->eval_k, t->best_ndcg, t->pop_ndcg, t->ntrials, t->seconds,
                    t->budget_hit ? " (budget reached)" : "", t->best_trial,
                    t->kept_base ? ", the base: the best was not one standard error better" : "", t->gain,
                    t->gain_se);
    }
    rc_buf_addf(&f, "factors = %u\nreg = %g\nalpha = %g\niterations = %u\nweight-view = %g\nweight-cart = %g\n"
                "weight-purchase = %g\nhalf-life-days = %g\n", p->als.factors, (double)p->als.reg,
                (double)p->als.alpha, p->als.iterations, (double)p->train.weight[RB_VIEW],
                (double)p->train.weight[RB_CART], (double)p->train.weight[RB_PURCHASE], p->train.half_life_days);
    if (b->have_tune) {
        rc_buf_adds(&f, "#\n# trials: config rung iterations factors reg alpha weight-view weight-cart "
                        "weight-purchase half-life-days ndcg hr seconds\n");
        for (uint32_t i = 0; i < t->ntrials; i++) {
            const struct rb_trial *tr = &t->trials[i];
            rc_buf_addf(&f, "# %u %u %u %u %g %g %g %g %g %g %.4f %.4f %.2f\n", tr->config, tr->rung,
                        tr->p.als.iterations, tr->p.als.factors, (double)tr->p.als.reg, (double)tr->p.als.alpha,
                        (double)tr->p.train.weight[RB_VIEW], (double)tr->p.train.weight[RB_CART],
                        (double)tr->p.train.weight[RB_PURCHASE], tr->p.train.half_life_days, tr->ndcg, tr->hr,
                        tr->seconds);
        }
    }
    int rc = f.overflow ? -ENOMEM : rc_write_file_atomic(c->tune_out, f.data, f.len);
    rc_buf_release(&f);
    if (rc)
        return rc_fail(err, rc, "unable to write --tune-out '%s': %s", c->tune_out, rc_strerror(rc));
    rc_log(RC_LOG_INFO, "params_written", "path=%s source=%s", c->tune_out, params_source(b));
    return 0;
}

static int run_output(struct build *b, char *err)
{
    const struct rb_config *c = b->cfg;
    int rc;
    output_begun = 1; /* from here a signal cancels instead of ending the process */
    stage(b, "write", "records");
    struct rb_output_opts oo = {.root = c->out,
                                .cancel = &cancel_signal,
                                .progress = rb_progress_update,
                                .progress_ctx = &b->progress};
    if ((rc = rb_output_begin(&b->out, &oo, time(NULL), err)) != 0)
        return rc;
    const struct rb_lists *lists[RB_OUTPUT_LISTS] = {
        [RC_DB_COOKIE] = b->have_cf ? &b->cf : NULL,
        [RC_DB_PRODUCT] = b->have_image ? &b->image : NULL,
        [RC_DB_SEGMENT] = &b->segments,
        [RC_DB_COVIEW] = &b->coview,
        [RC_DB_COOKIE_B] = b->have_cf_b ? &b->cf_b : NULL,
        [RC_DB_CATEGORY] = &b->categories,
    };
    if ((rc = rb_output_write(&b->out, &b->d, lists, err)) != 0)
        return rc;
    stage_end(b);
    /* The experiment the version carries, as checked before any work. */
    if (c->experiments_text) {
        if ((rc = rb_output_experiments(&b->out, c->experiments_text, c->experiments_len, err)) != 0)
            return rc;
        log_experiment(c->experiments_text, c->experiments_len, c->cf_b_params != NULL);
    }

    struct manifest_sections *ms = malloc(sizeof(*ms));
    if (!ms)
        return rc_fail(err, -ENOMEM, "out of memory filling the manifest");
    manifest_fill(b, ms);
    rc = rb_output_manifest(&b->out, &ms->info, err);
    free(ms);
    if (rc)
        return rc;

    stage(b, "publish", NULL);
    if ((rc = rb_output_publish(&b->out, !c->no_flip, c->keep, err)) != 0)
        return rc;
    stage_end(b);
    return 0;
}

/* A per-DB figure of the output summed over every DB. */
static uint64_t sum_dbs(const uint64_t v[RC_DB_COUNT])
{
    uint64_t sum = 0;
    for (int db = 0; db < RC_DB_COUNT; db++)
        sum += v[db];
    return sum;
}

static void summary(struct build *b)
{
    const struct rb_dataset *d = &b->d;
    const struct rb_output *o = &b->out;
    rb_progress_clear(&b->progress);
    rb_ingest_report(d);
    rc_log(RC_LOG_INFO, "summary",
           "events=%" PRIu64 " cookies=%" PRIu32 " products=%" PRIu32 " locations=%" PRIu32 " devices=%" PRIu32
           " lists_cookie=%" PRIu64 " lists_product=%" PRIu64 " lists_segment=%" PRIu64 " lists_coview=%" PRIu64
           " lists_category=%" PRIu64 " items=%" PRIu64 " catsets=%" PRIu64
           " collisions=%" PRIu64 " empty_lists=%" PRIu64,
           d->stats.events, d->cookies.n, d->products.n, d->locs.n, d->devices.n, o->vw.manifest.counts[RC_DB_COOKIE],
           o->vw.manifest.counts[RC_DB_PRODUCT], o->vw.manifest.counts[RC_DB_SEGMENT], o->vw.manifest.counts[RC_DB_COVIEW],
           o->vw.manifest.counts[RC_DB_CATEGORY], o->vw.manifest.counts[RC_DB_ITEMS], o->vw.manifest.counts[RC_DB_CATSET],
           sum_dbs(o->collisions), sum_dbs(o->empty));
    char line[1024];
    size_t len = 0;
    for (int i = 0; i < b->progress.nstages && len < sizeof(line); i++)
        len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s_ms=%.0f", i ? " " : "",
                                b->progress.stages[i].name, b->progress.stages[i].ms);
    rc_log(RC_LOG_INFO, "timings", "%s lmdb_write_ms=%.0f lmdb_compact_ms=%.0f total_ms=%.0f", line, o->write_ms,
           o->compact_ms, rb_now_ms() - b->t_start);
    double ev_ms = stage_ms(b, "events");
    rc_log(RC_LOG_INFO, "throughput", "ingest_events_per_s=%.0f lmdb_records=%" PRIu64 " lmdb_records_per_s=%.0f "
           "lmdb_records_per_cpu_s=%.0f data_bytes=%" PRIu64 " peak_rss_mb=%.1f",
           ev_ms > 0 ? (double)d->stats.events / (ev_ms / 1e3) : 0.0, o->records,
           o->write_ms > 0 ? (double)o->records / (o->write_ms / 1e3) : 0.0,
           o->write_cpu_ms > 0 ? (double)o->records / (o->write_cpu_ms / 1e3) : 0.0, o->data_bytes,
           (double)peak_rss_bytes() / (1 << 20));
    if (b->have_eval) {
        const struct rb_eval *e = &b->eval;
        int loses = e->users > 0 && e->ndcg < e->pop_ndcg;
        rc_log(loses ? RC_LOG_ERROR : RC_LOG_INFO, "evaluation",
               "k=%u split=%s users=%" PRIu64 " hr=%.4f pop_hr=%.4f ndcg=%.4f pop_ndcg=%.4f precision=%.4f "
               "pop_precision=%.4f recall=%.4f pop_recall=%.4f lift=%.3f coverage=%.4f pop_bias=%.4f degenerate=%d%s",
               e->k, split_names[b->cfg->train.holdout_split], e->users, e->hr, e->pop_hr, e->ndcg, e->pop_ndcg,
               e->precision, e->pop_precision, e->recall, e->pop_recall, rb_eval_lift(e), e->coverage, e->pop_bias,
               b->health.degenerate, loses ? " msg=\"CF loses to the most-popular list on the holdout; "
               "ops/rebuild.sh refuses it below --min-lift\"" : "");
    }
    if (b->have_next) {
        const struct rb_next_eval *n = &b->next;
        rc_log(RC_LOG_INFO, "evaluation.next_item",
               "k=%u sessions=%" PRIu64 " steps=%" PRIu64 " blend_hr=%.4f blend_mrr=%.4f blend_weight=%g coview_hr=%.4f "
               "coview_mrr=%.4f image_hr=%.4f image_mrr=%.4f baseline_hr=%.4f baseline_mrr=%.4f pop_hr=%.4f "
               "pop_mrr=%.4f", n->k, n->sessions, n->steps, n->hr[RB_NEXT_BLEND], n->mrr[RB_NEXT_BLEND],
               b->blend_weight, n->hr[RB_NEXT_COVIEW], n->mrr[RB_NEXT_COVIEW], n->hr[RB_NEXT_IMAGE],
               n->mrr[RB_NEXT_IMAGE], n->hr[RB_NEXT_BASELINE], n->mrr[RB_NEXT_BASELINE], n->hr[RB_NEXT_POP],
               n->mrr[RB_NEXT_POP]);
    }
    rc_log(RC_LOG_INFO, "published", "version=%s path=%s current=%s pruned=%d device=%s", o->vw.version, o->vw.published,
           o->vw.flipped ? "flipped" : "unchanged", o->vw.pruned, b->device);
}

/*
 * OpenBLAS 0.3.21 does not recognise some newer CPUs and falls back to its
 * generic "Prescott" kernels, 3-4x slower for ALS, scoring and FAISS. It
 * reads OPENBLAS_CORETYPE only when it loads, so the choice can be changed
 * only for a fresh image of this program: on an AVX2 (or AVX-512) CPU left
 * on the generic kernels, set it and exec ourselves once. An explicit
 * OPENBLAS_CORETYPE is respected; if the exec fails we go on as we are.
 */
static void pick_blas_kernels(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE"))
        return;
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "prescott") != 0 || !__builtin_cpu_supports("avx2"))
        return;
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl");
    if (setenv("OPENBLAS_CORETYPE", avx512 ? "SkylakeX" : "Haswell", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
    struct rb_config cfg; /* filled once, then read-only through c */
    char err[RC_ERRMSG_MAX] = "";
    pick_blas_kernels(argv);
    config_default(&cfg);
    int rc = parse_args(&cfg, argc, argv, err);
    if (!rc)
        rc = check_config(&cfg, err);
    if (rc) {
        fprintf(stderr, "recbuild: %s\nTry 'recbuild --help' for the options.\n", err);
        free(cfg.experiments_text); /* read before a later check refused the command line */
        rb_rules_free(cfg.rules_parsed);
        return EXIT_USAGE;
    }
    if (cfg.help) {
        usage(stdout);
        return EXIT_OK;
    }
    const struct rb_config *c = &cfg;
    rc_log_setup((enum rc_log_level)c->log_level, c->log_format == LOG_JSON);
    if (c->als.threads > 0)
        omp_set_num_threads(c->als.threads);

    struct build b;
    memset(&b, 0, sizeof(b)); /* every release is a no-op until filled */
    b.cfg = c;
    b.params.train = c->train;
    b.params.als = c->als;
    if (c->from_file & RB_PARAM_HALF_LIFE)
        b.params.train.half_life_days = c->cf_half_life_days;
    b.t_start = rb_now_ms();
    rb_dataset_init(&b.d);
    install_signals();

    /* The backend, chosen once: the GPU's when asked for or usable, else the CPU's. */
    b.backend = &rb_backend_cpu;
    if (c->device != DEVICE_CPU && c->stage.stage == RB_STAGE_ALL) { /* the stages score on the CPU */
        int g = rb_backend_gpu_open(&b.backend, err);
        if (g != 0 && c->device == DEVICE_GPU) {
            rc_log(RC_LOG_ERROR, "device", "msg=\"--device gpu: %s\" code=%d", err, g);
            return EXIT_FAILED;
        }
        if (g != 0)
            rc_log(RC_LOG_INFO, "device", "device=cpu reason=\"%s\"", err);
    }
    b.device = b.backend->name;
    rc_log(RC_LOG_INFO, "start", "events_files=%zu out=%s device=%s threads=%d", c->nevents, c->out ? c->out : "-",
           b.device,
           c->als.threads > 0 ? c->als.threads : omp_get_max_threads());

    int prc = rb_progress_start(&b.progress, (enum rb_progress_mode)c->progress);
    if (prc)
        rc_log(RC_LOG_WARN, "progress", "msg=\"no progress display: %s\"", rc_strerror(prc));

    int bad_input = 0, code = EXIT_OK;
    err[0] = 0;
    rc = run_ingest(&b, &bad_input, err);
    if (!rc)
        rc = checksum_inputs(&b, err);
    if (!rc)
        rc = run_models(&b, &bad_input, err);
    if (!rc && c->tune_out)
        rc = write_params(&b, err);
    int stops = c->stage.stage == RB_STAGE_TRAIN || c->stage.stage == RB_STAGE_SCORE;
    if (!rc && !c->tune_only && !stops)
        rc = run_output(&b, err);
    rb_progress_stop(&b.progress);

    if (rc) {
        if (cancel_signal) {
            rc_log(RC_LOG_ERROR, "interrupted", "signal=%d msg=\"build interrupted; nothing published, current "
                   "unchanged\"", (int)cancel_signal);
        } else {
            if (b.d.stats.lines)
                rb_ingest_report(&b.d);
            rc_log(RC_LOG_ERROR, "failed", "code=%d error=\"%s\" msg=\"%s\"", rc, rc_strerror(rc), err);
        }
        code = bad_input && !cancel_signal ? EXIT_BAD_INPUT : EXIT_FAILED;
    } else if (c->tune_only || stops) {
        rb_progress_clear(&b.progress);
        printf("%s\n", stops ? (b.stage_file ? b.stage_file : c->stage.work) : c->tune_out);
        if (fflush(stdout) != 0)
            code = EXIT_FAILED;
    } else {
        summary(&b);
        printf("%s\n", b.out.vw.version);
        if (fflush(stdout) != 0)
            code = EXIT_FAILED;
    }
    build_release(&b);
    free(cfg.experiments_text);
    rb_rules_free(cfg.rules_parsed);
    return code;
}
