/* A model tower (the image or the text half of a CLIP/SigLIP model) as one
 * ONNX Runtime session on an explicit list of execution providers.
 *
 * Opening a tower logs the providers asked for, those ORT has and those used;
 * captures ORT's own node placement; runs a profiled warm-up of every shape
 * bucket and reports, per provider, nodes, partitions and share of run time,
 * and the CPU fallback ratio — refusing the session when fallback exceeds the
 * limit. Runs pad short batches up to the next batch bucket (and, for text
 * where the contract allows it, sequences up to the next sequence bucket) and
 * drop the padding rows after. The first run of each bucket (the compile) is
 * timed apart from the steady-state runs.
 *
 * One tower is shared by any number of threads: cdx_tower_run is thread-safe
 * (ORT sessions are); scratch memory is per call. */
#ifndef CDX_ENCODER_TOWER_H
#define CDX_ENCODER_TOWER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "contracts/contract.h"
#include "encoder/placement.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_tower cdx_tower;

typedef struct cdx_tower_params {
    const char *providers;   /* provider spec (encoder/providers.h); NULL means "cpu" */
    int32_t threads;         /* intra-op threads when the spec sets none; 0 = the thread budget's ort_intra (common/threads.h) */
    double max_fallback;     /* refuse when CPU fallback (by nodes or by time) exceeds this; < 0 uses the contract's */
    int32_t warmup;          /* run every bucket once at open (default 1) */
    int32_t report_placement;/* capture ORT's placement log and profile the warm-up (default 1) */
    const char *model_path;  /* NULL: the contract's artifact for this tower */
} cdx_tower_params;

cdx_tower_params cdx_tower_default_params(void);

/* spec is borrowed and must outlive the tower. */
int cdx_tower_open(const cdx_contract_spec *spec, enum cdx_tower_kind which, const cdx_tower_params *params,
                   cdx_tower **out, cdx_errbuf *eb);
void cdx_tower_close(cdx_tower *t);

typedef struct cdx_tower_input {
    const float *pixels;   /* vision: [n, 3, H, W] */
    const int64_t *ids;    /* text: [n, seq] */
    const int64_t *mask;   /* text: [n, seq]; NULL when the model takes no mask */
    int32_t seq;           /* text: row length of ids/mask, <= context_length */
} cdx_tower_input;

/* Runs n >= 1 rows; out receives n * dim floats, the model's raw (not
 * normalized) output. Batches larger than the largest bucket run in chunks. */
int cdx_tower_run(cdx_tower *t, const cdx_tower_input *in, int32_t n, float *out, cdx_errbuf *eb);

/* The sequence bucket a text of n_tokens tokens is padded to: the smallest
 * bucket >= n_tokens when the contract pads to buckets, else context_length. */
int32_t cdx_tower_seq_bucket(const cdx_tower *t, int32_t n_tokens);

/* Per shape bucket: the compile (first run) apart from steady state. */
typedef struct cdx_tower_bucket_stats {
    int32_t batch, seq;          /* seq is 0 for the vision tower */
    int64_t cold_ns;             /* first run; 0 if never run */
    uint64_t warm_runs;
    double warm_p50_ms, warm_p95_ms, warm_p99_ms, warm_mean_ms;
    uint64_t rows;               /* real (not padding) rows run in this bucket */
    uint64_t padded_rows;        /* padding rows run in this bucket */
} cdx_tower_bucket_stats;

typedef struct cdx_tower_report {
    enum cdx_tower_kind which;
    char spec[512];              /* canonical provider spec asked for */
    char available[512];         /* providers ORT has, comma-separated */
    char used[256];              /* providers appended, in order */
    int32_t intra_threads, inter_threads, opt_level;
    char model_path[CDX_CONTRACT_PATH_MAX];
    int32_t cache_hit;           /* optimized-model cache: 1 hit, 0 miss, -1 not used */
    int64_t create_ns;           /* session creation */
    cdx_placement_report placement;
    int32_t n_buckets;
    cdx_tower_bucket_stats buckets[CDX_CONTRACT_MAX_BUCKETS * 4];
    int64_t busy_ns;             /* total time inside ORT Run */
} cdx_tower_report;

/* Snapshot of the tower's report and stats. */
void cdx_tower_get_report(cdx_tower *t, cdx_tower_report *out);
const char *cdx_tower_name(enum cdx_tower_kind which);

#ifdef __cplusplus
}
#endif
#endif
