/* The benchmark report (see report.h): HTML with inline SVG, drawn here from
 * the cards alone, so a report can be made again from saved card files.
 *
 * Every chart is an <svg class="chart"> whose data marks carry class "mark"
 * and whose data-marks attribute says how many it drew; the browser test
 * checks the two agree and are non-zero. Tables are built once as rows of
 * strings and rendered as HTML or Markdown. */
#include "bench/report.h"

#include "bench/bench.h"

#include "common/util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

cdx_bench_report_params cdx_bench_report_default_params(void)
{
    return (cdx_bench_report_params){.title = NULL, .command = NULL};
}

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                      "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"};
#define PALETTE_N ((int)CDX_ARRAY_LEN(palette))

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void bucket_name(const cdx_bench_card *c, char *buf, size_t cap)
{
    if (c->seq)
        snprintf(buf, cap, "b%d s%d", c->batch, c->seq);
    else
        snprintf(buf, cap, "b%d", c->batch);
}

static int ok_card(const cdx_bench_card *c) { return !c->error[0] && c->runs > 0; }

static int same_group(const cdx_bench_card *a, const cdx_bench_card *b)
{
    return strcmp(a->contract_id, b->contract_id) == 0 && strcmp(a->tower, b->tower) == 0;
}

static int bucket_cmp(const cdx_bench_card *a, const cdx_bench_card *b)
{
    return a->batch != b->batch ? (a->batch > b->batch) - (a->batch < b->batch) : (a->seq > b->seq) - (a->seq < b->seq);
}

/* Index of the first card of each distinct value of a key; returns the count. */
typedef int (*same_fn)(const cdx_bench_card *a, const cdx_bench_card *b);

static size_t distinct(const cdx_bench_cards *cs, const size_t *among, size_t n_among, same_fn same, size_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < n_among; i++) {
        const cdx_bench_card *c = cdx_bench_cards_get(cs, among[i]);
        int seen = 0;
        for (size_t j = 0; j < n && !seen; j++)
            seen = same(cdx_bench_cards_get(cs, out[j]), c);
        if (!seen)
            out[n++] = among[i];
    }
    return n;
}

static int same_bucket(const cdx_bench_card *a, const cdx_bench_card *b) { return bucket_cmp(a, b) == 0; }
static int same_config(const cdx_bench_card *a, const cdx_bench_card *b) { return strcmp(a->providers, b->providers) == 0; }
static int same_threads(const cdx_bench_card *a, const cdx_bench_card *b) { return a->threads == b->threads; }
static int same_opt(const cdx_bench_card *a, const cdx_bench_card *b) { return strcmp(a->opt, b->opt) == 0; }
static int same_base(const cdx_bench_card *a, const cdx_bench_card *b)
{
    return strcmp(a->base_providers, b->base_providers) == 0;
}

static const cdx_bench_cards *g_sort_cs; /* qsort has no context argument */

static int by_bucket(const void *x, const void *y)
{
    return bucket_cmp(cdx_bench_cards_get(g_sort_cs, *(const size_t *)x), cdx_bench_cards_get(g_sort_cs, *(const size_t *)y));
}

static int by_threads(const void *x, const void *y)
{
    int a = cdx_bench_cards_get(g_sort_cs, *(const size_t *)x)->threads;
    int b = cdx_bench_cards_get(g_sort_cs, *(const size_t *)y)->threads;
    return (a > b) - (a < b);
}

static void sort_idx(const cdx_bench_cards *cs, size_t *v, size_t n, int (*cmp)(const void *, const void *))
{
    g_sort_cs = cs;
    qsort(v, n, sizeof *v, cmp);
}

/* ---- tables ------------------------------------------------------------ */

struct table {
    const char *title, *note;
    int ncols;
    char **cells; /* row-major; the first row is the header */
    size_t n, cap;
};

static void tcell(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tcell(struct table *t, const char *fmt, ...)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **nc = realloc(t->cells, cap * sizeof *nc);
        if (!nc)
            return;
        t->cells = nc;
        t->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&t->cells[t->n], fmt, ap) >= 0)
        t->n++;
    va_end(ap);
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->cells[i]);
    free(t->cells);
}

static size_t table_rows(const struct table *t) { return t->ncols ? t->n / (size_t)t->ncols : 0; }

