/*
 * experiment.h - one A/B experiment: the experiments.json a cache version
 * may carry (schemas/experiments.md), parsed and checked, and the arm a
 * visitor's cookie falls in.
 *
 * Where it lives. A version directory may hold RC_EXPERIMENT_FILE, listed in
 * its manifest's files like data.mdb; rc_version_check (version.h) reads it
 * at every level, so a version whose definition does not parse is not
 * verified, and hangs the parsed struct off the open cache
 * (rc_cache.experiment, NULL when the version has none). recbuild writes it
 * from --experiments FILE after checking it here. One experiment per version.
 *
 * The document (every rule is checked; the first fault is refused with a
 * message that names it, "arms[1] ('treatment'): unknown key 'teirs'"):
 *
 *   {"id": ID, "salt": ID, "arms": [ARM, ...]}           1..8 arms
 *   ARM = {"name": ID, "buckets": [from, to],             0 <= from < to <= 10000
 *          "control": BOOL, "holdout": BOOL,              optional, default false
 *          "tiers": [TIER, ...], "cf": CF}                optional
 *   ID = 1..64 bytes of [A-Za-z0-9._-]; TIER = image | cf | segment | global;
 *   CF = "cookie" | "cookie_b"
 *
 *   - unknown keys, and keys given twice, are refused;
 *   - arm names are distinct; bucket ranges [from, to) never overlap (gaps
 *     are allowed: a cookie there is in no arm);
 *   - at most one arm says "control": true; none: the first arm is control;
 *   - "holdout": true means tiers segment and global only, and may not be
 *     combined with "tiers"; "tiers" lists at least one tier, each once, in
 *     any order (the routing order is fixed: image, cf, segment, global);
 *   - "cf" names the DB the cf tier reads: "cookie" (the default) or
 *     "cookie_b", the lists of a second CF parameter set (recbuild
 *     --cf-b-params). The parser cannot know whether a version holds
 *     cookie_b lists: rc_version_check refuses a version whose experiment
 *     names cookie_b and whose manifest counts none.
 *
 * Assignment (the same on every node, across restarts and swaps):
 *
 *   bucket = XXH3_64bits_withSeed(cookie, len, XXH3_64bits(salt, strlen(salt))) % 10000
 *
 * over the cookie's bytes as the request gives them (re_query's decoded
 * cookie); the arm is the one whose [from, to) holds bucket. No cookie (len
 * 0): no arm.
 *
 * Ownership and threads: a struct rc_experiment is one allocation holding
 * no pointers; once parsed it is read-only and shared by every thread.
 * rc_experiment_assign reads only.
 */
#ifndef RC_EXPERIMENT_H
#define RC_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

#define RC_EXPERIMENT_FILE "experiments.json"
#define RC_EXPERIMENT_FILE_MAX 65536 /* bytes; a larger file is refused unread */
#define RC_EXPERIMENT_ID_MAX 64      /* id, salt, arm name: 1..64 bytes */
#define RC_EXPERIMENT_ARMS_MAX 8
#define RC_EXPERIMENT_BUCKETS 10000

/* Routing tiers an arm may turn off (edge/route.h), as bits. */
enum rc_tier {
    RC_TIER_IMAGE = 1u << 0,   /* products on screen: image and coview lists */
    RC_TIER_CF = 1u << 1,      /* the cookie's CF list */
    RC_TIER_SEGMENT = 1u << 2, /* (loc, device), (loc, *), (*, device) */
    RC_TIER_GLOBAL = 1u << 3,  /* (*, *) */
    RC_TIER_ALL = 0xfu,
    RC_TIER_HOLDOUT = RC_TIER_SEGMENT | RC_TIER_GLOBAL,
};

struct rc_experiment_arm {
    char name[RC_EXPERIMENT_ID_MAX + 1];
    uint16_t from, to;   /* buckets [from, to) */
    unsigned tiers;      /* enum rc_tier bits; never 0 */
    enum rc_db cf_db;    /* the DB the cf tier reads: RC_DB_COOKIE or RC_DB_COOKIE_B */
    int control, holdout;
    /* ',"experiment":"<id>","arm":"<name>"' for the answer's JSON (ids need
     * no escaping) and '<id>/<name>' for the X-Experiment header. */
    char json[2 * RC_EXPERIMENT_ID_MAX + 32];
    uint8_t json_len;
    char label[2 * RC_EXPERIMENT_ID_MAX + 2];
};

struct rc_experiment {
    char id[RC_EXPERIMENT_ID_MAX + 1];
    char salt[RC_EXPERIMENT_ID_MAX + 1];
    uint64_t seed;    /* XXH3_64bits(salt) */
    unsigned narms;   /* 1..RC_EXPERIMENT_ARMS_MAX */
    unsigned control; /* index of the control arm */
    struct rc_experiment_arm arms[RC_EXPERIMENT_ARMS_MAX];
};

/*
 * Parse and check the document text[0, len). On success *out is a new
 * experiment (rc_experiment_free it). Errors: RC_EFORMAT (not JSON, or a
 * rule above broken; err names the fault and where), RC_ETOOLONG (more than
 * RC_EXPERIMENT_FILE_MAX bytes), -ENOMEM. *out is NULL on failure.
 */
int rc_experiment_parse(const char *text, size_t len, struct rc_experiment **out, char *err);

/*
 * Read and parse the file at path (a regular file of at most
 * RC_EXPERIMENT_FILE_MAX bytes). Errors: -errno (unreadable; err names the
 * path), RC_EFORMAT (not a regular file), RC_ETOOLONG, and
 * rc_experiment_parse's, the message prefixed with the path. Nothing is
 * returned on failure.
 */
int rc_experiment_read(const char *path, struct rc_experiment **out, char *err);

/* rc_experiment_read that also returns the file's bytes as parsed in *text
 * (NUL-terminated; free it) and their count in *len, so that a writer
 * (recbuild) stores exactly what was checked. */
int rc_experiment_read_text(const char *path, struct rc_experiment **out, char **text, size_t *len, char *err);

void rc_experiment_free(struct rc_experiment *x);

/* The bucket of a cookie, 0..RC_EXPERIMENT_BUCKETS-1 (formula above). */
unsigned rc_experiment_bucket(const struct rc_experiment *x, const char *cookie, size_t len);

/* The index of the arm the cookie falls in, or -1: no cookie (len 0), or a
 * bucket in no arm's range. */
int rc_experiment_assign(const struct rc_experiment *x, const char *cookie, size_t len);

/*
 * The arms of x as one log value into out (cap bytes, always terminated):
 * "control:49.00%,treatment:49.00%,holdout:2.00%" (each arm's share of
 * the buckets; a holdout arm also says "(holdout)", a second CF set
 * "(cookie_b)"). Returns the share of buckets the arms cover, 0..10000.
 */
unsigned rc_experiment_describe(const struct rc_experiment *x, char *out, size_t cap);

/* The name of a tier bit ("image", "cf", "segment", "global"), or NULL. */
const char *rc_tier_name(unsigned tier);

#endif
