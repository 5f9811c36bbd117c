/* `clipdex index info|verify|rebuild|tune --data DIR [--json]`: what a data
 * directory's vector indexes are, whether they agree with the catalog, a
 * rebuild from the catalog, and the tuning table behind `auto`.
 *
 * verify exits 1 when an index file had to be rebuilt or replayed into
 * disagreement, or its entries differ from the catalog's vector rows, or
 * SQLite's integrity check fails; it says which and how. */
#include "cli/cli.h"

#include "common/util.h"
#include "index/ibench.h"
#include "index/plan.h"
#include "index/spec.h"
#include "index/store_internal.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct index_opts {
    const char *dir;
    const char *spec;      /* rebuild: the spec to build; tune: candidates, ';'-separated */
    int as_json;
    int32_t queries;
    int32_t space;
    int64_t vectors;       /* bench */
    int32_t dim, batch;    /* bench */
    uint64_t budget;       /* bench, tune: memory budget for auto (0 = the store's default) */
} index_opts;

/* "512M", "12G", "1000000": bytes, or 0 when malformed. */
static uint64_t parse_bytes(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    static const struct {
        char suffix;
        double mult;
    } units[] = {{'\0', 1}, {'K', 1024.0}, {'M', 1048576.0}, {'G', 1073741824.0}, {'T', 1099511627776.0}};
    for (size_t i = 0; i < CDX_ARRAY_LEN(units); i++)
        if (*end == units[i].suffix && (units[i].suffix == '\0' || end[1] == '\0') && v > 0)
            return (uint64_t)(v * units[i].mult);
    return 0;
}

static uint64_t budget_of(const index_opts *o)
{
    if (o->budget)
        return o->budget;
    cdx_store_params dp = cdx_store_default_params();
    return dp.memory_budget;
}

static double mib(uint64_t b) { return (double)b / 1048576.0; }

static int action_info(const index_opts *o, cdx_store *s)
{
    cdx_store_info in;
    cdx_errbuf eb = {0};
    int rc = cdx_store_get_info(s, &in, &eb);
    if (rc != CDX_OK)
        return cdx_cli_report_error("index info", o->as_json, rc, &eb);
    if (o->as_json) {
        json_t *spaces = json_object();
        for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++)
            json_object_set_new(spaces, cdx_store_space_name(sp),
                                json_pack("{s:s, s:I, s:I, s:I, s:I}", "spec", in.space[sp].spec, "vectors",
                                          (json_int_t)in.space[sp].vectors, "indexed", (json_int_t)in.space[sp].indexed,
                                          "watermark", (json_int_t)in.space[sp].watermark, "memory_bytes",
                                          (json_int_t)in.space[sp].memory_bytes));
        return cdx_cli_print_json(json_pack("{s:b, s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:o}", "ok", 1, "data", o->dir,
                                            "contract_id", in.contract_id, "space_hash", in.space_hash, "dim", in.dim,
                                            "schema_version", in.schema_version, "items", (json_int_t)in.items,
                                            "failures", (json_int_t)in.failures, "spaces", spaces));
    }
    printf("data       %s\ncontract   %s (space hash %s)\ndim        %d\nschema     v%d\nitems      %lld\n"
           "failures   %lld\n",
           o->dir, in.contract_id, in.space_hash, in.dim, in.schema_version, (long long)in.items,
           (long long)in.failures);
    for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++)
        printf("%-10s %s: %lld vectors, %lld indexed, checkpoint watermark %lld, ~%.1f MiB\n",
               cdx_store_space_name(sp), in.space[sp].spec[0] ? in.space[sp].spec : "(empty)",
               (long long)in.space[sp].vectors, (long long)in.space[sp].indexed, (long long)in.space[sp].watermark,
               mib(in.space[sp].memory_bytes));
    return 0;
}

