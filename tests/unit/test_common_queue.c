/* Bounded MPMC queue: FIFO order, bounds, close semantics (drain then
 * CLOSED, blocked threads woken), timeouts, and exactly-once delivery under
 * concurrent producers and consumers. */
#include "testutil.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define ITEM(i) ((void *)(uintptr_t)(i))

static void fifo_and_bounds(void **state)
{
    (void)state;
    cdx_queue *q;
    assert_int_equal(cdx_queue_init(0, &q), CDX_ERR_INVAL);
    assert_null(q);
    assert_int_equal(cdx_queue_init(3, &q), CDX_OK);
    void *it;
    assert_int_equal(cdx_queue_try_pop(q, &it), CDX_ERR_AGAIN);
    for (uintptr_t i = 1; i <= 3; i++)
        assert_int_equal(cdx_queue_try_push(q, ITEM(i)), CDX_OK);
    assert_int_equal(cdx_queue_try_push(q, ITEM(4)), CDX_ERR_FULL);
    assert_int_equal(cdx_queue_depth(q), 3);
    for (uintptr_t i = 1; i <= 3; i++) {
        assert_int_equal(cdx_queue_pop(q, &it), CDX_OK);
        assert_ptr_equal(it, ITEM(i));
    }
    /* Wrap around the ring a few times. */
    for (uintptr_t round = 0; round < 10; round++) {
        assert_int_equal(cdx_queue_push(q, ITEM(round)), CDX_OK);
        assert_int_equal(cdx_queue_push(q, ITEM(round + 100)), CDX_OK);
        assert_int_equal(cdx_queue_pop(q, &it), CDX_OK);
        assert_ptr_equal(it, ITEM(round));
        assert_int_equal(cdx_queue_pop(q, &it), CDX_OK);
        assert_ptr_equal(it, ITEM(round + 100));
    }
    cdx_queue_stats st;
    cdx_queue_get_stats(q, &st);
    assert_int_equal(st.pushed, 23);
    assert_int_equal(st.popped, 23);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.max_depth, 3);
    assert_int_equal(st.capacity, 3);
    assert_int_equal(st.depth, 0);
    cdx_queue_free(q);
    cdx_queue_free(NULL);
}

static void close_drains_then_refuses(void **state)
{
    (void)state;
    cdx_queue *q;
    assert_int_equal(cdx_queue_init(4, &q), CDX_OK);
    assert_int_equal(cdx_queue_push(q, ITEM(1)), CDX_OK);
    assert_int_equal(cdx_queue_push(q, ITEM(2)), CDX_OK);
    cdx_queue_close(q);
    cdx_queue_close(q); /* idempotent */
    assert_true(cdx_queue_is_closed(q));
    assert_int_equal(cdx_queue_push(q, ITEM(3)), CDX_ERR_CLOSED);
    assert_int_equal(cdx_queue_try_push(q, ITEM(3)), CDX_ERR_CLOSED);
    void *it;
    assert_int_equal(cdx_queue_pop(q, &it), CDX_OK);
    assert_ptr_equal(it, ITEM(1));
    assert_int_equal(cdx_queue_try_pop(q, &it), CDX_OK);
    assert_ptr_equal(it, ITEM(2));
    assert_int_equal(cdx_queue_pop(q, &it), CDX_ERR_CLOSED);
    assert_null(it);
    assert_int_equal(cdx_queue_try_pop(q, &it), CDX_ERR_CLOSED);
    assert_int_equal(cdx_queue_pop_until(q, &it, cdx_clock_ns() + 1000000), CDX_ERR_CLOSED);
    cdx_queue_free(q);
}

struct blocker {
    cdx_queue *q;
    int rc;
    int pushing;
};

static void *block_thread(void *arg)
{
    struct blocker *b = arg;
    void *it;
    b->rc = b->pushing ? cdx_queue_push(b->q, ITEM(9)) : cdx_queue_pop(b->q, &it);
    return NULL;
}

static void close_wakes_blocked_threads(void **state)
{
    (void)state;
    for (int pushing = 0; pushing <= 1; pushing++) {
        cdx_queue *q;
        assert_int_equal(cdx_queue_init(1, &q), CDX_OK);
        if (pushing)
            assert_int_equal(cdx_queue_push(q, ITEM(1)), CDX_OK);
        struct blocker b = {q, 12345, pushing};
        pthread_t t;
        pthread_create(&t, NULL, block_thread, &b);
        usleep(50 * 1000); /* let it block */
        assert_int_equal(b.rc, 12345);
        cdx_queue_close(q);
        pthread_join(t, NULL);
        assert_int_equal(b.rc, CDX_ERR_CLOSED);
        cdx_queue_stats st;
        cdx_queue_get_stats(q, &st);
        if (pushing)
            assert_true(st.push_wait_ns >= 20 * 1000000LL);
        else
            assert_true(st.pop_wait_ns >= 20 * 1000000LL);
        cdx_queue_free(q);
    }
}