static void table_html(FILE *f, const struct table *t)
{
    fprintf(f, "<h3>");
    esc(f, t->title);
    fprintf(f, "</h3>\n");
    if (table_rows(t) < 2) {
        fprintf(f, "<p class=\"note\">not measured in this run</p>\n");
        return;
    }
    if (t->note) {
        fprintf(f, "<p class=\"note\">");
        esc(f, t->note);
        fprintf(f, "</p>\n");
    }
    fprintf(f, "<table class=\"data\">\n");
    for (size_t r = 0; r < table_rows(t); r++) {
        fprintf(f, "<tr>");
        for (int c = 0; c < t->ncols; c++) {
            fprintf(f, r ? "<td>" : "<th>");
            esc(f, t->cells[r * (size_t)t->ncols + (size_t)c]);
            fprintf(f, r ? "</td>" : "</th>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

static void table_md(FILE *f, const struct table *t)
{
    fprintf(f, "### %s\n\n", t->title);
    if (table_rows(t) < 2) {
        fprintf(f, "(not measured in this run)\n\n");
        return;
    }
    if (t->note)
        fprintf(f, "%s\n\n", t->note);
    for (size_t r = 0; r < table_rows(t); r++) {
        fprintf(f, "|");
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            fputc(' ', f);
            for (; *s; s++)
                fputs(*s == '|' ? "\\|" : (char[]){*s, 0}, f);
            fputs(" |", f);
        }
        fprintf(f, "\n");
        if (r == 0) {
            fprintf(f, "|");
            for (int c = 0; c < t->ncols; c++)
                fprintf(f, "---|");
            fprintf(f, "\n");
        }
    }
    fprintf(f, "\n");
}

static size_t all_ok(const cdx_bench_cards *cs, size_t *idx)
{
    size_t n = 0;
    for (size_t i = 0; i < cdx_bench_cards_count(cs); i++)
        if (ok_card(cdx_bench_cards_get(cs, i)))
            idx[n++] = i;
    return n;
}

static size_t group_of(const cdx_bench_cards *cs, const size_t *idx, size_t n, const cdx_bench_card *g, size_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (same_group(cdx_bench_cards_get(cs, idx[i]), g))
            out[k++] = idx[i];
    return k;
}

/* Same table row when only the swept axis (threads or opt) may differ. */
static int same_except(const cdx_bench_card *c, const cdx_bench_card *d, same_fn swept)
{
    return same_group(c, d) && same_bucket(c, d) && same_base(c, d) &&
           (swept == same_threads ? same_opt(c, d) : same_threads(c, d));
}

static int seen_row(const cdx_bench_cards *cs, const size_t *done, size_t n_done, const cdx_bench_card *c, same_fn swept)
{
    for (size_t j = 0; j < n_done; j++)
        if (same_except(c, cdx_bench_cards_get(cs, done[j]), swept))
            return 1;
    return 0;
}

/* Higher ORT level = more optimization; names in the order ORT ranks them. */
static int opt_rank(const char *name)
{
    static const char *const order[] = {"disabled", "basic", "extended", "layout", "all"};
    for (int i = 0; i < (int)CDX_ARRAY_LEN(order); i++)
        if (strcmp(order[i], name) == 0)
            return i;
    return -1;
}

/* A. Per contract and tower: the cell with the best throughput and the
 * batch-1 cell with the lowest p50. */
static void t_headline(const cdx_bench_cards *cs, struct table *t)
{
    *t = (struct table){.title = "Headline", .ncols = 14,
                        .note = "per contract and tower: the highest-throughput cell, and the fastest single-item "
                                "(batch 1) cell; times in ms"};
    const char *head[] = {"contract", "variant", "tower", "best for", "bucket", "providers", "threads", "opt",
                          "warm p50", "warm p95", "items/s", "cold", "create", "create (cached)"};
    for (int i = 0; i < t->ncols; i++)
        tcell(t, "%s", head[i]);
    size_t n_all = cdx_bench_cards_count(cs);
    size_t *idx = calloc(n_all + 1, sizeof *idx), *grp = calloc(n_all + 1, sizeof *grp),
           *heads = calloc(n_all + 1, sizeof *heads);
    size_t n = all_ok(cs, idx), n_heads = distinct(cs, idx, n, same_group, heads);
    for (size_t h = 0; h < n_heads; h++) {
        size_t k = group_of(cs, idx, n, cdx_bench_cards_get(cs, heads[h]), grp);
        const cdx_bench_card *best[2] = {NULL, NULL};
        for (size_t i = 0; i < k; i++) {
            const cdx_bench_card *c = cdx_bench_cards_get(cs, grp[i]);
            if (!best[0] || c->throughput > best[0]->throughput)
                best[0] = c;
            if (c->batch == 1 && (!best[1] || c->warm_p50_ms < best[1]->warm_p50_ms))
                best[1] = c;
        }
        for (int w = 0; w < 2; w++) {
            const cdx_bench_card *c = best[w];
            if (!c)
                continue;
            char b[32];
            bucket_name(c, b, sizeof b);
            tcell(t, "%s", c->contract_id);
            tcell(t, "%s", c->variant);
            tcell(t, "%s", c->tower);
            tcell(t, "%s", w ? "latency (batch 1)" : "throughput");
            tcell(t, "%s", b);
            tcell(t, "%s", c->providers);
            tcell(t, "%d", c->threads);
            tcell(t, "%s", c->opt);
            tcell(t, "%.3f", c->warm_p50_ms);
            tcell(t, "%.3f", c->warm_p95_ms);
            tcell(t, "%.1f", c->throughput);
            tcell(t, "%.2f", c->cold_ms);
            tcell(t, "%.1f", c->create_ms);
            if (c->create_cached_ms >= 0)
                tcell(t, "%.1f", c->create_cached_ms);
            else
                tcell(t, "n/a");
        }
    }
    free(idx);
    free(grp);
    free(heads);
}

/* B. Throughput at each thread count, per bucket and opt level. */
static void t_threads(const cdx_bench_cards *cs, struct table *t, int32_t *tv, int *n_tv)
{
    size_t n_all = cdx_bench_cards_count(cs);
    size_t *idx = calloc(n_all + 1, sizeof *idx), *th = calloc(n_all + 1, sizeof *th), *done = calloc(n_all + 1, sizeof *done);
    size_t n = all_ok(cs, idx), n_th = distinct(cs, idx, n, same_threads, th), n_done = 0;
    sort_idx(cs, th, n_th, by_threads);
    *n_tv = (int)CDX_MIN(n_th, (size_t)CDX_BENCH_MAX_SWEEP);
    for (int i = 0; i < *n_tv; i++)
        tv[i] = cdx_bench_cards_get(cs, th[i])->threads;
    *t = (struct table){.title = "Threads", .ncols = 6 + *n_tv + 1,
                        .note = "items/s at each intra-op thread count; last column: most threads over fewest"};
    tcell(t, "contract");
    tcell(t, "tower");
    tcell(t, "bucket");
    tcell(t, "providers");
    tcell(t, "opt");
    tcell(t, "variant");
    for (int i = 0; i < *n_tv; i++)
        tcell(t, "%d thread%s", tv[i], tv[i] == 1 ? "" : "s");
    tcell(t, "scaling");
    for (size_t i = 0; i < n && *n_tv >= 2; i++) {
        const cdx_bench_card *c = cdx_bench_cards_get(cs, idx[i]);
        if (seen_row(cs, done, n_done, c, same_threads))
            continue;
        done[n_done++] = idx[i];
        double v[CDX_BENCH_MAX_SWEEP] = {0};
        for (size_t j = 0; j < n; j++) {
            const cdx_bench_card *d = cdx_bench_cards_get(cs, idx[j]);
            if (same_except(c, d, same_threads))
                for (int k = 0; k < *n_tv; k++)
                    if (d->threads == tv[k])
                        v[k] = d->throughput;
        }
        char b[32];
        bucket_name(c, b, sizeof b);
        tcell(t, "%s", c->contract_id);
        tcell(t, "%s", c->tower);
        tcell(t, "%s", b);
        tcell(t, "%s", c->base_providers);
        tcell(t, "%s", c->opt);
        tcell(t, "%s", c->variant);
        for (int k = 0; k < *n_tv; k++)
            if (v[k] > 0)
                tcell(t, "%.1f", v[k]);
            else
                tcell(t, "-");
        if (v[0] > 0 && v[*n_tv - 1] > 0)
            tcell(t, "%.2fx", v[*n_tv - 1] / v[0]);
        else
            tcell(t, "-");
    }
    free(idx);
    free(th);
    free(done);
}

/* C. Warm p50 and session creation at each optimization level. */
static void t_opt(const cdx_bench_cards *cs, struct table *t)
{
    size_t n_all = cdx_bench_cards_count(cs);
    size_t *idx = calloc(n_all + 1, sizeof *idx), *op = calloc(n_all + 1, sizeof *op), *done = calloc(n_all + 1, sizeof *done);
    size_t n = all_ok(cs, idx), n_op = distinct(cs, idx, n, same_opt, op), n_done = 0;
    /* in ORT's order */
    for (size_t i = 1; i < n_op; i++)
        for (size_t j = i; j > 0 && opt_rank(cdx_bench_cards_get(cs, op[j - 1])->opt) >
                                        opt_rank(cdx_bench_cards_get(cs, op[j])->opt); j--) {
            size_t x = op[j];
            op[j] = op[j - 1];
            op[j - 1] = x;
        }
    n_op = CDX_MIN(n_op, (size_t)CDX_BENCH_MAX_SWEEP);
    *t = (struct table){.title = "Optimization levels", .ncols = 5 + 2 * (int)n_op,
                        .note = "warm p50 (ms) and session creation (ms) at each graph optimization level"};
    tcell(t, "contract");
    tcell(t, "tower");
    tcell(t, "bucket");
    tcell(t, "providers");
    tcell(t, "threads");
    for (size_t k = 0; k < n_op; k++)
        tcell(t, "p50 %s", cdx_bench_cards_get(cs, op[k])->opt);
    for (size_t k = 0; k < n_op; k++)
        tcell(t, "create %s", cdx_bench_cards_get(cs, op[k])->opt);
    for (size_t i = 0; i < n && n_op >= 2; i++) {
        const cdx_bench_card *c = cdx_bench_cards_get(cs, idx[i]);
        if (seen_row(cs, done, n_done, c, same_opt))
            continue;
        done[n_done++] = idx[i];
        char b[32];
        bucket_name(c, b, sizeof b);
        tcell(t, "%s", c->contract_id);
        tcell(t, "%s", c->tower);
        tcell(t, "%s", b);
        tcell(t, "%s", c->base_providers);
        tcell(t, "%d", c->threads);
        for (int what = 0; what < 2; what++)
            for (size_t k = 0; k < n_op; k++) {
                const cdx_bench_card *hit = NULL;
                for (size_t j = 0; j < n && !hit; j++) {
                    const cdx_bench_card *d = cdx_bench_cards_get(cs, idx[j]);
                    if (same_except(c, d, same_opt) && same_opt(d, cdx_bench_cards_get(cs, op[k])))
                        hit = d;
                }
                if (hit)
                    tcell(t, "%.3f", what ? hit->create_ms : hit->warm_p50_ms);
                else
                    tcell(t, "-");
            }
    }
    free(idx);
    free(op);
    free(done);
}

/* D. Cold first run against warm p95, every cell. */
static void t_cold(const cdx_bench_cards *cs, struct table *t)
{
    *t = (struct table){.title = "Cold vs warm", .ncols = 10,
                        .note = "first run of each bucket (the compile) against the warm runs; ratio = cold / warm p95"};
    const char *head[] = {"contract", "tower", "bucket", "providers", "create", "create (cached)", "cold",
                          "warm p50", "warm p95", "cold / warm p95"};
    for (int i = 0; i < t->ncols; i++)
        tcell(t, "%s", head[i]);
    for (size_t i = 0; i < cdx_bench_cards_count(cs); i++) {
        const cdx_bench_card *c = cdx_bench_cards_get(cs, i);
        if (!ok_card(c))
            continue;
        char b[32];
        bucket_name(c, b, sizeof b);
        tcell(t, "%s", c->contract_id);
        tcell(t, "%s", c->tower);
        tcell(t, "%s", b);
        tcell(t, "%s", c->providers);
        tcell(t, "%.1f", c->create_ms);
        if (c->create_cached_ms >= 0)
            tcell(t, "%.1f", c->create_cached_ms);
        else
            tcell(t, "n/a");
        tcell(t, "%.3f", c->cold_ms);
        tcell(t, "%.3f", c->warm_p50_ms);
        tcell(t, "%.3f", c->warm_p95_ms);
        tcell(t, "%.2fx", c->warm_p95_ms > 0 ? c->cold_ms / c->warm_p95_ms : 0);
    }
}

/* E. int8 against the fp32 model it came from (verdict.c's pairing rule). */
static void t_int8(const cdx_bench_cards *cs, struct table *t)
{
    *t = (struct table){.title = "fp32 vs int8", .ncols = 10,
                        .note = "same tower, providers, threads, opt level and bucket; speedup = int8 items/s over fp32"};
    const char *head[] = {"fp32 contract", "int8 contract", "tower", "bucket", "providers", "fp32 p50", "int8 p50",
                          "fp32 items/s", "int8 items/s", "speedup"};
    for (int i = 0; i < t->ncols; i++)
        tcell(t, "%s", head[i]);
    size_t n = cdx_bench_cards_count(cs);
    for (size_t i = 0; i < n; i++) {
        const cdx_bench_card *q = cdx_bench_cards_get(cs, i);
        if (!ok_card(q) || strcmp(q->variant, "int8") != 0)
            continue;
        for (size_t j = 0; j < n; j++) {
            const cdx_bench_card *f = cdx_bench_cards_get(cs, j);
            size_t len = strlen(f->contract_id);
            if (!ok_card(f) || strcmp(f->variant, "fp32") != 0 || strcmp(f->tower, q->tower) != 0 ||
                strcmp(f->family, q->family) != 0 || !same_bucket(f, q) || !same_threads(f, q) || !same_opt(f, q) ||
                !same_base(f, q) || !len || strncmp(f->contract_id, q->contract_id, len) != 0)
                continue;
            char b[32];
            bucket_name(q, b, sizeof b);
            tcell(t, "%s", f->contract_id);
            tcell(t, "%s", q->contract_id);
            tcell(t, "%s", q->tower);
            tcell(t, "%s", b);
            tcell(t, "%s", q->providers);
            tcell(t, "%.3f", f->warm_p50_ms);
            tcell(t, "%.3f", q->warm_p50_ms);
            tcell(t, "%.1f", f->throughput);
            tcell(t, "%.1f", q->throughput);
            tcell(t, "%.2fx", f->throughput > 0 ? q->throughput / f->throughput : 0);
            break;
        }
    }
}

typedef void (*table_fn)(const cdx_bench_cards *cs, struct table *t);
static void t_threads_plain(const cdx_bench_cards *cs, struct table *t)
{
    int32_t tv[CDX_BENCH_MAX_SWEEP];
    int n;
    t_threads(cs, t, tv, &n);
}
static const table_fn tables[] = {t_headline, t_threads_plain, t_opt, t_cold, t_int8};

char *cdx_bench_headline_markdown(const cdx_bench_cards *cs)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    for (size_t i = 0; i < CDX_ARRAY_LEN(tables); i++) {
        struct table t;
        tables[i](cs, &t);
        table_md(f, &t);
        table_free(&t);
    }
    fclose(f);
    return buf;
}

/* ---- charts ------------------------------------------------------------ */

#define W 760
#define H 300
#define ML 64
#define MR 16
#define MT 16
#define MB 46

static double ylog(double v, double lo, double hi) { return MT + (H - MT - MB) * (1 - log(v / lo) / log(hi / lo)); }

static void log_axis(FILE *f, double lo, double hi, const char *label)
{
    static const double steps[] = {1, 2, 5};
    for (double d = pow(10, floor(log10(lo))); d <= hi * 1.0001; d *= 10)
        for (int s = 0; s < 3; s++) {
            double v = d * steps[s];
            if (v < lo || v > hi)
                continue;
            double y = ylog(v, lo, hi);
            fprintf(f, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>", ML, W - MR, y, y);
            fprintf(f, "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>", ML - 4, y + 4, v);
        }
    fprintf(f, "<text class=\"axis\" transform=\"rotate(-90)\" x=\"%d\" y=\"14\" text-anchor=\"middle\">%s</text>",
            -(MT + (H - MT - MB) / 2), label);
}

static void legend(FILE *f, const cdx_bench_cards *cs, const size_t *series, size_t n_series)
{
    fprintf(f, "<div class=\"legend\">");
    for (size_t s = 0; s < n_series; s++) {
        fprintf(f, "<span><i style=\"background:%s\"></i>", palette[s % PALETTE_N]);
        esc(f, cdx_bench_cards_get(cs, series[s])->providers);
        fprintf(f, "</span>");
    }
    fprintf(f, "</div>\n");
}

/* Bucket × latency: per series (config) a dot at warm p50, a line from p50
 * to p99 with a tick at p95, and a cross at the cold first run. */
static void chart_scatter(FILE *f, const cdx_bench_cards *cs, const size_t *grp, size_t k)
{
    size_t *bk = calloc(k + 1, sizeof *bk), *series = calloc(k + 1, sizeof *series);
    size_t n_b = distinct(cs, grp, k, same_bucket, bk), n_s = distinct(cs, grp, k, same_config, series);
    sort_idx(cs, bk, n_b, by_bucket);
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < k; i++) {
        const cdx_bench_card *c = cdx_bench_cards_get(cs, grp[i]);
        lo = fmin(lo, fmin(c->warm_min_ms > 0 ? c->warm_min_ms : c->warm_p50_ms, c->cold_ms > 0 ? c->cold_ms : INFINITY));
        hi = fmax(hi, fmax(c->warm_p99_ms, c->cold_ms));
    }
    if (!(lo > 0))
        lo = 1e-3;
    lo /= 1.5;
    hi = fmax(hi * 1.5, lo * 10);
    int marks = 0;
    char *body = NULL;
    size_t blen = 0;
    FILE *g = open_memstream(&body, &blen);
    log_axis(g, lo, hi, "ms (log)");
    double band = (double)(W - ML - MR) / (double)(n_b ? n_b : 1);
    for (size_t b = 0; b < n_b; b++) {
        const cdx_bench_card *bc = cdx_bench_cards_get(cs, bk[b]);
        char name[32];
        bucket_name(bc, name, sizeof name);
        fprintf(g, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>", ML + band * ((double)b + 0.5),
                H - MB + 16, name);
        for (size_t i = 0; i < k; i++) {
            const cdx_bench_card *c = cdx_bench_cards_get(cs, grp[i]);
            if (!same_bucket(c, bc))
                continue;
            size_t s = 0;
            while (s < n_s && !same_config(cdx_bench_cards_get(cs, series[s]), c))
                s++;
            const char *col = palette[s % PALETTE_N];
            double x = ML + band * ((double)b + (double)(s + 1) / (double)(n_s + 1));
            double y50 = ylog(c->warm_p50_ms, lo, hi), y95 = ylog(c->warm_p95_ms, lo, hi), y99 = ylog(c->warm_p99_ms, lo, hi);
            fprintf(g, "<g class=\"mark warm\"><title>%s %s warm p50 %.3f ms, p95 %.3f, p99 %.3f (%llu runs)</title>",
                    c->providers, name, c->warm_p50_ms, c->warm_p95_ms, c->warm_p99_ms, (unsigned long long)c->runs);
            fprintf(g, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", x, x, y50, y99, col);
            fprintf(g, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", x - 4, x + 4, y95, y95, col);
            fprintf(g, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/></g>", x, y50, col);
            marks++;
            if (c->cold_ms > 0) {
                double yc = ylog(c->cold_ms, lo, hi);
                fprintf(g, "<g class=\"mark cold\"><title>%s %s cold first run %.3f ms</title>", c->providers, name,
                        c->cold_ms);
                fprintf(g, "<path d=\"M%.1f %.1fl8 8m0 -8l-8 8\" stroke=\"%s\" stroke-width=\"2\"/></g>", x - 4, yc - 4,
                        col);
                marks++;
            }
        }
    }
    fclose(g);
    fprintf(f, "<svg class=\"chart\" data-kind=\"scatter\" data-marks=\"%d\" viewBox=\"0 0 %d %d\" width=\"%d\" "
               "height=\"%d\" role=\"img\">", marks, W, H, W, H);
    fputs(body ? body : "", f);
    fprintf(f, "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">bucket (b batch, s sequence)</text></svg>\n",
            ML + (W - ML - MR) / 2, H - 8);
    legend(f, cs, series, n_s);
    fprintf(f, "<p class=\"note\">dot: warm p50; line up to p99 with a tick at p95; cross: cold first run.</p>\n");
    free(body);
    free(bk);
    free(series);
}

/* Throughput against threads: per optimization level and base provider,
 * one line per bucket. */
static void chart_threads(FILE *f, const cdx_bench_cards *cs, const size_t *grp, size_t k)
{
    size_t *ops = calloc(k + 1, sizeof *ops), *bases = calloc(k + 1, sizeof *bases), *bk = calloc(k + 1, sizeof *bk),
           *th = calloc(k + 1, sizeof *th);
    size_t n_o = distinct(cs, grp, k, same_opt, ops), n_p = distinct(cs, grp, k, same_base, bases);
    size_t n_b = distinct(cs, grp, k, same_bucket, bk), n_t = distinct(cs, grp, k, same_threads, th);
    sort_idx(cs, bk, n_b, by_bucket);
    sort_idx(cs, th, n_t, by_threads);
    for (size_t o = 0; o < n_o; o++)
        for (size_t p = 0; p < n_p; p++) {
            const cdx_bench_card *oc = cdx_bench_cards_get(cs, ops[o]), *pc = cdx_bench_cards_get(cs, bases[p]);
            double hi = 0;
            for (size_t i = 0; i < k; i++) {
                const cdx_bench_card *c = cdx_bench_cards_get(cs, grp[i]);
                if (same_opt(c, oc) && same_base(c, pc))
                    hi = fmax(hi, c->throughput);
            }
            if (!(hi > 0))
                continue;
            hi *= 1.15;
            fprintf(f, "<h4>opt %s, providers ", oc->opt);
            esc(f, pc->base_providers);
            fprintf(f, "</h4>\n");
            char *body = NULL;
            size_t blen = 0;
            int marks = 0;
            FILE *g = open_memstream(&body, &blen);
            for (int tick = 0; tick <= 4; tick++) {
                double v = hi * tick / 4, y = MT + (H - MT - MB) * (1 - v / hi);
                fprintf(g, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>", ML, W - MR, y, y);
                fprintf(g, "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>", ML - 4, y + 4, v);
            }
            double step = (double)(W - ML - MR) / (double)(n_t ? n_t : 1);
            for (size_t t = 0; t < n_t; t++)
                fprintf(g, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>",
                        ML + step * ((double)t + 0.5), H - MB + 16, cdx_bench_cards_get(cs, th[t])->threads);
            for (size_t b = 0; b < n_b; b++) {
                const cdx_bench_card *bc = cdx_bench_cards_get(cs, bk[b]);
                const char *col = palette[b % PALETTE_N];
                char name[32], pts[1024] = "";
                size_t pl = 0;
                bucket_name(bc, name, sizeof name);
                for (size_t t = 0; t < n_t; t++)
                    for (size_t i = 0; i < k; i++) {
                        const cdx_bench_card *c = cdx_bench_cards_get(cs, grp[i]);
                        if (!same_opt(c, oc) || !same_base(c, pc) || !same_bucket(c, bc) ||
                            c->threads != cdx_bench_cards_get(cs, th[t])->threads)
                            continue;
                        double x = ML + step * ((double)t + 0.5), y = MT + (H - MT - MB) * (1 - c->throughput / hi);
                        if (pl < sizeof pts - 32)
                            pl += (size_t)snprintf(pts + pl, sizeof pts - pl, "%.1f,%.1f ", x, y);
                        fprintf(g, "<circle class=\"mark\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>%s, %d "
                                   "thread%s: %.1f items/s</title></circle>",
                                x, y, col, name, c->threads, c->threads == 1 ? "" : "s", c->throughput);
                        marks++;
                        break;
                    }
                fprintf(g, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\"/>", pts, col);
                fprintf(g, "<text class=\"tick\" x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>", W - MR - 90,
                        MT + 12 + 13 * (int)b, col, name);
            }
            fclose(g);
            fprintf(f, "<svg class=\"chart\" data-kind=\"threads\" data-marks=\"%d\" viewBox=\"0 0 %d %d\" width=\"%d\" "
                       "height=\"%d\" role=\"img\">%s", marks, W, H, W, H, body ? body : "");
            fprintf(f, "<text class=\"axis\" transform=\"rotate(-90)\" x=\"%d\" y=\"14\" text-anchor=\"middle\">items/s</text>",
                    -(MT + (H - MT - MB) / 2));
            fprintf(f, "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">intra-op threads</text></svg>\n",
                    ML + (W - ML - MR) / 2, H - 8);
            free(body);
        }
    free(ops);
    free(bases);
    free(bk);
    free(th);
}

/* A small histogram of one cell's warm latencies (log-spaced bins). */
static void chart_hist(FILE *f, const cdx_bench_card *c)
{
    const int w = 240, h = 110, ml = 6, mb = 22, mt = 18;
    uint32_t top = 0;
    uint64_t total = 0;
    for (int i = 0; i < c->hist.n_bins; i++) {
        top = c->hist.bins[i] > top ? c->hist.bins[i] : top;
        total += c->hist.bins[i];
    }
    char name[32];
    bucket_name(c, name, sizeof name);
    int marks = 0;
    char *body = NULL;
    size_t blen = 0;
    FILE *g = open_memstream(&body, &blen);
    double bw = (double)(w - 2 * ml) / (c->hist.n_bins ? c->hist.n_bins : 1);
    for (int i = 0; i < c->hist.n_bins && top; i++) {
        if (!c->hist.bins[i])
            continue;
        double bh = (double)(h - mb - mt) * c->hist.bins[i] / top;
        double r = pow(c->hist.hi_ms / c->hist.lo_ms, 1.0 / c->hist.n_bins);
        fprintf(g, "<rect class=\"mark\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>%.3f-%.3f ms: %u "
                   "runs</title></rect>",
                ml + bw * i, h - mb - bh, bw - 1, bh, c->hist.lo_ms * pow(r, i), c->hist.lo_ms * pow(r, i + 1),
                c->hist.bins[i]);
        marks++;
    }
    if (c->hist.hi_ms > c->hist.lo_ms)
        for (int q = 0; q < 2; q++) {
            double v = q ? c->warm_p95_ms : c->warm_p50_ms;
            double x = ml + (w - 2 * ml) * log(v / c->hist.lo_ms) / log(c->hist.hi_ms / c->hist.lo_ms);
            fprintf(g, "<line class=\"q\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>", x, x, mt, h - mb);
        }
    fclose(g);
    fprintf(f, "<figure><svg class=\"chart hist\" data-kind=\"histogram\" data-marks=\"%d\" viewBox=\"0 0 %d %d\" "
               "width=\"%d\" height=\"%d\" role=\"img\">",
            marks, w, h, w, h);
    fprintf(f, "<text class=\"tick\" x=\"%d\" y=\"12\">%s, %llu runs</text>", ml, name, (unsigned long long)total);
    fputs(body ? body : "", f);
    fprintf(f, "<text class=\"tick\" x=\"%d\" y=\"%d\">%.3g ms</text><text class=\"tick\" x=\"%d\" y=\"%d\" "
               "text-anchor=\"end\">%.3g ms</text></svg><figcaption>",
            ml, h - 6, c->hist.lo_ms, w - ml, h - 6, c->hist.hi_ms);
    esc(f, c->providers);
    fprintf(f, "</figcaption></figure>\n");
    free(body);
}

/* ---- the page ---------------------------------------------------------- */

static const char *const css =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}"
    "h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}h3{font-size:15px}"
    "h4{font-size:13px;margin:12px 0 4px}"
    "table.data{border-collapse:collapse;font-size:12px;margin:8px 0}"
    "table.data td,table.data th{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}"
    "table.data th{background:#f4f4f4}table.data td:nth-child(-n+4){text-align:left}"
    ".pass{color:#187a18;font-weight:600}.fail{color:#b00;font-weight:600}.na{color:#777}"
    ".note{color:#555;font-size:12px}.meta{color:#444;font-size:12px}"
    "svg.chart{background:#fff;border:1px solid #eee;max-width:100%;height:auto}"
    ".grid{stroke:#eee}.tick{font-size:10px;fill:#555}.axis{font-size:11px;fill:#333}"
    ".hist rect{fill:#4a7fb5}.q{stroke:#b00;stroke-dasharray:3 2}"
    ".legend span{margin-right:14px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;"
    "margin-right:4px;border-radius:5px}"
    "figure{display:inline-block;margin:4px}figcaption{font-size:10px;color:#555;max-width:240px;"
    "overflow-wrap:anywhere}"
    "tr.bad td{background:#fff0f0}";

static void cards_table(FILE *f, const cdx_bench_cards *cs)
{
    static const char *const head[] = {
        "contract", "tower", "providers", "bucket", "variant", "used", "threads", "opt", "create ms", "cached ms",
        "cold ms", "runs", "p50 ms", "p95 ms", "p99 ms", "items/s", "drift", "noise", "RSS MiB", "fallback",
        "partitions", "ORT", "opset", "artifact sha256", "note"};
    fprintf(f, "<table class=\"data cards\">\n<tr>");
    for (size_t i = 0; i < CDX_ARRAY_LEN(head); i++)
        fprintf(f, "<th>%s</th>", head[i]);
    fprintf(f, "</tr>\n");
    for (size_t i = 0; i < cdx_bench_cards_count(cs); i++) {
        const cdx_bench_card *c = cdx_bench_cards_get(cs, i);
        char b[32];
        bucket_name(c, b, sizeof b);
        uint32_t bad = cdx_bench_card_failures(c);
        fprintf(f, "<tr class=\"card%s\"><td>", bad || c->error[0] ? " bad" : "");
        esc(f, c->contract_id);
        fprintf(f, "</td><td>%s</td><td>", c->tower);
        esc(f, c->providers);
        fprintf(f, "</td><td>%s</td><td>%s</td><td>", b, c->variant);
        esc(f, c->used);
        fprintf(f, "</td><td>%d</td><td>%s</td>", c->threads, c->opt);
        if (c->error[0]) {
            fprintf(f, "<td colspan=\"16\" class=\"fail\">error: ");
            esc(f, c->error);
            fprintf(f, "</td><td></td></tr>\n");
            continue;
        }
        char cached[32] = "n/a";
        if (c->create_cached_ms >= 0)
            snprintf(cached, sizeof cached, "%.1f", c->create_cached_ms);
        int parts = 0;
        for (int e = 0; e < c->n_eps; e++)
            parts += c->eps[e].partitions;
        fprintf(f,
                "<td>%.1f</td><td>%s</td><td>%.3f</td><td>%llu</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.1f</td>"
                "<td>%+.1f%%</td><td>%.1f%%</td><td>%.1f</td><td>%.1f%%</td><td>%d</td><td>%s</td><td>%d</td>"
                "<td title=\"%s\">%.12s</td><td>%s%s%s%s</td></tr>\n",
                c->create_ms, cached, c->cold_ms, (unsigned long long)c->runs, c->warm_p50_ms, c->warm_p95_ms,
                c->warm_p99_ms, c->throughput, 100 * c->drift, 100 * c->noise_p50,
                (double)c->rss_peak_bytes / (1 << 20), 100 * fmax(c->fallback_by_nodes, c->fallback_by_time), parts,
                c->ort_version, c->opset, c->artifact_sha256, c->artifact_sha256,
                bad & (1u << CDX_BENCH_RULE_FALLBACK) ? "fallback over limit; " : "",
                bad & (1u << CDX_BENCH_RULE_COLD_WARM) ? "cold/warm over limit; " : "",
                bad & (1u << CDX_BENCH_RULE_DRIFT) ? "drift over limit; " : "", c->interrupted ? "interrupted" : "");
    }
    fprintf(f, "</table>\n");
}

char *cdx_bench_report_html(const cdx_bench_cards *cs, const cdx_bench_verdict *v, int n_verdicts,
                            const cdx_bench_report_params *params)
{
    cdx_bench_report_params p = params ? *params : cdx_bench_report_default_params();
    const char *title = p.title ? p.title : "clipdex bench";
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    esc(f, title);
    fprintf(f, "</title><style>%s</style></head>\n<body>\n<h1>", css);
    esc(f, title);
    fprintf(f, "</h1>\n");
    size_t n = cdx_bench_cards_count(cs);
    const cdx_bench_card *first = n ? cdx_bench_cards_get(cs, 0) : NULL;
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    fprintf(f, "<p class=\"meta\">%zu cells; report written %s", n, when);
    if (first) {
        fprintf(f, "; clipdex %s (", first->clipdex_version);
        esc(f, first->git_revision);
        fprintf(f, "), ONNX Runtime %s; CPU ", first->ort_version);
        esc(f, first->cpu_model);
        fprintf(f, ", %d usable cores; features: ", first->cores);
        esc(f, first->cpu_features);
    }
    fprintf(f, "</p>\n");
    if (p.command) {
        fprintf(f, "<p class=\"meta\">command: <code>");
        esc(f, p.command);
        fprintf(f, "</code></p>\n");
    }

    fprintf(f, "<h2>Verdicts</h2>\n<table class=\"data verdicts\">\n<tr><th>rule</th><th>result</th><th>detail</th></tr>\n");
    for (int i = 0; i < n_verdicts; i++) {
        char line[1024];
        cdx_bench_verdict_format(&v[i], line, sizeof line);
        const char *cls = v[i].judged ? (v[i].pass ? "pass" : "fail") : "na";
        fprintf(f, "<tr><td>%s</td><td class=\"%s\">%s</td><td>", v[i].name, cls,
                v[i].judged ? (v[i].pass ? "PASS" : "FAIL") : "n/a");
        esc(f, line);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n");

    fprintf(f, "<h2>Tables</h2>\n");
    for (size_t i = 0; i < CDX_ARRAY_LEN(tables); i++) {
        struct table t;
        tables[i](cs, &t);
        table_html(f, &t);
        table_free(&t);
    }

    size_t *idx = calloc(n + 1, sizeof *idx), *grp = calloc(n + 1, sizeof *grp), *heads = calloc(n + 1, sizeof *heads);
    size_t n_ok = all_ok(cs, idx), n_heads = distinct(cs, idx, n_ok, same_group, heads);
    fprintf(f, "<h2>Latency by bucket</h2>\n");
    for (size_t h = 0; h < n_heads; h++) {
        const cdx_bench_card *hc = cdx_bench_cards_get(cs, heads[h]);
        size_t k = group_of(cs, idx, n_ok, hc, grp);
        fprintf(f, "<h3>");
        esc(f, hc->contract_id);
        fprintf(f, " (%s), %s tower</h3>\n", hc->variant, hc->tower);
        chart_scatter(f, cs, grp, k);
    }
    fprintf(f, "<h2>Throughput vs threads</h2>\n");
    for (size_t h = 0; h < n_heads; h++) {
        const cdx_bench_card *hc = cdx_bench_cards_get(cs, heads[h]);
        size_t k = group_of(cs, idx, n_ok, hc, grp);
        fprintf(f, "<h3>");
        esc(f, hc->contract_id);
        fprintf(f, " (%s), %s tower</h3>\n", hc->variant, hc->tower);
        chart_threads(f, cs, grp, k);
    }
    fprintf(f, "<h2>Latency histograms</h2>\n<p class=\"note\">warm runs per cell, log-spaced bins; dashed: p50 and "
               "p95</p>\n");
    for (size_t h = 0; h < n_heads; h++) {
        const cdx_bench_card *hc = cdx_bench_cards_get(cs, heads[h]);
        size_t k = group_of(cs, idx, n_ok, hc, grp);
        fprintf(f, "<h3>");
        esc(f, hc->contract_id);
        fprintf(f, ", %s tower</h3>\n<div>", hc->tower);
        for (size_t i = 0; i < k; i++)
            chart_hist(f, cdx_bench_cards_get(cs, grp[i]));
        fprintf(f, "</div>\n");
    }
    free(idx);
    free(grp);
    free(heads);

    fprintf(f, "<h2>Experiment cards</h2>\n");
    cards_table(f, cs);
    fprintf(f, "</body></html>\n");
    fclose(f);
    return buf;
}

int cdx_bench_report_write(const cdx_bench_cards *cs, const cdx_bench_verdict *v, int n_verdicts,
                           const cdx_bench_report_params *p, const char *path, cdx_errbuf *eb)
{
    char *html = cdx_bench_report_html(cs, v, n_verdicts, p);
    if (!html)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "report: out of memory");
    int rc = cdx_bench_write_text(path, html, eb);
    free(html);
    return rc;
}
