/* `clipdex bench`: latency and throughput per provider spec × threads ×
 * optimization level × tower × shape bucket, as experiment cards (--json), an
 * HTML report (--report) and verdicts (exit 1 when one fails). --compare
 * weighs two card files cell by cell against their noise; --from judges and
 * reports card files measured earlier. SIGINT stops after the current run and
 * still writes what was measured (exit 130). */
#include "cli/cli.h"

#include "bench/bench.h"
#include "bench/compare.h"
#include "bench/overhead.h"
#include "bench/report.h"
#include "bench/verdict.h"
#include "common/log.h"
#include "contracts/contract.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CONTRACTS 8
#define MAX_FILES 16
#define EXIT_INTERRUPTED 130

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* "1,8,32" into v (at most cap values in [lo, hi]); -1 on a bad list. */
static int parse_ints(const char *arg, int32_t *v, int32_t cap, int32_t lo, int32_t hi)
{
    int32_t n = 0;
    const char *p = arg;
    while (*p) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < lo || x > hi || n == cap || (*end && *end != ','))
            return -1;
        v[n++] = (int32_t)x;
        p = *end ? end + 1 : end;
    }
    return n;
}

static int parse_opts(const char *arg, int32_t *v, int32_t cap)
{
    int32_t n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", arg);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int32_t lvl = cdx_bench_opt_from_name(tok);
        if (lvl < 0 || n == cap)
            return -1;
        v[n++] = lvl;
    }
    return n;
}

static int parse_towers(const char *arg)
{
    int bits = 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", arg);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "vision") == 0 || strcmp(tok, "image") == 0)
            bits |= 1 << CDX_TOWER_VISION;
        else if (strcmp(tok, "text") == 0)
            bits |= 1 << CDX_TOWER_TEXT;
        else
            return -1;
    }
    return bits;
}

static int parse_ratio(const char *arg, double *out)
{
    char *end;
    double x = strtod(arg, &end);
    if (end == arg || *end || !(x >= 0) || isinf(x))
        return -1;
    *out = x;
    return 0;
}

struct progress_state {
    int tty;
    int quiet;
    int32_t offset, total; /* cells of the contracts before this one; of all contracts */
};

static void on_progress(void *ctx, const cdx_bench_progress *p)
{
    struct progress_state *ps = ctx;
    if (ps->quiet)
        return;
    int32_t cell = ps->offset + p->cell, n_cells = ps->total;
    char bucket[48];
    if (p->seq)
        snprintf(bucket, sizeof bucket, "b%d s%d", p->batch, p->seq);
    else
        snprintf(bucket, sizeof bucket, "b%d", p->batch);
    if (p->phase == 0) {
        if (ps->tty)
            fprintf(stderr, "\r\033[K[%d/%d] %s %s %s: opening session...", cell, n_cells, p->contract_id,
                    p->tower, p->providers);
    } else if (p->phase == 1) {
        if (ps->tty)
            fprintf(stderr, "\r\033[K[%d/%d] %s %s %s %s: %.1f/%.1f s, %llu runs, last %.2f ms", cell, n_cells,
                    p->contract_id, p->tower, p->providers, bucket, p->elapsed_s, p->duration_s,
                    (unsigned long long)p->runs, p->last_ms);
    } else {
        fprintf(stderr, "%s[%d/%d] %s %s %s %s: %llu runs in %.1f s, p50 %.3f ms\n", ps->tty ? "\r\033[K" : "",
                cell, n_cells, p->contract_id, p->tower, p->providers, bucket, (unsigned long long)p->runs,
                p->elapsed_s, p->last_ms);
    }
    fflush(stderr);
}

