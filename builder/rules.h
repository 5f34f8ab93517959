/*
 * rules.h - build-time business rules over recbuild's lists (recbuild
 * --rules FILE, schemas/rules.md): category exclusion (everywhere or per
 * segment), category boost per segment, a maximal-marginal-relevance
 * rerank, and category caps.
 *
 * Lifecycle: rb_rules_read (or rb_rules_parse) once, before any work, so a
 * bad file fails the build at once; rb_rules_apply on each kind of list,
 * after every model and exploration stage has filled them; rb_rules_free.
 * A parsed struct rb_rules is read-only and may be shared by threads.
 *
 * Per list, in this order:
 *   1. exclude   entries of an excluded category are dropped (the
 *                top-level exclusion on every kind of list it names, a
 *                matching segment rule's on segment and global lists);
 *   2. boost     entries rank by score x factor (a factor > 1 raises, < 1
 *                lowers; a negative score is divided by it instead) where
 *                a matching segment rule boosts their category;
 *   3. mmr       greedy maximal-marginal-relevance order: each next entry
 *                maximises (1 - w) x relevance - w x (its highest
 *                similarity to the entries already placed), relevance the
 *                ranking score scaled to [0, 1] within the list;
 *   4. cap       walking the list in its new order, an entry past the
 *                max'th of its category is dropped;
 *   5. keep      the first `keep` entries left are stored (candidates,
 *                below).
 * Then the kept entries take the kept entries' own scores sorted best
 * first, position by position: the order the rules chose is stored, every
 * list stays ranked best first (scores non-increasing: recedge's merges
 * depend on it) on the scale its model gave, and a list the rules did not
 * reorder keeps every entry's own score. Rules drop and reorder entries,
 * never add one, so a list's products stay distinct; a list may become
 * shorter (recedge fills from the next tiers) or empty (not written).
 */
#ifndef RB_RULES_H
#define RB_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "manifest.h"

#define RB_RULES_FILE_MAX (1 << 20)  /* bytes a rules file may take */
#define RB_RULES_SEGMENTS_MAX 256    /* segment rules in one file */
#define RB_RULES_CATEGORIES_MAX 1024 /* category names in one exclude or boost */
#define RB_RULES_BOOST_MAX 1000.0    /* boost factors lie in (0, RB_RULES_BOOST_MAX] */
#define RB_RULES_DBS (RC_DB_CATEGORY + 1) /* the list DBs rules address: RC_DB_COOKIE..RC_DB_CATEGORY */

/* How the MMR rerank measures the similarity of two products. */
enum rb_rules_sim {
    RB_SIM_AUTO,       /* embeddings when the build has any, else categories */
    RB_SIM_EMBEDDINGS, /* cosine of the image embeddings (negative as 0); a pair
                        * without both embeddings falls back to categories */
    RB_SIM_CATEGORIES, /* 1 for two products of the same known category, else 0 */
};
extern const char *const rb_rules_sim_names[]; /* "auto", "embeddings", "categories", NULL */

struct rb_rules; /* opaque; parsed and checked */

/*
 * Parse and check a rules document text[0, len) (schemas/rules.md). Unknown
 * keys, repeated keys, values out of range and a category both excluded and
 * boosted by one rule are refused with a message naming the place.
 * Errors: RC_EFORMAT, RC_ETOOLONG (over RB_RULES_FILE_MAX), -ENOMEM.
 * On success *out is the caller's (rb_rules_free).
 */
int rb_rules_parse(const char *text, size_t len, struct rb_rules **out, char *err);

/* rb_rules_parse on a regular file of at most RB_RULES_FILE_MAX bytes;
 * err names the file. Errors: those, and -errno. */
int rb_rules_read(const char *path, struct rb_rules **out, char *err);

void rb_rules_free(struct rb_rules *r);

/* One line for the log: which rules the file holds
 * ("exclude=1 segments=2 mmr=0.3/auto cap=3"). */
void rb_rules_describe(const struct rb_rules *r, char *out, size_t cap);

/* 1 when some rule can change lists of DB db (RC_DB_COOKIE..RC_DB_CATEGORY). */
int rb_rules_touch(const struct rb_rules *r, int db);

/*
 * Candidates. A rule that drops entries would leave a list of --n entries
 * short, and a rerank could only reorder the few the model kept; so the
 * models rank RB_RULES_DEPTH x n candidates for the lists the rules touch,
 * and rb_rules_apply stores the first n of what the rules keep. Without
 * rules a list stores the model's first n: the figures "without rules"
 * (eval.h) are those of the first n candidates.
 */
#define RB_RULES_DEPTH 3

/* Entries a model ranks for DB db's lists when n are stored: n, or
 * RB_RULES_DEPTH x n (at most RC_LIST_MAX) when r touches them. r may be NULL. */
uint32_t rb_rules_depth(const struct rb_rules *r, int db, uint32_t n);

/* What rb_rules_apply did to one kind of list. */
struct rb_rules_stats {
    uint64_t lists;      /* lists seen */
    uint64_t changed;    /* lists whose entries or order changed */
    uint64_t emptied;    /* lists left with no entry */
    uint64_t entries_before, entries_after; /* stored without the rules (the first keep) and with them */
    uint64_t excluded;   /* entries dropped by an exclusion */
    uint64_t capped;     /* entries dropped by a cap */
    uint64_t moved;      /* stored entries that differ from the entry stored there without the rules */
    uint32_t unknown_categories; /* category names of the file the catalog does not know (all kinds alike) */
    uint32_t unmatched_segments; /* segment rules that matched no segment list (segment DB only) */
};

/*
 * Apply the rules to every list of l, lists of DB db (RC_DB_COOKIE..
 * RC_DB_CATEGORY; segment lists include the global one; category lists
 * take the top-level exclusion only), then keep at most
 * `keep` entries of each (0: all; a list the rules do not touch is only
 * cut to keep). Products are
 * indices of d, whose categories, locations, devices and embeddings the
 * rules read. In place: items, scores and len change; k, n, owner keys
 * stay. Runs in parallel over lists (OpenMP).
 * Errors: RC_ERANGE (db is not a list DB), -ENOMEM; l is unchanged then.
 */
int rb_rules_apply(const struct rb_rules *r, struct rb_lists *l, int db, uint32_t keep, const struct rb_dataset *d,
                   struct rb_rules_stats *st, char *err);

#endif
