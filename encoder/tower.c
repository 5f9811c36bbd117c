/* Tower: one ORT session for one half of a model, on an explicit provider
 * spec, with shape buckets and honest reporting (see tower.h).
 *
 * Lifecycle of cdx_tower_open: parse the spec -> session options (threads,
 * optimization level, arena, spinning, optimized-model cache, providers in
 * order) -> create the session with ORT's session log at VERBOSE and a log tap
 * collecting the node placement -> warm-up: run every bucket once with ORT's
 * profiler on, end profiling, parse the trace into per-provider time shares ->
 * check the CPU fallback limit. Runs afterwards use run options at WARNING so
 * steady state pays nothing for the verbose creation log. */
#include "encoder/tower.h"

#include "common/clock.h"
#include "common/hash.h"
#include "common/histogram.h"
#include "common/log.h"
#include "common/sysinfo.h"
#include "common/threads.h"
#include "common/util.h"
#include "encoder/ort_env.h"
#include "encoder/ort_util.h"
#include "encoder/providers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_BUCKETS (CDX_CONTRACT_MAX_BUCKETS * 4)

struct bucket {
    int32_t batch, seq;
    int started;        /* a run of this shape has begun: later runs are warm */
    int64_t cold_ns;
    cdx_histogram *warm;
    uint64_t rows, padded_rows;
};

struct cdx_tower {
    const cdx_contract_spec *spec;
    enum cdx_tower_kind which;
    const cdx_tower_spec *io;
    OrtSession *session;
    OrtRunOptions *run_opts;
    OrtMemoryInfo *mem;
    int32_t dim;
    int32_t pad_to_bucket; /* text: pad sequences to buckets rather than context_length */
    pthread_mutex_t mu;
    int n_buckets;
    struct bucket buckets[MAX_BUCKETS];
    _Atomic int64_t busy_ns;
    cdx_tower_report report; /* the parts fixed at open */
};

static _Atomic int g_tower_seq;

const char *cdx_tower_name(enum cdx_tower_kind which) { return which == CDX_TOWER_VISION ? "vision" : "text"; }

cdx_tower_params cdx_tower_default_params(void)
{
    return (cdx_tower_params){
        .providers = NULL,
        .threads = 0,
        .max_fallback = -1,
        .warmup = 1,
        .report_placement = 1,
        .model_path = NULL,
    };
}

static int64_t row_elems(const cdx_tower *t, int32_t seq)
{
    if (t->which == CDX_TOWER_VISION)
        return 3LL * t->spec->image.height * t->spec->image.width;
    return seq;
}

int32_t cdx_tower_seq_bucket(const cdx_tower *t, int32_t n_tokens)
{
    const cdx_contract_spec *s = t->spec;
    if (!t->pad_to_bucket)
        return s->text.context_length;
    for (int i = 0; i < s->n_seq_buckets; i++)
        if (s->seq_buckets[i] >= n_tokens)
            return s->seq_buckets[i];
    return s->text.context_length;
}

static int32_t batch_bucket(const cdx_tower *t, int32_t m)
{
    const cdx_contract_spec *s = t->spec;
    for (int i = 0; i < s->n_batch_buckets; i++)
        if (s->batch_buckets[i] >= m)
            return s->batch_buckets[i];
    return m; /* callers chunk by the largest bucket, so this is unreachable for valid contracts */
}

static struct bucket *bucket_get(cdx_tower *t, int32_t batch, int32_t seq)
{
    for (int i = 0; i < t->n_buckets; i++)
        if (t->buckets[i].batch == batch && t->buckets[i].seq == seq)
            return &t->buckets[i];
    if (t->n_buckets == MAX_BUCKETS || cdx_histogram_init(&t->buckets[t->n_buckets].warm) != CDX_OK)
        return NULL;
    struct bucket *b = &t->buckets[t->n_buckets++];
    b->batch = batch;
    b->seq = seq;
    return b;
}

/* Runs exactly one bucket-shaped batch: inputs already [batch, ...], output
 * into out[batch * dim]. */
