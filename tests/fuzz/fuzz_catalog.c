/*
 * fuzz_catalog.c - rb_ingest_catalog (builder/ingest.h) on any catalog
 * file, read from a memfd, followed by a small events file so that the
 * catalog's products meet the events'. A product is in stock only when
 * the catalog lists it, every product has a category index that exists,
 * the row counts add up, and each created_at kept names a catalog product,
 * once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "error.h"
#include "fuzz.h"
#include "ingest.h"

static int catalog_fd = -1, events_fd = -1;
static char catalog_path[64], events_path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char events[] = "ts,cookie,event,product\n"
                                 "1700000000,c1,view,p1\n1700000001,c1,purchase,p2\n1700000002,c2,cart,p3\n";
    if (catalog_fd < 0) {
        fuzz_quiet();
        catalog_fd = fuzz_file_open("catalog.csv", catalog_path);
        events_fd = fuzz_file_open("events.csv", events_path);
        fuzz_file_set(events_fd, events, sizeof(events) - 1);
    }
    fuzz_file_set(catalog_fd, data, size);

    struct rb_dataset d;
    char err[RC_ERRMSG_MAX];
    rb_dataset_init(&d);
    int rc = rb_ingest_catalog(&d, catalog_path, err);
    if (rc == 0) {
        FUZZ_CHECK(d.have_catalog);
        FUZZ_CHECK(d.stats.catalog_rows >= 1);
        FUZZ_CHECK(rb_ingest_events(&d, events_path, NULL, NULL, NULL, err) == 0);
        FUZZ_CHECK(d.nevents == 3);
        for (uint32_t i = 0; i < d.products.n; i++) {
            FUZZ_CHECK(d.in_stock[i] <= d.in_catalog[i]);
            FUZZ_CHECK(d.category[i] == RB_NONE || d.category[i] < d.categories.n);
        }
        FUZZ_CHECK(d.created_n <= d.stats.catalog_rows);
        uint8_t *dated = calloc(d.products.n ? d.products.n : 1, 1);
        FUZZ_CHECK(dated != NULL);
        for (size_t i = 0; i < d.created_n; i++) {
            uint32_t p = d.created[i].product;
            FUZZ_CHECK(p < d.products.n && d.in_catalog[p] && !dated[p]);
            dated[p] = 1;
        }
        free(dated);
    } else {
        FUZZ_CHECK(rc == RC_EFORMAT || rc == RC_EEMPTY);
        FUZZ_CHECK(err[0] != 0);
    }
    rb_dataset_release(&d);
    return 0;
}
