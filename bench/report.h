/* The benchmark report: one self-contained HTML file (no external resource,
 * no script needed to see it) with SVG charts drawn here — per tower, bucket
 * × latency with the cold first run and warm p50/p95/p99 marked; a latency
 * histogram per cell; throughput against threads — the verdicts, a headline
 * table and every card as a table row. Also the headline table as Markdown,
 * for docs. */
#ifndef CDX_BENCH_REPORT_H
#define CDX_BENCH_REPORT_H

#include <stddef.h>

#include "bench/card.h"
#include "bench/verdict.h"
#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_bench_report_params {
    const char *title;   /* NULL: "clipdex bench" */
    const char *command; /* the command line that measured, shown verbatim; may be NULL */
} cdx_bench_report_params;

cdx_bench_report_params cdx_bench_report_default_params(void);

/* The report as a string; caller frees. NULL when out of memory. */
char *cdx_bench_report_html(const cdx_bench_cards *cs, const cdx_bench_verdict *v, int n_verdicts,
                            const cdx_bench_report_params *p);
/* Writes it to path (temp file, rename). */
int cdx_bench_report_write(const cdx_bench_cards *cs, const cdx_bench_verdict *v, int n_verdicts,
                           const cdx_bench_report_params *p, const char *path, cdx_errbuf *eb);

/* The headline table (per contract, tower and bucket: warm p50 and
 * throughput for each threads × optimization level, cold vs warm) as
 * Markdown; caller frees. */
char *cdx_bench_headline_markdown(const cdx_bench_cards *cs);

#ifdef __cplusplus
}
#endif
#endif
