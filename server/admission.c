/* Admission queue (admission.h): a ring of (item, deadline, enqueue time)
 * under one mutex, served by a fixed set of worker threads. Deciding at submit
 * time from an estimate keeps a refusal cheap (no work was done, the client
 * learns at once); checking the deadline again at dequeue catches what the
 * estimate got wrong, so nothing runs for a client that has given up. */
#include "server/admission.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct entry {
    void *item;
    int64_t deadline_ns;
    int64_t queued_at_ns;
};

struct cdx_admission {
    cdx_admission_params p;
    char name[32];
    cdx_admission_run_fn run;
    cdx_admission_drop_fn drop;
    void *ctx;

    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    struct entry *ring;
    int32_t head, count;
    int closed;
    pthread_t *threads;
    int32_t n_threads;

    int32_t busy, max_depth;
    uint64_t admitted, completed, expired;
    uint64_t refused[CDX_ADMISSION_REFUSAL_COUNT];
    double service_ns; /* EWMA */
};

cdx_admission_params cdx_admission_default_params(void)
{
    return (cdx_admission_params){
        .name = "queue", .capacity = 64, .workers = 2, .initial_service_ms = 5.0, .ewma_alpha = 0.1};
}

const char *cdx_admission_name(const cdx_admission *a) { return a->name; }

const char *cdx_admission_refusal_name(enum cdx_admission_refusal r)
{
    static const char *const names[CDX_ADMISSION_REFUSAL_COUNT] = {"full", "wait", "closed"};
    return (unsigned)r < CDX_ADMISSION_REFUSAL_COUNT ? names[r] : "unknown";
}

/* Called with the lock held: the time until a worker is free for an item
 * queued now, from the work ahead of it and the service estimate. */
static int64_t estimated_wait_locked(const cdx_admission *a)
{
    int32_t ahead = a->count + a->busy - a->p.workers + 1;
    if (ahead <= 0)
        return 0;
    return (int64_t)(a->service_ns * ahead / a->p.workers);
}

static void *worker_main(void *arg)
{
    cdx_admission *a = arg;
    /* Linux keeps a niceness per thread: lowering this worker's priority
     * (never refused) leaves the CPU to the other queues' workers first. */
    if (a->p.nice > 0 && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), a->p.nice) != 0)
        cdx_log_warn("admission", "queue %s: cannot lower the workers' priority (nice %d)", a->name, a->p.nice);
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->count == 0 && !a->closed)
            pthread_cond_wait(&a->not_empty, &a->mu);
        if (a->count == 0 && a->closed)
            break;
        struct entry e = a->ring[a->head];
        a->head = (a->head + 1) % a->p.capacity;
        a->count--;
        int64_t now = cdx_clock_ns();
        int64_t waited = now - e.queued_at_ns;
        if (a->closed || now >= e.deadline_ns) {
            enum cdx_admission_drop why = a->closed ? CDX_ADMISSION_DROP_CLOSED : CDX_ADMISSION_DROP_EXPIRED;
            if (why == CDX_ADMISSION_DROP_EXPIRED)
                a->expired++;
            pthread_mutex_unlock(&a->mu);
            a->drop(a->ctx, e.item, why, waited);
            pthread_mutex_lock(&a->mu);
            continue;
        }
        a->busy++;
        pthread_mutex_unlock(&a->mu);
        a->run(a->ctx, e.item, waited);
        int64_t took = cdx_clock_ns() - now;
        pthread_mutex_lock(&a->mu);
        a->busy--;
        /* The first measured run replaces the configured guess. */
        a->service_ns = a->completed == 0 ? (double)took : a->service_ns + a->p.ewma_alpha * ((double)took - a->service_ns);
        a->completed++;
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

