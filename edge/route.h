/*
 * route.h - the routing rules of GET /v1/recs (schemas/http.md, "Routing"):
 * which lists of one cache version answer a query, merged, filled up and
 * deduplicated, into the items of an answer (answer.h writes its JSON).
 *
 * A pure function over an open cache and a read transaction: no HTTP, no
 * globals, no allocation. Tiers, in order:
 *
 *   image    products given: the `product` (image) and `coview` lists of
 *            every product on screen, merged best score first (a product in
 *            several lists keeps its highest score; equal scores keep the
 *            order of `products`, a product's image list before its coview
 *            list); recbuild scales coview scores to rank against cosines;
 *   cf       the cookie's `cookie` list;
 *   segment  the `segment` lists of (loc, device), (loc, *), (*, device),
 *   global   (*, *), an absent loc or device being "*", each key tried once;
 *   category with category= only: the `category` list of each category
 *            asked for, in the order asked (the global tier within those
 *            categories).
 *
 * The first tier that applies answers; while fewer than n items are
 * collected, the next tiers fill up. An item appears once (compared by its
 * 64-bit product key) and never when it is on screen (or excluded, or
 * suppressed: below); the entries of one
 * list are taken to be distinct (a format rule, schemas/cache.md, that
 * recctl verify checks), so only items from different lists are compared
 * with each other. Every item carries the
 * source byte of the list it came from. `route` is the source of the first
 * item (so "coview" when a coview item leads the browsing tier), or when
 * there is none the tier the rules chose (image when products
 * were given, cf when the cookie has a list, segment when loc or device was
 * given, else global).
 *
 * Lists are ranked best first (schemas/cache.md); the browsing merge relies on
 * it and reads only as far down each list as the answer needs (one entry
 * ahead of what it takes). Lists are opened with RC_DECODE_LAZY: entries
 * are checked as they are read, not all at open. A record whose header
 * does not decode is skipped; one whose entries go bad is used up to the
 * first bad entry; either is counted once in bad_records (the version's
 * checksum was verified at load, so this means a builder bug). A defect
 * past what the answer reads is not seen.
 *
 * Overlay (s->suppress, schemas/overlay.md): a product the overlay holds is
 * skipped like a product on screen, so the answer fills from deeper in the
 * same list and then from the next tiers. Lookup is a binary search of
 * the overlay's sorted keys per candidate entry (log2 10,000 = 14
 * compares in an 80 KB array that stays in cache): the answer reads about
 * n + 1 entries per list, so this costs well under a microsecond, where
 * pre-seeding the seen-set would insert every suppressed key (10,000 per
 * request) and need a table 64 times larger. Without an overlay
 * re_route tests s->suppress once and runs a copy of the path that has no
 * overlay check at all; re_route_arm (experiment arms, already the slower
 * path) tests a NULL pointer per candidate entry.
 *
 * Filters (q->categories, q->exclude; schemas/http.md, "Filters"): an
 * excluded product is skipped like a product on screen. With category=,
 * the `catset` record of each category asked for is opened once per
 * request (one get each; a category the version lacks has no products,
 * one whose record is bad is counted in bad_records and has none either)
 * and an item is taken only when one of the sets holds it (a binary
 * search per set per candidate entry). Each list of the image, cf,
 * segment and global tiers is then read at most RE_FILTER_DEPTH entries
 * deep, and the category tier, whose lists hold nothing but the asked
 * categories, fills up last: a category-filtered request reads a bounded
 * number of entries, where reading the 200-entry segment and global lists
 * through cost 36 times the plain path (ops/bench/edge.md). When no
 * category asked for is known,
 * no list is read and the answer is empty. An answer with fewer than n
 * items is short (answer.h says so in its JSON), whatever made it so.
 * Without a filter and without an overlay, re_route runs a copy of the
 * path with neither check (one branch on both, then the plain path as it
 * was); filters and the overlay share the other copy, which tests both at
 * run time.
 *
 * Display fields (q->fields): once the items are chosen, each one's item
 * record is looked up (one more get per item, in txn) and the texts of the
 * fields asked for that it holds go into out->texts; an item without a
 * record, or whose record does not decode (counted in bad_records), has
 * none. Without fields nothing more is read.
 *
 * Thread rules: a scratch belongs to one thread at a time; the cache and
 * txn are the caller's. Items point into the LMDB map and are valid until
 * the txn is reset.
 */
#ifndef RE_ROUTE_H
#define RE_ROUTE_H

#include <lmdb.h>
#include <stdint.h>

#include "answer.h"
#include "cache.h"
#include "experiment.h"
#include "overlay.h"
#include "query.h"
#include "record.h"

/* Under category=, how deep a list other than a category list is read. */
#define RE_FILTER_DEPTH 64
#define RE_SEEN_SLOTS 1024 /* power of two, > 4 x (RE_N_MAX + RE_PRODUCTS_MAX + RE_EXCLUDE_MAX) */
_Static_assert(RE_SEEN_SLOTS > 4 * (RE_N_MAX + RE_PRODUCTS_MAX + RE_EXCLUDE_MAX), "the seen-set stays sparse");

/* Per-thread working memory; zero it once (re_route_scratch_init). */
struct re_route_scratch {
    struct {
        uint64_t key;
        uint32_t stamp;
    } seen[RE_SEEN_SLOTS];
    uint32_t stamp;
    /* The overlay (shared/overlay.h) of the request: set by the caller
     * before each call, NULL for none; the caller keeps it alive until the
     * answer is written. */
    const struct rc_overlay *suppress;
};

void re_route_scratch_init(struct re_route_scratch *s);

/*
 * Answer q from cache c inside the read transaction txn into out (out->arm
 * NULL, out->rec_id NULL: the caller sets the id).
 * q->n must be within RE_N_MIN..RE_N_MAX (re_query_parse guarantees it).
 * Returns 0, or an LMDB error other than MDB_NOTFOUND (out is then empty).
 */
int re_route(const struct rc_cache *c, MDB_txn *txn, const struct re_query *q, struct re_route_scratch *s,
             struct re_recs *out);

/*
 * re_route under an experiment arm's routing policy (shared/experiment.h,
 * schemas/experiments.md): only the tiers in arm->tiers answer or fill up,
 * in the usual order (image, cf, segment, global: "global" is the (*, *)
 * list, "segment" the three keys before it); the cf tier reads
 * arm->cf_db (RC_DB_COOKIE, or RC_DB_COOKIE_B for an arm on the second CF
 * parameter set: a cookie without a list there falls through to the next
 * tiers). A holdout arm's tiers are segment and global, so its answers
 * hold no image, coview or cf item whatever the request carries; the
 * products on screen are still never recommended. The category tier is
 * on where the global tier is. When no item is found,
 * `route` names a tier the arm has on. out->arm is arm. arm NULL: exactly
 * re_route. Errors as re_route.
 */
int re_route_arm(const struct rc_cache *c, MDB_txn *txn, const struct re_query *q,
                 const struct rc_experiment_arm *arm, struct re_route_scratch *s, struct re_recs *out);

#endif
