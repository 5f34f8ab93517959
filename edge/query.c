#include "query.h"
#include "error.h"
#include "json.h"
#include "record.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const param_names[RE_PARAM_COUNT] = {"query", "cookie", "products", "loc",    "device",
                                                        "n",     "fields", "category", "exclude"};

/* The most elements a list parameter holds. */
static unsigned param_max(enum re_param p)
{
    return p == RE_PARAM_CATEGORY ? RE_CATEGORIES_MAX : p == RE_PARAM_EXCLUDE ? RE_EXCLUDE_MAX : RE_PRODUCTS_MAX;
}

/* What one element of a list parameter is called in a reason. */
static const char *element_name(enum re_param p)
{
    return p == RE_PARAM_CATEGORY ? "name" : "id";
}

const char *re_param_name(enum re_param p)
{
    return (unsigned)p < RE_PARAM_COUNT ? param_names[p] : "query";
}

const char *re_query_reason(enum re_qerr e, enum re_param p, char *out, size_t cap)
{
    const char *name = re_param_name(p);
    switch (e) {
    case RE_QERR_NONE:
        snprintf(out, cap, "no error");
        break;
    case RE_QERR_QUERY_TOO_LONG:
        snprintf(out, cap, "query string longer than %d bytes", RE_QUERY_MAX);
        break;
    case RE_QERR_ENCODING:
        if (p == RE_PARAM_QUERY)
            snprintf(out, cap, "bad percent-encoding in the query string");
        else
            snprintf(out, cap, "bad percent-encoding in '%s'", name);
        break;
    case RE_QERR_TOO_LONG:
        snprintf(out, cap, "%s %s in '%s' is longer than %d bytes", p == RE_PARAM_CATEGORY ? "a" : "an",
                 element_name(p), name, RC_ID_MAX);
        break;
    case RE_QERR_EMPTY_ID:
        snprintf(out, cap, "'%s' holds an empty %s", name, element_name(p));
        break;
    case RE_QERR_TOO_MANY:
        snprintf(out, cap, "'%s' holds more than %u %ss", name, param_max(p), element_name(p));
        break;
    case RE_QERR_BAD_N:
        snprintf(out, cap, "'n' must be an integer from %d to %d", RE_N_MIN, RE_N_MAX);
        break;
    case RE_QERR_REPEATED:
        snprintf(out, cap, "'%s' is given more than once", name);
        break;
    case RE_QERR_BAD_FIELD:
        snprintf(out, cap, "'%s' must list field names from title, url, image_url, price, currency", name);
        break;
    case RE_QERR_FIELD_REPEATED:
        snprintf(out, cap, "'%s' names a field more than once", name);
        break;
    default:
        snprintf(out, cap, "bad request");
        break;
    }
    return out;
}

long re_pct_decode(char *dst, size_t dst_cap, const char *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            int hi, lo;
            if (len - i < 3 || (hi = rc_hexval((unsigned char)src[i + 1])) < 0 ||
                (lo = rc_hexval((unsigned char)src[i + 2])) < 0)
                return RC_EFORMAT;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (o >= dst_cap)
            return RC_ETOOLONG;
        if (dst)
            dst[o] = (char)c;
        o++;
    }
    return (long)o;
}

void re_query_init(struct re_query *q)
{
    q->cookie = q->loc = q->device = (struct re_id){NULL, 0};
    q->nproducts = 0;
    q->ncategories = 0;
    q->nexclude = 0;
    q->n = RE_N_DEFAULT;
    q->fields = 0;
    q->err = RE_QERR_NONE;
    q->err_param = RE_PARAM_QUERY;
    q->store_len = 0;
}

static int fail(struct re_query *q, enum re_qerr e, enum re_param p)
{
    q->err = e;
    q->err_param = p;
    return RC_EFORMAT;
}

/* Decode one id into the store; 0, or an error recorded in q. */
static int decode_id(struct re_query *q, enum re_param p, const char *s, size_t len, struct re_id *out)
{
    char *dst = q->store + q->store_len;
    size_t room = sizeof(q->store) - q->store_len;
    long n = re_pct_decode(dst, room < RC_ID_MAX ? room : RC_ID_MAX, s, len);
    if (n == RC_EFORMAT)
        return fail(q, RE_QERR_ENCODING, p);
    if (n < 0)
        return fail(q, RE_QERR_TOO_LONG, p);
    out->p = dst;
    out->len = (uint16_t)n;
    q->store_len += (size_t)n;
    return 0;
}

