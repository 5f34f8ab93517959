/*
 * session.h - the visits in the events: what co-view counting (coview.h)
 * and the next-item evaluation (eval.h) walk.
 *
 * A session is the events of one value of the session column (when the
 * input has one, schemas/inputs.md "Session column"), or, for events
 * without a session id, a run of one cookie's events in which no two
 * consecutive events are more than `gap` seconds apart. Within a session
 * events are ordered by time, equal times by input order. Sessions are
 * numbered by their first event's (time, input position), so the numbering
 * is deterministic for a given input. Events before `since` are left out.
 *
 * Ownership: struct rb_sessions owns its arrays (_build/_release; release
 * on a zeroed struct is a no-op). Not thread-safe while building; read-only
 * afterwards.
 */
#ifndef RB_SESSION_H
#define RB_SESSION_H

#include "dataset.h"

#define RB_SESSION_GAP_MIN_DEFAULT 30.0 /* --session-gap, minutes */

struct rb_sessions {
    uint32_t n;       /* sessions */
    uint64_t nevents; /* events in them */
    uint32_t *order;  /* [nevents] event indices, session after session, each in time order */
    uint64_t *start;  /* [n + 1] session s is order[start[s], start[s + 1]) */
    uint32_t *cookie; /* [n] the cookie of each session's first event */
    int from_column;  /* 1 when any session came from the session column */
};

/*
 * Cut d's events at or after `since` (Unix seconds) into sessions; gap_s is
 * the inactivity gap in seconds (> 0) for events without a session id.
 * Errors: RC_ERANGE (gap_s not positive and finite, more than 2^32-1
 * sessions), -ENOMEM. On failure s is left zeroed.
 */
int rb_sessions_build(struct rb_sessions *s, const struct rb_dataset *d, int64_t since, double gap_s, char *err);
void rb_sessions_release(struct rb_sessions *s);

/*
 * The next-item holdout: held[i] = 1 for each cookie's last session (the
 * one that starts last) when the cookie has at least two sessions and that
 * one has at least two events; else 0. held is [s->n]; *nheld gets the
 * number held out. Errors: -ENOMEM.
 */
int rb_sessions_holdout(const struct rb_sessions *s, uint32_t ncookies, uint8_t *held, uint64_t *nheld);

#endif