static void print_cards(const cdx_bench_cards *cs)
{
    printf("%-14s %-6s %-34s %3s %-8s %-9s %8s %8s %9s %9s %9s %9s %7s %6s %7s %6s\n", "contract", "tower", "providers",
           "thr", "opt", "bucket", "create", "cold", "p50", "p95", "p99", "items/s", "drift", "noise", "rss MB",
           "fallbk");
    for (size_t i = 0; i < cdx_bench_cards_count(cs); i++) {
        const cdx_bench_card *c = cdx_bench_cards_get(cs, i);
        char bucket[32];
        if (c->seq)
            snprintf(bucket, sizeof bucket, "b%d s%d", c->batch, c->seq);
        else
            snprintf(bucket, sizeof bucket, "b%d", c->batch);
        if (c->error[0]) {
            printf("%-14s %-6s %-34s %3d %-8s %-9s error: %s\n", c->contract_id, c->tower, c->providers, c->threads,
                   c->opt, bucket, c->error);
            continue;
        }
        printf("%-14s %-6s %-34s %3d %-8s %-9s %8.1f %8.2f %9.3f %9.3f %9.3f %9.1f %+6.1f%% %5.1f%% %7.1f %5.1f%%%s\n",
               c->contract_id, c->tower, c->providers, c->threads, c->opt, bucket, c->create_ms, c->cold_ms,
               c->warm_p50_ms, c->warm_p95_ms, c->warm_p99_ms, c->throughput, 100 * c->drift, 100 * c->noise_p50,
               (double)c->rss_peak_bytes / (1 << 20), 100 * fmax(c->fallback_by_nodes, c->fallback_by_time),
               c->interrupted ? " (interrupted)" : "");
    }
    printf("times in ms; create = session creation; cold = first run of the bucket; p50/p95/p99 of warm runs;\n"
           "drift = median of the last third vs the first; noise = spread of block medians; fallbk = CPU fallback.\n");
}

static int load_many(const char *list, cdx_bench_cards **sets, int *n, cdx_errbuf *eb)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_FILES)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL, "at most %d card files per side", MAX_FILES);
        int rc = cdx_bench_cards_load(tok, &sets[*n], eb);
        if (rc != CDX_OK)
            return rc;
        (*n)++;
    }
    return CDX_OK;
}

static const char *change_name(enum cdx_bench_change c)
{
    return c == CDX_BENCH_REGRESSED ? "REGRESSION" : c == CDX_BENCH_IMPROVED ? "improved" : "~ same";
}

static int run_compare(const char *a_list, const char *b_list, const cdx_bench_compare_params *cp)
{
    cdx_bench_cards *a[MAX_FILES] = {0}, *b[MAX_FILES] = {0};
    int n_a = 0, n_b = 0, regressions = 0;
    cdx_errbuf eb = {0};
    cdx_bench_compare_row *rows = NULL;
    size_t n_rows = 0, unmatched = 0;
    int rc = load_many(a_list, a, &n_a, &eb);
    if (rc == CDX_OK)
        rc = load_many(b_list, b, &n_b, &eb);
    if (rc == CDX_OK)
        rc = cdx_bench_compare((const cdx_bench_cards *const *)a, n_a, (const cdx_bench_cards *const *)b, n_b, cp, &rows,
                               &n_rows, &unmatched);
    if (rc != CDX_OK)
        goto done;
    printf("compare A=%s (%d run%s) B=%s (%d run%s): ratios B/A; a change counts beyond max(%.0f%%, %.1f x noise)\n",
           a_list, n_a, n_a == 1 ? "" : "s", b_list, n_b, n_b == 1 ? "" : "s", 100 * cp->noise_floor, cp->z);
    printf("%-60s %9s %9s %7s %7s %7s %7s %7s  %s\n", "cell", "A p50", "B p50", "p50", "p95", "cold", "items/s",
           "band", "verdict");
    for (size_t i = 0; i < n_rows; i++) {
        const cdx_bench_compare_row *r = &rows[i];
        printf("%-60s %9.3f %9.3f %6.3fx %6.3fx %6.3fx %6.3fx %6.1f%%  %s\n", r->key, r->a_p50, r->b_p50, r->ratio_p50,
               r->ratio_p95, r->ratio_cold, r->ratio_tput, 100 * r->band_p50, change_name(r->verdict));
        regressions += r->verdict == CDX_BENCH_REGRESSED;
    }
    printf("%zu cells compared, %zu on one side only, %d regression%s beyond noise\n", n_rows, unmatched, regressions,
           regressions == 1 ? "" : "s");
    if (n_rows == 0)
        rc = cdx_errbuf_set(&eb, CDX_ERR_MISMATCH, "no cell is in both %s and %s (different buckets, providers or "
                            "threads?)", a_list, b_list);
done:
    free(rows);
    for (int i = 0; i < n_a; i++)
        cdx_bench_cards_free(a[i]);
    for (int i = 0; i < n_b; i++)
        cdx_bench_cards_free(b[i]);
    if (rc != CDX_OK) {
        fprintf(stderr, "clipdex bench --compare: %s\n", cdx_errbuf_msg(&eb));
        return cdx_exit_code(rc);
    }
    return regressions ? 1 : 0;
}

