/*
 * fuzz_json.c - the JSON parser and string writer (shared/json.h).
 *
 * Each input is parsed as a document (the tree is walked: strings are
 * NUL-terminated at str_len, depth stays within the limit), then written
 * as a JSON string with rc_buf_json_str, rc_json_str_write and a fixed
 * buffer too small for it; json.h promises valid JSON whatever the bytes,
 * so the written string must parse back, to the same bytes when they are
 * valid UTF-8 without NUL. The first 4 bytes, as a float, go through
 * rc_json_score_write, which must write exactly what "%.6g" does.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz.h"
#include "json.h"

#define JSON_DEPTH_MAX 64 /* json.h: "Depth is limited to 64" (nested arrays and objects) */

static void walk(const struct rc_json *j, int depth)
{
    for (; j; j = j->next) {
        FUZZ_CHECK(j->type >= RC_JSON_NULL && j->type <= RC_JSON_OBJ);
        if (j->type == RC_JSON_STR) {
            FUZZ_CHECK(j->str);
            FUZZ_CHECK(j->str[j->str_len] == 0);
        }
        if (j->type == RC_JSON_ARR || j->type == RC_JSON_OBJ) {
            FUZZ_CHECK(depth <= JSON_DEPTH_MAX);
            walk(j->child, depth + 1);
        } else {
            FUZZ_CHECK(!j->child);
        }
        int members = 0; /* the first few members are found by their names */
        if (j->type == RC_JSON_OBJ)
            for (const struct rc_json *c = j->child; c && members < 16; c = c->next, members++) {
                FUZZ_CHECK(c->key);
                FUZZ_CHECK(rc_json_get(j, c->key));
            }
    }
}

/* 1 when s[0, n) is valid UTF-8 (shortest forms, no surrogates, <= U+10FFFF). */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += len;
    }
    return 1;
}

static void check_string_writers(const char *s, size_t n)
{
    struct rc_buf b;
    rc_buf_init(&b);
    rc_buf_json_str(&b, s, n);
    FUZZ_CHECK(!b.overflow);
    FUZZ_CHECK(b.len <= RC_JSON_STR_MAX(n));

    /* rc_json_str_write into exactly RC_JSON_STR_MAX(n) bytes: ASan sees any byte past it. */
    char *raw = malloc(RC_JSON_STR_MAX(n));
    FUZZ_CHECK(raw);
    char *end = rc_json_str_write(raw, s, n);
    FUZZ_CHECK(end >= raw && (size_t)(end - raw) == b.len && memcmp(raw, b.data, b.len) == 0);
    free(raw);

    /* A fixed buffer one byte short overflows rather than writes past it. */
    char *small = malloc(b.len);
    FUZZ_CHECK(small);
    struct rc_buf f;
    rc_buf_fixed(&f, small, b.len);
    rc_buf_json_str(&f, s, n);
    FUZZ_CHECK(f.overflow);
    free(small);

    struct rc_json *j = NULL;
    char err[RC_ERRMSG_MAX];
    int rc = rc_json_parse(b.data, b.len, &j, err);
    if (rc != 0)
        fprintf(stderr, "written string does not parse: %s\n", err);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(j->type == RC_JSON_STR);
    if (valid_utf8((const unsigned char *)s, n) && !memchr(s, 0, n))
        FUZZ_CHECK(j->str_len == n && memcmp(j->str, s, n) == 0);
    rc_json_free(j);
    rc_buf_release(&b);
}

static void check_score(const uint8_t *data)
{
    float f;
    memcpy(&f, data, sizeof(f));
    char room[RC_JSON_SCORE_ROOM + 1], want[64];
    char *end = rc_json_score_write(room, f);
    size_t len = (size_t)(end - room);
    FUZZ_CHECK(len >= 1 && len <= RC_JSON_SCORE_MAX);
    if (isfinite(f))
        snprintf(want, sizeof(want), "%.6g", (double)f);
    else
        snprintf(want, sizeof(want), "null");
    if (len != strlen(want) || memcmp(room, want, len) != 0)
        fprintf(stderr, "score %a: wrote '%.*s', %%.6g gives '%s'\n", (double)f, (int)len, room, want);
    FUZZ_CHECK(len == strlen(want) && memcmp(room, want, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct rc_json *j = NULL;
    char err[RC_ERRMSG_MAX];
    int rc = rc_json_parse(text, size, &j, err);
    if (rc == 0) {
        FUZZ_CHECK(j);
        walk(j, 1);
        rc_json_free(j);
    } else {
        FUZZ_CHECK(rc == RC_EFORMAT || rc == -ENOMEM);
        FUZZ_CHECK(err[0] != 0);
    }
    check_string_writers(text, size);
    if (size >= 4)
        check_score(data);
    return 0;
}
