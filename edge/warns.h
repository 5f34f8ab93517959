/*
 * warns.h - repeated warning lines, rate-limited with a count.
 *
 * libmicrohttpd logs one line per aborted connection ("Connection was
 * closed by remote side ..."): thousands a minute under load or attack.
 * Lines are keyed by a constant pointer (libmicrohttpd's format string).
 * The first line of a key is written at once; the same key's next lines
 * within RE_WARNS_WINDOW_S seconds are counted, not written; the next line
 * written for that key (when one comes after the window, or from
 * re_warns_flush once the window is over) carries `repeated=N`, the
 * number of lines dropped since the previous one.
 *
 * Thread-safe (one mutex); memory is fixed at RE_WARNS_KEYS keys, beyond
 * which lines are written unlimited.
 */
#ifndef RE_WARNS_H
#define RE_WARNS_H

#define RE_WARNS_WINDOW_S 10
#define RE_WARNS_KEYS 64
#define RE_WARNS_MSG_MAX 512

struct re_warns;

/* Errors: -ENOMEM. */
int re_warns_create(struct re_warns **out);
void re_warns_destroy(struct re_warns *w);

/* Write `event=EVENT msg="MSG"` at level warn, or count it (see above).
 * msg must not hold '"' or line breaks. */
void re_warns_log(struct re_warns *w, const void *key, const char *event, const char *msg);

/* Write the pending count of every key whose window is over. */
void re_warns_flush(struct re_warns *w);

#endif
