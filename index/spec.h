/* Index specs: the string a user writes to choose a vector index kind and its
 * parameters ("flat", "hnsw:m=32,efc=200,efs=64", "ivf:nlist=4096,nprobe=16",
 * "ivfpq:nlist=1024,m=64,nprobe=16", "sq8", "auto"), parsed into a plain
 * struct and formatted back. A parameter left out keeps the kind's default; a
 * 0 for nlist or the PQ m means "choose from the catalog" when the index is
 * built (cdx_index_spec_resolve). */
#ifndef CDX_INDEX_SPEC_H
#define CDX_INDEX_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum cdx_index_kind {
    CDX_INDEX_AUTO = 0,
    CDX_INDEX_FLAT = 1,
    CDX_INDEX_HNSW = 2,
    CDX_INDEX_IVF = 3,
    CDX_INDEX_IVFPQ = 4,
    CDX_INDEX_SQ8 = 5,
    CDX_INDEX_FAISS_FLAT = 6, /* FAISS's own exact index, kept to measure ours against (index/flat.h) */
};

typedef struct cdx_index_spec {
    enum cdx_index_kind kind;
    int32_t m, efc, efs;        /* HNSW: links per node, efConstruction, efSearch */
    int32_t nlist, nprobe;      /* IVF, IVF-PQ: lists (0 = from the count), lists probed */
    int32_t pq_m, pq_nbits;     /* IVF-PQ: sub-quantizers (0 = dim/8), bits per code */
    int32_t rerank;             /* IVF-PQ, SQ8: re-score k * rerank candidates with the exact
                                 * vectors from the catalog (0 = no re-scoring) */
} cdx_index_spec;

#define CDX_INDEX_SPEC_MAX 128

/* The kind's defaults (hnsw m=32 efc=200 efs=64; ivf nprobe=16; ivfpq nbits=8 nprobe=16 rerank=10;
 * sq8 rerank=0). */
cdx_index_spec cdx_index_spec_default(enum cdx_index_kind kind);
/* Parses s; CDX_ERR_PARSE naming the kind or key that is wrong and what is allowed. */
int cdx_index_spec_parse(const char *s, cdx_index_spec *out, cdx_errbuf *eb);
/* Canonical text, every parameter written: "hnsw:m=32,efc=200,efs=64". */
void cdx_index_spec_format(const cdx_index_spec *s, char *buf, size_t cap);
const char *cdx_index_kind_name(enum cdx_index_kind kind);
/* Fills the "choose from the catalog" zeros for n vectors of dim: nlist about
 * 4 sqrt(n) (at least 1, at most n/39 so k-means has 39 points per list),
 * pq_m the largest divisor of dim not above dim/8. */
void cdx_index_spec_resolve(cdx_index_spec *s, int64_t n, int32_t dim);
/* The search parameter `effort` sets: efs for HNSW, nprobe for IVF kinds, 0 otherwise. */
int32_t cdx_index_spec_effort(const cdx_index_spec *s);
void cdx_index_spec_set_effort(cdx_index_spec *s, int32_t effort);

#ifdef __cplusplus
}
#endif
#endif
