/* A vector index of any kind behind one interface: dispatches to our exact
 * scan for "flat" and to the FAISS shim for everything else, and wraps both
 * payloads in one file header so a reader knows what it holds before it
 * parses anything. */
#include "index/vindex.h"

#include "common/util.h"
#include "index/faiss_shim.h"
#include "index/flat.h"

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

int cdx_vindex_is_trained(const cdx_vindex *v) { return v->flat ? 1 : cdx_faiss_is_trained(v->fx); }

int cdx_vindex_train(cdx_vindex *v, int64_t n, const float *x, int32_t threads, cdx_errbuf *eb)
{
    return v->flat ? CDX_OK : cdx_faiss_train(v->fx, n, x, threads, eb);
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
    return cdx_faiss_search(v->fx, nq, q, k, effort, threads, ids, scores, eb);
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
