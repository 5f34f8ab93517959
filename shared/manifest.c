#include "manifest.h"
#include "error.h"
#include "layout.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

const char *const rc_db_names[RC_DB_COUNT] = {"cookie", "product", "segment", "coview", "items"};

int rc_file_xxh3(const char *path, uint64_t *bytes, uint64_t *hash)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    XXH3_state_t *st = XXH3_createState();
    char *buf = malloc(1 << 20);
    int rc = 0;
    uint64_t total = 0;
    if (!st || !buf) {
        rc = -ENOMEM;
        goto out;
    }
    XXH3_64bits_reset(st);
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        if (n == 0)
            break;
        XXH3_64bits_update(st, buf, (size_t)n);
        total += (uint64_t)n;
    }
    *bytes = total;
    *hash = XXH3_64bits_digest(st);
out:
    free(buf);
    if (st)
        XXH3_freeState(st);
    close(fd);
    return rc;
}

int rc_manifest_add_file(struct rc_manifest *m, const char *dir, const char *name, char *err)
{
    if (m->nfiles >= RC_MANIFEST_FILES_MAX || strlen(name) >= sizeof(m->files[0].name))
        return rc_fail(err, RC_ERANGE, "cannot list '%s' in the manifest", name);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct rc_manifest_file *f = &m->files[m->nfiles];
    int rc = rc_file_xxh3(path, &f->bytes, &f->xxh3);
    if (rc)
        return rc_fail(err, rc, "unable to checksum '%s': %s", path, rc_strerror(rc));
    snprintf(f->name, sizeof(f->name), "%s", name);
    m->nfiles++;
    return 0;
}

int rc_manifest_write(const char *dir, const struct rc_manifest *m, const char *extra, char *err)
{
    struct rc_buf b;
    rc_buf_init(&b);
    char when[32];
    time_t t = (time_t)m->created_at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    rc_buf_addf(&b, "{\n  \"format\": \"%s\",\n  \"format_version\": %d,\n  \"version\": ", RC_MANIFEST_FORMAT,
                RC_MANIFEST_VERSION);
    rc_buf_json_str(&b, m->version, strlen(m->version));
    rc_buf_addf(&b, ",\n  \"created_at\": %" PRId64 ",\n  \"created_at_iso\": \"%s\",\n  \"counts\": {", m->created_at,
                when);
    for (int i = 0; i < RC_DB_COUNT; i++)
        rc_buf_addf(&b, "%s\"%s\": %" PRIu64, i ? ", " : "", rc_db_names[i], m->counts[i]);
    rc_buf_adds(&b, "},\n  \"files\": [");
    for (unsigned i = 0; i < m->nfiles; i++) {
        rc_buf_addf(&b, "%s\n    {\"name\": ", i ? "," : "");
        rc_buf_json_str(&b, m->files[i].name, strlen(m->files[i].name));
        rc_buf_addf(&b, ", \"bytes\": %" PRIu64 ", \"xxh3\": \"%016" PRIx64 "\"}", m->files[i].bytes,
                    m->files[i].xxh3);
    }
    rc_buf_adds(&b, "\n  ]");
    if (extra && *extra) {
        rc_buf_adds(&b, ",\n  ");
        rc_buf_adds(&b, extra);
    }
    rc_buf_adds(&b, "\n}\n");
    if (b.overflow) {
        rc_buf_release(&b);
        return rc_fail(err, -ENOMEM, "out of memory writing the manifest");
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, RC_MANIFEST_NAME);
    int rc = rc_write_file_atomic(path, b.data, b.len);
    rc_buf_release(&b);
    if (rc)
        return rc_fail(err, rc, "unable to write '%s': %s", path, rc_strerror(rc));
    return 0;
}

/* Doubles hold every integer up to 2^53 exactly. */
#define JSON_INT_MAX 9007199254740992.0

/* 1 if v is a whole number in [lo, hi] (within +-JSON_INT_MAX); JSON numbers
 * arrive as doubles, and converting one out of range to an integer type is
 * undefined. */
static int whole_in(double v, double lo, double hi)
{
    return v >= lo && v <= hi && v == (double)(int64_t)v;
}

/* 1 if h is exactly 16 lowercase hex digits, as manifest.md specifies. */
static int hex16(const char *h)
{
    size_t n = strspn(h, "0123456789abcdef");
    return n == 16 && h[n] == 0;
}

static int read_all(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (st.st_size > (1 << 24)) {
        close(fd);
        return RC_ETOOLONG;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return -e;
        }
        if (n == 0)
            break; /* shrank under us: parse what is there, the JSON check refuses a torn file */
        got += (size_t)n;
    }
    close(fd);
    buf[got] = 0;
    *out = buf;
    *len = got;
    return 0;
}

