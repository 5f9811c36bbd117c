/* A vector index of any kind behind one interface: dispatches to our exact
 * scan for "flat" and to the FAISS shim for everything else, and wraps both
 * payloads in one file header so a reader knows what it holds before it
 * parses anything. */
#include "index/vindex.h"

#include "common/util.h"
#include "index/faiss_shim.h"
#include "index/flat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cdx_vindex {
    cdx_index_spec spec;
    int32_t dim;
    cdx_flat *flat;   /* exactly one of flat, fx */
    cdx_faiss *fx;
};

int cdx_vindex_create(const cdx_index_spec *spec, int32_t dim, cdx_vindex **out, cdx_errbuf *eb)
{
    *out = NULL;
    if (spec->kind == CDX_INDEX_AUTO)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "vector index: resolve auto before creating an index");
    if (dim <= 0)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "vector index: dimension %d", dim);
    cdx_vindex *v = calloc(1, sizeof *v);
    if (!v)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "vector index: out of memory");
    v->spec = *spec;
    v->dim = dim;
    int rc = spec->kind == CDX_INDEX_FLAT ? cdx_flat_create(dim, &v->flat) : cdx_faiss_create(spec, dim, &v->fx, eb);
    if (rc != CDX_OK) {
        if (rc == CDX_ERR_NOMEM)
            cdx_errbuf_set(eb, rc, "vector index: out of memory");
        free(v);
        return rc;
    }
    *out = v;
    return CDX_OK;
}

void cdx_vindex_free(cdx_vindex *v)
{
    if (!v)
        return;
    cdx_flat_free(v->flat);
    cdx_faiss_free(v->fx);
    free(v);
}

const cdx_index_spec *cdx_vindex_spec(const cdx_vindex *v) { return &v->spec; }
int32_t cdx_vindex_dim(const cdx_vindex *v) { return v->dim; }

void cdx_vindex_set_effort(cdx_vindex *v, int32_t effort)
{
    if (effort > 0)
        cdx_index_spec_set_effort(&v->spec, effort);
}

void cdx_vindex_set_rerank(cdx_vindex *v, int32_t rerank)
{
    if (v->spec.kind == CDX_INDEX_IVFPQ || v->spec.kind == CDX_INDEX_SQ8)
        v->spec.rerank = CDX_MAX(rerank, 0);
}

int cdx_vindex_is_trained(const cdx_vindex *v) { return v->flat ? 1 : cdx_faiss_is_trained(v->fx); }

int cdx_vindex_train(cdx_vindex *v, int64_t n, const float *x, int32_t threads, cdx_errbuf *eb)
{
    return v->flat ? CDX_OK : cdx_faiss_train(v->fx, n, x, threads, eb);
}

int cdx_vindex_reserve(cdx_vindex *v, int64_t n, cdx_errbuf *eb)
{
    if (!v->flat || cdx_flat_reserve(v->flat, n) == CDX_OK)
        return CDX_OK;
    return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "flat index: out of memory for %lld vectors", (long long)n);
}

int cdx_vindex_add(cdx_vindex *v, int64_t n, const float *x, const int64_t *ids, int32_t threads, cdx_errbuf *eb)
{
    if (v->flat) {
        int rc = cdx_flat_add(v->flat, n, x, ids);
        return rc == CDX_OK ? rc : cdx_errbuf_set(eb, rc, "flat index: out of memory adding %lld vectors", (long long)n);
    }
    return cdx_faiss_add(v->fx, n, x, ids, threads, eb);
}

int cdx_vindex_remove(cdx_vindex *v, int64_t n, const int64_t *ids, int64_t *removed, cdx_errbuf *eb)
{
    if (v->flat) {
        int64_t r = cdx_flat_remove(v->flat, n, ids);
        if (removed)
            *removed = r;
        return CDX_OK;
    }
    return cdx_faiss_remove(v->fx, n, ids, removed, eb);
}

int cdx_vindex_search(const cdx_vindex *v, int64_t nq, const float *q, int32_t k, int32_t effort, int32_t threads,
                      int64_t *ids, float *scores, cdx_errbuf *eb)
{
    if (v->flat) {
        int rc = cdx_flat_search(v->flat, nq, q, k, threads, ids, scores);
        return rc == CDX_OK ? rc : cdx_errbuf_set(eb, rc, "flat search: out of memory");
    }
    /* effort 0: the tuned value, which lives in our copy of the spec */
    return cdx_faiss_search(v->fx, nq, q, k, effort > 0 ? effort : cdx_index_spec_effort(&v->spec), threads, ids,
                            scores, eb);
}

typedef struct cand {
    float score;
    int64_t id;
} cand;

