/* Encoder overhead against bare ONNX Runtime (see overhead.h). The bare side
 * builds its session the way encoder/tower.c does (the same threads, execution
 * mode, optimization level, arena, spinning and providers), so the two differ
 * only in what clipdex adds per call: input checks, tensor wrapping, bucket
 * bookkeeping and timing. */
#include "bench/overhead.h"

#include "bench/stats.h"
#include "common/clock.h"
#include "common/util.h"
#include "encoder/ort_env.h"
#include "encoder/ort_util.h"
#include "encoder/providers.h"
#include "encoder/tokenizer.h"
#include "encoder/tower.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cdx_bench_overhead_params cdx_bench_overhead_default_params(void)
{
    return (cdx_bench_overhead_params){.batch = 32, .duration_s = 2, .rounds = 3, .query = "a photo of a cat"};
}

struct bare {
    OrtSession *session;
    OrtRunOptions *run_opts;
    OrtMemoryInfo *mem;
    OrtValue *in, *out;
};

static void bare_close(struct bare *b)
{
    const OrtApi *api = cdx_ort();
    if (!api)
        return;
    if (b->in)
        api->ReleaseValue(b->in);
    if (b->out)
        api->ReleaseValue(b->out);
    if (b->mem)
        api->ReleaseMemoryInfo(b->mem);
    if (b->run_opts)
        api->ReleaseRunOptions(b->run_opts);
    if (b->session)
        api->ReleaseSession(b->session);
}

static int bare_open(const cdx_tower_report *r, const char *model, const cdx_contract_spec *s, int32_t batch,
                     float *pixels, float *out, struct bare *b, cdx_errbuf *eb)
{
    const OrtApi *api = cdx_ort();
    void *env = NULL;
    cdx_provider_spec ps;
    cdx_session_settings ss;
    cdx_ort_info oi;
    OrtSessionOptions *so = NULL;
    char used[256];
    int rc = cdx_ort_env_get(&env, eb);
    if (rc == CDX_OK)
        rc = cdx_provider_spec_parse(r->spec, &ps, eb);
    if (rc == CDX_OK)
        rc = cdx_provider_session_settings(&ps, &ss, eb);
    if (rc == CDX_OK)
        rc = cdx_ort_info_read(&oi, eb);
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->CreateSessionOptions(&so), eb, "session options");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->SetIntraOpNumThreads(so, r->intra_threads), eb, "intra-op threads");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->SetInterOpNumThreads(so, r->inter_threads), eb, "inter-op threads");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->SetSessionExecutionMode(so, ORT_SEQUENTIAL), eb, "execution mode");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->SetSessionGraphOptimizationLevel(so, (GraphOptimizationLevel)r->opt_level), eb, "opt");
    if (rc == CDX_OK)
        rc = cdx_ort_check(ss.arena ? api->EnableCpuMemArena(so) : api->DisableCpuMemArena(so), eb, "arena");
    if (rc == CDX_OK && ss.spinning >= 0)
        rc = cdx_ort_check(api->AddSessionConfigEntry(so, "session.intra_op.allow_spinning", ss.spinning ? "1" : "0"),
                           eb, "spinning");
    if (rc == CDX_OK)
        rc = cdx_provider_spec_apply(&ps, so, oi.providers, oi.n_providers, used, sizeof used, eb);
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->CreateSession(env, model, so, &b->session), eb, "bare session: load %s", model);
    if (so)
        api->ReleaseSessionOptions(so);
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->CreateRunOptions(&b->run_opts), eb, "run options");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->RunOptionsSetRunLogSeverityLevel(b->run_opts, ORT_LOGGING_LEVEL_WARNING), eb, "log");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &b->mem), eb, "memory info");
    int64_t ishape[4] = {batch, 3, s->image.height, s->image.width}, oshape[2] = {batch, s->dim};
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->CreateTensorWithDataAsOrtValue(
                               b->mem, pixels, (size_t)batch * 3 * (size_t)s->image.height * (size_t)s->image.width * sizeof(float),
                               ishape, 4, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &b->in),
                           eb, "input tensor");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->CreateTensorWithDataAsOrtValue(b->mem, out, (size_t)batch * (size_t)s->dim * sizeof(float),
                                                               oshape, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &b->out),
                           eb, "output tensor");
    return rc;
}

