#include "overlay.h"
#include "error.h"
#include "file.h"
#include "keys.h"
#include "layout.h"
#include "le.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

void rc_overlay_id(const struct rc_overlay *o, uint32_t i, const char **id, size_t *len)
{
    /* ids are variable-length: walk (overlays are read by people, not requests) */
    const unsigned char *p = (const unsigned char *)o->ids;
    for (uint32_t k = 0;; k++) {
        size_t l = (size_t)p[0] | (size_t)p[1] << 8;
        if (k == i) {
            *id = (const char *)p + 2;
            *len = l;
            return;
        }
        p += 2 + l;
    }
}

struct keyed {
    uint64_t key;
    const char *id;
    size_t len;
};

static int cmp_keyed(const void *a, const void *b)
{
    uint64_t x = ((const struct keyed *)a)->key, y = ((const struct keyed *)b)->key;
    return x < y ? -1 : x > y;
}

int rc_overlay_encode(const char *const *ids, const size_t *lens, size_t n, void **out, size_t *len, char *err)
{
    if (n > RC_OVERLAY_MAX)
        return rc_fail(err, RC_ERANGE, "%zu products: an overlay holds at most %u", n, RC_OVERLAY_MAX);
    struct keyed *k = malloc((n ? n : 1) * sizeof(*k));
    if (!k)
        return rc_fail(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (lens[i] < 1 || lens[i] > RC_ID_MAX) {
            free(k);
            return rc_fail(err, RC_ERANGE, "product id %zu is %zu bytes: ids are 1..%d", i + 1, lens[i], RC_ID_MAX);
        }
        k[i] = (struct keyed){rc_key(ids[i], lens[i]), ids[i], lens[i]};
    }
    qsort(k, n, sizeof(*k), cmp_keyed);
    size_t m = 0, ids_len = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || k[m - 1].key != k[i].key) {
            k[m++] = k[i];
            ids_len += 2 + k[i].len;
        }
    size_t total = RC_OVERLAY_HEADER + 8 * m + ids_len;
    unsigned char *buf = malloc(total);
    if (!buf) {
        free(k);
        return rc_fail(err, -ENOMEM, "out of memory");
    }
    memcpy(buf, RC_OVERLAY_MAGIC, 4);
    rc_le_put32(buf + 4, RC_OVERLAY_FORMAT);
    rc_le_put32(buf + 8, (uint32_t)m);
    rc_le_put32(buf + 12, (uint32_t)ids_len);
    unsigned char *p = buf + RC_OVERLAY_HEADER;
    for (size_t i = 0; i < m; i++, p += 8)
        rc_le_put64(p, k[i].key);
    for (size_t i = 0; i < m; i++) {
        p[0] = (unsigned char)k[i].len;
        p[1] = (unsigned char)(k[i].len >> 8);
        memcpy(p + 2, k[i].id, k[i].len);
        p += 2 + k[i].len;
    }
    rc_le_put64(buf + 16, XXH3_64bits(buf + RC_OVERLAY_HEADER, total - RC_OVERLAY_HEADER));
    free(k);
    *out = buf;
    *len = total;
    return 0;
}

