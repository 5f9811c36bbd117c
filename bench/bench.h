/* The benchmark runner behind `clipdex bench`: for each provider spec ×
 * threads × optimization level, each tower, each shape bucket (image: batch;
 * text: batch × sequence), it opens the tower (session creation timed; again
 * from ORT's optimized-model cache; ORT's node placement and a profiled
 * warm-up give the first-hit time per bucket and the CPU fallback), then runs
 * the bucket for a fixed duration and writes one experiment card (card.h)
 * per cell. It builds on the tower's own machinery (encoder/tower.h) and
 * times each steady-state run itself, so percentiles are exact.
 *
 * Interruptible: when *stop becomes non-zero the current run finishes, the
 * cell is kept (marked interrupted) and cdx_bench_run returns
 * CDX_ERR_INTERRUPTED with every card measured so far in the set. */
#ifndef CDX_BENCH_BENCH_H
#define CDX_BENCH_BENCH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/card.h"
#include "common/error.h"
#include "contracts/contract.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CDX_BENCH_MAX_SPECS 16
#define CDX_BENCH_MAX_SWEEP 8

typedef struct cdx_bench_progress {
    int32_t cell, n_cells;        /* 1-based cell being measured, of n_cells in this run */
    const char *contract_id, *tower, *providers;
    int32_t batch, seq;
    double elapsed_s, duration_s; /* in this cell's steady-state phase */
    uint64_t runs;
    double last_ms;
    int32_t phase;                /* 0 opening the session, 1 steady state, 2 cell done */
} cdx_bench_progress;

typedef void (*cdx_bench_progress_fn)(void *ctx, const cdx_bench_progress *p);

typedef struct cdx_bench_params {
    const char *const *providers; /* base provider specs; NULL or n 0: {"cpu"} */
    int32_t n_providers;
    int32_t n_batch;              /* 0: the contract's batch buckets */
    int32_t batch[CDX_CONTRACT_MAX_BUCKETS];
    int32_t n_seq;                /* 0: the contract's sequence buckets */
    int32_t seq[CDX_CONTRACT_MAX_BUCKETS];
    int32_t n_threads;            /* 0: as each spec says (or the usable cores) */
    int32_t threads[CDX_BENCH_MAX_SWEEP];
    int32_t n_opt;                /* 0: as each spec says */
    int32_t opt[CDX_BENCH_MAX_SWEEP]; /* ORT GraphOptimizationLevel values */
    int32_t towers;               /* bits (1 << enum cdx_tower_kind); 0: both */
    double duration_s;            /* steady state per cell (default 2) */
    int32_t min_runs;             /* at least this many warm runs per cell (default 6) */
    int32_t blocks;               /* blocks a cell's run is cut into for its noise (default 5) */
    int32_t measure_cache;        /* also time session creation from the optimized-model cache (default 1) */
    cdx_bench_thresholds thresholds; /* a field < 0 takes the contract's (min_int8_speedup: 0 = not judged) */
    const char *clipdex_version, *git_revision; /* stamped on cards */
    const volatile sig_atomic_t *stop;          /* may be NULL */
    cdx_bench_progress_fn progress;             /* may be NULL */
    void *progress_ctx;
} cdx_bench_params;

cdx_bench_params cdx_bench_default_params(void);

/* Cells cdx_bench_run would measure for this contract; -1 with eb set when
 * the parameters do not fit it (a sequence bucket over its context, ...). */
int32_t cdx_bench_count_cells(const cdx_contract *c, const cdx_bench_params *p, cdx_errbuf *eb);

/* Measures every cell and appends its card to out. A provider spec whose
 * session cannot be opened yields cards with error set, and the run goes on.
 * The contract is borrowed. */
int cdx_bench_run(const cdx_contract *c, const cdx_bench_params *p, cdx_bench_cards *out, cdx_errbuf *eb);

/* Applies a threads / optimization-level sweep point to a provider spec:
 * sets threads=T and opt=NAME on its cpu entry (T 0 / opt < 0: left as is).
 * CDX_ERR_INVAL when the spec has no cpu entry and a value must be set. */
int cdx_bench_sweep_spec(const char *base, int32_t threads, int32_t opt_level, char *out, size_t cap, cdx_errbuf *eb);

/* Parses an optimization level name (disabled|basic|extended|layout|all) into
 * ORT's value; -1 when unknown. */
int32_t cdx_bench_opt_from_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
