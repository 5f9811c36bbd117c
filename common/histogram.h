/* Latency histogram: log-spaced buckets (4 per power of two) from 1 us to
 * ~ 2^36 us, so percentiles are within ~ 19% anywhere in that range, memory is
 * fixed and recording is O(1). Thread-safe (a mutex per histogram: recording
 * is rare next to the inference or request it measures). Also exports
 * Prometheus-style cumulative counts at chosen bounds. */
#ifndef CDX_COMMON_HISTOGRAM_H
#define CDX_COMMON_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_histogram cdx_histogram;

int cdx_histogram_init(cdx_histogram **out);
void cdx_histogram_free(cdx_histogram *h);
void cdx_histogram_record_ns(cdx_histogram *h, int64_t ns);
void cdx_histogram_reset(cdx_histogram *h);

typedef struct cdx_histogram_summary {
    uint64_t count;
    double sum_ms, min_ms, max_ms, mean_ms;
    double p50_ms, p90_ms, p95_ms, p99_ms;
} cdx_histogram_summary;

void cdx_histogram_summarize(cdx_histogram *h, cdx_histogram_summary *out);
/* q in [0,1]; 0 when empty. */
double cdx_histogram_quantile_ms(cdx_histogram *h, double q);
/* Number of samples <= bound_ms (estimated at bucket resolution), for Prometheus _bucket lines. */
uint64_t cdx_histogram_count_le(cdx_histogram *h, double bound_ms);
/* Adds src's samples into dst. */
void cdx_histogram_merge(cdx_histogram *dst, cdx_histogram *src);

#ifdef __cplusplus
}
#endif
#endif
