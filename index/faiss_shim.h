/* C API over the parts of FAISS clipdex uses. Debian's libfaiss-dev ships the
 * C API headers without their implementation, so this shim is ours: C++ inside,
 * extern "C" outside, and no exception ever crosses it: each is caught and
 * becomes a CDX_ERR_* code (CDX_ERR_NOMEM for bad_alloc, CDX_ERR_INDEX
 * otherwise) with FAISS's message in eb.
 *
 * Kinds: HNSW (flat storage), IVF-Flat, IVF-PQ and SQ8, all by inner product
 * on L2-normalized vectors, all addressed by 64-bit ids. An id is present at
 * most once: the caller removes an id before adding it again. HNSW cannot
 * delete nodes, so a removed HNSW entry is marked dead, filtered out of
 * searches, and dropped when the index is rebuilt (cdx_faiss_dead says how
 * many there are). The exact kind is ours (index/flat.h); CDX_INDEX_FAISS_FLAT
 * is FAISS's, kept only to measure ours against.
 *
 * Threads: a handle may be searched by many threads at once; add, remove and
 * train need it to themselves. FAISS parallelizes with OpenMP: `threads` sets
 * the OpenMP team size for the calling thread's FAISS calls (0 keeps it). */
#ifndef CDX_INDEX_FAISS_SHIM_H
#define CDX_INDEX_FAISS_SHIM_H

#include <stdint.h>

#include "common/error.h"
#include "index/iofile.h"
#include "index/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* FAISS version clipdex was built against, e.g. "1.7.3". Static string. */
const char *cdx_faiss_version(void);

typedef struct cdx_faiss cdx_faiss;

/* spec must be resolved (cdx_index_spec_resolve): no zero nlist or PQ m.
 * CDX_ERR_UNSUPPORTED for flat and auto. */
int cdx_faiss_create(const cdx_index_spec *spec, int32_t dim, cdx_faiss **out, cdx_errbuf *eb);
void cdx_faiss_free(cdx_faiss *f);

int cdx_faiss_is_trained(const cdx_faiss *f);
/* Trains the quantizers (IVF centroids, PQ/SQ codebooks) on n vectors. */
int cdx_faiss_train(cdx_faiss *f, int64_t n, const float *x, int32_t threads, cdx_errbuf *eb);
int cdx_faiss_add(cdx_faiss *f, int64_t n, const float *x, const int64_t *ids, int32_t threads, cdx_errbuf *eb);
/* *removed (may be NULL) gets how many of the ids were present. */
int cdx_faiss_remove(cdx_faiss *f, int64_t n, const int64_t *ids, int64_t *removed, cdx_errbuf *eb);
/* Top-k, best first; -1 ids in unfilled slots. effort: efSearch (HNSW) or
 * nprobe (IVF kinds) for this call, 0 = the spec's value. */
int cdx_faiss_search(const cdx_faiss *f, int64_t nq, const float *q, int32_t k, int32_t effort, int32_t threads,
                     int64_t *ids, float *scores, cdx_errbuf *eb);

int64_t cdx_faiss_count(const cdx_faiss *f);   /* live entries */
int64_t cdx_faiss_dead(const cdx_faiss *f);    /* HNSW entries removed but still in the graph */
uint64_t cdx_faiss_memory(const cdx_faiss *f); /* estimated resident bytes */
const cdx_index_spec *cdx_faiss_spec(const cdx_faiss *f);
/* Copies the ids present into out (cdx_faiss_count of them). */
int cdx_faiss_ids(const cdx_faiss *f, int64_t *out, cdx_errbuf *eb);

/* Serialization through callbacks (FAISS's own format, plus our id map for
 * HNSW and SQ8), and the same on a file descriptor from its current offset. */
int cdx_faiss_write(const cdx_faiss *f, cdx_write_fn w, void *ctx, cdx_errbuf *eb);
int cdx_faiss_read(cdx_read_fn r, void *ctx, const cdx_index_spec *spec, int32_t dim, cdx_faiss **out,
                   cdx_errbuf *eb);
int cdx_faiss_write_fd(const cdx_faiss *f, int fd, cdx_errbuf *eb);
int cdx_faiss_read_fd(int fd, const cdx_index_spec *spec, int32_t dim, cdx_faiss **out, cdx_errbuf *eb);

/* OpenMP's and OpenBLAS's pool sizes for the process (0 leaves one as is). */
void cdx_faiss_set_threads(int32_t omp_threads, int32_t blas_threads);

#ifdef __cplusplus
}
#endif
#endif
