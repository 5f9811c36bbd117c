/* Comparing two benchmark runs cell by cell, against noise.
 *
 * Each side is one or more card sets (repeated runs of the same matrix).
 * A cell's latency on a side is the median over that side's runs of the
 * cell's warm p50 (and p95); its noise is the larger of the cell's own noise
 * (the spread of its block medians, card.h) and, with repeated runs, the
 * spread of the runs' values. A difference is a regression only when the
 * ratio B/A exceeds 1 + band, band = max(floor, z * sqrt(noiseA^2 + noiseB^2)):
 * one number from one run never decides. */
#ifndef CDX_BENCH_COMPARE_H
#define CDX_BENCH_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "bench/card.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_bench_compare_params {
    double noise_floor; /* smallest band (default 0.03: 3%) */
    double z;           /* multiple of the combined noise (default 2) */
} cdx_bench_compare_params;

cdx_bench_compare_params cdx_bench_compare_default_params(void);

enum cdx_bench_change { CDX_BENCH_IMPROVED = -1, CDX_BENCH_SAME = 0, CDX_BENCH_REGRESSED = 1 };

typedef struct cdx_bench_compare_row {
    char key[640];
    int32_t runs_a, runs_b;          /* card sets on each side that have the cell */
    double a_p50, b_p50, a_p95, b_p95, a_cold, b_cold, a_tput, b_tput;
    double noise_a, noise_b;         /* relative, of p50 */
    double ratio_p50, ratio_p95, ratio_cold, ratio_tput; /* B / A */
    double band_p50, band_p95;
    enum cdx_bench_change p50, p95, verdict; /* verdict: the worse of p50 and p95 */
} cdx_bench_compare_row;

/* Matches cells present on both sides (by cdx_bench_card_key with the
 * contract; when that matches nothing and each side holds one contract,
 * without it, so an fp32 run compares with an int8 run). *rows (caller
 * frees) gets one row per matched cell; *unmatched counts cells on one side
 * only. Returns CDX_OK or CDX_ERR_NOMEM. */
int cdx_bench_compare(const cdx_bench_cards *const *a, int n_a, const cdx_bench_cards *const *b, int n_b,
                      const cdx_bench_compare_params *params, cdx_bench_compare_row **rows, size_t *n_rows,
                      size_t *unmatched);

#ifdef __cplusplus
}
#endif
#endif