int rc_overlay_decode(const void *data, size_t len, struct rc_overlay **out, char *err)
{
    const unsigned char *b = data;
    *out = NULL;
    if (len < RC_OVERLAY_HEADER)
        return rc_fail(err, RC_EFORMAT, "overlay of %zu bytes: truncated (the header alone is %d)", len,
                       RC_OVERLAY_HEADER);
    if (memcmp(b, RC_OVERLAY_MAGIC, 4) != 0)
        return rc_fail(err, RC_EFORMAT, "not an overlay: expected magic \"%s\"", RC_OVERLAY_MAGIC);
    uint32_t format = rc_le_get32(b + 4), count = rc_le_get32(b + 8), ids_len = rc_le_get32(b + 12);
    if (format != RC_OVERLAY_FORMAT)
        return rc_fail(err, RC_EFORMAT, "overlay format %u: this reader knows %u (schemas/overlay.md)", format,
                       RC_OVERLAY_FORMAT);
    if (count > RC_OVERLAY_MAX)
        return rc_fail(err, RC_EFORMAT, "overlay of %u products: at most %u", count, RC_OVERLAY_MAX);
    size_t want = RC_OVERLAY_HEADER + 8 * (size_t)count + ids_len;
    if (len != want)
        return rc_fail(err, RC_EFORMAT, "overlay of %zu bytes: its header says %zu (%s)", len, want,
                       len < want ? "truncated" : "trailing bytes");
    if (XXH3_64bits(b + RC_OVERLAY_HEADER, len - RC_OVERLAY_HEADER) != rc_le_get64(b + 16))
        return rc_fail(err, RC_EFORMAT, "overlay checksum mismatch: the file is damaged");
    /* one block: the struct, the keys (aligned), the ids */
    size_t off = (sizeof(struct rc_overlay) + 7) & ~(size_t)7;
    struct rc_overlay *o = malloc(off + 8 * (size_t)count + ids_len + 1);
    if (!o)
        return rc_fail(err, -ENOMEM, "out of memory");
    memset(o, 0, sizeof(*o));
    uint64_t *keys = (uint64_t *)((char *)o + off);
    char *ids = (char *)(keys + count);
    const unsigned char *p = b + RC_OVERLAY_HEADER;
    for (uint32_t i = 0; i < count; i++, p += 8) {
        keys[i] = rc_le_get64(p);
        if (i && keys[i] <= keys[i - 1]) {
            free(o);
            return rc_fail(err, RC_EFORMAT, "overlay keys not strictly ascending at entry %u", i + 1);
        }
    }
    memcpy(ids, p, ids_len);
    const unsigned char *q = p, *end = p + ids_len;
    for (uint32_t i = 0; i < count; i++) {
        size_t l = end - q < 2 ? 0 : ((size_t)q[0] | (size_t)q[1] << 8);
        if (l < 1 || l > RC_ID_MAX || (size_t)(end - q) < 2 + l || rc_key((const char *)q + 2, l) != keys[i]) {
            free(o);
            return rc_fail(err, RC_EFORMAT, "overlay id %u is bad (length or key does not match)", i + 1);
        }
        q += 2 + l;
    }
    if (q != end) {
        free(o);
        return rc_fail(err, RC_EFORMAT, "overlay id block has %zu bytes past its last id", (size_t)(end - q));
    }
    o->count = count;
    o->keys = keys;
    o->ids = ids;
    o->ids_len = ids_len;
    *out = o;
    return 0;
}

int rc_overlay_read(const char *path, struct rc_overlay **out, char *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return rc_fail(err, errno == ENOENT ? RC_ENOTFOUND : -errno, "unable to open '%s': %s", path,
                       strerror(errno));
    struct stat st;
    int rc = 0;
    unsigned char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        rc = rc_fail(err, -errno, "unable to stat '%s': %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)(RC_OVERLAY_HEADER + RC_OVERLAY_MAX * (8 + 2 + RC_ID_MAX))) {
        rc = rc_fail(err, RC_EFORMAT, "'%s' is not a regular file of an overlay's size", path);
        goto out;
    }
    size_t len = (size_t)st.st_size, got = 0;
    buf = malloc(len ? len : 1);
    if (!buf) {
        rc = rc_fail(err, -ENOMEM, "out of memory");
        goto out;
    }
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? rc_fail(err, -errno, "unable to read '%s': %s", path, strerror(errno))
                       : rc_fail(err, RC_EFORMAT, "'%s' shrank while read", path);
            goto out;
        }
        got += (size_t)r;
    }
    char msg[RC_ERRMSG_MAX];
    rc = rc_overlay_decode(buf, len, out, msg);
    if (rc)
        rc_fail(err, rc, "'%s': %s", path, msg);
out:
    free(buf);
    close(fd);
    return rc;
}

int rc_overlay_load_current(const char *root, struct rc_overlay **out, char *err)
{
    char id[RC_VERSION_MAX], path[PATH_MAX];
    int rc = rc_layout_link_read(root, RC_OVERLAY_LINK, id, err);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%s/%s/%s/%s", root, RC_OVERLAY_DIR, id, RC_OVERLAY_FILE);
    rc = rc_overlay_read(path, out, err);
    if (rc)
        return rc;
    snprintf((*out)->id, sizeof((*out)->id), "%s", id);
    return 0;
}

