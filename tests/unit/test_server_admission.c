/* Admission queues and the encoder gate, with a slow stub for the work:
 * refusal when full and when the estimated wait passes the deadline (at once,
 * without blocking), items whose deadline passes while queued dropped unrun,
 * close answering what is queued; the gate letting interactive callers ahead
 * of a batch flood, so their wait stays within one batch chunk. */
#include "testutil.h"

#include "common/clock.h"
#include "server/admission.h"
#include "server/gate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL

typedef struct stub {
    atomic_int ran, dropped_expired, dropped_closed;
    int sleep_ms;
    atomic_int gate_open; /* 0: workers block until set */
} stub;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void stub_run(void *ctx, void *item, int64_t queued_ns)
{
    (void)item;
    (void)queued_ns;
    stub *st = ctx;
    while (!atomic_load(&st->gate_open))
        sleep_ms(1);
    sleep_ms(st->sleep_ms);
    atomic_fetch_add(&st->ran, 1);
}

static void stub_drop(void *ctx, void *item, enum cdx_admission_drop why, int64_t queued_ns)
{
    (void)item;
    (void)queued_ns;
    stub *st = ctx;
    atomic_fetch_add(why == CDX_ADMISSION_DROP_EXPIRED ? &st->dropped_expired : &st->dropped_closed, 1);
}

static cdx_admission *open_stub(stub *st, int capacity, double service_ms)
{
    cdx_admission_params p = cdx_admission_default_params();
    p.capacity = capacity;
    p.workers = 1;
    p.initial_service_ms = service_ms;
    cdx_admission *a = NULL;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_admission_open(&p, stub_run, stub_drop, st, &a, &eb), CDX_OK);
    return a;
}

static void refuses_when_full_at_once(void **state)
{
    (void)state;
    stub st = {.sleep_ms = 1};
    cdx_admission *a = open_stub(&st, 3, 0.001);
    int64_t far = cdx_clock_ns() + 60000 * MS;
    /* One taken by the worker (blocked on the stub's gate), three queued. */
    assert_int_equal(cdx_admission_submit(a, (void *)1, far, NULL, NULL), CDX_OK);
    while (1) {
        cdx_admission_stats s;
        cdx_admission_get_stats(a, &s);
        if (s.busy == 1)
            break;
        sleep_ms(1);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(cdx_admission_submit(a, (void *)2, far, NULL, NULL), CDX_OK);
    enum cdx_admission_refusal why;
    int64_t retry = -1;
    int64_t t0 = cdx_clock_ns();
    assert_int_equal(cdx_admission_submit(a, (void *)3, far, &why, &retry), CDX_ERR_FULL);
    assert_true(cdx_clock_ns() - t0 < 5 * MS); /* refused at once */
    assert_int_equal(why, CDX_ADMISSION_REFUSED_FULL);
    assert_true(retry >= 0);
    cdx_admission_stats s;
    cdx_admission_get_stats(a, &s);
    assert_int_equal(s.depth, 3);
    assert_int_equal(s.max_depth, 3);
    assert_int_equal(s.refused[CDX_ADMISSION_REFUSED_FULL], 1);
    atomic_store(&st.gate_open, 1);
    cdx_admission_close(a);
    assert_int_equal(atomic_load(&st.ran) + atomic_load(&st.dropped_closed), 4);
    cdx_admission_close(NULL);
}

static void refuses_when_wait_exceeds_deadline(void **state)
{
    (void)state;
    stub st = {.sleep_ms = 50, .gate_open = 1};
    cdx_admission *a = open_stub(&st, 100, 50);
    /* A deadline shorter than one service time is refused even when idle. */
    enum cdx_admission_refusal why;
    assert_int_equal(cdx_admission_submit(a, (void *)1, cdx_clock_ns() + 10 * MS, &why, NULL), CDX_ERR_FULL);
    assert_int_equal(why, CDX_ADMISSION_REFUSED_WAIT);
    /* With a 220 ms deadline and 50 ms per item, about four fit; the rest are refused. */
    int admitted = 0, refused = 0;
    for (int i = 0; i < 10; i++) {
        int rc = cdx_admission_submit(a, (void *)2, cdx_clock_ns() + 220 * MS, &why, NULL);
        if (rc == CDX_OK)
            admitted++;
        else {
            assert_int_equal(why, CDX_ADMISSION_REFUSED_WAIT);
            refused++;
        }
    }
    assert_in_range(admitted, 3, 5);
    assert_int_equal(admitted + refused, 10);
    for (int i = 0; i < 400 && atomic_load(&st.ran) + atomic_load(&st.dropped_expired) < admitted; i++)
        sleep_ms(5);
    cdx_admission_close(a);
    /* What was admitted ran: the estimate kept it within its deadline (one
     * may still expire when a loaded machine oversleeps). */
    assert_int_equal(atomic_load(&st.ran) + atomic_load(&st.dropped_expired), admitted);
    assert_true(atomic_load(&st.dropped_expired) <= 1);
}

static void drops_items_whose_deadline_passed(void **state)
{
    (void)state;
    stub st = {.sleep_ms = 0};
    cdx_admission *a = open_stub(&st, 8, 0.001);
    assert_int_equal(cdx_admission_submit(a, (void *)1, cdx_clock_ns() + 60000 * MS, NULL, NULL), CDX_OK);
    sleep_ms(20); /* the worker now holds item 1, blocked */
    for (int i = 0; i < 4; i++)
        assert_int_equal(cdx_admission_submit(a, (void *)2, cdx_clock_ns() + 30 * MS, NULL, NULL), CDX_OK);
    sleep_ms(60); /* their deadlines pass while they wait */
    atomic_store(&st.gate_open, 1);
    for (int i = 0; i < 200 && atomic_load(&st.dropped_expired) < 4; i++)
        sleep_ms(5);
    assert_int_equal(atomic_load(&st.dropped_expired), 4);
    assert_int_equal(atomic_load(&st.ran), 1);
    cdx_admission_stats s;
    cdx_admission_get_stats(a, &s);
    assert_int_equal(s.expired, 4);
    assert_int_equal(s.completed, 1);
    cdx_admission_close(a);
}

static void close_drops_queued(void **state)
{
    (void)state;
    stub st = {.sleep_ms = 0};
    cdx_admission *a = open_stub(&st, 8, 0.001);
    for (int i = 0; i < 5; i++)
        assert_int_equal(cdx_admission_submit(a, (void *)1, cdx_clock_ns() + 60000 * MS, NULL, NULL), CDX_OK);
    sleep_ms(10);
    atomic_store(&st.gate_open, 1);
    cdx_admission_close(a);
    assert_int_equal(atomic_load(&st.ran) + atomic_load(&st.dropped_closed), 5);
    assert_true(atomic_load(&st.ran) >= 1);

    cdx_admission_params p = cdx_admission_default_params();
    p.capacity = 0;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_admission_open(&p, stub_run, stub_drop, &st, &a, &eb), CDX_ERR_INVAL);
    assert_null(a);
}

