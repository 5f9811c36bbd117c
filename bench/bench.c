/* The benchmark runner (see bench.h). Order of work: for each provider spec,
 * threads and optimization level (a "config"), for each tower: time session
 * creation, open the tower on a copy of the contract whose buckets are the
 * benchmark's (the tower's profiled warm-up gives each bucket's cold run and
 * the placement), optionally time creation from the optimized-model cache,
 * then run each bucket for the duration, timing every run. Inputs are made
 * once per bucket, outside the timed region. */
#include "bench/bench.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/sysinfo.h"
#include "common/util.h"
#include "encoder/ort_env.h"
#include "encoder/providers.h"
#include "encoder/tower.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

cdx_bench_params cdx_bench_default_params(void)
{
    return (cdx_bench_params){
        .duration_s = 2.0,
        .min_runs = 6,
        .blocks = 5,
        .measure_cache = 1,
        .thresholds = {.max_fallback = -1, .min_speedup = -1, .max_cold_warm_ratio = -1, .max_drift = -1,
                       .min_int8_speedup = 0},
    };
}

int32_t cdx_bench_opt_from_name(const char *name)
{
    char text[64];
    cdx_provider_spec ps;
    cdx_session_settings ss;
    cdx_errbuf eb = {0};
    if (strchr(name, ',') || strchr(name, ';') || snprintf(text, sizeof text, "cpu:opt=%s", name) >= (int)sizeof text)
        return -1;
    if (cdx_provider_spec_parse(text, &ps, &eb) != CDX_OK || cdx_provider_session_settings(&ps, &ss, &eb) != CDX_OK)
        return -1;
    return ss.opt_level;
}

static int entry_set(cdx_provider_entry *e, const char *key, const char *value)
{
    for (int i = 0; i < e->n_options; i++)
        if (strcmp(e->options[i].key, key) == 0) {
            snprintf(e->options[i].value, sizeof e->options[i].value, "%s", value);
            return 0;
        }
    if (e->n_options == CDX_PROVIDER_MAX_OPTIONS)
        return -1;
    cdx_provider_option *o = &e->options[e->n_options++];
    snprintf(o->key, sizeof o->key, "%s", key);
    snprintf(o->value, sizeof o->value, "%s", value);
    return 0;
}

int cdx_bench_sweep_spec(const char *base, int32_t threads, int32_t opt_level, char *out, size_t cap, cdx_errbuf *eb)
{
    cdx_provider_spec ps;
    int rc = cdx_provider_spec_parse(base, &ps, eb);
    if (rc != CDX_OK)
        return rc;
    cdx_provider_entry *cpu = NULL;
    for (int i = 0; i < ps.n_entries; i++)
        if (ps.entries[i].provider == CDX_PROVIDER_CPU)
            cpu = &ps.entries[i];
    if ((threads > 0 || opt_level >= 0) && !cpu)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL,
                              "provider spec '%s' has no cpu entry: threads and the optimization level are options of "
                              "the cpu entry, so --threads/--opt cannot be swept for it (add ';cpu' or drop them)",
                              base);
    char v[32];
    if (threads > 0) {
        snprintf(v, sizeof v, "%d", threads);
        if (entry_set(cpu, "threads", v) != 0)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec '%s': too many cpu options", base);
    }
    if (opt_level >= 0 && entry_set(cpu, "opt", cdx_opt_level_name(opt_level)) != 0)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "provider spec '%s': too many cpu options", base);
    cdx_provider_spec_format(&ps, out, cap);
    return CDX_OK;
}

/* ---- the matrix --------------------------------------------------------- */

struct plan {
    const char *specs[CDX_BENCH_MAX_SPECS];
    int n_specs;
    int32_t threads[CDX_BENCH_MAX_SWEEP], opt[CDX_BENCH_MAX_SWEEP];
    int n_threads, n_opt;
    int towers[2], n_towers;
    cdx_contract_spec *spec[2]; /* per tower: the contract with the benchmark's buckets */
    int32_t cells_per_config;
};

static int sorted_unique(int32_t *v, int32_t n)
{
    for (int32_t i = 1; i < n; i++)
        for (int32_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int32_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++)
        if (k == 0 || v[i] != v[k - 1])
            v[k++] = v[i];
    return k;
}

