/* Inside ingest: the per-item path both entry points share (item.c), the
 * tables it consults (known failures, items in flight), and the progress
 * reporter (progress.c). */
#ifndef CDX_INGEST_INTERNAL_H
#define CDX_INGEST_INTERNAL_H

#include "common/hash.h"
#include "ingest/ingest.h"
#include "ingest/source.h"
#include "ingest/source_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* What the prepare step decided for an item. */
enum job_kind {
    JOB_EMBED = 0,    /* tensor holds its pixels: the image tower runs */
    JOB_REUSE = 1,    /* vector holds a stored vector of the same bytes */
    JOB_UNCHANGED = 2,
    JOB_KNOWN_FAILURE = 3,
    JOB_FAILED = 4,   /* stage, code, message say why */
    JOB_FOLLOWER = 5, /* the same bytes are being embedded for another uri: rides on that item */
    JOB_DROPPED = 6,  /* not started: a stop request */
};

typedef struct job_item job_item;

/* An item as it travels through the pipeline. Owned by the stage holding it. */
struct job_item {
    cdx_source_item *src;    /* uri, path or bytes, caption, metadata */
    enum job_kind kind;
    cdx_hash128 hash;
    int have_hash;
    int64_t bytes, mtime_ns;
    int32_t width, height;
    int64_t id;              /* catalog id, once known */
    float *tensor;           /* JOB_EMBED until batched */
    float *vector;           /* dim floats: JOB_REUSE, and after the tower */
    const char *stage;       /* JOB_FAILED */
    int32_t code;
    char *message;
    struct inflight *leads;  /* the in-flight entry this item leads (its followers wait on it) */
    job_item *next;          /* followers chain */
};

/* Items in flight by content hash: the same bytes under a second uri wait
 * for the first instead of being embedded twice. */
typedef struct inflight {
    cdx_hash128 hash;
    job_item *followers;
    struct inflight *next;
} inflight;

#define INFLIGHT_BUCKETS 1024

typedef struct inflight_table {
    pthread_mutex_t mu;
    inflight *buckets[INFLIGHT_BUCKETS];
} inflight_table;

/* uri -> content hash of failures recorded under this contract. */
typedef struct failure_set {
    char **uris;
    cdx_hash128 *hashes;
    uint8_t *has_hash;
    size_t cap, n;
} failure_set;

/* What prepare needs; shared read-only by the workers (the tables lock). */
typedef struct ingest_ctx {
    cdx_store *store;
    cdx_encoder *enc;
    const cdx_preprocess *pp;
    int32_t dim;
    size_t tensor_floats;
    int64_t max_bytes;
    int32_t captions, force, retry_failed, trust_mtime;
    inflight_table *inflight;          /* NULL: no in-run dedupe */
    const failure_set *known_failures; /* NULL: none */
    /* the tensor pool */
    pthread_mutex_t pool_mu;
    float **pool;
    size_t n_pool, cap_pool;
} ingest_ctx;

int ingest_ctx_init(ingest_ctx *c, cdx_store *s, cdx_encoder *e, cdx_errbuf *eb);
void ingest_ctx_destroy(ingest_ctx *c);
float *ingest_tensor_get(ingest_ctx *c);
void ingest_tensor_put(ingest_ctx *c, float *t);

job_item *job_item_new(cdx_source_item *src);
void job_item_free(ingest_ctx *c, job_item *it);
/* Marks it failed at stage with code and a message (copied). */
void job_item_fail(job_item *it, const char *stage, int code, const char *message);

/* Reads, hashes and decides; decodes JOB_EMBED items into a tensor. Only a
 * broken store is an error; everything about the item is its kind. */
int ingest_prepare(ingest_ctx *c, job_item *it, cdx_errbuf *eb);

/* What writes did, per outcome and per failing stage. */
typedef struct ingest_counts {
    uint64_t outcome[CDX_INGEST_OUTCOME_COUNT];
    uint64_t failed_read, failed_decode, failed_embed;
    uint64_t captions;
} ingest_counts;

/* Embeds captions (when asked) and writes items with vectors in one
 * transaction, then the failures among them. n items; the vectors are in
 * the items. Returns CDX_OK or the store's error (the job cannot go on).
 * After the commit, resolves in-flight entries led by these items and
 * writes their followers. counts gets every item written, followers too. */
int ingest_write(ingest_ctx *c, job_item **items, int32_t n, ingest_counts *counts, cdx_errbuf *eb);

/* Rows for the next tower run of a batch with left rows to go: the largest
 * batch bucket that fits, so a partial batch is padded as little as
 * possible (the tower pads a chunk smaller than every bucket). */
int32_t ingest_chunk_rows(const cdx_contract_spec *s, int32_t left);

int inflight_init(inflight_table *t);
void inflight_destroy(inflight_table *t);

int failure_set_load(failure_set *f, cdx_store *s, const char *contract_id, cdx_errbuf *eb);
/* 1 with *hash filled (or has_hash 0) when uri failed before. */
int failure_set_find(const failure_set *f, const char *uri, cdx_hash128 *hash, int *has_hash);
void failure_set_free(failure_set *f);

#endif