static int action_verify(const index_opts *o, cdx_store *s)
{
    cdx_verify_report r;
    cdx_errbuf eb = {0};
    int rc = cdx_store_verify(s, &r, &eb);
    if (rc != CDX_OK)
        return cdx_cli_report_error("index verify", o->as_json, rc, &eb);
    if (o->as_json) {
        json_t *spaces = json_object();
        for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++) {
            const cdx_verify_space *v = &r.space[sp];
            json_object_set_new(
                spaces, cdx_store_space_name(sp),
                json_pack("{s:b, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "file_ok",
                          v->load.status == CDX_OK || v->load.status == CDX_ERR_NOTFOUND,
                          "file_status", cdx_errname(v->load.status), "file_note", v->load.note, "replayed",
                          (json_int_t)v->load.replayed, "catalog_rows", (json_int_t)v->catalog_rows, "indexed",
                          (json_int_t)v->indexed, "missing", (json_int_t)v->missing, "extra", (json_int_t)v->extra,
                          "duplicates", (json_int_t)v->duplicates));
        }
        int code = cdx_cli_print_json(json_pack("{s:b, s:s, s:b, s:s, s:o}", "ok", r.ok, "data", o->dir,
                                                "integrity_ok", r.integrity_ok, "integrity", r.integrity, "spaces",
                                                spaces));
        return code ? code : (r.ok ? 0 : 1);
    }
    printf("catalog integrity: %s\n", r.integrity);
    for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++) {
        const cdx_verify_space *v = &r.space[sp];
        const char *name = cdx_store_space_name(sp);
        if (v->load.status == CDX_ERR_NOTFOUND)
            printf("%s: no checkpoint yet (%s); the index is built from the catalog on open\n", name, v->load.note);
        else if (v->load.status != CDX_OK)
            printf("%s: index file not usable: %s\n", name, v->load.note);
        else if (v->load.replayed)
            printf("%s: index file ok; %lld catalog rows past its checkpoint are replayed on open\n", name,
                   (long long)v->load.replayed);
        else
            printf("%s: index file ok\n", name);
        printf("%s: %lld catalog vector rows, %lld index entries", name, (long long)v->catalog_rows,
               (long long)v->indexed);
        if (v->missing)
            printf("; %lld rows missing from the index (e.g. item %lld)", (long long)v->missing,
                   (long long)v->first_missing);
        if (v->extra)
            printf("; %lld index entries with no catalog row (e.g. item %lld)", (long long)v->extra,
                   (long long)v->first_extra);
        if (v->duplicates)
            printf("; %lld ids indexed more than once", (long long)v->duplicates);
        printf("\n");
    }
    printf("%s\n", r.ok ? "ok: the indexes agree with the catalog"
                        : "DISAGREE: run `clipdex index rebuild --data DIR` to rebuild the indexes from the catalog");
    return r.ok ? 0 : 1;
}

static int action_rebuild(const index_opts *o, cdx_store *s)
{
    cdx_errbuf eb = {0};
    for (int32_t sp = 0; sp < CDX_SPACE_COUNT; sp++) {
        if (o->space >= 0 && sp != o->space)
            continue;
        int rc = cdx_store_rebuild(s, sp, &eb);
        if (rc != CDX_OK)
            return cdx_cli_report_error("index rebuild", o->as_json, rc, &eb);
    }
    cdx_index_spec want;
    cdx_store_info in;
    if (o->spec && !o->as_json && cdx_index_spec_parse(o->spec, &want, &eb) == CDX_OK &&
        cdx_store_get_info(s, &in, &eb) == CDX_OK && in.space[CDX_SPACE_IMAGE].vectors > 0 &&
        in.space[CDX_SPACE_IMAGE].vectors < cdx_plan_min_train(&want))
        printf("note: %s trains on the data: exact search until the catalog has %lld vectors, then a checkpoint "
               "builds it\n",
               o->spec, (long long)cdx_plan_min_train(&want));
    return action_info(o, s);
}