static int32_t tower_cells(const cdx_contract_spec *s, int which)
{
    return which == CDX_TOWER_VISION ? s->n_batch_buckets
                                     : s->n_batch_buckets * (s->text.padding == CDX_PADDING_BUCKET ? s->n_seq_buckets : 1);
}

static void plan_free(struct plan *pl)
{
    free(pl->spec[0]);
    free(pl->spec[1]);
}

static int plan_make(const cdx_contract *c, const cdx_bench_params *p, struct plan *pl, cdx_errbuf *eb)
{
    memset(pl, 0, sizeof *pl);
    const cdx_contract_spec *cs = cdx_contract_get(c);
    static const char *const cpu_only[] = {"cpu"};
    const char *const *specs = p->n_providers > 0 ? p->providers : cpu_only;
    pl->n_specs = p->n_providers > 0 ? CDX_MIN(p->n_providers, CDX_BENCH_MAX_SPECS) : 1;
    for (int i = 0; i < pl->n_specs; i++)
        pl->specs[i] = specs[i];
    pl->n_threads = p->n_threads > 0 ? CDX_MIN(p->n_threads, CDX_BENCH_MAX_SWEEP) : 1;
    pl->n_opt = p->n_opt > 0 ? CDX_MIN(p->n_opt, CDX_BENCH_MAX_SWEEP) : 1;
    for (int i = 0; i < pl->n_threads; i++)
        pl->threads[i] = p->n_threads > 0 ? p->threads[i] : 0;
    for (int i = 0; i < pl->n_opt; i++)
        pl->opt[i] = p->n_opt > 0 ? p->opt[i] : -1;
    for (int w = 0; w < 2; w++)
        if (!p->towers || (p->towers & (1 << w)))
            pl->towers[pl->n_towers++] = w;
    for (int i = 0; i < pl->n_towers; i++) {
        int w = pl->towers[i];
        cdx_contract_spec *s = malloc(sizeof *s);
        if (!s)
            return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "bench: out of memory");
        *s = *cs;
        pl->spec[w] = s;
        if (p->n_batch > 0) {
            memcpy(s->batch_buckets, p->batch, (size_t)p->n_batch * sizeof(int32_t));
            s->n_batch_buckets = sorted_unique(s->batch_buckets, p->n_batch);
        }
        for (int32_t b = 0; b < s->n_batch_buckets; b++)
            if (s->batch_buckets[b] < 1 || s->batch_buckets[b] > 4096)
                return cdx_errbuf_set(eb, CDX_ERR_INVAL, "--batch %d: expected 1..4096", s->batch_buckets[b]);
        if (w == CDX_TOWER_TEXT && p->n_seq > 0) {
            if (s->text.padding != CDX_PADDING_BUCKET) {
                cdx_log_warn("bench", "%s pads text to max_length (%d): --seq is ignored, the text tower runs at %d",
                             cs->id, s->text.context_length, s->text.context_length);
            } else {
                memcpy(s->seq_buckets, p->seq, (size_t)p->n_seq * sizeof(int32_t));
                s->n_seq_buckets = sorted_unique(s->seq_buckets, p->n_seq);
                for (int32_t q = 0; q < s->n_seq_buckets; q++)
                    if (s->seq_buckets[q] < 2 || s->seq_buckets[q] > s->text.context_length)
                        return cdx_errbuf_set(eb, CDX_ERR_INVAL,
                                              "--seq %d: %s takes sequences of 2..%d tokens (its context length)",
                                              s->seq_buckets[q], cs->id, s->text.context_length);
            }
        }
        pl->cells_per_config += tower_cells(s, w);
    }
    return CDX_OK;
}

int32_t cdx_bench_count_cells(const cdx_contract *c, const cdx_bench_params *p, cdx_errbuf *eb)
{
    struct plan pl;
    int rc = plan_make(c, p, &pl, eb);
    int32_t n = rc == CDX_OK ? pl.n_specs * pl.n_threads * pl.n_opt * pl.cells_per_config : -1;
    plan_free(&pl);
    return n;
}

/* ---- one tower of one config ------------------------------------------- */

struct ctx {
    const cdx_contract_spec *cs; /* the contract as loaded */
    const cdx_bench_params *p;
    cdx_bench_cards *out;
    int32_t cell, n_cells;
    cdx_sysinfo si;
    char features[384];
    char ort_version[32];
};

