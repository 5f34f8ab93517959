/*
 * test_overlay.c - shared/overlay.c: the file format round trip, every
 * refusal (magic, format version, checksum, unsorted keys, truncation,
 * trailing bytes, an id that does not match its key), and publishing under
 * a root: the link flip, clear, prune; plus edge/overlay_hold.c following
 * the link and keeping the old overlay when a new one is refused.
 */
#include "error.h"
#include "keys.h"
#include "layout.h"
#include "overlay.h"
#include "overlay_hold.h"
#include "scratch.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

static const char *const IDS[] = {"p1", "p2", "sku-00042", "p1" /* a duplicate, dropped */, "\xc3\xa9t\xc3\xa9"};
#define NIDS 5

static void *encode(size_t *len)
{
    size_t lens[NIDS];
    for (int i = 0; i < NIDS; i++)
        lens[i] = strlen(IDS[i]);
    void *data;
    char err[RC_ERRMSG_MAX];
    ck_assert_msg(rc_overlay_encode(IDS, lens, NIDS, &data, len, err) == 0, "%s", err);
    return data;
}

static int decode(const void *data, size_t len, char *err)
{
    struct rc_overlay *o = NULL;
    int rc = rc_overlay_decode(data, len, &o, err);
    rc_overlay_free(o);
    return rc;
}

/* Rewrite the checksum after a deliberate change to the body. */
static void reseal(unsigned char *b, size_t len)
{
    uint64_t h = XXH3_64bits(b + RC_OVERLAY_HEADER, len - RC_OVERLAY_HEADER);
    for (int i = 0; i < 8; i++)
        b[16 + i] = (unsigned char)(h >> (8 * i));
}

START_TEST(test_round_trip)
{
    size_t len;
    unsigned char *data = encode(&len);
    ck_assert_mem_eq(data, "EROV\x01\x00\x00\x00\x04\x00\x00\x00", 12);
    struct rc_overlay *o;
    char err[RC_ERRMSG_MAX];
    ck_assert_msg(rc_overlay_decode(data, len, &o, err) == 0, "%s", err);
    ck_assert_uint_eq(o->count, 4);
    for (uint32_t i = 1; i < o->count; i++)
        ck_assert(o->keys[i - 1] < o->keys[i]);
    for (int i = 0; i < NIDS; i++)
        ck_assert(rc_overlay_has(o, rc_key(IDS[i], strlen(IDS[i]))));
    ck_assert(!rc_overlay_has(o, rc_key("p3", 2)));
    ck_assert(!rc_overlay_has(o, 0) && !rc_overlay_has(o, UINT64_MAX));
    for (uint32_t i = 0; i < o->count; i++) {
        const char *id;
        size_t l;
        rc_overlay_id(o, i, &id, &l);
        ck_assert_uint_eq(rc_key(id, l), o->keys[i]);
    }
    rc_overlay_free(o);
    free(data);

    /* count 0: valid, suppresses nothing */
    ck_assert_int_eq(rc_overlay_encode(NULL, NULL, 0, (void **)&data, &len, err), 0);
    ck_assert_uint_eq(len, RC_OVERLAY_HEADER);
    ck_assert_int_eq(rc_overlay_decode(data, len, &o, err), 0);
    ck_assert_uint_eq(o->count, 0);
    ck_assert(!rc_overlay_has(o, rc_key("p1", 2)));
    rc_overlay_free(o);
    free(data);

    /* 10,000 products */
    static char names[10000][12];
    const char *many[10000];
    size_t lens[10000];
    for (int i = 0; i < 10000; i++) {
        lens[i] = (size_t)snprintf(names[i], sizeof(names[i]), "sku%d", i);
        many[i] = names[i];
    }
    ck_assert_int_eq(rc_overlay_encode(many, lens, 10000, (void **)&data, &len, err), 0);
    ck_assert_int_eq(rc_overlay_decode(data, len, &o, err), 0);
    ck_assert_uint_eq(o->count, 10000);
    for (int i = 0; i < 10000; i += 97)
        ck_assert(rc_overlay_has(o, rc_key(many[i], lens[i])));
    ck_assert(!rc_overlay_has(o, rc_key("sku10000", 8)));
    rc_overlay_free(o);
    free(data);
}
END_TEST

