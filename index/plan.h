/* Choosing an index for a catalog ("auto") and tuning its search parameter.
 *
 * The choice, in the spirit of autofaiss: exact search while an exact scan of
 * the catalog stays cheap; HNSW while its graph and vectors fit the memory
 * budget; IVF-PQ beyond. Tuning then runs a sample of the catalog's own
 * vectors as queries against the built index and against exact search, and
 * picks the smallest efSearch / nprobe whose recall@10 reaches the target. */
#ifndef CDX_INDEX_PLAN_H
#define CDX_INDEX_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "index/spec.h"
#include "index/vindex.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exact search up to this many floats per scan (n * dim): 64k vectors of 512. */
#define CDX_PLAN_FLAT_MAX_FLOATS (INT64_C(1) << 25)
/* Below these counts a trained kind falls back to exact search: k-means wants
 * about 39 points per centroid, PQ 39 per code (2^8 codes). */
#define CDX_PLAN_MIN_TRAIN_IVF 1000
#define CDX_PLAN_MIN_TRAIN_PQ 10000

/* The auto choice for n vectors of dim under budget bytes; why (may be NULL)
 * gets one line saying what decided it. */
cdx_index_spec cdx_plan_auto(int64_t n, int32_t dim, uint64_t budget, char *why, size_t cap);
/* Estimated resident bytes of spec (resolved) holding n vectors of dim. */
uint64_t cdx_plan_memory(const cdx_index_spec *spec, int64_t n, int32_t dim);
/* Vectors needed to train spec before it can be used (0 for kinds without training). */
int64_t cdx_plan_min_train(const cdx_index_spec *spec);
/* Training sample size for spec over a catalog of n. */
int64_t cdx_plan_train_size(const cdx_index_spec *spec, int64_t n);

/* One tuning measurement. */
typedef struct cdx_tune_point {
    int32_t effort;          /* efSearch / nprobe; 0 for kinds without one */
    int32_t rerank;          /* candidates re-scored per result (IVF-PQ, SQ8), 0 = none */
    double recall_at_10;
    double p50_ms, p99_ms;   /* one query at a time */
} cdx_tune_point;

#define CDX_TUNE_MAX_POINTS 24

typedef struct cdx_tune_result {
    int32_t n_points;
    cdx_tune_point points[CDX_TUNE_MAX_POINTS];
    int32_t chosen;          /* index into points; -1 when none reached the target */
    int32_t nq;              /* queries used */
} cdx_tune_result;

/* Measures v against exact top-10 ids (truth: nq x 10, -1 padded) for the
 * queries (nq x dim) at increasing efforts, one query at a time; sets v's
 * effort to the smallest that reaches the target recall (or the best found).
 * fetch (may be NULL) gives exact vectors for specs that re-rank. */
int cdx_plan_tune(cdx_vindex *v, const float *queries, int32_t nq, const int64_t *truth, double target,
                  int32_t threads, cdx_fetch_fn fetch, void *fctx, cdx_tune_result *out, cdx_errbuf *eb);

/* Auto's last step, once the planned approximate index is tuned and exact
 * search was measured on the same queries (exact: its one point): 1 when
 * exact search should be kept instead, because the approximate index missed
 * the target or is no faster at it (on data without structure, random vectors
 * say, a graph needs so large an efSearch that a scan wins). */
int cdx_plan_prefer_exact(const cdx_tune_result *approx, const cdx_tune_result *exact);

#ifdef __cplusplus
}
#endif
#endif
