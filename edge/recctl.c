/*
 * recctl - inspect and operate a cache root (schemas/recctl.md).
 *
 *   recctl [--root R] [--json] <command> [options] [args]
 *
 * Commands: verify, get, diff, list, show, current, publish, rollback,
 * prune, report (the page is edge/report.c's), ab-report (edge/abreport.c's),
 * overlay (edge/ctl_overlay.c's).
 * Every option lives in one
 * table (ctl_options) that says which commands take it; `recctl <command>
 * --help` prints that command's usage from the same table.
 *
 * Exit codes: 0 ok; 1 failure (a version that does not verify, a version,
 * key or `current` that does not exist, an I/O error); 2 usage.
 *
 * recctl only reads published versions, with two exceptions: publish,
 * rollback and prune change `current` and versions/ through shared/layout.c,
 * whose renames are atomic; overlay set, clear and flip write overlays/ and
 * flip `overlay` through shared/overlay.c. It never writes inside a version.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "catset.h"
#include "error.h"
#include "json.h"
#include "keys.h"
#include "layout.h"
#include "manifest.h"
#include "opt.h"
#include "abreport.h"
#include "ctl_overlay.h"
#include "record.h"
#include "report.h"
#include "version.h"

enum { CTL_OK = 0, CTL_FAIL = 1, CTL_USAGE = 2 };

#define CTL_MAX_ARGS 4
#define CTL_ERRORS_SHOWN 5 /* bad records reported by name; the rest are counted */

/* ---- configuration: one struct, filled from one option table ---- */

struct ctl_config {
    const char *root;    /* --root, else $EDGEREC_ROOT; NULL when neither */
    int json;            /* --json */
    int help;            /* --help */
    int verify;          /* list --verify */
    long keep;           /* prune --keep, -1 when absent */
    const char *version; /* get --version */
    const char *loc, *device;
    const char *key_hex; /* get --key */
    long top;            /* diff --top */
    long examples;       /* diff --examples */
    const char *from;    /* publish --from */
    const char *compare; /* report --compare */
    const char *out;     /* report, ab-report --out */
    struct re_ab_opts ab; /* ab-report's options (edge/abreport.h) */
    const char *args[CTL_MAX_ARGS];
    int nargs;
    const struct ctl_command *cmd; /* the command word, NULL before it */
};

enum ctl_cmd_bit {
    C_VERIFY = 1 << 0,
    C_GET = 1 << 1,
    C_DIFF = 1 << 2,
    C_LIST = 1 << 3,
    C_SHOW = 1 << 4,
    C_CURRENT = 1 << 5,
    C_PUBLISH = 1 << 6,
    C_ROLLBACK = 1 << 7,
    C_PRUNE = 1 << 8,
    C_REPORT = 1 << 9,
    C_ABREPORT = 1 << 10,
    C_OVERLAY = 1 << 11,
};

#define C_NONE (1u << 15) /* the scope before the command word: global options only */

#define O(field) offsetof(struct ctl_config, field)

static const char *const ab_formats[] = {"text", "json", "html", NULL}; /* enum re_ab_format */

/* One table for every command (opt.h): an option's scope is the commands
 * that take it, 0 for the global ones. */
static const struct rc_opt ctl_options[] = {
    {.name = "root", .arg = "DIR", .type = RC_OPT_STR, .off = O(root), .help = "cache root (default: $EDGEREC_ROOT)"},
    {.name = "json", .type = RC_OPT_FLAG, .off = O(json), .help = "print JSON instead of text"},
    {.name = "help", .type = RC_OPT_FLAG, .off = O(help), .help = "print this help"},
    {.name = "verify", .type = RC_OPT_FLAG, .off = O(verify), .scope = C_LIST,
     .help = "verify every version (reads every byte; slow on big caches)"},
    {.name = "keep", .arg = "K", .type = RC_OPT_LONG, .off = O(keep), .min = 1, .max = 1000000, .scope = C_PRUNE,
     .help = "keep the newest K versions (K >= 1); `current` is always kept"},
    {.name = "version", .arg = "V", .type = RC_OPT_STR, .off = O(version), .scope = C_GET,
     .help = "read version V instead of `current`"},
    {.name = "loc", .arg = "L", .type = RC_OPT_STR, .off = O(loc), .scope = C_GET, .help = "segment location (default *)"},
    {.name = "device", .arg = "D", .type = RC_OPT_STR, .off = O(device), .scope = C_GET,
     .help = "segment device (default *)"},
    {.name = "key", .arg = "HEX", .type = RC_OPT_STR, .off = O(key_hex), .scope = C_GET,
     .help = "look up a 64-bit key (16 hex digits) instead of an id"},
    {.name = "top", .arg = "N", .type = RC_OPT_LONG, .off = O(top), .min = 1, .max = RC_LIST_MAX, .scope = C_DIFF,
     .help = "N of overlap@N (default 10)"},
    {.name = "examples", .arg = "K", .type = RC_OPT_LONG, .off = O(examples), .min = 0, .max = 1000000,
     .scope = C_DIFF, .help = "list up to K keys added, removed and changed per DB (default 0)"},
    {.name = "from", .arg = "DIR|FILE", .type = RC_OPT_STR, .off = O(from), .scope = C_PUBLISH | C_OVERLAY,
     .help = "publish: install the version in DIR (e.g. <root>/.incoming/<id>) into versions/ first; "
             "overlay set: read the product ids from FILE ('-': standard input, the default); overlay flip: "
             "install the copy in DIR first"},
    {.name = "compare", .arg = "V", .type = RC_OPT_STR, .off = O(compare), .scope = C_REPORT,
     .help = "also show what changed from version V"},
    {.name = "out", .arg = "FILE", .type = RC_OPT_STR, .off = O(out), .scope = C_REPORT | C_ABREPORT,
     .help = "write to FILE, beside it and renamed (default: standard output)"},
    {.name = "experiments", .arg = "FILE|DIR", .type = RC_OPT_STR, .off = O(ab.experiments), .scope = C_ABREPORT,
     .help = "the experiment: an experiments.json, or a version directory holding one (required)"},
    {.name = "log", .arg = "PATH", .type = RC_OPT_CUSTOM, .off = O(ab.logs), .set = re_ab_paths_add,
     .scope = C_ABREPORT,
     .help = "exposure log: a file, or a directory searched for closed *.jsonl; more paths may follow"},
    {.name = "events", .arg = "FILE", .type = RC_OPT_CUSTOM, .off = O(ab.events), .set = re_ab_paths_add,
     .scope = C_ABREPORT, .help = "the shop's events (schemas/inputs.md) for carts and purchases; repeatable"},
    {.name = "catalog", .arg = "FILE", .type = RC_OPT_STR, .off = O(ab.catalog), .scope = C_ABREPORT,
     .help = "catalog.csv with a price column, for revenue"},
    {.name = "window-hours", .arg = "H", .type = RC_OPT_F64, .off = O(ab.window_hours), .min = 0.001, .max = 8760,
     .scope = C_ABREPORT, .help = "attribution window after an exposure, hours (default 24)"},
    {.name = "explore-age-days", .arg = "D", .type = RC_OPT_F64, .off = O(ab.explore_age_days), .min = 0.001,
     .max = 36500, .scope = C_ABREPORT,
     .help = "with a catalog created_at column, count the new products shown: listed less than D days before the "
     "exposure (default 14, recbuild's)"},
    {.name = "format", .arg = "text|json|html", .type = RC_OPT_CHOICE, .off = O(ab.format), .choices = ab_formats,
     .scope = C_ABREPORT, .help = "output format (default text; --json means json)"},
    {0},
};

struct ctl_command {
    const char *name;
    unsigned bit;
    int (*run)(const struct ctl_config *cfg);
    int min_args, max_args;
    const char *synopsis;
    const char *summary;
};

static int cmd_verify(const struct ctl_config *cfg);
static int cmd_get(const struct ctl_config *cfg);
static int cmd_diff(const struct ctl_config *cfg);
static int cmd_list(const struct ctl_config *cfg);
static int cmd_show(const struct ctl_config *cfg);
static int cmd_current(const struct ctl_config *cfg);
static int cmd_publish(const struct ctl_config *cfg);
static int cmd_rollback(const struct ctl_config *cfg);
static int cmd_prune(const struct ctl_config *cfg);
static int cmd_report(const struct ctl_config *cfg);
static int cmd_abreport(const struct ctl_config *cfg);
static int cmd_overlay(const struct ctl_config *cfg);

