/*
 * version.c - a cache version's life (version.h): safe opening of its
 * files, the one check that says a version is verified, the writer from
 * staging to publish, and removal of what is provably ours.
 */
#include "version.h"
#include "error.h"
#include "experiment.h"
#include "file.h"
#include "layout.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define HASH_CHUNK (1 << 20)

enum { ST_NONE, ST_BEGUN, ST_RESERVED, ST_FINISHED, ST_COMMITTED, ST_PUBLISHED, ST_FAILED };

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- opening files safely ---- */

static const char *kind_of(mode_t m)
{
    return S_ISLNK(m) ? "a symlink" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) || S_ISBLK(m) ? "a device"
         : S_ISSOCK(m) ? "a socket" : S_ISDIR(m) ? "a directory" : "not a regular file";
}

int rc_version_open_file(int dirfd, const char *dir, const char *name, uint64_t want_bytes, int *fd, struct stat *st,
                         char *err)
{
    *fd = -1;
    struct stat lst;
    if (fstatat(dirfd, name, &lst, AT_SYMLINK_NOFOLLOW) != 0)
        return rc_fail(err, -errno, "unable to open '%s/%s': %s", dir, name, strerror(errno));
    if (!S_ISREG(lst.st_mode))
        return rc_fail(err, RC_EFORMAT, "'%s/%s' is %s, not a regular file: refused", dir, name, kind_of(lst.st_mode));
    if (want_bytes != UINT64_MAX && (uint64_t)lst.st_size != want_bytes)
        return rc_fail(err, RC_ETRUNC, "'%s/%s' is %lld bytes, the manifest says %" PRIu64, dir, name,
                       (long long)lst.st_size, want_bytes);
    int f = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (f < 0)
        return rc_fail(err, -errno, "unable to open '%s/%s': %s", dir, name, strerror(errno));
    if (fstat(f, st) != 0) {
        int e = errno;
        close(f);
        return rc_fail(err, -e, "unable to stat '%s/%s': %s", dir, name, strerror(e));
    }
    if (!S_ISREG(st->st_mode) || st->st_dev != lst.st_dev || st->st_ino != lst.st_ino) {
        close(f);
        return rc_fail(err, RC_EFORMAT, "'%s/%s' was replaced while being opened: refused", dir, name);
    }
    if (want_bytes != UINT64_MAX && (uint64_t)st->st_size != want_bytes) {
        close(f);
        return rc_fail(err, RC_ETRUNC, "'%s/%s' is %lld bytes, the manifest says %" PRIu64, dir, name,
                       (long long)st->st_size, want_bytes);
    }
    /* Reads of a regular file never block; clear the flag for the readers after us. */
    (void)fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_NONBLOCK);
    *fd = f;
    return 0;
}

/* The version directory itself: a directory, never followed through a symlink. */
static int open_dir(const char *dir, int *fd, char *err)
{
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*fd >= 0)
        return 0;
    int e = errno;
    struct stat st;
    if ((e == ELOOP || e == ENOTDIR) && lstat(dir, &st) == 0)
        return rc_fail(err, RC_EFORMAT, "'%s' is %s, not a version directory: refused", dir, kind_of(st.st_mode));
    return rc_fail(err, -e, "unable to open '%s': %s", dir, strerror(e));
}

/* XXH3-64 of exactly `bytes` bytes of fd, and that nothing follows them. */
static int hash_fd(int fd, const char *dir, const char *name, uint64_t bytes, uint64_t *hash, char *err)
{
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    XXH3_state_t *st = XXH3_createState();
    char *buf = malloc(HASH_CHUNK);
    int rc = 0;
    if (!st || !buf) {
        rc = rc_fail(err, -ENOMEM, "out of memory hashing '%s/%s'", dir, name);
        goto out;
    }
    XXH3_64bits_reset(st);
    uint64_t left = bytes;
    while (left) {
        ssize_t n = read(fd, buf, left < HASH_CHUNK ? (size_t)left : HASH_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = rc_fail(err, -errno, "unable to read '%s/%s': %s", dir, name, strerror(errno));
            goto out;
        }
        if (n == 0) {
            rc = rc_fail(err, RC_ETRUNC, "'%s/%s' changed size while being read", dir, name);
            goto out;
        }
        XXH3_64bits_update(st, buf, (size_t)n);
        left -= (uint64_t)n;
    }
    ssize_t more;
    while ((more = read(fd, buf, 1)) < 0 && errno == EINTR)
        ;
    if (more != 0) {
        rc = rc_fail(err, RC_ETRUNC, "'%s/%s' changed size while being read", dir, name);
        goto out;
    }
    *hash = XXH3_64bits_digest(st);
out:
    free(buf);
    if (st)
        XXH3_freeState(st);
    return rc;
}

