/*
 * dataset.c - interned id tables and the lifecycles of the structs in
 * dataset.h (dataset, CSR matrices, training data, ranked lists).
 *
 * The id table is open addressing with linear probing over a power-of-two
 * slot array kept at most half full; a slot holds index + 1 (0 = empty).
 * Probing compares the stored 64-bit key first and the bytes second, so two
 * distinct ids with one key are detected (RC_ECOLLISION), never merged.
 */
#include "dataset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keys.h"

const char *const rb_bad_reason_names[RB_BAD_REASONS] = {
    [RB_BAD_FIELDS] = "fields", [RB_BAD_TS] = "timestamp", [RB_BAD_EVENT] = "event",
    [RB_BAD_ID] = "id",         [RB_BAD_QUOTE] = "quote",  [RB_BAD_LOCDEV] = "locdev",
    [RB_BAD_LONG] = "long_line",
};

/* The slot array stops at 2^31 entries and must keep an empty slot. */
#define STRTAB_MAX_IDS ((1u << 31) - 1u)

static int strtab_rehash(struct rb_strtab *t, uint32_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    uint32_t mask = nslots - 1;
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t s = (uint32_t)t->keys[i] & mask;
        while (slots[s])
            s = (s + 1) & mask;
        slots[s] = i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}

/* Grow the per-id arrays to cap entries and the slots to 2 * cap. */
static int strtab_grow(struct rb_strtab *t, uint32_t cap)
{
    uint64_t *keys = realloc(t->keys, (size_t)cap * sizeof(*keys));
    if (!keys)
        return -ENOMEM;
    t->keys = keys;
    uint64_t *offs = realloc(t->offs, (size_t)cap * sizeof(*offs));
    if (!offs)
        return -ENOMEM;
    t->offs = offs;
    uint16_t *lens = realloc(t->lens, (size_t)cap * sizeof(*lens));
    if (!lens)
        return -ENOMEM;
    t->lens = lens;
    t->cap = cap;
    uint64_t want = (uint64_t)cap * 2;
    uint32_t nslots = 16;
    while (nslots < want && nslots < (1u << 31))
        nslots <<= 1;
    if (nslots != t->nslots)
        return strtab_rehash(t, nslots);
    return 0;
}

int rb_strtab_init(struct rb_strtab *t, uint32_t expect)
{
    memset(t, 0, sizeof(*t));
    uint32_t cap = expect < 16 ? 16 : expect;
    if (cap > (1u << 30))
        cap = 1u << 30;
    int rc = strtab_grow(t, cap);
    if (rc == 0) {
        t->arena_cap = (size_t)cap * 16;
        t->arena = malloc(t->arena_cap);
        if (!t->arena)
            rc = -ENOMEM;
    }
    if (rc)
        rb_strtab_release(t);
    return rc;
}