static int run_shaped(cdx_tower *t, int32_t batch, int32_t seq, const float *pixels, const int64_t *ids,
                      const int64_t *mask, float *out, int32_t real_rows, cdx_errbuf *eb)
{
    const OrtApi *api = cdx_ort();
    OrtValue *inputs[CDX_CONTRACT_MAX_IO] = {0};
    const char *in_names[CDX_CONTRACT_MAX_IO];
    OrtValue *output = NULL;
    int n_in = 0, rc = CDX_OK;
    const cdx_contract_spec *s = t->spec;

    if (t->which == CDX_TOWER_VISION) {
        int64_t shape[4] = {batch, 3, s->image.height, s->image.width};
        in_names[n_in] = t->io->inputs[0].name;
        rc = cdx_ort_check(api->CreateTensorWithDataAsOrtValue(t->mem, (void *)pixels,
                                                               (size_t)(batch * row_elems(t, 0)) * sizeof(float),
                                                               shape, 4, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
                                                               &inputs[n_in++]),
                           eb, "vision input tensor");
    } else {
        int64_t shape[2] = {batch, seq};
        const int64_t *data[2] = {ids, mask};
        for (int i = 0; i < t->io->n_inputs && rc == CDX_OK; i++) {
            in_names[n_in] = t->io->inputs[i].name;
            rc = cdx_ort_check(api->CreateTensorWithDataAsOrtValue(t->mem, (void *)data[i],
                                                                   (size_t)batch * (size_t)seq * sizeof(int64_t),
                                                                   shape, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64,
                                                                   &inputs[n_in++]),
                               eb, "text input tensor %s", t->io->inputs[i].name);
        }
    }
    if (rc == CDX_OK) {
        int64_t oshape[2] = {batch, t->dim};
        rc = cdx_ort_check(api->CreateTensorWithDataAsOrtValue(t->mem, out, (size_t)batch * (size_t)t->dim * sizeof(float),
                                                               oshape, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &output),
                           eb, "output tensor");
    }
    if (rc != CDX_OK)
        goto done;

    pthread_mutex_lock(&t->mu);
    struct bucket *b = bucket_get(t, batch, t->which == CDX_TOWER_TEXT ? seq : 0);
    int cold = b && !b->started;
    if (b)
        b->started = 1;
    pthread_mutex_unlock(&t->mu);

    const char *out_name = t->io->outputs[0].name;
    int64_t t0 = cdx_clock_ns();
    rc = cdx_ort_check(api->Run(t->session, t->run_opts, in_names, (const OrtValue *const *)inputs, (size_t)n_in,
                                &out_name, 1, &output),
                       eb, "%s tower run (batch %d%s)", cdx_tower_name(t->which), batch,
                       t->which == CDX_TOWER_TEXT ? ", text" : "");
    int64_t dt = cdx_clock_ns() - t0;
    atomic_fetch_add(&t->busy_ns, dt);
    if (rc == CDX_OK && b) {
        pthread_mutex_lock(&t->mu);
        if (cold)
            b->cold_ns = dt;
        b->rows += (uint64_t)real_rows;
        b->padded_rows += (uint64_t)(batch - real_rows);
        pthread_mutex_unlock(&t->mu);
        if (!cold)
            cdx_histogram_record_ns(b->warm, dt);
    }
done:
    for (int i = 0; i < n_in; i++)
        if (inputs[i])
            api->ReleaseValue(inputs[i]);
    if (output)
        api->ReleaseValue(output);
    return rc;
}

/* Fills padding rows of a text batch by copying row 0: a valid sequence, so no
 * row is all padding (an all-zero attention mask makes softmax NaN). */
static void fill_pad_rows(void *base, size_t row_bytes, int32_t from, int32_t to)
{
    for (int32_t r = from; r < to; r++)
        memcpy((char *)base + (size_t)r * row_bytes, base, row_bytes);
}

