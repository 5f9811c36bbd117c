/* Server metrics (internal.h) and their Prometheus text rendering: per route
 * (answers by status, in flight, refusals by reason, deadline drops, latency
 * histograms with queue wait and service apart), per queue, the encoder gate
 * (busy time by class), the towers (busy time per shape bucket, cold vs warm)
 * and the index. Counters are atomics and histograms lock briefly, so
 * recording costs the request path almost nothing. */
#include "server/internal.h"

#include "cdx_version.h"
#include "common/clock.h"
#include "common/util.h"
#include "encoder/encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int status_codes[CDX_STATUS_SLOTS - 1] = {200, 201, 204, 304, 400, 401, 403, 404, 405,
                                                       409, 413, 415, 422, 429, 500, 503, 504};

int cdx_metrics_status_slot(int status)
{
    for (int i = 0; i < CDX_STATUS_SLOTS - 1; i++)
        if (status_codes[i] == status)
            return i;
    return CDX_STATUS_SLOTS - 1; /* "other" */
}

int cdx_metrics_init(cdx_server *s)
{
    s->rm = calloc((size_t)cdx_route_count + 1, sizeof *s->rm);
    if (!s->rm)
        return CDX_ERR_NOMEM;
    for (int i = 0; i <= cdx_route_count; i++) {
        cdx_route_stats *m = &s->rm[i];
        if (cdx_histogram_init(&m->total) || cdx_histogram_init(&m->queue) || cdx_histogram_init(&m->service))
            return CDX_ERR_NOMEM;
    }
    return CDX_OK;
}

void cdx_metrics_free(cdx_server *s)
{
    if (!s->rm)
        return;
    for (int i = 0; i <= cdx_route_count; i++) {
        cdx_histogram_free(s->rm[i].total);
        cdx_histogram_free(s->rm[i].queue);
        cdx_histogram_free(s->rm[i].service);
    }
    CDX_FREE(s->rm);
}

void cdx_metrics_record(cdx_server *s, const cdx_job *job, int64_t now_ns)
{
    cdx_route_stats *m = &s->rm[job->route_index];
    __atomic_fetch_add(&m->by_status[cdx_metrics_status_slot(job->status)], 1, __ATOMIC_RELAXED);
    if (job->route)
        __atomic_fetch_sub(&m->in_flight, 1, __ATOMIC_RELAXED);
    cdx_histogram_record_ns(m->total, now_ns - job->t_arrive_ns);
    if (job->route && job->route->lane != CDX_LANE_INLINE && job->t_start_ns > 0) {
        cdx_histogram_record_ns(m->queue, job->queued_ns);
        cdx_histogram_record_ns(m->service, now_ns - job->t_start_ns);
    }
}

static const double bounds_s[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                  0.25,   0.5,   1,      2.5,   5,    10,   30};

static void histogram_lines(FILE *f, const char *name, const char *labels, cdx_histogram *h)
{
    cdx_histogram_summary sum;
    cdx_histogram_summarize(h, &sum);
    for (size_t i = 0; i < CDX_ARRAY_LEN(bounds_s); i++)
        fprintf(f, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, bounds_s[i],
                (unsigned long long)(sum.count ? cdx_histogram_count_le(h, bounds_s[i] * 1000.0) : 0));
    fprintf(f, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, (unsigned long long)sum.count);
    fprintf(f, "%s_sum{%s} %.6f\n", name, labels, sum.sum_ms / 1000.0);
    fprintf(f, "%s_count{%s} %llu\n", name, labels, (unsigned long long)sum.count);
}

static const char *route_label(int i) { return i < cdx_route_count ? cdx_routes[i].name : "unmatched"; }

