#include "warns.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
    const void *key;
    const char *event;
    time_t window_end;
    unsigned long dropped;
    char last[RE_WARNS_MSG_MAX]; /* the last dropped line's text */
};

struct re_warns {
    pthread_mutex_t mu;
    struct slot slots[RE_WARNS_KEYS];
};

static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

int re_warns_create(struct re_warns **out)
{
    struct re_warns *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    *out = w;
    return 0;
}

void re_warns_destroy(struct re_warns *w)
{
    if (!w)
        return;
    re_warns_flush(w);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static void emit(const char *event, const char *msg, unsigned long dropped)
{
    if (dropped)
        rc_log(RC_LOG_WARN, event, "msg=\"%s\" repeated=%lu", msg, dropped);
    else
        rc_log(RC_LOG_WARN, event, "msg=\"%s\"", msg);
}

void re_warns_log(struct re_warns *w, const void *key, const char *event, const char *msg)
{
    time_t now = now_s();
    pthread_mutex_lock(&w->mu);
    struct slot *s = NULL, *free_slot = NULL;
    for (int i = 0; i < RE_WARNS_KEYS && !s; i++) {
        if (w->slots[i].key == key)
            s = &w->slots[i];
        else if (!w->slots[i].key && !free_slot)
            free_slot = &w->slots[i];
    }
    if (!s && free_slot) {
        s = free_slot;
        s->key = key;
        s->event = event;
        s->window_end = 0;
        s->dropped = 0;
    }
    if (s && now < s->window_end) {
        s->dropped++;
        snprintf(s->last, sizeof(s->last), "%s", msg);
        pthread_mutex_unlock(&w->mu);
        return;
    }
    unsigned long dropped = s ? s->dropped : 0;
    if (s) {
        s->window_end = now + RE_WARNS_WINDOW_S;
        s->dropped = 0;
    }
    pthread_mutex_unlock(&w->mu);
    emit(event, msg, dropped);
}

void re_warns_flush(struct re_warns *w)
{
    time_t now = now_s();
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < RE_WARNS_KEYS; i++) {
        struct slot *s = &w->slots[i];
        if (!s->key || !s->dropped || now < s->window_end)
            continue;
        emit(s->event, s->last, s->dropped);
        s->dropped = 0;
        s->window_end = now + RE_WARNS_WINDOW_S;
    }
    pthread_mutex_unlock(&w->mu);
}