static int run_chunk(cdx_tower *t, const cdx_tower_input *in, int32_t off, int32_t m, float *out, cdx_errbuf *eb)
{
    int32_t b = batch_bucket(t, m);
    int32_t seq = t->which == CDX_TOWER_TEXT ? cdx_tower_seq_bucket(t, in->seq) : 0;
    int direct_in = (t->which == CDX_TOWER_VISION || seq == in->seq) && b == m;
    int direct_out = b == m;
    void *scratch = NULL, *scratch_mask = NULL;
    float *o = direct_out ? out + (size_t)off * (size_t)t->dim : NULL;
    int rc = CDX_OK;

    const float *px = NULL;
    const int64_t *ids = NULL, *mask = NULL;
    if (t->which == CDX_TOWER_VISION) {
        size_t row = (size_t)row_elems(t, 0);
        px = in->pixels + (size_t)off * row;
        if (!direct_in) {
            if (!(scratch = malloc((size_t)b * row * sizeof(float))))
                return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "vision batch of %d: out of memory", b);
            memcpy(scratch, px, (size_t)m * row * sizeof(float));
            fill_pad_rows(scratch, row * sizeof(float), m, b);
            px = scratch;
        }
    } else {
        ids = in->ids + (size_t)off * (size_t)in->seq;
        mask = in->mask ? in->mask + (size_t)off * (size_t)in->seq : NULL;
        if (t->io->n_inputs > 1 && !in->mask)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL, "text tower needs an attention mask");
        if (!direct_in) {
            size_t row = (size_t)seq * sizeof(int64_t);
            scratch = malloc((size_t)b * row);
            scratch_mask = malloc((size_t)b * row);
            if (!scratch || !scratch_mask) {
                rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "text batch of %d: out of memory", b);
                goto done;
            }
            for (int32_t r = 0; r < m; r++) {
                int64_t *di = (int64_t *)scratch + (size_t)r * (size_t)seq, *dm = (int64_t *)scratch_mask + (size_t)r * (size_t)seq;
                for (int32_t c = 0; c < seq; c++) {
                    int in_row = c < in->seq;
                    di[c] = in_row ? ids[(size_t)r * (size_t)in->seq + (size_t)c] : t->spec->text.pad_id;
                    dm[c] = in_row && mask ? mask[(size_t)r * (size_t)in->seq + (size_t)c] : (in_row && !mask);
                }
            }
            fill_pad_rows(scratch, row, m, b);
            fill_pad_rows(scratch_mask, row, m, b);
            ids = scratch;
            mask = scratch_mask;
        }
    }
    float *obuf = o;
    if (!obuf && !(obuf = malloc((size_t)b * (size_t)t->dim * sizeof(float)))) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "output of batch %d: out of memory", b);
        goto done;
    }
    rc = run_shaped(t, b, seq, px, ids, mask, obuf, m, eb);
    if (rc == CDX_OK && !o)
        memcpy(out + (size_t)off * (size_t)t->dim, obuf, (size_t)m * (size_t)t->dim * sizeof(float));
    if (!o)
        free(obuf);
done:
    free(scratch);
    free(scratch_mask);
    return rc;
}

int cdx_tower_run(cdx_tower *t, const cdx_tower_input *in, int32_t n, float *out, cdx_errbuf *eb)
{
    if (n < 1)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "%s tower: batch of %d rows", cdx_tower_name(t->which), n);
    if (t->which == CDX_TOWER_VISION && !in->pixels)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "vision tower: no pixels");
    if (t->which == CDX_TOWER_TEXT) {
        if (!in->ids)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL, "text tower: no token ids");
        if (in->seq < 1 || in->seq > t->spec->text.context_length)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL, "text tower: sequence length %d outside 1..%d", in->seq,
                                  t->spec->text.context_length);
        if (!t->pad_to_bucket && in->seq != t->spec->text.context_length)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL,
                                  "text tower: this contract pads to max_length (%d); got rows of %d",
                                  t->spec->text.context_length, in->seq);
    }
    int32_t max_b = t->spec->batch_buckets[t->spec->n_batch_buckets - 1];
    for (int32_t off = 0; off < n; off += max_b) {
        int32_t m = n - off < max_b ? n - off : max_b;
        int rc = run_chunk(t, in, off, m, out, eb);
        if (rc != CDX_OK)
            return rc;
    }
    return CDX_OK;
}

