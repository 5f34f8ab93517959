/*
 * fuzz_manifest.c - rc_manifest_read (shared/manifest.h) on any
 * manifest.json.
 *
 * The reader takes a directory, so each input is written to manifest.json
 * in a private directory under TMPDIR (a tmpfs such as /dev/shm keeps it in
 * memory). An accepted manifest must hold a valid version id and
 * 1..RC_MANIFEST_FILES_MAX files whose names are plain names (no '/', not
 * "." or "..": schemas/manifest.md), NUL-terminated within their fields;
 * a refused one leaves no document behind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fuzz.h"
#include "layout.h"
#include "manifest.h"

static char dir[4096];
static char manifest_path[4200];

static void cleanup(void)
{
    unlink(manifest_path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/edgerec-fuzz-manifest.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        FUZZ_CHECK(mkdtemp(dir));
        snprintf(manifest_path, sizeof(manifest_path), "%s/%s", dir, RC_MANIFEST_NAME);
        atexit(cleanup);
    }
    FILE *f = fopen(manifest_path, "wb");
    FUZZ_CHECK(f);
    FUZZ_CHECK(fwrite(data, 1, size, f) == size);
    FUZZ_CHECK(fclose(f) == 0);

    struct rc_manifest m;
    char err[RC_ERRMSG_MAX];
    int rc = rc_manifest_read(dir, &m, err);
    if (rc != 0) {
        FUZZ_CHECK(rc == RC_EMANIFEST || rc == RC_EVERSION);
        FUZZ_CHECK(!m.doc);
        return 0;
    }
    FUZZ_CHECK(m.doc);
    FUZZ_CHECK(memchr(m.version, 0, sizeof(m.version)) && rc_version_valid(m.version));
    FUZZ_CHECK(m.nfiles >= 1 && m.nfiles <= RC_MANIFEST_FILES_MAX);
    for (unsigned i = 0; i < m.nfiles; i++) {
        const char *name = m.files[i].name;
        FUZZ_CHECK(memchr(name, 0, sizeof(m.files[i].name)));
        FUZZ_CHECK(name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
    }
    rc_manifest_release(&m);
    FUZZ_CHECK(!m.doc);
    return 0;
}
