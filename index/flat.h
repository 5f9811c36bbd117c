/* The exact ("flat") vector index, ours rather than FAISS's: Debian's libfaiss
 * is built for baseline x86-64 (no AVX2), and an exact scan is the one kind
 * where the dot-product kernel is all the work. Vectors live in one
 * contiguous array with their 64-bit ids; an id appears at most once.
 *
 * Not thread-safe for writers: the store serializes add/remove and lets any
 * number of searches run together between them. */
#ifndef CDX_INDEX_FLAT_H
#define CDX_INDEX_FLAT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "index/iofile.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_flat cdx_flat;

int cdx_flat_create(int32_t dim, cdx_flat **out);
void cdx_flat_free(cdx_flat *f);
int32_t cdx_flat_dim(const cdx_flat *f);
int64_t cdx_flat_count(const cdx_flat *f);
uint64_t cdx_flat_memory(const cdx_flat *f);
int cdx_flat_contains(const cdx_flat *f, int64_t id);
/* Copies the ids (cdx_flat_count of them) into out. */
int cdx_flat_ids(const cdx_flat *f, int64_t *out);

/* Room for n vectors in all, allocated exactly (a build that knows its count
 * then holds no growth slack); adds past it grow by half. CDX_ERR_NOMEM. */
int cdx_flat_reserve(cdx_flat *f, int64_t n);
/* Adds n vectors; an id already present has its vector replaced. CDX_ERR_NOMEM. */
int cdx_flat_add(cdx_flat *f, int64_t n, const float *x, const int64_t *ids);
/* Removes the ids present; returns how many were. */
int64_t cdx_flat_remove(cdx_flat *f, int64_t n, const int64_t *ids);
/* Top-k by inner product for nq queries; ids/scores nq*k, best first, -1 /
 * -INFINITY in unfilled slots. threads <= 1 scans on the calling thread. */
int cdx_flat_search(const cdx_flat *f, int64_t nq, const float *q, int32_t k, int32_t threads, int64_t *ids,
                    float *scores);

/* Exact top-k over a raw row-major matrix (ground truth for recall, and the
 * kernel of cdx_flat_search): labels are row numbers, or ids[row] when ids
 * is not NULL. */
int cdx_flat_scan(const float *base, const int64_t *ids, int64_t n, int32_t dim, const float *q, int64_t nq,
                  int32_t k, int32_t threads, int64_t *labels, float *scores);

/* Binary form: count, dim, ids, vectors (little-endian). */
int cdx_flat_write(const cdx_flat *f, cdx_write_fn w, void *ctx);
/* Reads what cdx_flat_write wrote; CDX_ERR_CORRUPT when it does not fit. */
int cdx_flat_read(cdx_read_fn r, void *ctx, int32_t dim, cdx_flat **out, cdx_errbuf *eb);

/* Inner product of two dim-float vectors with the best kernel this CPU has. */
float cdx_dot(const float *a, const float *b, int32_t dim);

#ifdef __cplusplus
}
#endif
#endif
