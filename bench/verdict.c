/* Verdicts over experiment cards (see verdict.h). Each rule is a row in a
 * table: how to get a cell's value and its limit, and which way is worse. */
#include "bench/verdict.h"

#include "common/util.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A rule's value for one card, or NAN when the card is not judged by it.
 * Rules that pair cards (speedup, int8) get the whole set. */
typedef double (*rule_value_fn)(const cdx_bench_cards *cs, const cdx_bench_card *c, double *limit);

static int measured(const cdx_bench_card *c) { return !c->error[0] && c->runs > 0; }

static double v_fallback(const cdx_bench_cards *cs, const cdx_bench_card *c, double *limit)
{
    (void)cs;
    if (c->error[0])
        return NAN;
    *limit = c->thresholds.max_fallback;
    return fmax(c->fallback_by_nodes, c->fallback_by_time);
}

static double v_cold_warm(const cdx_bench_cards *cs, const cdx_bench_card *c, double *limit)
{
    (void)cs;
    if (!measured(c) || !(c->warm_p95_ms > 0) || !(c->cold_ms > 0) || !(c->thresholds.max_cold_warm_ratio > 0))
        return NAN;
    *limit = c->thresholds.max_cold_warm_ratio;
    return c->cold_ms / c->warm_p95_ms;
}

static double v_drift(const cdx_bench_cards *cs, const cdx_bench_card *c, double *limit)
{
    (void)cs;
    if (!measured(c) || c->runs < CDX_BENCH_DRIFT_MIN_RUNS || !(c->thresholds.max_drift > 0))
        return NAN;
    *limit = c->thresholds.max_drift;
    return fabs(c->drift);
}

static int same_cell(const cdx_bench_card *a, const cdx_bench_card *b)
{
    return strcmp(a->tower, b->tower) == 0 && a->threads == b->threads && strcmp(a->opt, b->opt) == 0 &&
           a->batch == b->batch && a->seq == b->seq;
}

static int cpu_only(const cdx_bench_card *c) { return strcmp(c->used, "cpu") == 0; }

static double v_speedup(const cdx_bench_cards *cs, const cdx_bench_card *c, double *limit)
{
    if (!measured(c) || cpu_only(c) || !c->used[0])
        return NAN;
    for (size_t i = 0; i < cdx_bench_cards_count(cs); i++) {
        const cdx_bench_card *o = cdx_bench_cards_get(cs, i);
        if (measured(o) && cpu_only(o) && same_cell(o, c) && strcmp(o->contract_id, c->contract_id) == 0 &&
            c->warm_p50_ms > 0) {
            *limit = c->thresholds.min_speedup;
            return o->warm_p50_ms / c->warm_p50_ms - 1;
        }
    }
    return NAN;
}

/* The fp32 model an int8 card was quantized from: same family, providers and
 * cell, and a contract id that the int8 id starts with ("m" for "m-int8"). */
static double v_int8(const cdx_bench_cards *cs, const cdx_bench_card *c, double *limit)
{
    if (!measured(c) || strcmp(c->variant, "int8") != 0 || !(c->thresholds.min_int8_speedup > 0))
        return NAN;
    for (size_t i = 0; i < cdx_bench_cards_count(cs); i++) {
        const cdx_bench_card *o = cdx_bench_cards_get(cs, i);
        size_t n = strlen(o->contract_id);
        if (measured(o) && strcmp(o->variant, "fp32") == 0 && same_cell(o, c) && strcmp(o->family, c->family) == 0 &&
            strcmp(o->base_providers, c->base_providers) == 0 && n && strncmp(o->contract_id, c->contract_id, n) == 0 &&
            o->throughput > 0) {
            *limit = c->thresholds.min_int8_speedup;
            return c->throughput / o->throughput;
        }
    }
    return NAN;
}

static const struct {
    const char *name;
    rule_value_fn value;
    int higher_is_worse;
    const char *unit; /* "%" shows value*100, "x" shows a ratio */
} rules[CDX_BENCH_RULE_COUNT] = {
    [CDX_BENCH_RULE_FALLBACK] = {"fallback", v_fallback, 1, "%"},
    [CDX_BENCH_RULE_COLD_WARM] = {"cold/warm", v_cold_warm, 1, "x"},
    [CDX_BENCH_RULE_DRIFT] = {"drift", v_drift, 1, "%"},
    [CDX_BENCH_RULE_SPEEDUP] = {"speedup", v_speedup, 0, "%"},
    [CDX_BENCH_RULE_INT8] = {"int8", v_int8, 0, "x"},
};