/* ---- opening ----------------------------------------------------------- */

static void placement_tap(void *ctx, const char *message) { cdx_placement_feed_log(ctx, message); }

/* Optimized-model cache path for this tower: keyed by the artifact's hash, the
 * ORT version, the optimization level, the provider spec and the CPU's
 * features (an ENABLE_ALL model may hold hardware-specific kernels). */
static void cache_path(const cdx_tower *t, const char *artifact_sha, const char *dir, int opt_level, char *out,
                       size_t cap)
{
    cdx_sysinfo si;
    cdx_sysinfo_read(&si);
    char key[2048];
    size_t n = (size_t)snprintf(key, sizeof key, "%s|%s|%d|%s|", artifact_sha, OrtGetApiBase()->GetVersionString(),
                                opt_level, t->report.spec);
    for (int i = 0; i < si.n_features && n < sizeof key; i++)
        n += (size_t)snprintf(key + n, sizeof key - n, "%s,", si.features[i]);
    uint8_t d[32];
    char hex[65];
    cdx_sha256_bytes(key, strlen(key), d);
    cdx_hex_encode(d, 32, hex);
    hex[16] = '\0';
    snprintf(out, cap, "%s/%s-%s.ort.onnx", dir, cdx_tower_name(t->which), hex);
}

static const char *artifact_sha(const cdx_contract_spec *s, const char *role)
{
    for (int i = 0; i < s->n_artifacts; i++)
        if (strcmp(s->artifacts[i].role, role) == 0)
            return s->artifacts[i].sha256;
    return "";
}

static const char *artifact_path(const cdx_contract_spec *s, const char *role)
{
    for (int i = 0; i < s->n_artifacts; i++)
        if (strcmp(s->artifacts[i].role, role) == 0)
            return s->artifacts[i].path;
    return NULL;
}

static int make_session_options(cdx_tower *t, const cdx_provider_spec *ps, const cdx_session_settings *ss,
                                 const cdx_ort_info *oi, const char *logid, const char *profile_prefix,
                                 const char *optimized_out, OrtSessionOptions **out, cdx_errbuf *eb)
{
    const OrtApi *api = cdx_ort();
    OrtSessionOptions *so = NULL;
    int rc = cdx_ort_check(api->CreateSessionOptions(&so), eb, "session options");
    if (rc != CDX_OK)
        return rc;
    rc = cdx_ort_check(api->SetIntraOpNumThreads(so, t->report.intra_threads), eb, "intra-op threads");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->SetInterOpNumThreads(so, t->report.inter_threads), eb, "inter-op threads");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->SetSessionExecutionMode(so, ORT_SEQUENTIAL), eb, "execution mode");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->SetSessionGraphOptimizationLevel(so, (GraphOptimizationLevel)t->report.opt_level), eb,
                           "optimization level");
    if (rc == CDX_OK)
        rc = cdx_ort_check(ss->arena ? api->EnableCpuMemArena(so) : api->DisableCpuMemArena(so), eb, "CPU arena");
    if (rc == CDX_OK && ss->spinning >= 0)
        rc = cdx_ort_check(api->AddSessionConfigEntry(so, "session.intra_op.allow_spinning", ss->spinning ? "1" : "0"),
                           eb, "spinning");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->SetSessionLogId(so, logid), eb, "session log id");
    if (rc == CDX_OK && profile_prefix) /* verbose only to read the placement lines */
        rc = cdx_ort_check(api->SetSessionLogSeverityLevel(so, ORT_LOGGING_LEVEL_VERBOSE), eb, "session log level");
    if (rc == CDX_OK && profile_prefix && *profile_prefix)
        rc = cdx_ort_check(api->EnableProfiling(so, profile_prefix), eb, "profiling");
    if (rc == CDX_OK && optimized_out)
        rc = cdx_ort_check(api->SetOptimizedModelFilePath(so, optimized_out), eb, "optimized model path");
    if (rc == CDX_OK)
        rc = cdx_provider_spec_apply(ps, so, oi->providers, oi->n_providers, t->report.used, sizeof t->report.used, eb);
    if (rc != CDX_OK) {
        api->ReleaseSessionOptions(so);
        return rc;
    }
    *out = so;
    return CDX_OK;
}

