/*
 * mkcache - write a small cache version for the end-to-end tests through
 * the version writer (tests/fixture.h on shared/version.h), so they do not
 * depend on recbuild's models. One tool, two ways to say what goes in:
 *
 *   mkcache --root R [--version V] [--created T] [--flip | --no-flip]
 *           [--products N] [--cookies N] [--shift K] [--hr X] [--ndcg X]
 *           [--bad-record] [--dup-entry]
 *   mkcache --root R [--version V] [--created T] [--flip | --no-flip] --spec FILE|-
 *
 * Generated (the default): products are "p0".."p<N-1>" in category
 * "c<i%7>"; product p<i> is similar to p<i+1+shift>.. (10 entries,
 * wrapping); cookie "u<j>" gets 10 products starting at p<(3j+shift) % N>;
 * segments are {US,DE} x {mobile,desktop} with every back-off key; category
 * "c<k>" has a set (catset) of every p<i> with i%7 == k and a list
 * (category) of its in-stock ones (i%5 != 4), the first 10 by i. --shift
 * changes every list, so two versions differ in a known way. --bad-record
 * stores one product list with a wrong record checksum (the manifest still
 * matches the file): only a record walk finds it. --dup-entry stores one
 * cookie list whose second entry repeats its first (checksum right): only a
 * record walk finds that too. The manifest says device "fixture" and holds
 * an evaluation {k: 10, hr, ndcg}.
 *
 * --spec: the lists come from a text spec (FILE, or - for standard input)
 * instead; the manifest says device "cpu". Spec lines (blank lines and '#'
 * comments skipped; tokens split on spaces):
 *   product ID  ID:SCORE ...      image list of a product
 *   cookie  ID  ID:SCORE ...      CF list of a cookie
 *   segment LOC DEVICE ID:SCORE   segment list; "*" for any, "* *" = global
 *   category NAME ID:SCORE ...    category list (the category DB)
 *   catset NAME ID ...            a category's product set (the catset DB)
 * Ids are percent-decoded (%22 for '"', %00 for NUL, %20 for a space); the
 * score follows the last ':'.
 *
 * --experiments FILE (either way): the version carries FILE as its
 * experiments.json (schemas/experiments.md), checked first (exit 1 with the
 * fault when it breaks a rule).
 *
 * Without --version the id is a fresh one for --created (default: now).
 * --flip points `current` at the new version (--no-flip, the default, does
 * not; the last one given wins). Prints the version id on stdout. Exit 0
 * ok, 1 failure (a bad spec, a write error), 2 usage.
 */
#include "experiment.h"
#include "fixture.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_LEN 10
#define MAX_TOKENS 1100
#define MAX_PRODUCTS 4096

struct mk_config {
    const char *root, *version, *spec, *experiments;
    long products, cookies, shift;
    double hr, ndcg;
    long long created;
    int bad_record, dup_entry, flip;
};

/* ---- generated lists ---- */

static char ids[MAX_PRODUCTS][16]; /* product ids, "p<i>" */

/* count entries from p<start>, p<start+step>, ... (mod n); dup: entry 1 repeats entry 0. */
static void gen_entries(struct fx_entry *e, long start, long step, long n, int dup)
{
    for (long i = 0; i < LIST_LEN; i++) {
        long p = (start + (dup && i == 1 ? 0 : i) * step) % n;
        e[i] = (struct fx_entry){ids[p], 0, 1.0f - 0.05f * (float)i};
    }
}

