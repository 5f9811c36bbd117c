/* Cell-by-cell comparison of benchmark runs against their noise (see compare.h). */
#include "bench/compare.h"

#include "bench/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cdx_bench_compare_params cdx_bench_compare_default_params(void)
{
    return (cdx_bench_compare_params){.noise_floor = 0.03, .z = 2.0};
}

#define MAX_RUNS 32

/* One side's view of a cell: the median over runs and the noise. */
struct side {
    int n;
    double p50, p95, cold, tput, noise50, noise95;
};

static int collect(const cdx_bench_cards *const *sets, int n_sets, const char *key, int with_contract, struct side *s)
{
    double p50[MAX_RUNS], p95[MAX_RUNS], cold[MAX_RUNS], tput[MAX_RUNS], own50[MAX_RUNS], own95[MAX_RUNS];
    int n = 0;
    char k[640];
    for (int i = 0; i < n_sets && n < MAX_RUNS; i++) {
        for (size_t j = 0; j < cdx_bench_cards_count(sets[i]); j++) {
            const cdx_bench_card *c = cdx_bench_cards_get(sets[i], j);
            cdx_bench_card_key(c, with_contract, k, sizeof k);
            if (c->error[0] || c->runs == 0 || strcmp(k, key) != 0)
                continue;
            p50[n] = c->warm_p50_ms;
            p95[n] = c->warm_p95_ms;
            cold[n] = c->cold_ms;
            tput[n] = c->throughput;
            own50[n] = c->noise_p50;
            own95[n] = c->noise_p95;
            n++;
            break; /* one card per cell per run */
        }
    }
    memset(s, 0, sizeof *s);
    s->n = n;
    if (n == 0)
        return 0;
    double spread50 = cdx_bench_noise(p50, (size_t)n), spread95 = cdx_bench_noise(p95, (size_t)n);
    s->p50 = cdx_bench_median_inplace(p50, (size_t)n);
    s->p95 = cdx_bench_median_inplace(p95, (size_t)n);
    s->cold = cdx_bench_median_inplace(cold, (size_t)n);
    s->tput = cdx_bench_median_inplace(tput, (size_t)n);
    s->noise50 = fmax(spread50, cdx_bench_median_inplace(own50, (size_t)n));
    s->noise95 = fmax(spread95, cdx_bench_median_inplace(own95, (size_t)n));
    return n;
}

static enum cdx_bench_change judge(double ratio, double band)
{
    if (ratio > 1 + band)
        return CDX_BENCH_REGRESSED;
    if (ratio < 1 / (1 + band))
        return CDX_BENCH_IMPROVED;
    return CDX_BENCH_SAME;
}

static double ratio(double b, double a) { return a > 0 ? b / a : NAN; }

/* Distinct contract ids in a side; 2 means "more than one". */
static int n_contracts(const cdx_bench_cards *const *sets, int n_sets)
{
    const char *first = NULL;
    for (int i = 0; i < n_sets; i++)
        for (size_t j = 0; j < cdx_bench_cards_count(sets[i]); j++) {
            const char *id = cdx_bench_cards_get(sets[i], j)->contract_id;
            if (!first)
                first = id;
            else if (strcmp(first, id) != 0)
                return 2;
        }
    return first ? 1 : 0;
}

static int compare_keyed(const cdx_bench_cards *const *a, int n_a, const cdx_bench_cards *const *b, int n_b,
                         const cdx_bench_compare_params *p, int with_contract, cdx_bench_compare_row **rows,
                         size_t *n_rows, size_t *unmatched)
{
    size_t cap = 0;
    for (int i = 0; i < n_a; i++)
        cap += cdx_bench_cards_count(a[i]);
    for (int i = 0; i < n_b; i++)
        cap += cdx_bench_cards_count(b[i]);
    *rows = calloc(cap + 1, sizeof **rows);
    *n_rows = 0;
    *unmatched = 0;
    if (!*rows)
        return CDX_ERR_NOMEM;
    /* Walk every distinct key of both sides once, in the order first seen. */
    char (*seen)[640] = calloc(cap + 1, sizeof *seen);
    size_t n_seen = 0;
    if (!seen) {
        free(*rows);
        *rows = NULL;
        return CDX_ERR_NOMEM;
    }
    for (int side = 0; side < 2; side++) {
        const cdx_bench_cards *const *sets = side ? b : a;
        int n_sets = side ? n_b : n_a;
        for (int i = 0; i < n_sets; i++) {
            for (size_t j = 0; j < cdx_bench_cards_count(sets[i]); j++) {
                char *key = seen[n_seen];
                cdx_bench_card_key(cdx_bench_cards_get(sets[i], j), with_contract, key, sizeof seen[0]);
                int dup = 0;
                for (size_t r = 0; r < n_seen && !dup; r++)
                    dup = strcmp(seen[r], key) == 0;
                if (dup)
                    continue;
                n_seen++;
                struct side sa, sb;
                collect(a, n_a, key, with_contract, &sa);
                collect(b, n_b, key, with_contract, &sb);
                if (!sa.n || !sb.n) {
                    (*unmatched)++;
                    continue;
                }
                cdx_bench_compare_row *row = &(*rows)[(*n_rows)++];
                snprintf(row->key, sizeof row->key, "%s", key);
                row->runs_a = sa.n;
                row->runs_b = sb.n;
                row->a_p50 = sa.p50;
                row->b_p50 = sb.p50;
                row->a_p95 = sa.p95;
                row->b_p95 = sb.p95;
                row->a_cold = sa.cold;
                row->b_cold = sb.cold;
                row->a_tput = sa.tput;
                row->b_tput = sb.tput;
                row->noise_a = sa.noise50;
                row->noise_b = sb.noise50;
                row->ratio_p50 = ratio(sb.p50, sa.p50);
                row->ratio_p95 = ratio(sb.p95, sa.p95);
                row->ratio_cold = ratio(sb.cold, sa.cold);
                row->ratio_tput = ratio(sb.tput, sa.tput);
                row->band_p50 = fmax(p->noise_floor, p->z * hypot(sa.noise50, sb.noise50));
                row->band_p95 = fmax(p->noise_floor, p->z * hypot(sa.noise95, sb.noise95));
                row->p50 = judge(row->ratio_p50, row->band_p50);
                row->p95 = judge(row->ratio_p95, row->band_p95);
                /* a regression on either wins; else an improvement on either */
                row->verdict = row->p50 == CDX_BENCH_REGRESSED || row->p95 == CDX_BENCH_REGRESSED ? CDX_BENCH_REGRESSED
                               : row->p50 == CDX_BENCH_IMPROVED || row->p95 == CDX_BENCH_IMPROVED ? CDX_BENCH_IMPROVED
                                                                                                 : CDX_BENCH_SAME;
            }
        }
    }
    free(seen);
    return CDX_OK;
}

int cdx_bench_compare(const cdx_bench_cards *const *a, int n_a, const cdx_bench_cards *const *b, int n_b,
                      const cdx_bench_compare_params *params, cdx_bench_compare_row **rows, size_t *n_rows,
                      size_t *unmatched)
{
    cdx_bench_compare_params p = params ? *params : cdx_bench_compare_default_params();
    int rc = compare_keyed(a, n_a, b, n_b, &p, 1, rows, n_rows, unmatched);
    if (rc == CDX_OK && *n_rows == 0 && n_contracts(a, n_a) == 1 && n_contracts(b, n_b) == 1) {
        free(*rows);
        rc = compare_keyed(a, n_a, b, n_b, &p, 0, rows, n_rows, unmatched);
    }
    return rc;
}
