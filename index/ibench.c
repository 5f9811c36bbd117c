/* Synthetic index measurements (see ibench.h). Queries: half are held-out
 * random vectors (no exact twin in the data), half are data vectors (as
 * `auto` tunes); tuning uses the first half of each kind, the reported recall
 * the second. */
#include "index/ibench.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/sysinfo.h"
#include "common/threads.h"
#include "common/util.h"
#include "index/flat.h"
#include "index/vindex.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cdx_ibench_data {
    cdx_ibench_params p;
    float *x;          /* n x dim */
    int64_t *ids;      /* 0..n-1 */
    float *q;          /* queries x dim */
    int64_t *truth;    /* queries x 10 */
    double seconds;
};

cdx_ibench_params cdx_ibench_default_params(void)
{
    cdx_threads_budget b;
    cdx_threads_current(&b);
    return (cdx_ibench_params){.n = 100000, .dim = 512, .queries = 200, .batch = 32, .threads = b.omp, .seed = 1,
                               .target = 0.95};
}

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void unit_vectors(float *x, int64_t n, int32_t dim, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 7;
    for (int64_t i = 0; i < n; i++) {
        double ss = 0;
        float *v = x + i * dim;
        for (int32_t j = 0; j < dim; j += 2) { /* Box-Muller, two normals per draw */
            double u = ((double)(next(&s) >> 11) + 0.5) / 9007199254740992.0;
            double w = ((double)(next(&s) >> 11) + 0.5) / 9007199254740992.0;
            double r = sqrt(-2.0 * log(u));
            v[j] = (float)(r * cos(6.283185307179586 * w));
            if (j + 1 < dim)
                v[j + 1] = (float)(r * sin(6.283185307179586 * w));
        }
        for (int32_t j = 0; j < dim; j++)
            ss += (double)v[j] * v[j];
        float inv = (float)(1.0 / sqrt(ss));
        for (int32_t j = 0; j < dim; j++)
            v[j] *= inv;
    }
}

int cdx_ibench_data_make(const cdx_ibench_params *p, cdx_ibench_data **out, cdx_errbuf *eb)
{
    *out = NULL;
    if (p->n < 100 || p->dim < 2 || p->queries < 4 || p->batch < 1)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "bench: need at least 100 vectors, 2 dims, 4 queries");
    cdx_ibench_data *d = calloc(1, sizeof *d);
    if (!d)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "bench: out of memory");
    d->p = *p;
    int64_t t0 = cdx_clock_ns();
    int32_t nq = p->queries;
    d->x = malloc(sizeof(float) * (size_t)p->n * (size_t)p->dim);
    d->ids = malloc(sizeof(int64_t) * (size_t)p->n);
    d->q = malloc(sizeof(float) * (size_t)nq * (size_t)p->dim);
    d->truth = malloc(sizeof(int64_t) * (size_t)nq * 10);
    float *sc = malloc(sizeof(float) * (size_t)nq * 10);
    if (!d->x || !d->ids || !d->q || !d->truth || !sc) {
        free(sc);
        cdx_ibench_data_free(d);
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "bench: out of memory for %lld x %d vectors", (long long)p->n,
                              p->dim);
    }
    unit_vectors(d->x, p->n, p->dim, p->seed);
    for (int64_t i = 0; i < p->n; i++)
        d->ids[i] = i;
    /* even queries: held out; odd: data vectors spread over the set */
    unit_vectors(d->q, nq, p->dim, p->seed + 1000003);
    for (int32_t i = 1; i < nq; i += 2)
        memcpy(d->q + (size_t)i * p->dim, d->x + ((int64_t)i * 7919 % p->n) * p->dim, sizeof(float) * (size_t)p->dim);
    int rc = cdx_flat_scan(d->x, d->ids, p->n, p->dim, d->q, nq, 10, p->threads, d->truth, sc);
    free(sc);
    if (rc != CDX_OK) {
        cdx_ibench_data_free(d);
        return cdx_errbuf_set(eb, rc, "bench: exact search failed");
    }
    d->seconds = (double)(cdx_clock_ns() - t0) / 1e9;
    *out = d;
    return CDX_OK;
}

void cdx_ibench_data_free(cdx_ibench_data *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->ids);
    free(d->q);
    free(d->truth);
    free(d);
}

double cdx_ibench_data_seconds(const cdx_ibench_data *d) { return d->seconds; }

static int fetch_mem(void *ctx, const int64_t *ids, int32_t n, float *out, uint8_t *found, cdx_errbuf *eb)
{
    (void)eb;
    const cdx_ibench_data *d = ctx;
    for (int32_t i = 0; i < n; i++) {
        found[i] = ids[i] >= 0 && ids[i] < d->p.n;
        if (found[i])
            memcpy(out + (size_t)i * d->p.dim, d->x + ids[i] * d->p.dim, sizeof(float) * (size_t)d->p.dim);
    }
    return CDX_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int32_t n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int32_t i = (int32_t)ceil(p * n) - 1;
    return v[CDX_MAX(0, CDX_MIN(i, n - 1))];
}

/* Queries [from, from+n): tuning gets the first half, measuring the second. */
static void split(const cdx_ibench_data *d, int half, const float **q, const int64_t **truth, int32_t *n)
{
    int32_t h = d->p.queries / 2;
    *q = d->q + (size_t)(half ? h : 0) * d->p.dim;
    *truth = d->truth + (size_t)(half ? h : 0) * 10;
    *n = half ? d->p.queries - h : h;
}

