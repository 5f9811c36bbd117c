/* The auto index choice and search-parameter tuning (see plan.h). */
#include "index/plan.h"

#include "common/clock.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t cdx_plan_memory(const cdx_index_spec *s, int64_t n, int32_t dim)
{
    uint64_t un = (uint64_t)(n > 0 ? n : 0), vec = (uint64_t)dim * 4;
    switch (s->kind) {
    case CDX_INDEX_FLAT:
    case CDX_INDEX_FAISS_FLAT:
        return un * (vec + 16);
    case CDX_INDEX_HNSW: /* level 0 has 2m links, upper levels add ~1/m of that; id map ~56 bytes */
        return un * (vec + (uint64_t)s->m * 2 * 4 + (uint64_t)s->m * 8 / (uint64_t)CDX_MAX(s->m, 1) * 4 + 56 + 12);
    case CDX_INDEX_IVF:
        return un * (vec + 8) + (uint64_t)s->nlist * vec;
    case CDX_INDEX_IVFPQ:
        return un * ((uint64_t)s->pq_m * (uint64_t)s->pq_nbits / 8 + 8) + (uint64_t)s->nlist * vec +
               ((uint64_t)1 << s->pq_nbits) * vec;
    case CDX_INDEX_SQ8:
        return un * ((uint64_t)dim + 56) + 2 * vec;
    default:
        return 0;
    }
}

int64_t cdx_plan_min_train(const cdx_index_spec *s)
{
    switch (s->kind) {
    case CDX_INDEX_IVF:
        return CDX_MAX((int64_t)s->nlist, CDX_PLAN_MIN_TRAIN_IVF);
    case CDX_INDEX_IVFPQ:
        return CDX_MAX((int64_t)s->nlist, CDX_PLAN_MIN_TRAIN_PQ);
    case CDX_INDEX_SQ8:
        return CDX_PLAN_MIN_TRAIN_IVF;
    default:
        return 0;
    }
}

int64_t cdx_plan_train_size(const cdx_index_spec *s, int64_t n)
{
    int64_t want;
    switch (s->kind) {
    case CDX_INDEX_IVF:
        want = CDX_MAX((int64_t)s->nlist * 30, 20000);
        break;
    case CDX_INDEX_IVFPQ:
        want = CDX_MAX((int64_t)s->nlist * 30, 65536);
        break;
    case CDX_INDEX_SQ8:
        want = 20000;
        break;
    default:
        return 0;
    }
    return CDX_MIN(want, n);
}

cdx_index_spec cdx_plan_auto(int64_t n, int32_t dim, uint64_t budget, char *why, size_t cap)
{
    char sink[8];
    if (!why) {
        why = sink;
        cap = sizeof sink;
    }
    cdx_index_spec flat = cdx_index_spec_default(CDX_INDEX_FLAT);
    if (n * (int64_t)dim <= CDX_PLAN_FLAT_MAX_FLOATS && cdx_plan_memory(&flat, n, dim) <= budget) {
        snprintf(why, cap, "%lld vectors x %d dims: an exact scan is cheap", (long long)n, dim);
        return flat;
    }
    cdx_index_spec h = cdx_index_spec_default(CDX_INDEX_HNSW);
    h.efc = 128;
    if (cdx_plan_memory(&h, n, dim) <= budget) {
        snprintf(why, cap, "HNSW needs ~%.0f MiB for %lld vectors, within the %.0f MiB budget",
                 (double)cdx_plan_memory(&h, n, dim) / 1048576.0, (long long)n, (double)budget / 1048576.0);
        return h;
    }
    cdx_index_spec pq = cdx_index_spec_default(CDX_INDEX_IVFPQ);
    cdx_index_spec_resolve(&pq, n, dim);
    /* Shrink the codes until they fit. */
    while (cdx_plan_memory(&pq, n, dim) > budget && pq.pq_m > 8 && dim % (pq.pq_m / 2) == 0)
        pq.pq_m /= 2;
    snprintf(why, cap, "HNSW would need ~%.0f MiB (budget %.0f MiB): IVF-PQ at ~%.0f MiB",
             (double)cdx_plan_memory(&h, n, dim) / 1048576.0, (double)budget / 1048576.0,
             (double)cdx_plan_memory(&pq, n, dim) / 1048576.0);
    return pq;
}

int cdx_plan_prefer_exact(const cdx_tune_result *approx, const cdx_tune_result *exact)
{
    if (!exact || exact->n_points < 1)
        return 0;
    if (approx->chosen < 0)
        return 1;
    return exact->points[0].p50_ms <= approx->points[approx->chosen].p50_ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, int32_t n, double p)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int32_t i = (int32_t)ceil(p * n) - 1;
    return v[CDX_MAX(0, CDX_MIN(i, n - 1))];
}

