/* Experiment cards: JSON round trip, parse errors naming card and field,
 * threshold overrides; the compare logic (noise bands, repeated runs,
 * fp32-vs-int8 matching); the verdicts (each rule, pairing, n/a). */
#include "testutil.h"

#include "bench/card.h"
#include "bench/compare.h"
#include "bench/report.h"
#include "bench/verdict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cdx_bench_card make_card(const char *contract, const char *tower, const char *providers, int batch, double p50)
{
    cdx_bench_card c;
    memset(&c, 0, sizeof c);
    snprintf(c.contract_id, sizeof c.contract_id, "%s", contract);
    snprintf(c.variant, sizeof c.variant, "fp32");
    snprintf(c.family, sizeof c.family, "clip");
    snprintf(c.tower, sizeof c.tower, "%s", tower);
    snprintf(c.providers, sizeof c.providers, "%s", providers);
    snprintf(c.base_providers, sizeof c.base_providers, "cpu");
    snprintf(c.used, sizeof c.used, "cpu");
    snprintf(c.opt, sizeof c.opt, "all");
    c.threads = 2;
    c.batch = batch;
    c.seq = strcmp(tower, "text") == 0 ? 16 : 0;
    c.runs = 100;
    c.warm_p50_ms = p50;
    c.warm_p95_ms = p50 * 1.1;
    c.warm_p99_ms = p50 * 1.2;
    c.warm_min_ms = p50 * 0.9;
    c.cold_ms = p50 * 2;
    c.throughput = 1000.0 * batch / p50;
    c.noise_p50 = c.noise_p95 = 0.01;
    c.n_blocks = 2;
    c.block_p50_ms[0] = c.block_p50_ms[1] = p50;
    c.block_p95_ms[0] = c.block_p95_ms[1] = p50 * 1.1;
    c.hist.n_bins = 3;
    c.hist.lo_ms = p50 / 2;
    c.hist.hi_ms = p50 * 2;
    c.hist.bins[1] = 100;
    c.create_cached_ms = -1;
    c.thresholds = (cdx_bench_thresholds){.max_fallback = 0, .min_speedup = 0.18, .max_cold_warm_ratio = 6.5,
                                          .max_drift = 0.2};
    c.n_eps = 1;
    snprintf(c.eps[0].provider, sizeof c.eps[0].provider, "CPUExecutionProvider");
    c.eps[0].nodes = 12;
    c.eps[0].partitions = 1;
    c.eps[0].time_share = 1;
    return c;
}