static int bare_run(struct bare *b, const cdx_contract_spec *s, cdx_errbuf *eb)
{
    const char *in_name = s->towers[CDX_TOWER_VISION].inputs[0].name;
    const char *out_name = s->towers[CDX_TOWER_VISION].outputs[0].name;
    return cdx_ort_check(cdx_ort()->Run(b->session, b->run_opts, &in_name, (const OrtValue *const *)&b->in, 1, &out_name,
                                        1, &b->out),
                         eb, "bare run");
}

/* Samples of one side: latencies and the rows and wall time they took. */
struct side {
    double *ms;
    size_t n, cap;
    double rows, secs;
};

static int side_push(struct side *sd, double ms)
{
    if (sd->n == sd->cap) {
        size_t cap = sd->cap ? sd->cap * 2 : 256;
        double *v = realloc(sd->ms, cap * sizeof *v);
        if (!v)
            return -1;
        sd->ms = v;
        sd->cap = cap;
    }
    sd->ms[sd->n++] = ms;
    return 0;
}

static double side_p50(struct side *sd)
{
    double *tmp = malloc((sd->n + 1) * sizeof *tmp);
    if (!tmp)
        return NAN;
    memcpy(tmp, sd->ms, sd->n * sizeof *tmp);
    double m = cdx_bench_median_inplace(tmp, sd->n);
    free(tmp);
    return m;
}

typedef int (*step_fn)(void *ctx, cdx_errbuf *eb);

/* Runs step for duration_s seconds (at least 3 times), into sd. */
static int segment(step_fn step, void *ctx, double duration_s, double rows_per_step, const volatile sig_atomic_t *stop,
                   struct side *sd, double *tput, cdx_errbuf *eb)
{
    int64_t start = cdx_clock_ns(), dur = (int64_t)(duration_s * 1e9);
    int runs = 0;
    while ((cdx_clock_ns() - start < dur || runs < 3) && !(stop && *stop)) {
        int64_t t0 = cdx_clock_ns();
        int rc = step(ctx, eb);
        if (rc != CDX_OK)
            return rc;
        if (side_push(sd, cdx_ns_to_ms(cdx_clock_ns() - t0)) != 0)
            return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "overhead samples: out of memory");
        runs++;
    }
    double secs = (double)(cdx_clock_ns() - start) / 1e9;
    sd->rows += rows_per_step * runs;
    sd->secs += secs;
    *tput = secs > 0 ? rows_per_step * runs / secs : 0;
    return CDX_OK;
}

struct image_ctx {
    cdx_tower *tower;
    struct bare *bare;
    const cdx_contract_spec *s;
    const float *pixels;
    float *out;
    int32_t batch;
};

static int step_tower(void *p, cdx_errbuf *eb)
{
    struct image_ctx *x = p;
    return cdx_tower_run(x->tower, &(cdx_tower_input){.pixels = x->pixels}, x->batch, x->out, eb);
}

static int step_bare(void *p, cdx_errbuf *eb)
{
    struct image_ctx *x = p;
    return bare_run(x->bare, x->s, eb);
}

struct text_ctx {
    cdx_tower *tower;
    const cdx_tokenizer *tok;
    const char *query;
    int32_t pad_to;
    int64_t ids[1024], mask[1024];
    float out[4096];
};

static int step_text(void *p, cdx_errbuf *eb)
{
    struct text_ctx *x = p;
    cdx_token_result tr;
    int rc = cdx_tokenizer_encode(x->tok, x->query, strlen(x->query), x->pad_to, x->ids, x->mask, 1024, &tr, eb);
    if (rc == CDX_OK)
        rc = cdx_tower_run(x->tower, &(cdx_tower_input){.ids = x->ids, .mask = x->mask, .seq = tr.length}, 1, x->out, eb);
    return rc;
}

