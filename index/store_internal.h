/* Store internals shared inside index/ and with the `clipdex index` command
 * and the tests; not part of the API other modules build on (index/store.h). */
#ifndef CDX_INDEX_STORE_INTERNAL_H
#define CDX_INDEX_STORE_INTERNAL_H

#include <stdint.h>

#include "index/catalog.h"
#include "index/plan.h"
#include "index/store.h"

/* What open found for one space's index file. */
typedef struct cdx_space_load {
    int32_t status;      /* CDX_OK: file used (or the space is empty); else why it was rebuilt */
    int64_t replayed;    /* catalog rows added past the file's watermark */
    char note[CDX_ERRMSG_MAX];
} cdx_space_load;

/* Rebuilds a space's index from the catalog and checkpoints it. */
int cdx_store_rebuild(cdx_store *s, int32_t space, cdx_errbuf *eb);
/* The ids in a space's in-memory index (malloc'd, caller frees). */
int cdx_store_index_ids(cdx_store *s, int32_t space, int64_t **ids, int64_t *n, cdx_errbuf *eb);
/* Exact top-10 item ids for nq queries over a space, streamed from the catalog. */
int cdx_store_ground_truth(cdx_store *s, int32_t space, const float *queries, int32_t nq, int64_t *truth,
                           cdx_errbuf *eb);
cdx_catalog *cdx_store_catalog(cdx_store *s);
void cdx_store_load_status(const cdx_store *s, int32_t space, cdx_space_load *out);
/* Builds a throwaway index of spec over a space and tunes it on nq of the
 * space's own vectors (the live index is untouched). */
int cdx_store_try_spec(cdx_store *s, int32_t space, const cdx_index_spec *spec, int32_t nq, cdx_tune_result *res,
                       uint64_t *memory, double *build_s, cdx_errbuf *eb);
const char *cdx_store_contract_id(const cdx_store *s);
int32_t cdx_store_dim(const cdx_store *s);
int32_t cdx_store_threads(const cdx_store *s);
const char *cdx_store_space_name(int32_t space);

/* Index against catalog, for `clipdex index verify` and the tests. */
typedef struct cdx_verify_space {
    cdx_space_load load;
    int64_t catalog_rows, indexed;
    int64_t missing;      /* catalog rows the index lacks */
    int64_t extra;        /* index entries with no catalog row */
    int64_t duplicates;   /* ids the index holds more than once */
    int64_t first_missing, first_extra; /* an example of each, 0 when none */
} cdx_verify_space;

typedef struct cdx_verify_report {
    int32_t ok;               /* everything below agrees */
    int32_t integrity_ok;
    char integrity[CDX_ERRMSG_MAX];
    cdx_verify_space space[CDX_SPACE_COUNT];
} cdx_verify_report;

int cdx_store_verify(cdx_store *s, cdx_verify_report *out, cdx_errbuf *eb);

#endif