static void card_base(const struct ctx *x, const cdx_contract_spec *s, int which, const char *base,
                      const char *spec, cdx_bench_card *c)
{
    memset(c, 0, sizeof *c);
    const cdx_bench_params *p = x->p;
    snprintf(c->clipdex_version, sizeof c->clipdex_version, "%s", p->clipdex_version ? p->clipdex_version : "");
    snprintf(c->git_revision, sizeof c->git_revision, "%s", p->git_revision ? p->git_revision : "");
    snprintf(c->ort_version, sizeof c->ort_version, "%s", x->ort_version);
    snprintf(c->contract_id, sizeof c->contract_id, "%s", s->id);
    snprintf(c->contract_version, sizeof c->contract_version, "%s", s->version);
    snprintf(c->family, sizeof c->family, "%s", cdx_family_name(s->family));
    snprintf(c->variant, sizeof c->variant, "%s", s->variant == CDX_VARIANT_INT8 ? "int8" : "fp32");
    c->opset = s->onnx_opset;
    c->ir_version = s->onnx_ir_version;
    snprintf(c->space_hash, sizeof c->space_hash, "%s", s->space_hash);
    const char *role = which == CDX_TOWER_VISION ? "vision_model" : "text_model";
    for (int i = 0; i < s->n_artifacts; i++)
        if (strcmp(s->artifacts[i].role, role) == 0)
            snprintf(c->artifact_sha256, sizeof c->artifact_sha256, "%s", s->artifacts[i].sha256);
    snprintf(c->tower, sizeof c->tower, "%s", cdx_tower_name((enum cdx_tower_kind)which));
    snprintf(c->base_providers, sizeof c->base_providers, "%s", base);
    snprintf(c->providers, sizeof c->providers, "%s", spec);
    const cdx_bench_thresholds *t = &p->thresholds;
    c->thresholds.max_fallback = t->max_fallback >= 0 ? t->max_fallback : s->thresholds.max_fallback;
    c->thresholds.min_speedup = t->min_speedup >= 0 ? t->min_speedup : s->thresholds.min_speedup;
    c->thresholds.max_cold_warm_ratio =
        t->max_cold_warm_ratio >= 0 ? t->max_cold_warm_ratio : s->thresholds.max_cold_warm_ratio;
    c->thresholds.max_drift = t->max_drift >= 0 ? t->max_drift : s->thresholds.max_drift;
    c->thresholds.min_int8_speedup = t->min_int8_speedup > 0 ? t->min_int8_speedup : 0;
    snprintf(c->cpu_model, sizeof c->cpu_model, "%s", x->si.cpu_model);
    snprintf(c->cpu_features, sizeof c->cpu_features, "%s", x->features);
    c->cores = x->si.cores_usable;
    c->create_cached_ms = -1;
}

static void report_into_card(const cdx_tower_report *r, cdx_bench_card *c)
{
    snprintf(c->used, sizeof c->used, "%s", r->used);
    c->threads = r->intra_threads;
    c->inter_threads = r->inter_threads;
    snprintf(c->opt, sizeof c->opt, "%s", cdx_opt_level_name(r->opt_level));
    c->create_ms = cdx_ns_to_ms(r->create_ns);
    const cdx_placement_report *pl = &r->placement;
    c->fallback_by_nodes = pl->fallback_by_nodes;
    c->fallback_by_time = pl->fallback_by_time;
    c->fallback_detected = pl->fallback_by_nodes > 0 || pl->fallback_by_time > 0;
    c->n_eps = CDX_MIN(pl->n_eps, CDX_BENCH_MAX_EPS);
    for (int i = 0; i < c->n_eps; i++) {
        snprintf(c->eps[i].provider, sizeof c->eps[i].provider, "%s", pl->eps[i].provider);
        c->eps[i].nodes = pl->eps[i].nodes;
        c->eps[i].partitions = pl->eps[i].partitions;
        c->eps[i].time_share = pl->eps[i].time_share;
    }
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4352];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
            }
        closedir(d);
    }
    rmdir(dir);
}

/* Session creation from ORT's optimized-model cache: one open to fill a
 * fresh cache, one that hits it. -1 when the spec cannot take a cache or the
 * second open did not hit. */
