/* Statistics of one benchmark cell's latency samples: exact percentiles,
 * drift over the run, and the cell's own noise (the spread of block medians),
 * which is what `clipdex bench --compare` weighs a difference against.
 * Pure functions over arrays; no allocation except in cdx_bench_summarize. */
#ifndef CDX_BENCH_STATS_H
#define CDX_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CDX_BENCH_MAX_BLOCKS 16
#define CDX_BENCH_HIST_BINS 24

/* q-quantile (q in [0,1]) of n ascending values, linear interpolation between
 * closest ranks (Hyndman-Fan type 7, numpy's default); 0 when n == 0. */
double cdx_bench_quantile_sorted(const double *sorted, size_t n, double q);
/* Median of n values, which it reorders (sorts) in place; 0 when n == 0. */
double cdx_bench_median_inplace(double *v, size_t n);

/* Drift of a run: (median of the last third - median of the first third) /
 * median of the first third, over samples in the order they were taken.
 * Positive = got slower. 0 when n < 3. */
double cdx_bench_drift(const double *samples, size_t n);

/* Relative noise of a set of block statistics: half their range over their
 * median, (max - min) / (2 * median). 0 when n < 2 or the median is 0. */
double cdx_bench_noise(const double *blocks, size_t n);

/* Log-spaced latency histogram of one cell: bins[i] counts samples in
 * [lo * r^i, lo * r^(i+1)) with r = (hi/lo)^(1/n_bins). */
typedef struct cdx_bench_hist {
    double lo_ms, hi_ms;
    int32_t n_bins;
    uint32_t bins[CDX_BENCH_HIST_BINS];
} cdx_bench_hist;

typedef struct cdx_bench_summary {
    uint64_t n;
    double min_ms, mean_ms, p50_ms, p95_ms, p99_ms, max_ms;
    double drift;
    int32_t n_blocks;                          /* consecutive blocks the run was cut into */
    double block_p50_ms[CDX_BENCH_MAX_BLOCKS];
    double block_p95_ms[CDX_BENCH_MAX_BLOCKS];
    double noise_p50, noise_p95;               /* cdx_bench_noise of the block statistics */
    cdx_bench_hist hist;
} cdx_bench_summary;

/* Summarizes n samples (milliseconds, in the order taken), cutting the run
 * into n_blocks consecutive blocks (clamped to [1, CDX_BENCH_MAX_BLOCKS] and
 * to one sample per block at least). Returns 0, or -1 when out of memory. */
int cdx_bench_summarize(const double *samples_ms, size_t n, int32_t n_blocks, cdx_bench_summary *out);

#ifdef __cplusplus
}
#endif
#endif