START_TEST(test_encode_refuses)
{
    char err[RC_ERRMSG_MAX], big[RC_ID_MAX + 1];
    memset(big, 'x', sizeof(big));
    const char *ids[] = {"ok", big};
    size_t lens[] = {2, sizeof(big)}, len;
    void *data;
    ck_assert_int_eq(rc_overlay_encode(ids, lens, 2, &data, &len, err), RC_ERANGE);
    lens[1] = 0;
    ck_assert_int_eq(rc_overlay_encode(ids, lens, 2, &data, &len, err), RC_ERANGE);
}
END_TEST

START_TEST(test_decode_refuses)
{
    size_t len;
    unsigned char *good = encode(&len), *b = malloc(len + 8);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(decode(good, len, err), 0);

    memcpy(b, good, len);
    b[0] = 'X';
    ck_assert_int_eq(decode(b, len, err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "magic") != NULL, "%s", err);

    memcpy(b, good, len);
    b[4] = 2;
    ck_assert_int_eq(decode(b, len, err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "format 2") != NULL, "%s", err);

    memcpy(b, good, len);
    b[len - 1] ^= 1; /* a byte of the last id */
    ck_assert_int_eq(decode(b, len, err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "checksum") != NULL, "%s", err);

    /* keys out of order (resealed, so only the order is wrong) */
    memcpy(b, good, len);
    unsigned char k[8];
    memcpy(k, b + RC_OVERLAY_HEADER, 8);
    memcpy(b + RC_OVERLAY_HEADER, b + RC_OVERLAY_HEADER + 8, 8);
    memcpy(b + RC_OVERLAY_HEADER + 8, k, 8);
    reseal(b, len);
    ck_assert_int_eq(decode(b, len, err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "ascending") != NULL, "%s", err);

    /* a duplicate key */
    memcpy(b, good, len);
    memcpy(b + RC_OVERLAY_HEADER + 8, b + RC_OVERLAY_HEADER, 8);
    reseal(b, len);
    ck_assert_int_eq(decode(b, len, err), RC_EFORMAT);

    /* an id whose key is not the one beside it */
    memcpy(b, good, len);
    b[len - 1] ^= 1;
    reseal(b, len);
    ck_assert_int_eq(decode(b, len, err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "id") != NULL, "%s", err);

    /* truncated at every length, and trailing bytes */
    for (size_t cut = 0; cut < len; cut++)
        ck_assert_int_eq(decode(good, cut, err), RC_EFORMAT);
    memcpy(b, good, len);
    memset(b + len, 0, 8);
    ck_assert_int_eq(decode(b, len + 8, err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "trailing") != NULL, "%s", err);
    free(b);
    free(good);
}
END_TEST

static void write_raw(const char *root, const char *id, const void *data, size_t len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/overlays/%s", root, id);
    ck_assert_int_eq(rc_mkdir_p(path), 0);
    snprintf(path, sizeof(path), "%s/overlays/%s/overlay.bin", root, id);
    ck_assert_int_eq(rc_write_file_atomic(path, data, len), 0);
}

