/* The clipdex HTTP server: search, rerank and embed over HTTP on admission
 * queues that shed load, item routes, metrics and the search page.
 *
 * One event-loop thread (libevent evhttp) parses, routes and answers; work
 * that touches the model runs on the queues' worker threads (admission.h):
 * interactive (search, rerank), batch (embed, uploads) and io (item reads,
 * thumbnails, deletes). The encoder is shared between them through the gate
 * (gate.h) so that a batch flood cannot starve interactive requests.
 *
 * Routes, limits and the wire format: docs/server.md. */
#ifndef CDX_SERVER_SERVER_H
#define CDX_SERVER_SERVER_H

#include <stdint.h>

#include "common/error.h"
#include "encoder/encoder.h"
#include "index/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_server cdx_server;

/* What the server needs of the catalog: the data directory's read, search,
 * delete and upload paths. cmd_serve binds these to index/store.h and
 * ingest/ingest.h; tests may bind an in-memory catalog. Every function is
 * called from worker threads at once, with ctx, and follows the contract of
 * the store function it is named after (cdx_store_search, cdx_store_get_item,
 * cdx_item_row_clear, cdx_store_get_vector, cdx_store_delete_item,
 * cdx_store_get_info, cdx_ingest_item_buffer). */
typedef struct cdx_server_catalog {
    void *ctx;
    int (*search)(void *ctx, enum cdx_space space, const float *query, int32_t k, int64_t *ids, float *scores,
                  cdx_errbuf *eb);
    int (*get_item)(void *ctx, int64_t id, cdx_item_row *out, cdx_errbuf *eb);
    void (*clear_row)(cdx_item_row *row);
    int (*get_vector)(void *ctx, int64_t id, enum cdx_space space, float *out, cdx_errbuf *eb);
    int (*delete_item)(void *ctx, int64_t id, cdx_errbuf *eb);
    int (*get_info)(void *ctx, cdx_store_info *out, cdx_errbuf *eb);
    int (*put_image)(void *ctx, cdx_encoder *e, const void *data, size_t len, const char *uri, const char *caption,
                     const char *meta_json, int64_t *id_out, cdx_errbuf *eb);
} cdx_server_catalog;

/* The catalog over a data directory: index/store.h for reads, search and
 * deletes, ingest's cdx_ingest_item_buffer for uploads (the bulk path's hash,
 * dedupe, decode, embed and dead letters). store is borrowed and must outlive
 * the server. */
cdx_server_catalog cdx_server_store_catalog(cdx_store *store);

typedef struct cdx_server_params {
    const char *listen;            /* "host:port" (default "127.0.0.1:8080"); port 0 picks a free port */
    const char *token;             /* bearer token for write and admin routes; NULL: they answer 403. Never logged. */
    const char *data_dir;          /* the store's directory: uploads and the thumbnail cache live under it */
    int32_t max_connections;       /* open connections at most; accepting pauses at the cap (default 256) */
    int32_t max_header_bytes;      /* request line + headers (default 16 KiB); over it: 413 */
    int64_t max_body_bytes;        /* the largest body any route takes (default 32 MiB, uploads); over it: 413 */
    int64_t max_query_body_bytes;  /* search, rerank and embed bodies (default 8 MiB) */
    int32_t read_timeout_ms;       /* reading a request, and a keep-alive connection's idle time (default 15000) */
    int32_t write_timeout_ms;      /* writing a response (default 15000) */
    int32_t interactive_capacity;  /* queued search/rerank requests at most (default 64) */
    int32_t interactive_workers;   /* default 2 */
    int32_t batch_capacity;        /* queued embed/upload requests at most (default 16) */
    int32_t batch_workers;         /* default 1 */
    int32_t io_capacity;           /* queued item reads, thumbnails, deletes (default 64) */
    int32_t io_workers;            /* default 1 */
    int32_t interactive_deadline_ms; /* default deadline of search and rerank (default 1000) */
    int32_t batch_deadline_ms;     /* embed and uploads (default 30000) */
    int32_t io_deadline_ms;        /* item routes and thumbnails (default 5000) */
    int32_t encoder_slots;         /* encoder calls at once (default 1; serve: interactive + batch workers, so a
                                      search never waits for the encoder behind batch work) */
    int32_t batch_chunk;           /* rows per encoder call for batch work: the preemption grain (default 8) */
    int32_t k_max;                 /* largest k (default 1000) */
    int32_t max_inputs;            /* texts/images per embed request, candidates per rerank (default 256) */
    int32_t thumb_size;            /* thumbnail's longest side in pixels (default 256) */
    int32_t handle_signals;        /* SIGINT/SIGTERM stop cdx_server_run (default 0) */
    int32_t fault_encode_delay_ms; /* tests only: sleep this long inside each encoder call (default 0) */
    int32_t batch_nice;            /* niceness of the batch workers (embed, uploads), 0..19: their decoding and
                                      encoding yield the CPU to interactive work (default 10). Every other process
                                      of the machine outranks them too: on a busy shared host batch slows first. */
} cdx_server_params;

cdx_server_params cdx_server_default_params(void);

/* Binds the listening socket and starts the workers. encoder and the
 * catalog's ctx are borrowed and must outlive the server; either may be NULL
 * (the routes that need it answer 503, /readyz says why). */
int cdx_server_open(const cdx_server_params *p, cdx_encoder *encoder, const cdx_server_catalog *catalog,
                    cdx_server **out, cdx_errbuf *eb);
/* The bound port (useful with port 0). */
int cdx_server_port(const cdx_server *s);
/* Runs the event loop until cdx_server_stop or a handled signal; then stops
 * accepting, answers what is queued with 503 and waits for running work. */
int cdx_server_run(cdx_server *s);
/* From any thread. */
void cdx_server_stop(cdx_server *s);
void cdx_server_close(cdx_server *s);

#ifdef __cplusplus
}
#endif
#endif
