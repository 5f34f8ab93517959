#include "ctl_overlay.h"
#include "error.h"
#include "file.h"
#include "json.h"
#include "keys.h"
#include "layout.h"
#include "overlay.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what, const char *msg)
{
    fprintf(stderr, "recctl: overlay %s: %s\n", what, msg);
    return 1;
}

struct idlist {
    char **ids;
    size_t *lens;
    size_t n, cap;
};

static void idlist_free(struct idlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->ids[i]);
    free(l->ids);
    free(l->lens);
}

static int idlist_push(struct idlist *l, const char *p, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **ids = realloc(l->ids, cap * sizeof(*ids));
        if (!ids)
            return -ENOMEM;
        l->ids = ids;
        size_t *lens = realloc(l->lens, cap * sizeof(*lens));
        if (!lens)
            return -ENOMEM;
        l->lens = lens;
        l->cap = cap;
    }
    if (!(l->ids[l->n] = malloc(len + 1)))
        return -ENOMEM;
    memcpy(l->ids[l->n], p, len);
    l->ids[l->n][len] = 0;
    l->lens[l->n++] = len;
    return 0;
}

/* Read the id list; 0, or a message in err and RC_EFORMAT / -errno. */
static int read_ids(FILE *f, const char *name, struct idlist *l, char *err)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t a = 0, b = (size_t)got;
        while (b > a && (line[b - 1] == '\n' || line[b - 1] == '\r' || line[b - 1] == ' ' || line[b - 1] == '\t'))
            b--;
        while (a < b && (line[a] == ' ' || line[a] == '\t'))
            a++;
        if (a == b || line[a] == '#')
            continue;
        if (b - a > RC_ID_MAX) {
            rc = rc_fail(err, RC_EFORMAT, "%s:%ld: product id of %zu bytes (ids are 1..%d)", name, lineno, b - a,
                         RC_ID_MAX);
            break;
        }
        for (size_t i = a; i < b && !rc; i++)
            if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
                rc = rc_fail(err, RC_EFORMAT, "%s:%ld: product id holds a control byte", name, lineno);
        if (rc)
            break;
        if (idlist_push(l, line + a, b - a) != 0) {
            rc = rc_fail(err, -ENOMEM, "out of memory");
            break;
        }
    }
    if (!rc && ferror(f))
        rc = rc_fail(err, -EIO, "unable to read '%s'", name);
    free(line);
    return rc;
}

static int publish(const char *root, struct idlist *l, int json, const char *what)
{
    char id[RC_VERSION_MAX], err[RC_ERRMSG_MAX];
    if (rc_overlay_publish(root, (const char *const *)l->ids, l->lens, l->n, time(NULL), RE_OVERLAY_KEEP, id,
                           err) != 0)
        return fail(what, err);
    /* duplicates were dropped: say what the file holds */
    struct rc_overlay *o;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s/%s/%s", root, RC_OVERLAY_DIR, id, RC_OVERLAY_FILE);
    if (rc_overlay_read(path, &o, err) != 0)
        return fail(what, err);
    if (json)
        printf("{\"overlay\":\"%s\",\"products\":%u}\n", id, o->count);
    else
        printf("overlay %s: %u products suppressed\n", id, o->count);
    rc_overlay_free(o);
    return 0;
}

static int cmd_set(const char *root, const char *from, int json)
{
    FILE *f = stdin;
    const char *name = "<stdin>";
    if (from && strcmp(from, "-") != 0) {
        if (!(f = fopen(from, "r"))) {
            char msg[RC_ERRMSG_MAX];
            snprintf(msg, sizeof(msg), "unable to open '%s': %s", from, strerror(errno));
            return fail("set", msg);
        }
        name = from;
    }
    struct idlist l = {0};
    char err[RC_ERRMSG_MAX];
    int rc = read_ids(f, name, &l, err);
    if (f != stdin)
        fclose(f);
    int status = rc ? fail("set", err) : publish(root, &l, json, "set");
    idlist_free(&l);
    return status;
}