int cdx_ibench_run(cdx_ibench_data *d, const cdx_index_spec *spec_in, cdx_ibench_result *out, cdx_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    const cdx_ibench_params *p = &d->p;
    cdx_index_spec spec = *spec_in;
    cdx_index_spec_resolve(&spec, p->n, p->dim);
    cdx_vindex *v = NULL;
    double *lat = NULL;
    int64_t *ids = NULL;
    float *sc = NULL;
    uint64_t rss0 = cdx_current_rss_bytes();
    int64_t t0 = cdx_clock_ns();
    int rc = cdx_vindex_create(&spec, p->dim, &v, eb);
    if (rc == CDX_OK && !cdx_vindex_is_trained(v)) {
        int64_t nt = cdx_plan_train_size(&spec, p->n); /* an even spread, as the store samples */
        float *t = malloc(sizeof(float) * (size_t)nt * (size_t)p->dim);
        if (!t)
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "bench: out of memory");
        for (int64_t i = 0; t && i < nt; i++)
            memcpy(t + i * p->dim, d->x + (i * (p->n / nt)) * p->dim, sizeof(float) * (size_t)p->dim);
        if (rc == CDX_OK)
            rc = cdx_vindex_train(v, nt, t, p->threads, eb);
        free(t);
    }
    if (rc == CDX_OK) /* as the store's build, which knows its count */
        rc = cdx_vindex_reserve(v, p->n, eb);
    for (int64_t i = 0; rc == CDX_OK && i < p->n; i += 65536) /* in chunks, as a catalog replay adds */
        rc = cdx_vindex_add(v, CDX_MIN(65536, p->n - i), d->x + i * p->dim, d->ids + i, p->threads, eb);
    if (rc != CDX_OK)
        goto done;
    out->build_s = (double)(cdx_clock_ns() - t0) / 1e9;
    uint64_t rss1 = cdx_current_rss_bytes();
    out->rss_delta_bytes = rss1 > rss0 ? rss1 - rss0 : 0;
    out->memory_bytes = cdx_vindex_memory(v);

    const float *q;
    const int64_t *truth;
    int32_t nq;
    split(d, 0, &q, &truth, &nq);
    if ((rc = cdx_plan_tune(v, q, nq, truth, p->target, p->threads, fetch_mem, d, &out->tune, eb)) != CDX_OK)
        goto done;
    cdx_index_spec_format(cdx_vindex_spec(v), out->spec, sizeof out->spec);
    for (int32_t i = 0; i < out->tune.n_points; i++)
        cdx_log_debug("bench", "%s effort %d: recall@10 %.4f p50 %.3f ms p99 %.3f ms", out->spec,
                      out->tune.points[i].effort, out->tune.points[i].recall_at_10, out->tune.points[i].p50_ms,
                      out->tune.points[i].p99_ms);

    split(d, 1, &q, &truth, &nq);
    int32_t nb = nq / p->batch + 1;
    lat = malloc(sizeof(double) * (size_t)CDX_MAX(nq, nb));
    ids = malloc(sizeof(int64_t) * (size_t)p->batch * 10);
    sc = malloc(sizeof(float) * (size_t)p->batch * 10);
    if (!lat || !ids || !sc) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "bench: out of memory");
        goto done;
    }
    int64_t hits = 0, want = 0;
    for (int32_t i = 0; i < nq && rc == CDX_OK; i++) {
        int64_t t = cdx_clock_ns();
        rc = cdx_vindex_search_exact(v, 1, q + (size_t)i * p->dim, 10, 0, p->threads, fetch_mem, d, ids, sc, eb);
        lat[i] = cdx_ns_to_ms(cdx_clock_ns() - t);
        for (int a = 0; a < 10; a++) {
            want += truth[i * 10 + a] >= 0;
            for (int b = 0; b < 10 && truth[i * 10 + a] >= 0; b++)
                hits += ids[b] == truth[i * 10 + a];
        }
    }
    if (rc != CDX_OK)
        goto done;
    out->recall_at_10 = want ? (double)hits / (double)want : 1.0;
    out->p50_ms = pct(lat, nq, 0.5);
    out->p99_ms = pct(lat, nq, 0.99);
    /* batches: every batch is `batch` queries, wrapping around the held-out set */
    int32_t runs = CDX_MAX(8, nq / p->batch * 4);
    double *blat = malloc(sizeof(double) * (size_t)runs);
    float *bq = malloc(sizeof(float) * (size_t)p->batch * (size_t)p->dim);
    if (!blat || !bq) {
        free(blat);
        free(bq);
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "bench: out of memory");
        goto done;
    }
    for (int32_t r = 0; r < runs && rc == CDX_OK; r++) {
        for (int32_t j = 0; j < p->batch; j++)
            memcpy(bq + (size_t)j * p->dim, q + (size_t)((r * p->batch + j) % nq) * p->dim,
                   sizeof(float) * (size_t)p->dim);
        int64_t t = cdx_clock_ns();
        rc = cdx_vindex_search_exact(v, p->batch, bq, 10, 0, p->threads, fetch_mem, d, ids, sc, eb);
        blat[r] = cdx_ns_to_ms(cdx_clock_ns() - t);
    }
    out->batch_p50_ms = pct(blat, runs, 0.5);
    out->batch_p99_ms = pct(blat, runs, 0.99);
    free(blat);
    free(bq);
done:
    free(lat);
    free(ids);
    free(sc);
    cdx_vindex_free(v);
    return rc;
}