static void pop_until_times_out(void **state)
{
    (void)state;
    cdx_queue *q;
    assert_int_equal(cdx_queue_init(2, &q), CDX_OK);
    void *it = ITEM(7);
    int64_t t0 = cdx_clock_ns();
    assert_int_equal(cdx_queue_pop_until(q, &it, t0 + 30 * 1000000LL), CDX_ERR_TIMEOUT);
    int64_t waited = cdx_clock_ns() - t0;
    assert_true(waited >= 29 * 1000000LL);
    assert_null(it);
    /* A past deadline returns at once. */
    assert_int_equal(cdx_queue_pop_until(q, &it, 0), CDX_ERR_TIMEOUT);
    assert_int_equal(cdx_queue_push(q, ITEM(5)), CDX_OK);
    assert_int_equal(cdx_queue_pop_until(q, &it, cdx_clock_ns() + 1000000000LL), CDX_OK);
    assert_ptr_equal(it, ITEM(5));
    cdx_queue_free(q);
}

#define PRODUCERS 4
#define CONSUMERS 4
#define PER_PRODUCER 25000
#define TOTAL (PRODUCERS * PER_PRODUCER)

struct mpmc {
    cdx_queue *q;
    int id;
    _Atomic unsigned char *seen;
    _Atomic long *consumed;
    int use_try;
};

static void *producer(void *arg)
{
    struct mpmc *m = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        uintptr_t v = (uintptr_t)(m->id * PER_PRODUCER + i) + 1; /* never NULL */
        if (m->use_try && (i & 1)) {
            while (cdx_queue_try_push(m->q, ITEM(v)) == CDX_ERR_FULL)
                sched_yield();
        } else {
            assert_int_equal(cdx_queue_push(m->q, ITEM(v)), CDX_OK);
        }
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct mpmc *m = arg;
    for (;;) {
        void *it;
        int rc = m->use_try && (m->id & 1) ? cdx_queue_pop_until(m->q, &it, cdx_clock_ns() + 1000000)
                                           : cdx_queue_pop(m->q, &it);
        if (rc == CDX_ERR_CLOSED)
            break;
        if (rc == CDX_ERR_TIMEOUT)
            continue;
        assert_int_equal(rc, CDX_OK);
        uintptr_t v = (uintptr_t)it - 1;
        assert_true(v < TOTAL);
        atomic_fetch_add(&m->seen[v], 1);
        atomic_fetch_add(m->consumed, 1);
    }
    return NULL;
}

static void concurrent_exactly_once(void **state)
{
    (void)state;
    for (int use_try = 0; use_try <= 1; use_try++) {
        cdx_queue *q;
        assert_int_equal(cdx_queue_init(8, &q), CDX_OK);
        _Atomic unsigned char *seen = calloc(TOTAL, sizeof *seen);
        _Atomic long consumed = 0;
        pthread_t pt[PRODUCERS], ct[CONSUMERS];
        struct mpmc pa[PRODUCERS], ca[CONSUMERS];
        for (int i = 0; i < CONSUMERS; i++) {
            ca[i] = (struct mpmc){q, i, seen, &consumed, use_try};
            pthread_create(&ct[i], NULL, consumer, &ca[i]);
        }
        for (int i = 0; i < PRODUCERS; i++) {
            pa[i] = (struct mpmc){q, i, seen, &consumed, use_try};
            pthread_create(&pt[i], NULL, producer, &pa[i]);
        }
        for (int i = 0; i < PRODUCERS; i++)
            pthread_join(pt[i], NULL);
        cdx_queue_close(q);
        for (int i = 0; i < CONSUMERS; i++)
            pthread_join(ct[i], NULL);
        assert_int_equal(atomic_load(&consumed), TOTAL);
        for (long i = 0; i < TOTAL; i++)
            if (atomic_load(&seen[i]) != 1)
                fail_msg("item %ld delivered %d times", i, (int)atomic_load(&seen[i]));
        cdx_queue_stats st;
        cdx_queue_get_stats(q, &st);
        assert_int_equal(st.pushed, TOTAL);
        assert_int_equal(st.popped, TOTAL);
        assert_true(st.max_depth <= 8);
        assert_int_equal(st.depth, 0);
        free((void *)seen);
        cdx_queue_free(q);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fifo_and_bounds),
        cmocka_unit_test(close_drains_then_refuses),
        cmocka_unit_test(close_wakes_blocked_threads),
        cmocka_unit_test(pop_until_times_out),
        cmocka_unit_test(concurrent_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