/* ---- the gate ---------------------------------------------------------- */

typedef struct flood {
    cdx_gate *g;
    atomic_int stop;
    int chunk_ms;
} flood;

static void *batch_flood(void *arg)
{
    flood *f = arg;
    while (!atomic_load(&f->stop)) {
        cdx_gate_enter(f->g, CDX_GATE_BATCH);
        sleep_ms(f->chunk_ms);
        cdx_gate_leave(f->g, CDX_GATE_BATCH);
    }
    return NULL;
}

static void gate_puts_interactive_first(void **state)
{
    (void)state;
    flood f = {.chunk_ms = 10};
    assert_int_equal(cdx_gate_init(1, 0, &f.g), CDX_OK);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, batch_flood, &f);
    sleep_ms(30);
    /* While an interactive caller waits, no batch caller gets in ahead of it:
     * it waits for the current holder's chunk only, however many batch
     * callers queue at the gate (counted, not timed, so load cannot flake it;
     * one entry may slip in between reading the count and starting to wait). */
    int most_ahead = 0;
    for (int i = 0; i < 20; i++) {
        cdx_gate_stats before, after;
        cdx_gate_get_stats(f.g, &before);
        cdx_gate_enter(f.g, CDX_GATE_INTERACTIVE);
        cdx_gate_get_stats(f.g, &after);
        sleep_ms(2);
        cdx_gate_leave(f.g, CDX_GATE_INTERACTIVE);
        int ahead = (int)(after.entries[CDX_GATE_BATCH] - before.entries[CDX_GATE_BATCH]);
        if (ahead > most_ahead)
            most_ahead = ahead;
        sleep_ms(3);
    }
    atomic_store(&f.stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_true(most_ahead <= 1);
    cdx_gate_stats s;
    cdx_gate_get_stats(f.g, &s);
    assert_int_equal(s.entries[CDX_GATE_INTERACTIVE], 20);
    assert_true(s.entries[CDX_GATE_BATCH] > 3);
    assert_true(s.hold_ns[CDX_GATE_BATCH] > 0 && s.hold_ns[CDX_GATE_INTERACTIVE] >= 20 * 2 * MS);
    assert_int_equal(s.holding[0] + s.holding[1], 0);
    cdx_gate_free(f.g);
    cdx_gate_free(NULL);
}

static void gate_reserves_slots(void **state)
{
    (void)state;
    cdx_gate *g;
    assert_int_equal(cdx_gate_init(0, 0, &g), CDX_ERR_INVAL);
    /* 2 slots, 1 reserved: batch holds at most one; interactive enters at once. */
    assert_int_equal(cdx_gate_init(2, 1, &g), CDX_OK);
    cdx_gate_enter(g, CDX_GATE_BATCH);
    int64_t w = cdx_gate_enter(g, CDX_GATE_INTERACTIVE);
    assert_true(w < 5 * MS);
    cdx_gate_stats s;
    cdx_gate_get_stats(g, &s);
    assert_int_equal(s.holding[CDX_GATE_BATCH], 1);
    assert_int_equal(s.holding[CDX_GATE_INTERACTIVE], 1);
    cdx_gate_leave(g, CDX_GATE_INTERACTIVE);
    cdx_gate_leave(g, CDX_GATE_BATCH);
    cdx_gate_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_when_full_at_once),
        cmocka_unit_test(refuses_when_wait_exceeds_deadline),
        cmocka_unit_test(drops_items_whose_deadline_passed),
        cmocka_unit_test(close_drops_queued),
        cmocka_unit_test(gate_puts_interactive_first),
        cmocka_unit_test(gate_reserves_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