/* Reads ORT's profile file into the placement report and deletes it. */
static int collect_profile(cdx_tower *t, cdx_errbuf *eb)
{
    const OrtApi *api = cdx_ort();
    OrtAllocator *alloc = NULL;
    char *path = NULL;
    int rc = cdx_ort_check(api->GetAllocatorWithDefaultOptions(&alloc), eb, "allocator");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->SessionEndProfiling(t->session, alloc, &path), eb, "end profiling");
    if (rc != CDX_OK)
        return rc;
    FILE *f = fopen(path, "rb");
    if (!f) {
        rc = cdx_errbuf_set(eb, CDX_ERR_IO, "read ORT profile %s: %s", path, strerror(errno));
    } else {
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = malloc(n > 0 ? (size_t)n : 1);
        if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
            rc = cdx_placement_feed_profile(&t->report.placement, buf, (size_t)n, eb);
        else
            rc = cdx_errbuf_set(eb, CDX_ERR_IO, "read ORT profile %s", path);
        free(buf);
        fclose(f);
        unlink(path);
    }
    alloc->Free(alloc, path);
    return rc;
}

/* Runs each bucket once with inputs that are valid for the model. */
static int warm_up(cdx_tower *t, cdx_errbuf *eb)
{
    const cdx_contract_spec *s = t->spec;
    int n_seq = t->which == CDX_TOWER_TEXT ? (t->pad_to_bucket ? s->n_seq_buckets : 1) : 1;
    int32_t max_b = s->batch_buckets[s->n_batch_buckets - 1];
    int32_t max_seq = s->text.context_length;
    size_t cap = t->which == CDX_TOWER_VISION ? (size_t)max_b * (size_t)row_elems(t, 0) * sizeof(float)
                                              : (size_t)max_b * (size_t)max_seq * sizeof(int64_t);
    void *in = calloc(1, cap), *mask = calloc(1, cap);
    float *out = malloc((size_t)max_b * (size_t)t->dim * sizeof(float));
    int rc = CDX_OK;
    if (!in || !mask || !out) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "warm-up buffers: out of memory");
        goto done;
    }
    for (int si = 0; si < n_seq && rc == CDX_OK; si++) {
        int32_t seq = t->which == CDX_TOWER_TEXT ? (t->pad_to_bucket ? s->seq_buckets[si] : max_seq) : 0;
        if (t->which == CDX_TOWER_TEXT) {
            /* [bos] eos pad... with the mask over the real tokens */
            int64_t *ids = in, *mk = mask;
            for (int32_t r = 0; r < max_b; r++) {
                for (int32_t c = 0; c < seq; c++) {
                    int64_t *id = &ids[(size_t)r * (size_t)seq + (size_t)c];
                    int n_real = s->text.bos_id >= 0 ? 2 : 1;
                    *id = c < n_real ? (c == n_real - 1 ? s->text.eos_id : s->text.bos_id) : s->text.pad_id;
                    mk[(size_t)r * (size_t)seq + (size_t)c] = c < n_real;
                }
            }
        }
        for (int bi = 0; bi < s->n_batch_buckets && rc == CDX_OK; bi++) {
            int32_t b = s->batch_buckets[bi];
            rc = run_shaped(t, b, seq, in, in, mask, out, b, eb);
        }
    }
done:
    free(in);
    free(mask);
    free(out);
    return rc;
}

