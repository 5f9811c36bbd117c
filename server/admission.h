/* Admission: a bounded, deadline-aware work queue with its own workers.
 *
 * The server has two (interactive: search and rerank; batch: embed and
 * uploads). A request is admitted only when it can plausibly finish in time:
 * cdx_admission_submit refuses at once, never blocking, when the queue is full
 * or when the estimated wait plus the estimated service time would pass the
 * request's deadline. An admitted item whose deadline passes while it waits is
 * dropped unrun (the drop callback answers it) and counted. Service time is
 * an exponentially weighted moving average of recent runs.
 *
 * Threads: submit from any thread; run and drop are called on worker threads
 * (drop also from cdx_admission_close for what is still queued). */
#ifndef CDX_SERVER_ADMISSION_H
#define CDX_SERVER_ADMISSION_H

#include <stdint.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_admission cdx_admission;

enum cdx_admission_drop {
    CDX_ADMISSION_DROP_EXPIRED = 0, /* the deadline passed while queued */
    CDX_ADMISSION_DROP_CLOSED = 1,  /* the queue closed before the item ran */
};

/* queued_ns: how long the item waited. */
typedef void (*cdx_admission_run_fn)(void *ctx, void *item, int64_t queued_ns);
typedef void (*cdx_admission_drop_fn)(void *ctx, void *item, enum cdx_admission_drop why, int64_t queued_ns);

typedef struct cdx_admission_params {
    const char *name;            /* "interactive", "batch": names worker threads and logs */
    int32_t capacity;            /* queued items at most (default 64) */
    int32_t workers;             /* worker threads (default 2) */
    double initial_service_ms;   /* service estimate before anything ran (default 5) */
    double ewma_alpha;           /* weight of the newest run in the estimate (default 0.1) */
    int32_t nice;                /* the workers' scheduling niceness, 0..19 (default 0: as the process) */
} cdx_admission_params;

cdx_admission_params cdx_admission_default_params(void);

/* Starts the workers. ctx is passed to run and drop. */
int cdx_admission_open(const cdx_admission_params *p, cdx_admission_run_fn run, cdx_admission_drop_fn drop, void *ctx,
                       cdx_admission **out, cdx_errbuf *eb);
/* Stops admitting, drops what is queued (CDX_ADMISSION_DROP_CLOSED), waits
 * for running items, joins the workers and frees. NULL is a no-op. */
void cdx_admission_close(cdx_admission *a);

enum cdx_admission_refusal {
    CDX_ADMISSION_REFUSED_FULL = 0, /* no room in the queue */
    CDX_ADMISSION_REFUSED_WAIT = 1, /* estimated wait + service beyond the deadline */
    CDX_ADMISSION_REFUSED_CLOSED = 2,
};
#define CDX_ADMISSION_REFUSAL_COUNT 3

/* Never blocks. CDX_OK: queued (the item now belongs to the queue until run or
 * drop is called with it). Otherwise the item is still the caller's:
 * CDX_ERR_FULL (*why = FULL or WAIT) with *retry_after_ms the estimated time
 * until there is room, or CDX_ERR_CLOSED. deadline_ns is on the cdx_clock_ns
 * time base. why and retry_after_ms may be NULL. */
int cdx_admission_submit(cdx_admission *a, void *item, int64_t deadline_ns, enum cdx_admission_refusal *why,
                         int64_t *retry_after_ms);

typedef struct cdx_admission_stats {
    int32_t capacity, workers;
    int32_t depth, max_depth;     /* queued now; high-water mark */
    int32_t busy;                 /* workers running an item now */
    uint64_t admitted, completed;
    uint64_t refused[CDX_ADMISSION_REFUSAL_COUNT];
    uint64_t expired;             /* dropped unrun: deadline passed while queued */
    double service_estimate_ms;   /* the current EWMA */
} cdx_admission_stats;

void cdx_admission_get_stats(cdx_admission *a, cdx_admission_stats *out);
const char *cdx_admission_name(const cdx_admission *a);
const char *cdx_admission_refusal_name(enum cdx_admission_refusal r);

#ifdef __cplusplus
}
#endif
#endif
