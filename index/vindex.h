/* One vector index of any kind: the exact index (index/flat.h) or a FAISS
 * kind (index/faiss_shim.h) behind one set of calls, and one file format for
 * both: a header (magic, version, dim, spec text) and the kind's payload.
 *
 * Same threading rule as its parts: searches may run together; add, remove
 * and train need the index to themselves (the store holds a rwlock). */
#ifndef CDX_INDEX_VINDEX_H
#define CDX_INDEX_VINDEX_H

#include <stdint.h>

#include "common/error.h"
#include "index/iofile.h"
#include "index/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_vindex cdx_vindex;

/* spec must be resolved and not auto. */
int cdx_vindex_create(const cdx_index_spec *spec, int32_t dim, cdx_vindex **out, cdx_errbuf *eb);
void cdx_vindex_free(cdx_vindex *v);

const cdx_index_spec *cdx_vindex_spec(const cdx_vindex *v);
/* Changes the default search parameter (efSearch / nprobe) after tuning. */
void cdx_vindex_set_effort(cdx_vindex *v, int32_t effort);
/* Changes how many candidates per result are re-scored exactly (rerank kinds). */
void cdx_vindex_set_rerank(cdx_vindex *v, int32_t rerank);
int32_t cdx_vindex_dim(const cdx_vindex *v);
int cdx_vindex_is_trained(const cdx_vindex *v);
int cdx_vindex_train(cdx_vindex *v, int64_t n, const float *x, int32_t threads, cdx_errbuf *eb);
/* Room for n entries in all when the kind keeps its own rows (exact search:
 * no growth slack after a build that knows its count); a no-op otherwise. */
int cdx_vindex_reserve(cdx_vindex *v, int64_t n, cdx_errbuf *eb);
/* ids must not be present: remove them first. */
int cdx_vindex_add(cdx_vindex *v, int64_t n, const float *x, const int64_t *ids, int32_t threads, cdx_errbuf *eb);
int cdx_vindex_remove(cdx_vindex *v, int64_t n, const int64_t *ids, int64_t *removed, cdx_errbuf *eb);
int cdx_vindex_search(const cdx_vindex *v, int64_t nq, const float *q, int32_t k, int32_t effort, int32_t threads,
                      int64_t *ids, float *scores, cdx_errbuf *eb);
/* Exact vectors of n ids into out (n x dim); found[i] = 0 for an id that has none. */
typedef int (*cdx_fetch_fn)(void *ctx, const int64_t *ids, int32_t n, float *out, uint8_t *found, cdx_errbuf *eb);
/* cdx_vindex_search, then, when the spec says rerank = R > 0 and fetch is
 * given, k * R candidates re-scored with their exact vectors: the approximate
 * codes choose candidates, exact inner products order them. */
int cdx_vindex_search_exact(const cdx_vindex *v, int64_t nq, const float *q, int32_t k, int32_t effort,
                            int32_t threads, cdx_fetch_fn fetch, void *fctx, int64_t *ids, float *scores,
                            cdx_errbuf *eb);
int64_t cdx_vindex_count(const cdx_vindex *v);
/* Entries removed but still occupying the index (HNSW); a rebuild drops them. */
int64_t cdx_vindex_dead(const cdx_vindex *v);
uint64_t cdx_vindex_memory(const cdx_vindex *v);
/* The ids present, cdx_vindex_count of them, into a malloc'd array (caller frees). */
int cdx_vindex_ids(const cdx_vindex *v, int64_t **out, cdx_errbuf *eb);

int cdx_vindex_write(const cdx_vindex *v, cdx_write_fn w, void *ctx, cdx_errbuf *eb);
/* Reads what cdx_vindex_write wrote. The caller verified the bytes' sha256
 * first; the reader still checks every size it is given. */
int cdx_vindex_read(cdx_read_fn r, void *ctx, int32_t dim, cdx_vindex **out, cdx_errbuf *eb);

#ifdef __cplusplus
}
#endif
#endif
