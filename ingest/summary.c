/* The ingest job's final summary, for people (a few aligned lines) or for
 * machines (one JSON object): counts by outcome, wall time, images/s,
 * per-stage busy %, queue depths and peak RSS. */
#include "ingest/ingest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static double busy_pct(const cdx_ingest_summary *s, const cdx_ingest_stage *g)
{
    double denom = (double)s->wall_ns * (g->threads > 0 ? g->threads : 1);
    return denom > 0 ? 100.0 * (double)g->busy_ns / denom : 0;
}

static void print_json(const cdx_ingest_summary *s, FILE *f)
{
    json_t *outcomes = json_object(), *stages = json_array(), *queues = json_array();
    for (int i = 0; i < CDX_INGEST_OUTCOME_COUNT; i++)
        json_object_set_new(outcomes, cdx_ingest_outcome_name((enum cdx_ingest_outcome)i),
                            json_integer((json_int_t)s->outcome[i]));
    for (int i = 0; i < s->n_stages; i++) {
        const cdx_ingest_stage *g = &s->stages[i];
        json_array_append_new(stages, json_pack("{s:s, s:i, s:f, s:I, s:f}", "name", g->name, "threads", g->threads,
                                                "busy_s", (double)g->busy_ns / 1e9, "items", (json_int_t)g->items,
                                                "busy_pct", busy_pct(s, g)));
    }
    for (int i = 0; i < s->n_queues; i++) {
        const cdx_ingest_queue *q = &s->queues[i];
        json_array_append_new(queues, json_pack("{s:s, s:i, s:i, s:f, s:f, s:f}", "name", q->name, "capacity",
                                                (int)q->capacity, "max_depth", (int)q->max_depth, "mean_depth",
                                                q->mean_depth, "push_wait_s", (double)q->push_wait_ns / 1e9,
                                                "pop_wait_s", (double)q->pop_wait_ns / 1e9));
    }
    json_t *root = json_pack(
        "{s:s, s:I, s:I, s:b, s:o, s:{s:I, s:I, s:I}, s:I, s:I, s:f, s:f, s:I, s:b, s:i, s:i, s:i, s:o, s:o}", "type",
        "summary", "seen", (json_int_t)s->seen, "total", (json_int_t)s->total, "total_estimated", s->total_estimated,
        "outcomes", outcomes, "failed_by_stage", "read", (json_int_t)s->failed_read, "decode",
        (json_int_t)s->failed_decode, "embed", (json_int_t)s->failed_embed, "captions", (json_int_t)s->captions,
        "batches", (json_int_t)s->batches, "wall_s", (double)s->wall_ns / 1e9, "images_per_s", s->images_per_s,
        "peak_rss_bytes", (json_int_t)s->peak_rss, "interrupted", s->interrupted, "batch", s->batch,
        "decode_workers", s->decode_workers, "ort_threads", s->ort_threads, "stages", stages, "queues", queues);
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (text)
        fprintf(f, "%s\n", text);
    free(text);
    json_decref(root);
}

void cdx_ingest_summary_print(const cdx_ingest_summary *s, FILE *f, int as_json)
{
    if (as_json) {
        print_json(s, f);
        return;
    }
    fprintf(f, "%s: %llu item(s) in %.1f s, %.1f images/s%s\n", s->interrupted ? "stopped" : "done",
            (unsigned long long)s->seen, (double)s->wall_ns / 1e9, s->images_per_s,
            s->interrupted ? " (run the same command again to go on)" : "");
    fprintf(f, "  embedded %llu, reused %llu (same bytes), unchanged %llu, known failures %llu, failed %llu",
            (unsigned long long)s->outcome[CDX_INGEST_OUTCOME_EMBEDDED],
            (unsigned long long)s->outcome[CDX_INGEST_OUTCOME_REUSED],
            (unsigned long long)s->outcome[CDX_INGEST_OUTCOME_UNCHANGED],
            (unsigned long long)s->outcome[CDX_INGEST_OUTCOME_KNOWN_FAILURE],
            (unsigned long long)s->outcome[CDX_INGEST_OUTCOME_FAILED]);
    if (s->outcome[CDX_INGEST_OUTCOME_FAILED])
        fprintf(f, " (read %llu, decode %llu, embed %llu)", (unsigned long long)s->failed_read,
                (unsigned long long)s->failed_decode, (unsigned long long)s->failed_embed);
    fprintf(f, "\n");
    if (s->captions)
        fprintf(f, "  captions embedded %llu\n", (unsigned long long)s->captions);
    fprintf(f, "  batch %d, %llu tower run(s), decode workers %d, ORT threads %d, peak RSS %.1f MiB\n", s->batch,
            (unsigned long long)s->batches, s->decode_workers, s->ort_threads, (double)s->peak_rss / (1 << 20));
    fprintf(f, "  busy:");
    for (int i = 0; i < s->n_stages; i++)
        fprintf(f, " %s %.0f%%", s->stages[i].name, busy_pct(s, &s->stages[i]));
    fprintf(f, "\n  queues (mean/max/capacity):");
    for (int i = 0; i < s->n_queues; i++)
        fprintf(f, " %s %.1f/%u/%u", s->queues[i].name, s->queues[i].mean_depth, s->queues[i].max_depth,
                s->queues[i].capacity);
    fprintf(f, "\n");
}
