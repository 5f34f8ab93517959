#include "linger.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct slot {
    int fd;
    size_t bytes;        /* dropped so far */
    uint64_t deadline_ns;
};

struct re_linger {
    uint64_t ms;  /* how long a socket may linger */
    size_t bytes; /* how much it may take */
    pthread_t thread;
    pthread_mutex_t mu;
    int wake[2];  /* a byte on wake[1]: a socket added, or stop */
    int stop;
    unsigned max; /* slots that may be in use */
    unsigned n;   /* slots in use: [0, n) */
    struct slot slots[RE_LINGER_MAX];
    char sink[16384]; /* what the clients still send, dropped (the thread's own) */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Read and drop what is there. 1: keep lingering; 0: done (the client
 * closed, an error, or the byte limit). */
static int drain(struct re_linger *l, struct slot *s)
{
    for (;;) {
        ssize_t n = recv(s->fd, l->sink, sizeof(l->sink), MSG_DONTWAIT);
        if (n > 0) {
            s->bytes += (size_t)n;
            if (s->bytes >= l->bytes)
                return 0;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
}

static void *run(void *arg)
{
    struct re_linger *l = arg;
    struct pollfd p[RE_LINGER_MAX + 1];
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        uint64_t now = now_ns();
        /* Close the finished ones (swap with the last), then poll the rest. */
        for (unsigned i = 0; i < l->n;) {
            if (l->slots[i].fd < 0 || now >= l->slots[i].deadline_ns) {
                if (l->slots[i].fd >= 0)
                    (void)close(l->slots[i].fd);
                l->slots[i] = l->slots[--l->n];
            } else {
                i++;
            }
        }
        unsigned n = l->n;
        int timeout = -1;
        p[0] = (struct pollfd){l->wake[0], POLLIN, 0};
        for (unsigned i = 0; i < n; i++) {
            p[i + 1] = (struct pollfd){l->slots[i].fd, POLLIN, 0};
            uint64_t left_ms = (l->slots[i].deadline_ns - now) / 1000000u + 1;
            if (timeout < 0 || left_ms < (uint64_t)timeout)
                timeout = (int)left_ms;
        }
        pthread_mutex_unlock(&l->mu);
        /* Without the lock: slots [0, n) are this thread's to change (an add
         * only appends, under the lock); done ones are marked under it. */
        int k = poll(p, n + 1, timeout);
        if (k > 0 && p[0].revents) {
            char b[64];
            while (read(l->wake[0], b, sizeof(b)) > 0) {
            }
        }
        unsigned char done[RE_LINGER_MAX];
        for (unsigned i = 0; i < n; i++)
            done[i] = k > 0 && p[i + 1].revents && !drain(l, &l->slots[i]);
        pthread_mutex_lock(&l->mu);
        for (unsigned i = 0; i < n; i++)
            if (done[i]) {
                (void)close(l->slots[i].fd);
                l->slots[i].fd = -1;
            }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int re_linger_start(struct re_linger **out, unsigned ms, size_t bytes, unsigned max)
{
    if (max < 1 || max > RE_LINGER_MAX)
        return -EINVAL;
    struct re_linger *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->ms = ms;
    l->bytes = bytes;
    l->max = max;
    if (pipe2(l->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        int e = errno;
        free(l);
        return -e;
    }
    pthread_mutex_init(&l->mu, NULL);
    int rc = pthread_create(&l->thread, NULL, run, l);
    if (rc) {
        pthread_mutex_destroy(&l->mu);
        (void)close(l->wake[0]);
        (void)close(l->wake[1]);
        free(l);
        return -rc;
    }
    *out = l;
    return 0;
}

static void wake(struct re_linger *l)
{
    ssize_t w = write(l->wake[1], "", 1); /* a full pipe has a wake-up pending already */
    (void)w;
}

void re_linger_stop(struct re_linger *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_mutex_unlock(&l->mu);
    wake(l);
    (void)pthread_join(l->thread, NULL);
    for (unsigned i = 0; i < l->n; i++)
        if (l->slots[i].fd >= 0)
            (void)close(l->slots[i].fd);
    pthread_mutex_destroy(&l->mu);
    (void)close(l->wake[0]);
    (void)close(l->wake[1]);
    free(l);
}

void re_linger_add(struct re_linger *l, int fd)
{
    if (fd < 0)
        return;
    if (l) {
        pthread_mutex_lock(&l->mu);
        int taken = !l->stop && l->n < l->max;
        if (taken)
            l->slots[l->n++] = (struct slot){fd, 0, now_ns() + l->ms * 1000000u};
        pthread_mutex_unlock(&l->mu);
        if (taken) {
            wake(l);
            return;
        }
    }
    (void)close(fd);
}

unsigned re_linger_active(struct re_linger *l)
{
    if (!l)
        return 0;
    pthread_mutex_lock(&l->mu);
    unsigned n = 0;
    for (unsigned i = 0; i < l->n; i++)
        n += l->slots[i].fd >= 0;
    pthread_mutex_unlock(&l->mu);
    return n;
}