/* One listed file: regular, inside dir, its size, and (hash) its XXH3-64. */
static int check_file(int dirfd, const char *dir, const struct rc_manifest_file *f, int hash, uint64_t *hashed,
                      char *err)
{
    int fd;
    struct stat st;
    int rc = rc_version_open_file(dirfd, dir, f->name, f->bytes, &fd, &st, err);
    if (rc || !hash) {
        if (!rc)
            close(fd);
        return rc;
    }
    uint64_t h = 0;
    rc = hash_fd(fd, dir, f->name, f->bytes, &h, err);
    close(fd);
    if (rc)
        return rc;
    *hashed += f->bytes;
    if (h != f->xxh3)
        return rc_fail(err, RC_ECHECKSUM, "'%s/%s' has xxh3 %016" PRIx64 ", the manifest says %016" PRIx64, dir,
                       f->name, h, f->xxh3);
    return 0;
}

int rc_version_check_files(const char *dir, const struct rc_manifest *m, char *err)
{
    int dirfd, rc = open_dir(dir, &dirfd, err);
    if (rc)
        return rc;
    uint64_t hashed = 0;
    for (unsigned i = 0; i < m->nfiles && !rc; i++)
        rc = check_file(dirfd, dir, &m->files[i], 1, &hashed, err);
    close(dirfd);
    return rc;
}

/* ---- the check ---- */

struct check {
    struct rc_verify *v;
    int first;        /* the first fault's code, 0 while none */
    char *err;
};

/* A fault: to the caller's report, and into err when it is the first.
 * Returns 1 when the check must stop here. */
static int fault(struct check *k, int code, const char *why)
{
    k->v->faults++;
    if (k->v->on_fault)
        k->v->on_fault(k->v->ctx, code, why);
    if (!k->first) {
        k->first = code;
        rc_fail(k->err, code, "%s", why);
    }
    return !k->v->all_faults;
}

static const struct rc_manifest_file *listed(const struct rc_manifest *m, const char *name)
{
    for (unsigned i = 0; i < m->nfiles; i++)
        if (strcmp(m->files[i].name, name) == 0)
            return &m->files[i];
    return NULL;
}

/* Every listed file (and data.mdb for the env), as far as the level asks.
 * *data_fd is data.mdb opened and checked; -1 when the files failed. */
static int check_files(struct check *k, int dirfd, const char *dir, const struct rc_manifest *m, int *data_fd)
{
    char why[RC_ERRMSG_MAX];
    int bad = 0, rc;
    *data_fd = -1;
    const struct rc_manifest_file *data = listed(m, RC_DATA_NAME);
    if (!data && k->v->level >= RC_VERIFY_FILES) {
        snprintf(why, sizeof(why), "the manifest in '%s' does not list %s", dir, RC_DATA_NAME);
        if (fault(k, RC_EMANIFEST, why))
            return 1;
        bad = 1;
    }
    if (k->v->level >= RC_VERIFY_FILES) {
        for (unsigned i = 0; i < m->nfiles; i++) {
            if ((rc = check_file(dirfd, dir, &m->files[i], 1, &k->v->bytes, why)) != 0) {
                bad = 1;
                if (fault(k, rc, why))
                    return 1;
            }
        }
    }
    if (bad)
        return 1; /* never open an env over files that failed */
    struct stat st;
    rc = rc_version_open_file(dirfd, dir, RC_DATA_NAME, data ? data->bytes : UINT64_MAX, data_fd, &st, why);
    if (rc) {
        fault(k, rc, why);
        return 1;
    }
    return 0;
}

