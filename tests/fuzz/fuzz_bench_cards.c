/* Fuzz target: the experiment-card parser (cdx_bench_cards_parse), then what
 * `clipdex bench --from` does with whatever it accepted: verdicts, the HTML
 * report, the Markdown tables and the JSON again. Any input gives cards or an
 * error with a message, never a crash or leak. Seeds: tests/fuzz/corpus/bench_cards/. */
#include "bench/card.h"
#include "bench/compare.h"
#include "bench/report.h"
#include "bench/verdict.h"
#include "common/util.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cdx_bench_cards *cs = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_bench_cards_parse((const char *)data, size, "fuzz", &cs, &eb);
    if (rc != CDX_OK) {
        CDX_ASSERT(cs == NULL && strlen(eb.msg) > 0);
        return 0;
    }
    cdx_bench_verdict v[CDX_BENCH_RULE_COUNT];
    cdx_bench_judge(cs, v);
    free(cdx_bench_report_html(cs, v, CDX_BENCH_RULE_COUNT, NULL));
    free(cdx_bench_headline_markdown(cs));
    char *json = cdx_bench_cards_to_json(cs, NULL);
    CDX_ASSERT(json != NULL);
    cdx_bench_cards *back = NULL;
    CDX_ASSERT(cdx_bench_cards_parse(json, strlen(json), "again", &back, &eb) == CDX_OK);
    CDX_ASSERT(cdx_bench_cards_count(back) == cdx_bench_cards_count(cs));
    cdx_bench_compare_row *rows = NULL;
    size_t n = 0, unmatched = 0;
    cdx_bench_compare((const cdx_bench_cards *const *)&cs, 1, (const cdx_bench_cards *const *)&back, 1, NULL, &rows, &n,
                      &unmatched);
    free(rows);
    free(json);
    cdx_bench_cards_free(back);
    cdx_bench_cards_free(cs);
    return 0;
}
