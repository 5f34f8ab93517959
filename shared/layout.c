#include "layout.h"
#include "experiment.h"
#include "error.h"
#include "version.h"
#include "file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rc_version_valid(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= RC_VERSION_MAX || v[0] == '.' || v[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

int rc_layout_check_root(const char *root, char *err)
{
    char path[PATH_MAX], buf[sizeof(RC_ROOT_MAGIC)];
    if (snprintf(path, sizeof(path), "%s/%s", root, RC_ROOT_MARKER) >= (int)sizeof(path))
        return rc_fail(err, -ENAMETOOLONG, "root '%s' is too long", root);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    ssize_t n = -1;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = read(fd, buf, sizeof(buf) - 1);
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)sizeof(buf) - 1 || memcmp(buf, RC_ROOT_MAGIC, sizeof(buf) - 1) != 0)
        return rc_fail(err, RC_EFORMAT,
                       "'%s' is not an edgerec cache root (no valid %s in it; recbuild and `recctl publish` "
                       "create it): nothing removed", root, RC_ROOT_MARKER);
    return 0;
}

int rc_layout_init(const char *root, char *err)
{
    char path[PATH_MAX];
    const char *subs[] = {"versions", ".staging"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", root, subs[i]);
        int rc = rc_mkdir_p(path);
        if (rc)
            return rc_fail(err, rc, "unable to create '%s': %s", path, rc_strerror(rc));
    }
    if (rc_layout_check_root(root, NULL) == 0)
        return 0;
    snprintf(path, sizeof(path), "%s/%s", root, RC_ROOT_MARKER);
    struct stat st;
    if (lstat(path, &st) == 0)
        return rc_fail(err, RC_EFORMAT, "'%s' exists and is not an edgerec root marker: refusing '%s' as a root",
                       path, root);
    int rc = rc_write_file_atomic(path, RC_ROOT_MAGIC, sizeof(RC_ROOT_MAGIC) - 1);
    if (rc)
        return rc_fail(err, rc, "unable to create '%s': %s", path, rc_strerror(rc));
    return 0;
}

int rc_layout_new_id(const char *root, const char *sub, time_t t, char out[RC_VERSION_MAX], char *err)
{
    struct tm tm;
    char base[32], path[PATH_MAX];
    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y%m%dT%H%M%SZ", &tm);
    for (int i = 1; i < 10000; i++) {
        if (i == 1)
            snprintf(out, RC_VERSION_MAX, "%s", base);
        else
            snprintf(out, RC_VERSION_MAX, "%s-%d", base, i);
        snprintf(path, sizeof(path), "%s/%s/%s", root, sub, out);
        struct stat st;
        if (lstat(path, &st) != 0 && errno == ENOENT)
            return 0;
    }
    return rc_fail(err, -EEXIST, "no free id for %s under '%s/%s'", base, root, sub);
}

int rc_layout_new_version(const char *root, time_t t, char out[RC_VERSION_MAX], char *err)
{
    return rc_layout_new_id(root, "versions", t, out, err);
}

int rc_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0 ? 0 : -errno;
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= (int)sizeof(sub)) {
            rc = -ENAMETOOLONG;
            continue;
        }
        int r = rc_remove_tree(sub);
        if (r && !rc)
            rc = r;
    }
    closedir(d);
    if (rmdir(path) != 0 && !rc)
        rc = -errno;
    return rc;
}

/* What a writer leaves in its staging dir (cache.c, manifest.c, layout.c). */
static int staging_name(const char *name)
{
    static const char *const names[] = {"build.mdb", "build.mdb-lock", RC_DATA_NAME, RC_MANIFEST_NAME,
                                        RC_EXPERIMENT_FILE};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return 1;
    return strncmp(name, RC_MANIFEST_NAME ".tmp.", sizeof(RC_MANIFEST_NAME ".tmp.") - 1) == 0 ||
           strncmp(name, RC_EXPERIMENT_FILE ".tmp.", sizeof(RC_EXPERIMENT_FILE ".tmp.") - 1) == 0;
}

int rc_layout_remove_staging(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (!staging_name(de->d_name) || fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) {
            rc = -ENOTEMPTY; /* not a writer's: left where it is */
            continue;
        }
        if (unlinkat(fd, de->d_name, 0) != 0 && !rc)
            rc = -errno;
    }
    closedir(d);
    if (!rc && rmdir(dir) != 0)
        rc = -errno;
    return rc;
}