/* issue 4's measurements: encoder overhead over bare ORT, and sequence buckets. */
static int run_overhead(const char *contract_path, const char *providers, const cdx_bench_params *bp,
                        int32_t rounds, const char *query, double min_ratio, const char *json_out)
{
    cdx_errbuf eb = {0};
    cdx_contract *c = NULL;
    cdx_bench_overhead o;
    cdx_bench_overhead_params op = cdx_bench_overhead_default_params();
    op.providers = providers;
    if (bp->n_batch > 0)
        op.batch = bp->batch[0];
    if (bp->n_threads > 0)
        op.threads = bp->threads[0];
    op.duration_s = bp->duration_s;
    op.rounds = rounds;
    if (query)
        op.query = query;
    op.stop = &g_stop;
    int rc = cdx_contract_open(contract_path, NULL, &c, &eb);
    if (rc == CDX_OK)
        rc = cdx_bench_overhead_run(c, &op, &o, &eb);
    const cdx_contract_spec *s = c ? cdx_contract_get(c) : NULL;
    if (rc != CDX_OK) {
        cdx_contract_close(c);
        fprintf(stderr, "clipdex bench --overhead: %s\n", cdx_errbuf_msg(&eb));
        return cdx_exit_code(rc);
    }
    int pass = o.ratio >= min_ratio;
    printf("overhead %s: image tower, batch %d, %s (threads %d, opt %s), %d rounds of %.1f s per side\n", s->id,
           o.batch, o.providers, o.threads, o.opt, op.rounds, op.duration_s);
    printf("  clipdex tower  %10.2f items/s  p50 %9.3f ms  %llu runs\n", o.tower_tput, o.tower_p50_ms,
           (unsigned long long)o.tower_runs);
    printf("  bare ORT loop  %10.2f items/s  p50 %9.3f ms  %llu runs\n", o.bare_tput, o.bare_p50_ms,
           (unsigned long long)o.bare_runs);
    printf("  ratio          %10.4f (per round %.4f..%.4f)  %s >= %.2f\n", o.ratio, o.ratio_min, o.ratio_max,
           pass ? "PASS" : "FAIL", min_ratio);
    if (o.text_measured)
        printf("text \"%s\" (%d tokens), batch 1, tokenize + run: p50 %.3f ms padded to its bucket %d, %.3f ms "
               "padded to the context %d: %.2fx faster with buckets (%llu / %llu runs)\n",
               o.query, o.n_tokens, o.bucket_p50_ms, o.seq_bucket, o.full_p50_ms, o.context_length, o.text_speedup,
               (unsigned long long)o.bucket_runs, (unsigned long long)o.full_runs);
    else
        printf("text: not measured: %s\n", o.text_note);
    if (json_out) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:b, s:s, s:i, s:i, "
                              "s:i, s:f, s:f, s:f}",
                              "schema", "clipdex.bench-overhead/1", "contract", s->id, "providers", o.providers, "batch",
                              o.batch, "threads", o.threads, "opt", o.opt, "tower_items_per_s", o.tower_tput,
                              "bare_items_per_s", o.bare_tput, "ratio", o.ratio, "ratio_min", o.ratio_min, "ratio_max",
                              o.ratio_max, "tower_p50_ms", o.tower_p50_ms, "bare_p50_ms", o.bare_p50_ms, "text_measured",
                              o.text_measured, "text_note", o.text_note, "n_tokens", o.n_tokens, "seq_bucket",
                              o.seq_bucket, "context_length", o.context_length, "bucket_p50_ms", o.bucket_p50_ms,
                              "full_p50_ms", o.full_p50_ms, "text_speedup", o.text_speedup);
        char *text = j ? json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        if (!text || cdx_bench_write_text(json_out, text, &eb) != CDX_OK) {
            fprintf(stderr, "clipdex bench --overhead: cannot write %s: %s\n", json_out, cdx_errbuf_msg(&eb));
            free(text);
            cdx_contract_close(c);
            return 4;
        }
        free(text);
    }
    cdx_contract_close(c);
    return pass ? 0 : 1;
}