static cdx_bench_cards *set_of(const cdx_bench_card *cards, int n)
{
    cdx_bench_cards *cs = NULL;
    assert_int_equal(cdx_bench_cards_new(&cs), CDX_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(cdx_bench_cards_add(cs, &cards[i]), CDX_OK);
    return cs;
}

static void json_round_trip_keeps_every_field(void **state)
{
    (void)state;
    cdx_bench_card in[2] = {make_card("m", "vision", "cpu:threads=2,opt=all", 8, 12.5),
                            make_card("m", "text", "cpu:threads=1", 1, 3.25)};
    snprintf(in[1].error, sizeof in[1].error, "session failed");
    in[0].create_cached_ms = 4.5;
    in[0].rss_peak_bytes = 123456789;
    in[0].drift = -0.125;
    cdx_bench_cards *cs = set_of(in, 2);
    char *json = cdx_bench_cards_to_json(cs, "{\"interrupted\": true}");
    assert_non_null(json);
    assert_non_null(strstr(json, "\"interrupted\": true"));
    cdx_bench_cards *back = NULL;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_bench_cards_parse(json, strlen(json), "mem", &back, &eb), CDX_OK);
    assert_int_equal(cdx_bench_cards_count(back), 2);
    for (int i = 0; i < 2; i++) {
        const cdx_bench_card *a = &in[i], *b = cdx_bench_cards_get(back, (size_t)i);
        assert_string_equal(a->contract_id, b->contract_id);
        assert_string_equal(a->tower, b->tower);
        assert_string_equal(a->providers, b->providers);
        assert_string_equal(a->error, b->error);
        assert_int_equal(a->batch, b->batch);
        assert_int_equal(a->seq, b->seq);
        assert_int_equal(a->runs, b->runs);
        assert_int_equal(a->rss_peak_bytes, b->rss_peak_bytes);
        assert_float_equal(a->warm_p50_ms, b->warm_p50_ms, 1e-9);
        assert_float_equal(a->create_cached_ms, b->create_cached_ms, 1e-9);
        assert_float_equal(a->drift, b->drift, 1e-9);
        assert_float_equal(a->thresholds.max_cold_warm_ratio, b->thresholds.max_cold_warm_ratio, 1e-9);
        assert_int_equal(a->n_blocks, b->n_blocks);
        assert_int_equal(a->hist.n_bins, b->hist.n_bins);
        assert_int_equal(a->hist.bins[1], b->hist.bins[1]);
        assert_int_equal(a->n_eps, b->n_eps);
        assert_string_equal(a->eps[0].provider, b->eps[0].provider);
        assert_int_equal(a->eps[0].nodes, b->eps[0].nodes);
    }
    free(json);
    cdx_bench_cards_free(back);
    cdx_bench_cards_free(cs);
    cdx_bench_cards_free(NULL);
}

static void parse_errors_name_the_card_and_field(void **state)
{
    (void)state;
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {"not json", "not JSON"},
        {"{\"schema\": \"other/1\", \"cards\": []}", "schema is other/1"},
        {"{\"schema\": \"clipdex.bench/1\", \"cards\": {}}", "\"cards\" must be an array"},
        {"{\"schema\": \"clipdex.bench/1\", \"cards\": [1]}", "card 0 is not an object"},
        {"{\"schema\": \"clipdex.bench/1\", \"cards\": [{\"tower\": \"vision\"}]}", "card 0: missing field contract.id"},
        {"{\"schema\": \"clipdex.bench/1\", \"cards\": [{\"contract\": {\"id\": 5}}]}", "field contract.id has the wrong type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdx_bench_cards *cs = NULL;
        cdx_errbuf eb = {0};
        assert_int_equal(cdx_bench_cards_parse(cases[i].json, strlen(cases[i].json), "f.json", &cs, &eb), CDX_ERR_PARSE);
        assert_null(cs);
        if (!strstr(eb.msg, cases[i].expect) || !strstr(eb.msg, "f.json"))
            fail_msg("case %zu: '%s' lacks '%s'", i, eb.msg, cases[i].expect);
    }
    /* a valid card with a bucket out of range */
    cdx_bench_card c = make_card("m", "vision", "cpu", 1, 1);
    c.batch = 0;
    cdx_bench_cards *cs = set_of(&c, 1), *back = NULL;
    char *json = cdx_bench_cards_to_json(cs, NULL);
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_bench_cards_parse(json, strlen(json), "f.json", &back, &eb), CDX_ERR_PARSE);
    assert_non_null(strstr(eb.msg, "out of range"));
    free(json);
    cdx_bench_cards_free(cs);
    assert_int_equal(cdx_bench_cards_load("/nonexistent/cards.json", &back, &eb), CDX_ERR_NOTFOUND);
}

static const cdx_bench_compare_row *row_for(const cdx_bench_compare_row *rows, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].key, key) == 0)
            return &rows[i];
    fail_msg("no row %s", key);
    return NULL;
}