START_TEST(test_publish_and_hold)
{
    char root[PATH_MAX], err[RC_ERRMSG_MAX], id[RC_VERSION_MAX], id2[RC_VERSION_MAX];
    scratch_make(root, sizeof(root), "overlay");
    const char *ids[] = {"a", "b"};
    size_t lens[] = {1, 1};
    /* no marker: refused */
    ck_assert_int_eq(rc_overlay_publish(root, ids, lens, 2, 1700000000, 3, id, err), RC_EFORMAT);
    ck_assert_int_eq(rc_layout_init(root, err), 0);

    struct re_overlay_hold *h;
    ck_assert_int_eq(re_overlay_hold_create(&h, root, err), 0);
    ck_assert_int_eq(re_overlay_hold_check(h, 0, err), 0); /* no link: nothing */
    ck_assert_ptr_null(re_overlay_acquire(h));

    ck_assert_int_eq(rc_overlay_publish(root, ids, lens, 2, 1700000000, 3, id, err), 0);
    ck_assert_str_eq(id, "20231114T221320Z");
    struct rc_overlay *o;
    ck_assert_int_eq(rc_overlay_load_current(root, &o, err), 0);
    ck_assert_str_eq(o->id, id);
    ck_assert_uint_eq(o->count, 2);
    rc_overlay_free(o);

    ck_assert_int_eq(re_overlay_hold_check(h, 0, err), 0);
    struct re_overlay_ref *r = re_overlay_acquire(h);
    ck_assert_ptr_nonnull(r);
    ck_assert(rc_overlay_has(r->ov, rc_key("a", 1)));

    /* a bad overlay is refused; the loaded one keeps serving, and the
     * reference a request holds stays valid across swaps */
    write_raw(root, "20231114T221400Z", "EROV\x07", 5);
    ck_assert_int_eq(rc_layout_link_flip(root, "overlay", "overlays", "20231114T221400Z", err), 0);
    ck_assert_int_eq(re_overlay_hold_check(h, 0, err), RC_EFORMAT);
    ck_assert_int_eq(re_overlay_hold_check(h, 0, err), 0); /* not retried without force */
    ck_assert_int_eq(re_overlay_hold_check(h, 1, err), RC_EFORMAT);
    struct re_overlay_info info;
    re_overlay_hold_info(h, &info);
    ck_assert_str_eq(info.id, id);
    ck_assert_uint_eq(info.count, 2);
    ck_assert_uint_eq(info.refused, 2);
    struct re_overlay_ref *r2 = re_overlay_acquire(h);
    ck_assert_ptr_eq(r2, r);
    re_overlay_release(h, r2);

    /* an overlay.bin that is a symlink (to a good file) is refused */
    char target[PATH_MAX + 64], sym[PATH_MAX + 64];
    snprintf(target, sizeof(target), "%s/overlays/%s/overlay.bin", root, id);
    snprintf(sym, sizeof(sym), "%s/overlays/20231114T221500Z", root);
    ck_assert_int_eq(rc_mkdir_p(sym), 0);
    snprintf(sym, sizeof(sym), "%s/overlays/20231114T221500Z/overlay.bin", root);
    ck_assert_int_eq(symlink(target, sym), 0);
    ck_assert_int_eq(rc_overlay_read(sym, &o, err), -ELOOP);

    /* the same second again: id -2; clear (count 0) unloads */
    ck_assert_int_eq(rc_overlay_publish(root, NULL, NULL, 0, 1700000000, 3, id2, err), 0);
    ck_assert_str_eq(id2, "20231114T221320Z-2");
    ck_assert_int_eq(re_overlay_hold_check(h, 0, err), 0);
    ck_assert_ptr_null(re_overlay_acquire(h));
    ck_assert(rc_overlay_has(r->ov, rc_key("b", 1))); /* still ours until released */
    re_overlay_release(h, r);
    re_overlay_hold_info(h, &info);
    ck_assert_int_eq(info.loaded, 1);
    ck_assert_str_eq(info.id, id2);
    ck_assert_uint_eq(info.count, 0);
    ck_assert_uint_eq(info.loads, 2);

    /* prune keeps the newest 3 and never the linked one */
    for (int i = 1; i <= 4; i++)
        ck_assert_int_eq(rc_overlay_publish(root, ids, lens, 2, 1700000000 + 60 * i, 3, id, err), 0);
    char (*list)[RC_VERSION_MAX];
    size_t n;
    ck_assert_int_eq(rc_layout_list_ids(root, "overlays", &list, &n, err), 0);
    /* the newest 3, and the one holding a symlink: not provably ours, kept */
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(list[0], "20231114T221500Z");
    ck_assert_str_eq(list[3], id);
    free(list);

    /* the link removed: unloaded */
    char link[PATH_MAX + 16];
    snprintf(link, sizeof(link), "%s/overlay", root);
    ck_assert_int_eq(re_overlay_hold_check(h, 0, err), 0);
    ck_assert_ptr_nonnull(r = re_overlay_acquire(h));
    re_overlay_release(h, r);
    ck_assert_int_eq(unlink(link), 0);
    ck_assert_int_eq(re_overlay_hold_check(h, 0, err), 0);
    ck_assert_ptr_null(re_overlay_acquire(h));
    re_overlay_hold_destroy(h);
    scratch_remove(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("overlay");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_encode_refuses);
    tcase_add_test(tc, test_decode_refuses);
    tcase_add_test(tc, test_publish_and_hold);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
