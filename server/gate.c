/* Encoder gate (gate.h): a counting semaphore with two priority classes. A
 * batch caller may take a slot only when no interactive caller waits, which
 * is what bounds an interactive request's delay to one batch chunk. Hold
 * times are measured per class so /metrics shows who used the encoder. */
#include "server/gate.h"

#include "common/clock.h"
#include "common/util.h"

#include <pthread.h>
#include <stdlib.h>

struct cdx_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv[CDX_GATE_CLASS_COUNT];
    int32_t slots, batch_max;
    int32_t held, holding[CDX_GATE_CLASS_COUNT], waiting[CDX_GATE_CLASS_COUNT];
    uint64_t entries[CDX_GATE_CLASS_COUNT];
    int64_t wait_ns[CDX_GATE_CLASS_COUNT], hold_ns[CDX_GATE_CLASS_COUNT];
    /* When each current holder entered is not tracked per holder: hold time
     * is accumulated as (holders of the class) x (time) between changes. */
    int64_t last_change_ns;
};

const char *cdx_gate_class_name(enum cdx_gate_class c) { return c == CDX_GATE_BATCH ? "batch" : "interactive"; }

int cdx_gate_init(int32_t slots, int32_t reserve_interactive, cdx_gate **out)
{
    *out = NULL;
    if (slots < 1 || reserve_interactive < 0)
        return CDX_ERR_INVAL;
    cdx_gate *g = calloc(1, sizeof *g);
    if (!g)
        return CDX_ERR_NOMEM;
    pthread_mutex_init(&g->mu, NULL);
    for (int i = 0; i < CDX_GATE_CLASS_COUNT; i++)
        pthread_cond_init(&g->cv[i], NULL);
    g->slots = slots;
    g->batch_max = CDX_MAX(1, slots - reserve_interactive);
    g->last_change_ns = cdx_clock_ns();
    *out = g;
    return CDX_OK;
}

void cdx_gate_free(cdx_gate *g)
{
    if (!g)
        return;
    for (int i = 0; i < CDX_GATE_CLASS_COUNT; i++)
        pthread_cond_destroy(&g->cv[i]);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

static void account_locked(cdx_gate *g, int64_t now)
{
    int64_t dt = now - g->last_change_ns;
    for (int i = 0; i < CDX_GATE_CLASS_COUNT; i++)
        g->hold_ns[i] += dt * g->holding[i];
    g->last_change_ns = now;
}

static int may_enter_locked(const cdx_gate *g, enum cdx_gate_class c)
{
    if (g->held >= g->slots)
        return 0;
    if (c == CDX_GATE_INTERACTIVE)
        return 1;
    return g->waiting[CDX_GATE_INTERACTIVE] == 0 && g->holding[CDX_GATE_BATCH] < g->batch_max;
}

int64_t cdx_gate_enter(cdx_gate *g, enum cdx_gate_class c)
{
    int64_t t0 = cdx_clock_ns();
    pthread_mutex_lock(&g->mu);
    g->waiting[c]++;
    while (!may_enter_locked(g, c))
        pthread_cond_wait(&g->cv[c], &g->mu);
    g->waiting[c]--;
    int64_t now = cdx_clock_ns();
    account_locked(g, now);
    g->held++;
    g->holding[c]++;
    g->entries[c]++;
    g->wait_ns[c] += now - t0;
    pthread_mutex_unlock(&g->mu);
    return now - t0;
}

void cdx_gate_leave(cdx_gate *g, enum cdx_gate_class c)
{
    pthread_mutex_lock(&g->mu);
    CDX_ASSERT(g->holding[c] > 0);
    account_locked(g, cdx_clock_ns());
    g->held--;
    g->holding[c]--;
    /* Interactive first; batch only when no interactive caller waits. */
    if (g->waiting[CDX_GATE_INTERACTIVE] > 0)
        pthread_cond_signal(&g->cv[CDX_GATE_INTERACTIVE]);
    else if (g->waiting[CDX_GATE_BATCH] > 0)
        pthread_cond_broadcast(&g->cv[CDX_GATE_BATCH]);
    pthread_mutex_unlock(&g->mu);
}

void cdx_gate_get_stats(cdx_gate *g, cdx_gate_stats *out)
{
    pthread_mutex_lock(&g->mu);
    account_locked(g, cdx_clock_ns());
    *out = (cdx_gate_stats){.slots = g->slots};
    for (int i = 0; i < CDX_GATE_CLASS_COUNT; i++) {
        out->holding[i] = g->holding[i];
        out->waiting[i] = g->waiting[i];
        out->entries[i] = g->entries[i];
        out->wait_ns[i] = g->wait_ns[i];
        out->hold_ns[i] = g->hold_ns[i];
    }
    pthread_mutex_unlock(&g->mu);
}
