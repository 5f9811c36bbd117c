/* Synthetic index measurements: random unit vectors made in memory, each
 * spec built, tuned to recall@10 >= 0.95 against exact search, then timed one
 * query at a time and in batches. For `clipdex index bench` and docs/storage.md;
 * the numbers are what this machine measured, nothing is assumed. */
#ifndef CDX_INDEX_IBENCH_H
#define CDX_INDEX_IBENCH_H

#include <stdint.h>

#include "common/error.h"
#include "index/plan.h"
#include "index/spec.h"

typedef struct cdx_ibench_params {
    int64_t n;          /* vectors (default 100000) */
    int32_t dim;        /* default 512 */
    int32_t queries;    /* default 200: held-out random vectors plus as many catalog vectors */
    int32_t batch;      /* batch size for the batched measurement (default 32) */
    int32_t threads;    /* search threads (default: the process budget) */
    uint64_t seed;
    double target;      /* recall@10 target for tuning (default 0.95) */
} cdx_ibench_params;

cdx_ibench_params cdx_ibench_default_params(void);

typedef struct cdx_ibench_result {
    char spec[CDX_INDEX_SPEC_MAX];   /* as tuned */
    double build_s;                  /* create + train + add */
    uint64_t memory_bytes;           /* the index's estimate */
    uint64_t rss_delta_bytes;        /* resident growth while building */
    cdx_tune_result tune;
    double recall_at_10;             /* at the tuned effort, on queries tuning did not see */
    double p50_ms, p99_ms;           /* one query at a time */
    double batch_p50_ms, batch_p99_ms; /* one batch of `batch` queries */
} cdx_ibench_result;

/* The data set, made once and shared by the specs measured on it. */
typedef struct cdx_ibench_data cdx_ibench_data;
int cdx_ibench_data_make(const cdx_ibench_params *p, cdx_ibench_data **out, cdx_errbuf *eb);
void cdx_ibench_data_free(cdx_ibench_data *d);
double cdx_ibench_data_seconds(const cdx_ibench_data *d); /* generating + exact ground truth */

int cdx_ibench_run(cdx_ibench_data *d, const cdx_index_spec *spec, cdx_ibench_result *out, cdx_errbuf *eb);

#endif
