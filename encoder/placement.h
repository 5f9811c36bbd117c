/* Node placement report: which execution provider ran which part of a graph.
 *
 * Three sources, all ORT's own: the "Node(s) placed on [EP]. Number of nodes: N"
 * lines ORT logs at VERBOSE while creating a session (nodes per provider after
 * partitioning: a compiled provider's partitions count as one fused node each);
 * the capability summary compiling providers log ("<EP>::GetCapability, number
 * of partitions supported by X: P number of nodes in the graph: G number of
 * nodes supported by X: S"), which gives their real coverage of the original
 * graph; and the JSON trace ORT's profiler writes (per-node kernel time and
 * provider, in execution order).
 * From them: nodes, partitions and time share per provider, and the CPU
 * fallback ratio by nodes and by time. Pure functions over text, so recorded
 * logs and profiles from machines with other providers test them. */
#ifndef CDX_ENCODER_PLACEMENT_H
#define CDX_ENCODER_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CDX_PLACEMENT_MAX_EPS 8

typedef struct cdx_ep_share {
    char provider[48];   /* ORT's name, e.g. "CUDAExecutionProvider" */
    int32_t nodes;       /* nodes placed on it: original nodes from a capability summary, else the
                            placement log's count, else distinct profiled nodes */
    int32_t partitions;  /* from a capability summary, else maximal runs of consecutive nodes on it in
                            the first profiled run */
    int32_t from_capability; /* 1 when nodes/partitions came from the provider's capability summary */
    int64_t time_us;     /* kernel time over the profiled runs */
    double time_share;   /* time_us / total */
} cdx_ep_share;

typedef struct cdx_placement_report {
    int32_t n_eps;
    cdx_ep_share eps[CDX_PLACEMENT_MAX_EPS];
    int32_t total_nodes;
    int64_t total_time_us;
    int32_t nodes_from_log;    /* 1 when node counts came from ORT's placement log */
    int32_t graph_nodes;       /* original graph size from a capability summary, 0 if none */
    int32_t profiled_runs;     /* model_run events in the profile */
    char primary[48];          /* the provider asked for first (ORT name) */
    double fallback_by_nodes;  /* share of nodes on the CPU provider when it is not primary; else 0 */
    double fallback_by_time;
} cdx_placement_report;

void cdx_placement_init(cdx_placement_report *r);
/* Feeds one ORT log message; returns 1 when it was a placement line. */
int cdx_placement_feed_log(cdx_placement_report *r, const char *message);
/* Parses an ORT profile (the JSON array ORT writes at SessionEndProfiling).
 * CDX_ERR_PARSE with the reason in eb when it is not one. */
int cdx_placement_feed_profile(cdx_placement_report *r, const char *json, size_t len, cdx_errbuf *eb);
/* Computes totals, shares and fallback ratios; primary_ort_name is the first
 * provider actually used. */
void cdx_placement_finish(cdx_placement_report *r, const char *primary_ort_name);
/* One line per provider, for logs: "CPUExecutionProvider nodes=12 partitions=1 time=83.0%". */
size_t cdx_placement_format(const cdx_placement_report *r, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
