#include "guard.h"

#include <errno.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_received */
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

enum { WAITING, BUSY, TIMED_OUT };

struct re_guard_conn {
    int fd;
    atomic_uint state;
    atomic_uint epoch;   /* bumped by every re_guard_waiting */
    /* The guard thread's own view (touched by it only). */
    unsigned seen_epoch;
    int have_base;
    uint64_t rx_base;    /* bytes received when the waiting began */
    uint64_t started_ns; /* 0 until the next request's first byte is seen */
    struct re_guard_conn *prev, *next;
};

struct re_guard {
    uint64_t timeout_ns;
    size_t (*late)(void *arg, char *out, size_t cap);
    void (*tick)(void *arg);
    void *arg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    struct re_guard_conn *conns;
    atomic_ulong timeouts;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Bytes the kernel has received on fd; -1 when it cannot say. */
static int rx_bytes(int fd, uint64_t *out)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
        return -1;
    *out = ti.tcpi_bytes_received;
    return 0;
}

static void expire(struct re_guard *g, struct re_guard_conn *c)
{
    unsigned want = WAITING;
    if (!atomic_compare_exchange_strong(&c->state, &want, TIMED_OUT))
        return; /* its headers completed meanwhile */
    /* Counted first: whoever reads the answer sees the count. */
    atomic_fetch_add(&g->timeouts, 1);
    /* Best effort: the socket is non-blocking and the answer small. */
    char answer[2048];
    size_t len = g->late(g->arg, answer, sizeof(answer));
    if (len)
        (void)send(c->fd, answer, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)shutdown(c->fd, SHUT_RDWR);
}

/* One look at one connection, under g->mu. */
static void check(struct re_guard *g, struct re_guard_conn *c, uint64_t now)
{
    if (atomic_load(&c->state) != WAITING)
        return;
    unsigned epoch = atomic_load(&c->epoch);
    uint64_t rx;
    if (epoch != c->seen_epoch || !c->have_base) {
        c->seen_epoch = epoch;
        c->have_base = rx_bytes(c->fd, &c->rx_base) == 0;
        c->started_ns = 0;
        return;
    }
    if (!c->started_ns) {
        if (rx_bytes(c->fd, &rx) == 0 && rx > c->rx_base)
            c->started_ns = now;
        return;
    }
    if (now - c->started_ns > g->timeout_ns)
        expire(g, c);
}

static void *run(void *arg)
{
    struct re_guard *g = arg;
    uint64_t last_tick = now_ns();
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        uint64_t now = now_ns();
        for (struct re_guard_conn *c = g->conns; c; c = c->next)
            check(g, c, now);
        if (g->tick && now - last_tick >= 1000000000u) {
            last_tick = now;
            pthread_mutex_unlock(&g->mu);
            g->tick(g->arg);
            pthread_mutex_lock(&g->mu);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += RE_GUARD_TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (!g->stop)
            (void)pthread_cond_timedwait(&g->cv, &g->mu, &until);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

int re_guard_start(struct re_guard **out, unsigned timeout_s, size_t (*late)(void *arg, char *out, size_t cap),
                   void (*tick)(void *arg), void *arg)
{
    struct re_guard *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->timeout_ns = (uint64_t)timeout_s * 1000000000u;
    g->late = late;
    g->tick = tick;
    g->arg = arg;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    if (timeout_s || tick) {
        int rc = pthread_create(&g->thread, NULL, run, g);
        if (rc) {
            pthread_cond_destroy(&g->cv);
            pthread_mutex_destroy(&g->mu);
            free(g);
            return -rc;
        }
    } else {
        g->stop = 1; /* no thread */
    }
    *out = g;
    return 0;
}

void re_guard_stop(struct re_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    int running = !g->stop;
    g->stop = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (running)
        (void)pthread_join(g->thread, NULL);
    for (struct re_guard_conn *c = g->conns, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

struct re_guard_conn *re_guard_open(struct re_guard *g, int fd)
{
    if (!g || !g->timeout_ns)
        return NULL;
    struct re_guard_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    atomic_init(&c->state, WAITING);
    atomic_init(&c->epoch, 1);
    c->seen_epoch = 1; /* a new connection: its first request starts at byte 1 */
    c->have_base = 1;
    pthread_mutex_lock(&g->mu);
    c->next = g->conns;
    if (g->conns)
        g->conns->prev = c;
    g->conns = c;
    pthread_mutex_unlock(&g->mu);
    return c;
}

void re_guard_close(struct re_guard *g, struct re_guard_conn *c)
{
    if (!g || !c)
        return;
    pthread_mutex_lock(&g->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&g->mu);
    free(c);
}

int re_guard_busy(struct re_guard_conn *c)
{
    if (!c)
        return 0;
    unsigned want = WAITING;
    if (atomic_compare_exchange_strong(&c->state, &want, BUSY) || want == BUSY)
        return 0;
    return -ETIMEDOUT;
}

void re_guard_waiting(struct re_guard_conn *c)
{
    if (!c)
        return;
    atomic_fetch_add(&c->epoch, 1);
    unsigned want = BUSY;
    (void)atomic_compare_exchange_strong(&c->state, &want, WAITING);
}

unsigned long re_guard_timeouts(const struct re_guard *g)
{
    return g ? atomic_load(&((struct re_guard *)g)->timeouts) : 0;
}