static double cached_create_ms(const cdx_contract_spec *s, int which, const char *spec, int32_t threads)
{
    const char *tmp = getenv("TMPDIR");
    char dir[512], with_cache[1024];
    snprintf(dir, sizeof dir, "%s/clipdex-bench-cache.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    double ms = -1;
    cdx_errbuf eb = {0};
    cdx_provider_spec ps;
    cdx_provider_entry *cpu = NULL;
    if (cdx_provider_spec_parse(spec, &ps, &eb) == CDX_OK)
        for (int i = 0; i < ps.n_entries; i++)
            if (ps.entries[i].provider == CDX_PROVIDER_CPU)
                cpu = &ps.entries[i];
    if (cpu && entry_set(cpu, "cache", dir) == 0) {
        cdx_provider_spec_format(&ps, with_cache, sizeof with_cache);
        cdx_tower_params tp = cdx_tower_default_params();
        tp.providers = with_cache;
        tp.threads = threads;
        tp.warmup = 0;
        tp.report_placement = 0;
        tp.max_fallback = 1;
        for (int pass = 0; pass < 2; pass++) {
            cdx_tower *t = NULL;
            if (cdx_tower_open(s, (enum cdx_tower_kind)which, &tp, &t, &eb) != CDX_OK) {
                cdx_log_warn("bench", "optimized-model cache timing skipped: %s", cdx_errbuf_msg(&eb));
                break;
            }
            cdx_tower_report r;
            cdx_tower_get_report(t, &r);
            if (pass == 1 && r.cache_hit == 1)
                ms = cdx_ns_to_ms(r.create_ns);
            cdx_tower_close(t);
        }
    }
    remove_dir(dir);
    return ms;
}

/* Deterministic inputs that are valid for the model: pixels in [-1, 1);
 * token rows [bos] unk... eos with a full mask. */
static int make_inputs(const cdx_contract_spec *s, int which, int32_t batch, int32_t seq, void **in, int64_t **mask)
{
    *in = NULL;
    *mask = NULL;
    if (which == CDX_TOWER_VISION) {
        size_t n = (size_t)batch * 3 * (size_t)s->image.height * (size_t)s->image.width;
        float *px = malloc(n * sizeof *px);
        if (!px)
            return CDX_ERR_NOMEM;
        uint32_t x = 12345;
        for (size_t i = 0; i < n; i++) {
            x = x * 1664525u + 1013904223u;
            px[i] = (float)(x >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
        }
        *in = px;
        return CDX_OK;
    }
    size_t n = (size_t)batch * (size_t)seq;
    int64_t *ids = malloc(n * sizeof *ids), *mk = malloc(n * sizeof *mk);
    if (!ids || !mk) {
        free(ids);
        free(mk);
        return CDX_ERR_NOMEM;
    }
    for (int32_t r = 0; r < batch; r++)
        for (int32_t c = 0; c < seq; c++) {
            int64_t id = s->text.unk_id;
            if (c == 0 && s->text.bos_id >= 0)
                id = s->text.bos_id;
            if (c == seq - 1)
                id = s->text.eos_id;
            ids[(size_t)r * (size_t)seq + (size_t)c] = id;
            mk[(size_t)r * (size_t)seq + (size_t)c] = 1;
        }
    *in = ids;
    *mask = mk;
    return CDX_OK;
}

static void progress(struct ctx *x, const cdx_bench_card *c, int phase, double elapsed, uint64_t runs, double last_ms)
{
    if (!x->p->progress)
        return;
    cdx_bench_progress pr = {
        .cell = x->cell,
        .n_cells = x->n_cells,
        .contract_id = c->contract_id,
        .tower = c->tower,
        .providers = c->providers,
        .batch = c->batch,
        .seq = c->seq,
        .elapsed_s = elapsed,
        .duration_s = x->p->duration_s,
        .runs = runs,
        .last_ms = last_ms,
        .phase = phase,
    };
    x->p->progress(x->p->progress_ctx, &pr);
}

static int stopped(const struct ctx *x) { return x->p->stop && *x->p->stop; }

/* Steady state of one bucket: run until the duration has passed and at
 * least min_runs runs were made (or stop), timing each run. */
static int measure_bucket(struct ctx *x, cdx_tower *t, const cdx_contract_spec *s, int which, cdx_bench_card *c,
                          cdx_errbuf *eb)
{
    void *in = NULL;
    int64_t *mask = NULL;
    float *out = malloc((size_t)c->batch * (size_t)s->dim * sizeof(float));
    size_t cap = 1024, n = 0;
    double *samples = malloc(cap * sizeof *samples);
    int rc = make_inputs(s, which, c->batch, c->seq, &in, &mask);
    if (rc != CDX_OK || !out || !samples) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "bench inputs for batch %d: out of memory", c->batch);
        goto done;
    }
    cdx_tower_input ti = {.pixels = which == CDX_TOWER_VISION ? in : NULL,
                          .ids = which == CDX_TOWER_TEXT ? in : NULL,
                          .mask = mask,
                          .seq = c->seq};
    int64_t start = cdx_clock_ns(), last_progress = start, dur = (int64_t)(x->p->duration_s * 1e9);
    uint64_t rss = 0;
    for (;;) {
        int64_t now = cdx_clock_ns();
        if (stopped(x)) {
            c->interrupted = 1;
            break;
        }
        if (now - start >= dur && (int32_t)n >= x->p->min_runs)
            break;
        int64_t t0 = cdx_clock_ns();
        if ((rc = cdx_tower_run(t, &ti, c->batch, out, eb)) != CDX_OK)
            goto done;
        int64_t t1 = cdx_clock_ns();
        if (n == cap) {
            double *ns = realloc(samples, (cap *= 2) * sizeof *ns);
            if (!ns) {
                rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "bench samples: out of memory");
                goto done;
            }
            samples = ns;
        }
        samples[n++] = cdx_ns_to_ms(t1 - t0);
        uint64_t r = cdx_current_rss_bytes();
        rss = r > rss ? r : rss;
        if (t1 - last_progress > 250000000) {
            last_progress = t1;
            progress(x, c, 1, (double)(t1 - start) / 1e9, n, samples[n - 1]);
        }
    }
    c->duration_s = (double)(cdx_clock_ns() - start) / 1e9;
    c->runs = n;
    c->rows = (uint64_t)n * (uint64_t)c->batch;
    c->throughput = c->duration_s > 0 && n ? (double)c->rows / c->duration_s : 0;
    c->rss_peak_bytes = rss;
    cdx_bench_summary sum;
    if (cdx_bench_summarize(samples, n, x->p->blocks, &sum) != 0) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "bench summary: out of memory");
        goto done;
    }
    c->warm_min_ms = sum.min_ms;
    c->warm_mean_ms = sum.mean_ms;
    c->warm_p50_ms = sum.p50_ms;
    c->warm_p95_ms = sum.p95_ms;
    c->warm_p99_ms = sum.p99_ms;
    c->warm_max_ms = sum.max_ms;
    c->drift = sum.drift;
    c->noise_p50 = sum.noise_p50;
    c->noise_p95 = sum.noise_p95;
    c->n_blocks = sum.n_blocks;
    memcpy(c->block_p50_ms, sum.block_p50_ms, sizeof c->block_p50_ms);
    memcpy(c->block_p95_ms, sum.block_p95_ms, sizeof c->block_p95_ms);
    c->hist = sum.hist;