int rc_manifest_read(const char *dir, struct rc_manifest *m, char *err)
{
    memset(m, 0, sizeof(*m));
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, RC_MANIFEST_NAME);
    char *text = NULL;
    size_t len = 0;
    int rc = read_all(path, &text, &len);
    if (rc)
        return rc_fail(err, rc, "unable to read '%s': %s", path, rc_strerror(rc));
    struct rc_json *doc;
    char jerr[RC_ERRMSG_MAX];
    rc = rc_json_parse(text, len, &doc, jerr);
    free(text);
    if (rc)
        return rc_fail(err, RC_EMANIFEST, "'%s' is not valid JSON: %s", path, jerr);

    const char *fmt = rc_json_get_str(doc, "format");
    const char *version = rc_json_get_str(doc, "version");
    double fv, created;
    const struct rc_json *counts = rc_json_get(doc, "counts");
    const struct rc_json *files = rc_json_get(doc, "files");
    if (!fmt || strcmp(fmt, RC_MANIFEST_FORMAT) != 0) {
        rc = rc_fail(err, RC_EMANIFEST, "'%s' is not an edgerec manifest (format is not '%s')", path,
                     RC_MANIFEST_FORMAT);
        goto fail;
    }
    if (rc_json_get_num(doc, "format_version", &fv) != 0 || !whole_in(fv, 1, JSON_INT_MAX)) {
        rc = rc_fail(err, RC_EMANIFEST, "'%s' has no valid format_version", path);
        goto fail;
    }
    if (fv > RC_MANIFEST_VERSION) {
        rc = rc_fail(err, RC_EVERSION, "'%s' has format_version %.0f, this build reads %d", path, fv,
                     RC_MANIFEST_VERSION);
        goto fail;
    }
    if (!version || !rc_version_valid(version) || rc_json_get_num(doc, "created_at", &created) != 0 ||
        !whole_in(created, -JSON_INT_MAX, JSON_INT_MAX) || !counts ||
        !files || files->type != RC_JSON_ARR) {
        rc = rc_fail(err, RC_EMANIFEST, "'%s' lacks a valid version, created_at, counts or files", path);
        goto fail;
    }
    snprintf(m->version, sizeof(m->version), "%s", version);
    m->created_at = (int64_t)created;
    for (int i = 0; i < RC_DB_COUNT; i++) {
        double c;
        if (RC_DB_OPTIONAL(i) && !rc_json_get(counts, rc_db_names[i])) {
            m->counts[i] = 0; /* written before the DB existed */
            continue;
        }
        if (rc_json_get_num(counts, rc_db_names[i], &c) != 0 || !whole_in(c, 0, JSON_INT_MAX)) {
            rc = rc_fail(err, RC_EMANIFEST, "'%s' lacks counts.%s", path, rc_db_names[i]);
            goto fail;
        }
        m->counts[i] = (uint64_t)c;
    }
    for (const struct rc_json *f = files->child; f; f = f->next) {
        const char *name = rc_json_get_str(f, "name");
        const char *hash = rc_json_get_str(f, "xxh3");
        double bytes;
        if (m->nfiles >= RC_MANIFEST_FILES_MAX || !name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
            strcmp(name, "..") == 0 || strlen(name) >= 64 || !hash || !hex16(hash) ||
            rc_json_get_num(f, "bytes", &bytes) != 0 || !whole_in(bytes, 0, JSON_INT_MAX)) {
            rc = rc_fail(err, RC_EMANIFEST, "'%s' has a bad files entry", path);
            goto fail;
        }
        struct rc_manifest_file *mf = &m->files[m->nfiles++];
        snprintf(mf->name, sizeof(mf->name), "%s", name);
        mf->bytes = (uint64_t)bytes;
        mf->xxh3 = strtoull(hash, NULL, 16);
    }
    if (m->nfiles == 0) {
        rc = rc_fail(err, RC_EMANIFEST, "'%s' lists no files", path);
        goto fail;
    }
    m->doc = doc;
    return 0;
fail:
    rc_json_free(doc);
    return rc;
}

void rc_manifest_release(struct rc_manifest *m)
{
    rc_json_free(m->doc);
    m->doc = NULL;
}

int rc_manifest_verify(const char *dir, const struct rc_manifest *m, char *err)
{
    for (unsigned i = 0; i < m->nfiles; i++) {
        char path[PATH_MAX];
        uint64_t bytes, hash;
        snprintf(path, sizeof(path), "%s/%s", dir, m->files[i].name);
        struct stat st;
        if (stat(path, &st) != 0)
            return rc_fail(err, -errno, "unable to stat '%s': %s", path, strerror(errno));
        if ((uint64_t)st.st_size != m->files[i].bytes)
            return rc_fail(err, RC_ETRUNC, "'%s' is %lld bytes, the manifest says %" PRIu64, path,
                           (long long)st.st_size, m->files[i].bytes);
        int rc = rc_file_xxh3(path, &bytes, &hash);
        if (rc)
            return rc_fail(err, rc, "unable to read '%s': %s", path, rc_strerror(rc));
        if (bytes != m->files[i].bytes)
            return rc_fail(err, RC_ETRUNC, "'%s' changed size while being read", path);
        if (hash != m->files[i].xxh3)
            return rc_fail(err, RC_ECHECKSUM, "'%s' has xxh3 %016" PRIx64 ", the manifest says %016" PRIx64, path,
                           hash, m->files[i].xxh3);
    }
    return 0;
}
