/* Histogram (see histogram.h): bucket i covers [2^(i/4), 2^((i+1)/4)) us;
 * samples under 1 us go to bucket 0. A percentile is reported as the
 * geometric middle of its bucket, clamped to the observed min and max. */
#include "common/histogram.h"

#include "common/error.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define HIST_SUB 4
#define HIST_BUCKETS (36 * HIST_SUB)

struct cdx_histogram {
    pthread_mutex_t mu;
    uint64_t counts[HIST_BUCKETS];
    uint64_t n;
    double sum_us, min_us, max_us;
};

int cdx_histogram_init(cdx_histogram **out)
{
    cdx_histogram *h = calloc(1, sizeof *h);
    *out = h;
    if (!h)
        return CDX_ERR_NOMEM;
    pthread_mutex_init(&h->mu, NULL);
    return CDX_OK;
}

void cdx_histogram_free(cdx_histogram *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static int bucket_of(double us)
{
    if (us < 1.0)
        return 0;
    int b = (int)(log2(us) * HIST_SUB);
    return b < 0 ? 0 : b >= HIST_BUCKETS ? HIST_BUCKETS - 1 : b;
}

static double bucket_lo(int b) { return exp2((double)b / HIST_SUB); }

void cdx_histogram_record_ns(cdx_histogram *h, int64_t ns)
{
    double us = ns < 0 ? 0 : (double)ns / 1000.0;
    pthread_mutex_lock(&h->mu);
    h->counts[bucket_of(us)]++;
    if (h->n == 0 || us < h->min_us)
        h->min_us = us;
    if (h->n == 0 || us > h->max_us)
        h->max_us = us;
    h->n++;
    h->sum_us += us;
    pthread_mutex_unlock(&h->mu);
}

void cdx_histogram_reset(cdx_histogram *h)
{
    pthread_mutex_lock(&h->mu);
    memset(h->counts, 0, sizeof h->counts);
    h->n = 0;
    h->sum_us = h->min_us = h->max_us = 0;
    pthread_mutex_unlock(&h->mu);
}

/* Called with the lock held. */
static double quantile_locked(cdx_histogram *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (int b = 0; b < HIST_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            double mid = b == 0 ? 0.5 : sqrt(bucket_lo(b) * bucket_lo(b + 1));
            if (mid < h->min_us)
                mid = h->min_us;
            if (mid > h->max_us)
                mid = h->max_us;
            return mid / 1000.0;
        }
    }
    return h->max_us / 1000.0;
}

double cdx_histogram_quantile_ms(cdx_histogram *h, double q)
{
    pthread_mutex_lock(&h->mu);
    double v = quantile_locked(h, q);
    pthread_mutex_unlock(&h->mu);
    return v;
}

void cdx_histogram_summarize(cdx_histogram *h, cdx_histogram_summary *out)
{
    pthread_mutex_lock(&h->mu);
    out->count = h->n;
    out->sum_ms = h->sum_us / 1000.0;
    out->min_ms = h->min_us / 1000.0;
    out->max_ms = h->max_us / 1000.0;
    out->mean_ms = h->n ? out->sum_ms / (double)h->n : 0;
    out->p50_ms = quantile_locked(h, 0.50);
    out->p90_ms = quantile_locked(h, 0.90);
    out->p95_ms = quantile_locked(h, 0.95);
    out->p99_ms = quantile_locked(h, 0.99);
    pthread_mutex_unlock(&h->mu);
}

uint64_t cdx_histogram_count_le(cdx_histogram *h, double bound_ms)
{
    double us = bound_ms * 1000.0;
    pthread_mutex_lock(&h->mu);
    uint64_t c = 0;
    for (int b = 0; b < HIST_BUCKETS && bucket_lo(b + 1) <= us * 1.0000001; b++)
        c += h->counts[b];
    if (us >= h->max_us)
        c = h->n;
    pthread_mutex_unlock(&h->mu);
    return c;
}

void cdx_histogram_merge(cdx_histogram *dst, cdx_histogram *src)
{
    pthread_mutex_lock(&src->mu);
    uint64_t counts[HIST_BUCKETS];
    memcpy(counts, src->counts, sizeof counts);
    uint64_t n = src->n;
    double sum = src->sum_us, mn = src->min_us, mx = src->max_us;
    pthread_mutex_unlock(&src->mu);
    if (n == 0)
        return;
    pthread_mutex_lock(&dst->mu);
    for (int b = 0; b < HIST_BUCKETS; b++)
        dst->counts[b] += counts[b];
    if (dst->n == 0 || mn < dst->min_us)
        dst->min_us = mn;
    if (dst->n == 0 || mx > dst->max_us)
        dst->max_us = mx;
    dst->n += n;
    dst->sum_us += sum;
    pthread_mutex_unlock(&dst->mu);
}
