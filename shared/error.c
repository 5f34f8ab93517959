#include "error.h"

#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const rc_messages[] = {
    [RC_EFORMAT - RC_ERR_FIRST] = "input not in the documented format",
    [RC_EMAGIC - RC_ERR_FIRST] = "foreign magic number",
    [RC_EVERSION - RC_ERR_FIRST] = "unsupported format version",
    [RC_ETRUNC - RC_ERR_FIRST] = "truncated data",
    [RC_ECHECKSUM - RC_ERR_FIRST] = "checksum mismatch",
    [RC_ERANGE - RC_ERR_FIRST] = "value out of range",
    [RC_ETOOLONG - RC_ERR_FIRST] = "value too long",
    [RC_ENOTFOUND - RC_ERR_FIRST] = "not found",
    [RC_EMANIFEST - RC_ERR_FIRST] = "bad manifest",
    [RC_ECOLLISION - RC_ERR_FIRST] = "key collision",
    [RC_EBADLINES - RC_ERR_FIRST] = "too many malformed input lines",
    [RC_EEMPTY - RC_ERR_FIRST] = "no usable input rows",
    [RC_ENOGPU - RC_ERR_FIRST] = "no usable GPU",
    [RC_EINTERNAL - RC_ERR_FIRST] = "internal error",
    [RC_EMISMATCH - RC_ERR_FIRST] = "of another run",
};

const char *rc_strerror(int code)
{
    if (code == 0)
        return "success";
    if (code >= RC_ERR_FIRST && code <= RC_ERR_LAST) {
        size_t i = (size_t)(code - RC_ERR_FIRST);
        if (i < sizeof(rc_messages) / sizeof(rc_messages[0]) && rc_messages[i])
            return rc_messages[i];
        return "unknown edgerec error";
    }
    /* mdb_strerror covers LMDB's range and falls back to strerror(). */
    if (code >= MDB_KEYEXIST && code <= MDB_LAST_ERRCODE)
        return mdb_strerror(code);
    /* -errno by our convention; LMDB itself returns system errors as
     * positive errno values, which rc_lmdb() normalises but we still
     * explain here. */
    return strerror(code < 0 ? -code : code);
}

int rc_fail(char *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, RC_ERRMSG_MAX, fmt, ap);
        va_end(ap);
    }
    return code;
}