static int measure(const cdx_vindex *v, const float *queries, int32_t nq, const int64_t *truth, int32_t effort,
                   int32_t threads, cdx_fetch_fn fetch, void *fctx, cdx_tune_point *pt, cdx_errbuf *eb)
{
    int32_t dim = cdx_vindex_dim(v);
    double *lat = malloc(sizeof(double) * (size_t)CDX_MAX(nq, 1));
    if (!lat)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "tune: out of memory");
    int64_t hits = 0, want = 0;
    int rc = CDX_OK;
    for (int32_t q = 0; q < nq && rc == CDX_OK; q++) {
        int64_t ids[10];
        float sc[10];
        int64_t t0 = cdx_clock_ns();
        rc = cdx_vindex_search_exact(v, 1, queries + (size_t)q * dim, 10, effort, threads, fetch, fctx, ids, sc, eb);
        lat[q] = cdx_ns_to_ms(cdx_clock_ns() - t0);
        for (int a = 0; a < 10; a++) {
            if (truth[q * 10 + a] < 0)
                continue;
            want++;
            for (int b = 0; b < 10; b++)
                if (ids[b] == truth[q * 10 + a]) {
                    hits++;
                    break;
                }
        }
    }
    pt->effort = effort;
    pt->recall_at_10 = want ? (double)hits / (double)want : 1.0;
    pt->p50_ms = percentile(lat, nq, 0.50);
    pt->p99_ms = percentile(lat, nq, 0.99);
    free(lat);
    return rc;
}

int cdx_plan_tune(cdx_vindex *v, const float *queries, int32_t nq, const int64_t *truth, double target,
                  int32_t threads, cdx_fetch_fn fetch, void *fctx, cdx_tune_result *out, cdx_errbuf *eb)
{
    static const int32_t hnsw_efforts[] = {10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096};
    static const int32_t ivf_efforts[] = {1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 512, 1024};
    int32_t ivf_list[CDX_ARRAY_LEN(ivf_efforts) + 1];
    memset(out, 0, sizeof *out);
    out->chosen = -1;
    out->nq = nq;
    const cdx_index_spec *spec = cdx_vindex_spec(v);
    const int32_t *efforts = NULL;
    size_t n_efforts = 0;
    if (spec->kind == CDX_INDEX_HNSW) {
        efforts = hnsw_efforts;
        n_efforts = CDX_ARRAY_LEN(hnsw_efforts);
    } else if (spec->kind == CDX_INDEX_IVF || spec->kind == CDX_INDEX_IVFPQ) {
        /* nprobe up to every list (an exhaustive scan of the codes) */
        for (size_t i = 0; i < CDX_ARRAY_LEN(ivf_efforts) && ivf_efforts[i] < spec->nlist; i++)
            ivf_list[n_efforts++] = ivf_efforts[i];
        ivf_list[n_efforts++] = spec->nlist;
        efforts = ivf_list;
    }
    int rc;
    if (!efforts) { /* nothing to tune: measure as is */
        rc = measure(v, queries, nq, truth, 0, threads, fetch, fctx, &out->points[0], eb);
        out->n_points = 1;
        out->chosen = out->points[0].recall_at_10 >= target ? 0 : -1;
        return rc;
    }
    /* Efforts in increasing order; when even all of them miss the target and
     * the spec re-ranks, re-rank twice as many candidates and go again. */
    int32_t best = 0, extra = 0;
    for (;;) {
        for (size_t i = 0; i < n_efforts && out->n_points < CDX_TUNE_MAX_POINTS; i++) {
            cdx_tune_point *pt = &out->points[out->n_points];
            if ((rc = measure(v, queries, nq, truth, efforts[i], threads, fetch, fctx, pt, eb)) != CDX_OK)
                return rc;
            pt->rerank = spec->rerank;
            out->n_points++;
            if (pt->recall_at_10 > out->points[best].recall_at_10)
                best = out->n_points - 1;
            if (out->chosen < 0 && pt->recall_at_10 >= target)
                out->chosen = out->n_points - 1;
            /* one candidate past the choice, to show the curve flattening */
            if (out->chosen >= 0 && ++extra > 1)
                break;
        }
        if (out->chosen >= 0 || spec->rerank <= 0 || spec->rerank >= 100 || !fetch ||
            out->n_points >= CDX_TUNE_MAX_POINTS)
            break;
        cdx_vindex_set_rerank(v, CDX_MIN(spec->rerank * 2, 100));
        spec = cdx_vindex_spec(v);
        /* start above the efforts that missed even with fewer candidates */
        int32_t from = 0;
        while ((size_t)from < n_efforts && efforts[from] < out->points[best].effort)
            from++;
        efforts += from;
        n_efforts -= (size_t)from;
    }
    const cdx_tune_point *pick = &out->points[out->chosen >= 0 ? out->chosen : best];
    cdx_vindex_set_effort(v, pick->effort);
    if (pick->rerank > 0)
        cdx_vindex_set_rerank(v, pick->rerank);
    return CDX_OK;
}
