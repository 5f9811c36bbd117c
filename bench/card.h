/* Experiment cards: one record per measured benchmark cell (contract ×
 * tower × provider spec × threads × optimization level × bucket), carrying
 * what ran (clipdex, ORT, opset, providers and options, artifact hashes), on
 * what (CPU model and features) and what was measured (session creation, the
 * cold first run, warm percentiles with their noise, throughput, drift, peak
 * RSS, CPU fallback). A card set is saved as one JSON document
 * ({"schema": "clipdex.bench/1", "cards": [...]}) and parsed back by
 * `clipdex bench --compare` and `--from`. The field table in card.c is the
 * one place the JSON names live, for the writer and the parser alike. */
#ifndef CDX_BENCH_CARD_H
#define CDX_BENCH_CARD_H

#include <stddef.h>
#include <stdint.h>

#include "bench/stats.h"
#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CDX_BENCH_SCHEMA "clipdex.bench/1"
#define CDX_BENCH_MAX_EPS 8

typedef struct cdx_bench_ep {
    char provider[48];   /* ORT's name */
    int32_t nodes, partitions;
    double time_share;
} cdx_bench_ep;

typedef struct cdx_bench_thresholds {
    double max_fallback;        /* CPU fallback ratio (nodes or time) allowed */
    double min_speedup;         /* an accelerated provider vs the CPU provider, same bucket */
    double max_cold_warm_ratio; /* cold first run / warm p95 */
    double max_drift;           /* |drift| over a sustained run */
    double min_int8_speedup;    /* int8 vs fp32 throughput, same cell; <= 0: not judged */
} cdx_bench_thresholds;

typedef struct cdx_bench_card {
    /* what ran */
    char clipdex_version[32];
    char git_revision[64];
    char ort_version[32];
    char contract_id[64];
    char contract_version[32];
    char family[8];             /* clip | siglip */
    char variant[8];            /* fp32 | int8 */
    int32_t opset, ir_version;
    char space_hash[65];
    char artifact_sha256[65];   /* this tower's ONNX file */
    char tower[8];              /* vision | text */
    char base_providers[256];   /* the spec as given, before the threads/opt sweep */
    char providers[512];        /* the session's canonical spec */
    char used[256];             /* providers ORT appended, in order */
    int32_t threads, inter_threads;
    char opt[16];               /* disabled | basic | extended | layout | all */
    int32_t batch, seq;         /* seq 0 for the vision tower */
    cdx_bench_thresholds thresholds; /* the contract's, or the command line's */
    /* on what */
    char cpu_model[128];
    char cpu_features[384];     /* space-separated */
    int32_t cores;
    /* measured */
    double create_ms;           /* session creation, no optimized-model cache */
    double create_cached_ms;    /* session creation from ORT's optimized-model cache; < 0 not measured */
    double cold_ms;             /* first run of this bucket */
    double duration_s;          /* wall time of the steady-state runs */
    uint64_t runs, rows;
    double warm_min_ms, warm_mean_ms, warm_p50_ms, warm_p95_ms, warm_p99_ms, warm_max_ms;
    double throughput;          /* real rows per second of wall time */
    double drift;
    double noise_p50, noise_p95;
    int32_t n_blocks;
    double block_p50_ms[CDX_BENCH_MAX_BLOCKS], block_p95_ms[CDX_BENCH_MAX_BLOCKS];
    cdx_bench_hist hist;
    uint64_t rss_peak_bytes;    /* resident set after each run, the largest, in this cell */
    double fallback_by_nodes, fallback_by_time;
    int32_t fallback_detected;  /* any node or time share on CPU while another provider is primary */
    int32_t n_eps;
    cdx_bench_ep eps[CDX_BENCH_MAX_EPS];
    int32_t interrupted;        /* the run stopped early (SIGINT) */
    char error[512];            /* non-empty: this cell could not be measured, and why */
} cdx_bench_card;

/* A growable set of cards. Freeing NULL is a no-op. */
typedef struct cdx_bench_cards cdx_bench_cards;

int cdx_bench_cards_new(cdx_bench_cards **out);
void cdx_bench_cards_free(cdx_bench_cards *cs);
/* Copies c into the set. CDX_ERR_NOMEM. */
int cdx_bench_cards_add(cdx_bench_cards *cs, const cdx_bench_card *c);
size_t cdx_bench_cards_count(const cdx_bench_cards *cs);
/* Borrowed; valid until the next add or the set is freed. */
const cdx_bench_card *cdx_bench_cards_get(const cdx_bench_cards *cs, size_t i);
/* Appends every card of src to dst. */
int cdx_bench_cards_extend(cdx_bench_cards *dst, const cdx_bench_cards *src);

/* Replaces the thresholds of every card by the fields of t that are >= 0
 * (min_int8_speedup: > 0), as flags given when judging saved cards. */
void cdx_bench_cards_override_thresholds(cdx_bench_cards *cs, const cdx_bench_thresholds *t);

/* A key naming the cell ("contract/tower/providers/b8/s16"), for matching
 * cells across runs; with_contract 0 leaves the contract out. */
size_t cdx_bench_card_key(const cdx_bench_card *c, int with_contract, char *buf, size_t cap);

/* Serializes the set (and extra, a JSON object text merged into the top level
 * or NULL) as JSON; caller frees with free(). NULL when out of memory. */
char *cdx_bench_cards_to_json(const cdx_bench_cards *cs, const char *extra_json);
/* Writes the JSON to path atomically (temp file, rename). */
int cdx_bench_cards_save(const cdx_bench_cards *cs, const char *extra_json, const char *path, cdx_errbuf *eb);
/* Parses a card document; name labels errors. CDX_ERR_PARSE names the card
 * and the field; unknown fields are ignored (newer clipdex writes more). */
int cdx_bench_cards_parse(const char *json, size_t len, const char *name, cdx_bench_cards **out, cdx_errbuf *eb);
/* Writes text to path atomically (temp file beside it, then rename). */
int cdx_bench_write_text(const char *path, const char *text, cdx_errbuf *eb);
int cdx_bench_cards_load(const char *path, cdx_bench_cards **out, cdx_errbuf *eb);

#ifdef __cplusplus
}
#endif
#endif
