/* The data directory: one SQLite catalog, the source of truth (items, their
 * vectors, the dead letters, the contract stamp), and the FAISS indexes
 * derived from it, one per vector space, checkpointed crash-safely.
 *
 *   DIR/catalog.sqlite            WAL; vectors are stored here as blobs
 *   DIR/index-image.json          sidecar: spec, contract hash, sha256, watermark, and the
 *   DIR/index-image.<gen>.faiss   data file it names (a checkpoint writes a new generation,
 *                                 then publishes it by renaming a new sidecar into place)
 *   DIR/index-caption.*           only when captions were embedded
 *
 * Promises: a batch is acknowledged when cdx_store_put_batch returns CDX_OK,
 * and an acknowledged vector survives SIGKILL and power loss (synchronous=FULL).
 * The index files are never trusted: their sha256 is checked before FAISS reads
 * them, rows past the watermark are replayed, a missing, corrupt or foreign
 * index is rebuilt from the catalog.
 *
 * Threads: one store is shared by any number of threads. Writes (put, delete,
 * failures, checkpoint) are serialized inside; reads (search, get, lookup) run
 * concurrently with them and never block the writer (WAL, a SQLite connection
 * per reading thread). */
#ifndef CDX_INDEX_STORE_H
#define CDX_INDEX_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/hash.h"
#include "contracts/contract.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_store cdx_store;

/* Vector spaces of one data directory. Both hold vectors of the contract's
 * joint embedding space, so a text query searches CDX_SPACE_IMAGE and an
 * image query searches CDX_SPACE_CAPTION. */
enum cdx_space { CDX_SPACE_IMAGE = 0, CDX_SPACE_CAPTION = 1 };
#define CDX_SPACE_COUNT 2

enum cdx_sync { CDX_SYNC_OFF = 0, CDX_SYNC_NORMAL = 1, CDX_SYNC_FULL = 2 };

typedef struct cdx_store_params {
    const char *index_spec;     /* "auto" (default), "flat", "hnsw:m=32,efc=200,efs=64", "ivf:...", "ivfpq:...", "sq8" */
    uint64_t memory_budget;     /* bytes the index may use when index_spec is "auto" (default: half of RAM) */
    int32_t synchronous;        /* enum cdx_sync (default FULL: acknowledged means on disk) */
    int64_t checkpoint_rows;    /* checkpoint an index after this many new vector rows (default 50000) */
    double checkpoint_seconds;  /* ... or when the oldest unsaved row is this old (default 60) */
    int32_t read_only;          /* inspect only: no stamp written, no checkpoint, writes fail */
    int32_t create;             /* create DIR and the catalog when missing (default 1) */
    int32_t threads;            /* FAISS (OpenMP) threads; 0 = the process thread budget */
} cdx_store_params;

cdx_store_params cdx_store_default_params(void);

/* Opens (or creates) DIR. contract is borrowed and must outlive the store; it
 * may be NULL with read_only, or for maintenance (rebuild, checkpoint) of a
 * directory already stamped: then the stamp in the catalog says what the data
 * is. A directory stamped with another contract (or another space hash) is
 * CDX_ERR_MISMATCH, naming both. */
int cdx_store_open(const char *dir, const cdx_contract *contract, const cdx_store_params *params, cdx_store **out,
                   cdx_errbuf *eb);
/* Checkpoints dirty indexes (unless read_only) and frees. NULL is a no-op. */
void cdx_store_close(cdx_store *s);

/* One item to write. Strings are borrowed for the call. */
typedef struct cdx_item {
    int64_t id;               /* out: the catalog id assigned (or kept, when the uri was known) */
    const char *uri;          /* unique key: the path or URL the item came from */
    cdx_hash128 content_hash; /* XXH3-128 of the file's bytes */
    int64_t bytes;
    int64_t mtime_ns;         /* 0 when unknown */
    int32_t width, height;    /* as decoded, before preprocessing */
    const char *caption;      /* NULL: none */
    const char *meta_json;    /* NULL: none; otherwise a JSON object, stored as given */
} cdx_item;

/* Writes n items in one transaction: each item is inserted, or replaced when its
 * uri is known (its old vectors go with it); its image vector (row i of
 * image_vectors, dim floats, L2-normalized) is stored under the contract; its
 * caption vector (row i of caption_vectors) too when caption_vectors is non-NULL
 * and the item has a caption; failures recorded for its uri are cleared. After
 * the commit the vectors are added to the in-memory indexes, and a checkpoint
 * runs when one is due. CDX_OK means acknowledged. */