int cdx_admission_open(const cdx_admission_params *p, cdx_admission_run_fn run, cdx_admission_drop_fn drop, void *ctx,
                       cdx_admission **out, cdx_errbuf *eb)
{
    *out = NULL;
    if (p->capacity < 1 || p->workers < 1 || p->workers > 256 || !(p->ewma_alpha > 0 && p->ewma_alpha <= 1) ||
        p->initial_service_ms < 0 || p->nice < 0 || p->nice > 19)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL,
                              "admission queue %s: capacity (%d) and workers (%d) must be >= 1, ewma_alpha in (0,1]",
                              p->name ? p->name : "?", p->capacity, p->workers);
    cdx_admission *a = calloc(1, sizeof *a);
    if (!a)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "admission queue: out of memory");
    a->p = *p;
    snprintf(a->name, sizeof a->name, "%s", p->name ? p->name : "queue");
    a->p.name = a->name;
    a->run = run;
    a->drop = drop;
    a->ctx = ctx;
    a->service_ns = p->initial_service_ms * 1e6;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->not_empty, NULL);
    a->ring = calloc((size_t)p->capacity, sizeof *a->ring);
    a->threads = calloc((size_t)p->workers, sizeof *a->threads);
    if (!a->ring || !a->threads) {
        cdx_admission_close(a);
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "admission queue %s: out of memory", a->name);
    }
    for (int32_t i = 0; i < p->workers; i++) {
        if (pthread_create(&a->threads[i], NULL, worker_main, a) != 0) {
            cdx_admission_close(a);
            return cdx_errbuf_set(eb, CDX_ERR_INTERNAL, "admission queue %s: cannot start worker %d", a->name, i);
        }
        char tn[16];
        snprintf(tn, sizeof tn, "cdx-%.6s-%d", a->name, i % 100);
        pthread_setname_np(a->threads[i], tn);
        a->n_threads++;
    }
    *out = a;
    return CDX_OK;
}

void cdx_admission_close(cdx_admission *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->closed = 1;
    pthread_cond_broadcast(&a->not_empty);
    pthread_mutex_unlock(&a->mu);
    for (int32_t i = 0; i < a->n_threads; i++)
        pthread_join(a->threads[i], NULL);
    /* With no worker started, what is queued is dropped here. */
    while (a->count > 0) {
        struct entry e = a->ring[a->head];
        a->head = (a->head + 1) % a->p.capacity;
        a->count--;
        a->drop(a->ctx, e.item, CDX_ADMISSION_DROP_CLOSED, cdx_clock_ns() - e.queued_at_ns);
    }
    pthread_cond_destroy(&a->not_empty);
    pthread_mutex_destroy(&a->mu);
    free(a->ring);
    free(a->threads);
    free(a);
}

int cdx_admission_submit(cdx_admission *a, void *item, int64_t deadline_ns, enum cdx_admission_refusal *why,
                         int64_t *retry_after_ms)
{
    enum cdx_admission_refusal w = CDX_ADMISSION_REFUSED_CLOSED;
    int64_t now = cdx_clock_ns(), retry = 0;
    int rc = CDX_OK;
    pthread_mutex_lock(&a->mu);
    int64_t wait = estimated_wait_locked(a);
    if (a->closed) {
        rc = CDX_ERR_CLOSED;
    } else if (a->count >= a->p.capacity) {
        w = CDX_ADMISSION_REFUSED_FULL;
        rc = CDX_ERR_FULL;
    } else if (now + wait + (int64_t)a->service_ns > deadline_ns) {
        w = CDX_ADMISSION_REFUSED_WAIT;
        rc = CDX_ERR_FULL;
    }
    if (rc == CDX_OK) {
        a->ring[(a->head + a->count) % a->p.capacity] = (struct entry){item, deadline_ns, now};
        a->count++;
        a->admitted++;
        if (a->count > a->max_depth)
            a->max_depth = a->count;
        pthread_cond_signal(&a->not_empty);
    } else {
        a->refused[w]++;
        retry = (wait + 999999) / 1000000;
    }
    pthread_mutex_unlock(&a->mu);
    if (why)
        *why = w;
    if (retry_after_ms)
        *retry_after_ms = retry;
    return rc;
}

void cdx_admission_get_stats(cdx_admission *a, cdx_admission_stats *out)
{
    pthread_mutex_lock(&a->mu);
    *out = (cdx_admission_stats){.capacity = a->p.capacity,
                                 .workers = a->p.workers,
                                 .depth = a->count,
                                 .max_depth = a->max_depth,
                                 .busy = a->busy,
                                 .admitted = a->admitted,
                                 .completed = a->completed,
                                 .expired = a->expired,
                                 .service_estimate_ms = a->service_ns / 1e6};
    memcpy(out->refused, a->refused, sizeof out->refused);
    pthread_mutex_unlock(&a->mu);
}