/* Exactly bytes bytes of fd into buf, and nothing after them. */
static int read_exact(int fd, const char *dir, const char *name, char *buf, size_t bytes, char *err)
{
    size_t got = 0;
    while (got < bytes) {
        ssize_t n = read(fd, buf + got, bytes - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rc_fail(err, -errno, "unable to read '%s/%s': %s", dir, name, strerror(errno));
        if (n == 0)
            return rc_fail(err, RC_ETRUNC, "'%s/%s' changed size while being read", dir, name);
        got += (size_t)n;
    }
    return 0;
}

/* Every list DB an arm's cf tier reads holds lists (the manifest's count:
 * check_meta holds the data to it). An arm on an empty cookie_b would
 * silently answer from the next tiers: no CF at all, not the second set. */
static int check_experiment_lists(const struct rc_experiment *x, const struct rc_manifest *m, const char *dir,
                                  char *why)
{
    for (unsigned i = 0; i < x->narms; i++) {
        enum rc_db db = x->arms[i].cf_db;
        if (db != RC_DB_COOKIE && m->counts[db] == 0)
            return rc_fail(why, RC_EFORMAT, "'%s/%s': arms[%u] ('%s') reads its cf tier from %s, but the version "
                           "holds no %s lists (recbuild --cf-b-params builds them)", dir, RC_EXPERIMENT_FILE, i,
                           x->arms[i].name, rc_db_names[db], rc_db_names[db]);
    }
    return 0;
}

/*
 * experiments.json, when the manifest lists it (experiment.h): opened like
 * every file (regular, its listed size, at most RC_EXPERIMENT_FILE_MAX),
 * its bytes hashed again from RC_VERIFY_FILES on so that what is parsed is
 * what was verified, then parsed and checked into *out. An unlisted file
 * of that name is never read. Returns 1 when the check must stop.
 */
static int check_experiment(struct check *k, int dirfd, const char *dir, const struct rc_manifest *m,
                            struct rc_experiment **out)
{
    *out = NULL;
    const struct rc_manifest_file *f = listed(m, RC_EXPERIMENT_FILE);
    if (!f)
        return 0;
    char why[RC_ERRMSG_MAX], inner[RC_ERRMSG_MAX];
    if (f->bytes > RC_EXPERIMENT_FILE_MAX) {
        snprintf(why, sizeof(why), "'%s/%s' is %" PRIu64 " bytes, more than the %d an experiment may take", dir,
                 RC_EXPERIMENT_FILE, f->bytes, RC_EXPERIMENT_FILE_MAX);
        return fault(k, RC_ETOOLONG, why);
    }
    int fd;
    struct stat st;
    int rc = rc_version_open_file(dirfd, dir, RC_EXPERIMENT_FILE, f->bytes, &fd, &st, why);
    if (rc)
        return fault(k, rc, why);
    char *buf = malloc((size_t)f->bytes + 1);
    if (!buf) {
        close(fd);
        snprintf(why, sizeof(why), "out of memory reading '%s/%s'", dir, RC_EXPERIMENT_FILE);
        return fault(k, -ENOMEM, why);
    }
    rc = read_exact(fd, dir, RC_EXPERIMENT_FILE, buf, (size_t)f->bytes, why);
    close(fd);
    if (!rc && k->v->level >= RC_VERIFY_FILES && XXH3_64bits(buf, (size_t)f->bytes) != f->xxh3)
        rc = rc_fail(why, RC_ECHECKSUM, "'%s/%s' changed while being read", dir, RC_EXPERIMENT_FILE);
    if (!rc && (rc = rc_experiment_parse(buf, (size_t)f->bytes, out, inner)) != 0)
        snprintf(why, sizeof(why), "'%s/%s': %s", dir, RC_EXPERIMENT_FILE, inner);
    free(buf);
    if (!rc)
        rc = check_experiment_lists(*out, m, dir, why);
    return rc ? fault(k, rc, why) : 0;
}

/* Open every DB; an optional DB the version lacks is marked absent. */
static int open_dbis(MDB_txn *txn, struct rc_cache *c)
{
    for (int i = 0; i < RC_DB_COUNT; i++) {
        int rc = mdb_dbi_open(txn, rc_db_names[i], MDB_INTEGERKEY, &c->dbi[i]);
        if (rc == MDB_NOTFOUND && RC_DB_OPTIONAL(i)) {
            c->absent |= 1u << i;
            continue;
        }
        if (rc)
            return rc;
    }
    return mdb_dbi_open(txn, "meta", 0, &c->meta);
}

/* meta's format and version, and every DB's count against the manifest. */
static int check_meta(struct check *k, struct rc_cache *c, MDB_txn *txn, const char *path)
{
    char why[RC_ERRMSG_MAX];
    MDB_val key = {6, "format"}, v;
    int rc = mdb_get(txn, c->meta, &key, &v);
    if (rc || v.mv_size != strlen(RC_CACHE_FORMAT) || memcmp(v.mv_data, RC_CACHE_FORMAT, v.mv_size) != 0) {
        int shown = rc || v.mv_size > 64 || memchr(v.mv_data, 0, v.mv_size) ? 0 : (int)v.mv_size;
        snprintf(why, sizeof(why), "'%s' is not an %s cache (its format: '%.*s')", path, RC_CACHE_FORMAT, shown,
                 shown ? (const char *)v.mv_data : "");
        fault(k, RC_EFORMAT, why);
        return 1;
    }
    key = (MDB_val){7, "version"};
    rc = mdb_get(txn, c->meta, &key, &v);
    if (rc || v.mv_size != strlen(c->manifest.version) || memcmp(v.mv_data, c->manifest.version, v.mv_size) != 0) {
        snprintf(why, sizeof(why), "'%s' does not hold version '%s' named by its manifest", path, c->manifest.version);
        if (fault(k, RC_EFORMAT, why))
            return 1;
    }
    for (int i = 0; i < RC_DB_COUNT; i++) {
        MDB_stat ms = {0};
        if (!(c->absent & 1u << i) && (rc = rc_lmdb(mdb_stat(txn, c->dbi[i], &ms))) != 0) {
            snprintf(why, sizeof(why), "unable to open the cache in '%s': %s", c->dir, rc_strerror(rc));
            fault(k, rc, why);
            return 1;
        }
        if (ms.ms_entries != c->manifest.counts[i]) {
            snprintf(why, sizeof(why), "'%s' holds %zu %s records, the manifest says %llu", path, ms.ms_entries,
                     rc_db_names[i], (unsigned long long)c->manifest.counts[i]);
            if (fault(k, RC_EFORMAT, why))
                return 1;
        }
    }
    return 0;
}

/* The env on the checked descriptor: /proc/self/fd/N names that very file,
 * so LMDB's open(2) cannot land on something else put at the path since. */
static int open_env(struct check *k, struct rc_cache *c, int data_fd, const char *path)
{
    char why[RC_ERRMSG_MAX], fdpath[64];
    snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", data_fd);
    struct stat st;
    const char *open_path = stat(fdpath, &st) == 0 ? fdpath : path;
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&c->env);
    if (!rc) {
        (void)mdb_env_set_maxdbs(c->env, RC_DB_COUNT + 1);
        /* A read-only env maps the file; a map size of 0 means "the file's". */
        rc = mdb_env_open(c->env, open_path, MDB_RDONLY | MDB_NOLOCK | MDB_NOSUBDIR | MDB_NORDAHEAD | MDB_NOTLS,
                          0444);
    }
    if (!rc) {
        mdb_filehandle_t efd;
        struct stat est, dst;
        if (mdb_env_get_fd(c->env, &efd) != 0 || fstat(efd, &est) != 0 || fstat(data_fd, &dst) != 0 ||
            est.st_dev != dst.st_dev || est.st_ino != dst.st_ino) {
            snprintf(why, sizeof(why), "'%s' was replaced while being opened: refused", path);
            fault(k, RC_EFORMAT, why);
            return 1;
        }
    }
    if (!rc)
        rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
    if (!rc)
        rc = open_dbis(txn, c);
    if (rc) {
        if (txn)
            mdb_txn_abort(txn);
        rc = rc_lmdb(rc);
        snprintf(why, sizeof(why), "unable to open the cache in '%s': %s", c->dir, rc_strerror(rc));
        fault(k, rc, why);
        return 1;
    }
    int stop = check_meta(k, c, txn, path);
    /* Commit, not abort: LMDB closes the handles a transaction opened when
     * that transaction is aborted, and c->dbi must outlive it. */
    if ((rc = rc_lmdb(mdb_txn_commit(txn))) != 0 && !stop) {
        snprintf(why, sizeof(why), "unable to open the cache in '%s': %s", c->dir, rc_strerror(rc));
        fault(k, rc, why);
        return 1;
    }
    return stop;
}