done:
    free(in);
    free(mask);
    free(out);
    free(samples);
    return rc;
}

/* Opens one tower for one config and measures its buckets. Errors opening
 * the tower become error cards; a failed run ends the tower's cells the same way. */
static int bench_tower(struct ctx *x, const struct plan *pl, int which, const char *base, const char *spec,
                       int32_t threads)
{
    const cdx_contract_spec *s = pl->spec[which];
    int32_t n_seq = which == CDX_TOWER_TEXT && s->text.padding == CDX_PADDING_BUCKET ? s->n_seq_buckets : 1;
    cdx_bench_card proto;
    card_base(x, s, which, base, spec, &proto);
    proto.batch = s->batch_buckets[0];
    proto.seq = which == CDX_TOWER_TEXT ? (n_seq > 1 ? s->seq_buckets[0] : s->text.context_length) : 0;
    x->cell++;
    progress(x, &proto, 0, 0, 0, 0);

    cdx_tower_params tp = cdx_tower_default_params();
    tp.providers = spec;
    tp.threads = threads;
    tp.max_fallback = 1; /* measured and judged by the verdicts, never refused here */
    cdx_tower *t = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_tower_open(s, (enum cdx_tower_kind)which, &tp, &t, &eb);
    cdx_tower_report *rep = calloc(1, sizeof *rep);
    if (!rep) {
        cdx_tower_close(t);
        return CDX_ERR_NOMEM;
    }
    if (rc == CDX_OK) {
        cdx_tower_get_report(t, rep);
        report_into_card(rep, &proto);
        if (x->p->measure_cache)
            proto.create_cached_ms = cached_create_ms(s, which, spec, threads);
    }
    int first = 1;
    for (int32_t q = 0; q < n_seq; q++) {
        for (int32_t b = 0; b < s->n_batch_buckets; b++) {
            if (!first)
                x->cell++;
            first = 0;
            cdx_bench_card c = proto;
            c.batch = s->batch_buckets[b];
            c.seq = which == CDX_TOWER_TEXT ? (n_seq > 1 ? s->seq_buckets[q] : s->text.context_length) : 0;
            if (rc == CDX_OK) {
                for (int i = 0; i < rep->n_buckets; i++)
                    if (rep->buckets[i].batch == c.batch && rep->buckets[i].seq == c.seq)
                        c.cold_ms = cdx_ns_to_ms(rep->buckets[i].cold_ns);
                if (!stopped(x))
                    rc = measure_bucket(x, t, s, which, &c, &eb);
                else
                    c.interrupted = 1;
            }
            if (rc != CDX_OK) {
                snprintf(c.error, sizeof c.error, "%s", cdx_errbuf_msg(&eb));
                cdx_log_error("bench", "%s %s tower, %s: %s", s->id, c.tower, spec, c.error);
            }
            progress(x, &c, 2, c.duration_s, c.runs, c.warm_p50_ms);
            if ((!c.interrupted || c.runs > 0) && cdx_bench_cards_add(x->out, &c) != CDX_OK) {
                free(rep);
                cdx_tower_close(t);
                return CDX_ERR_NOMEM;
            }
            if (stopped(x))
                goto done;
        }
    }
done:
    free(rep);
    cdx_tower_close(t);
    return stopped(x) ? CDX_ERR_INTERRUPTED : CDX_OK;
}

