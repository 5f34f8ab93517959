/*
 * cachedump - print one DB of a cache version as TSV, for the end-to-end
 * tests (a stand-in until recctl exists). The version is opened with
 * rc_version_open as the edge opens it (manifest, meta, counts; with --verify
 * also the file checksums) and every record is decoded with
 * shared/record.h, record checksums verified.
 *
 *   cachedump [--verify] DIR DB [--ids FILE]
 *
 * DIR is a version directory (ROOT/versions/<v>) or a cache root (its
 * `current` is read). --verify also checks every file against the manifest.
 * DB is any of the cache's (rc_db_names: cookie, product, segment, coview,
 * cookie_b, category, items, catset) or meta. Lines:
 *
 *   list DBs  OWNER  SOURCE  RANK  PRODUCT  SCORE   (one line per entry, rank from 1)
 *   items     KEY    PRODUCT CATEGORY  IN_STOCK
 *   catset    OWNER  RANK    PRODUCT_KEY            (one line per key, ascending, as 16 hex digits)
 *   meta      NAME   VALUE
 *
 * An optional DB the version lacks (RC_DB_OPTIONAL) prints nothing.
 *
 * OWNER is the key as 16 hex digits, or, with --ids FILE ("-": stdin), the
 * id looked up: one id per line (segment: "loc<TAB>device", printed as
 * "loc|device"); ids without a record print nothing. Scores print with %.9g,
 * so two dumps compare equal exactly when the stored floats do.
 * Exit status: 0, 1 on any error (message on stderr), 2 on bad usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache.h"
#include "catset.h"
#include "error.h"
#include "keys.h"
#include "layout.h"
#include "record.h"
#include "version.h"

static void usage(void)
{
    fprintf(stderr, "usage: cachedump [--verify] DIR cookie|product|segment|coview|cookie_b|category|items|catset|meta "
                    "[--ids FILE]\n");
}

static void put_bytes(const char *s, size_t n)
{
    fwrite(s, 1, n, stdout);
}

static int dump_list(const char *owner, const MDB_val *v)
{
    struct rc_list l;
    char err[RC_ERRMSG_MAX];
    int rc = rc_list_open(&l, v->mv_data, v->mv_size, RC_DECODE_VERIFY, err);
    if (rc) {
        fprintf(stderr, "cachedump: record of '%s': %s\n", owner, err);
        return rc;
    }
    struct rc_entry e;
    for (int rank = 1; rc_list_next(&l, &e); rank++) {
        if (e.key != rc_key(e.id, e.id_len)) {
            fprintf(stderr, "cachedump: record of '%s': entry %d key does not match its id\n", owner, rank);
            return RC_EFORMAT;
        }
        printf("%s\t%s\t%d\t", owner, rc_source_name(l.source), rank);
        put_bytes(e.id, e.id_len);
        printf("\t%.9g\n", (double)e.score);
    }
    return 0;
}

static int dump_set(const char *owner, const MDB_val *v)
{
    struct rc_catset set;
    char err[RC_ERRMSG_MAX];
    int rc = rc_catset_check(v->mv_data, v->mv_size, err);
    if (!rc)
        rc = rc_catset_open(&set, v->mv_data, v->mv_size);
    if (rc) {
        fprintf(stderr, "cachedump: record of '%s': %s\n", owner, err);
        return rc;
    }
    for (uint32_t i = 0; i < set.count; i++)
        printf("%s\t%u\t%016" PRIx64 "\n", owner, (unsigned)i + 1, rc_catset_key(&set, i));
    return 0;
}

static int dump_item(uint64_t key, const MDB_val *v)
{
    struct rc_item it;
    char err[RC_ERRMSG_MAX];
    int rc = rc_item_decode(&it, v->mv_data, v->mv_size, err);
    if (rc) {
        fprintf(stderr, "cachedump: item %016" PRIx64 ": %s\n", key, err);
        return rc;
    }
    if (key != rc_key(it.id, it.id_len)) {
        fprintf(stderr, "cachedump: item %016" PRIx64 ": key does not match its id\n", key);
        return RC_EFORMAT;
    }
    printf("%016" PRIx64 "\t", key);
    put_bytes(it.id, it.id_len);
    putchar('\t');
    put_bytes(it.cat, it.cat_len);
    printf("\t%d\n", it.flags & RC_ITEM_IN_STOCK ? 1 : 0);
    return 0;
}

int main(int argc, char **argv)
{
    int verify = 0, a = 1;
    const char *ids = NULL;
    if (a < argc && strcmp(argv[a], "--verify") == 0) {
        verify = 1;
        a++;
    }
    if (argc - a != 2 && !(argc - a == 4 && strcmp(argv[a + 2], "--ids") == 0)) {
        usage();
        return 2;
    }
    const char *dir = argv[a], *dbname = argv[a + 1];
    if (argc - a == 4)
        ids = argv[a + 3];
    int db = -1;
    for (int i = 0; i < RC_DB_COUNT; i++)
        if (strcmp(dbname, rc_db_names[i]) == 0)
            db = i;
    int meta = strcmp(dbname, "meta") == 0;
    if (db < 0 && !meta) {
        usage();
        return 2;
    }

    /* A root: the version `current` names, under versions/ (a version is
     * never opened through a symlink). */
    char path[4096], current[RC_VERSION_MAX], err[RC_ERRMSG_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/current", dir);
    if (lstat(path, &st) != 0)
        snprintf(path, sizeof(path), "%s", dir);
    else if (rc_layout_current(dir, current, err) == 0)
        snprintf(path, sizeof(path), "%s/versions/%s", dir, current);
    else {
        fprintf(stderr, "cachedump: %s\n", err);
        return 1;
    }
    struct rc_cache c;
    int rc = rc_version_open(&c, path, verify ? RC_VERIFY_FILES : RC_VERIFY_OPEN, err);
    if (rc) {
        fprintf(stderr, "cachedump: %s\n", err);
        return 1;
    }
    MDB_txn *txn;
    if ((rc = mdb_txn_begin(c.env, NULL, MDB_RDONLY, &txn)) != 0) {
        fprintf(stderr, "cachedump: %s\n", mdb_strerror(rc));
        rc_cache_close(&c);
        return 1;
    }
    if (!meta && (c.absent >> db & 1u))
        goto done; /* an optional DB this version lacks: empty */
    MDB_dbi dbi = meta ? c.meta : c.dbi[db];

    if (ids) {
        FILE *f = strcmp(ids, "-") == 0 ? stdin : fopen(ids, "r");
        if (!f) {
            perror(ids);
            rc = 1;
            goto done;
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while (!rc && (n = getline(&line, &cap, f)) > 0) {
            while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = 0;
            if (!n || db < 0)
                continue;
            uint64_t key;
            char *tab = strchr(line, '\t');
            if (db == RC_DB_SEGMENT && tab) {
                key = rc_segment_key(line, (size_t)(tab - line), tab + 1, strlen(tab + 1));
                *tab = '|';
            } else {
                key = rc_key(line, (size_t)n);
            }
            MDB_val k = {sizeof(key), &key}, v;
            int g = mdb_get(txn, dbi, &k, &v);
            if (g == MDB_NOTFOUND)
                continue;
            if (g) {
                fprintf(stderr, "cachedump: %s\n", mdb_strerror(g));
                rc = 1;
            } else if (db == RC_DB_ITEMS) {
                rc = dump_item(key, &v) ? 1 : 0;
            } else if (db == RC_DB_CATSET) {
                rc = dump_set(line, &v) ? 1 : 0;
            } else {
                rc = dump_list(line, &v) ? 1 : 0;
            }
        }
        free(line);
        if (f != stdin)
            fclose(f);
        goto done;
    }

    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        fprintf(stderr, "cachedump: %s\n", mdb_strerror(rc));
        rc = 1;
        goto done;
    }
    MDB_val k, v;
    int op = MDB_FIRST;
    while (!rc && mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op) == 0) {
        op = MDB_NEXT;
        if (meta) {
            printf("%.*s\t%.*s\n", (int)k.mv_size, (char *)k.mv_data, (int)v.mv_size, (char *)v.mv_data);
            continue;
        }
        uint64_t key;
        if (k.mv_size != sizeof(key)) {
            fprintf(stderr, "cachedump: %s key of %zu bytes\n", dbname, k.mv_size);
            rc = 1;
            break;
        }
        memcpy(&key, k.mv_data, sizeof(key));
        if (db == RC_DB_ITEMS) {
            rc = dump_item(key, &v) ? 1 : 0;
        } else {
            char owner[17];
            snprintf(owner, sizeof(owner), "%016" PRIx64, key);
            rc = (db == RC_DB_CATSET ? dump_set(owner, &v) : dump_list(owner, &v)) ? 1 : 0;
        }
    }
    mdb_cursor_close(cur);
done:
    mdb_txn_abort(txn);
    rc_cache_close(&c);
    if (fflush(stdout) != 0)
        rc = 1;
    return rc ? 1 : 0;
}