static void log_report(const cdx_tower *t)
{
    const cdx_tower_report *r = &t->report;
    char placement[1024];
    cdx_placement_format(&r->placement, placement, sizeof placement);
    cdx_log_info("encoder",
                 "%s tower: providers asked '%s'; ORT has %s; using %s; threads %d intra / %d inter; opt %s; "
                 "session created in %.1f ms%s",
                 cdx_tower_name(t->which), r->spec, r->available, r->used, r->intra_threads, r->inter_threads,
                 cdx_opt_level_name(r->opt_level), cdx_ns_to_ms(r->create_ns),
                 r->cache_hit == 1 ? " (optimized-model cache hit)" : r->cache_hit == 0 ? " (cache miss, saved)" : "");
    if (r->placement.n_eps)
        cdx_log_info("encoder", "%s tower placement (%s): %s; CPU fallback %.1f%% of nodes, %.1f%% of time",
                     cdx_tower_name(t->which),
                     r->placement.profiled_runs ? (r->placement.nodes_from_log ? "ORT placement log + profile" : "profile")
                                                : "ORT placement log; no warm-up, so no time shares",
                     placement, 100 * r->placement.fallback_by_nodes, 100 * r->placement.fallback_by_time);
    for (int i = 0; i < t->n_buckets; i++)
        cdx_log_info("encoder", "%s tower bucket batch=%d%s%.0d: first run (compile) %.1f ms", cdx_tower_name(t->which),
                     t->buckets[i].batch, t->which == CDX_TOWER_TEXT ? " seq=" : "",
                     t->which == CDX_TOWER_TEXT ? t->buckets[i].seq : 0, cdx_ns_to_ms(t->buckets[i].cold_ns));
}

static int check_fallback(cdx_tower *t, double limit, cdx_errbuf *eb)
{
    const cdx_placement_report *p = &t->report.placement;
    double worst = p->fallback_by_nodes > p->fallback_by_time ? p->fallback_by_nodes : p->fallback_by_time;
    if (worst <= limit + 1e-12)
        return CDX_OK;
    return cdx_errbuf_set(eb, CDX_ERR_FALLBACK,
                          "%s tower: %.1f%% of nodes and %.1f%% of run time fell back to the CPU provider (primary %s), "
                          "above the allowed %.1f%%; run with --log-level debug to see ORT's node placement, choose "
                          "another provider or model variant, or raise --max-fallback",
                          cdx_tower_name(t->which), 100 * p->fallback_by_nodes, 100 * p->fallback_by_time, p->primary,
                          100 * limit);
}

static int create_session(cdx_tower *t, const cdx_provider_spec *ps, const cdx_session_settings *ss,
                          const cdx_ort_info *oi, const char *model, const char *optimized_out, int capture,
                          int profile, cdx_errbuf *eb)
{
    const OrtApi *api = cdx_ort();
    void *env = NULL;
    int rc = cdx_ort_env_get(&env, eb);
    if (rc != CDX_OK)
        return rc;
    char logid[64], prefix[512] = "";
    snprintf(logid, sizeof logid, "cdx-%s-%d", cdx_tower_name(t->which), atomic_fetch_add(&g_tower_seq, 1));
    if (profile) {
        const char *tmp = getenv("TMPDIR");
        snprintf(prefix, sizeof prefix, "%s/clipdex-%s-%d", tmp && *tmp ? tmp : "/tmp", logid, (int)getpid());
    }
    OrtSessionOptions *so = NULL;
    cdx_placement_init(&t->report.placement);
    /* prefix NULL: no placement capture; "": the placement log only; a path: also profile */
    rc = make_session_options(t, ps, ss, oi, logid, capture ? prefix : NULL, optimized_out, &so, eb);
    if (rc != CDX_OK)
        return rc;
    int tapped = capture && cdx_ort_log_tap_add(logid, placement_tap, &t->report.placement) == CDX_OK;
    int64_t t0 = cdx_clock_ns();
    rc = cdx_ort_check(api->CreateSession(env, model, so, &t->session), eb, "%s tower: load %s",
                       cdx_tower_name(t->which), model);
    t->report.create_ns = cdx_clock_ns() - t0;
    if (tapped)
        cdx_ort_log_tap_remove(logid);
    api->ReleaseSessionOptions(so);
    return rc;
}