/* overlays/<id> holding only overlay.bin: remove it. 0, -ENOTEMPTY, -errno. */
static int remove_one(const char *root, const char *id)
{
    char dir[PATH_MAX], file[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/%s/%s", root, RC_OVERLAY_DIR, id);
    snprintf(file, sizeof(file), "%s/%s", dir, RC_OVERLAY_FILE);
    struct stat st;
    if (lstat(file, &st) == 0 && S_ISREG(st.st_mode) && unlink(file) != 0)
        return -errno;
    return rmdir(dir) == 0 ? 0 : -errno;
}

int rc_overlay_prune(const char *root, size_t keep, char *err)
{
    char (*ids)[RC_VERSION_MAX];
    size_t n;
    int rc = rc_layout_check_root(root, err); /* nothing is removed under an unmarked root */
    if (rc)
        return rc;
    rc = rc_layout_list_ids(root, RC_OVERLAY_DIR, &ids, &n, err);
    if (rc)
        return rc;
    char cur[RC_VERSION_MAX] = "";
    rc = rc_layout_link_read(root, RC_OVERLAY_LINK, cur, err);
    if (rc && rc != RC_ENOTFOUND) {
        free(ids);
        return rc; /* never prune blind */
    }
    int removed = 0;
    for (size_t i = 0; i + keep < n; i++)
        if (strcmp(ids[i], cur) != 0 && remove_one(root, ids[i]) == 0)
            removed++;
    free(ids);
    return removed;
}

int rc_overlay_publish(const char *root, const char *const *ids, const size_t *lens, size_t n, time_t t,
                       size_t keep, char id_out[RC_VERSION_MAX], char *err)
{
    int rc = rc_layout_check_root(root, err);
    if (rc)
        return rc;
    void *data = NULL;
    size_t len;
    if ((rc = rc_overlay_encode(ids, lens, n, &data, &len, err)) != 0)
        return rc;
    char dir[PATH_MAX], tmp[PATH_MAX], file[PATH_MAX + 32], dest[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/%s", root, RC_OVERLAY_DIR);
    if ((rc = rc_mkdir_p(dir)) != 0) {
        rc_fail(err, rc, "unable to create '%s': %s", dir, rc_strerror(rc));
        goto out;
    }
    if ((rc = rc_layout_new_id(root, RC_OVERLAY_DIR, t, id_out, err)) != 0)
        goto out;
    /* .<id>.tmp.<pid> is never a valid id, so no reader lists it */
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%ld", dir, id_out, (long)getpid());
    snprintf(file, sizeof(file), "%s/%s", tmp, RC_OVERLAY_FILE);
    snprintf(dest, sizeof(dest), "%s/%s", dir, id_out);
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        rc = rc_fail(err, -errno, "unable to create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    if ((rc = rc_write_file_atomic(file, data, len)) != 0 || (rc = rc_fsync_dir(tmp)) != 0) {
        rc_fail(err, rc, "unable to write '%s': %s", file, rc_strerror(rc));
        (void)unlink(file);
        (void)rmdir(tmp);
        goto out;
    }
    if (rename(tmp, dest) != 0) {
        rc = rc_fail(err, -errno, "unable to rename '%s' to '%s': %s", tmp, dest, strerror(errno));
        (void)unlink(file);
        (void)rmdir(tmp);
        goto out;
    }
    if ((rc = rc_fsync_dir(dir)) != 0) {
        rc_fail(err, rc, "unable to sync '%s': %s", dir, rc_strerror(rc));
        goto out;
    }
    if ((rc = rc_layout_link_flip(root, RC_OVERLAY_LINK, RC_OVERLAY_DIR, id_out, err)) != 0)
        goto out;
    if (keep)
        (void)rc_overlay_prune(root, keep, NULL);
out:
    free(data);
    return rc;
}

void rc_overlay_free(struct rc_overlay *o)
{
    free(o);
}