static int cand_best_first(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

#define RERANK_MAX_CANDIDATES 10000

int cdx_vindex_search_exact(const cdx_vindex *v, int64_t nq, const float *q, int32_t k, int32_t effort,
                            int32_t threads, cdx_fetch_fn fetch, void *fctx, int64_t *ids, float *scores,
                            cdx_errbuf *eb)
{
    int32_t r = v->spec.rerank;
    if (r <= 0 || !fetch)
        return cdx_vindex_search(v, nq, q, k, effort, threads, ids, scores, eb);
    int32_t kc = (int32_t)CDX_MIN((int64_t)k * r, RERANK_MAX_CANDIDATES);
    kc = CDX_MAX(kc, k);
    int64_t *cids = malloc(sizeof(int64_t) * (size_t)(nq * kc));
    float *cs = malloc(sizeof(float) * (size_t)(nq * kc));
    float *vec = malloc(sizeof(float) * (size_t)kc * (size_t)v->dim);
    uint8_t *found = malloc((size_t)kc);
    cand *c = malloc(sizeof(cand) * (size_t)kc);
    int rc = CDX_OK;
    if (!cids || !cs || !vec || !found || !c) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "search: out of memory for %d candidates", kc);
        goto done;
    }
    if ((rc = cdx_vindex_search(v, nq, q, kc, effort, threads, cids, cs, eb)) != CDX_OK)
        goto done;
    for (int64_t i = 0; i < nq; i++) {
        int32_t n = 0;
        while (n < kc && cids[i * kc + n] >= 0)
            n++;
        if ((rc = fetch(fctx, cids + i * kc, n, vec, found, eb)) != CDX_OK)
            goto done;
        int32_t m = 0;
        for (int32_t j = 0; j < n; j++)
            if (found[j]) /* an id deleted since the search found it is dropped */
                c[m++] = (cand){cdx_dot(q + i * v->dim, vec + (size_t)j * v->dim, v->dim), cids[i * kc + j]};
        qsort(c, (size_t)m, sizeof *c, cand_best_first);
        for (int32_t j = 0; j < k; j++) {
            ids[i * k + j] = j < m ? c[j].id : -1;
            scores[i * k + j] = j < m ? c[j].score : -INFINITY;
        }
    }
done:
    free(cids);
    free(cs);
    free(vec);
    free(found);
    free(c);
    return rc;
}

int64_t cdx_vindex_count(const cdx_vindex *v) { return v->flat ? cdx_flat_count(v->flat) : cdx_faiss_count(v->fx); }
int64_t cdx_vindex_dead(const cdx_vindex *v) { return v->flat ? 0 : cdx_faiss_dead(v->fx); }

uint64_t cdx_vindex_memory(const cdx_vindex *v)
{
    return v->flat ? cdx_flat_memory(v->flat) : cdx_faiss_memory(v->fx);
}

int cdx_vindex_ids(const cdx_vindex *v, int64_t **out, cdx_errbuf *eb)
{
    int64_t n = cdx_vindex_count(v);
    *out = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    if (!*out)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "vector index: out of memory listing ids");
    if (v->fx) {
        int rc = cdx_faiss_ids(v->fx, *out, eb);
        if (rc != CDX_OK)
            CDX_FREE(*out);
        return rc;
    }
    return cdx_flat_ids(v->flat, *out);
}

/* File header: magic, format version, dim, spec text (NUL-padded). */
#define VIDX_MAGIC "CDXVIDX1"
typedef struct vidx_header {
    char magic[8];
    int32_t version, dim;
    char spec[CDX_INDEX_SPEC_MAX];
} vidx_header;

int cdx_vindex_write(const cdx_vindex *v, cdx_write_fn w, void *ctx, cdx_errbuf *eb)
{
    vidx_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, VIDX_MAGIC, 8);
    h.version = 1;
    h.dim = v->dim;
    cdx_index_spec_format(&v->spec, h.spec, sizeof h.spec);
    if (w(ctx, &h, sizeof h) != sizeof h)
        return cdx_errbuf_set(eb, CDX_ERR_IO, "write index header failed");
    if (v->flat)
        return cdx_flat_write(v->flat, w, ctx) == CDX_OK ? CDX_OK
                                                          : cdx_errbuf_set(eb, CDX_ERR_IO, "write flat index failed");
    return cdx_faiss_write(v->fx, w, ctx, eb);
}

int cdx_vindex_read(cdx_read_fn r, void *ctx, int32_t dim, cdx_vindex **out, cdx_errbuf *eb)
{
    *out = NULL;
    vidx_header h;
    if (r(ctx, &h, sizeof h) != sizeof h || memcmp(h.magic, VIDX_MAGIC, 8) != 0 || h.version != 1)
        return cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "index file: not a clipdex index (bad header)");
    if (h.dim != dim)
        return cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "index file: %d dims, the catalog has %d", h.dim, dim);
    h.spec[sizeof h.spec - 1] = '\0';
    cdx_index_spec spec;
    if (cdx_index_spec_parse(h.spec, &spec, eb) != CDX_OK || spec.kind == CDX_INDEX_AUTO)
        return cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "index file: bad spec '%s'", h.spec);
    cdx_vindex *v = calloc(1, sizeof *v);
    if (!v)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "vector index: out of memory");
    v->spec = spec;
    v->dim = dim;
    int rc = spec.kind == CDX_INDEX_FLAT ? cdx_flat_read(r, ctx, dim, &v->flat, eb)
                                         : cdx_faiss_read(r, ctx, &spec, dim, &v->fx, eb);
    if (rc != CDX_OK) {
        free(v);
        return rc;
    }
    *out = v;
    return CDX_OK;
}