static void compare_flags_only_changes_beyond_noise(void **state)
{
    (void)state;
    cdx_bench_card a[3] = {make_card("m", "vision", "cpu", 1, 10), make_card("m", "vision", "cpu", 8, 40),
                           make_card("m", "vision", "cpu", 32, 100)};
    cdx_bench_card b[3] = {make_card("m", "vision", "cpu", 1, 10.2), /* +2%: inside the 3% floor */
                           make_card("m", "vision", "cpu", 8, 48),    /* +20%, noise 1%: regression */
                           make_card("m", "vision", "cpu", 32, 80)};  /* -20%: improved */
    /* a noisy cell: +20% is not a regression when the cell's own spread is 15% */
    cdx_bench_card an = make_card("m", "text", "cpu", 1, 5), bn = make_card("m", "text", "cpu", 1, 6);
    an.noise_p50 = an.noise_p95 = bn.noise_p50 = bn.noise_p95 = 0.15;
    cdx_bench_card a4[4] = {a[0], a[1], a[2], an}, b4[4] = {b[0], b[1], b[2], bn};
    cdx_bench_cards *sa = set_of(a4, 4), *sb = set_of(b4, 3);
    cdx_bench_compare_row *rows = NULL;
    size_t n = 0, unmatched = 0;
    cdx_bench_compare_params p = cdx_bench_compare_default_params();
    assert_int_equal(cdx_bench_compare((const cdx_bench_cards *const *)&sa, 1, (const cdx_bench_cards *const *)&sb, 1,
                                       &p, &rows, &n, &unmatched),
                     CDX_OK);
    assert_int_equal(n, 3);
    assert_int_equal(unmatched, 1); /* the text cell is only in A */
    assert_int_equal(row_for(rows, n, "m/vision/cpu/b1")->verdict, CDX_BENCH_SAME);
    assert_int_equal(row_for(rows, n, "m/vision/cpu/b8")->verdict, CDX_BENCH_REGRESSED);
    assert_float_equal(row_for(rows, n, "m/vision/cpu/b8")->ratio_p50, 1.2, 1e-9);
    assert_int_equal(row_for(rows, n, "m/vision/cpu/b32")->verdict, CDX_BENCH_IMPROVED);
    free(rows);
    cdx_bench_cards_free(sb);

    sb = set_of(b4, 4);
    assert_int_equal(cdx_bench_compare((const cdx_bench_cards *const *)&sa, 1, (const cdx_bench_cards *const *)&sb, 1,
                                       &p, &rows, &n, &unmatched),
                     CDX_OK);
    const cdx_bench_compare_row *r = row_for(rows, n, "m/text/cpu/b1/s16");
    assert_int_equal(r->verdict, CDX_BENCH_SAME);
    assert_true(r->band_p50 > 0.4); /* 2 * hypot(0.15, 0.15) */
    free(rows);

    /* repeated runs: three A runs that spread 10 / 12 / 14 ms make +15% noise, not a regression */
    cdx_bench_card r1 = make_card("m", "vision", "cpu", 4, 10), r2 = make_card("m", "vision", "cpu", 4, 12),
                   r3 = make_card("m", "vision", "cpu", 4, 14), rb = make_card("m", "vision", "cpu", 4, 14);
    cdx_bench_cards *runs[3] = {set_of(&r1, 1), set_of(&r2, 1), set_of(&r3, 1)}, *one = set_of(&rb, 1);
    assert_int_equal(cdx_bench_compare((const cdx_bench_cards *const *)runs, 3, (const cdx_bench_cards *const *)&one, 1,
                                       &p, &rows, &n, &unmatched),
                     CDX_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].runs_a, 3);
    assert_float_equal(rows[0].a_p50, 12, 1e-9);
    assert_int_equal(rows[0].verdict, CDX_BENCH_SAME);
    free(rows);
    /* the same +17% against a single quiet A run is a regression */
    assert_int_equal(cdx_bench_compare((const cdx_bench_cards *const *)&runs[1], 1, (const cdx_bench_cards *const *)&one,
                                       1, &p, &rows, &n, &unmatched),
                     CDX_OK);
    assert_int_equal(rows[0].verdict, CDX_BENCH_REGRESSED);
    free(rows);
    for (int i = 0; i < 3; i++)
        cdx_bench_cards_free(runs[i]);
    cdx_bench_cards_free(one);

    /* different contracts (fp32 vs int8 files): matched without the contract id */
    cdx_bench_card q = make_card("m-int8", "vision", "cpu", 8, 20);
    cdx_bench_cards *sq = set_of(&q, 1);
    cdx_bench_cards_free(sb);
    sb = set_of(&a[1], 1);
    assert_int_equal(cdx_bench_compare((const cdx_bench_cards *const *)&sb, 1, (const cdx_bench_cards *const *)&sq, 1,
                                       &p, &rows, &n, &unmatched),
                     CDX_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].key, "vision/cpu/b8");
    assert_int_equal(rows[0].verdict, CDX_BENCH_IMPROVED);
    free(rows);
    cdx_bench_cards_free(sq);
    cdx_bench_cards_free(sa);
    cdx_bench_cards_free(sb);
}