int rc_layout_clean_staging(const char *root, char *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/.staging", root);
    struct stat st;
    if (lstat(dir, &st) != 0 && errno == ENOENT)
        return 0;
    int rc = rc_layout_check_root(root, err);
    if (rc)
        return rc;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : rc_fail(err, -errno, "unable to list '%s': %s", dir, strerror(errno));
    struct dirent *de;
    int removed = 0;
    while ((de = readdir(d))) {
        /* <version>.<pid>, as rc_layout_staging_create names them */
        char id[RC_VERSION_MAX];
        const char *dot = strrchr(de->d_name, '.');
        char *end;
        long pid = dot ? strtol(dot + 1, &end, 10) : 0;
        if (!dot || pid <= 0 || *end || (size_t)(dot - de->d_name) >= sizeof(id))
            continue;
        snprintf(id, sizeof(id), "%.*s", (int)(dot - de->d_name), de->d_name);
        if (!rc_version_valid(id))
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
            continue; /* its builder is still running */
        char sub[PATH_MAX];
        snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
        if (rc_layout_remove_staging(sub) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int rc_layout_staging_create(const char *root, const char *version, char *out, size_t cap, char *err)
{
    int rc = rc_layout_init(root, err);
    if (rc)
        return rc;
    (void)rc_layout_clean_staging(root, NULL);
    if (snprintf(out, cap, "%s/.staging/%s.%ld", root, version, (long)getpid()) >= (int)cap)
        return rc_fail(err, -ENAMETOOLONG, "staging path under '%s' is too long", root);
    (void)rc_layout_remove_staging(out);
    if (mkdir(out, 0755) != 0)
        return rc_fail(err, -errno, "unable to create '%s': %s", out, strerror(errno));
    return 0;
}

/* fsync dir/name, which must be a regular file (never followed, never a
 * FIFO or device: opened O_NOFOLLOW | O_NONBLOCK and checked first). */
static int fsync_regular(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return errno == ELOOP ? RC_EFORMAT : -errno;
    struct stat st;
    int rc = fstat(fd, &st) != 0 ? -errno : !S_ISREG(st.st_mode) ? RC_EFORMAT : fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int rc_layout_publish(const char *root, const char *staging, const char *version, char *err)
{
    if (!rc_version_valid(version))
        return rc_fail(err, RC_EFORMAT, "'%s' is not a valid version id", version);
    int dfd = open(staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        return rc_fail(err, e == ELOOP || e == ENOTDIR ? RC_EFORMAT : -e, "unable to open '%s' as a directory: %s",
                       staging, strerror(e));
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if ((rc = fsync_regular(dfd, de->d_name)) != 0) {
            if (rc == RC_EFORMAT)
                rc_fail(err, rc, "'%s/%s' is not a regular file: a version holds nothing else", staging,
                        de->d_name);
            else
                rc_fail(err, rc, "unable to sync '%s/%s': %s", staging, de->d_name, rc_strerror(rc));
            break;
        }
    }
    if (rc == 0 && fsync(dfd) != 0) {
        rc = -errno;
        rc_fail(err, rc, "unable to sync '%s': %s", staging, rc_strerror(rc));
    }
    closedir(d);
    if (rc)
        return rc;
    char dest[PATH_MAX], versions[PATH_MAX];
    snprintf(versions, sizeof(versions), "%s/versions", root);
    snprintf(dest, sizeof(dest), "%s/%s", versions, version);
    struct stat st;
    if (lstat(dest, &st) == 0)
        return rc_fail(err, -EEXIST, "version '%s' already exists under '%s'", version, versions);
    if (rename(staging, dest) != 0)
        return rc_fail(err, -errno, "unable to publish '%s' as '%s': %s", staging, dest, strerror(errno));
    rc = rc_fsync_dir(versions);
    if (rc)
        return rc_fail(err, rc, "unable to sync '%s': %s", versions, rc_strerror(rc));
    return 0;
}

int rc_layout_link_flip(const char *root, const char *link, const char *sub, const char *id, char *err)
{
    if (!rc_version_valid(id))
        return rc_fail(err, RC_EFORMAT, "'%s' is not a valid id", id);
    char target[PATH_MAX], check[PATH_MAX], tmp[PATH_MAX], cur[PATH_MAX];
    snprintf(target, sizeof(target), "%s/%s", sub, id);
    snprintf(check, sizeof(check), "%s/%s", root, target);
    struct stat st;
    if (stat(check, &st) != 0 || !S_ISDIR(st.st_mode))
        return rc_fail(err, RC_ENOTFOUND, "'%s' does not exist under '%s/%s'", id, root, sub);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%ld", root, link, (long)getpid());
    snprintf(cur, sizeof(cur), "%s/%s", root, link);
    (void)unlink(tmp);
    if (symlink(target, tmp) != 0)
        return rc_fail(err, -errno, "unable to create '%s': %s", tmp, strerror(errno));
    if (rename(tmp, cur) != 0) {
        int e = errno;
        unlink(tmp);
        return rc_fail(err, -e, "unable to flip '%s': %s", cur, strerror(e));
    }
    int rc = rc_fsync_dir(root);
    if (rc)
        return rc_fail(err, rc, "unable to sync '%s': %s", root, rc_strerror(rc));
    return 0;
}

int rc_layout_flip(const char *root, const char *version, char *err)
{
    if (!rc_version_valid(version))
        return rc_fail(err, RC_EFORMAT, "'%s' is not a valid version id", version);
    return rc_layout_link_flip(root, "current", "versions", version, err);
}

int rc_layout_link_read(const char *root, const char *link, char out[RC_VERSION_MAX], char *err)
{
    char cur[PATH_MAX], target[PATH_MAX];
    snprintf(cur, sizeof(cur), "%s/%s", root, link);
    ssize_t n = readlink(cur, target, sizeof(target) - 1);
    if (n < 0) {
        if (errno == ENOENT)
            return rc_fail(err, RC_ENOTFOUND, "'%s' does not exist", cur);
        return rc_fail(err, -errno, "unable to read '%s': %s", cur, strerror(errno));
    }
    target[n] = 0;
    const char *v = strrchr(target, '/');
    v = v ? v + 1 : target;
    if (!rc_version_valid(v))
        return rc_fail(err, RC_EFORMAT, "'%s' points at '%s', not an id", cur, target);
    snprintf(out, RC_VERSION_MAX, "%s", v);
    return 0;
}

int rc_layout_current(const char *root, char out[RC_VERSION_MAX], char *err)
{
    return rc_layout_link_read(root, "current", out, err);
}

static int cmp_version(const void *a, const void *b)
{
    /* Same-second suffixes: "X" < "X-2" < "X-10". */
    const char *x = a, *y = b;
    size_t lx = strcspn(x, "-"), ly = strcspn(y, "-");
    int c = strncmp(x, y, lx < ly ? lx : ly);
    if (c || lx != ly)
        return c ? c : (lx < ly ? -1 : 1);
    long sx = x[lx] ? strtol(x + lx + 1, NULL, 10) : 1;
    long sy = y[ly] ? strtol(y + ly + 1, NULL, 10) : 1;
    if (sx != sy)
        return sx < sy ? -1 : 1;
    return strcmp(x, y);
}

int rc_layout_list_ids(const char *root, const char *sub, char (**out)[RC_VERSION_MAX], size_t *n, char *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/%s", root, sub);
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return rc_fail(err, -errno, "unable to list '%s': %s", dir, strerror(errno));
    }
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!rc_version_valid(de->d_name))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            void *p = realloc(*out, cap * RC_VERSION_MAX);
            if (!p) {
                closedir(d);
                free(*out);
                *out = NULL;
                *n = 0;
                return rc_fail(err, -ENOMEM, "out of memory listing '%s'", dir);
            }
            *out = p;
        }
        snprintf((*out)[(*n)++], RC_VERSION_MAX, "%s", de->d_name);
    }
    closedir(d);
    if (*n)
        qsort(*out, *n, RC_VERSION_MAX, cmp_version);
    return 0;
}

int rc_layout_list(const char *root, char (**out)[RC_VERSION_MAX], size_t *n, char *err)
{
    return rc_layout_list_ids(root, "versions", out, n, err);
}

int rc_layout_prune(const char *root, size_t keep, char *err)
{
    int rc = rc_layout_check_root(root, err);
    if (rc)
        return rc;
    char (*v)[RC_VERSION_MAX];
    size_t n;
    rc = rc_layout_list(root, &v, &n, err);
    if (rc)
        return rc;
    char cur[RC_VERSION_MAX] = "";
    rc = rc_layout_current(root, cur, err);
    if (rc && rc != RC_ENOTFOUND) {
        free(v); /* never prune blind: `current` might name any of them */
        return rc;
    }
    int removed = 0;
    for (size_t i = 0; i + keep < n; i++) {
        if (strcmp(v[i], cur) == 0)
            continue;
        rc = rc_version_remove(root, v[i], err);
        if (rc) {
            free(v);
            return rc;
        }
        removed++;
    }
    free(v);
    return removed;
}
