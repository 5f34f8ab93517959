/*
 * fuzz_clicks.c - rb_ingest_clicks (builder/clicks.h) on any exposure-log
 * file, read from a memfd.
 *
 * The first byte picks whether events were ingested first (a fixed events
 * file, so clicks land on interned ids that exist); the rest is the log.
 * A readable file never fails. Every event added is a click, cart or
 * purchase on interned ids with a timestamp within [ts_min, ts_max], and
 * the counts add up: each non-blank line is an event, a beacon skipped (no
 * exposure of its rec_id, its product not shown, no cookie), another kind
 * of line, or a bad one.
 */
#include <stdint.h>
#include <string.h>

#include "clicks.h"
#include "dataset.h"
#include "error.h"
#include "fuzz.h"
#include "ingest.h"

static int log_fd = -1, events_fd = -1;
static char log_path[64], events_path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char events[] = "ts,cookie,event,product\n1764770000,c1,view,p1\n1764770001,c2,purchase,p2\n";
    if (log_fd < 0) {
        fuzz_quiet();
        log_fd = fuzz_file_open("edge1-20261203T100000Z-0.jsonl", log_path);
        events_fd = fuzz_file_open("events.csv", events_path);
        fuzz_file_set(events_fd, events, sizeof(events) - 1);
    }
    if (size < 1)
        return 0;
    fuzz_file_set(log_fd, data + 1, size - 1);

    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    if (data[0] & 1)
        FUZZ_CHECK(rb_ingest_events(&d, events_path, NULL, NULL, NULL, err) == 0);
    size_t before = d.nevents;
    struct rb_clicks_stats st;
    const char *paths[] = {log_path};
    FUZZ_CHECK(rb_ingest_clicks(&d, paths, 1, &st, err) == 0);
    FUZZ_CHECK(st.files == 1);
    uint64_t added = 0;
    for (int t = 0; t < RB_EVENT_TYPES; t++)
        added += st.events[t];
    FUZZ_CHECK(st.events[RB_VIEW] == 0);
    FUZZ_CHECK(d.nevents == before + added);
    FUZZ_CHECK(st.cookie_from_exposure + st.cookie_replaced <= added);
    FUZZ_CHECK(added + st.no_exposure + st.not_shown + st.no_cookie + st.other + st.bad == st.lines);
    FUZZ_CHECK(st.bad == 0 || st.bad_sample[0] != 0);
    for (size_t i = before; i < d.nevents; i++) {
        const struct rb_event *e = &d.events[i];
        FUZZ_CHECK(e->type == RB_CLICK || e->type == RB_CART || e->type == RB_PURCHASE);
        FUZZ_CHECK(e->cookie < d.cookies.n && e->product < d.products.n);
        FUZZ_CHECK(e->loc == RB_NONE16 && e->device == RB_NONE16);
        FUZZ_CHECK(e->ts >= d.ts_min && e->ts <= d.ts_max && e->ts >= 0);
    }
    rb_dataset_release(&d);
    return 0;
}
