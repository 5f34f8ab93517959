/*
 * error.h - one error space for edgerec.
 *
 * Every function in shared/, builder/ and edge/ that can fail returns 0 on
 * success or a negative code:
 *   - edgerec's own codes, RC_E* below, in the reserved range
 *     [RC_ERR_FIRST, RC_ERR_LAST] (-31099 .. -31000);
 *   - LMDB's codes, returned unchanged (MDB_KEYEXIST .. MDB_LAST_ERRCODE,
 *     -30799 .. -30780 and friends);
 *   - a system error, returned as -errno.
 * rc_strerror() explains all three. Functions that take a `char *err`
 * buffer (RC_ERRMSG_MAX bytes) may write a lowercase, full-stop-free message
 * into it with the details ("unable to open 'x': ..."); err may be NULL.
 */
#ifndef RC_ERROR_H
#define RC_ERROR_H

#include <stddef.h>

#define RC_ERRMSG_MAX 512

enum rc_err {
    RC_OK = 0,
    RC_ERR_FIRST = -31099,
    RC_EFORMAT = -31099,  /* input not in the documented format */
    RC_EMAGIC,            /* stored record or file has a foreign magic */
    RC_EVERSION,          /* stored format version this build does not know */
    RC_ETRUNC,            /* record or file shorter than its header says */
    RC_ECHECKSUM,         /* checksum mismatch */
    RC_ERANGE,            /* value out of its documented range */
    RC_ETOOLONG,          /* id or parameter longer than allowed */
    RC_ENOTFOUND,         /* key, file or version not present */
    RC_EMANIFEST,         /* manifest missing, unreadable or inconsistent */
    RC_ECOLLISION,        /* two distinct ids hash to one key */
    RC_EBADLINES,         /* too many malformed input lines */
    RC_EEMPTY,            /* input holds no usable rows */
    RC_ENOGPU,            /* GPU path asked for, none present */
    RC_EINTERNAL,         /* a broken invariant; a bug */
    RC_EMISMATCH,         /* parts that must come from one run do not (stages) */
    RC_ERR_LAST = -31000
};

/* Text for any code returned by edgerec, LMDB or as -errno. Never NULL. */
const char *rc_strerror(int code);

/* LMDB returns system errors as positive errno values: turn them into
 * -errno, leave 0 and LMDB's own (negative) codes as they are. */
static inline int rc_lmdb(int code)
{
    return code > 0 ? -code : code;
}

/* Write "fmt: args" into err (RC_ERRMSG_MAX bytes) when err is not NULL and
 * return code unchanged, so callers can `return rc_fail(err, code, ...)`. */
int rc_fail(char *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
