/*
 * fuzz_rules.c - rb_rules_parse (builder/rules.h) on any rules file, and
 * what an accepted file does to lists.
 *
 * A refused document leaves nothing behind (*out NULL) and says why. An
 * accepted one is applied to every kind of list over a small fixed
 * dataset (products p0..p39 in categories a..e or none, two locations, two
 * devices, 2-d embeddings), lists drawn from the input's bytes; every list
 * must then keep rules.h's promises: at most `keep` entries, scores
 * non-increasing, products distinct and each one of the list's candidates,
 * and the stats add up.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz.h"
#include "keys.h"
#include "rules.h"

enum { NP = 40, NL = 8, K = 24 };

static const char *const cats[] = {"a", "b", "c", "d", "e"};

static void dataset(struct rb_dataset *d)
{
    rb_dataset_init(d);
    char id[8];
    uint32_t idx;
    for (uint32_t p = 0; p < NP; p++) {
        int n = snprintf(id, sizeof(id), "p%u", p);
        FUZZ_CHECK(rb_strtab_intern(&d->products, id, (size_t)n, &idx) == 0);
    }
    for (unsigned c = 0; c < 5; c++)
        FUZZ_CHECK(rb_strtab_intern(&d->categories, cats[c], 1, &idx) == 0);
    FUZZ_CHECK(rb_strtab_intern(&d->locs, "DE", 2, &idx) == 0 && rb_strtab_intern(&d->locs, "US", 2, &idx) == 0);
    FUZZ_CHECK(rb_strtab_intern(&d->devices, "mobile", 6, &idx) == 0 &&
               rb_strtab_intern(&d->devices, "desktop", 7, &idx) == 0);
    d->category = malloc(NP * sizeof(uint32_t));
    d->in_stock = malloc(NP);
    d->emb = malloc(NP * 2 * sizeof(float));
    d->emb_product = malloc(NP * sizeof(uint32_t));
    FUZZ_CHECK(d->category && d->in_stock && d->emb && d->emb_product);
    for (uint32_t p = 0; p < NP; p++) {
        d->category[p] = p % 7 < 5 ? p % 7 : RB_NONE;
        d->in_stock[p] = 1;
        d->emb[2 * p] = (p % 3) ? 0.6f : 1.0f;
        d->emb[2 * p + 1] = (p % 3) ? 0.8f : 0.0f;
        d->emb_product[p] = p;
    }
    d->emb_rows = NP - 5; /* the last five have none */
    d->dim = 2;
}

/* Lists from the input's bytes: lengths, products (distinct), score steps. */
static void draw(struct rb_lists *l, const uint8_t *data, size_t size)
{
    static const char *const seg[][2] = {{"DE", "mobile"}, {"DE", "*"}, {"*", "*"}, {"US", "desktop"}};
    FUZZ_CHECK(rb_lists_init(l, NL, K) == 0);
    size_t at = 0;
#define BYTE() (size ? data[at++ % size] : 0)
    for (size_t i = 0; i < NL; i++) {
        uint8_t used[NP] = {0};
        uint32_t len = BYTE() % (K + 1);
        float s = 5.0f;
        for (uint32_t j = 0; j < len; j++) {
            uint32_t p = BYTE() % NP;
            while (used[p])
                p = (p + 1) % NP;
            used[p] = 1;
            l->items[i * K + j] = p;
            s -= (float)(BYTE() % 4) * 0.125f;
            l->scores[i * K + j] = s;
        }
        l->len[i] = (uint16_t)len;
        const char *loc = seg[i % 4][0], *dev = seg[i % 4][1];
        l->owner_key[i] = rc_segment_key(loc, strlen(loc), dev, strlen(dev));
    }
#undef BYTE
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rb_rules *r = (struct rb_rules *)&r;
    char err[RC_ERRMSG_MAX] = "";
    int rc = rb_rules_parse((const char *)data, size, &r, err);
    if (rc != 0) {
        FUZZ_CHECK(rc == RC_EFORMAT || rc == RC_ETOOLONG || rc == -12 /* -ENOMEM */);
        FUZZ_CHECK(!r);
        FUZZ_CHECK(err[0]);
        return 0;
    }
    FUZZ_CHECK(r);
    char line[512];
    rb_rules_describe(r, line, sizeof(line));
    FUZZ_CHECK(line[0]);
    struct rb_dataset d;
    dataset(&d);
    for (int db = 0; db < RB_RULES_DBS; db++) {
        struct rb_lists l, before;
        draw(&l, data, size);
        draw(&before, data, size);
        uint32_t keep = (uint32_t)(size % 3 == 0 ? 0 : 1 + size % K);
        struct rb_rules_stats st;
        FUZZ_CHECK(rb_rules_apply(r, &l, db, keep, &d, &st, err) == 0);
        FUZZ_CHECK(rb_rules_depth(r, db, 20) == (rb_rules_touch(r, db) ? 20u * RB_RULES_DEPTH : 20u));
        uint64_t entries = 0;
        for (size_t i = 0; i < NL; i++) {
            const uint32_t *it = l.items + i * K;
            const float *sc = l.scores + i * K;
            FUZZ_CHECK(l.len[i] <= before.len[i] && (!keep || l.len[i] <= keep));
            if (!rb_rules_touch(r, db)) /* only the cut */
                FUZZ_CHECK(memcmp(it, before.items + i * K, l.len[i] * sizeof(*it)) == 0);
            for (uint32_t j = 0; j < l.len[i]; j++) {
                FUZZ_CHECK(j == 0 || sc[j] <= sc[j - 1]);
                int was = 0;
                for (uint32_t x = 0; x < before.len[i]; x++)
                    was |= before.items[i * K + x] == it[j];
                FUZZ_CHECK(was);
                for (uint32_t x = 0; x < j; x++)
                    FUZZ_CHECK(it[x] != it[j]);
            }
            entries += l.len[i];
        }
        FUZZ_CHECK(st.lists == NL && st.entries_after == entries && st.entries_after <= st.entries_before);
        FUZZ_CHECK(st.changed <= st.lists && st.emptied <= st.lists);
        rb_lists_release(&l);
        rb_lists_release(&before);
    }
    rb_dataset_release(&d);
    rb_rules_free(r);
    return 0;
}
