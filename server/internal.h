/* Server internals shared by the server's files: the route table, the job a
 * request becomes, the response helpers and the metrics. Not a public header. */
#ifndef CDX_SERVER_INTERNAL_H
#define CDX_SERVER_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/histogram.h"
#include "server/admission.h"
#include "server/gate.h"
#include "server/server.h"

struct evhttp_request;
struct event_base;
struct evhttp;
struct evconnlistener;
struct event;
struct bufferevent;
typedef struct json_t json_t;

enum cdx_lane { CDX_LANE_INLINE = 0, CDX_LANE_INTERACTIVE, CDX_LANE_BATCH, CDX_LANE_IO };
#define CDX_LANE_COUNT 4

enum cdx_method { CDX_GET = 1, CDX_POST = 2, CDX_DELETE = 4 };

/* Wire formats a route takes and gives. */
#define CDX_FMT_JSON 1u
#define CDX_FMT_PB 2u

typedef struct cdx_job cdx_job;
typedef void (*cdx_handler_fn)(cdx_job *job);

typedef struct cdx_route {
    int method;                /* enum cdx_method */
    const char *path;          /* "{id}" matches one path segment */
    const char *name;          /* the route's label in /metrics */
    cdx_handler_fn handler;
    enum cdx_lane lane;
    int auth;                  /* needs the token */
    unsigned formats;          /* CDX_FMT_* accepted for the body and the answer */
    int body;                  /* 0: no body; 1: query body limit; 2: the full body limit (uploads) */
} cdx_route;

extern const cdx_route cdx_routes[];
extern const int cdx_route_count;

/* One request from arrival to answer. Created on the loop thread; owned by
 * the queue while queued, by a worker while it runs, then handed back to the
 * loop thread, which answers and frees it. */
struct cdx_job {
    cdx_server *srv;
    const cdx_route *route;
    int route_index;
    struct evhttp_request *req;  /* touched on the loop thread only */
    cdx_job *next;

    char *body;                  /* a copy of the request body (NUL-terminated) */
    size_t body_len;
    int body_pb;                 /* the body is protobuf */
    int answer_pb;               /* answer in protobuf */
    char path_arg[64];           /* the segment that matched "{id}" */
    char *query;                 /* the URI's query string, or NULL */

    int64_t t_arrive_ns, deadline_ns, queued_ns, t_start_ns;
    int64_t encode_ns, search_ns, fetch_ns; /* the route's own timings, when it has them */

    int status;
    const char *content_type;
    char *resp;
    size_t resp_len;
    int resp_static;             /* resp points at static data: do not free */
    int64_t retry_after_s;       /* > 0: a Retry-After header */
    const char *cache_control;
    char allow[48];              /* for 405: the methods the path takes */
};

/* Per-route metrics; the last slot (index cdx_route_count) counts requests no route matched. */
#define CDX_STATUS_SLOTS 18
typedef struct cdx_route_stats {
    /* Updated with __atomic builtins (this header is also compiled as C++). */
    uint64_t by_status[CDX_STATUS_SLOTS];
    int64_t in_flight;
    uint64_t refused[CDX_ADMISSION_REFUSAL_COUNT];
    uint64_t expired;
    cdx_histogram *total, *queue, *service;
} cdx_route_stats;

struct cdx_server {
    cdx_server_params p;
    cdx_encoder *enc;
    cdx_server_catalog cat;
    int has_catalog;
    uint8_t token_digest[32];
    int has_token;

    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *listener;
    struct event *done_ev, *fresh_ev, *sig_int, *sig_term;
    int port;
    int64_t started_ms;

    cdx_admission *lanes[CDX_LANE_COUNT];
    int32_t lane_deadline_ms[CDX_LANE_COUNT];
    cdx_gate *gate;

    pthread_mutex_t done_mu;
    cdx_job *done_head, *done_tail;

    /* Connections: counted as they are accepted (loop thread only). */
    struct bufferevent **fresh;
    size_t n_fresh, cap_fresh;
    int64_t conns_open;
    uint64_t conns_total, accept_pauses;
    int accept_paused;

    cdx_route_stats *rm; /* cdx_route_count + 1 (the last: unmatched) */
};

/* Responses (any thread). The job takes ownership of body / the JSON. */
void cdx_job_reply(cdx_job *job, int status, const char *content_type, char *body, size_t len);
void cdx_job_reply_static(cdx_job *job, int status, const char *content_type, const void *body, size_t len);
void cdx_job_json(cdx_job *job, int status, json_t *doc);
/* {"error": {"code": code, "message": ...}}; code is a stable snake_case word. */
void cdx_job_error(cdx_job *job, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps a CDX_ERR_* with detail to the right status and code. */
void cdx_job_error_from(cdx_job *job, int err, const char *msg);

/* The encoder gate around one encoder call, with the fault-injection delay. */
int64_t cdx_server_encoder_enter(cdx_server *s, enum cdx_gate_class c);
void cdx_server_encoder_leave(cdx_server *s, enum cdx_gate_class c);

/* Metrics (metrics.c). */
int cdx_metrics_init(cdx_server *s);
void cdx_metrics_free(cdx_server *s);
int cdx_metrics_status_slot(int status);
void cdx_metrics_record(cdx_server *s, const cdx_job *job, int64_t now_ns);
/* Prometheus text exposition; caller frees. */
char *cdx_metrics_render(cdx_server *s, size_t *len);

/* Route handlers. */
void cdx_route_healthz(cdx_job *job);
void cdx_route_readyz(cdx_job *job);
void cdx_route_metrics(cdx_job *job);
void cdx_route_info(cdx_job *job);
void cdx_route_search(cdx_job *job);
void cdx_route_rerank(cdx_job *job);
void cdx_route_embed(cdx_job *job);
void cdx_route_item_get(cdx_job *job);
void cdx_route_item_delete(cdx_job *job);
void cdx_route_item_thumbnail(cdx_job *job);
void cdx_route_item_upload(cdx_job *job);
void cdx_route_web(cdx_job *job);

#endif
