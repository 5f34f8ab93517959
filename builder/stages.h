/*
 * stages.h - recbuild in stages with files between them (schemas/stages.md):
 *
 *   --stage train            ingest, training matrix, ALS -> WORK/factors_user.npy,
 *                            WORK/factors_item.npy, WORK/train.txt (written last)
 *   --stage score --shard I/N   ingest, training matrix, factors read back ->
 *                            the CF lists of shard I -> WORK/shard-I-of-N.bin
 *   --stage merge --shards N    ingest, training matrix, factors read back, every
 *                            shard read and checked -> the CF lists; then the rest
 *                            of the one-command build (image kNN, coview,
 *                            popularity, exploration, rules, evaluation, write,
 *                            manifest, verify, publish, flip)
 *
 * Every stage re-ingests the same inputs (ingest is deterministic) and
 * rebuilds the training matrix; a fingerprint of the ids and the matrix,
 * written by train and carried by each shard, refuses a stage run on other
 * inputs or flags. Shards are ranges of the rows that get a CF list, cut on
 * the scorer's block boundaries (rb_score_cf_range), so the merged lists are
 * the one-command build's bit for bit. Files are written under a temporary
 * name and renamed, so a stage run again writes the same file again.
 */
#ifndef RB_STAGES_H
#define RB_STAGES_H

#include <stddef.h>
#include <stdint.h>

#include "als.h"
#include "dataset.h"
#include "knn.h"
#include "score.h"
#include "train.h"
#include "tune.h"

enum rb_stage { RB_STAGE_ALL, RB_STAGE_TRAIN, RB_STAGE_SCORE, RB_STAGE_MERGE };
extern const char *const rb_stage_names[]; /* "all", "train", "score", "merge", NULL */

#define RB_SHARDS_MAX 4096

struct rb_stage_opts {
    int stage;          /* enum rb_stage */
    const char *work;   /* --work DIR */
    uint32_t shard;     /* --shard I/N: I */
    uint32_t shards;    /* --shard I/N: N, or --shards N (merge) */
    int have_shard;     /* --shard given */
    uint64_t flags;     /* digest of the flags every stage must share (recbuild's), part of the fingerprint */
};

/* --shard "I/N" (0 <= I < N <= RB_SHARDS_MAX) into o. RC_EFORMAT, RC_ERANGE. */
int rb_stage_parse_shard(struct rb_stage_opts *o, const char *arg, char *err);

/* The stage flags' own consistency (work given, shard for score, shards for
 * merge, no shard elsewhere). RC_EFORMAT with the fault in err. */
int rb_stage_check(const struct rb_stage_opts *o, char *err);

/* The longest `source` of train.txt (schemas/manifest.md's parameters.source), NUL included. */
#define RB_STAGE_SOURCE_MAX 16

/* train: the factors and WORK/train.txt (params: the CF parameters used;
 * source: where they came from, "defaults", "flags", "params-file" or
 * "tuned"). */
int rb_stage_write_train(const struct rb_stage_opts *o, const struct rb_params *p, const char *source,
                         const struct rb_train *t, const struct rb_dataset *d, const struct rb_als_model *m,
                         char *err);

/* score, merge: WORK/train.txt's CF parameters into p (the tunable ones,
 * the rest left as they are) and where train took them from into source.
 * RC_ENOTFOUND (no train stage), RC_EFORMAT. */
int rb_stage_read_params(const struct rb_stage_opts *o, struct rb_params *p, char source[RB_STAGE_SOURCE_MAX],
                         char *err);

/* score, merge: the factors back into m, after checking that t and d are
 * the train stage's (fingerprint; RC_EMISMATCH when not) and the files' checksums. */
int rb_stage_read_factors(const struct rb_stage_opts *o, const struct rb_train *t, const struct rb_dataset *d,
                          struct rb_als_model *m, char *err);

/* score: shard o->shard of o->shards scored (n entries a list) and written;
 * *path gets the file written (static storage). */
int rb_stage_score(const struct rb_stage_opts *o, const struct rb_als_model *m, const struct rb_train *t,
                   const struct rb_dataset *d, uint32_t n, int exclude_bought, const struct rb_score_opts *so,
                   const char **path, char *err);

/* merge: every shard read and checked (present, intact, of this train
 * stage's inputs, flags and factors m, n entries a list, one scorer with
 * one nlist and nprobe, together every row once) into out, as
 * rb_score_cf_with would have filled it; stats as it would (the recall
 * left to rb_score_cf_recall). RC_ENOTFOUND for a missing shard,
 * RC_ECHECKSUM / RC_ETRUNC / RC_EFORMAT for a damaged one, RC_EMISMATCH for
 * one of another run; err names the file. */
int rb_stage_merge_shards(const struct rb_stage_opts *o, const struct rb_als_model *m, const struct rb_train *t,
                          const struct rb_dataset *d, uint32_t n, const struct rb_score_opts *so,
                          struct rb_score_stats *stats, struct rb_lists *out, char *err);

/* score: shard o->shard of o->shards of the image-similarity lists (the
 * products with an embedding, in query order, cut on RB_KNN_BATCH units)
 * into WORK/image-I-of-N.bin, as rb_knn_image_range computes them. */
int rb_stage_score_image(const struct rb_stage_opts *o, const struct rb_train *t, const struct rb_dataset *d,
                         uint32_t n, const struct rb_knn_opts *ko, char *err);

/* merge: every image shard read and checked as rb_stage_merge_shards does
 * the CF ones, into out as rb_knn_image_range [0, all) fills it; stats'
 * method as the shards used (recall left to rb_knn_recall). */
int rb_stage_merge_image(const struct rb_stage_opts *o, const struct rb_train *t, const struct rb_dataset *d,
                         uint32_t n, const struct rb_knn_opts *ko, struct rb_knn_stats *stats, struct rb_lists *out,
                         char *err);

#endif