static void record_fault(void *ctx, int code, const char *why)
{
    struct check *k = ctx;
    k->v->faults++;
    if (k->v->on_fault)
        k->v->on_fault(k->v->ctx, code, why);
}

static void check_records(struct check *k, const struct rc_cache *c)
{
    char why[RC_ERRMSG_MAX];
    struct rc_cache_check chk = {.stop_at_bad = !k->v->all_faults, .on_bad = record_fault, .ctx = k};
    int rc = rc_cache_check_records(c, &chk, why);
    memcpy(k->v->records, chk.records, sizeof(k->v->records));
    k->v->entries = chk.entries;
    k->v->bad = chk.bad;
    if (rc && !k->first) {
        k->first = rc;
        rc_fail(k->err, rc, "%s", why);
    }
}

int rc_version_check(struct rc_cache *out, const char *dir, struct rc_verify *v, char *err)
{
    struct rc_verify defaults = {.level = RC_VERIFY_OPEN};
    if (!v)
        v = &defaults;
    double t0 = now_ms();
    v->version[0] = 0;
    v->bytes = v->entries = v->bad = v->faults = 0;
    memset(v->records, 0, sizeof(v->records));
    struct check k = {.v = v, .err = err};
    struct rc_cache c;
    memset(&c, 0, sizeof(c));
    snprintf(c.dir, sizeof(c.dir), "%s", dir);
    char why[RC_ERRMSG_MAX], path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, RC_DATA_NAME);
    int dirfd = -1, data_fd = -1, rc;

    if ((rc = open_dir(dir, &dirfd, why)) != 0) {
        fault(&k, rc, why);
        goto out;
    }
    if ((rc = rc_manifest_read_at(dirfd, dir, &c.manifest, why)) != 0) {
        fault(&k, rc, why);
        goto out;
    }
    snprintf(v->version, sizeof(v->version), "%s", c.manifest.version);
    if (v->expect && strcmp(v->expect, c.manifest.version) != 0) {
        snprintf(why, sizeof(why), "directory '%s' holds version '%s': the names must match", v->expect,
                 c.manifest.version);
        if (fault(&k, RC_EMANIFEST, why))
            goto out;
    }
    if (check_files(&k, dirfd, dir, &c.manifest, &data_fd))
        goto out;
    if (check_experiment(&k, dirfd, dir, &c.manifest, &c.experiment))
        goto out;
    if (open_env(&k, &c, data_fd, path))
        goto out;
    if (v->level >= RC_VERIFY_RECORDS)
        check_records(&k, &c);

