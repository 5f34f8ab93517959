/*
 * fuzz_events.c - rb_ingest_events (builder/ingest.h) on any events file.
 *
 * The first byte picks the options (a preset or none, a --ts-unit, and
 * whether a catalog was read first); the rest is the file, read from a
 * memfd. Every accepted event must point at interned ids, carry a known
 * type and a timestamp within [ts_min, ts_max]; the line counts must add
 * up (events + bad + unknown types = data lines) and the checks that
 * follow ingest in recbuild must run on whatever was read.
 */
#include <stdint.h>
#include <string.h>

#include "dataset.h"
#include "error.h"
#include "fuzz.h"
#include "ingest.h"

static int events_fd = -1, catalog_fd = -1;
static char events_path[64], catalog_path[64];

static void check_dataset(const struct rb_dataset *d)
{
    const struct rb_ingest_stats *st = &d->stats;
    uint64_t bad = 0;
    for (int i = 0; i < RB_BAD_REASONS; i++)
        bad += st->bad[i];
    FUZZ_CHECK(st->events == d->nevents);
    FUZZ_CHECK(st->events + bad + st->events_unknown_type == st->lines);
    for (size_t i = 0; i < d->nevents; i++) {
        const struct rb_event *e = &d->events[i];
        FUZZ_CHECK(e->cookie < d->cookies.n && e->product < d->products.n);
        FUZZ_CHECK(e->type < RB_EVENT_TYPES);
        FUZZ_CHECK(e->loc == RB_NONE16 || e->loc < d->locs.n);
        FUZZ_CHECK(e->device == RB_NONE16 || e->device < d->devices.n);
        FUZZ_CHECK(e->ts >= d->ts_min && e->ts <= d->ts_max);
        if (d->event_session)
            FUZZ_CHECK(d->event_session[i] == RB_NONE || d->event_session[i] < d->sessions.n);
    }
    for (uint32_t i = 0; i < d->products.n; i++) {
        size_t len;
        rb_strtab_str(&d->products, i, &len);
        FUZZ_CHECK(len >= 1 && len <= RC_ID_MAX);
        FUZZ_CHECK(rb_strtab_find(&d->products, d->products.arena + d->products.offs[i], len) == i);
        FUZZ_CHECK(d->in_stock[i] <= 1 && d->in_catalog[i] <= 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char catalog[] = "product,category,in_stock\np1,shoes,1\np2,bags,0\n";
    if (events_fd < 0) {
        fuzz_quiet();
        events_fd = fuzz_file_open("events.csv", events_path);
        catalog_fd = fuzz_file_open("catalog.csv", catalog_path);
        fuzz_file_set(catalog_fd, catalog, sizeof(catalog) - 1);
    }
    if (size < 1)
        return 0;
    unsigned opts = data[0];
    fuzz_file_set(events_fd, data + 1, size - 1);

    struct rb_ingest_opts o;
    char err[RC_ERRMSG_MAX];
    rb_ingest_opts_default(&o);
    static const char *const presets[] = {NULL, "retailrocket", "rees46", NULL};
    if (presets[opts & 3])
        FUZZ_CHECK(rb_ingest_preset(&o, presets[opts & 3], err) == 0);
    o.ts_unit = (int)(opts >> 2 & 3); /* enum rb_ts_unit */

    struct rb_dataset d;
    rb_dataset_init(&d);
    if (opts & 0x10)
        FUZZ_CHECK(rb_ingest_catalog(&d, catalog_path, err) == 0);
    int rc = rb_ingest_events(&d, events_path, &o, NULL, NULL, err);
    if (rc == 0) {
        check_dataset(&d);
        (void)rb_ingest_check_bad(&d, o.max_bad_ratio, err);
        /* A second file accumulates. */
        if (opts & 0x20) {
            size_t before = d.nevents;
            rc = rb_ingest_events(&d, events_path, &o, NULL, NULL, err);
            FUZZ_CHECK(rc == 0 && d.nevents == 2 * before);
            check_dataset(&d);
        }
    } else {
        FUZZ_CHECK(rc == RC_EFORMAT || rc == RC_EEMPTY || rc == RC_ERANGE);
        FUZZ_CHECK(err[0] != 0);
    }
    rb_dataset_release(&d);
    return 0;
}
