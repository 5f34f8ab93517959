#include "layout.h"
#include "error.h"

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
    if (n == 0 || n >= RC_VERSION_MAX || v[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

int rc_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static void dirname_of(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    char *slash = strrchr(out, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == out)
        out[1] = 0;
    else
        *slash = 0;
}

int rc_write_file_atomic(const char *path, const void *data, size_t len)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    const char *p = data;
    size_t left = len;
    int rc = 0;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    char dir[PATH_MAX];
    dirname_of(path, dir, sizeof(dir));
    return rc_fsync_dir(dir);
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int rc_layout_init(const char *root, char *err)
{
    char path[PATH_MAX];
    const char *subs[] = {"versions", ".staging"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", root, subs[i]);
        int rc = mkdir_p(path);
        if (rc)
            return rc_fail(err, rc, "unable to create '%s': %s", path, rc_strerror(rc));
    }
    return 0;
}

int rc_layout_new_version(const char *root, time_t t, char out[RC_VERSION_MAX], char *err)
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
        snprintf(path, sizeof(path), "%s/versions/%s", root, out);
        struct stat st;
        if (lstat(path, &st) != 0 && errno == ENOENT)
            return 0;
    }
    return rc_fail(err, -EEXIST, "no free version id for %s under '%s'", base, root);
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

int rc_layout_clean_staging(const char *root)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/.staging", root);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *de;
    int removed = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        const char *dot = strrchr(de->d_name, '.');
        long pid = dot ? strtol(dot + 1, NULL, 10) : 0;
        if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
            continue; /* its builder is still running */
        char sub[PATH_MAX];
        snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
        if (rc_remove_tree(sub) == 0)
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
    (void)rc_layout_clean_staging(root);
    if (snprintf(out, cap, "%s/.staging/%s.%ld", root, version, (long)getpid()) >= (int)cap)
        return rc_fail(err, -ENAMETOOLONG, "staging path under '%s' is too long", root);
    (void)rc_remove_tree(out);
    if (mkdir(out, 0755) != 0)
        return rc_fail(err, -errno, "unable to create '%s': %s", out, strerror(errno));
    return 0;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int rc_layout_publish(const char *root, const char *staging, const char *version, char *err)
{
    if (!rc_version_valid(version))
        return rc_fail(err, RC_EFORMAT, "'%s' is not a valid version id", version);
    DIR *d = opendir(staging);
    if (!d)
        return rc_fail(err, -errno, "unable to open '%s': %s", staging, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", staging, de->d_name);
        if ((rc = fsync_path(p)) != 0)
            break;
    }
    closedir(d);
    if (rc == 0)
        rc = rc_fsync_dir(staging);
    if (rc)
        return rc_fail(err, rc, "unable to sync '%s': %s", staging, rc_strerror(rc));
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

int rc_layout_flip(const char *root, const char *version, char *err)
{
    if (!rc_version_valid(version))
        return rc_fail(err, RC_EFORMAT, "'%s' is not a valid version id", version);
    char target[PATH_MAX], check[PATH_MAX], tmp[PATH_MAX], cur[PATH_MAX];
    snprintf(target, sizeof(target), "versions/%s", version);
    snprintf(check, sizeof(check), "%s/%s", root, target);
    struct stat st;
    if (stat(check, &st) != 0 || !S_ISDIR(st.st_mode))
        return rc_fail(err, RC_ENOTFOUND, "version '%s' does not exist under '%s'", version, root);
    snprintf(tmp, sizeof(tmp), "%s/.current.tmp.%ld", root, (long)getpid());
    snprintf(cur, sizeof(cur), "%s/current", root);
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

int rc_layout_current(const char *root, char out[RC_VERSION_MAX], char *err)
{
    char cur[PATH_MAX], target[PATH_MAX];
    snprintf(cur, sizeof(cur), "%s/current", root);
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
        return rc_fail(err, RC_EFORMAT, "'%s' points at '%s', not a version", cur, target);
    snprintf(out, RC_VERSION_MAX, "%s", v);
    return 0;
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

int rc_layout_list(const char *root, char (**out)[RC_VERSION_MAX], size_t *n, char *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/versions", root);
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

int rc_layout_prune(const char *root, size_t keep, char *err)
{
    char (*v)[RC_VERSION_MAX];
    size_t n;
    int rc = rc_layout_list(root, &v, &n, err);
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
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/versions/%s", root, v[i]);
        rc = rc_remove_tree(path);
        if (rc) {
            free(v);
            return rc_fail(err, rc, "unable to remove '%s': %s", path, rc_strerror(rc));
        }
        removed++;
    }
    free(v);
    return removed;
}