/* products=: ids separated by raw ',', none empty, at most
 * RE_PRODUCTS_MAX, decoded into the store; an id given twice is kept once,
 * where it first came. */
static int parse_products(struct re_query *q, const char *v, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && v[i] != ',')
            continue;
        if (i == start)
            return fail(q, RE_QERR_EMPTY_ID, RE_PARAM_PRODUCTS);
        if (q->nproducts >= RE_PRODUCTS_MAX)
            return fail(q, RE_QERR_TOO_MANY, RE_PARAM_PRODUCTS);
        struct re_id id;
        size_t mark = q->store_len;
        int rc = decode_id(q, RE_PARAM_PRODUCTS, v + start, i - start, &id);
        if (rc)
            return rc;
        if (id.len == 0) /* cannot happen: a non-empty raw id decodes to >= 1 byte */
            return fail(q, RE_QERR_EMPTY_ID, RE_PARAM_PRODUCTS);
        int dup = 0;
        for (unsigned k = 0; k < q->nproducts && !dup; k++)
            dup = q->products[k].len == id.len && memcmp(q->products[k].p, id.p, id.len) == 0;
        if (dup)
            q->store_len = mark; /* forget the copy */
        else
            q->products[q->nproducts++] = id;
        start = i + 1;
    }
    return 0;
}

/* category= and exclude=: the same syntax as products, at most
 * param_max(p) distinct elements, each kept as its key (rc_key of the
 * decoded bytes: routing compares products and names categories by key),
 * a key given twice kept once, where it first came. */
static int parse_keys(struct re_query *q, enum re_param p, const char *v, size_t len, uint64_t *keys,
                      unsigned *count)
{
    unsigned max = param_max(p);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && v[i] != ',')
            continue;
        if (i == start)
            return fail(q, RE_QERR_EMPTY_ID, p);
        char id[RC_ID_MAX];
        long n = re_pct_decode(id, sizeof(id), v + start, i - start);
        if (n == RC_EFORMAT)
            return fail(q, RE_QERR_ENCODING, p);
        if (n < 0)
            return fail(q, RE_QERR_TOO_LONG, p);
        uint64_t key = rc_key(id, (size_t)n); /* n >= 1: a non-empty raw id decodes to >= 1 byte */
        int dup = 0;
        for (unsigned k = 0; k < *count && !dup; k++)
            dup = keys[k] == key;
        if (!dup && *count >= max)
            return fail(q, RE_QERR_TOO_MANY, p);
        if (!dup)
            keys[(*count)++] = key;
        start = i + 1;
    }
    return 0;
}

static int parse_n(struct re_query *q, const char *v, size_t len)
{
    char digits[4];
    long n = re_pct_decode(digits, sizeof(digits) - 1, v, len);
    if (n == RC_EFORMAT)
        return fail(q, RE_QERR_ENCODING, RE_PARAM_N);
    if (n <= 0)
        return fail(q, RE_QERR_BAD_N, RE_PARAM_N);
    unsigned val = 0;
    for (long i = 0; i < n; i++) {
        if (digits[i] < '0' || digits[i] > '9')
            return fail(q, RE_QERR_BAD_N, RE_PARAM_N);
        val = val * 10 + (unsigned)(digits[i] - '0');
    }
    if (val < RE_N_MIN || val > RE_N_MAX)
        return fail(q, RE_QERR_BAD_N, RE_PARAM_N);
    q->n = val;
    return 0;
}

/* fields=: display field names separated by raw ','; each at most once. */
static int parse_fields(struct re_query *q, const char *v, size_t len)
{
    if (re_pct_decode(NULL, SIZE_MAX, v, len) < 0) /* all of it, names too long to be one too */
        return fail(q, RE_QERR_ENCODING, RE_PARAM_FIELDS);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && v[i] != ',')
            continue;
        char name[16];
        long n = re_pct_decode(name, sizeof(name), v + start, i - start);
        int field = -1;
        for (int f = 0; f < RC_FIELD_COUNT && n > 0 && field < 0; f++)
            if (strlen(rc_field_name(f)) == (size_t)n && memcmp(rc_field_name(f), name, (size_t)n) == 0)
                field = f;
        if (field < 0) /* empty, unknown, or longer than any name */
            return fail(q, RE_QERR_BAD_FIELD, RE_PARAM_FIELDS);
        if (q->fields & (1u << field))
            return fail(q, RE_QERR_FIELD_REPEATED, RE_PARAM_FIELDS);
        q->fields |= 1u << field;
        start = i + 1;
    }
    return 0;
}