int cdx_store_put_batch(cdx_store *s, cdx_item *items, const float *image_vectors, const float *caption_vectors,
                        int32_t n, cdx_errbuf *eb);

/* Removes an item, its vectors and its index entries. CDX_ERR_NOTFOUND when unknown. */
int cdx_store_delete_item(cdx_store *s, int64_t id, cdx_errbuf *eb);

/* What the catalog knows about a uri, for resume: found = 0 when nothing. */
typedef struct cdx_item_state {
    int32_t found;
    int64_t id;
    cdx_hash128 content_hash;
    int64_t bytes, mtime_ns;
    int32_t has_vector;       /* an image vector under this store's contract */
} cdx_item_state;

int cdx_store_lookup_uri(cdx_store *s, const char *uri, cdx_item_state *out, cdx_errbuf *eb);
/* An item with this content and an image vector under this contract, for
 * embedding the same bytes once: *id = 0 when none. */
int cdx_store_lookup_hash(cdx_store *s, cdx_hash128 h, int64_t *id, cdx_errbuf *eb);
/* Copies an item's stored vector (dim floats) into out; CDX_ERR_NOTFOUND when it has none. */
int cdx_store_get_vector(cdx_store *s, int64_t id, enum cdx_space space, float *out, cdx_errbuf *eb);

/* An item as stored. Strings are owned by the row: cdx_item_row_clear frees them. */
typedef struct cdx_item_row {
    int64_t id;
    char *uri;
    char content_hash[CDX_HASH128_HEX_LEN + 1];
    int64_t bytes, mtime_ns;
    int32_t width, height;
    char *caption;            /* NULL when none */
    char *meta_json;          /* NULL when none */
    int64_t created_ms, updated_ms;
} cdx_item_row;

int cdx_store_get_item(cdx_store *s, int64_t id, cdx_item_row *out, cdx_errbuf *eb);
void cdx_item_row_clear(cdx_item_row *row);

/* Top-k by inner product (= cosine: vectors are normalized). queries: nq rows
 * of dim floats. ids/scores: nq * k, best first; unfilled slots have id -1.
 * effort overrides the index's search parameter (efSearch for HNSW, nprobe
 * for IVF) for this call; 0 keeps the tuned value. An empty space returns
 * all -1. */
int cdx_store_search(cdx_store *s, enum cdx_space space, const float *queries, int32_t nq, int32_t k, int32_t effort,
                     int64_t *ids, float *scores, cdx_errbuf *eb);

/* Dead letters. A failure is keyed by (uri, contract): a repeat bumps attempts
 * and last_seen. stage: "read", "decode", "preprocess", "embed", "write", ... */
typedef struct cdx_failure {
    const char *uri;
    cdx_hash128 content_hash; /* zero when the bytes could not be read */
    const char *stage;
    int32_t code;             /* a CDX_ERR_* code */
    const char *message;      /* what failed and what to do */
} cdx_failure;

int cdx_store_put_failure(cdx_store *s, const cdx_failure *f, cdx_errbuf *eb);

typedef struct cdx_failure_row {
    const char *uri;          /* borrowed for the callback */
    const char *content_hash; /* hex, "" when unknown */
    const char *stage;
    const char *code;         /* cdx_errname() of the code */
    const char *message;
    const char *contract_id;
    int32_t attempts;
    int64_t first_seen_ms, last_seen_ms;
} cdx_failure_row;

/* Calls fn for each failure (all contracts), oldest first; a non-zero return
 * from fn stops the walk and is returned. */
typedef int (*cdx_failure_fn)(void *ctx, const cdx_failure_row *row);
int cdx_store_list_failures(cdx_store *s, cdx_failure_fn fn, void *ctx, cdx_errbuf *eb);

/* Writes every dirty index file now (temp, fsync, rename, fsync dir, sidecar). */
int cdx_store_checkpoint(cdx_store *s, cdx_errbuf *eb);

typedef struct cdx_store_info {
    char contract_id[64];
    char space_hash[65];
    int32_t dim;
    int32_t schema_version;
    int64_t items, failures;
    struct {
        char spec[128];        /* the resolved spec, e.g. "hnsw:m=32,efc=200,efs=48" */
        int64_t vectors;       /* vector rows in the catalog */
        int64_t indexed;       /* entries in the in-memory index */
        int64_t watermark;     /* last vector row in the checkpointed file */
        uint64_t memory_bytes; /* the index's estimated resident size */
    } space[CDX_SPACE_COUNT];
} cdx_store_info;

int cdx_store_get_info(cdx_store *s, cdx_store_info *out, cdx_errbuf *eb);

#ifdef __cplusplus
}
#endif
#endif