static int open_tower(const cdx_contract_spec *s, int which, const cdx_bench_overhead_params *p, cdx_tower **t,
                      cdx_errbuf *eb)
{
    cdx_tower_params tp = cdx_tower_default_params();
    tp.providers = p->providers;
    tp.threads = p->threads;
    tp.max_fallback = 1;
    tp.report_placement = 0;
    return cdx_tower_open(s, (enum cdx_tower_kind)which, &tp, t, eb);
}

static int measure_text(const cdx_contract_spec *cs, const cdx_bench_overhead_params *p, cdx_bench_overhead *o,
                        cdx_errbuf *eb)
{
    snprintf(o->query, sizeof o->query, "%s", p->query);
    o->context_length = cs->text.context_length;
    if (cs->text.padding != CDX_PADDING_BUCKET || cs->dim > 4096 || cs->text.context_length > 1024) {
        snprintf(o->text_note, sizeof o->text_note, "%s pads text to max_length (%d): no sequence buckets to compare",
                 cs->id, cs->text.context_length);
        return CDX_OK;
    }
    cdx_contract_spec *spec[2] = {malloc(sizeof *spec[0]), malloc(sizeof *spec[1])};
    cdx_tower *t[2] = {NULL, NULL};
    cdx_tokenizer *tok = NULL;
    struct text_ctx *x[2] = {calloc(1, sizeof *x[0]), calloc(1, sizeof *x[1])};
    struct side sd[2] = {{0}};
    int rc = CDX_OK;
    if (!spec[0] || !spec[1] || !x[0] || !x[1]) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "overhead: out of memory");
        goto done;
    }
    for (int k = 0; k < 2 && rc == CDX_OK; k++) {
        *spec[k] = *cs;
        spec[k]->n_batch_buckets = 1;
        spec[k]->batch_buckets[0] = 1;
        spec[k]->text.padding = k == 0 ? CDX_PADDING_BUCKET : CDX_PADDING_MAX_LENGTH;
        rc = open_tower(spec[k], CDX_TOWER_TEXT, p, &t[k], eb);
    }
    if (rc == CDX_OK && cdx_tokenizer_open(cs, NULL, &tok, eb) != CDX_OK) {
        /* the image half stands on its own; say why the text half is missing */
        snprintf(o->text_note, sizeof o->text_note, "tokenizer: %s", cdx_errbuf_msg(eb));
        goto done;
    }
    if (rc != CDX_OK)
        goto done;
    cdx_token_result tr;
    rc = cdx_tokenizer_encode(tok, p->query, strlen(p->query), CDX_TOKENIZER_PAD_NONE, x[0]->ids, x[0]->mask, 1024, &tr,
                              eb);
    if (rc != CDX_OK)
        goto done;
    o->n_tokens = tr.n_tokens;
    o->seq_bucket = cdx_tower_seq_bucket(t[0], tr.n_tokens);
    for (int k = 0; k < 2; k++) {
        x[k]->tower = t[k];
        x[k]->tok = tok;
        x[k]->query = p->query;
        x[k]->pad_to = k == 0 ? o->seq_bucket : cs->text.context_length;
    }
    double tput;
    for (int r = 0; r < p->rounds && rc == CDX_OK && !(p->stop && *p->stop); r++)
        for (int k = 0; k < 2 && rc == CDX_OK; k++)
            rc = segment(step_text, x[k], p->duration_s / 2, 1, p->stop, &sd[k], &tput, eb);
    if (rc == CDX_OK) {
        o->text_measured = 1;
        o->bucket_runs = sd[0].n;
        o->full_runs = sd[1].n;
        o->bucket_p50_ms = side_p50(&sd[0]);
        o->full_p50_ms = side_p50(&sd[1]);
        o->text_speedup = o->bucket_p50_ms > 0 ? o->full_p50_ms / o->bucket_p50_ms : 0;
    }
