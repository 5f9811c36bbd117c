/* The SQLite catalog of a data directory: the source of truth. Internal to
 * index/ (the public API is index/store.h).
 *
 * One writer connection, used under the store's writer lock, and a pool of
 * read connections handed to whichever thread reads (WAL: readers never block
 * the writer and see the last committed state). Every statement is prepared
 * once per connection from one table.
 *
 * Schema (version 2; version 1 databases are migrated on open):
 *   meta(key, value)                     contract stamp, dim, schema_version
 *   items(id, uri UNIQUE, content_hash, bytes, mtime_ns, width, height,
 *         caption, meta_json, status, created_ms, updated_ms)
 *   vectors(seq AUTOINCREMENT, item_id, contract_id, space, dim, vec)
 *         seq orders every vector ever written: index watermarks are seqs
 *   failures(uri, contract_id UNIQUE together, content_hash, stage, code,
 *         message, attempts, first_seen_ms, last_seen_ms)
 *   tombstones(seq AUTOINCREMENT, space, item_id, vec_seq, contract_id)   (v2)
 *         one row per deleted vector row, written by a trigger, so an index
 *         file checkpointed before a delete learns of it on replay */
#ifndef CDX_INDEX_CATALOG_H
#define CDX_INDEX_CATALOG_H

#include <stdint.h>

#include "common/error.h"
#include "index/store.h"

typedef struct cdx_catalog cdx_catalog;

#define CDX_CATALOG_SCHEMA_VERSION 2
/* The first schema, kept for the migration test. */
extern const char cdx_catalog_schema_v1[];

int cdx_catalog_open(const char *path, int read_only, int create, int synchronous, cdx_catalog **out,
                     cdx_errbuf *eb);
void cdx_catalog_close(cdx_catalog *c);
int32_t cdx_catalog_schema_version(const cdx_catalog *c);

typedef struct cdx_stamp {
    int32_t found;
    char contract_id[64];
    char space_hash[65];
    int32_t dim;
} cdx_stamp;

int cdx_catalog_get_stamp(cdx_catalog *c, cdx_stamp *out, cdx_errbuf *eb);
int cdx_catalog_set_stamp(cdx_catalog *c, const cdx_stamp *s, cdx_errbuf *eb);

/* What one put did to each item, for the in-memory indexes. */
typedef struct cdx_put_result {
    int32_t had_vectors;      /* its old vectors were deleted (remove it from the indexes) */
    int64_t seq[CDX_SPACE_COUNT]; /* the new vector rows, 0 when none */
} cdx_put_result;

/* Writer side (caller serializes). One transaction; vectors are validated first. */
int cdx_catalog_put_batch(cdx_catalog *c, const char *contract_id, int32_t dim, cdx_item *items,
                          const float *image_vectors, const float *caption_vectors, int32_t n, cdx_put_result *res,
                          cdx_errbuf *eb);
/* *had_vector[space] tells which spaces lost a vector. */
int cdx_catalog_delete_item(cdx_catalog *c, int64_t id, int32_t had_vector[CDX_SPACE_COUNT], cdx_errbuf *eb);
int cdx_catalog_put_failure(cdx_catalog *c, const char *contract_id, const cdx_failure *f, cdx_errbuf *eb);
int cdx_catalog_prune_tombstones(cdx_catalog *c, int64_t upto, cdx_errbuf *eb);

/* Reader side (any thread). */
int cdx_catalog_lookup_uri(cdx_catalog *c, const char *contract_id, const char *uri, cdx_item_state *out,
                           cdx_errbuf *eb);
int cdx_catalog_lookup_hash(cdx_catalog *c, const char *contract_id, cdx_hash128 h, int64_t *id, cdx_errbuf *eb);
int cdx_catalog_get_vector(cdx_catalog *c, const char *contract_id, int64_t id, int32_t space, int32_t dim, float *out,
                           cdx_errbuf *eb);
/* Vectors of n items in one read (out: n x dim); found[i] = 0 where item i has none. */
int cdx_catalog_get_vectors(cdx_catalog *c, const char *contract_id, int32_t space, int32_t dim, const int64_t *ids,
                            int32_t n, float *out, uint8_t *found, cdx_errbuf *eb);
int cdx_catalog_get_item(cdx_catalog *c, int64_t id, cdx_item_row *out, cdx_errbuf *eb);
int cdx_catalog_list_failures(cdx_catalog *c, cdx_failure_fn fn, void *ctx, cdx_errbuf *eb);

typedef struct cdx_catalog_counts {
    int64_t items, failures;
    int64_t vectors[CDX_SPACE_COUNT];
    int64_t vec_hw;    /* the last vector seq ever assigned (rows may since be deleted), 0 when none */
    int64_t tomb_hw;   /* the last tombstone seq ever assigned, 0 when none */
} cdx_catalog_counts;

int cdx_catalog_counts_get(cdx_catalog *c, const char *contract_id, cdx_catalog_counts *out, cdx_errbuf *eb);

/* Walks vector rows of a space with seq in (after, upto], in seq order. vec is
 * borrowed for the call. A non-zero return from fn stops the walk and is returned. */
typedef int (*cdx_vector_fn)(void *ctx, int64_t seq, int64_t item_id, const float *vec);
int cdx_catalog_scan_vectors(cdx_catalog *c, const char *contract_id, int32_t space, int32_t dim, int64_t after,
                             int64_t upto, cdx_vector_fn fn, void *ctx, cdx_errbuf *eb);
/* Evenly spread sample of up to n vectors of a space (for training and tuning). */
int cdx_catalog_sample_vectors(cdx_catalog *c, const char *contract_id, int32_t space, int32_t dim, int64_t n,
                               float *out, int64_t *got, cdx_errbuf *eb);
/* Tombstones of a space with seq in (after, upto] whose vector row is <= vec_upto. */
typedef int (*cdx_tomb_fn)(void *ctx, int64_t seq, int64_t item_id);
int cdx_catalog_scan_tombstones(cdx_catalog *c, int32_t space, int64_t after, int64_t upto, int64_t vec_upto,
                                cdx_tomb_fn fn, void *ctx, cdx_errbuf *eb);

/* Item ids with a vector in space, ascending (malloc'd, caller frees). */
int cdx_catalog_space_ids(cdx_catalog *c, const char *contract_id, int32_t space, int64_t **ids, int64_t *n,
                          cdx_errbuf *eb);

/* PRAGMA integrity_check; *ok = 1 when "ok", else eb holds the first problems. */
int cdx_catalog_integrity(cdx_catalog *c, int32_t *ok, cdx_errbuf *eb);

#endif