out:
    if (data_fd >= 0)
        close(data_fd);
    if (dirfd >= 0)
        close(dirfd);
    if (out)
        memset(out, 0, sizeof(*out)); /* nothing open on failure */
    if (out && !k.first) {
        *out = c;
    } else {
        if (c.env)
            mdb_env_close(c.env);
        rc_manifest_release(&c.manifest);
        rc_experiment_free(c.experiment);
    }
    v->ms = now_ms() - t0;
    return k.first;
}

int rc_version_open(struct rc_cache *c, const char *dir, enum rc_verify_level level, char *err)
{
    struct rc_verify v = {.level = level};
    memset(c, 0, sizeof(*c));
    return rc_version_check(c, dir, &v, err);
}

/* ---- writing ---- */

static int out_of_order(struct rc_version_writer *vw, const char *step, char *err)
{
    vw->state = ST_FAILED;
    return rc_fail(err, RC_EINTERNAL, "%s called out of order", step);
}

int rc_version_begin(struct rc_version_writer *vw, const struct rc_version_opts *opts, char *err)
{
    memset(vw, 0, sizeof(*vw));
    vw->opts = *opts;
    vw->state = ST_FAILED;
    snprintf(vw->root, sizeof(vw->root), "%s", opts->root);
    vw->opts.root = vw->root;
    int rc = 0;
    if (opts->version && !rc_version_valid(opts->version))
        return rc_fail(err, RC_EFORMAT, "'%s' is not a valid version id", opts->version);
    rc = rc_layout_init(vw->root, err);
    if (!rc && opts->version)
        snprintf(vw->version, sizeof(vw->version), "%s", opts->version);
    else if (!rc)
        rc = rc_layout_new_version(vw->root, opts->id_time, vw->version, err);
    if (!rc)
        rc = rc_layout_staging_create(vw->root, vw->version, vw->staging, sizeof(vw->staging), err);
    if (rc) {
        vw->staging[0] = 0; /* nothing of ours to remove */
        return rc;
    }
    vw->opts.version = vw->version;
    snprintf(vw->manifest.version, sizeof(vw->manifest.version), "%s", vw->version);
    vw->state = ST_BEGUN;
    return 0;
}