static const struct ctl_command ctl_commands[] = {
    {"verify", C_VERIFY, cmd_verify, 0, 1, "verify [--root R] [VERSION|DIR]",
     "check a version completely: manifest, file sizes and checksums, the LMDB env, and every record of every DB "
     "(headers, checksums, entry keys against their ids); default: `current`"},
    {"get", C_GET, cmd_get, 1, 3,
     "get [--root R] [--version V] cookie|product|coview|cookie_b|category|items|catset ID | segment [LOC [DEVICE]] "
     "[--loc L] [--device D]",
     "print one record as JSON: a list (product, score, source per entry), an item, or a category's product set "
     "(its product keys); `*` means any for segments"},
    {"diff", C_DIFF, cmd_diff, 2, 2, "diff [--root R] [--top N] [--examples K] V1 V2",
     "records added, removed and changed per DB from V1 to V2, the mean list overlap of the keys both hold, "
     "and the evaluation metrics side by side"},
    {"list", C_LIST, cmd_list, 0, 0, "list [--root R] [--verify]",
     "versions oldest first with creation time, size, record counts and metrics from each manifest; `*` marks "
     "current; --verify checks each one"},
    {"show", C_SHOW, cmd_show, 0, 1, "show [--root R] [VERSION|DIR]",
     "one version's manifest summary as key=value lines (for scripts) or, with --json, the manifest"},
    {"current", C_CURRENT, cmd_current, 0, 0, "current [--root R]", "print the version `current` points at"},
    {"publish", C_PUBLISH, cmd_publish, 0, 1, "publish [--root R] VERSION | publish [--root R] --from DIR",
     "verify a version, then point `current` at it atomically; with --from, verify DIR, move it into versions/ "
     "and then flip"},
    {"rollback", C_ROLLBACK, cmd_rollback, 0, 0, "rollback [--root R]",
     "point `current` at the newest version older than it that verifies"},
    {"prune", C_PRUNE, cmd_prune, 0, 0, "prune [--root R] --keep K",
     "remove all but the newest K versions (never `current`) and dead build staging directories"},
    {"report", C_REPORT, cmd_report, 0, 1, "report [--root R] [VERSION|DIR] [--compare V] [--out FILE]",
     "one self-contained HTML page: evaluation, lists (popularity bias, coverage, lengths), timings, inputs; "
     "with --compare, what changed (edge/report.h)"},
    {"ab-report", C_ABREPORT, cmd_abreport, 0, 0,
     "ab-report --experiments FILE|VERSION_DIR --log PATH [PATH ...] [--events FILE ...] [--catalog FILE] "
     "[--window-hours H] [--explore-age-days D] [--format text|json|html] [--out FILE]",
     "an experiment's arms from the exposure log and the shop's events: visitors, exposures, clicks, per-visitor "
     "click, cart and purchase rates and revenue, each arm's lift over control with a 95 % interval and p-value, "
     "and the sample-ratio test (edge/abreport.h)"},
    {"overlay", C_OVERLAY, cmd_overlay, 1, 2,
     "overlay [--root R] set [--from FILE|-] | clear | show | verify | flip ID [--from DIR]",
     "suppress products from every answer in seconds: set writes a new overlay from a list of product ids and "
     "flips <root>/overlay, clear empties it, show and verify read it (schemas/overlay.md)"},
};
#define CTL_NCOMMANDS (sizeof(ctl_commands) / sizeof(ctl_commands[0]))

static const struct ctl_command *command_of(unsigned bit)
{
    for (size_t i = 0; i < CTL_NCOMMANDS; i++)
        if (ctl_commands[i].bit == bit)
            return &ctl_commands[i];
    return NULL;
}

static void usage_all(FILE *out)
{
    fprintf(out, "usage: recctl [--root R] [--json] <command> [options] [args]\n\ncommands:\n");
    for (size_t i = 0; i < CTL_NCOMMANDS; i++)
        fprintf(out, "  %-9s %s\n", ctl_commands[i].name, ctl_commands[i].summary);
    fprintf(out, "\n`recctl <command> --help` shows a command's options. `--` ends the options: what follows is\n"
                 "an argument (version ids never start with '-').\n"
                 "exit status: 0 ok, 1 failure (verification failed, not found, I/O error), 2 usage\n");
}

static void usage_cmd(FILE *out, const struct ctl_command *c)
{
    fprintf(out, "usage: recctl %s\n\n%s\n\noptions:\n", c->synopsis, c->summary);
    rc_opt_usage(out, ctl_options, NULL, c->bit, 99);
    fprintf(out, "\nexit status: 0 ok, 1 failure, 2 usage\n");
}

