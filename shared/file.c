/*
 * file.c - complete-or-absent files and mkdir -p (contract in file.h).
 */
#include "file.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int rc_file_open(struct rc_file *f, const char *path, unsigned flags, char *err)
{
    f->fd = -1;
    f->flags = flags;
    f->tmp[0] = 0;
    int n1 = snprintf(f->path, sizeof(f->path), "%s", path);
    int n2 = snprintf(f->tmp, sizeof(f->tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n1 < 0 || n2 < 0 || (size_t)n2 >= sizeof(f->tmp)) {
        f->tmp[0] = 0;
        return rc_fail(err, -ENAMETOOLONG, "path too long: '%s'", path);
    }
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        int e = errno;
        return rc_fail(err, -e, "unable to create '%s': %s", f->tmp, strerror(e));
    }
    return 0;
}

int rc_file_write(struct rc_file *f, const void *data, size_t len, char *err)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(f->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            return rc_fail(err, -e, "unable to write '%s': %s", f->path, strerror(e));
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int rc_file_commit(struct rc_file *f, char *err)
{
    int rc = 0;
    if ((f->flags & RC_FILE_DURABLE) && fsync(f->fd) != 0) {
        int e = errno;
        rc = rc_fail(err, -e, "unable to write '%s': %s", f->path, strerror(e));
    }
    if (close(f->fd) != 0 && rc == 0) {
        int e = errno;
        rc = rc_fail(err, -e, "unable to write '%s': %s", f->path, strerror(e));
    }
    f->fd = -1;
    if (rc == 0 && rename(f->tmp, f->path) != 0) {
        int e = errno;
        rc = rc_fail(err, -e, "unable to rename '%s' to '%s': %s", f->tmp, f->path, strerror(e));
    }
    if (rc) {
        (void)unlink(f->tmp);
        return rc;
    }
    if (f->flags & RC_FILE_DURABLE) {
        char dir[PATH_MAX];
        dirname_of(f->path, dir, sizeof(dir));
        rc = rc_fsync_dir(dir);
        if (rc)
            return rc_fail(err, rc, "unable to sync directory '%s': %s", dir, rc_strerror(rc));
    }
    return 0;
}

void rc_file_abort(struct rc_file *f)
{
    if (f->fd >= 0) {
        (void)close(f->fd);
        (void)unlink(f->tmp);
    }
    f->fd = -1;
}

int rc_write_file_atomic(const char *path, const void *data, size_t len)
{
    struct rc_file f;
    int rc = rc_file_open(&f, path, RC_FILE_DURABLE, NULL);
    if (rc == 0)
        rc = rc_file_write(&f, data, len, NULL);
    if (rc) {
        rc_file_abort(&f);
        return rc;
    }
    return rc_file_commit(&f, NULL);
}

int rc_mkdir_p(const char *path)
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
    struct stat sb;
    if (stat(path, &sb) != 0)
        return -errno;
    return S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
}

int rc_read_small_file(const char *path, size_t max, const char *what, char **buf, size_t *len, char *err)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return rc_fail(err, -errno, "unable to open '%s': %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    char *b = NULL;
    size_t got = 0;
    if (fstat(fd, &st) != 0)
        rc = rc_fail(err, -errno, "unable to stat '%s': %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = rc_fail(err, RC_EFORMAT, "'%s' is not a regular file", path);
    else if ((unsigned long long)st.st_size > max)
        rc = rc_fail(err, RC_ETOOLONG, "'%s' is %lld bytes, more than the %zu %s may take", path,
                     (long long)st.st_size, max, what);
    else if (!(b = malloc((size_t)st.st_size + 1)))
        rc = rc_fail(err, -ENOMEM, "out of memory");
    while (!rc && got < (size_t)st.st_size) {
        ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = n < 0 ? rc_fail(err, -errno, "unable to read '%s': %s", path, strerror(errno))
                       : rc_fail(err, RC_ETRUNC, "'%s' changed size while being read", path);
        else
            got += (size_t)n;
    }
    close(fd);
    if (rc) {
        free(b);
        return rc;
    }
    b[got] = 0;
    *buf = b;
    *len = got;
    return 0;
}