static int cmd_show(const char *root, int json, int verify_only)
{
    struct rc_overlay *o;
    char err[RC_ERRMSG_MAX];
    int rc = rc_overlay_load_current(root, &o, err);
    if (rc)
        return fail(verify_only ? "verify" : "show", err);
    if (verify_only) {
        printf(json ? "{\"overlay\":\"%s\",\"products\":%u,\"ok\":true}\n" : "overlay %s: ok (%u products)\n", o->id,
               o->count);
        rc_overlay_free(o);
        return 0;
    }
    struct rc_buf b;
    rc_buf_init(&b);
    if (json)
        rc_buf_addf(&b, "{\"overlay\":\"%s\",\"products\":[", o->id);
    else
        rc_buf_addf(&b, "overlay %s\nproducts %u\n", o->id, o->count);
    for (uint32_t i = 0; i < o->count; i++) {
        const char *id;
        size_t len;
        rc_overlay_id(o, i, &id, &len);
        if (json) {
            if (i)
                rc_buf_adds(&b, ",");
            rc_buf_json_str(&b, id, len);
        } else {
            rc_buf_addf(&b, "%.*s\n", (int)len, id);
        }
    }
    if (json)
        rc_buf_adds(&b, "]}\n");
    fwrite(b.data, 1, b.len, stdout);
    rc_buf_release(&b);
    rc_overlay_free(o);
    return 0;
}

/* Move a verified copy (ops/rollout.sh push-overlay puts it in
 * <root>/.incoming/overlays/<id>/) to overlays/<id>. An id already
 * installed stays as it is (it is verified by the caller) and the copy is
 * removed. 0, or 1 with the message on stderr. */
static int install_copy(const char *root, const char *id, const char *from)
{
    char src[PATH_MAX + 32], dir[PATH_MAX], dest[PATH_MAX + 80], err[RC_ERRMSG_MAX];
    snprintf(src, sizeof(src), "%s/%s", from, RC_OVERLAY_FILE);
    struct rc_overlay *o;
    if (rc_overlay_read(src, &o, err) != 0)
        return fail("flip", err);
    rc_overlay_free(o);
    snprintf(dir, sizeof(dir), "%s/%s", root, RC_OVERLAY_DIR);
    snprintf(dest, sizeof(dest), "%s/%s", dir, id);
    int rc = rc_mkdir_p(dir);
    struct stat st;
    if (!rc && lstat(dest, &st) == 0) {
        (void)unlink(src);
        (void)rmdir(from);
        return 0;
    }
    if (rc || rename(from, dest) != 0 || (rc = rc_fsync_dir(dir)) != 0) {
        snprintf(err, sizeof(err), "unable to install '%s' as '%s': %s", from, dest,
                 rc_strerror(rc ? rc : -errno));
        return fail("flip", err);
    }
    return 0;
}

/* Verify overlays/<id> (installed from a copy with --from) and point the
 * link at it. */
static int cmd_flip(const char *root, const char *id, const char *from, int json)
{
    char path[PATH_MAX], err[RC_ERRMSG_MAX];
    if (!id || !rc_version_valid(id))
        return fprintf(stderr, "recctl: overlay flip: needs an overlay id\n"), 2;
    if (rc_layout_check_root(root, err) != 0)
        return fail("flip", err);
    if (from && install_copy(root, id, from) != 0)
        return 1;
    snprintf(path, sizeof(path), "%s/%s/%s/%s", root, RC_OVERLAY_DIR, id, RC_OVERLAY_FILE);
    struct rc_overlay *o;
    if (rc_overlay_read(path, &o, err) != 0)
        return fail("flip", err);
    uint32_t count = o->count;
    rc_overlay_free(o);
    if (rc_layout_link_flip(root, RC_OVERLAY_LINK, RC_OVERLAY_DIR, id, err) != 0)
        return fail("flip", err);
    (void)rc_overlay_prune(root, RE_OVERLAY_KEEP, NULL);
    if (json)
        printf("{\"overlay\":\"%s\",\"products\":%u}\n", id, count);
    else
        printf("overlay %s: %u products suppressed\n", id, count);
    return 0;
}

int re_ctl_overlay(const char *root, const char *sub, const char *arg, const char *from, int json)
{
    if (strcmp(sub, "flip") == 0)
        return cmd_flip(root, arg, from, json);
    if (arg)
        return fprintf(stderr, "recctl: overlay %s: takes no argument\n", sub), 2;
    if (strcmp(sub, "set") == 0)
        return cmd_set(root, from, json);
    if (from)
        return fprintf(stderr, "recctl: overlay %s: --from is for set\n", sub), 2;
    if (strcmp(sub, "clear") == 0) {
        struct idlist l = {0};
        return publish(root, &l, json, "clear");
    }
    if (strcmp(sub, "show") == 0)
        return cmd_show(root, json, 0);
    if (strcmp(sub, "verify") == 0)
        return cmd_show(root, json, 1);
    fprintf(stderr, "recctl: overlay: '%s' is not set, clear, show, verify or flip\n", sub);
    return 2;
}