static int usage_error(const struct ctl_command *c, const char *fmt, const char *what)
{
    fprintf(stderr, "recctl: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    if (c)
        fprintf(stderr, "usage: recctl %s\n", c->synopsis);
    else
        fprintf(stderr, "see 'recctl --help'\n");
    return CTL_USAGE;
}

/* The first operand names the command (and narrows the options to its
 * own); the rest are its arguments. */
static int take_operand(void *c, const char *a, unsigned *scope, char *err)
{
    struct ctl_config *cfg = c;
    if (cfg->cmd && cfg->cmd->bit == C_ABREPORT) /* `--log A B C`: the operands are more log paths */
        return re_ab_paths_push(&cfg->ab.logs, a, err);
    if (cfg->cmd) {
        if (cfg->nargs >= CTL_MAX_ARGS)
            return rc_fail(err, RC_ERANGE, "too many arguments at '%s'", a);
        cfg->args[cfg->nargs++] = a;
        return 0;
    }
    if (strcmp(a, "help") == 0) {
        cfg->help = 1;
        return 0;
    }
    for (size_t k = 0; k < CTL_NCOMMANDS; k++)
        if (strcmp(a, ctl_commands[k].name) == 0) {
            cfg->cmd = &ctl_commands[k];
            *scope = cfg->cmd->bit;
            return 0;
        }
    return rc_fail(err, RC_ENOTFOUND, "'%s' is not a recctl command", a);
}

/* ---- small helpers ---- */

static void iso_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Print a finished buffer to stdout; the buffer is released. */
static int emit(struct rc_buf *b)
{
    int rc = CTL_OK;
    if (b->overflow) {
        fprintf(stderr, "recctl: out of memory formatting the output\n");
        rc = CTL_FAIL;
    } else {
        fwrite(b->data, 1, b->len, stdout);
    }
    rc_buf_release(b);
    if (fflush(stdout) != 0)
        rc = CTL_FAIL;
    return rc;
}

static int fail(const char *cmd, const char *fmt, const char *what)
{
    fprintf(stderr, "recctl: %s: ", cmd);
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    return CTL_FAIL;
}

static const char *need_root(const struct ctl_config *cfg)
{
    return cfg->root && *cfg->root ? cfg->root : NULL;
}

/* Serialise a parsed JSON value (the manifest's descriptive sections). */
static void json_emit(struct rc_buf *b, const struct rc_json *j)
{
    switch (j->type) {
    case RC_JSON_NULL: rc_buf_adds(b, "null"); break;
    case RC_JSON_BOOL: rc_buf_adds(b, j->num ? "true" : "false"); break;
    case RC_JSON_NUM:
        if (j->num == (double)(int64_t)j->num && fabs(j->num) < 9e15)
            rc_buf_addf(b, "%" PRId64, (int64_t)j->num);
        else
            rc_buf_addf(b, "%.17g", j->num);
        break;
    case RC_JSON_STR: rc_buf_json_str(b, j->str, j->str_len); break;
    case RC_JSON_ARR:
    case RC_JSON_OBJ:
        rc_buf_adds(b, j->type == RC_JSON_ARR ? "[" : "{");
        for (const struct rc_json *c = j->child; c; c = c->next) {
            if (c != j->child)
                rc_buf_adds(b, ",");
            if (j->type == RC_JSON_OBJ) {
                rc_buf_json_str(b, c->key, strlen(c->key));
                rc_buf_adds(b, ":");
            }
            json_emit(b, c);
        }
        rc_buf_adds(b, j->type == RC_JSON_ARR ? "]" : "}");
        break;
    }
}

/*
 * Resolve VERSION|DIR into a version directory (out, cap bytes).
 *   no arg            -> the version `current` points at (needs a root)
 *   "current"         -> the same
 *   an id, with root  -> <root>/versions/<id>
 *   "DIR/current"     -> DIR/versions/<the id DIR/current points at>
 *   anything else     -> a directory path (an arg with a '/' is always one)
 * Returns 0 or a negative code with a message in err.
 */
static int resolve_dir(const struct ctl_config *cfg, const char *arg, char *out, size_t cap, char *err)
{
    const char *root = need_root(cfg);
    char cur[RC_VERSION_MAX];
    if (!arg || strcmp(arg, "current") == 0) {
        if (!root)
            return rc_fail(err, RC_ENOTFOUND, "no version named and no --root (or $EDGEREC_ROOT) given");
        int rc = rc_layout_current(root, cur, err);
        if (rc)
            return rc;
        arg = cur;
    }
    if (root && !strchr(arg, '/') && rc_version_valid(arg)) {
        if (snprintf(out, cap, "%s/versions/%s", root, arg) >= (int)cap)
            return rc_fail(err, -ENAMETOOLONG, "path for version '%s' is too long", arg);
        struct stat st;
        if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
            return rc_fail(err, RC_ENOTFOUND, "version '%s' does not exist under '%s/versions'", arg, root);
        return 0;
    }
    /* ROOT/current as an operator types it: the version that link names
     * (rc_layout_current checks the link), not the link, whose name is no
     * version's */
    const char *slash = strrchr(arg, '/');
    if (slash && strcmp(slash + 1, "current") == 0) {
        char dir[PATH_MAX];
        size_t len = (size_t)(slash - arg);
        if (len >= sizeof(dir))
            return rc_fail(err, -ENAMETOOLONG, "path '%s' is too long", arg);
        memcpy(dir, arg, len);
        dir[len] = 0;
        int rc = rc_layout_current(len ? dir : "/", cur, err);
        if (rc)
            return rc;
        if (snprintf(out, cap, "%s/versions/%s", dir, cur) >= (int)cap)
            return rc_fail(err, -ENAMETOOLONG, "path for version '%s' is too long", cur);
        return 0;
    }
    if (snprintf(out, cap, "%s", arg) >= (int)cap)
        return rc_fail(err, -ENAMETOOLONG, "path '%s' is too long", arg);
    struct stat st;
    if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
        return rc_fail(err, RC_ENOTFOUND, "'%s' is not a version directory%s", arg,
                       root ? "" : " (give --root to name versions by id)");
    return 0;
}

/* The last path component of dir after resolving it, into out. */
static int dir_basename(const char *dir, char *out, size_t cap)
{
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return -errno;
    const char *slash = strrchr(real, '/');
    snprintf(out, cap, "%s", slash ? slash + 1 : real);
    return 0;
}

/* ---- verification: the whole version, every record ---- */

struct ctl_check {
    char version[RC_VERSION_MAX];
    uint64_t records[RC_DB_COUNT]; /* records walked per DB */
    uint64_t entries;              /* list entries decoded */
    uint64_t bytes;                /* bytes checksummed (files in the manifest) */
    uint64_t bad;                  /* records that failed their checks */
    double ms;
    int nerrors;
    char errors[CTL_ERRORS_SHOWN][RC_ERRMSG_MAX]; /* the first failures, in order */
};

static void check_error(struct ctl_check *chk, const char *msg)
{
    if (chk->nerrors < CTL_ERRORS_SHOWN)
        snprintf(chk->errors[chk->nerrors++], RC_ERRMSG_MAX, "%s", msg);
}

/* rc_version_check reports each fault here. */
static void check_fault(void *ctx, int code, const char *why)
{
    (void)code;
    check_error(ctx, why);
}

/*
 * Verify the version in dir completely (schemas/recctl.md, "verify"):
 * rc_version_check at RC_VERIFY_RECORDS, collecting every fault, with the
 * directory's name as the version it must hold. Fills chk (errors[0] holds
 * the first reason on failure). Returns 0 when it verifies, else a negative
 * code.
 */
static int check_version(const char *dir, struct ctl_check *chk)
{
    memset(chk, 0, sizeof(*chk));
    char base[PATH_MAX];
    struct rc_verify v = {.level = RC_VERIFY_RECORDS, .all_faults = 1, .on_fault = check_fault, .ctx = chk};
    if (dir_basename(dir, base, sizeof(base)) == 0)
        v.expect = base;
    int rc = rc_version_check(NULL, dir, &v, NULL);
    snprintf(chk->version, sizeof(chk->version), "%s", v.version);
    memcpy(chk->records, v.records, sizeof(chk->records));
    chk->entries = v.entries;
    chk->bytes = v.bytes;
    chk->bad = v.bad;
    chk->ms = v.ms;
    return rc;
}

static void check_json(struct rc_buf *b, const char *dir, int rc, const struct ctl_check *chk)
{
    rc_buf_adds(b, "{\"dir\":");
    rc_buf_json_str(b, dir, strlen(dir));
    rc_buf_adds(b, ",\"version\":");
    rc_buf_json_str(b, chk->version, strlen(chk->version));
    rc_buf_addf(b, ",\"ok\":%s,\"records\":{", rc ? "false" : "true");
    for (int i = 0; i < RC_DB_COUNT; i++)
        rc_buf_addf(b, "%s\"%s\":%" PRIu64, i ? "," : "", rc_db_names[i], chk->records[i]);
    rc_buf_addf(b, "},\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"bad_records\":%" PRIu64 ",\"ms\":%.1f", chk->entries,
                chk->bytes, chk->bad, chk->ms);
    rc_buf_adds(b, ",\"errors\":[");
    for (int i = 0; i < chk->nerrors; i++) {
        if (i)
            rc_buf_adds(b, ",");
        rc_buf_json_str(b, chk->errors[i], strlen(chk->errors[i]));
    }
    rc_buf_adds(b, "]}");
}

static void check_report_failure(const char *cmd, const char *dir, const struct ctl_check *chk)
{
    fprintf(stderr, "recctl: %s: '%s' does not verify\n", cmd, dir);
    for (int i = 0; i < chk->nerrors; i++)
        fprintf(stderr, "recctl: %s:   %s\n", cmd, chk->errors[i]);
    if (chk->bad > (uint64_t)chk->nerrors)
        fprintf(stderr, "recctl: %s:   ... %" PRIu64 " bad records in all\n", cmd, chk->bad);
}

static int cmd_verify(const struct ctl_config *cfg)
{
    char dir[PATH_MAX], err[RC_ERRMSG_MAX];
    if (resolve_dir(cfg, cfg->nargs ? cfg->args[0] : NULL, dir, sizeof(dir), err))
        return fail("verify", "%s", err);
    struct ctl_check chk;
    int rc = check_version(dir, &chk);
    struct rc_buf b;
    rc_buf_init(&b);
    if (cfg->json) {
        check_json(&b, dir, rc, &chk);
        rc_buf_adds(&b, "\n");
    } else if (!rc) {
        uint64_t total = 0;
        for (int i = 0; i < RC_DB_COUNT; i++)
            total += chk.records[i];
        rc_buf_addf(&b, "ok %s: %" PRIu64 " records (", chk.version, total);
        for (int i = 0; i < RC_DB_COUNT; i++)
            rc_buf_addf(&b, "%s%s %" PRIu64, i ? ", " : "", rc_db_names[i], chk.records[i]);
        rc_buf_addf(&b, "), %" PRIu64 " list entries, %" PRIu64 " bytes checked in %.0f ms\n", chk.entries, chk.bytes,
                    chk.ms);
    }
    if (rc)
        check_report_failure("verify", dir, &chk);
    int out = emit(&b);
    return rc ? CTL_FAIL : out;
}

/* ---- get ---- */

static int parse_key_hex(const char *s, uint64_t *out)
{
    if (strncmp(s, "0x", 2) == 0)
        s += 2;
    if (strlen(s) == 0 || strlen(s) > 16)
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 16);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static void list_json(struct rc_buf *b, struct rc_list *list)
{
    struct rc_entry e;
    const char *src = rc_source_name(list->source);
    rc_buf_addf(b, ",\"source\":\"%s\",\"count\":%u,\"items\":[", src, list->count);
    for (unsigned i = 0; rc_list_next(list, &e); i++) {
        rc_buf_adds(b, i ? ",\n  {\"product\":" : "\n  {\"product\":");
        rc_buf_json_str(b, e.id, e.id_len);
        rc_buf_adds(b, ",\"score\":");
        rc_buf_add_float(b, e.score);
        rc_buf_addf(b, ",\"source\":\"%s\"}", src);
    }
    rc_buf_adds(b, list->count ? "\n]" : "]");
}

static int cmd_get(const struct ctl_config *cfg)
{
    const struct ctl_command *self = command_of(C_GET);
    const char *what = cfg->args[0];
    int db = -1;
    for (int i = 0; i < RC_DB_COUNT; i++)
        if (strcmp(what, rc_db_names[i]) == 0)
            db = i;
    if (db < 0)
        return usage_error(self, "get: '%s' is not cookie, product, segment, coview, cookie_b, category, items or "
                           "catset", what);

    uint64_t key;
    const char *id = NULL;
    char label[2 * RC_ID_MAX + 8];
    if (cfg->key_hex) {
        if (cfg->nargs > 1 || cfg->loc || cfg->device)
            return usage_error(self, "get: %s", "--key replaces the id; give one or the other");
        if (parse_key_hex(cfg->key_hex, &key))
            return usage_error(self, "get: --key wants up to 16 hex digits, not '%s'", cfg->key_hex);
        label[0] = 0;
    } else if (db == RC_DB_SEGMENT) {
        const char *loc = cfg->nargs > 1 ? cfg->args[1] : (cfg->loc ? cfg->loc : RC_WILDCARD);
        const char *dev = cfg->nargs > 2 ? cfg->args[2] : (cfg->device ? cfg->device : RC_WILDCARD);
        if ((cfg->nargs > 1 && cfg->loc) || (cfg->nargs > 2 && cfg->device))
            return usage_error(self, "get: %s", "give the segment as LOC DEVICE or as --loc/--device, not both");
        if (!*loc || !*dev || strlen(loc) > RC_ID_MAX || strlen(dev) > RC_ID_MAX)
            return usage_error(self, "get: %s", "segment location and device are 1..256 bytes");
        key = rc_segment_key(loc, strlen(loc), dev, strlen(dev));
        snprintf(label, sizeof(label), "%s/%s", loc, dev);
        id = label;
    } else {
        if (cfg->nargs != 2 || cfg->loc || cfg->device)
            return usage_error(self, "get: %s wants exactly one ID (and no --loc/--device)", what);
        id = cfg->args[1];
        if (!*id || strlen(id) > RC_ID_MAX)
            return usage_error(self, "get: %s", "ids are 1..256 bytes");
        key = rc_key(id, strlen(id));
    }

    char dir[PATH_MAX], err[RC_ERRMSG_MAX];
    if (!need_root(cfg))
        return usage_error(self, "get: %s", "needs --root (or $EDGEREC_ROOT)");
    if (resolve_dir(cfg, cfg->version, dir, sizeof(dir), err))
        return fail("get", "%s", err);
    /* No checksum pass here: a published version was verified before it
     * became current; `recctl verify` checks it again on demand. */
    struct rc_cache c;
    int rc = rc_version_open(&c, dir, RC_VERIFY_OPEN, err);
    if (rc)
        return fail("get", "%s", err);
    MDB_txn *txn;
    MDB_val v;
    int out = CTL_FAIL;
    if ((rc = rc_lmdb(mdb_txn_begin(c.env, NULL, MDB_RDONLY, &txn))) != 0) {
        snprintf(err, sizeof(err), "unable to read '%s': %s", dir, rc_strerror(rc));
        fail("get", "%s", err);
        goto close;
    }
    rc = rc_cache_get(&c, txn, (enum rc_db)db, key, &v);
    if (rc == MDB_NOTFOUND) {
        snprintf(err, sizeof(err), "%s '%s' (key %016" PRIx64 ") not found in version %s", what, id ? id : "",
                 key, c.manifest.version);
        fail("get", "%s", err);
        goto abort;
    }
    if (rc) {
        snprintf(err, sizeof(err), "unable to read '%s': %s", dir, rc_strerror(rc));
        fail("get", "%s", err);
        goto abort;
    }

    struct rc_buf b;
    rc_buf_init(&b);
    rc_buf_adds(&b, "{\"version\":");
    rc_buf_json_str(&b, c.manifest.version, strlen(c.manifest.version));
    rc_buf_addf(&b, ",\"db\":\"%s\"", what);
    if (id) {
        rc_buf_adds(&b, ",\"id\":");
        rc_buf_json_str(&b, id, strlen(id));
    }
    rc_buf_addf(&b, ",\"key\":\"%016" PRIx64 "\"", key);
    if (db == RC_DB_ITEMS) {
        struct rc_item item;
        if ((rc = rc_item_decode(&item, v.mv_data, v.mv_size, err)) != 0) {
            rc_buf_release(&b);
            fail("get", "%s", err);
            goto abort;
        }
        rc_buf_adds(&b, ",\"product\":");
        rc_buf_json_str(&b, item.id, item.id_len);
        rc_buf_adds(&b, ",\"category\":");
        rc_buf_json_str(&b, item.cat, item.cat_len);
        rc_buf_addf(&b, ",\"in_stock\":%s", item.flags & RC_ITEM_IN_STOCK ? "true" : "false");
        /* display fields: their stored JSON texts (checked by the decode) */
        for (int f = 0; f < RC_FIELD_COUNT; f++)
            if (item.field[f].len) {
                rc_buf_addf(&b, ",\"%s\":", rc_field_name(f));
                rc_buf_add(&b, item.field[f].p, item.field[f].len);
            }
    } else if (db == RC_DB_CATSET) {
        struct rc_catset set;
        if ((rc = rc_catset_check(v.mv_data, v.mv_size, err)) != 0 ||
            (rc = rc_catset_open(&set, v.mv_data, v.mv_size)) != 0) {
            rc_buf_release(&b);
            fail("get", "%s", err);
            goto abort;
        }
        rc_buf_addf(&b, ",\"count\":%" PRIu32 ",\"keys\":[", set.count);
        for (uint32_t i = 0; i < set.count; i++) /* keys only: the items DB names them */
            rc_buf_addf(&b, "%s\"%016" PRIx64 "\"", i ? (i % 4 ? "," : ",\n  ") : "\n  ", rc_catset_key(&set, i));
        rc_buf_adds(&b, set.count ? "\n]" : "]");
    } else {
        struct rc_list list;
        if ((rc = rc_list_open(&list, v.mv_data, v.mv_size, RC_DECODE_VERIFY, err)) != 0) {
            rc_buf_release(&b);
            fail("get", "%s", err);
            goto abort;
        }
        list_json(&b, &list);
    }
    rc_buf_adds(&b, "}\n");
    out = emit(&b);
abort:
    mdb_txn_abort(txn);
close:
    rc_cache_close(&c);
    return out;
}

/* ---- diff ---- */

struct ctl_diff_db {
    uint64_t n1, n2, added, removed, changed, unchanged;
    uint64_t undecodable; /* common keys whose list did not decode */
    double jaccard_sum, overlap_sum;
    uint64_t overlap_n; /* common keys averaged */
    struct rc_buf ex_added, ex_removed, ex_changed;
    uint64_t nex_added, nex_removed, nex_changed;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* |A∩B| for two sorted arrays of distinct-or-repeated keys (repeats count once). */
static size_t intersect_sorted(const uint64_t *a, size_t na, const uint64_t *b, size_t nb, size_t *uni)
{
    size_t i = 0, j = 0, both = 0, all = 0;
    while (i < na || j < nb) {
        uint64_t x;
        if (j >= nb || (i < na && a[i] < b[j])) {
            x = a[i++];
        } else if (i >= na || b[j] < a[i]) {
            x = b[j++];
        } else {
            x = a[i];
            both++;
            i++;
            j++;
        }
        all++;
        while (i < na && a[i] == x)
            i++;
        while (j < nb && b[j] == x)
            j++;
    }
    *uni = all;
    return both;
}

static size_t list_keys(struct rc_list *l, uint64_t *out, size_t limit)
{
    struct rc_entry e;
    size_t n = 0;
    rc_list_rewind(l);
    while (n < limit && rc_list_next(l, &e))
        out[n++] = e.key;
    qsort(out, n, sizeof(out[0]), cmp_u64);
    return n;
}

/* Ratio of two set sizes, 1 when both sets are empty. */
static double ratio(size_t num, size_t den)
{
    return den ? (double)num / (double)den : 1.0;
}

/*
 * Jaccard |A∩B|/|A∪B| of the two whole lists and overlap@top
 * |A_top ∩ B_top| / max(|A_top|, |B_top|) of their first `top` entries.
 */
static int list_overlap(const MDB_val *v1, const MDB_val *v2, size_t top, double *jaccard, double *overlap)
{
    static uint64_t a[RC_LIST_MAX], b[RC_LIST_MAX];
    struct rc_list l1, l2;
    if (rc_list_open(&l1, v1->mv_data, v1->mv_size, 0, NULL) || rc_list_open(&l2, v2->mv_data, v2->mv_size, 0, NULL))
        return -1;
    size_t uni, na = list_keys(&l1, a, RC_LIST_MAX), nb = list_keys(&l2, b, RC_LIST_MAX);
    size_t both = intersect_sorted(a, na, b, nb, &uni);
    *jaccard = ratio(both, uni);
    na = list_keys(&l1, a, top);
    nb = list_keys(&l2, b, top);
    both = intersect_sorted(a, na, b, nb, &uni);
    *overlap = ratio(both, na > nb ? na : nb);
    return 0;
}

static void diff_example(struct rc_buf *ex, uint64_t *n, long limit, uint64_t key)
{
    if ((long)*n < limit)
        rc_buf_addf(ex, "%s\"%016" PRIx64 "\"", *n ? "," : "", key);
    (*n)++;
}

static int diff_db(const struct rc_cache *c1, MDB_txn *t1, const struct rc_cache *c2, MDB_txn *t2, int db,
                   const struct ctl_config *cfg, struct ctl_diff_db *d)
{
    MDB_cursor *k1 = NULL, *k2 = NULL; /* NULL: the version lacks this (optional) DB, which reads as empty */
    int rc = c1->absent >> db & 1u ? 0 : rc_lmdb(mdb_cursor_open(t1, c1->dbi[db], &k1));
    if (rc)
        return rc;
    if (!(c2->absent >> db & 1u) && (rc = rc_lmdb(mdb_cursor_open(t2, c2->dbi[db], &k2))) != 0) {
        mdb_cursor_close(k1);
        return rc;
    }
    MDB_val a_k, a_v, b_k, b_v;
    int ra = k1 ? mdb_cursor_get(k1, &a_k, &a_v, MDB_FIRST) : MDB_NOTFOUND;
    int rb = k2 ? mdb_cursor_get(k2, &b_k, &b_v, MDB_FIRST) : MDB_NOTFOUND;
    while (ra == 0 || rb == 0) {
        uint64_t ka = 0, kb = 0;
        if (ra == 0)
            memcpy(&ka, a_k.mv_data, sizeof(ka));
        if (rb == 0)
            memcpy(&kb, b_k.mv_data, sizeof(kb));
        if (rb != 0 || (ra == 0 && ka < kb)) {
            d->n1++;
            diff_example(&d->ex_removed, &d->nex_removed, cfg->examples, ka);
            d->removed++;
            ra = mdb_cursor_get(k1, &a_k, &a_v, MDB_NEXT);
        } else if (ra != 0 || kb < ka) {
            d->n2++;
            diff_example(&d->ex_added, &d->nex_added, cfg->examples, kb);
            d->added++;
            rb = mdb_cursor_get(k2, &b_k, &b_v, MDB_NEXT);
        } else {
            d->n1++;
            d->n2++;
            int same = a_v.mv_size == b_v.mv_size && memcmp(a_v.mv_data, b_v.mv_data, a_v.mv_size) == 0;
            if (same) {
                d->unchanged++;
            } else {
                d->changed++;
                diff_example(&d->ex_changed, &d->nex_changed, cfg->examples, ka);
            }
            if (RC_DB_IS_LIST(db)) {
                double j = 1, o = 1;
                if (!same && list_overlap(&a_v, &b_v, (size_t)cfg->top, &j, &o) != 0) {
                    d->undecodable++;
                    j = o = 0;
                }
                d->jaccard_sum += j;
                d->overlap_sum += o;
                d->overlap_n++;
            }
            ra = mdb_cursor_get(k1, &a_k, &a_v, MDB_NEXT);
            rb = mdb_cursor_get(k2, &b_k, &b_v, MDB_NEXT);
        }
    }
    if (k1)
        mdb_cursor_close(k1);
    if (k2)
        mdb_cursor_close(k2);
    if (ra != MDB_NOTFOUND)
        return rc_lmdb(ra);
    if (rb != MDB_NOTFOUND)
        return rc_lmdb(rb);
    return 0;
}

static void diff_eval_json(struct rc_buf *b, const struct rc_json *e1, const struct rc_json *e2)
{
    rc_buf_adds(b, "{");
    int first = 1;
    for (const struct rc_json *m = e1 ? e1->child : NULL; m; m = m->next) {
        double y;
        if (m->type != RC_JSON_NUM || rc_json_get_num(e2, m->key, &y) != 0)
            continue;
        rc_buf_adds(b, first ? "" : ",");
        first = 0;
        rc_buf_json_str(b, m->key, strlen(m->key));
        rc_buf_adds(b, ":{\"from\":");
        rc_buf_add_float(b, m->num);
        rc_buf_adds(b, ",\"to\":");
        rc_buf_add_float(b, y);
        rc_buf_adds(b, "}");
    }
    rc_buf_adds(b, "}");
}

static void diff_eval_text(struct rc_buf *b, const struct rc_json *e1, const struct rc_json *e2)
{
    int any = 0;
    for (const struct rc_json *m = e1 ? e1->child : NULL; m; m = m->next) {
        double y;
        if (m->type != RC_JSON_NUM || rc_json_get_num(e2, m->key, &y) != 0)
            continue;
        rc_buf_addf(b, "%s%s %.4g -> %.4g (%+.4g)", any ? ", " : "evaluation: ", m->key, m->num, y, y - m->num);
        any = 1;
    }
    rc_buf_adds(b, any ? "\n" : "evaluation: not in both manifests\n");
}

static int cmd_diff(const struct ctl_config *cfg)
{
    char d1[PATH_MAX], d2[PATH_MAX], err[RC_ERRMSG_MAX];
    if (resolve_dir(cfg, cfg->args[0], d1, sizeof(d1), err) || resolve_dir(cfg, cfg->args[1], d2, sizeof(d2), err))
        return fail("diff", "%s", err);
    struct rc_cache c1, c2;
    /* Both are read end to end, so check their files first: LMDB trusts its
     * pages, and a damaged file must fail here rather than mislead. */
    if (rc_version_open(&c1, d1, RC_VERIFY_FILES, err))
        return fail("diff", "%s", err);
    if (rc_version_open(&c2, d2, RC_VERIFY_FILES, err)) {
        rc_cache_close(&c1);
        return fail("diff", "%s", err);
    }
    MDB_txn *t1 = NULL, *t2 = NULL;
    struct ctl_diff_db dbs[RC_DB_COUNT];
    memset(dbs, 0, sizeof(dbs));
    int out = CTL_FAIL, rc = rc_lmdb(mdb_txn_begin(c1.env, NULL, MDB_RDONLY, &t1));
    if (!rc)
        rc = rc_lmdb(mdb_txn_begin(c2.env, NULL, MDB_RDONLY, &t2));
    for (int db = 0; db < RC_DB_COUNT; db++) {
        rc_buf_init(&dbs[db].ex_added);
        rc_buf_init(&dbs[db].ex_removed);
        rc_buf_init(&dbs[db].ex_changed);
        if (!rc)
            rc = diff_db(&c1, t1, &c2, t2, db, cfg, &dbs[db]);
    }
    if (rc) {
        snprintf(err, sizeof(err), "unable to compare '%s' and '%s': %s", d1, d2, rc_strerror(rc));
        fail("diff", "%s", err);
        goto out;
    }

    const struct rc_json *e1 = rc_json_get(c1.manifest.doc, "evaluation");
    const struct rc_json *e2 = rc_json_get(c2.manifest.doc, "evaluation");
    struct rc_buf b;
    rc_buf_init(&b);
    if (cfg->json) {
        rc_buf_adds(&b, "{\"from\":");
        rc_buf_json_str(&b, c1.manifest.version, strlen(c1.manifest.version));
        rc_buf_adds(&b, ",\"to\":");
        rc_buf_json_str(&b, c2.manifest.version, strlen(c2.manifest.version));
        rc_buf_addf(&b, ",\"top\":%ld,\"dbs\":{", cfg->top);
        for (int db = 0; db < RC_DB_COUNT; db++) {
            const struct ctl_diff_db *d = &dbs[db];
            rc_buf_addf(&b,
                        "%s\n \"%s\":{\"from\":%" PRIu64 ",\"to\":%" PRIu64 ",\"added\":%" PRIu64
                        ",\"removed\":%" PRIu64 ",\"changed\":%" PRIu64 ",\"unchanged\":%" PRIu64,
                        db ? "," : "", rc_db_names[db], d->n1, d->n2, d->added, d->removed, d->changed, d->unchanged);
            if (RC_DB_IS_LIST(db)) {
                rc_buf_addf(&b, ",\"undecodable\":%" PRIu64 ",\"jaccard\":", d->undecodable);
                rc_buf_add_float(&b, d->overlap_n ? d->jaccard_sum / (double)d->overlap_n : NAN);
                rc_buf_adds(&b, ",\"overlap_at_top\":");
                rc_buf_add_float(&b, d->overlap_n ? d->overlap_sum / (double)d->overlap_n : NAN);
            }
            if (cfg->examples)
                rc_buf_addf(&b, ",\"examples\":{\"added\":[%s],\"removed\":[%s],\"changed\":[%s]}",
                            rc_buf_cstr(&dbs[db].ex_added), rc_buf_cstr(&dbs[db].ex_removed),
                            rc_buf_cstr(&dbs[db].ex_changed));
            rc_buf_adds(&b, "}");
        }
        rc_buf_adds(&b, "},\n \"evaluation\":");
        diff_eval_json(&b, e1, e2);
        rc_buf_adds(&b, "}\n");
    } else {
        rc_buf_addf(&b, "diff %s -> %s\n", c1.manifest.version, c2.manifest.version);
        rc_buf_addf(&b, "%-8s %10s %10s %9s %9s %9s %10s %8s %8s\n", "db", "from", "to", "added", "removed", "changed",
                    "unchanged", "jaccard", "overlap");
        for (int db = 0; db < RC_DB_COUNT; db++) {
            const struct ctl_diff_db *d = &dbs[db];
            rc_buf_addf(&b, "%-8s %10" PRIu64 " %10" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %10" PRIu64,
                        rc_db_names[db], d->n1, d->n2, d->added, d->removed, d->changed, d->unchanged);
            if (RC_DB_IS_LIST(db) && d->overlap_n)
                rc_buf_addf(&b, " %8.4f %8.4f\n", d->jaccard_sum / (double)d->overlap_n,
                            d->overlap_sum / (double)d->overlap_n);
            else
                rc_buf_addf(&b, " %8s %8s\n", "-", "-");
            if (cfg->examples) {
                const char *kinds[3] = {"added", "removed", "changed"};
                const struct rc_buf *ex[3] = {&d->ex_added, &d->ex_removed, &d->ex_changed};
                for (int i = 0; i < 3; i++)
                    if (ex[i]->len)
                        rc_buf_addf(&b, "  %s: %.*s\n", kinds[i], (int)ex[i]->len, ex[i]->data);
            }
        }
        rc_buf_addf(&b,
                    "jaccard: mean |A∩B|/|A∪B| of the two lists' products over the keys both versions hold; "
                    "overlap: the same mean of |A∩B|/max(|A|,|B|) over each list's first %ld entries\n",
                    cfg->top);
        diff_eval_text(&b, e1, e2);
    }
    out = emit(&b);
out:
    for (int db = 0; db < RC_DB_COUNT; db++) {
        rc_buf_release(&dbs[db].ex_added);
        rc_buf_release(&dbs[db].ex_removed);
        rc_buf_release(&dbs[db].ex_changed);
    }
    if (t1)
        mdb_txn_abort(t1);
    if (t2)
        mdb_txn_abort(t2);
    rc_cache_close(&c1);
    rc_cache_close(&c2);
    return out;
}

/* ---- list, show, current ---- */

static uint64_t dir_bytes(const char *dir, const struct rc_manifest *m)
{
    uint64_t total = 0;
    const char *names[RC_MANIFEST_FILES_MAX + 1];
    unsigned n = 0;
    for (unsigned i = 0; m && i < m->nfiles; i++)
        names[n++] = m->files[i].name;
    names[n++] = RC_MANIFEST_NAME;
    for (unsigned i = 0; i < n; i++) {
        char p[PATH_MAX];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        if (stat(p, &st) == 0)
            total += (uint64_t)st.st_size;
    }
    return total;
}

static int cmd_list(const struct ctl_config *cfg)
{
    const char *root = need_root(cfg);
    if (!root)
        return usage_error(command_of(C_LIST), "list: %s", "needs --root (or $EDGEREC_ROOT)");
    char (*v)[RC_VERSION_MAX];
    size_t n;
    char err[RC_ERRMSG_MAX], cur[RC_VERSION_MAX] = "";
    if (rc_layout_list(root, &v, &n, err))
        return fail("list", "%s", err);
    int has_cur = rc_layout_current(root, cur, NULL) == 0;
    int failed = 0;
    struct rc_buf b, notes;
    rc_buf_init(&b);
    rc_buf_init(&notes);
    if (cfg->json) {
        rc_buf_adds(&b, "{\"root\":");
        rc_buf_json_str(&b, root, strlen(root));
        rc_buf_adds(&b, ",\"current\":");
        if (has_cur)
            rc_buf_json_str(&b, cur, strlen(cur));
        else
            rc_buf_adds(&b, "null");
        rc_buf_adds(&b, ",\"versions\":[");
    } else {
        rc_buf_addf(&b, "  %-22s %-20s %12s %9s %9s %7s %9s %9s %7s %7s %7s  %s\n", "VERSION", "CREATED", "BYTES",
                    "COOKIE", "PRODUCT", "SEGMENT", "COVIEW", "ITEMS", "HR", "NDCG", "LIFT", "STATE");
    }
    for (size_t i = 0; i < n; i++) {
        char dir[PATH_MAX], when[32] = "-";
        snprintf(dir, sizeof(dir), "%s/versions/%s", root, v[i]);
        struct rc_manifest m;
        int mrc = rc_manifest_read(dir, &m, err);
        int is_cur = has_cur && strcmp(v[i], cur) == 0;
        const char *state = "-";
        struct ctl_check chk;
        chk.nerrors = 0;
        if (mrc) {
            state = "bad-manifest";
            failed = 1;
            memset(&m, 0, sizeof(m));
            rc_buf_addf(&notes, "%s: %s\n", v[i], err);
        } else if (cfg->verify) {
            if (check_version(dir, &chk) == 0) {
                state = "ok";
            } else {
                state = "failed";
                failed = 1;
                for (int e = 0; e < chk.nerrors; e++)
                    rc_buf_addf(&notes, "%s: %s\n", v[i], chk.errors[e]);
            }
        }
        if (!mrc)
            iso_time(m.created_at, when);
        uint64_t bytes = dir_bytes(dir, mrc ? NULL : &m);
        /* lift is recbuild's ndcg / pop_ndcg, absent when pop_ndcg is 0 or the manifest predates it */
        double hr = NAN, ndcg = NAN, lift = NAN;
        const struct rc_json *ev = mrc ? NULL : rc_json_get(m.doc, "evaluation");
        (void)rc_json_get_num(ev, "hr", &hr);
        (void)rc_json_get_num(ev, "ndcg", &ndcg);
        (void)rc_json_get_num(ev, "lift", &lift);
        if (cfg->json) {
            rc_buf_adds(&b, i ? ",\n {\"version\":" : "\n {\"version\":");
            rc_buf_json_str(&b, v[i], strlen(v[i]));
            rc_buf_addf(&b, ",\"current\":%s,\"state\":\"%s\"", is_cur ? "true" : "false",
                        cfg->verify || mrc ? state : "unverified");
            if (!mrc) {
                rc_buf_addf(&b, ",\"created_at\":%" PRId64 ",\"created_at_iso\":\"%s\",\"bytes\":%" PRIu64
                                ",\"counts\":{",
                            m.created_at, when, bytes);
                for (int d = 0; d < RC_DB_COUNT; d++)
                    rc_buf_addf(&b, "%s\"%s\":%" PRIu64, d ? "," : "", rc_db_names[d], m.counts[d]);
                rc_buf_adds(&b, "}");
                if (ev) {
                    rc_buf_adds(&b, ",\"evaluation\":");
                    json_emit(&b, ev);
                }
            }
            if (mrc || (cfg->verify && chk.nerrors)) {
                const char *msg = mrc ? err : chk.errors[0];
                rc_buf_adds(&b, ",\"error\":");
                rc_buf_json_str(&b, msg, strlen(msg));
            }
            rc_buf_adds(&b, "}");
        } else {
            char c[RC_DB_COUNT][24], h[16] = "-", g[16] = "-", l[16] = "-";
            for (int d = 0; d < RC_DB_COUNT; d++) /* in enum rc_db's order, as the header */
                snprintf(c[d], sizeof(c[d]), mrc ? "-" : "%" PRIu64, m.counts[d]);
            if (!isnan(hr))
                snprintf(h, sizeof(h), "%.4f", hr);
            if (!isnan(ndcg))
                snprintf(g, sizeof(g), "%.4f", ndcg);
            if (!isnan(lift))
                snprintf(l, sizeof(l), "%.3f", lift);
            rc_buf_addf(&b, "%c %-22s %-20s %12" PRIu64 " %9s %9s %7s %9s %9s %7s %7s %7s  %s%s\n",
                        is_cur ? '*' : ' ', v[i], when, bytes, c[RC_DB_COOKIE], c[RC_DB_PRODUCT], c[RC_DB_SEGMENT],
                        c[RC_DB_COVIEW], c[RC_DB_ITEMS], h, g, l, state, is_cur ? " current" : "");
        }
        rc_manifest_release(&m);
    }
    if (cfg->json) {
        rc_buf_adds(&b, n ? "\n]}\n" : "]}\n");
    } else {
        if (!n)
            rc_buf_addf(&b, "(no versions under '%s/versions')\n", root);
        if (!has_cur)
            rc_buf_addf(&b, "(no `current` under '%s')\n", root);
        if (notes.len)
            rc_buf_add(&b, notes.data, notes.len);
    }
    rc_buf_release(&notes);
    free(v);
    int out = emit(&b);
    return failed ? CTL_FAIL : out;
}

/*
 * One scalar member of a manifest section as a `section.key=value` line:
 * numbers as %.10g, booleans as true/false, strings as they are with each
 * control character made a space (one line each; the value is everything
 * after the first '='). Objects, arrays and nulls are left out.
 */
static void show_member(struct rc_buf *b, const char *section, const struct rc_json *e)
{
    switch (e->type) {
    case RC_JSON_NUM: rc_buf_addf(b, "%s.%s=%.10g\n", section, e->key, e->num); break;
    case RC_JSON_BOOL: rc_buf_addf(b, "%s.%s=%s\n", section, e->key, e->num ? "true" : "false"); break;
    case RC_JSON_STR:
        rc_buf_addf(b, "%s.%s=", section, e->key);
        for (size_t i = 0; i < e->str_len; i++) {
            unsigned char c = (unsigned char)e->str[i];
            rc_buf_add(b, c < 0x20 || c == 0x7f ? " " : &e->str[i], 1);
        }
        rc_buf_adds(b, "\n");
        break;
    default: break;
    }
}

static int cmd_show(const struct ctl_config *cfg)
{
    char dir[PATH_MAX], err[RC_ERRMSG_MAX];
    if (resolve_dir(cfg, cfg->nargs ? cfg->args[0] : NULL, dir, sizeof(dir), err))
        return fail("show", "%s", err);
    struct rc_manifest m;
    if (rc_manifest_read(dir, &m, err))
        return fail("show", "%s", err);
    struct rc_buf b;
    rc_buf_init(&b);
    if (cfg->json) {
        json_emit(&b, m.doc);
        rc_buf_adds(&b, "\n");
    } else {
        char when[32];
        iso_time(m.created_at, when);
        rc_buf_addf(&b, "version=%s\ncreated_at=%" PRId64 "\ncreated_at_iso=%s\nbytes=%" PRIu64 "\n", m.version,
                    m.created_at, when, dir_bytes(dir, &m));
        for (int d = 0; d < RC_DB_COUNT; d++)
            rc_buf_addf(&b, "count.%s=%" PRIu64 "\n", rc_db_names[d], m.counts[d]);
        const char *sections[] = {"evaluation", "counts_dropped", "rules", "exploration"};
        for (int s = 0; s < 4; s++) {
            const struct rc_json *sec = rc_json_get(m.doc, sections[s]);
            for (const struct rc_json *e = sec && sec->type == RC_JSON_OBJ ? sec->child : NULL; e; e = e->next)
                show_member(&b, sections[s], e);
        }
        const char *device = rc_json_get_str(m.doc, "device");
        if (device)
            rc_buf_addf(&b, "device=%s\n", device);
    }
    rc_manifest_release(&m);
    return emit(&b);
}

static int cmd_current(const struct ctl_config *cfg)
{
    const char *root = need_root(cfg);
    if (!root)
        return usage_error(command_of(C_CURRENT), "current: %s", "needs --root (or $EDGEREC_ROOT)");
    char cur[RC_VERSION_MAX], err[RC_ERRMSG_MAX];
    if (rc_layout_current(root, cur, err))
        return fail("current", "%s", err);
    struct rc_buf b;
    rc_buf_init(&b);
    if (cfg->json) {
        rc_buf_adds(&b, "{\"current\":");
        rc_buf_json_str(&b, cur, strlen(cur));
        rc_buf_adds(&b, "}\n");
    } else {
        rc_buf_addf(&b, "%s\n", cur);
    }
    return emit(&b);
}

/* ---- publish, rollback, prune ---- */

static void action_report(const struct ctl_config *cfg, const char *action, const char *version, const char *previous,
                          const char *text)
{
    struct rc_buf b;
    rc_buf_init(&b);
    if (cfg->json) {
        rc_buf_addf(&b, "{\"action\":\"%s\",\"version\":", action);
        rc_buf_json_str(&b, version, strlen(version));
        rc_buf_adds(&b, ",\"previous\":");
        if (previous && *previous)
            rc_buf_json_str(&b, previous, strlen(previous));
        else
            rc_buf_adds(&b, "null");
        rc_buf_adds(&b, "}\n");
    } else {
        rc_buf_addf(&b, "%s\n", text);
    }
    (void)emit(&b);
}

/*
 * Install an incoming directory as root/versions/<its version>: it must
 * verify, be on root's file system (a rename), and not clash with a
 * different version of the same name. When the version is already
 * installed and verifies, the incoming copy is dropped.
 */
static int install_from(const char *root, const char *from, char version[RC_VERSION_MAX])
{
    struct ctl_check chk;
    char err[RC_ERRMSG_MAX];
    if (check_version(from, &chk) != 0) {
        check_report_failure("publish", from, &chk);
        return CTL_FAIL;
    }
    snprintf(version, RC_VERSION_MAX, "%s", chk.version);
    if (rc_layout_init(root, err))
        return fail("publish", "%s", err);
    char dest[PATH_MAX];
    snprintf(dest, sizeof(dest), "%s/versions/%s", root, version);
    struct stat st;
    if (lstat(dest, &st) == 0) {
        struct ctl_check have;
        if (check_version(dest, &have) != 0) {
            check_report_failure("publish", dest, &have);
            return fail("publish", "%s", "an installed copy of this version does not verify; remove it first");
        }
        if (rc_version_remove_dir(from, version, err))
            fprintf(stderr, "recctl: publish: %s\n", err);
        return CTL_OK;
    }
    if (rc_layout_publish(root, from, version, err))
        return fail("publish", "%s", err);
    return CTL_OK;
}

static int cmd_publish(const struct ctl_config *cfg)
{
    const struct ctl_command *self = command_of(C_PUBLISH);
    const char *root = need_root(cfg);
    if (!root)
        return usage_error(self, "publish: %s", "needs --root (or $EDGEREC_ROOT)");
    if (!!cfg->from == !!cfg->nargs)
        return usage_error(self, "publish: %s", "name one VERSION or give --from DIR");
    char version[RC_VERSION_MAX], dir[PATH_MAX], err[RC_ERRMSG_MAX], prev[RC_VERSION_MAX] = "";
    (void)rc_layout_current(root, prev, NULL);
    int verified = 0;
    if (cfg->from) {
        int rc = install_from(root, cfg->from, version);
        if (rc)
            return rc;
        verified = 1;
    } else {
        const char *arg = cfg->args[0];
        if (strchr(arg, '/') || !rc_version_valid(arg))
            return usage_error(self, "publish: '%s' is not a version id (use --from for a directory)", arg);
        snprintf(version, sizeof(version), "%s", arg);
    }
    if (resolve_dir(cfg, version, dir, sizeof(dir), err))
        return fail("publish", "%s", err);
    if (!verified) {
        struct ctl_check chk;
        if (check_version(dir, &chk) != 0) {
            check_report_failure("publish", dir, &chk);
            return fail("publish", "%s", "not published; `current` is unchanged");
        }
    }
    if (rc_layout_init(root, err)) /* a root from before the marker gets it here */
        return fail("publish", "%s", err);
    char text[256];
    if (strcmp(prev, version) == 0) {
        snprintf(text, sizeof(text), "%s is already current", version);
        action_report(cfg, "publish", version, prev, text);
        return CTL_OK;
    }
    if (rc_layout_flip(root, version, err))
        return fail("publish", "%s", err);
    snprintf(text, sizeof(text), "published %s (previous %s)", version, *prev ? prev : "none");
    action_report(cfg, "publish", version, prev, text);
    return CTL_OK;
}

static int cmd_rollback(const struct ctl_config *cfg)
{
    const char *root = need_root(cfg);
    if (!root)
        return usage_error(command_of(C_ROLLBACK), "rollback: %s", "needs --root (or $EDGEREC_ROOT)");
    char cur[RC_VERSION_MAX], err[RC_ERRMSG_MAX];
    if (rc_layout_current(root, cur, err))
        return fail("rollback", "%s", err);
    char (*v)[RC_VERSION_MAX];
    size_t n;
    if (rc_layout_list(root, &v, &n, err))
        return fail("rollback", "%s", err);
    size_t pos = n;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], cur) == 0)
            pos = i;
    if (pos == n) {
        free(v);
        return fail("rollback", "`current` points at '%s', which is not under versions/", cur);
    }
    int out = CTL_FAIL;
    for (size_t i = pos; i-- > 0;) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/versions/%s", root, v[i]);
        struct ctl_check chk;
        if (check_version(dir, &chk) != 0) {
            fprintf(stderr, "recctl: rollback: skipping %s: %s\n", v[i], chk.nerrors ? chk.errors[0] : "failed");
            continue;
        }
        if (rc_layout_flip(root, v[i], err)) {
            fail("rollback", "%s", err);
            break;
        }
        char text[256];
        snprintf(text, sizeof(text), "rolled back from %s to %s", cur, v[i]);
        action_report(cfg, "rollback", v[i], cur, text);
        out = CTL_OK;
        break;
    }
    if (out && pos == 0)
        fail("rollback", "no version older than %s; `current` is unchanged", cur);
    else if (out)
        fail("rollback", "no version older than %s verifies; `current` is unchanged", cur);
    free(v);
    return out;
}

