/* Ingest: images (and their captions) from sources into a data directory.
 *
 * Two entry points share one path (hash -> dedupe -> decode -> embed -> put,
 * failures recorded as dead letters):
 *   - cdx_ingest_run: the bulk job. Sources (ingest/source.h: directory
 *     trees, manifests, webdataset tar shards, brace ranges, "-" for stdin)
 *     feed a staged pipeline joined by bounded queues:
 *       reader -> decode workers (libvips) -> batcher (batch buckets)
 *              -> image tower (ORT) -> writer (cdx_store_put_batch)
 *     Resumable: items already embedded under the store's contract are
 *     skipped by content hash without decoding; the same bytes under two uris
 *     are embedded once; a changed file is re-embedded and replaces its old
 *     vectors. A stop request (SIGINT/SIGTERM in the CLI) finishes the batches
 *     in flight, checkpoints and returns; after SIGKILL nothing acknowledged
 *     by the store is lost.
 *   - cdx_ingest_item_buffer: one encoded image in memory (the server's
 *     POST /v1/items), synchronously, through the same functions.
 *
 * Outcomes per item: embedded (the image tower ran), reused (the same bytes
 * were already embedded, their vector is copied), unchanged (this uri with
 * these bytes is already embedded: skipped), known failure (this uri with
 * these bytes already failed under this contract: skipped unless
 * retry_failed), failed (a dead letter was written: stage + reason). */
#ifndef CDX_INGEST_INGEST_H
#define CDX_INGEST_INGEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "encoder/encoder.h"
#include "index/store.h"