/* One tuning row per measured effort. */
static void tune_rows(const index_opts *o, json_t *arr, const char *spec, const cdx_tune_result *t, uint64_t mem,
                      double build_s, int32_t dim)
{
    for (int32_t i = 0; i < t->n_points; i++) {
        const cdx_tune_point *p = &t->points[i];
        cdx_index_spec sp;
        cdx_errbuf eb = {0};
        char text[CDX_INDEX_SPEC_MAX];
        if (cdx_index_spec_parse(spec, &sp, &eb) != CDX_OK)
            continue;
        cdx_index_spec_set_effort(&sp, p->effort);
        cdx_index_spec_format(&sp, text, sizeof text);
        if (o->as_json) {
            json_array_append_new(arr, json_pack("{s:s, s:i, s:f, s:f, s:f, s:I, s:f, s:b}", "spec", text, "effort",
                                                 p->effort, "recall_at_10", p->recall_at_10, "p50_ms", p->p50_ms,
                                                 "p99_ms", p->p99_ms, "memory_bytes", (json_int_t)mem, "build_s",
                                                 build_s, "chosen", i == t->chosen));
            continue;
        }
        printf("%-40s %8.4f %9.3f %9.3f %10.1f %8.1f %s\n", text, p->recall_at_10, p->p50_ms, p->p99_ms, mib(mem),
               build_s, i == t->chosen ? "<- lowest effort with recall@10 >= 0.95" : "");
    }
    (void)dim;
}

static int action_tune(const index_opts *o, cdx_store *s)
{
    cdx_store_info in;
    cdx_errbuf eb = {0};
    int rc = cdx_store_get_info(s, &in, &eb);
    if (rc != CDX_OK)
        return cdx_cli_report_error("index tune", o->as_json, rc, &eb);
    int32_t space = o->space >= 0 ? o->space : CDX_SPACE_IMAGE;
    int64_t n = in.space[space].vectors;
    char cands[1024];
    if (o->spec) {
        snprintf(cands, sizeof cands, "%s", o->spec);
    } else { /* auto's choice, then every kind that can be trained on this catalog */
        char why[256];
        cdx_index_spec a = cdx_plan_auto(n, in.dim, budget_of(o), why, sizeof why);
        char at[CDX_INDEX_SPEC_MAX];
        cdx_index_spec_format(&a, at, sizeof at);
        if (!o->as_json)
            printf("auto for %lld vectors of %d dims: %s (%s)\n", (long long)n, in.dim, at, why);
        snprintf(cands, sizeof cands, "flat;hnsw:m=32,efc=128;ivf;ivfpq;sq8");
    }
    if (!o->as_json)
        printf("%-40s %8s %9s %9s %10s %8s\n", "candidate", "recall10", "p50 ms", "p99 ms", "mem MiB", "build s");
    json_t *rows = json_array();
    for (char *save = NULL, *tok = strtok_r(cands, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        cdx_index_spec spec;
        if ((rc = cdx_index_spec_parse(tok, &spec, &eb)) != CDX_OK) {
            json_decref(rows);
            return cdx_cli_report_error("index tune", o->as_json, rc, &eb);
        }
        cdx_index_spec_resolve(&spec, n, in.dim);
        if (n < cdx_plan_min_train(&spec)) {
            if (!o->as_json)
                printf("%-40s skipped: needs %lld vectors to train\n", tok, (long long)cdx_plan_min_train(&spec));
            continue;
        }
        char text[CDX_INDEX_SPEC_MAX];
        cdx_index_spec_format(&spec, text, sizeof text);
        cdx_tune_result t;
        uint64_t mem = 0;
        double build_s = 0;
        if ((rc = cdx_store_try_spec(s, space, &spec, o->queries, &t, &mem, &build_s, &eb)) != CDX_OK) {
            json_decref(rows);
            return cdx_cli_report_error("index tune", o->as_json, rc, &eb);
        }
        tune_rows(o, rows, text, &t, mem, build_s, in.dim);
        fflush(stdout);
    }
    if (o->as_json)
        return cdx_cli_print_json(json_pack("{s:b, s:s, s:s, s:I, s:i, s:i, s:o}", "ok", 1, "data", o->dir, "space",
                                            cdx_store_space_name(space), "vectors", (json_int_t)n, "dim", in.dim,
                                            "queries", o->queries, "candidates", rows));
    json_decref(rows);
    printf("(recall@10 against exact search, %d of the catalog's own vectors as queries, one at a time)\n",
           o->queries);
    return 0;
}

static void bench_row(const index_opts *o, json_t *rows, const char *asked, const cdx_ibench_result *r, int64_t n,
                      const char *auto_choice, const char *why)
{
    if (o->as_json) {
        json_t *row = json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:f, s:f}", "asked", asked, "spec", r->spec,
                                "recall_at_10", r->recall_at_10, "p50_ms", r->p50_ms, "p99_ms", r->p99_ms,
                                "batch_p50_ms", r->batch_p50_ms, "batch_p99_ms", r->batch_p99_ms, "memory_bytes",
                                (json_int_t)r->memory_bytes, "rss_delta_bytes", (json_int_t)r->rss_delta_bytes,
                                "build_s", r->build_s, "bytes_per_vector", (double)r->memory_bytes / (double)n);
        if (auto_choice) {
            json_object_set_new(row, "auto_choice", json_string(auto_choice));
            json_object_set_new(row, "why", json_string(why));
        }
        json_array_append_new(rows, row);
        return;
    }
    printf("%-44s %7.4f %8.3f %8.3f %9.3f %9.3f %9.1f %8.1f\n", r->spec, r->recall_at_10, r->p50_ms, r->p99_ms,
           r->batch_p50_ms, r->batch_p99_ms, mib(r->memory_bytes), r->build_s);
    if (auto_choice)
        printf("  auto chose %s: %s\n", auto_choice, why);
    fflush(stdout);
}