static void render_routes(cdx_server *s, FILE *f)
{
    fprintf(f, "# HELP cdx_http_requests_total Requests answered, by route and status.\n"
               "# TYPE cdx_http_requests_total counter\n");
    for (int i = 0; i <= cdx_route_count; i++) {
        for (int k = 0; k < CDX_STATUS_SLOTS; k++) {
            uint64_t n = __atomic_load_n(&s->rm[i].by_status[k], __ATOMIC_RELAXED);
            if (n == 0)
                continue;
            char st[8];
            if (k < CDX_STATUS_SLOTS - 1)
                snprintf(st, sizeof st, "%d", status_codes[k]);
            else
                snprintf(st, sizeof st, "other");
            fprintf(f, "cdx_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n", route_label(i), st,
                    (unsigned long long)n);
        }
    }
    fprintf(f, "# HELP cdx_http_in_flight Requests received and not yet answered, by route.\n"
               "# TYPE cdx_http_in_flight gauge\n");
    for (int i = 0; i < cdx_route_count; i++)
        fprintf(f, "cdx_http_in_flight{route=\"%s\"} %lld\n", route_label(i),
                (long long)__atomic_load_n(&s->rm[i].in_flight, __ATOMIC_RELAXED));
    fprintf(f, "# HELP cdx_http_refused_total Requests refused at admission (503 at once), by route and reason.\n"
               "# TYPE cdx_http_refused_total counter\n");
    for (int i = 0; i < cdx_route_count; i++) {
        if (cdx_routes[i].lane == CDX_LANE_INLINE)
            continue;
        for (int r = 0; r < CDX_ADMISSION_REFUSAL_COUNT; r++)
            fprintf(f, "cdx_http_refused_total{route=\"%s\",reason=\"%s\"} %llu\n", route_label(i),
                    cdx_admission_refusal_name((enum cdx_admission_refusal)r),
                    (unsigned long long)__atomic_load_n(&s->rm[i].refused[r], __ATOMIC_RELAXED));
    }
    fprintf(f, "# HELP cdx_http_expired_total Requests dropped unrun: their deadline passed while queued.\n"
               "# TYPE cdx_http_expired_total counter\n");
    for (int i = 0; i < cdx_route_count; i++)
        if (cdx_routes[i].lane != CDX_LANE_INLINE)
            fprintf(f, "cdx_http_expired_total{route=\"%s\"} %llu\n", route_label(i),
                    (unsigned long long)__atomic_load_n(&s->rm[i].expired, __ATOMIC_RELAXED));
    fprintf(f, "# HELP cdx_http_request_seconds Latency by route and phase: queue (waiting for a worker), service "
               "(running), total (arrival to answer).\n"
               "# TYPE cdx_http_request_seconds histogram\n");
    for (int i = 0; i <= cdx_route_count; i++) {
        char labels[128];
        snprintf(labels, sizeof labels, "route=\"%s\",phase=\"total\"", route_label(i));
        histogram_lines(f, "cdx_http_request_seconds", labels, s->rm[i].total);
        if (i == cdx_route_count || cdx_routes[i].lane == CDX_LANE_INLINE)
            continue;
        snprintf(labels, sizeof labels, "route=\"%s\",phase=\"queue\"", route_label(i));
        histogram_lines(f, "cdx_http_request_seconds", labels, s->rm[i].queue);
        snprintf(labels, sizeof labels, "route=\"%s\",phase=\"service\"", route_label(i));
        histogram_lines(f, "cdx_http_request_seconds", labels, s->rm[i].service);
    }
}

static void render_queues(cdx_server *s, FILE *f)
{
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"cdx_queue_depth", "gauge", "Requests waiting in the queue now."},
        {"cdx_queue_capacity", "gauge", "The queue's bound."},
        {"cdx_queue_max_depth", "gauge", "The deepest the queue has been."},
        {"cdx_queue_workers", "gauge", "Worker threads."},
        {"cdx_queue_busy_workers", "gauge", "Workers running a request now."},
        {"cdx_queue_admitted_total", "counter", "Requests admitted."},
        {"cdx_queue_completed_total", "counter", "Requests run to completion."},
        {"cdx_queue_expired_total", "counter", "Requests dropped unrun because their deadline passed while queued."},
        {"cdx_queue_service_estimate_seconds", "gauge", "The service-time estimate admission decides with."},
        {"cdx_queue_refused_total", "counter", "Requests refused at admission, by reason."},
    };
    for (size_t k = 0; k < CDX_ARRAY_LEN(fam); k++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam[k].name, fam[k].help, fam[k].name, fam[k].type);
        for (int l = 0; l < CDX_LANE_COUNT; l++) {
            if (!s->lanes[l])
                continue;
            cdx_admission_stats st;
            cdx_admission_get_stats(s->lanes[l], &st);
            const char *q = cdx_admission_name(s->lanes[l]);
            double v[] = {st.depth,     st.capacity,           st.max_depth,     st.workers,
                          st.busy,      (double)st.admitted,   (double)st.completed, (double)st.expired,
                          st.service_estimate_ms / 1000.0};
            if (k < CDX_ARRAY_LEN(v)) {
                fprintf(f, "%s{queue=\"%s\"} %.9g\n", fam[k].name, q, v[k]);
                continue;
            }
            for (int r = 0; r < CDX_ADMISSION_REFUSAL_COUNT; r++)
                fprintf(f, "%s{queue=\"%s\",reason=\"%s\"} %llu\n", fam[k].name, q,
                        cdx_admission_refusal_name((enum cdx_admission_refusal)r), (unsigned long long)st.refused[r]);
        }
    }
}

