/*
 * gen_files.h - the files recgen writes from its model, one function each
 * (formats in schemas/inputs.md and schemas/recgen.md).
 *
 * Each writes dir/<name> through gen_out.h (complete or absent) and returns
 * 0 or a negative code with err naming the file: -errno from writing,
 * -ENOMEM. Each draws only from its own rng streams (gen_rng.h), so the
 * files do not depend on the order they are written in; the model is only
 * read.
 */
#ifndef RB_GEN_FILES_H
#define RB_GEN_FILES_H

#include "gen.h"
#include "gen_model.h"

/* catalog.csv: id, category, in_stock, title, price (DOMAIN_CATALOG). */
int rb_gen_write_catalog(const struct model *m, const char *dir, char *err);

/* emb_ids.txt: one product id a line, in emb.npy's row order. */
int rb_gen_write_emb_ids(const struct model *m, const char *dir, char *err);

/* emb.npy: P x dim float32, clustered by category and cluster (DOMAIN_EMB). */
int rb_gen_write_emb(const struct model *m, const char *dir, char *err);

/* truth_products.csv, truth_categories.csv, truth_segments.csv: what the
 * model planted, from the model alone (no draws). */
int rb_gen_write_truth_products(const struct model *m, const char *dir, char *err);
int rb_gen_write_truth_categories(const struct model *m, const char *dir, char *err);
int rb_gen_write_truth_segments(const struct model *m, const char *dir, char *err);

/* events.csv and truth_cookies.csv, cookie by cookie (the per-cookie
 * domains); st gets the counts of what was written. RC_EINTERNAL when the
 * rows do not add up to the config's events and cookies. */
int rb_gen_write_cookies(const struct model *m, const char *dir, struct rb_gen_stats *st, char *err);

#endif