int cdx_tower_open(const cdx_contract_spec *spec, enum cdx_tower_kind which, const cdx_tower_params *params,
                   cdx_tower **out, cdx_errbuf *eb)
{
    *out = NULL;
    cdx_tower_params p = params ? *params : cdx_tower_default_params();
    const OrtApi *api = cdx_ort();
    if (!api)
        return cdx_ort_env_get(&(void *){NULL}, eb);
    cdx_tower *t = calloc(1, sizeof *t);
    if (!t)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "tower: out of memory");
    pthread_mutex_init(&t->mu, NULL);
    t->spec = spec;
    t->which = which;
    t->io = &spec->towers[which];
    t->dim = spec->dim;
    t->pad_to_bucket = which == CDX_TOWER_TEXT && spec->text.padding == CDX_PADDING_BUCKET;
    t->report.which = which;
    t->report.cache_hit = -1;

    cdx_provider_spec ps;
    cdx_session_settings ss;
    cdx_ort_info oi;
    char optimized_tmp[CDX_CONTRACT_PATH_MAX + 16] = "", cached[CDX_CONTRACT_PATH_MAX] = "";
    const char *model = p.model_path ? p.model_path
                                     : artifact_path(spec, which == CDX_TOWER_VISION ? "vision_model" : "text_model");
    int rc = cdx_provider_spec_parse(p.providers ? p.providers : "cpu", &ps, eb);
    if (rc == CDX_OK)
        rc = cdx_provider_session_settings(&ps, &ss, eb);
    if (rc == CDX_OK)
        rc = cdx_ort_info_read(&oi, eb);
    if (rc != CDX_OK)
        goto fail;
    if (!model) {
        rc = cdx_errbuf_set(eb, CDX_ERR_CONTRACT, "%s: no %s_model artifact", spec->file, cdx_tower_name(which));
        goto fail;
    }
    if (t->io->n_inputs < 1 || t->io->n_outputs < 1 || (which == CDX_TOWER_TEXT && t->io->n_inputs > 2)) {
        rc = cdx_errbuf_set(eb, CDX_ERR_CONTRACT, "%s: the %s tower's signature has %d inputs and %d outputs",
                            spec->file, cdx_tower_name(which), t->io->n_inputs, t->io->n_outputs);
        goto fail;
    }
    cdx_provider_spec_format(&ps, t->report.spec, sizeof t->report.spec);
    for (int i = 0, n = 0; i < oi.n_providers; i++)
        n += snprintf(t->report.available + n, sizeof t->report.available - (size_t)n, "%s%s", i ? "," : "",
                      oi.providers[i]);
    cdx_threads_budget budget; /* the process's thread budget decides when neither the spec nor the caller does */
    cdx_threads_current(&budget);
    t->report.intra_threads = ss.intra_threads ? ss.intra_threads : p.threads ? p.threads : budget.ort_intra;
    t->report.inter_threads = ss.inter_threads;
    t->report.opt_level = ss.opt_level;

    if (ss.cache_dir[0] && !p.model_path) {
        mkdir(ss.cache_dir, 0755);
        cache_path(t, artifact_sha(spec, which == CDX_TOWER_VISION ? "vision_model" : "text_model"), ss.cache_dir,
                   ss.opt_level, cached, sizeof cached);
        if (access(cached, R_OK) == 0) {
            t->report.cache_hit = 1;
        } else {
            t->report.cache_hit = 0;
            snprintf(optimized_tmp, sizeof optimized_tmp, "%s.tmp%d", cached, (int)getpid());
        }
    }
    snprintf(t->report.model_path, sizeof t->report.model_path, "%s", t->report.cache_hit == 1 ? cached : model);
    /* Placement comes from ORT's log at creation; time shares need the
     * profiled warm-up. */
    int capture = p.report_placement, profile = p.report_placement && p.warmup;
    rc = create_session(t, &ps, &ss, &oi, t->report.model_path, optimized_tmp[0] ? optimized_tmp : NULL, capture,
                        profile, eb);
    if (rc != CDX_OK && t->report.cache_hit == 1) {
        /* A cached model that no longer loads is dropped, never trusted. */
        cdx_log_warn("encoder", "optimized-model cache %s does not load (%s); removing it and loading %s", cached,
                     cdx_errbuf_msg(eb), model);
        unlink(cached);
        t->report.cache_hit = 0;
        snprintf(t->report.model_path, sizeof t->report.model_path, "%s", model);
        rc = create_session(t, &ps, &ss, &oi, model, NULL, capture, profile, eb);
    }
    if (optimized_tmp[0]) {
        if (rc == CDX_OK && rename(optimized_tmp, cached) != 0)
            cdx_log_warn("encoder", "optimized-model cache: rename %s: %s", optimized_tmp, strerror(errno));
        unlink(optimized_tmp);
    }
    if (rc != CDX_OK)
        goto fail;
    rc = cdx_ort_check(api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &t->mem), eb, "memory info");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->CreateRunOptions(&t->run_opts), eb, "run options");
    if (rc == CDX_OK)
        rc = cdx_ort_check(api->RunOptionsSetRunLogSeverityLevel(t->run_opts, ORT_LOGGING_LEVEL_WARNING), eb,
                           "run log level");
    if (rc == CDX_OK && p.warmup)
        rc = warm_up(t, eb);
    if (rc == CDX_OK && profile)
        rc = collect_profile(t, eb);
    if (rc != CDX_OK)
        goto fail;
    /* The primary provider is the first one actually used. */
    int primary = cdx_provider_from_name(t->report.used, strcspn(t->report.used, ","));
    cdx_placement_finish(&t->report.placement,
                         cdx_provider_ort_name(primary >= 0 ? (enum cdx_provider)primary : CDX_PROVIDER_CPU));
    log_report(t);
    double limit = p.max_fallback >= 0 ? p.max_fallback : spec->thresholds.max_fallback;
    if (capture && (rc = check_fallback(t, limit, eb)) != CDX_OK)
        goto fail;
    *out = t;
    return CDX_OK;
