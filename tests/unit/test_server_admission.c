/* Admission queues and the encoder gate, with a slow stub for the work:
 * refusal when full and when the estimated wait passes the deadline (at once,
 * without blocking), items whose deadline passes while queued dropped unrun,
 * close answering what is queued; the gate letting interactive callers ahead
 * of a batch flood, so their wait stays within one batch chunk. Ordering is
 * checked by state and conditions are waited for, never fixed sleeps: the
 * suite runs on a shared 2-core machine under load. */
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

/* Waits (on a condition, not a fixed sleep) until n workers run an item. */
static void wait_busy(cdx_admission *a, int n)
{
    for (;;) {
        cdx_admission_stats s;
        cdx_admission_get_stats(a, &s);
        if (s.busy == n)
            return;
        sleep_ms(1);
    }
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
    wait_busy(a, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cdx_admission_submit(a, (void *)2, far, NULL, NULL), CDX_OK);
    enum cdx_admission_refusal why;
    int64_t retry = -1;
    assert_int_equal(cdx_admission_submit(a, (void *)3, far, &why, &retry), CDX_ERR_FULL);
    /* Refused at once: the answer came while the worker is still blocked
     * (shown by state, not by a stopwatch a loaded machine can stretch). */
    assert_int_equal(atomic_load(&st.ran), 0);
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
    stub st = {.sleep_ms = 100};
    cdx_admission *a = open_stub(&st, 100, 100);
    /* A deadline shorter than one service time is refused even when idle. */
    enum cdx_admission_refusal why;
    assert_int_equal(cdx_admission_submit(a, (void *)1, cdx_clock_ns() + 10 * MS, &why, NULL), CDX_ERR_FULL);
    assert_int_equal(why, CDX_ADMISSION_REFUSED_WAIT);
    /* The worker holds one item (blocked), so the estimate stays at 100 ms a
     * run and the count is exact: an item queued behind q others starts after
     * (q + 1) runs and ends after q + 2; with a 450 ms deadline q = 0, 1, 2 fit
     * (ending at 200, 300, 400 ms) and the rest are refused. The 50 ms margins
     * on both sides absorb a slow clock read on a loaded machine. */
    assert_int_equal(cdx_admission_submit(a, (void *)1, cdx_clock_ns() + 60000 * MS, NULL, NULL), CDX_OK);
    wait_busy(a, 1);
    int admitted = 0, refused = 0;
    for (int i = 0; i < 10; i++) {
        int rc = cdx_admission_submit(a, (void *)2, cdx_clock_ns() + 450 * MS, &why, NULL);
        if (rc == CDX_OK)
            admitted++;
        else {
            assert_int_equal(why, CDX_ADMISSION_REFUSED_WAIT);
            refused++;
        }
    }
    assert_int_equal(admitted, 3);
    assert_int_equal(refused, 7);
    atomic_store(&st.gate_open, 1);
    for (int i = 0; i < 1000 && atomic_load(&st.ran) + atomic_load(&st.dropped_expired) < 1 + admitted; i++)
        sleep_ms(5);
    cdx_admission_close(a);
    /* What was admitted ran: the estimate kept it within its deadline (the
     * last starts about 150 ms before it; one may still expire when a loaded
     * machine oversleeps by that much). */
    assert_int_equal(atomic_load(&st.ran) + atomic_load(&st.dropped_expired), 1 + admitted);
    assert_true(atomic_load(&st.dropped_expired) <= 1);
}

