/* Bounded MPMC queue: a ring of pointers under one mutex with "not full" and
 * "not empty" condition variables. Each slot remembers when its item was
 * pushed so the queue can report how long items wait. Contention is low in
 * clipdex (items are batches and requests, thousands per second at most), so
 * a lock is simpler and fast enough; the stats are what matter. */
#include "common/queue.h"

#include "common/clock.h"
#include "common/error.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct slot {
    void *item;
    int64_t pushed_ns;
};

struct cdx_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_full;
    pthread_cond_t not_empty;
    struct slot *ring;
    size_t cap, head, count;
    int closed;
    cdx_queue_stats st;
};

int cdx_queue_init(size_t capacity, cdx_queue **out)
{
    *out = NULL;
    if (capacity == 0 || capacity > UINT32_MAX)
        return CDX_ERR_INVAL;
    cdx_queue *q = calloc(1, sizeof *q);
    if (!q)
        return CDX_ERR_NOMEM;
    q->ring = calloc(capacity, sizeof *q->ring);
    if (!q->ring) {
        free(q);
        return CDX_ERR_NOMEM;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_full, &ca);
    pthread_cond_init(&q->not_empty, &ca);
    pthread_condattr_destroy(&ca);
    q->cap = capacity;
    q->st.capacity = (uint32_t)capacity;
    *out = q;
    return CDX_OK;
}

void cdx_queue_free(cdx_queue *q)
{
    if (!q)
        return;
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->mu);
    free(q->ring);
    free(q);
}

/* Called with the lock held and room in the ring. */
static void enqueue_locked(cdx_queue *q, void *item)
{
    struct slot *s = &q->ring[(q->head + q->count) % q->cap];
    s->item = item;
    s->pushed_ns = cdx_clock_ns();
    q->count++;
    q->st.pushed++;
    if (q->count > q->st.max_depth)
        q->st.max_depth = (uint32_t)q->count;
    pthread_cond_signal(&q->not_empty);
}

/* Called with the lock held and at least one item queued. */
static void *dequeue_locked(cdx_queue *q)
{
    struct slot *s = &q->ring[q->head];
    void *item = s->item;
    q->st.item_wait_ns += cdx_clock_ns() - s->pushed_ns;
    s->item = NULL;
    q->head = (q->head + 1) % q->cap;
    q->count--;
    q->st.popped++;
    pthread_cond_signal(&q->not_full);
    return item;
}

int cdx_queue_push(cdx_queue *q, void *item)
{
    pthread_mutex_lock(&q->mu);
    if (q->count == q->cap && !q->closed) {
        int64_t t0 = cdx_clock_ns();
        while (q->count == q->cap && !q->closed)
            pthread_cond_wait(&q->not_full, &q->mu);
        q->st.push_wait_ns += cdx_clock_ns() - t0;
    }
    int rc = CDX_ERR_CLOSED;
    if (!q->closed) {
        enqueue_locked(q, item);
        rc = CDX_OK;
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int cdx_queue_try_push(cdx_queue *q, void *item)
{
    pthread_mutex_lock(&q->mu);
    int rc = CDX_OK;
    if (q->closed) {
        rc = CDX_ERR_CLOSED;
    } else if (q->count == q->cap) {
        q->st.refused++;
        rc = CDX_ERR_FULL;
    } else {
        enqueue_locked(q, item);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

static int pop_common(cdx_queue *q, void **item, int block, int64_t deadline_ns)
{
    *item = NULL;
    pthread_mutex_lock(&q->mu);
    int rc = CDX_OK;
    if (q->count == 0 && !q->closed && block) {
        int64_t t0 = cdx_clock_ns();
        struct timespec abs = {.tv_sec = deadline_ns / 1000000000, .tv_nsec = deadline_ns % 1000000000};
        while (q->count == 0 && !q->closed) {
            if (deadline_ns < 0) {
                pthread_cond_wait(&q->not_empty, &q->mu);
            } else if (pthread_cond_timedwait(&q->not_empty, &q->mu, &abs) == ETIMEDOUT) {
                break;
            }
        }
        q->st.pop_wait_ns += cdx_clock_ns() - t0;
    }
    if (q->count > 0)
        *item = dequeue_locked(q);
    else if (q->closed)
        rc = CDX_ERR_CLOSED;
    else
        rc = block ? CDX_ERR_TIMEOUT : CDX_ERR_AGAIN;
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int cdx_queue_pop(cdx_queue *q, void **item) { return pop_common(q, item, 1, -1); }
int cdx_queue_try_pop(cdx_queue *q, void **item) { return pop_common(q, item, 0, -1); }

int cdx_queue_pop_until(cdx_queue *q, void **item, int64_t deadline_ns)
{
    return pop_common(q, item, 1, deadline_ns < 0 ? 0 : deadline_ns);
}

void cdx_queue_close(cdx_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_full);
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

int cdx_queue_is_closed(cdx_queue *q)
{
    pthread_mutex_lock(&q->mu);
    int c = q->closed;
    pthread_mutex_unlock(&q->mu);
    return c;
}

size_t cdx_queue_depth(cdx_queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->count;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void cdx_queue_get_stats(cdx_queue *q, cdx_queue_stats *out)
{
    pthread_mutex_lock(&q->mu);
    *out = q->st;
    out->depth = (uint32_t)q->count;
    pthread_mutex_unlock(&q->mu);
}