int rc_version_reserve(struct rc_version_writer *vw, size_t mapsize, char *err)
{
    if (vw->state != ST_BEGUN)
        return out_of_order(vw, "rc_version_reserve", err);
    vw->state = ST_FAILED;
    int rc = rc_cache_writer_open(&vw->w, vw->staging, mapsize, err);
    if (rc)
        return rc;
    vw->state = ST_RESERVED;
    return 0;
}

int rc_version_put(struct rc_version_writer *vw, enum rc_db db, uint64_t key, const void *val, size_t len,
                   char *err)
{
    if (__builtin_expect(vw->state != ST_RESERVED, 0))
        return out_of_order(vw, "rc_version_put", err);
    return rc_cache_writer_put(&vw->w, db, key, val, len, err);
}

int rc_version_finish(struct rc_version_writer *vw, char *err)
{
    if (vw->state != ST_RESERVED)
        return out_of_order(vw, "rc_version_finish", err);
    vw->state = ST_FAILED;
    struct rc_manifest *m = &vw->manifest;
    m->created_at = vw->opts.created_at ? vw->opts.created_at : (int64_t)time(NULL);
    char created[32];
    snprintf(created, sizeof(created), "%" PRId64, m->created_at);
    int rc;
    if ((rc = rc_cache_writer_meta(&vw->w, "format", RC_CACHE_FORMAT, err)) != 0 ||
        (rc = rc_cache_writer_meta(&vw->w, "version", vw->version, err)) != 0 ||
        (rc = rc_cache_writer_meta(&vw->w, "created_at", created, err)) != 0) {
        rc_cache_writer_abort(&vw->w);
        return rc;
    }
    memcpy(m->counts, vw->w.counts, sizeof(m->counts));
    if ((rc = rc_cache_writer_finish(&vw->w, err)) != 0) /* closes the writer either way */
        return rc;
    if ((rc = rc_manifest_add_file(m, vw->staging, RC_DATA_NAME, err)) != 0)
        return rc;
    vw->data_bytes = m->files[m->nfiles - 1].bytes;
    vw->state = ST_FINISHED;
    return 0;
}

int rc_version_add_file(struct rc_version_writer *vw, const char *name, const void *data, size_t len, char *err)
{
    if (vw->state != ST_FINISHED)
        return out_of_order(vw, "rc_version_add_file", err);
    if (strcmp(name, RC_EXPERIMENT_FILE) != 0 || listed(&vw->manifest, name))
        return rc_fail(err, RC_EFORMAT, "'%s' is not a file a version may add", name);
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", vw->staging, name) >= (int)sizeof(path))
        return rc_fail(err, -ENAMETOOLONG, "path of '%s' in '%s' is too long", name, vw->staging);
    int rc = rc_write_file_atomic(path, data, len);
    if (rc)
        return rc_fail(err, rc, "unable to write '%s': %s", path, rc_strerror(rc));
    return rc_manifest_add_file(&vw->manifest, vw->staging, name, err);
}

int rc_version_commit(struct rc_version_writer *vw, const struct rc_manifest_info *info, char *err)
{
    if (vw->state != ST_FINISHED)
        return out_of_order(vw, "rc_version_commit", err);
    vw->state = ST_FAILED;
    int rc = rc_manifest_write(vw->staging, &vw->manifest, info, err);
    if (rc)
        return rc;
    vw->state = ST_COMMITTED;
    return 0;
}