int re_pair_name(const char *name, size_t len, const char *const *names, int count)
{
    char dec[16];
    if (re_pct_decode(NULL, SIZE_MAX, name, len) < 0)
        return RC_EFORMAT;
    long n = re_pct_decode(dec, sizeof(dec), name, len);
    if (n < 0)
        return -1; /* longer than any known name */
    for (int i = 0; i < count; i++)
        if (names[i] && strlen(names[i]) == (size_t)n && memcmp(names[i], dec, (size_t)n) == 0)
            return i;
    return -1;
}

int re_pair_next(const char *raw, size_t len, size_t *pos, struct re_pair *out)
{
    while (*pos < len) {
        const char *pair = raw + *pos;
        const char *amp = memchr(pair, '&', len - *pos);
        size_t plen = amp ? (size_t)(amp - pair) : len - *pos;
        *pos += plen + 1;
        if (plen == 0)
            continue;
        const char *eq = memchr(pair, '=', plen);
        out->name = pair;
        out->name_len = eq ? (size_t)(eq - pair) : plen;
        out->value = eq ? eq + 1 : pair + plen;
        out->value_len = eq ? plen - out->name_len - 1 : 0;
        return 1;
    }
    return 0;
}

int re_query_parse(struct re_query *q, const char *raw, size_t len)
{
    re_query_init(q);
    if (len > RE_QUERY_MAX)
        return fail(q, RE_QERR_QUERY_TOO_LONG, RE_PARAM_QUERY);
    unsigned seen = 0;
    size_t pos = 0;
    struct re_pair pair;
    while (re_pair_next(raw, len, &pos, &pair)) {
        const char *val = pair.value;
        size_t vlen = pair.value_len;
        /* param_names[0] is "query", no parameter's name: start at 1. */
        int known = re_pair_name(pair.name, pair.name_len, param_names + 1, RE_PARAM_COUNT - 1);
        if (known == RC_EFORMAT)
            return fail(q, RE_QERR_ENCODING, RE_PARAM_QUERY);
        enum re_param p = known < 0 ? RE_PARAM_QUERY : (enum re_param)(known + 1);
        if (p == RE_PARAM_QUERY) {
            if (re_pct_decode(NULL, SIZE_MAX, val, vlen) < 0)
                return fail(q, RE_QERR_ENCODING, RE_PARAM_QUERY);
            continue;
        }
        if (seen & (1u << p))
            return fail(q, RE_QERR_REPEATED, p);
        seen |= 1u << p;
        int rc = 0;
        switch (p) {
        case RE_PARAM_COOKIE:
            rc = decode_id(q, p, val, vlen, &q->cookie);
            break;
        case RE_PARAM_LOC:
            rc = decode_id(q, p, val, vlen, &q->loc);
            break;
        case RE_PARAM_DEVICE:
            rc = decode_id(q, p, val, vlen, &q->device);
            break;
        case RE_PARAM_PRODUCTS:
            rc = vlen ? parse_products(q, val, vlen) : 0;
            break;
        case RE_PARAM_CATEGORY:
            rc = vlen ? parse_keys(q, p, val, vlen, q->categories, &q->ncategories) : 0;
            break;
        case RE_PARAM_EXCLUDE:
            rc = vlen ? parse_keys(q, p, val, vlen, q->exclude, &q->nexclude) : 0;
            break;
        case RE_PARAM_N:
            rc = parse_n(q, val, vlen);
            break;
        case RE_PARAM_FIELDS:
            rc = vlen ? parse_fields(q, val, vlen) : 0;
            break;
        default:
            break;
        }
        if (rc)
            return rc;
    }
    /* An empty value counts as absent. */
    if (!q->cookie.len)
        q->cookie.p = NULL;
    if (!q->loc.len)
        q->loc.p = NULL;
    if (!q->device.len)
        q->device.p = NULL;
    return 0;
}

int re_head_origin(const char *buf, size_t n, const char **value, size_t *len)
{
    const char *end = buf + n;
    const char *p = n ? memchr(buf, '\n', n) : NULL;
    while (p && ++p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return 0;
        size_t l = (size_t)(eol - p);
        if (l && p[l - 1] == '\r')
            l--;
        if (!l)
            return 0; /* the end of the head */
        if (l >= 7 && strncasecmp(p, "Origin:", 7) == 0) {
            const char *v = p + 7, *ve = p + l;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *value = v;
            *len = (size_t)(ve - v);
            return 1;
        }
        p = eol;
    }
    return 0;
}
