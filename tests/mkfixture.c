/*
 * mkfixture - write a small cache version for end-to-end tests from a text
 * spec on standard input, through tests/fixture.h (shared/ cache writer,
 * manifest and layout code).
 *
 *   mkfixture --root DIR --version V [--no-flip] < spec
 *
 * Spec lines (blank lines and '#' comments skipped; tokens split on spaces):
 *   product ID  ID:SCORE ...      image list of a product
 *   cookie  ID  ID:SCORE ...      CF list of a cookie
 *   segment LOC DEVICE ID:SCORE   segment list; "*" for any, "* *" = global
 * Ids are percent-decoded (%22 for '"', %00 for NUL, %20 for a space); the
 * score follows the last ':'. Exit 0 on success, 1 on a bad spec or a write
 * error, 2 on bad usage.
 */
#include "fixture.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 1100

/* Percent-decode s in place; returns the length or -1. */
static long decode(char *s)
{
    size_t o = 0, n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            unsigned v;
            if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]) ||
                sscanf(s + i + 1, "%2x", &v) != 1)
                return -1;
            s[o++] = (char)v;
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    return (long)o;
}

int main(int argc, char **argv)
{
    const char *root = NULL, *version = NULL;
    int flip = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--root") && i + 1 < argc)
            root = argv[++i];
        else if (!strcmp(argv[i], "--version") && i + 1 < argc)
            version = argv[++i];
        else if (!strcmp(argv[i], "--no-flip"))
            flip = 0;
        else {
            fprintf(stderr, "usage: mkfixture --root DIR --version V [--no-flip] < spec\n");
            return 2;
        }
    }
    if (!root || !version) {
        fprintf(stderr, "usage: mkfixture --root DIR --version V [--no-flip] < spec\n");
        return 2;
    }
    struct fx *f = fx_new();
    static char line[1 << 20];
    static struct fx_entry entries[MAX_TOKENS];
    static char *tok[MAX_TOKENS];
    static size_t tlen[MAX_TOKENS];
    unsigned lineno = 0;
    while (fgets(line, sizeof(line), stdin)) {
        lineno++;
        size_t nt = 0;
        for (char *save, *t = strtok_r(line, " \t\r\n", &save); t && nt < MAX_TOKENS;
             t = strtok_r(NULL, " \t\r\n", &save))
            tok[nt++] = t;
        if (!nt || tok[0][0] == '#')
            continue;
        int seg = !strcmp(tok[0], "segment");
        size_t first = seg ? 3 : 2;
        if (nt < first || (!seg && strcmp(tok[0], "product") && strcmp(tok[0], "cookie"))) {
            fprintf(stderr, "mkfixture: line %u: expected product, cookie or segment with an id\n", lineno);
            return 1;
        }
        size_t n = 0;
        for (size_t i = first; i < nt; i++) {
            char *colon = strrchr(tok[i], ':');
            if (!colon) {
                fprintf(stderr, "mkfixture: line %u: '%s' is not ID:SCORE\n", lineno, tok[i]);
                return 1;
            }
            *colon = 0;
            long len = decode(tok[i]);
            if (len <= 0) {
                fprintf(stderr, "mkfixture: line %u: bad id '%s'\n", lineno, tok[i]);
                return 1;
            }
            entries[n++] = (struct fx_entry){tok[i], (size_t)len, strtof(colon + 1, NULL)};
        }
        for (size_t i = 1; i < first; i++) {
            long len = decode(tok[i]);
            if (len <= 0) {
                fprintf(stderr, "mkfixture: line %u: bad key '%s'\n", lineno, tok[i]);
                return 1;
            }
            tlen[i] = (size_t)len;
            tok[i][len] = 0;
        }
        int rc;
        if (seg)
            rc = fx_segment(f, tok[1], tok[2], entries, n);
        else
            rc = fx_list(f, !strcmp(tok[0], "cookie") ? RC_DB_COOKIE : RC_DB_PRODUCT, tok[1], tlen[1], entries, n);
        if (rc) {
            fprintf(stderr, "mkfixture: line %u: %s\n", lineno, rc_strerror(rc));
            return 1;
        }
    }
    char err[RC_ERRMSG_MAX];
    int rc = fx_write(f, root, version, flip, err);
    fx_free(f);
    if (rc) {
        fprintf(stderr, "mkfixture: %s\n", err);
        return 1;
    }
    return 0;
}