/* `auto` as the store decides it: the planned kind, tuned; then, when exact
 * search fits the budget too and the plan was not exact already, exact
 * search measured on the same queries, and the faster of the two that reach
 * the target kept (cdx_plan_prefer_exact). Both rows are reported. */
static int bench_auto(const index_opts *o, cdx_ibench_data *d, const cdx_ibench_params *p, json_t *rows,
                      cdx_ibench_result *flat, int *have_flat, cdx_errbuf *eb)
{
    char why[640], plan_why[256], text[CDX_INDEX_SPEC_MAX];
    uint64_t budget = budget_of(o);
    cdx_index_spec spec = cdx_plan_auto(p->n, p->dim, budget, plan_why, sizeof plan_why);
    cdx_ibench_result r;
    int rc = cdx_ibench_run(d, &spec, &r, eb);
    if (rc != CDX_OK)
        return rc;
    cdx_index_spec fs = cdx_index_spec_default(CDX_INDEX_FLAT);
    if (spec.kind == CDX_INDEX_FLAT || cdx_plan_memory(&fs, p->n, p->dim) > budget) {
        snprintf(why, sizeof why, "%s", plan_why);
        bench_row(o, rows, "auto", &r, p->n, r.spec, why);
        return CDX_OK;
    }
    if (!*have_flat) {
        if ((rc = cdx_ibench_run(d, &fs, flat, eb)) != CDX_OK)
            return rc;
        *have_flat = 1;
    }
    int exact = cdx_plan_prefer_exact(&r.tune, &flat->tune);
    snprintf(text, sizeof text, "%s", exact ? flat->spec : r.spec);
    if (r.tune.chosen >= 0)
        snprintf(why, sizeof why, "%s; tuned, it reaches recall@10 %.2f at effort %d with p50 %.3f ms, exact search "
                 "%.3f ms (tuning queries)", plan_why, p->target, r.tune.points[r.tune.chosen].effort,
                 r.tune.points[r.tune.chosen].p50_ms, flat->tune.points[0].p50_ms);
    else
        snprintf(why, sizeof why, "%s; tuned, no effort reached recall@10 %.2f", plan_why, p->target);
    bench_row(o, rows, "auto", &r, p->n, text, why);
    return CDX_OK;
}