int rc_version_publish(struct rc_version_writer *vw, enum rc_verify_level level, int flip, size_t keep, char *err)
{
    if (vw->state != ST_COMMITTED)
        return out_of_order(vw, "rc_version_publish", err);
    vw->state = ST_FAILED;
    /* What readers will check, checked before anyone can see it. */
    struct rc_verify v = {.level = level, .expect = vw->version};
    int rc = rc_version_check(NULL, vw->staging, &v, err);
    if (rc)
        return rc;
    if (vw->opts.cancel && *vw->opts.cancel)
        return rc_fail(err, -EINTR, "interrupted before publishing '%s'", vw->version);
    if ((rc = rc_layout_publish(vw->root, vw->staging, vw->version, err)) != 0)
        return rc;
    vw->state = ST_PUBLISHED;
    snprintf(vw->published, sizeof(vw->published), "%s/versions/%s", vw->root, vw->version);
    vw->staging[0] = 0;
    if (flip) {
        if ((rc = rc_layout_flip(vw->root, vw->version, err)) != 0)
            return rc;
        vw->flipped = 1;
    }
    if (keep) {
        char perr[RC_ERRMSG_MAX] = "";
        int n = rc_layout_prune(vw->root, keep, perr);
        if (n < 0)
            rc_log(RC_LOG_WARN, "prune", "root=%s msg=\"%s\"", vw->root, perr);
        else
            vw->pruned = n;
    }
    return 0;
}

void rc_version_release(struct rc_version_writer *vw)
{
    if (vw->w.env)
        rc_cache_writer_abort(&vw->w); /* a writer left open by a failed or misordered step */
    if (vw->state != ST_PUBLISHED && vw->staging[0])
        (void)rc_layout_remove_staging(vw->staging);
    vw->staging[0] = 0;
    rc_manifest_release(&vw->manifest);
    if (vw->state != ST_PUBLISHED)
        vw->state = ST_FAILED;
}

/* ---- removing ---- */

int rc_version_remove_dir(const char *dir, const char *id, char *err)
{
    int dirfd, rc = open_dir(dir, &dirfd, err);
    if (rc)
        return rc;
    struct rc_manifest m;
    char why[RC_ERRMSG_MAX];
    rc = rc_manifest_read_at(dirfd, dir, &m, why);
    if (rc || (id && strcmp(m.version, id) != 0)) {
        if (!rc)
            rc_manifest_release(&m);
        close(dirfd);
        return rc_fail(err, RC_EMANIFEST, "not removing '%s': %s", dir,
                       rc ? why : "its manifest names another version");
    }
    for (unsigned i = 0; i < m.nfiles && !rc; i++) {
        struct stat st;
        if (fstatat(dirfd, m.files[i].name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                rc = rc_fail(err, -errno, "unable to stat '%s/%s': %s", dir, m.files[i].name, strerror(errno));
            continue;
        }
        if (S_ISDIR(st.st_mode)) /* unlinkat without AT_REMOVEDIR refuses it; say so */
            rc = rc_fail(err, -EISDIR, "not removing '%s/%s': a directory", dir, m.files[i].name);
        else if (unlinkat(dirfd, m.files[i].name, 0) != 0) /* a symlink goes, never its target */
            rc = rc_fail(err, -errno, "unable to remove '%s/%s': %s", dir, m.files[i].name, strerror(errno));
    }
    rc_manifest_release(&m);
    if (!rc && unlinkat(dirfd, RC_MANIFEST_NAME, 0) != 0)
        rc = rc_fail(err, -errno, "unable to remove '%s/%s': %s", dir, RC_MANIFEST_NAME, strerror(errno));
    close(dirfd);
    if (!rc && rmdir(dir) != 0) {
        int e = errno;
        rc = e == ENOTEMPTY || e == EEXIST
                 ? rc_fail(err, -ENOTEMPTY, "'%s' holds files its manifest does not list: they were left", dir)
                 : rc_fail(err, -e, "unable to remove '%s': %s", dir, strerror(e));
    }
    return rc;
}

int rc_version_remove(const char *root, const char *id, char *err)
{
    int rc = rc_layout_check_root(root, err);
    if (rc)
        return rc;
    if (!rc_version_valid(id))
        return rc_fail(err, RC_EFORMAT, "'%s' is not a valid version id", id);
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof(dir), "%s/versions/%s", root, id) >= (int)sizeof(dir))
        return rc_fail(err, -ENAMETOOLONG, "path of version '%s' is too long", id);
    return rc_version_remove_dir(dir, id, err);
}