static int cmd_prune(const struct ctl_config *cfg)
{
    const struct ctl_command *self = command_of(C_PRUNE);
    const char *root = need_root(cfg);
    if (!root)
        return usage_error(self, "prune: %s", "needs --root (or $EDGEREC_ROOT)");
    if (cfg->keep < 1)
        return usage_error(self, "prune: %s", "needs --keep K (K >= 1)");
    char err[RC_ERRMSG_MAX];
    int removed = rc_layout_prune(root, (size_t)cfg->keep, err);
    if (removed < 0)
        return fail("prune", "%s", err);
    int staging = rc_layout_clean_staging(root, NULL);
    struct rc_buf b;
    rc_buf_init(&b);
    if (cfg->json)
        rc_buf_addf(&b, "{\"action\":\"prune\",\"keep\":%ld,\"removed\":%d,\"staging_removed\":%d}\n", cfg->keep,
                    removed, staging > 0 ? staging : 0);
    else
        rc_buf_addf(&b, "pruned %d version%s (keep %ld), removed %d dead staging director%s\n", removed,
                    removed == 1 ? "" : "s", cfg->keep, staging > 0 ? staging : 0, staging == 1 ? "y" : "ies");
    return emit(&b);
}

/* ---- report: the page is edge/report.c's ---- */