static int generate(struct fx *f, const struct mk_config *cfg)
{
    long np = cfg->products, nc = cfg->cookies;
    struct fx_entry e[LIST_LEN];
    int rc = 0;
    for (long i = 0; i < np && !rc; i++) {
        char cat[16];
        snprintf(ids[i], sizeof(ids[i]), "p%ld", i);
        snprintf(cat, sizeof(cat), "c%ld", i % 7);
        rc = fx_item(f, ids[i], cat, i % 5 != 4);
    }
    for (long j = 0; j < nc && !rc; j++) {
        char id[32];
        snprintf(id, sizeof(id), "u%ld", j);
        gen_entries(e, 3 * j + cfg->shift, 1, np, cfg->dup_entry && j == nc / 2);
        rc = fx_list(f, RC_DB_COOKIE, id, 0, e, LIST_LEN);
    }
    for (long i = 0; i < np && !rc; i++) {
        gen_entries(e, i + 1 + cfg->shift, 1, np, 0);
        rc = fx_list(f, RC_DB_PRODUCT, ids[i], 0, e, LIST_LEN);
    }
    const char *locs[] = {"US", "DE", "*"}, *devs[] = {"mobile", "desktop", "*"};
    for (int a = 0; a < 3 && !rc; a++)
        for (int b = 0; b < 3 && !rc; b++) {
            gen_entries(e, a * 5 + b + cfg->shift, 2, np, 0);
            rc = fx_segment(f, locs[a], devs[b], e, LIST_LEN);
        }
    for (long k = 0; k < 7 && k < np && !rc; k++) {
        char cat[16];
        const char *members[MAX_PRODUCTS];
        size_t nm = 0, nl = 0;
        snprintf(cat, sizeof(cat), "c%ld", k);
        for (long i = k; i < np; i += 7) {
            members[nm++] = ids[i];
            if (i % 5 != 4 && nl < LIST_LEN) {
                e[nl] = (struct fx_entry){ids[i], 0, 1.0f - 0.05f * (float)nl};
                nl++;
            }
        }
        rc = fx_catset(f, cat, members, nm);
        if (!rc)
            rc = fx_category(f, cat, e, nl);
    }
    if (rc || !cfg->bad_record)
        return rc;
    /* The record checksum field of one product list. */
    uint64_t key = rc_key(ids[np / 2], strlen(ids[np / 2]));
    for (size_t i = 0; i < f->n; i++)
        if (f->recs[i].db == RC_DB_PRODUCT && f->recs[i].key == key)
            f->recs[i].val[12] ^= 0x5a;
    return 0;
}

/* ---- spec lists ---- */

/* Percent-decode s in place; returns the length or -1. */
static long decode(char *s)
{
    size_t o = 0, n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            unsigned v;
            if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]) ||
                sscanf(s + i + 1, "%2x", &v) != 1)
                return -1;
            s[o++] = (char)v;
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    return (long)o;
}

/* One spec line's list into f. Returns 0, or 1 with the reason printed. */
static int spec_line(struct fx *f, char *line, unsigned lineno)
{
    static struct fx_entry entries[MAX_TOKENS];
    static char *tok[MAX_TOKENS];
    static size_t tlen[MAX_TOKENS];
    size_t nt = 0;
    for (char *save, *t = strtok_r(line, " \t\r\n", &save); t && nt < MAX_TOKENS; t = strtok_r(NULL, " \t\r\n", &save))
        tok[nt++] = t;
    if (!nt || tok[0][0] == '#')
        return 0;
    int seg = !strcmp(tok[0], "segment"), set = !strcmp(tok[0], "catset");
    size_t first = seg ? 3 : 2;
    if (nt < first || (!seg && !set && strcmp(tok[0], "product") && strcmp(tok[0], "cookie") &&
                       strcmp(tok[0], "category"))) {
        fprintf(stderr, "mkcache: line %u: expected product, cookie, segment, category or catset with an id\n",
                lineno);
        return 1;
    }
    if (set) {
        static const char *members[MAX_TOKENS];
        size_t n = 0;
        for (size_t i = 1; i < nt; i++) {
            long len = decode(tok[i]);
            if (len <= 0 || memchr(tok[i], 0, (size_t)len)) {
                fprintf(stderr, "mkcache: line %u: bad id '%s' (catset ids hold no NUL)\n", lineno, tok[i]);
                return 1;
            }
            tok[i][len] = 0;
            if (i > 1)
                members[n++] = tok[i];
        }
        int rc = fx_catset(f, tok[1], members, n);
        if (rc) {
            fprintf(stderr, "mkcache: line %u: %s\n", lineno, rc_strerror(rc));
            return 1;
        }
        return 0;
    }
    size_t n = 0;
    for (size_t i = first; i < nt; i++) {
        char *colon = strrchr(tok[i], ':');
        if (!colon) {
            fprintf(stderr, "mkcache: line %u: '%s' is not ID:SCORE\n", lineno, tok[i]);
            return 1;
        }
        *colon = 0;
        long len = decode(tok[i]);
        if (len <= 0) {
            fprintf(stderr, "mkcache: line %u: bad id '%s'\n", lineno, tok[i]);
            return 1;
        }
        entries[n++] = (struct fx_entry){tok[i], (size_t)len, strtof(colon + 1, NULL)};
    }
    for (size_t i = 1; i < first; i++) {
        long len = decode(tok[i]);
        if (len <= 0) {
            fprintf(stderr, "mkcache: line %u: bad key '%s'\n", lineno, tok[i]);
            return 1;
        }
        tlen[i] = (size_t)len;
        tok[i][len] = 0;
    }
    enum rc_db db = !strcmp(tok[0], "cookie") ? RC_DB_COOKIE : !strcmp(tok[0], "category") ? RC_DB_CATEGORY
                                                                                            : RC_DB_PRODUCT;
    int rc = seg ? fx_segment(f, tok[1], tok[2], entries, n) : fx_list(f, db, tok[1], tlen[1], entries, n);
    if (rc) {
        fprintf(stderr, "mkcache: line %u: %s\n", lineno, rc_strerror(rc));
        return 1;
    }
    return 0;
}

