/*
 * output.h - write the lists and the items into a new cache version and
 * publish it (schemas/cache.md): staging dir, sorted MDB_APPEND writes,
 * compacted data.mdb, manifest.json, atomic rename into versions/, flip
 * `current`, prune to keep K. A failure at any step removes the staging
 * directory and leaves `current` as it was.
 */
#ifndef RB_OUTPUT_H
#define RB_OUTPUT_H

#include "dataset.h"

#endif