static int cmd_report(const struct ctl_config *cfg)
{
    char dir[PATH_MAX], other[PATH_MAX], err[RC_ERRMSG_MAX];
    if (resolve_dir(cfg, cfg->nargs ? cfg->args[0] : NULL, dir, sizeof(dir), err) ||
        (cfg->compare && resolve_dir(cfg, cfg->compare, other, sizeof(other), err)))
        return fail("report", "%s", err);
    if (re_report_write(dir, cfg->compare ? other : NULL, cfg->out, err))
        return fail("report", "%s", err);
    return CTL_OK;
}

/* ---- ab-report: edge/abreport.c's ---- */

static int cmd_abreport(const struct ctl_config *cfg)
{
    char err[RC_ERRMSG_MAX];
    struct re_ab_opts o = cfg->ab;
    o.out = cfg->out;
    if (cfg->json && o.format == RE_AB_TEXT)
        o.format = RE_AB_JSON;
    if (!o.experiments)
        return usage_error(cfg->cmd, "%s: --experiments FILE|VERSION_DIR is required", "ab-report");
    if (o.logs.n == 0)
        return usage_error(cfg->cmd, "%s: at least one --log PATH is required", "ab-report");
    if (re_ab_report_write(&o, err))
        return fail("ab-report", "%s", err);
    return CTL_OK;
}