static int read_spec(struct fx *f, const char *spec)
{
    FILE *in = strcmp(spec, "-") == 0 ? stdin : fopen(spec, "r");
    if (!in) {
        fprintf(stderr, "mkcache: unable to open '%s': %s\n", spec, strerror(errno));
        return 1;
    }
    static char line[1 << 20];
    unsigned lineno = 0;
    int rc = 0;
    while (!rc && fgets(line, sizeof(line), in))
        rc = spec_line(f, line, ++lineno);
    if (in != stdin)
        fclose(in);
    return rc;
}

/* ---- main ---- */

static int usage(void)
{
    fprintf(stderr, "usage: mkcache --root R [--version V] [--created T] [--flip | --no-flip]\n"
                    "               [--products N] [--cookies N] [--shift K] [--hr X] [--ndcg X] [--bad-record] "
                    "[--dup-entry]\n"
                    "       mkcache --root R [--version V] [--created T] [--flip | --no-flip] --spec FILE|-\n"
                    "       (either way: [--experiments FILE])\n");
    return 2;
}

static int parse_args(int argc, char **argv, struct mk_config *cfg)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--bad-record") == 0)
            cfg->bad_record = 1;
        else if (strcmp(a, "--dup-entry") == 0)
            cfg->dup_entry = 1;
        else if (strcmp(a, "--flip") == 0)
            cfg->flip = 1;
        else if (strcmp(a, "--no-flip") == 0)
            cfg->flip = 0;
        else if (!v)
            return -1;
        else if (i++, strcmp(a, "--root") == 0)
            cfg->root = v;
        else if (strcmp(a, "--version") == 0)
            cfg->version = v;
        else if (strcmp(a, "--spec") == 0)
            cfg->spec = v;
        else if (strcmp(a, "--experiments") == 0)
            cfg->experiments = v;
        else if (strcmp(a, "--products") == 0)
            cfg->products = strtol(v, NULL, 10);
        else if (strcmp(a, "--cookies") == 0)
            cfg->cookies = strtol(v, NULL, 10);
        else if (strcmp(a, "--shift") == 0)
            cfg->shift = strtol(v, NULL, 10);
        else if (strcmp(a, "--hr") == 0)
            cfg->hr = strtod(v, NULL);
        else if (strcmp(a, "--ndcg") == 0)
            cfg->ndcg = strtod(v, NULL);
        else if (strcmp(a, "--created") == 0)
            cfg->created = strtoll(v, NULL, 10);
        else
            return -1;
    }
    if (!cfg->root || cfg->products < LIST_LEN + 2 || cfg->products > MAX_PRODUCTS || cfg->cookies < 0 ||
        cfg->cookies > 100000 || cfg->shift < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct mk_config cfg = {.products = 50, .cookies = 20, .hr = 0.3, .ndcg = 0.2, .created = -1};
    if (parse_args(argc, argv, &cfg))
        return usage();
    char *experiments = NULL;
    if (cfg.experiments) {
        char err[RC_ERRMSG_MAX];
        struct rc_experiment *x;
        size_t len;
        if (rc_experiment_read_text(cfg.experiments, &x, &experiments, &len, err) != 0) {
            fprintf(stderr, "mkcache: --experiments %s\n", err);
            return 1;
        }
        rc_experiment_free(x);
    }
    struct fx *f = fx_new();
    f->experiments = experiments;
    int rc = cfg.spec ? read_spec(f, cfg.spec) : generate(f, &cfg);
    if (rc) {
        if (!cfg.spec)
            fprintf(stderr, "mkcache: %s\n", rc_strerror(rc));
        fx_free(f);
        free(experiments);
        return 1;
    }
    time_t now = cfg.created >= 0 ? (time_t)cfg.created : time(NULL);
    struct rc_version_opts opts = {.root = cfg.root, .version = cfg.version, .id_time = now, .created_at = now};
    struct rc_manifest_eval eval = {.holdout = RC_HOLDOUT_SUMMARY, .k = 10, .hr = cfg.hr, .ndcg = cfg.ndcg};
    struct rc_manifest_info info = {.device = cfg.spec ? "cpu" : "fixture", .eval = cfg.spec ? NULL : &eval};
    struct rc_version_writer vw;
    char err[RC_ERRMSG_MAX];
    rc = fx_write_version(f, &opts, &info, cfg.flip, &vw, err);
    fx_free(f);
    free(experiments);
    if (rc) {
        fprintf(stderr, "mkcache: %s\n", err);
        return 1;
    }
    printf("%s\n", vw.version);
    return 0;
}
