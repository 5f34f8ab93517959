/*
 * fuzz_npy.c - rb_ingest_embeddings (builder/ingest.h) on any .npy file.
 *
 * The first byte gives the number of ids (0..31) in the ids file ("p0",
 * "p1", ...; bit 5 adds a catalog listing p0..p3 first, bit 6 a duplicate
 * id, bit 7 a trailing blank line); the rest is the .npy file, read from a
 * memfd. On success every kept row is a unit vector of the header's dim
 * belonging to a product listed in the ids; on failure no embeddings are
 * left behind (ingest.h: "On failure d has no embeddings").
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dataset.h"
#include "error.h"
#include "fuzz.h"
#include "ingest.h"

static int npy_fd = -1, ids_fd = -1, catalog_fd = -1;
static char npy_path[64], ids_path[64], catalog_path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char catalog[] = "product,category,in_stock\np0,a,1\np1,a,1\np2,b,0\np3,b,1\n";
    if (npy_fd < 0) {
        fuzz_quiet();
        npy_fd = fuzz_file_open("emb.npy", npy_path);
        ids_fd = fuzz_file_open("emb_ids.txt", ids_path);
        catalog_fd = fuzz_file_open("catalog.csv", catalog_path);
        fuzz_file_set(catalog_fd, catalog, sizeof(catalog) - 1);
    }
    if (size < 1)
        return 0;
    unsigned opts = data[0], nids = opts & 31;
    char ids[32 * 8 + 8];
    size_t len = 0;
    for (unsigned i = 0; i < nids; i++)
        len += (size_t)snprintf(ids + len, sizeof(ids) - len, "p%u\n", (opts & 0x40) && i == 1 ? 0 : i);
    if (opts & 0x80)
        len += (size_t)snprintf(ids + len, sizeof(ids) - len, "\n");
    fuzz_file_set(ids_fd, ids, len);
    fuzz_file_set(npy_fd, data + 1, size - 1);

    struct rb_dataset d;
    char err[RC_ERRMSG_MAX];
    rb_dataset_init(&d);
    if (opts & 0x20)
        FUZZ_CHECK(rb_ingest_catalog(&d, catalog_path, err) == 0);
    int rc = rb_ingest_embeddings(&d, npy_path, ids_path, err);
    if (rc == 0) {
        FUZZ_CHECK(d.dim >= 1 && d.dim <= 4096);
        FUZZ_CHECK(d.emb_rows <= nids);
        FUZZ_CHECK(d.emb_rows == 0 || (d.emb && d.emb_product));
        for (uint32_t r = 0; r < d.emb_rows; r++) {
            FUZZ_CHECK(d.emb_product[r] < d.products.n);
            if (d.have_catalog)
                FUZZ_CHECK(d.in_catalog[d.emb_product[r]]);
            for (uint32_t q = 0; q < r; q++)
                FUZZ_CHECK(d.emb_product[q] != d.emb_product[r]); /* one row per product */
            double norm = 0;
            for (uint32_t k = 0; k < d.dim; k++) {
                float v = d.emb[(size_t)r * d.dim + k];
                FUZZ_CHECK(isfinite(v));
                norm += (double)v * v;
            }
            FUZZ_CHECK(fabs(norm - 1) < 1e-3);
        }
    } else {
        FUZZ_CHECK(rc == RC_EFORMAT || rc == RC_ETRUNC);
        FUZZ_CHECK(err[0] != 0);
        FUZZ_CHECK(!d.emb && d.emb_rows == 0);
    }
    rb_dataset_release(&d);
    return 0;
}