/* ---- overlay: edge/ctl_overlay.c's ---- */

static int cmd_overlay(const struct ctl_config *cfg)
{
    if (!cfg->root)
        return usage_error(cfg->cmd, "overlay: %s", "needs --root (or $EDGEREC_ROOT)");
    return re_ctl_overlay(cfg->root, cfg->args[0], cfg->nargs > 1 ? cfg->args[1] : NULL, cfg->from, cfg->json);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    struct ctl_config cfg = {.keep = -1, .top = 10};
    const char *env_root = getenv("EDGEREC_ROOT");
    if (env_root && *env_root)
        cfg.root = env_root;
    struct rc_opt_state st = {.scope = C_NONE, .operand = take_operand};
    char err[RC_ERRMSG_MAX];
    if (rc_opt_parse(ctl_options, &cfg, argc, argv, &st, err) != 0)
        return usage_error(cfg.cmd, "%s", err);
    const struct ctl_command *cmd = cfg.cmd;
    if (cfg.help) {
        if (cmd)
            usage_cmd(stdout, cmd);
        else
            usage_all(stdout);
        return CTL_OK;
    }
    if (!cmd) {
        usage_all(stderr);
        return CTL_USAGE;
    }
    if (cfg.nargs < cmd->min_args)
        return usage_error(cmd, "%s: missing arguments", cmd->name);
    if (cfg.nargs > cmd->max_args)
        return usage_error(cmd, "%s: too many arguments", cmd->name);
    return cmd->run(&cfg);
}