static void verdicts_judge_each_rule(void **state)
{
    (void)state;
    cdx_bench_card c[6];
    c[0] = make_card("m", "vision", "cpu", 1, 10);
    c[1] = make_card("m", "vision", "cpu", 8, 40);
    c[1].cold_ms = 300; /* 300 / 44 = 6.8x > 6.5x */
    c[2] = make_card("m", "text", "cpu", 1, 5);
    c[2].drift = -0.25; /* |drift| 25% > 20% */
    c[3] = make_card("m", "text", "cpu", 8, 5);
    c[3].drift = 0.9;
    c[3].runs = 3; /* too few runs for drift */
    /* an accelerated provider on the same cell as c[0]: 10 / 9 - 1 = 11% < 18% */
    c[4] = make_card("m", "vision", "coreml;cpu", 1, 9);
    snprintf(c[4].used, sizeof c[4].used, "coreml,cpu");
    c[4].fallback_by_nodes = 0.25; /* and a fallback over 0 */
    c[5] = make_card("m", "vision", "cpu", 32, 100);
    snprintf(c[5].error, sizeof c[5].error, "boom");
    cdx_bench_cards *cs = set_of(c, 6);
    cdx_bench_verdict v[CDX_BENCH_RULE_COUNT];
    assert_int_equal(cdx_bench_judge(cs, v), 0);
    assert_false(v[CDX_BENCH_RULE_FALLBACK].pass);
    assert_int_equal(v[CDX_BENCH_RULE_FALLBACK].failed, 1);
    assert_float_equal(v[CDX_BENCH_RULE_FALLBACK].worst, 0.25, 1e-12);
    assert_false(v[CDX_BENCH_RULE_COLD_WARM].pass);
    assert_int_equal(v[CDX_BENCH_RULE_COLD_WARM].failed, 1);
    assert_string_equal(v[CDX_BENCH_RULE_COLD_WARM].worst_cell, "m/vision/cpu/b8");
    assert_false(v[CDX_BENCH_RULE_DRIFT].pass);
    assert_int_equal(v[CDX_BENCH_RULE_DRIFT].judged, 4); /* c[3] too short, c[5] an error */
    assert_float_equal(v[CDX_BENCH_RULE_DRIFT].worst, 0.25, 1e-12);
    assert_false(v[CDX_BENCH_RULE_SPEEDUP].pass);
    assert_int_equal(v[CDX_BENCH_RULE_SPEEDUP].judged, 1);
    assert_float_equal(v[CDX_BENCH_RULE_SPEEDUP].worst, 10.0 / 9.0 - 1, 1e-12);
    assert_int_equal(v[CDX_BENCH_RULE_INT8].judged, 0);
    assert_true(v[CDX_BENCH_RULE_INT8].pass);
    char line[1024];
    cdx_bench_verdict_format(&v[CDX_BENCH_RULE_COLD_WARM], line, sizeof line);
    assert_non_null(strstr(line, "FAIL"));
    assert_non_null(strstr(line, "6.82x > 6.50x"));
    cdx_bench_verdict_format(&v[CDX_BENCH_RULE_INT8], line, sizeof line);
    assert_non_null(strstr(line, "n/a"));
    assert_int_equal(cdx_bench_card_failures(&c[1]), 1u << CDX_BENCH_RULE_COLD_WARM);
    assert_int_equal(cdx_bench_card_failures(&c[0]), 0);

    /* flags loosen the limits: everything but speedup passes */
    cdx_bench_cards_override_thresholds(cs, &(cdx_bench_thresholds){.max_fallback = 0.5, .min_speedup = 0.05,
                                                                      .max_cold_warm_ratio = 10, .max_drift = 0.3,
                                                                      .min_int8_speedup = 0});
    assert_int_equal(cdx_bench_judge(cs, v), 1);
    cdx_bench_cards_free(cs);

    /* int8 against its fp32 model, judged only with a limit */
    cdx_bench_card f = make_card("m", "vision", "cpu", 8, 40), q = make_card("m-int8", "vision", "cpu", 8, 20);
    snprintf(q.variant, sizeof q.variant, "int8");
    q.thresholds.min_int8_speedup = 1.7;
    cdx_bench_card pair[2] = {f, q};
    cs = set_of(pair, 2);
    assert_int_equal(cdx_bench_judge(cs, v), 1);
    assert_int_equal(v[CDX_BENCH_RULE_INT8].judged, 1);
    assert_float_equal(v[CDX_BENCH_RULE_INT8].worst, 2.0, 1e-9);
    cdx_bench_cards_override_thresholds(cs, &(cdx_bench_thresholds){-1, -1, -1, -1, 2.5});
    assert_int_equal(cdx_bench_judge(cs, v), 0);
    assert_false(v[CDX_BENCH_RULE_INT8].pass);
    char *md = cdx_bench_headline_markdown(cs);
    assert_non_null(strstr(md, "| m | m-int8 | vision | b8 |"));
    assert_non_null(strstr(md, "2.00x"));
    free(md);
    cdx_bench_cards_free(cs);
}