void rb_strtab_release(struct rb_strtab *t)
{
    free(t->keys);
    free(t->offs);
    free(t->lens);
    free(t->arena);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

int rb_strtab_intern(struct rb_strtab *t, const char *s, size_t len, uint32_t *idx)
{
    if (len == 0 || len > RC_ID_MAX)
        return RC_ETOOLONG;
    uint64_t key = rc_key(s, len);
    if (t->nslots) {
        uint32_t mask = t->nslots - 1;
        uint32_t slot = (uint32_t)key & mask;
        for (uint32_t v; (v = t->slots[slot]) != 0; slot = (slot + 1) & mask) {
            uint32_t i = v - 1;
            if (t->keys[i] != key)
                continue;
            if (t->lens[i] == len && memcmp(t->arena + t->offs[i], s, len) == 0) {
                *idx = i;
                return 0;
            }
            return RC_ECOLLISION;
        }
    }
    if (t->n >= STRTAB_MAX_IDS)
        return RC_ERANGE;
    if (t->n == t->cap) {
        uint64_t cap = t->cap ? (uint64_t)t->cap * 2 : 16;
        if (cap > STRTAB_MAX_IDS)
            cap = STRTAB_MAX_IDS;
        int rc = strtab_grow(t, (uint32_t)cap);
        if (rc)
            return rc;
    }
    if (t->arena_len + len > t->arena_cap) {
        size_t cap = t->arena_cap ? t->arena_cap * 2 : 4096;
        while (cap < t->arena_len + len)
            cap *= 2;
        char *arena = realloc(t->arena, cap);
        if (!arena)
            return -ENOMEM;
        t->arena = arena;
        t->arena_cap = cap;
    }
    uint32_t i = t->n;
    memcpy(t->arena + t->arena_len, s, len);
    t->keys[i] = key;
    t->offs[i] = t->arena_len;
    t->lens[i] = (uint16_t)len;
    t->arena_len += len;
    t->n++;
    /* The slot search above may have run on the old slot array; probe again. */
    uint32_t mask = t->nslots - 1;
    uint32_t slot = (uint32_t)key & mask;
    while (t->slots[slot])
        slot = (slot + 1) & mask;
    t->slots[slot] = i + 1;
    *idx = i;
    return 0;
}

uint32_t rb_strtab_find(const struct rb_strtab *t, const char *s, size_t len)
{
    if (len == 0 || len > RC_ID_MAX || t->nslots == 0)
        return RB_NONE;
    uint64_t key = rc_key(s, len);
    uint32_t mask = t->nslots - 1;
    for (uint32_t slot = (uint32_t)key & mask, v; (v = t->slots[slot]) != 0; slot = (slot + 1) & mask) {
        uint32_t i = v - 1;
        if (t->keys[i] == key)
            return t->lens[i] == len && memcmp(t->arena + t->offs[i], s, len) == 0 ? i : RB_NONE;
    }
    return RB_NONE;
}

void rb_dataset_init(struct rb_dataset *d)
{
    memset(d, 0, sizeof(*d));
}

void rb_dataset_release(struct rb_dataset *d)
{
    rb_strtab_release(&d->cookies);
    rb_strtab_release(&d->products);
    rb_strtab_release(&d->locs);
    rb_strtab_release(&d->devices);
    rb_strtab_release(&d->categories);
    rb_strtab_release(&d->sessions);
    free(d->events);
    free(d->event_session);
    free(d->in_stock);
    free(d->in_catalog);
    free(d->category);
    free(d->display);
    free(d->display_text);
    free(d->created);
    free(d->emb);
    free(d->emb_product);
    memset(d, 0, sizeof(*d));
}

void rb_csr_release(struct rb_csr *m)
{
    free(m->indptr);
    free(m->indices);
    free(m->values);
    memset(m, 0, sizeof(*m));
}


int rb_lists_init(struct rb_lists *l, size_t n, size_t k)
{
    memset(l, 0, sizeof(*l));
    if (k == 0 || k > RC_LIST_MAX || (n && k > SIZE_MAX / sizeof(float) / n))
        return RC_ERANGE;
    size_t alloc_n = n ? n : 1; /* calloc(0) may return NULL */
    l->owner_key = calloc(alloc_n, sizeof(*l->owner_key));
    l->items = calloc(alloc_n * k, sizeof(*l->items));
    l->scores = calloc(alloc_n * k, sizeof(*l->scores));
    l->len = calloc(alloc_n, sizeof(*l->len));
    l->source = calloc(alloc_n, sizeof(*l->source));
    if (!l->owner_key || !l->items || !l->scores || !l->len || !l->source) {
        rb_lists_release(l);
        return -ENOMEM;
    }
    l->n = l->cap = n;
    l->k = k;
    return 0;
}

void rb_lists_release(struct rb_lists *l)
{
    free(l->owner_key);
    free(l->items);
    free(l->scores);
    free(l->len);
    free(l->source);
    memset(l, 0, sizeof(*l));
}