#ifdef __cplusplus
extern "C" {
#endif

enum cdx_ingest_progress {
    CDX_INGEST_PROGRESS_AUTO = 0, /* a live line when the progress fd is a terminal, else none */
    CDX_INGEST_PROGRESS_TTY = 1,  /* one line rewritten in place */
    CDX_INGEST_PROGRESS_JSON = 2, /* one JSON object per line per interval, for machines */
    CDX_INGEST_PROGRESS_NONE = 3,
};

enum cdx_ingest_outcome {
    CDX_INGEST_OUTCOME_EMBEDDED = 0,
    CDX_INGEST_OUTCOME_REUSED = 1,
    CDX_INGEST_OUTCOME_UNCHANGED = 2,
    CDX_INGEST_OUTCOME_KNOWN_FAILURE = 3,
    CDX_INGEST_OUTCOME_FAILED = 4,
};
#define CDX_INGEST_OUTCOME_COUNT 5

typedef struct cdx_ingest_params {
    int32_t batch;             /* rows per image-tower run; 0 = the contract's largest batch bucket up to 32 */
    int32_t captions;          /* also embed captions (text tower) into CDX_SPACE_CAPTION */
    int32_t retry_failed;      /* retry items that failed before; with no sources, retry every recorded failure */
    int32_t force;             /* re-embed items even when unchanged */
    int32_t trust_mtime;       /* skip an item whose size and mtime match the catalog without reading it
                                  (default 0: unchanged means same content hash) */
    const char *extensions;    /* directory filter, comma-separated; NULL = every format clipdex decodes */
    int32_t decode_workers;    /* 0 = balanced from measured stage costs within the thread budget */
    enum cdx_ingest_progress progress;
    int32_t progress_fd;       /* default 2 */
    double progress_interval;  /* seconds; 0 = 0.5 for the live line, 2 for JSON */
    int64_t limit;             /* stop after this many items read from the sources; 0 = no limit */
    int32_t decode_nice;       /* decode workers run this much nicer than the tower (Linux thread
                                  priority), so decoding takes the cycles the tower leaves */
} cdx_ingest_params;

cdx_ingest_params cdx_ingest_default_params(void);

/* Busy time of one pipeline stage: the time its threads spent working, not
 * waiting on a queue. busy % = busy_ns / (wall * threads). */
typedef struct cdx_ingest_stage {
    char name[16];
    int32_t threads;
    int64_t busy_ns;
    uint64_t items;
} cdx_ingest_stage;

typedef struct cdx_ingest_queue {
    char name[16];
    uint32_t capacity, max_depth;
    double mean_depth;          /* sampled by the progress clock */
    int64_t push_wait_ns, pop_wait_ns;
} cdx_ingest_queue;

#define CDX_INGEST_MAX_STAGES 8
#define CDX_INGEST_MAX_QUEUES 6

typedef struct cdx_ingest_summary {
    uint64_t seen;                                   /* items read from the sources */
    int64_t total;                                   /* pre-scanned total; -1 when unknown */
    int32_t total_estimated;                         /* 1 when total is an estimate (tar streams) */
    uint64_t outcome[CDX_INGEST_OUTCOME_COUNT];      /* by enum cdx_ingest_outcome */
    uint64_t failed_read, failed_decode, failed_embed; /* failed, by stage */
    uint64_t captions;                               /* caption vectors written */
    uint64_t batches;                                /* image-tower runs */
    int64_t wall_ns;
    double images_per_s;                             /* (embedded + reused) / wall */
    uint64_t peak_rss;                               /* bytes */
    int32_t interrupted;                             /* a stop request ended the job early */
    int32_t batch, decode_workers, ort_threads;      /* what the job ran with */
    int32_t n_stages, n_queues;
    cdx_ingest_stage stages[CDX_INGEST_MAX_STAGES];
    cdx_ingest_queue queues[CDX_INGEST_MAX_QUEUES];
} cdx_ingest_summary;

/* Runs one ingest job over n_sources source specs into s with e (which must
 * have its vision tower, and its text tower when p->captions). s and e are
 * borrowed. out (may be NULL) gets the summary, also on error. Failures of
 * single items are dead letters, not errors: the return value is CDX_OK
 * unless the job itself could not go on (a source that cannot be opened,
 * the store refusing a write: eb says which). */
int cdx_ingest_run(cdx_store *s, cdx_encoder *e, const char *const *sources, int32_t n_sources,
                   const cdx_ingest_params *p, cdx_ingest_summary *out, cdx_errbuf *eb);

/* Asks a running cdx_ingest_run to stop: no new items are started, the
 * batches in flight are written, the store is checkpointed and run returns
 * with interrupted = 1. Async-signal-safe (a flag). cdx_ingest_run clears it
 * when it starts. */
void cdx_ingest_request_stop(void);

/* One encoded image in memory, synchronously: hash, dedupe (an unchanged uri
 * or the same bytes already embedded reuse what is stored), decode, embed
 * (and the caption, when caption is non-NULL and e has its text tower), put.
 * data, uri, caption and meta_json are borrowed for the call; uri NULL means
 * "sha128:<content hash>"; meta_json is NULL or a JSON object. *id_out gets
 * the item's catalog id. A failure to decode or embed is recorded as a dead
 * letter for uri and returned (CDX_ERR_DECODE, CDX_ERR_TOOBIG,
 * CDX_ERR_UNSUPPORTED, CDX_ERR_TIMEOUT, ...) with eb naming the input.
 * Thread-safe. */
int cdx_ingest_item_buffer(cdx_store *s, cdx_encoder *e, const void *data, size_t len, const char *uri,
                           const char *caption, const char *meta_json, int64_t *id_out, cdx_errbuf *eb);

/* The bare image tower's throughput on pre-decoded tensors, to compare an
 * ingest with (same encoder, rows per batch and bucket chunks): decodes
 * `batch` images from the sources once, then runs the tower on them for at
 * least `seconds` (and three batches). */
int cdx_ingest_tower_baseline(cdx_encoder *e, const char *const *sources, int32_t n_sources, int32_t batch,
                              double seconds, double *images_per_s, cdx_errbuf *eb);

const char *cdx_ingest_outcome_name(enum cdx_ingest_outcome o);

/* The final summary, as text for people or as one JSON object. */
void cdx_ingest_summary_print(const cdx_ingest_summary *s, FILE *f, int as_json);

#ifdef __cplusplus
}
#endif
#endif
