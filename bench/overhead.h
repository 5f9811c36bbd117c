/* What clipdex's encoder costs over ONNX Runtime itself (issue 4's
 * measurements), each as a ratio inside one run:
 *
 *   image: throughput of cdx_tower_run against a bare ORT C loop (one
 *     session with the same options, the same pre-made input and output
 *     tensors, Run in a loop) at the same batch and threads; rounds
 *     alternate the two so drift and contention fall on both alike;
 *   text: the latency of one short query (tokenize + run, batch 1) padded
 *     to its sequence bucket against the same query padded to the full
 *     context, again alternating. Only for contracts whose model allows
 *     sequence buckets (text.padding "bucket"). */
#ifndef CDX_BENCH_OVERHEAD_H
#define CDX_BENCH_OVERHEAD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "contracts/contract.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_bench_overhead_params {
    const char *providers;   /* NULL: "cpu" */
    int32_t batch;           /* image batch (default 32) */
    int32_t threads;         /* intra-op threads when the spec sets none (0: the thread budget's) */
    double duration_s;       /* per side per round (default 2) */
    int32_t rounds;          /* alternations (default 3) */
    const char *query;       /* default "a photo of a cat" */
    const volatile sig_atomic_t *stop; /* may be NULL */
} cdx_bench_overhead_params;

cdx_bench_overhead_params cdx_bench_overhead_default_params(void);

typedef struct cdx_bench_overhead {
    char providers[512];     /* the tower's canonical spec */
    int32_t batch, threads;
    char opt[16];
    uint64_t tower_runs, bare_runs;
    double tower_tput, bare_tput;   /* rows per second, over all rounds */
    double ratio;                   /* tower_tput / bare_tput */
    double ratio_min, ratio_max;    /* per round */
    double tower_p50_ms, bare_p50_ms;
    int32_t text_measured;          /* 0: not measured, text_note says why */
    char text_note[384];
    char query[128];
    int32_t n_tokens, seq_bucket, context_length;
    uint64_t bucket_runs, full_runs;
    double bucket_p50_ms, full_p50_ms;
    double text_speedup;            /* full_p50 / bucket_p50 */
} cdx_bench_overhead;

int cdx_bench_overhead_run(const cdx_contract *c, const cdx_bench_overhead_params *p, cdx_bench_overhead *out,
                           cdx_errbuf *eb);

#ifdef __cplusplus
}
#endif
#endif