static void render_encoder(cdx_server *s, FILE *f)
{
    cdx_gate_stats g;
    cdx_gate_get_stats(s->gate, &g);
    fprintf(f, "# HELP cdx_encoder_busy_seconds_total Time the encoder was held, by request class.\n"
               "# TYPE cdx_encoder_busy_seconds_total counter\n");
    for (int c = 0; c < CDX_GATE_CLASS_COUNT; c++)
        fprintf(f, "cdx_encoder_busy_seconds_total{class=\"%s\"} %.6f\n", cdx_gate_class_name((enum cdx_gate_class)c),
                (double)g.hold_ns[c] / 1e9);
    fprintf(f, "# HELP cdx_encoder_wait_seconds_total Time spent waiting for the encoder, by request class.\n"
               "# TYPE cdx_encoder_wait_seconds_total counter\n");
    for (int c = 0; c < CDX_GATE_CLASS_COUNT; c++)
        fprintf(f, "cdx_encoder_wait_seconds_total{class=\"%s\"} %.6f\n", cdx_gate_class_name((enum cdx_gate_class)c),
                (double)g.wait_ns[c] / 1e9);
    fprintf(f, "# HELP cdx_encoder_waiting Callers waiting for the encoder now, by class.\n"
               "# TYPE cdx_encoder_waiting gauge\n");
    for (int c = 0; c < CDX_GATE_CLASS_COUNT; c++)
        fprintf(f, "cdx_encoder_waiting{class=\"%s\"} %d\n", cdx_gate_class_name((enum cdx_gate_class)c), g.waiting[c]);
    if (!s->enc)
        return;
    cdx_tower_report *rep = malloc(sizeof *rep);
    if (!rep)
        return;
    fprintf(f, "# HELP cdx_tower_busy_seconds_total Time inside ONNX Runtime, by tower.\n"
               "# TYPE cdx_tower_busy_seconds_total counter\n"
               "# HELP cdx_tower_bucket_runs_total Runs per shape bucket: the first (cold, the compile) apart from "
               "the rest (warm).\n"
               "# TYPE cdx_tower_bucket_runs_total counter\n"
               "# HELP cdx_tower_bucket_seconds_total Run time per shape bucket, cold vs warm.\n"
               "# TYPE cdx_tower_bucket_seconds_total counter\n"
               "# HELP cdx_tower_bucket_rows_total Rows run per shape bucket, real vs padding.\n"
               "# TYPE cdx_tower_bucket_rows_total counter\n");
    for (int w = 0; w < 2; w++) {
        cdx_tower *t = cdx_encoder_tower(s->enc, (enum cdx_tower_kind)w);
        if (!t)
            continue;
        cdx_tower_get_report(t, rep);
        const char *tn = cdx_tower_name((enum cdx_tower_kind)w);
        fprintf(f, "cdx_tower_busy_seconds_total{tower=\"%s\"} %.6f\n", tn, (double)rep->busy_ns / 1e9);
        for (int b = 0; b < rep->n_buckets; b++) {
            const cdx_tower_bucket_stats *bs = &rep->buckets[b];
            char l[96];
            snprintf(l, sizeof l, "tower=\"%s\",batch=\"%d\",seq=\"%d\"", tn, bs->batch, bs->seq);
            fprintf(f, "cdx_tower_bucket_runs_total{%s,run=\"cold\"} %d\n", l, bs->cold_ns > 0);
            fprintf(f, "cdx_tower_bucket_runs_total{%s,run=\"warm\"} %llu\n", l, (unsigned long long)bs->warm_runs);
            fprintf(f, "cdx_tower_bucket_seconds_total{%s,run=\"cold\"} %.6f\n", l, (double)bs->cold_ns / 1e9);
            fprintf(f, "cdx_tower_bucket_seconds_total{%s,run=\"warm\"} %.6f\n", l,
                    bs->warm_mean_ms * (double)bs->warm_runs / 1000.0);
            fprintf(f, "cdx_tower_bucket_rows_total{%s,rows=\"real\"} %llu\n", l, (unsigned long long)bs->rows);
            fprintf(f, "cdx_tower_bucket_rows_total{%s,rows=\"padding\"} %llu\n", l, (unsigned long long)bs->padded_rows);
        }
    }
    free(rep);
}

