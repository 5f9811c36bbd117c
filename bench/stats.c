/* Latency statistics for benchmark cells (see stats.h). Exact, from the raw
 * samples: a cell holds at most a few hundred thousand of them, so sorting a
 * copy is cheaper than explaining a sketch's error bars. */
#include "bench/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cdx_bench_quantile_sorted(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    if (q <= 0)
        return sorted[0];
    if (q >= 1)
        return sorted[n - 1];
    double h = q * (double)(n - 1);
    size_t lo = (size_t)floor(h);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (h - (double)lo) * (sorted[hi] - sorted[lo]);
}

double cdx_bench_median_inplace(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return cdx_bench_quantile_sorted(v, n, 0.5);
}

/* Median of samples[from, from+len) without touching the input. */
static double median_of(const double *samples, size_t from, size_t len)
{
    double *tmp = malloc(len * sizeof *tmp);
    if (!tmp)
        return NAN;
    memcpy(tmp, samples + from, len * sizeof *tmp);
    double m = cdx_bench_median_inplace(tmp, len);
    free(tmp);
    return m;
}

double cdx_bench_drift(const double *samples, size_t n)
{
    if (n < 3)
        return 0;
    size_t third = n / 3;
    double first = median_of(samples, 0, third), last = median_of(samples, n - third, third);
    if (!(first > 0))
        return 0;
    return (last - first) / first;
}

double cdx_bench_noise(const double *blocks, size_t n)
{
    if (n < 2)
        return 0;
    double lo = blocks[0], hi = blocks[0];
    double *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return NAN;
    for (size_t i = 0; i < n; i++) {
        lo = blocks[i] < lo ? blocks[i] : lo;
        hi = blocks[i] > hi ? blocks[i] : hi;
        tmp[i] = blocks[i];
    }
    double med = cdx_bench_median_inplace(tmp, n);
    free(tmp);
    return med > 0 ? (hi - lo) / (2 * med) : 0;
}

static void hist_fill(const double *sorted, size_t n, cdx_bench_hist *h)
{
    memset(h, 0, sizeof *h);
    h->n_bins = CDX_BENCH_HIST_BINS;
    if (n == 0)
        return;
    /* Bounds a little outside the data, on a log scale, so the extremes sit inside. */
    double lo = sorted[0] > 0 ? sorted[0] : 1e-6, hi = sorted[n - 1] > lo ? sorted[n - 1] : lo * 1.01;
    h->lo_ms = lo / 1.02;
    h->hi_ms = hi * 1.02;
    double span = log(h->hi_ms / h->lo_ms);
    for (size_t i = 0; i < n; i++) {
        double x = sorted[i] > h->lo_ms ? sorted[i] : h->lo_ms;
        int b = (int)(log(x / h->lo_ms) / span * h->n_bins);
        b = b < 0 ? 0 : b >= h->n_bins ? h->n_bins - 1 : b;
        h->bins[b]++;
    }
}

int cdx_bench_summarize(const double *samples_ms, size_t n, int32_t n_blocks, cdx_bench_summary *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n == 0)
        return 0;
    double *sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        return -1;
    memcpy(sorted, samples_ms, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += sorted[i];
    out->min_ms = sorted[0];
    out->max_ms = sorted[n - 1];
    out->mean_ms = sum / (double)n;
    out->p50_ms = cdx_bench_quantile_sorted(sorted, n, 0.50);
    out->p95_ms = cdx_bench_quantile_sorted(sorted, n, 0.95);
    out->p99_ms = cdx_bench_quantile_sorted(sorted, n, 0.99);
    out->drift = cdx_bench_drift(samples_ms, n);
    hist_fill(sorted, n, &out->hist);

    int32_t k = n_blocks < 1 ? 1 : n_blocks > CDX_BENCH_MAX_BLOCKS ? CDX_BENCH_MAX_BLOCKS : n_blocks;
    if ((size_t)k > n)
        k = (int32_t)n;
    out->n_blocks = k;
    for (int32_t b = 0; b < k; b++) {
        size_t from = n * (size_t)b / (size_t)k, to = n * (size_t)(b + 1) / (size_t)k;
        memcpy(sorted, samples_ms + from, (to - from) * sizeof *sorted);
        qsort(sorted, to - from, sizeof *sorted, cmp_double);
        out->block_p50_ms[b] = cdx_bench_quantile_sorted(sorted, to - from, 0.50);
        out->block_p95_ms[b] = cdx_bench_quantile_sorted(sorted, to - from, 0.95);
    }
    out->noise_p50 = cdx_bench_noise(out->block_p50_ms, (size_t)k);
    out->noise_p95 = cdx_bench_noise(out->block_p95_ms, (size_t)k);
    free(sorted);
    return 0;
}
