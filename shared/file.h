/*
 * file.h - files that appear under their name only complete, and the
 * directories they go in.
 *
 * A file is written at "<path>.tmp.<pid>" and renamed to <path> once
 * complete, so a reader of <path> sees the old file (or none) or the whole
 * new one, never a part. On any failure the temporary is removed; <path> is
 * left as it was.
 *
 * Durability: with RC_FILE_DURABLE the file is fsync'ed before the rename
 * and its directory after it, so that the new file survives a crash once
 * commit returns (what a published cache needs). Without it the rename
 * still makes the switch atomic for readers, but a crash may leave the old
 * file or an empty one (enough for regenerable data, and much faster for
 * gigabytes).
 *
 * Thread rules: no shared state; a struct rc_file belongs to one thread.
 */
#ifndef RC_FILE_H
#define RC_FILE_H

#include <limits.h>
#include <stddef.h>

#define RC_FILE_DURABLE 1u /* fsync the file and its directory at commit */

struct rc_file {
    int fd;                 /* -1 when not open */
    unsigned flags;         /* RC_FILE_* */
    char path[PATH_MAX];    /* the final name, for rename and messages */
    char tmp[PATH_MAX];     /* "<path>.tmp.<pid>" */
};

/*
 * Create the temporary for path (truncating one left by an earlier run of
 * this process id). Returns 0; -ENAMETOOLONG; -errno from open(2). err
 * (may be NULL) names the file: "unable to create 'd/x.tmp.42': ...". On
 * failure f is left closed, so rc_file_abort() is still safe.
 */
int rc_file_open(struct rc_file *f, const char *path, unsigned flags, char *err);

/* Append len bytes (all of them, across EINTR and short writes). Returns 0
 * or -errno with err naming the final path: "unable to write 'd/x': No
 * space left on device". f stays open; the caller aborts it. */
int rc_file_write(struct rc_file *f, const void *data, size_t len, char *err);

/*
 * Close the file and rename it into place (fsync'ing as RC_FILE_DURABLE
 * says). Returns 0 or -errno with err naming the file; f is closed and its
 * temporary removed either way.
 */
int rc_file_commit(struct rc_file *f, char *err);

/* Give up: close and remove the temporary. Safe on a file that is closed
 * or failed to open. */
void rc_file_abort(struct rc_file *f);

/* The whole of data as path, durably (open, write, commit with
 * RC_FILE_DURABLE). Returns 0 or -errno; leaves no temporary behind. */
int rc_write_file_atomic(const char *path, const void *data, size_t len);

/*
 * Read a small regular file whole: opened without blocking (a FIFO or a
 * device is refused, never waited on), at most max bytes (what names the
 * file in the message: "'x' is 2000000 bytes, more than the 1048576 a rules
 * file may take"). *buf gets the bytes and a NUL after them (free() it),
 * *len their count. Returns 0; RC_EFORMAT (not a regular file),
 * RC_ETOOLONG, RC_ETRUNC (it shrank while read), -ENOMEM, -errno; err
 * names the file. On failure *buf is NULL.
 */
int rc_read_small_file(const char *path, size_t max, const char *what, char **buf, size_t *len, char *err);

/* fsync a directory. 0 or -errno. */
int rc_fsync_dir(const char *dir);

/*
 * mkdir -p: create path and every missing parent, mode 0755. Returns 0 when
 * path is (now) a directory; -ENOTDIR when it, or a parent, exists and is
 * not one; -ENAMETOOLONG; -errno from mkdir(2).
 */
int rc_mkdir_p(const char *path);

#endif
