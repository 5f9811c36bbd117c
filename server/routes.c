/* The route table (method, path, handler, lane, auth, formats, body) and the
 * service routes: /healthz, /readyz, /metrics, /v1/info. The loop in http.c
 * walks the table; adding a route is one row here. */
#include "server/internal.h"

#include "cdx_version.h"
#include "common/clock.h"
#include "common/util.h"
#include "encoder/encoder.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <vips/version.h>

const cdx_route cdx_routes[] = {
    /* method     path                         name         handler              lane                 auth fmts body */
    {CDX_GET,    "/healthz",                  "healthz",   cdx_route_healthz,   CDX_LANE_INLINE,     0, 0, 0},
    {CDX_GET,    "/readyz",                   "readyz",    cdx_route_readyz,    CDX_LANE_INLINE,     0, 0, 0},
    {CDX_GET,    "/metrics",                  "metrics",   cdx_route_metrics,   CDX_LANE_INLINE,     0, 0, 0},
    {CDX_GET,    "/v1/info",                  "info",      cdx_route_info,      CDX_LANE_INLINE,     0, 0, 0},
    {CDX_POST,   "/v1/search",                "search",    cdx_route_search,    CDX_LANE_INTERACTIVE, 0, CDX_FMT_JSON | CDX_FMT_PB, 1},
    {CDX_POST,   "/v1/rerank",                "rerank",    cdx_route_rerank,    CDX_LANE_INTERACTIVE, 0, CDX_FMT_JSON | CDX_FMT_PB, 1},
    {CDX_POST,   "/v1/items",                 "item_upload", cdx_route_item_upload, CDX_LANE_BATCH,    1, CDX_FMT_JSON, 2},
    {CDX_GET,    "/v1/items/{id}",            "item_get",  cdx_route_item_get,  CDX_LANE_IO,         0, 0, 0},
    {CDX_DELETE, "/v1/items/{id}",            "item_delete", cdx_route_item_delete, CDX_LANE_IO,     1, 0, 0},
    {CDX_GET,    "/v1/items/{id}/thumbnail",  "thumbnail", cdx_route_item_thumbnail, CDX_LANE_IO,    0, 0, 0},
    {CDX_GET,    "/",                         "web",       cdx_route_web,       CDX_LANE_INLINE,     0, 0, 0},
    {CDX_GET,    "/ui/{id}",                  "web",       cdx_route_web,       CDX_LANE_INLINE,     0, 0, 0},
    {CDX_POST,   "/v1/embed",                 "embed",     cdx_route_embed,     CDX_LANE_BATCH,      0, CDX_FMT_JSON | CDX_FMT_PB, 1},
};
const int cdx_route_count = (int)CDX_ARRAY_LEN(cdx_routes);

void cdx_route_healthz(cdx_job *job)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    cdx_job_reply_static(job, 200, "application/json", ok, sizeof ok - 1);
}

/* Ready: the model is loaded with its buckets warmed, and the index is open. */
void cdx_route_readyz(cdx_job *job)
{
    cdx_server *s = job->srv;
    json_t *why = json_array();
    if (!s->enc) {
        json_array_append_new(why, json_string("no model loaded"));
    } else {
        cdx_tower_report *rep = malloc(sizeof *rep);
        for (int w = 0; rep && w < 2; w++) {
            cdx_tower *t = cdx_encoder_tower(s->enc, (enum cdx_tower_kind)w);
            if (!t)
                continue;
            cdx_tower_get_report(t, rep);
            int cold = 0;
            for (int b = 0; b < rep->n_buckets; b++)
                cold += rep->buckets[b].cold_ns == 0;
            if (cold)
                json_array_append_new(why, json_sprintf("%s tower: %d of %d shape buckets not warmed",
                                                        cdx_tower_name((enum cdx_tower_kind)w), cold, rep->n_buckets));
        }
        free(rep);
    }
    if (!s->has_catalog)
        json_array_append_new(why, json_string("no index open"));
    int ready = json_array_size(why) == 0;
    cdx_job_json(job, ready ? 200 : 503, json_pack("{s:b, s:o}", "ready", ready, "reasons", why));
    if (!ready)
        job->retry_after_s = 1;
}

