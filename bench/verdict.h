/* Verdicts: the rules of thumb people cite about inference latency, judged
 * over a set of experiment cards with the thresholds each card carries (the
 * contract's, or the command line's), and printed with their numbers.
 *
 *   fallback   CPU fallback (by nodes or by time) <= max_fallback
 *   cold/warm  cold first run / warm p95 <= max_cold_warm_ratio; above it,
 *              warm-up or fixed buckets are needed
 *   drift      |drift| <= max_drift in a sustained run (>= 6 warm runs);
 *              above it, suspect thermals or contention
 *   speedup    an accelerated provider beats the CPU provider on the same
 *              bucket, threads and optimization level by >= min_speedup
 *   int8       an int8 variant's throughput >= min_int8_speedup x its fp32
 *              model's in the same cell (judged only when that limit is set)
 *
 * A rule with no cell to judge is "n/a", which passes. */
#ifndef CDX_BENCH_VERDICT_H
#define CDX_BENCH_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include "bench/card.h"

#ifdef __cplusplus
extern "C" {
#endif

enum cdx_bench_rule {
    CDX_BENCH_RULE_FALLBACK = 0,
    CDX_BENCH_RULE_COLD_WARM,
    CDX_BENCH_RULE_DRIFT,
    CDX_BENCH_RULE_SPEEDUP,
    CDX_BENCH_RULE_INT8,
    CDX_BENCH_RULE_COUNT
};

/* The fewest warm runs for drift to be judged (thirds of fewer are noise). */
#define CDX_BENCH_DRIFT_MIN_RUNS 6

typedef struct cdx_bench_verdict {
    enum cdx_bench_rule rule;
    const char *name;          /* static: "fallback", "cold/warm", ... */
    int32_t judged, failed;    /* cells judged, cells over the limit */
    int32_t pass;              /* 1 when no judged cell failed (and when none was judged) */
    double worst, limit;       /* the worst cell's value and its limit */
    char worst_cell[640];      /* key of the worst cell */
} cdx_bench_verdict;

/* Judges every rule over the cards; out has CDX_BENCH_RULE_COUNT entries.
 * Returns 1 when every rule passes, 0 otherwise. */
int cdx_bench_judge(const cdx_bench_cards *cs, cdx_bench_verdict *out);

/* Bit (1 << rule) set for each rule this one card fails on its own (fallback,
 * cold/warm, drift); for the report's table. */
uint32_t cdx_bench_card_failures(const cdx_bench_card *c);

/* One line: "cold/warm  FAIL  worst 9.3x > 6.5x (vision/cpu:.../b1); 2 of 12 cells over". */
size_t cdx_bench_verdict_format(const cdx_bench_verdict *v, char *buf, size_t cap);
/* The verdicts as a JSON array text (caller frees), for card files and reports. */
char *cdx_bench_verdicts_json(const cdx_bench_verdict *v, int n);

#ifdef __cplusplus
}
#endif
#endif