int cdx_bench_run(const cdx_contract *c, const cdx_bench_params *params, cdx_bench_cards *out, cdx_errbuf *eb)
{
    cdx_bench_params p = params ? *params : cdx_bench_default_params();
    struct plan pl;
    struct ctx *x = calloc(1, sizeof *x);
    int rc = x ? plan_make(c, &p, &pl, eb) : cdx_errbuf_set(eb, CDX_ERR_NOMEM, "bench: out of memory");
    if (rc != CDX_OK) {
        if (x)
            plan_free(&pl);
        free(x);
        return rc;
    }
    x->cs = cdx_contract_get(c);
    x->p = &p;
    x->out = out;
    x->n_cells = pl.n_specs * pl.n_threads * pl.n_opt * pl.cells_per_config;
    cdx_sysinfo_read(&x->si);
    for (int i = 0, n = 0; i < x->si.n_features; i++)
        n += snprintf(x->features + n, sizeof x->features - (size_t)n, "%s%s", i ? " " : "", x->si.features[i]);
    cdx_ort_info oi;
    if (cdx_ort_info_read(&oi, eb) == CDX_OK)
        snprintf(x->ort_version, sizeof x->ort_version, "%s", oi.version);

    /* Validate every sweep point before measuring anything. */
    char spec[512];
    for (int i = 0; i < pl.n_specs && rc == CDX_OK; i++)
        rc = cdx_bench_sweep_spec(pl.specs[i], pl.threads[0], pl.opt[0], spec, sizeof spec, eb);
    for (int i = 0; i < pl.n_specs && rc == CDX_OK; i++)
        for (int th = 0; th < pl.n_threads && rc == CDX_OK; th++)
            for (int o = 0; o < pl.n_opt && rc == CDX_OK; o++) {
                rc = cdx_bench_sweep_spec(pl.specs[i], pl.threads[th], pl.opt[o], spec, sizeof spec, eb);
                for (int w = 0; w < pl.n_towers && rc == CDX_OK; w++)
                    rc = bench_tower(x, &pl, pl.towers[w], pl.specs[i], spec, pl.threads[th]);
            }
    if (rc == CDX_ERR_INTERRUPTED)
        cdx_errbuf_set(eb, rc, "interrupted: kept the %d cells measured so far", x->cell);
    else if (rc == CDX_ERR_NOMEM)
        cdx_errbuf_set(eb, rc, "bench: out of memory");
    plan_free(&pl);
    free(x);
    return rc;
}