void cdx_route_metrics(cdx_job *job)
{
    size_t len = 0;
    char *text = cdx_metrics_render(job->srv, &len);
    if (!text) {
        cdx_job_error(job, 500, "internal", "out of memory rendering metrics");
        return;
    }
    cdx_job_reply(job, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static json_t *tower_info(cdx_tower *t, enum cdx_tower_kind which)
{
    cdx_tower_report *rep = malloc(sizeof *rep);
    if (!rep)
        return json_null();
    cdx_tower_get_report(t, rep);
    json_t *eps = json_array();
    for (int i = 0; i < rep->placement.n_eps; i++) {
        const cdx_ep_share *e = &rep->placement.eps[i];
        json_array_append_new(eps, json_pack("{s:s, s:i, s:i, s:f}", "provider", e->provider, "nodes", e->nodes,
                                             "partitions", e->partitions, "time_share", e->time_share));
    }
    json_t *buckets = json_array();
    for (int b = 0; b < rep->n_buckets; b++) {
        const cdx_tower_bucket_stats *bs = &rep->buckets[b];
        json_array_append_new(buckets, json_pack("{s:i, s:i, s:f, s:I, s:f, s:f}", "batch", bs->batch, "seq", bs->seq,
                                                 "cold_ms", cdx_ns_to_ms(bs->cold_ns), "warm_runs",
                                                 (json_int_t)bs->warm_runs, "warm_p50_ms", bs->warm_p50_ms,
                                                 "warm_p99_ms", bs->warm_p99_ms));
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:f, s:f, s:o, s:o}", "tower", cdx_tower_name(which),
                          "providers_asked", rep->spec, "providers_available", rep->available, "providers_used",
                          rep->used, "intra_threads", rep->intra_threads, "inter_threads", rep->inter_threads,
                          "fallback_by_nodes", rep->placement.fallback_by_nodes, "fallback_by_time",
                          rep->placement.fallback_by_time, "placement", eps, "buckets", buckets);
    free(rep);
    return o;
}

void cdx_route_info(cdx_job *job)
{
    cdx_server *s = job->srv;
    json_t *root = json_pack("{s:{s:s, s:s, s:s, s:s}}", "versions", "clipdex", CDX_VERSION, "revision",
                             CDX_GIT_REVISION, "libevent", event_get_version(), "libvips", VIPS_VERSION);
    const cdx_contract_spec *spec = s->enc ? cdx_encoder_spec(s->enc) : NULL;
    if (spec) {
        json_object_set_new(root, "contract",
                            json_pack("{s:s, s:s, s:s, s:i, s:s, s:f, s:o}", "id", spec->id, "version", spec->version,
                                      "family", cdx_family_name(spec->family), "dim", spec->dim, "space_hash",
                                      spec->space_hash, "logit_scale", spec->scoring.logit_scale, "logit_bias",
                                      spec->scoring.has_logit_bias ? json_real(spec->scoring.logit_bias) : json_null()));
        json_t *towers = json_array();
        for (int w = 0; w < 2; w++) {
            cdx_tower *t = cdx_encoder_tower(s->enc, (enum cdx_tower_kind)w);
            if (t)
                json_array_append_new(towers, tower_info(t, (enum cdx_tower_kind)w));
        }
        json_object_set_new(root, "towers", towers);
    }
    if (s->has_catalog && s->cat.get_info) {
        cdx_store_info info;
        cdx_errbuf eb = {0};
        if (s->cat.get_info(s->cat.ctx, &info, &eb) == CDX_OK) {
            json_t *spaces = json_object();
            for (int sp = 0; sp < CDX_SPACE_COUNT; sp++)
                json_object_set_new(spaces, sp == CDX_SPACE_IMAGE ? "image" : "caption",
                                    json_pack("{s:s, s:I, s:I, s:I}", "spec", info.space[sp].spec, "vectors",
                                              (json_int_t)info.space[sp].vectors, "indexed",
                                              (json_int_t)info.space[sp].indexed, "memory_bytes",
                                              (json_int_t)info.space[sp].memory_bytes));
            json_object_set_new(root, "index",
                                json_pack("{s:s, s:i, s:I, s:I, s:o}", "contract_id", info.contract_id, "dim", info.dim,
                                          "items", (json_int_t)info.items, "failures", (json_int_t)info.failures,
                                          "spaces", spaces));
        }
    }
    json_object_set_new(root, "limits",
                        json_pack("{s:i, s:i, s:I, s:I, s:i, s:i, s:i, s:i, s:i, s:b}", "max_connections",
                                  s->p.max_connections, "max_header_bytes", s->p.max_header_bytes, "max_body_bytes",
                                  (json_int_t)s->p.max_body_bytes, "max_query_body_bytes",
                                  (json_int_t)s->p.max_query_body_bytes, "k_max", s->p.k_max, "max_inputs",
                                  s->p.max_inputs, "interactive_deadline_ms", s->p.interactive_deadline_ms,
                                  "batch_deadline_ms", s->p.batch_deadline_ms, "thumb_size", s->p.thumb_size,
                                  "uploads", s->has_token));
    cdx_job_json(job, 200, root);
}

typedef struct cdx_web_asset {
    const char *name, *type;
    const unsigned char *data;
    size_t len;
} cdx_web_asset;
extern const cdx_web_asset cdx_web_assets[];
extern const int cdx_web_asset_count;

/* "/" is index.html; "/ui/<name>" the other files of server/web. */
void cdx_route_web(cdx_job *job)
{
    const char *name = job->path_arg[0] ? job->path_arg : "index.html";
    for (int i = 0; i < cdx_web_asset_count; i++) {
        if (strcmp(cdx_web_assets[i].name, name) != 0)
            continue;
        cdx_job_reply_static(job, 200, cdx_web_assets[i].type, cdx_web_assets[i].data, cdx_web_assets[i].len);
        job->cache_control = "no-cache";
        return;
    }
    cdx_job_error(job, 404, "no_route", "no page /ui/%s", name);
}
