#include "session.h"
#include "error.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One event to sort: its group (the session id, or a cookie's events
 * without one), then time, then input position. */
struct sev {
    uint64_t group; /* session index, or 1 << 32 | cookie */
    int64_t ts;
    uint32_t idx;
};

static int cmp_sev(const void *a, const void *b)
{
    const struct sev *x = a, *y = b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

struct first {
    int64_t ts;
    uint32_t idx;  /* first event's input position */
    uint32_t sess; /* session number in group order */
};

static int cmp_first(const void *a, const void *b)
{
    const struct first *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void rb_sessions_release(struct rb_sessions *s)
{
    free(s->order);
    free(s->start);
    free(s->cookie);
    memset(s, 0, sizeof(*s));
}

int rb_sessions_build(struct rb_sessions *s, const struct rb_dataset *d, int64_t since, double gap_s, char *err)
{
    memset(s, 0, sizeof(*s));
    if (!(gap_s > 0) || !isfinite(gap_s))
        return rc_fail(err, RC_ERANGE, "the session gap must be above 0 seconds, not %g", gap_s);
    if (d->nevents > UINT32_MAX)
        return rc_fail(err, RC_ERANGE, "%zu events: at most 2^32-1 can be cut into sessions", d->nevents);
    struct sev *ev = NULL;
    struct first *firsts = NULL;
    uint64_t *bound = NULL;
    int rc = 0;
    size_t m = 0;
    ev = malloc((d->nevents ? d->nevents : 1) * sizeof(*ev));
    if (!ev) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < d->nevents; i++) {
        const struct rb_event *e = &d->events[i];
        if (e->ts < since)
            continue;
        uint32_t sid = d->event_session ? d->event_session[i] : RB_NONE;
        ev[m].group = sid != RB_NONE ? sid : (1ull << 32 | e->cookie);
        s->from_column |= sid != RB_NONE;
        ev[m].ts = e->ts;
        ev[m].idx = (uint32_t)i;
        m++;
    }
    qsort(ev, m, sizeof(*ev), cmp_sev);

    /* Boundaries in group order: a new group, or a gap in a cookie's run. */
    bound = malloc((m + 1) * sizeof(*bound));
    if (!bound) {
        rc = -ENOMEM;
        goto out;
    }
    uint64_t n = 0;
    for (size_t i = 0; i < m; i++) {
        int cut = i == 0 || ev[i].group != ev[i - 1].group ||
                  (ev[i].group >> 32 && (double)(ev[i].ts - ev[i - 1].ts) > gap_s);
        if (cut)
            bound[n++] = i;
    }
    bound[n] = m;
    if (n > UINT32_MAX - 1) {
        rc = rc_fail(err, RC_ERANGE, "%llu sessions: at most 2^32-2", (unsigned long long)n);
        goto out;
    }

    /* Number sessions by their first event's (time, position). */
    firsts = malloc((n ? n : 1) * sizeof(*firsts));
    s->order = malloc((m ? m : 1) * sizeof(*s->order));
    s->start = malloc((n + 1) * sizeof(*s->start));
    s->cookie = malloc((n ? n : 1) * sizeof(*s->cookie));
    if (!firsts || !s->order || !s->start || !s->cookie) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint64_t j = 0; j < n; j++)
        firsts[j] = (struct first){ev[bound[j]].ts, ev[bound[j]].idx, (uint32_t)j};
    qsort(firsts, n, sizeof(*firsts), cmp_first);
    uint64_t at = 0;
    for (uint64_t r = 0; r < n; r++) {
        uint32_t j = firsts[r].sess;
        s->start[r] = at;
        s->cookie[r] = d->events[ev[bound[j]].idx].cookie;
        for (uint64_t i = bound[j]; i < bound[j + 1]; i++)
            s->order[at++] = ev[i].idx;
    }
    s->start[n] = at;
    s->n = (uint32_t)n;
    s->nevents = m;
out:
    if (rc == -ENOMEM)
        rc_fail(err, rc, "out of memory cutting %zu events into sessions", d->nevents);
    free(ev);
    free(firsts);
    free(bound);
    if (rc)
        rb_sessions_release(s);
    return rc;
}

int rb_sessions_holdout(const struct rb_sessions *s, uint32_t ncookies, uint8_t *held, uint64_t *nheld)
{
    memset(held, 0, s->n);
    *nheld = 0;
    uint32_t *last = malloc((ncookies ? ncookies : 1) * sizeof(*last));
    uint32_t *count = calloc(ncookies ? ncookies : 1, sizeof(*count));
    int rc = 0;
    if (!last || !count) {
        rc = -ENOMEM;
        goto out;
    }
    /* Sessions are numbered by start: the last one seen is the latest. */
    for (uint32_t i = 0; i < s->n; i++) {
        uint32_t c = s->cookie[i];
        if (c >= ncookies)
            continue;
        last[c] = i;
        count[c]++;
    }
    for (uint32_t c = 0; c < ncookies; c++)
        if (count[c] >= 2 && s->start[last[c] + 1] - s->start[last[c]] >= 2) {
            held[last[c]] = 1;
            (*nheld)++;
        }
out:
    free(last);
    free(count);
    return rc;
}