static void drops_items_whose_deadline_passed(void **state)
{
    (void)state;
    stub st = {.sleep_ms = 0};
    cdx_admission *a = open_stub(&st, 8, 0.001);
    assert_int_equal(cdx_admission_submit(a, (void *)1, cdx_clock_ns() + 60000 * MS, NULL, NULL), CDX_OK);
    wait_busy(a, 1); /* the worker now holds item 1, blocked */
    int64_t deadline = cdx_clock_ns() + 30 * MS;
    for (int i = 0; i < 4; i++)
        assert_int_equal(cdx_admission_submit(a, (void *)2, deadline, NULL, NULL), CDX_OK);
    while (cdx_clock_ns() <= deadline) /* their deadlines pass while they wait */
        sleep_ms(5);
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
    wait_busy(a, 1); /* one runs, four wait */
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

typedef struct gate_caller {
    cdx_gate *g;
    enum cdx_gate_class c;
    cdx_gate_stats at_entry; /* the gate's counters the moment this caller got in */
    atomic_int entered;
} gate_caller;

static void *gate_caller_main(void *arg)
{
    gate_caller *gc = arg;
    cdx_gate_enter(gc->g, gc->c);
    /* With one slot, nobody else can enter while this caller holds it, so
     * these counters are exactly those at its entry. */
    cdx_gate_get_stats(gc->g, &gc->at_entry);
    atomic_store(&gc->entered, 1);
    sleep_ms(1);
    cdx_gate_leave(gc->g, gc->c);
    return NULL;
}

static void wait_waiting(cdx_gate *g, int interactive, int batch)
{
    for (;;) {
        cdx_gate_stats s;
        cdx_gate_get_stats(g, &s);
        if (s.waiting[CDX_GATE_INTERACTIVE] == interactive && s.waiting[CDX_GATE_BATCH] == batch)
            return;
        sleep_ms(1);
    }
}

/* While an interactive caller waits, no batch caller gets in ahead of it: it
 * waits for the current holder's chunk only, however many batch callers
 * queued at the gate before it. Ordered by state (who waits, who entered
 * next), never by a stopwatch, so a loaded machine cannot flake it. */
static void gate_puts_interactive_first(void **state)
{
    (void)state;
    cdx_gate *g;
    assert_int_equal(cdx_gate_init(1, 0, &g), CDX_OK);
    for (int round = 0; round < 10; round++) {
        cdx_gate_enter(g, CDX_GATE_BATCH); /* the current chunk */
        gate_caller batch[3], inter = {.g = g, .c = CDX_GATE_INTERACTIVE};
        pthread_t bt[3], it;
        for (int i = 0; i < 3; i++) {
            batch[i] = (gate_caller){.g = g, .c = CDX_GATE_BATCH};
            pthread_create(&bt[i], NULL, gate_caller_main, &batch[i]);
        }
        wait_waiting(g, 0, 3); /* three batch callers queued first */
        pthread_create(&it, NULL, gate_caller_main, &inter);
        wait_waiting(g, 1, 3);
        cdx_gate_stats before;
        cdx_gate_get_stats(g, &before);
        cdx_gate_leave(g, CDX_GATE_BATCH);
        pthread_join(it, NULL);
        for (int i = 0; i < 3; i++)
            pthread_join(bt[i], NULL);
        /* The interactive caller was next: no batch entry between the chunk's end and its entry. */
        assert_int_equal(inter.at_entry.entries[CDX_GATE_BATCH], before.entries[CDX_GATE_BATCH]);
        assert_int_equal(inter.at_entry.holding[CDX_GATE_INTERACTIVE], 1);
        assert_int_equal(inter.at_entry.holding[CDX_GATE_BATCH], 0);
        for (int i = 0; i < 3; i++)
            assert_true(batch[i].at_entry.entries[CDX_GATE_INTERACTIVE] == before.entries[CDX_GATE_INTERACTIVE] + 1);
    }
    cdx_gate_stats s;
    cdx_gate_get_stats(g, &s);
    assert_int_equal(s.entries[CDX_GATE_INTERACTIVE], 10);
    assert_int_equal(s.entries[CDX_GATE_BATCH], 10 * 4);
    assert_true(s.hold_ns[CDX_GATE_BATCH] > 0 && s.hold_ns[CDX_GATE_INTERACTIVE] >= 10 * MS);
    assert_true(s.wait_ns[CDX_GATE_INTERACTIVE] > 0);
    assert_int_equal(s.holding[0] + s.holding[1], 0);
    assert_int_equal(s.waiting[0] + s.waiting[1], 0);
    cdx_gate_free(g);
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
    /* Returns at all: this thread holds the batch slot, so a wait could never end. */
    cdx_gate_enter(g, CDX_GATE_INTERACTIVE);
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