fail:
    cdx_tower_close(t);
    return rc;
}

void cdx_tower_close(cdx_tower *t)
{
    if (!t)
        return;
    const OrtApi *api = cdx_ort();
    if (t->session)
        api->ReleaseSession(t->session);
    if (t->run_opts)
        api->ReleaseRunOptions(t->run_opts);
    if (t->mem)
        api->ReleaseMemoryInfo(t->mem);
    for (int i = 0; i < t->n_buckets; i++)
        cdx_histogram_free(t->buckets[i].warm);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

void cdx_tower_get_report(cdx_tower *t, cdx_tower_report *out)
{
    pthread_mutex_lock(&t->mu);
    *out = t->report;
    out->n_buckets = t->n_buckets;
    for (int i = 0; i < t->n_buckets; i++) {
        const struct bucket *b = &t->buckets[i];
        cdx_histogram_summary hs;
        cdx_histogram_summarize(b->warm, &hs);
        out->buckets[i] = (cdx_tower_bucket_stats){
            .batch = b->batch,
            .seq = b->seq,
            .cold_ns = b->cold_ns,
            .warm_runs = hs.count,
            .warm_p50_ms = hs.p50_ms,
            .warm_p95_ms = hs.p95_ms,
            .warm_p99_ms = hs.p99_ms,
            .warm_mean_ms = hs.mean_ms,
            .rows = b->rows,
            .padded_rows = b->padded_rows,
        };
    }
    pthread_mutex_unlock(&t->mu);
    out->busy_ns = atomic_load(&t->busy_ns);
}