static void render_index(cdx_server *s, FILE *f)
{
    if (!s->has_catalog || !s->cat.get_info)
        return;
    cdx_store_info info;
    cdx_errbuf eb = {0};
    if (s->cat.get_info(s->cat.ctx, &info, &eb) != CDX_OK)
        return;
    fprintf(f, "# HELP cdx_catalog_items Items in the catalog.\n# TYPE cdx_catalog_items gauge\n"
               "cdx_catalog_items %lld\n",
            (long long)info.items);
    fprintf(f, "# HELP cdx_catalog_failures Dead-letter rows.\n# TYPE cdx_catalog_failures gauge\n"
               "cdx_catalog_failures %lld\n",
            (long long)info.failures);
    fprintf(f, "# HELP cdx_index_vectors Vectors per space: in the catalog, in the in-memory index.\n"
               "# TYPE cdx_index_vectors gauge\n");
    for (int sp = 0; sp < CDX_SPACE_COUNT; sp++) {
        const char *name = sp == CDX_SPACE_IMAGE ? "image" : "caption";
        fprintf(f, "cdx_index_vectors{space=\"%s\",where=\"catalog\"} %lld\n", name, (long long)info.space[sp].vectors);
        fprintf(f, "cdx_index_vectors{space=\"%s\",where=\"index\"} %lld\n", name, (long long)info.space[sp].indexed);
    }
    fprintf(f, "# HELP cdx_index_memory_bytes The index's estimated resident size per space.\n"
               "# TYPE cdx_index_memory_bytes gauge\n");
    for (int sp = 0; sp < CDX_SPACE_COUNT; sp++)
        fprintf(f, "cdx_index_memory_bytes{space=\"%s\"} %llu\n", sp == CDX_SPACE_IMAGE ? "image" : "caption",
                (unsigned long long)info.space[sp].memory_bytes);
}

char *cdx_metrics_render(cdx_server *s, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return NULL;
    fprintf(f, "# HELP cdx_build_info clipdex version.\n# TYPE cdx_build_info gauge\n"
               "cdx_build_info{version=\"%s\",revision=\"%s\"} 1\n",
            CDX_VERSION, CDX_GIT_REVISION);
    fprintf(f, "# HELP cdx_uptime_seconds Time since the server started.\n# TYPE cdx_uptime_seconds gauge\n"
               "cdx_uptime_seconds %.3f\n",
            (double)(cdx_clock_wall_ms() - s->started_ms) / 1000.0);
    fprintf(f, "# HELP cdx_http_connections_open Connections open now (counted at accept).\n"
               "# TYPE cdx_http_connections_open gauge\ncdx_http_connections_open %lld\n"
               "# HELP cdx_http_connections_total Connections accepted.\n"
               "# TYPE cdx_http_connections_total counter\ncdx_http_connections_total %llu\n"
               "# HELP cdx_http_accept_pauses_total Times accepting paused at the connection cap.\n"
               "# TYPE cdx_http_accept_pauses_total counter\ncdx_http_accept_pauses_total %llu\n",
            (long long)s->conns_open, (unsigned long long)s->conns_total, (unsigned long long)s->accept_pauses);
    render_routes(s, f);
    render_queues(s, f);
    render_encoder(s, f);
    render_index(s, f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}