/* Synthetic: no data directory; random unit vectors made in memory. */
static int action_bench(const index_opts *o, cdx_store *unused)
{
    (void)unused;
    cdx_ibench_params p = cdx_ibench_default_params();
    p.n = o->vectors;
    p.dim = o->dim;
    p.batch = o->batch;
    if (o->queries != 500)
        p.queries = o->queries;
    cdx_errbuf eb = {0};
    cdx_ibench_data *d;
    int rc = cdx_ibench_data_make(&p, &d, &eb);
    if (rc != CDX_OK)
        return cdx_cli_report_error("index bench", o->as_json, rc, &eb);
    char cands[1024];
    snprintf(cands, sizeof cands, "%s", o->spec ? o->spec : "flat;auto");
    json_t *rows = json_array();
    if (!o->as_json)
        printf("%lld random unit vectors x %d dims, %d queries (half held out), %d search threads; data + exact "
               "ground truth in %.1f s\n%-44s %7s %8s %8s %9s %9s %9s %8s\n",
               (long long)p.n, p.dim, p.queries, p.threads, cdx_ibench_data_seconds(d), "spec (tuned)", "recall",
               "p50 ms", "p99 ms", "b32 p50", "b32 p99", "MiB", "build s");
    cdx_ibench_result flat; /* measured once, shared by `flat` and `auto` */
    int have_flat = 0;
    for (char *save = NULL, *tok = strtok_r(cands, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        cdx_index_spec spec;
        if ((rc = cdx_index_spec_parse(tok, &spec, &eb)) != CDX_OK)
            break;
        if (spec.kind == CDX_INDEX_AUTO) {
            if ((rc = bench_auto(o, d, &p, rows, &flat, &have_flat, &eb)) != CDX_OK)
                break;
            continue;
        }
        cdx_ibench_result r;
        int plain_flat = spec.kind == CDX_INDEX_FLAT;
        if (plain_flat && have_flat) {
            r = flat;
        } else if ((rc = cdx_ibench_run(d, &spec, &r, &eb)) != CDX_OK) {
            break;
        }
        if (plain_flat && !have_flat) {
            flat = r;
            have_flat = 1;
        }
        bench_row(o, rows, tok, &r, p.n, NULL, NULL);
    }
    cdx_ibench_data_free(d);
    if (rc != CDX_OK) {
        json_decref(rows);
        return cdx_cli_report_error("index bench", o->as_json, rc, &eb);
    }
    if (o->as_json)
        return cdx_cli_print_json(json_pack("{s:b, s:I, s:i, s:i, s:i, s:i, s:o}", "ok", 1, "vectors",
                                            (json_int_t)p.n, "dim", p.dim, "queries", p.queries, "batch", p.batch,
                                            "threads", p.threads, "results", rows));
    json_decref(rows);
    return 0;
}

typedef int (*index_action)(const index_opts *o, cdx_store *s);

static const struct {
    const char *name;
    index_action run;
    int writable; /* -1: no data directory */
    const char *summary;
} actions[] = {
    {"info", action_info, 0, "contract stamp, counts, each space's index spec, size and checkpoint"},
    {"verify", action_verify, 0, "check the index files against the catalog; exit 1 when they disagree"},
    {"rebuild", action_rebuild, 1, "rebuild the indexes from the catalog (--spec to choose the kind) and save them"},
    {"tune", action_tune, 0, "build each candidate kind, print recall@10, p50/p99 latency and memory"},
    {"bench", action_bench, -1, "the same on random unit vectors made in memory (--vectors, --dim; no --data)"},
};

static int usage(FILE *f)
{
    fprintf(f, "usage: clipdex index info|verify|rebuild|tune --data DIR [--json] [--space image|caption]\n"
               "                    [--spec SPEC] [--queries N]\n"
               "       clipdex index bench [--vectors N] [--dim D] [--spec SPEC;SPEC..] [--batch B] [--budget 12G]\n"
               "                           [--json]\n\n");
    for (size_t i = 0; i < CDX_ARRAY_LEN(actions); i++)
        fprintf(f, "  %-8s %s\n", actions[i].name, actions[i].summary);
    fprintf(f, "\nSPEC: auto, flat, hnsw:m=32,efc=200,efs=64, ivf:nlist=4096,nprobe=16,\n"
               "ivfpq:nlist=..,m=..,nbits=8,nprobe=..,rerank=10, sq8:rerank=0, faissflat (FAISS's exact\n"
               "index, to compare with ours); for tune and bench several, separated by ';'. --budget is the\n"
               "memory auto may plan for (default: half of RAM).\n"
               "Exit codes: 0 ok, 1 verify found a disagreement, 2 usage, 3 DIR is not a data directory,\n"
               "4 I/O error, 5 the catalog is corrupt.\n");
    return f == stdout ? 0 : 2;
}

int cdx_cmd_index(int argc, char **argv)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"spec", required_argument, NULL, 's'},
                                         {"space", required_argument, NULL, 'p'},
                                         {"queries", required_argument, NULL, 'q'},
                                         {"vectors", required_argument, NULL, 'n'},
                                         {"dim", required_argument, NULL, 'D'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"budget", required_argument, NULL, 'B'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    index_opts o = {.queries = 500, .space = -1, .vectors = 100000, .dim = 512, .batch = 32};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:js:p:q:n:D:b:B:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.dir = optarg;
            break;
        case 'j':
            o.as_json = 1;
            break;
        case 's':
            o.spec = optarg;
            break;
        case 'p':
            if (strcmp(optarg, "image") == 0)
                o.space = CDX_SPACE_IMAGE;
            else if (strcmp(optarg, "caption") == 0)
                o.space = CDX_SPACE_CAPTION;
            else
                return cdx_cli_usage_error("index", "--space %s: expected image or caption", optarg);
            break;
        case 'q':
            o.queries = atoi(optarg);
            if (o.queries < 10 || o.queries > 100000)
                return cdx_cli_usage_error("index", "--queries %s: expected 10..100000", optarg);
            break;
        case 'n':
            o.vectors = atoll(optarg);
            if (o.vectors < 100 || o.vectors > (INT64_C(1) << 31))
                return cdx_cli_usage_error("index", "--vectors %s: expected 100..2^31", optarg);
            break;
        case 'D':
            o.dim = atoi(optarg);
            if (o.dim < 2 || o.dim > 65536)
                return cdx_cli_usage_error("index", "--dim %s: expected 2..65536", optarg);
            break;
        case 'b':
            o.batch = atoi(optarg);
            if (o.batch < 1 || o.batch > 4096)
                return cdx_cli_usage_error("index", "--batch %s: expected 1..4096", optarg);
            break;
        case 'B':
            if (!(o.budget = parse_bytes(optarg)))
                return cdx_cli_usage_error("index", "--budget %s: expected bytes, e.g. 512M or 12G", optarg);
            break;
        case 'h':
            return usage(stdout);
        default:
            return cdx_cli_usage_error("index", "see clipdex index --help");
        }
    }
    if (optind >= argc)
        return usage(stderr);
    const char *sub = argv[optind++];
    size_t a = 0;
    while (a < CDX_ARRAY_LEN(actions) && strcmp(actions[a].name, sub) != 0)
        a++;
    if (a == CDX_ARRAY_LEN(actions))
        return cdx_cli_usage_error("index", "unknown action '%s' (expected info, verify, rebuild or tune)", sub);
    if (optind < argc)
        return cdx_cli_usage_error("index", "unexpected argument '%s'", argv[optind]);
    if (actions[a].writable < 0)
        return o.dir ? cdx_cli_usage_error("index", "bench makes its own data: no --data") : actions[a].run(&o, NULL);
    if (!o.dir)
        return cdx_cli_usage_error("index", "--data DIR is required");
    if (o.spec && strcmp(sub, "rebuild") != 0 && strcmp(sub, "tune") != 0)
        return cdx_cli_usage_error("index", "--spec applies to rebuild, tune and bench");
    cdx_store *s;
    int code = cdx_cli_open_data("index", o.dir, actions[a].writable, strcmp(sub, "rebuild") == 0 ? o.spec : NULL,
                                 o.as_json, &s);
    if (code)
        return code;
    code = actions[a].run(&o, s);
    cdx_store_close(s);
    return code;
}