static int usage(void)
{
    printf(
        "usage: clipdex bench --contract C [--contract C2...] [--providers SPEC[,SPEC...]]... [--batch 1,8,32]\n"
        "                     [--seq 16,32,77] [--threads 1,2] [--opt disabled,basic,all] [--towers vision,text]\n"
        "                     [--duration S] [--min-runs N] [--json F] [--report F.html] [--markdown F.md]\n"
        "       clipdex bench --from F.json[,F2.json] [--json F] [--report F.html] [--markdown F.md]\n"
        "       clipdex bench --overhead --contract C [--providers SPEC] [--batch 32] [--threads 2] [--duration S]\n"
        "                     [--rounds 3] [--query TEXT] [--min-overhead-ratio 0.97] [--json F]\n"
        "       clipdex bench --compare A.json[,A2.json...] B.json[,B2.json...] [--noise-floor R] [--noise-z Z]\n"
        "Measures each provider spec x threads x optimization level x tower x shape bucket: session creation\n"
        "(also from ORT's optimized-model cache), the first run per bucket (cold), then warm runs for the\n"
        "duration: p50/p95/p99, throughput, drift, peak RSS, CPU fallback. Defaults: the contract's buckets,\n"
        "the spec's threads and opt level, both towers, 2 s per cell.\n"
        "Verdicts (thresholds from the contract unless given): --max-fallback R, --min-speedup R,\n"
        "--max-cold-warm-ratio X, --max-drift R, --min-int8-speedup X (int8 vs fp32 throughput; off unless given).\n"
        "--overhead: image-tower throughput through clipdex vs a bare ORT loop (same session options and tensors),\n"
        "alternating rounds; and a short query's latency padded to its sequence bucket vs the full context.\n"
        "--quiet drops the progress line. Exit: 0 all verdicts pass, 1 a verdict failed (or --compare found a\n"
        "regression), 2 usage, 3 bad input, 4 runtime error, 130 interrupted (outputs still written).\n");
    return 0;
}

enum {
    OPT_CONTRACT = 1000, OPT_PROVIDERS, OPT_BATCH, OPT_SEQ, OPT_THREADS, OPT_OPT, OPT_TOWERS, OPT_DURATION,
    OPT_MIN_RUNS, OPT_BLOCKS, OPT_JSON, OPT_REPORT, OPT_MARKDOWN, OPT_FROM, OPT_COMPARE, OPT_NOISE_FLOOR, OPT_NOISE_Z,
    OPT_MAX_FALLBACK, OPT_MIN_SPEEDUP, OPT_MAX_COLD_WARM, OPT_MAX_DRIFT, OPT_MIN_INT8, OPT_NO_CACHE, OPT_QUIET,
    OPT_HELP, OPT_OVERHEAD, OPT_ROUNDS, OPT_QUERY, OPT_MIN_OVERHEAD
};