static void report_draws_charts_with_marks(void **state)
{
    (void)state;
    cdx_bench_card c[4] = {make_card("m", "vision", "cpu:threads=1", 1, 10), make_card("m", "vision", "cpu:threads=2", 1, 6),
                           make_card("m", "text", "cpu:threads=1", 1, 3), make_card("m<&>", "text", "cpu", 4, 3)};
    c[0].threads = 1;
    cdx_bench_cards *cs = set_of(c, 4);
    cdx_bench_verdict v[CDX_BENCH_RULE_COUNT];
    cdx_bench_judge(cs, v);
    char *html = cdx_bench_report_html(cs, v, CDX_BENCH_RULE_COUNT, NULL);
    assert_non_null(html);
    assert_non_null(strstr(html, "<!DOCTYPE html>"));
    assert_non_null(strstr(html, "data-kind=\"scatter\" data-marks=\"4\"")); /* vision: 2 warm + 2 cold */
    assert_non_null(strstr(html, "data-kind=\"threads\""));
    assert_non_null(strstr(html, "data-kind=\"histogram\" data-marks=\"1\""));
    assert_non_null(strstr(html, "m&lt;&amp;&gt;")); /* names are escaped */
    assert_null(strstr(html, "m<&>"));
    assert_null(strstr(html, "<script")); /* self-contained and static */
    assert_null(strstr(html, "http"));
    free(html);
    cdx_bench_cards_free(cs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_round_trip_keeps_every_field),
        cmocka_unit_test(parse_errors_name_the_card_and_field),
        cmocka_unit_test(compare_flags_only_changes_beyond_noise),
        cmocka_unit_test(verdicts_judge_each_rule),
        cmocka_unit_test(report_draws_charts_with_marks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