done:
    for (int k = 0; k < 2; k++) {
        cdx_tower_close(t[k]);
        free(spec[k]);
        free(x[k]);
        free(sd[k].ms);
    }
    cdx_tokenizer_close(tok);
    return rc;
}

int cdx_bench_overhead_run(const cdx_contract *c, const cdx_bench_overhead_params *params, cdx_bench_overhead *o,
                           cdx_errbuf *eb)
{
    cdx_bench_overhead_params p = params ? *params : cdx_bench_overhead_default_params();
    memset(o, 0, sizeof *o);
    const cdx_contract_spec *cs = cdx_contract_get(c);
    if (p.batch < 1 || p.batch > 4096 || p.rounds < 1)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "overhead: batch %d and rounds %d must be positive", p.batch, p.rounds);
    cdx_contract_spec *spec = malloc(sizeof *spec);
    size_t n_px = (size_t)p.batch * 3 * (size_t)cs->image.height * (size_t)cs->image.width;
    float *pixels = malloc(n_px * sizeof *pixels), *out = malloc((size_t)p.batch * (size_t)cs->dim * sizeof *out);
    cdx_tower_report *rep = malloc(sizeof *rep);
    cdx_tower *t = NULL;
    struct bare b = {0};
    struct side sd[2] = {{0}};
    int rc = CDX_OK;
    if (!spec || !pixels || !out || !rep) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "overhead: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_px; i++)
        pixels[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    *spec = *cs;
    spec->n_batch_buckets = 1; /* exactly the batch: no padding on either side */
    spec->batch_buckets[0] = p.batch;
    if ((rc = open_tower(spec, CDX_TOWER_VISION, &p, &t, eb)) != CDX_OK)
        goto done;
    cdx_tower_get_report(t, rep);
    snprintf(o->providers, sizeof o->providers, "%s", rep->spec);
    snprintf(o->opt, sizeof o->opt, "%s", cdx_opt_level_name(rep->opt_level));
    o->batch = p.batch;
    o->threads = rep->intra_threads;
    if ((rc = bare_open(rep, rep->model_path, cs, p.batch, pixels, out, &b, eb)) != CDX_OK)
        goto done;
    for (int i = 0; i < 2 && rc == CDX_OK; i++) /* the bare session's cold runs, untimed like the tower's warm-up */
        rc = bare_run(&b, cs, eb);
    struct image_ctx x = {.tower = t, .bare = &b, .s = cs, .pixels = pixels, .out = out, .batch = p.batch};
    o->ratio_min = INFINITY;
    for (int r = 0; r < p.rounds && rc == CDX_OK && !(p.stop && *p.stop); r++) {
        double tt = 0, tb = 0;
        rc = segment(step_tower, &x, p.duration_s, p.batch, p.stop, &sd[0], &tt, eb);
        if (rc == CDX_OK)
            rc = segment(step_bare, &x, p.duration_s, p.batch, p.stop, &sd[1], &tb, eb);
        if (rc == CDX_OK && tb > 0) {
            o->ratio_min = fmin(o->ratio_min, tt / tb);
            o->ratio_max = fmax(o->ratio_max, tt / tb);
        }
    }
    if (rc != CDX_OK)
        goto done;
    o->tower_runs = sd[0].n;
    o->bare_runs = sd[1].n;
    o->tower_tput = sd[0].secs > 0 ? sd[0].rows / sd[0].secs : 0;
    o->bare_tput = sd[1].secs > 0 ? sd[1].rows / sd[1].secs : 0;
    o->ratio = o->bare_tput > 0 ? o->tower_tput / o->bare_tput : 0;
    o->tower_p50_ms = side_p50(&sd[0]);
    o->bare_p50_ms = side_p50(&sd[1]);
    bare_close(&b);
    memset(&b, 0, sizeof b);
    cdx_tower_close(t);
    t = NULL;
    rc = measure_text(cs, &p, o, eb);
done:
    bare_close(&b);
    cdx_tower_close(t);
    free(sd[0].ms);
    free(sd[1].ms);
    free(spec);
    free(pixels);
    free(out);
    free(rep);
    return rc;
}