int cdx_cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"contract", required_argument, NULL, OPT_CONTRACT},
        {"providers", required_argument, NULL, OPT_PROVIDERS},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"seq", required_argument, NULL, OPT_SEQ},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"opt", required_argument, NULL, OPT_OPT},
        {"towers", required_argument, NULL, OPT_TOWERS},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"min-runs", required_argument, NULL, OPT_MIN_RUNS},
        {"blocks", required_argument, NULL, OPT_BLOCKS},
        {"json", required_argument, NULL, OPT_JSON},
        {"report", required_argument, NULL, OPT_REPORT},
        {"markdown", required_argument, NULL, OPT_MARKDOWN},
        {"from", required_argument, NULL, OPT_FROM},
        {"compare", required_argument, NULL, OPT_COMPARE},
        {"noise-floor", required_argument, NULL, OPT_NOISE_FLOOR},
        {"noise-z", required_argument, NULL, OPT_NOISE_Z},
        {"max-fallback", required_argument, NULL, OPT_MAX_FALLBACK},
        {"min-speedup", required_argument, NULL, OPT_MIN_SPEEDUP},
        {"max-cold-warm-ratio", required_argument, NULL, OPT_MAX_COLD_WARM},
        {"max-drift", required_argument, NULL, OPT_MAX_DRIFT},
        {"min-int8-speedup", required_argument, NULL, OPT_MIN_INT8},
        {"no-cache-timing", no_argument, NULL, OPT_NO_CACHE},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {"overhead", no_argument, NULL, OPT_OVERHEAD},
        {"rounds", required_argument, NULL, OPT_ROUNDS},
        {"query", required_argument, NULL, OPT_QUERY},
        {"min-overhead-ratio", required_argument, NULL, OPT_MIN_OVERHEAD},
        {NULL, 0, NULL, 0}};
    const char *contracts[MAX_CONTRACTS], *json_out = NULL, *report_out = NULL, *md_out = NULL, *from = NULL,
               *compare_a = NULL;
    int n_contracts = 0, c, quiet = 0, overhead = 0;
    int32_t rounds = 3;
    const char *query = NULL;
    double min_overhead = 0.97;
    static char specs[CDX_BENCH_MAX_SPECS][512];
    const char *spec_ptrs[CDX_BENCH_MAX_SPECS];
    int n_specs = 0;
    cdx_bench_params bp = cdx_bench_default_params();
    cdx_bench_compare_params cp = cdx_bench_compare_default_params();
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_CONTRACT:
            if (n_contracts == MAX_CONTRACTS)
                return cdx_cli_usage_error("bench", "at most %d --contract", MAX_CONTRACTS);
            contracts[n_contracts++] = optarg;
            break;
        case OPT_PROVIDERS:
            if (cdx_cli_split_specs(optarg, specs, &n_specs, CDX_BENCH_MAX_SPECS) != 0)
                return cdx_cli_usage_error("bench", "at most %d provider specs", CDX_BENCH_MAX_SPECS);
            break;
        case OPT_BATCH:
            if ((bp.n_batch = parse_ints(optarg, bp.batch, CDX_CONTRACT_MAX_BUCKETS, 1, 4096)) < 1)
                return cdx_cli_usage_error("bench", "--batch %s: expected up to %d sizes in 1..4096, e.g. 1,8,32",
                                           optarg, CDX_CONTRACT_MAX_BUCKETS);
            break;
        case OPT_SEQ:
            if ((bp.n_seq = parse_ints(optarg, bp.seq, CDX_CONTRACT_MAX_BUCKETS, 2, 1 << 16)) < 1)
                return cdx_cli_usage_error("bench", "--seq %s: expected sequence lengths, e.g. 16,32,77", optarg);
            break;
        case OPT_THREADS:
            if ((bp.n_threads = parse_ints(optarg, bp.threads, CDX_BENCH_MAX_SWEEP, 1, 1024)) < 1)
                return cdx_cli_usage_error("bench", "--threads %s: expected up to %d counts, e.g. 1,2", optarg,
                                           CDX_BENCH_MAX_SWEEP);
            break;
        case OPT_OPT:
            if ((bp.n_opt = parse_opts(optarg, bp.opt, CDX_BENCH_MAX_SWEEP)) < 1)
                return cdx_cli_usage_error("bench", "--opt %s: expected levels among disabled,basic,extended,layout,all",
                                           optarg);
            break;
        case OPT_TOWERS:
            if ((bp.towers = parse_towers(optarg)) <= 0)
                return cdx_cli_usage_error("bench", "--towers %s: expected vision, text or vision,text", optarg);
            break;
        case OPT_DURATION:
            if (parse_ratio(optarg, &bp.duration_s) != 0 || bp.duration_s > 86400)
                return cdx_cli_usage_error("bench", "--duration %s: expected seconds, e.g. 2 or 0.5", optarg);
            break;
        case OPT_MIN_RUNS:
            if (parse_ints(optarg, &bp.min_runs, 1, 1, 1000000) != 1)
                return cdx_cli_usage_error("bench", "--min-runs %s: expected a count >= 1", optarg);
            break;
        case OPT_BLOCKS:
            if (parse_ints(optarg, &bp.blocks, 1, 1, CDX_BENCH_MAX_BLOCKS) != 1)
                return cdx_cli_usage_error("bench", "--blocks %s: expected 1..%d", optarg, CDX_BENCH_MAX_BLOCKS);
            break;
        case OPT_JSON: json_out = optarg; break;
        case OPT_REPORT: report_out = optarg; break;
        case OPT_MARKDOWN: md_out = optarg; break;
        case OPT_FROM: from = optarg; break;
        case OPT_COMPARE: compare_a = optarg; break;
        case OPT_NOISE_FLOOR:
            if (parse_ratio(optarg, &cp.noise_floor) != 0)
                return cdx_cli_usage_error("bench", "--noise-floor %s: expected a ratio, e.g. 0.03", optarg);
            break;
        case OPT_NOISE_Z:
            if (parse_ratio(optarg, &cp.z) != 0)
                return cdx_cli_usage_error("bench", "--noise-z %s: expected a number, e.g. 2", optarg);
            break;
        case OPT_MAX_FALLBACK:
        case OPT_MIN_SPEEDUP:
        case OPT_MAX_COLD_WARM:
        case OPT_MAX_DRIFT:
        case OPT_MIN_INT8: {
            static const char *const names[] = {"--max-fallback", "--min-speedup", "--max-cold-warm-ratio",
                                                "--max-drift", "--min-int8-speedup"};
            double *dst[] = {&bp.thresholds.max_fallback, &bp.thresholds.min_speedup,
                             &bp.thresholds.max_cold_warm_ratio, &bp.thresholds.max_drift,
                             &bp.thresholds.min_int8_speedup};
            if (parse_ratio(optarg, dst[c - OPT_MAX_FALLBACK]) != 0)
                return cdx_cli_usage_error("bench", "%s %s: expected a number >= 0", names[c - OPT_MAX_FALLBACK], optarg);
            break;
        }
        case OPT_NO_CACHE: bp.measure_cache = 0; break;
        case OPT_QUIET: quiet = 1; break;
        case OPT_HELP: return usage();
        case OPT_OVERHEAD: overhead = 1; break;
        case OPT_ROUNDS:
            if (parse_ints(optarg, &rounds, 1, 1, 1000) != 1)
                return cdx_cli_usage_error("bench", "--rounds %s: expected 1..1000", optarg);
            break;
        case OPT_QUERY: query = optarg; break;
        case OPT_MIN_OVERHEAD:
            if (parse_ratio(optarg, &min_overhead) != 0)
                return cdx_cli_usage_error("bench", "--min-overhead-ratio %s: expected a ratio, e.g. 0.97", optarg);
            break;
        default: return cdx_cli_usage_error("bench", "see clipdex bench --help");
        }
    }
    if (compare_a) {
        if (optind != argc - 1)
            return cdx_cli_usage_error("bench", "--compare A.json B.json: expected exactly one B after --compare A");
        return run_compare(compare_a, argv[optind], &cp);
    }
    if (optind < argc)
        return cdx_cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    if (overhead) {
        if (n_contracts != 1 || n_specs > 1)
            return cdx_cli_usage_error("bench", "--overhead takes one --contract and at most one provider spec");
        if (bp.duration_s == cdx_bench_default_params().duration_s)
            bp.duration_s = 2;
        return run_overhead(contracts[0], n_specs ? specs[0] : NULL, &bp, rounds, query, min_overhead, json_out);
    }
    if (!from && n_contracts == 0)
        return cdx_cli_usage_error("bench", "--contract C is required (or --from cards.json, or --compare A B)");
    if (from && n_contracts)
        return cdx_cli_usage_error("bench", "--from judges card files measured earlier: drop --contract");
    for (int i = 0; i < n_specs; i++)
        spec_ptrs[i] = specs[i];
    bp.providers = spec_ptrs;
    bp.n_providers = n_specs;
    bp.clipdex_version = cdx_cli_version();
    bp.git_revision = cdx_cli_git_revision();

    cdx_errbuf eb = {0};
    cdx_bench_cards *cards = NULL;
    int rc = cdx_bench_cards_new(&cards), interrupted = 0, errors = 0;
    if (rc != CDX_OK) {
        fprintf(stderr, "clipdex bench: out of memory\n");
        return 4;
    }
    if (from) {
        cdx_bench_cards *sets[MAX_FILES] = {0};
        int n = 0;
        rc = load_many(from, sets, &n, &eb);
        for (int i = 0; i < n; i++) {
            if (rc == CDX_OK)
                rc = cdx_bench_cards_extend(cards, sets[i]);
            cdx_bench_cards_free(sets[i]);
        }
        if (rc != CDX_OK)
            goto done;
        cdx_bench_cards_override_thresholds(cards, &bp.thresholds);
    } else {
        struct progress_state ps = {.tty = isatty(STDERR_FILENO), .quiet = quiet};
        bp.progress = on_progress;
        bp.progress_ctx = &ps;
        bp.stop = &g_stop;
        struct sigaction sa = {0}, old_int, old_term;
        sa.sa_handler = on_sigint;
        sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        cdx_contract *opened[MAX_CONTRACTS] = {0};
        int32_t cells[MAX_CONTRACTS] = {0};
        /* Open and check every contract before measuring anything. */
        for (int i = 0; i < n_contracts && rc == CDX_OK; i++) {
            rc = cdx_contract_open(contracts[i], NULL, &opened[i], &eb);
            if (rc == CDX_OK && (cells[i] = cdx_bench_count_cells(opened[i], &bp, &eb)) < 0)
                rc = eb.code ? eb.code : CDX_ERR_INVAL;
            ps.total += cells[i] > 0 ? cells[i] : 0;
        }
        for (int i = 0; i < n_contracts && rc == CDX_OK; i++) {
            rc = cdx_bench_run(opened[i], &bp, cards, &eb);
            ps.offset += cells[i];
        }
        for (int i = 0; i < n_contracts; i++)
            cdx_contract_close(opened[i]);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        if (rc == CDX_ERR_INTERRUPTED) {
            interrupted = 1;
            fprintf(stderr, "clipdex bench: %s; writing them\n", cdx_errbuf_msg(&eb));
            rc = CDX_OK;
        }
        if (rc != CDX_OK && cdx_bench_cards_count(cards) == 0)
            goto done;
    }
    int measure_rc = rc;
    for (size_t i = 0; i < cdx_bench_cards_count(cards); i++)
        errors += cdx_bench_cards_get(cards, i)->error[0] != 0;

    cdx_bench_verdict verdicts[CDX_BENCH_RULE_COUNT];
    int all_pass = cdx_bench_judge(cards, verdicts);
    print_cards(cards);
    for (int i = 0; i < CDX_BENCH_RULE_COUNT; i++) {
        char line[1024];
        cdx_bench_verdict_format(&verdicts[i], line, sizeof line);
        printf("verdict %s\n", line);
    }
    rc = CDX_OK;
    if (json_out) {
        char *vj = cdx_bench_verdicts_json(verdicts, CDX_BENCH_RULE_COUNT);
        size_t need = (vj ? strlen(vj) : 2) + 64;
        char *extra = malloc(need);
        if (extra)
            snprintf(extra, need, "{\"interrupted\": %s, \"verdicts\": %s}", interrupted ? "true" : "false",
                     vj ? vj : "[]");
        rc = cdx_bench_cards_save(cards, extra, json_out, &eb);
        free(extra);
        free(vj);
    }
    if (rc == CDX_OK && report_out) {
        char cmdline[2048];
        size_t n = (size_t)snprintf(cmdline, sizeof cmdline, "clipdex");
        for (int i = 0; i < argc && n < sizeof cmdline; i++)
            n += (size_t)snprintf(cmdline + n, sizeof cmdline - n, " %s", argv[i]);
        cdx_bench_report_params rp = cdx_bench_report_default_params();
        rp.command = cmdline;
        rc = cdx_bench_report_write(cards, verdicts, CDX_BENCH_RULE_COUNT, &rp, report_out, &eb);
    }
    if (rc == CDX_OK && md_out) {
        char *md = cdx_bench_headline_markdown(cards);
        FILE *f = md ? fopen(md_out, "w") : NULL;
        if (!f || fputs(md, f) < 0 || fclose(f) != 0)
            rc = cdx_errbuf_set(&eb, CDX_ERR_IO, "write %s", md_out);
        free(md);
    }
    if (rc == CDX_OK && measure_rc != CDX_OK) {
        rc = measure_rc;
        goto done;
    }
    if (rc == CDX_OK) {
        cdx_bench_cards_free(cards);
        if (interrupted)
            return EXIT_INTERRUPTED;
        if (errors) {
            fprintf(stderr, "clipdex bench: %d cell%s could not be measured (see the error column)\n", errors,
                    errors == 1 ? "" : "s");
            return 4;
        }
        return all_pass ? 0 : 1;
    }
done:
    cdx_bench_cards_free(cards);
    fprintf(stderr, "clipdex bench: %s\n", cdx_errbuf_msg(&eb));
    return cdx_exit_code(rc);
}