int cdx_bench_judge(const cdx_bench_cards *cs, cdx_bench_verdict *out)
{
    int all = 1;
    for (int r = 0; r < CDX_BENCH_RULE_COUNT; r++) {
        cdx_bench_verdict *v = &out[r];
        memset(v, 0, sizeof *v);
        v->rule = (enum cdx_bench_rule)r;
        v->name = rules[r].name;
        int have = 0;
        for (size_t i = 0; i < cdx_bench_cards_count(cs); i++) {
            const cdx_bench_card *c = cdx_bench_cards_get(cs, i);
            double limit = 0, x = rules[r].value(cs, c, &limit);
            if (isnan(x))
                continue;
            v->judged++;
            int bad = rules[r].higher_is_worse ? x > limit + 1e-12 : x < limit - 1e-12;
            v->failed += bad;
            int worse = !have || (rules[r].higher_is_worse ? x > v->worst : x < v->worst);
            if (worse) {
                have = 1;
                v->worst = x;
                v->limit = limit;
                cdx_bench_card_key(c, 1, v->worst_cell, sizeof v->worst_cell);
            }
        }
        v->pass = v->failed == 0;
        all &= v->pass;
    }
    return all;
}

uint32_t cdx_bench_card_failures(const cdx_bench_card *c)
{
    static const enum cdx_bench_rule own[] = {CDX_BENCH_RULE_FALLBACK, CDX_BENCH_RULE_COLD_WARM, CDX_BENCH_RULE_DRIFT};
    uint32_t bits = 0;
    for (size_t i = 0; i < CDX_ARRAY_LEN(own); i++) {
        double limit = 0, x = rules[own[i]].value(NULL, c, &limit);
        if (!isnan(x) && x > limit + 1e-12)
            bits |= 1u << own[i];
    }
    return bits;
}

static void show(char *buf, size_t cap, double x, const char *unit)
{
    if (strcmp(unit, "%") == 0)
        snprintf(buf, cap, "%.1f%%", 100 * x);
    else
        snprintf(buf, cap, "%.2fx", x);
}

size_t cdx_bench_verdict_format(const cdx_bench_verdict *v, char *buf, size_t cap)
{
    const char *unit = rules[v->rule].unit;
    int n;
    if (v->judged == 0) {
        static const char *const why[CDX_BENCH_RULE_COUNT] = {
            [CDX_BENCH_RULE_FALLBACK] = "no cell measured",
            [CDX_BENCH_RULE_COLD_WARM] = "no cell with a cold and a warm time",
            [CDX_BENCH_RULE_DRIFT] = "no cell with enough warm runs (or max_drift unset)",
            [CDX_BENCH_RULE_SPEEDUP] = "no accelerated provider measured next to the cpu provider",
            [CDX_BENCH_RULE_INT8] = "no int8 cell next to its fp32 cell, or no --min-int8-speedup",
        };
        n = snprintf(buf, cap, "%-10s n/a   %s", v->name, why[v->rule]);
    } else {
        char w[32], l[32];
        show(w, sizeof w, v->worst, unit);
        show(l, sizeof l, v->limit, unit);
        const char *cmp = rules[v->rule].higher_is_worse ? (v->pass ? "<=" : ">") : (v->pass ? ">=" : "<");
        n = snprintf(buf, cap, "%-10s %s  worst %s %s %s (%s); %d of %d cells %s", v->name, v->pass ? "PASS" : "FAIL", w,
                     cmp, l, v->worst_cell, v->failed, v->judged, "fail");
    }
    return n < 0 ? 0 : (size_t)n;
}

char *cdx_bench_verdicts_json(const cdx_bench_verdict *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        char line[1024];
        cdx_bench_verdict_format(&v[i], line, sizeof line);
        json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:i, s:f, s:f, s:s, s:s}", "rule", v[i].name, "result",
                                           v[i].judged ? (v[i].pass ? "pass" : "fail") : "n/a", "judged", v[i].judged,
                                           "failed", v[i].failed, "worst", v[i].worst, "limit", v[i].limit,
                                           "worst_cell", v[i].worst_cell, "text", line));
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}
