/* `clipdex ingest`: embed a catalog into a data directory (ingest/ingest.h).
 * Sets the process thread budget for the ingest role, opens the model and
 * the data directory, turns SIGINT/SIGTERM into a clean stop (a second one
 * kills), runs the job and prints its summary on stdout. */
#include "cli/cli.h"

#include "common/log.h"
#include "common/threads.h"
#include "ingest/ingest.h"

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(void)
{
    printf(
        "usage: clipdex ingest --data DIR [options] SOURCE...\n"
        "       clipdex ingest --data DIR --retry-failed            (retry every recorded failure)\n"
        "SOURCE: a directory, a manifest (.txt paths, .csv / .jsonl with uri, caption, metadata), a webdataset\n"
        "        tar shard (key.jpg + key.txt / key.json), brace ranges ('shards/{00000..00099}.tar'), or - (stdin).\n"
        "  --contract C          model contract (default: the embedded tiny-clip)\n"
        "  --providers SPEC      image-tower providers, e.g. 'cpu:threads=2' (default cpu)\n"
        "  --text-providers SPEC text-tower providers (with --captions)\n"
        "  --batch N             rows per image-tower run (default: the contract's largest bucket up to 32)\n"
        "  --captions            also embed captions with the text tower (caption search space)\n"
        "  --retry-failed        retry items recorded as failures (otherwise unchanged failures are skipped)\n"
        "  --force               re-embed items even when unchanged\n"
        "  --trust-mtime         skip items whose size and mtime match the catalog without reading them\n"
        "  --ext LIST            directory filter, e.g. jpg,png (default: every format clipdex decodes)\n"
        "  --threads SPEC        thread budget overrides: cores=,ort=,workers=,vips=,omp=,blas= (or CDX_THREADS)\n"
        "  --decode-workers N    fixed decode workers (default: balanced from measured costs)\n"
        "  --decode-nice N       run decode workers N nicer than the tower (0-19)\n"
        "  --max-pixels N        refuse images whose header claims more pixels (default 150000000)\n"
        "  --max-bytes N         refuse larger files (default 134217728)\n"
        "  --decode-budget-ms N  wall-time budget per image decode (default 10000; 0 = none)\n"
        "  --index SPEC          index for a new data directory (flat, hnsw:..., auto)\n"
        "  --limit N             stop after N items\n"
        "  --progress MODE       auto (a live line on a terminal), tty, json (stderr, one object per interval), none\n"
        "  --progress-interval S seconds between progress reports\n"
        "  --json                the final summary as JSON\n"
        "  --tower-baseline S    also time the bare image tower on pre-decoded tensors for S seconds, before\n"
        "                        and after the job, at the same batch and threads (the benchmark's yardstick)\n"
        "Interrupt (Ctrl-C, SIGTERM) finishes the batches in flight and checkpoints; run the same command to go\n"
        "on. Exit codes: 0 done (failed items are in `clipdex failures list`), 4 interrupted or runtime error.\n");
    return 0;
}

static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
    if (signals_seen++) { /* the second one: do what the user asked the first time */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    static const char msg[] = "\nclipdex ingest: stopping after the batches in flight (again to kill)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    cdx_ingest_request_stop();
}

static int parse_count(const char *opt, const char *v, int64_t min, int64_t *out)
{
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < min)
        return cdx_cli_usage_error("ingest", "%s %s: expected an integer >= %lld", opt, v, (long long)min);
    *out = n;
    return 0;
}

/* The summary with the tower baseline beside it: JSON gets three more
 * fields; text one more line. */
static void print_baseline(const cdx_ingest_summary *sum, const double baseline[2], int as_json)
{
    double mean = (baseline[0] + baseline[1]) / 2;
    if (!as_json) {
        cdx_ingest_summary_print(sum, stdout, 0);
        printf("  bare image tower on pre-decoded tensors: %.2f images/s before, %.2f after; ingest/tower %.3f\n",
               baseline[0], baseline[1], mean > 0 ? sum->images_per_s / mean : 0);
        return;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    cdx_ingest_summary_print(sum, m, 1);
    fclose(m);
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    if (j) {
        json_object_set_new(j, "tower_baseline_before", json_real(baseline[0]));
        json_object_set_new(j, "tower_baseline_after", json_real(baseline[1]));
        json_object_set_new(j, "ingest_over_tower", json_real(mean > 0 ? sum->images_per_s / mean : 0));
        char *out = json_dumps(j, JSON_COMPACT);
        printf("%s\n", out);
        free(out);
        json_decref(j);
    }
    free(text);
}

static const struct {
    const char *name;
    enum cdx_ingest_progress mode;
} progress_modes[] = {{"auto", CDX_INGEST_PROGRESS_AUTO},
                      {"tty", CDX_INGEST_PROGRESS_TTY},
                      {"json", CDX_INGEST_PROGRESS_JSON},
                      {"none", CDX_INGEST_PROGRESS_NONE}};

int cdx_cmd_ingest(int argc, char **argv)
{
    enum {
        O_DATA = 1000, O_CONTRACT, O_PROVIDERS, O_TEXT_PROVIDERS, O_BATCH, O_CAPTIONS, O_RETRY, O_FORCE, O_TRUST,
        O_EXT, O_THREADS, O_WORKERS, O_MAX_PIXELS, O_MAX_BYTES, O_BUDGET, O_INDEX, O_LIMIT, O_PROGRESS,
        O_INTERVAL, O_JSON, O_BASELINE, O_NICE, O_HELP
    };
    static const struct option opts[] = {
        {"data", required_argument, NULL, O_DATA},
        {"contract", required_argument, NULL, O_CONTRACT},
        {"providers", required_argument, NULL, O_PROVIDERS},
        {"text-providers", required_argument, NULL, O_TEXT_PROVIDERS},
        {"batch", required_argument, NULL, O_BATCH},
        {"captions", no_argument, NULL, O_CAPTIONS},
        {"retry-failed", no_argument, NULL, O_RETRY},
        {"force", no_argument, NULL, O_FORCE},
        {"trust-mtime", no_argument, NULL, O_TRUST},
        {"ext", required_argument, NULL, O_EXT},
        {"threads", required_argument, NULL, O_THREADS},
        {"decode-workers", required_argument, NULL, O_WORKERS},
        {"max-pixels", required_argument, NULL, O_MAX_PIXELS},
        {"max-bytes", required_argument, NULL, O_MAX_BYTES},
        {"decode-budget-ms", required_argument, NULL, O_BUDGET},
        {"index", required_argument, NULL, O_INDEX},
        {"limit", required_argument, NULL, O_LIMIT},
        {"progress", required_argument, NULL, O_PROGRESS},
        {"progress-interval", required_argument, NULL, O_INTERVAL},
        {"json", no_argument, NULL, O_JSON},
        {"tower-baseline", required_argument, NULL, O_BASELINE},
        {"decode-nice", required_argument, NULL, O_NICE},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *data = NULL, *contract_path = NULL, *threads_spec = getenv("CDX_THREADS");
    cdx_ingest_params ip = cdx_ingest_default_params();
    cdx_encoder_params ep = cdx_encoder_default_params();
    cdx_store_params sp = cdx_store_default_params();
    int as_json = 0, c;
    double baseline_s = 0, baseline[2] = {0, 0};
    int64_t v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_DATA: data = optarg; break;
        case O_CONTRACT: contract_path = optarg; break;
        case O_PROVIDERS: ep.vision_providers = optarg; break;
        case O_TEXT_PROVIDERS: ep.text_providers = optarg; break;
        case O_BATCH:
            if (parse_count("--batch", optarg, 1, &v))
                return 2;
            ip.batch = (int32_t)(v > 4096 ? 4096 : v);
            break;
        case O_CAPTIONS: ip.captions = 1; break;
        case O_RETRY: ip.retry_failed = 1; break;
        case O_FORCE: ip.force = 1; break;
        case O_TRUST: ip.trust_mtime = 1; break;
        case O_EXT: ip.extensions = optarg; break;
        case O_THREADS: threads_spec = optarg; break;
        case O_WORKERS:
            if (parse_count("--decode-workers", optarg, 1, &v))
                return 2;
            ip.decode_workers = (int32_t)(v > 256 ? 256 : v);
            break;
        case O_NICE:
            if (parse_count("--decode-nice", optarg, 0, &v))
                return 2;
            ip.decode_nice = (int32_t)(v > 19 ? 19 : v);
            break;
        case O_MAX_PIXELS:
            if (parse_count("--max-pixels", optarg, 1, &ep.preprocess.max_pixels))
                return 2;
            break;
        case O_MAX_BYTES:
            if (parse_count("--max-bytes", optarg, 1, &ep.preprocess.max_bytes))
                return 2;
            break;
        case O_BUDGET:
            if (parse_count("--decode-budget-ms", optarg, 0, &v))
                return 2;
            ep.preprocess.budget_ms = (int32_t)(v > 3600000 ? 3600000 : v);
            break;
        case O_INDEX: sp.index_spec = optarg; break;
        case O_LIMIT:
            if (parse_count("--limit", optarg, 1, &ip.limit))
                return 2;
            break;
        case O_PROGRESS: {
            size_t i = 0;
            for (; i < sizeof progress_modes / sizeof progress_modes[0]; i++)
                if (strcmp(optarg, progress_modes[i].name) == 0)
                    break;
            if (i == sizeof progress_modes / sizeof progress_modes[0])
                return cdx_cli_usage_error("ingest", "--progress %s: expected auto, tty, json or none", optarg);
            ip.progress = progress_modes[i].mode;
            break;
        }
        case O_INTERVAL:
            ip.progress_interval = strtod(optarg, NULL);
            if (!(ip.progress_interval > 0))
                return cdx_cli_usage_error("ingest", "--progress-interval %s: expected seconds > 0", optarg);
            break;
        case O_JSON: as_json = 1; break;
        case O_BASELINE:
            baseline_s = strtod(optarg, NULL);
            if (!(baseline_s > 0))
                return cdx_cli_usage_error("ingest", "--tower-baseline %s: expected seconds > 0", optarg);
            break;
        case O_HELP: return usage();
        default: return cdx_cli_usage_error("ingest", "see clipdex ingest --help");
        }
    }
    if (!data)
        return cdx_cli_usage_error("ingest", "--data DIR is required (the data directory to fill)");
    if (optind == argc && !ip.retry_failed)
        return cdx_cli_usage_error("ingest", "give at least one SOURCE (a directory, manifest, tar shard or -)");

    cdx_threads_params tp = cdx_threads_default_params();
    tp.role = CDX_THREADS_ROLE_INGEST;
    cdx_errbuf eb = {0};
    if (cdx_threads_parse(threads_spec, &tp, &eb) != CDX_OK)
        return cdx_cli_usage_error("ingest", "--threads: %s", cdx_errbuf_msg(&eb));
    cdx_threads_budget budget;
    cdx_threads_plan(&tp, &budget);
    cdx_threads_apply(&budget);
    sp.threads = budget.omp;

    ep.load_text = ip.captions;
    cdx_contract *contract = NULL;
    cdx_encoder *enc = NULL;
    cdx_store *store = NULL;
    cdx_ingest_summary sum;
    memset(&sum, 0, sizeof sum);
    int rc = cdx_cli_open_model(contract_path, &ep, &contract, &enc, &eb);
    if (rc == CDX_OK)
        rc = cdx_store_open(data, contract, &sp, &store, &eb);
    if (rc == CDX_OK) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        const char *const *sources = (const char *const *)argv + optind;
        int32_t batch = ip.batch;
        if (baseline_s > 0 && batch == 0) { /* what the job will use */
            const cdx_contract_spec *cs = cdx_contract_get(contract);
            for (int32_t i = 0; i < cs->n_batch_buckets; i++)
                if (cs->batch_buckets[i] <= 32 && cs->batch_buckets[i] > batch)
                    batch = cs->batch_buckets[i];
            ip.batch = batch = batch ? batch : cs->batch_buckets[0];
        }
        if (baseline_s > 0)
            rc = cdx_ingest_tower_baseline(enc, sources, argc - optind, batch, baseline_s, &baseline[0], &eb);
        if (rc == CDX_OK)
            rc = cdx_ingest_run(store, enc, sources, argc - optind, &ip, &sum, &eb);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (rc == CDX_OK && baseline_s > 0)
            rc = cdx_ingest_tower_baseline(enc, sources, argc - optind, batch, baseline_s, &baseline[1], &eb);
        if (sum.wall_ns > 0 && baseline_s > 0)
            print_baseline(&sum, baseline, as_json);
        else if (sum.wall_ns > 0)
            cdx_ingest_summary_print(&sum, stdout, as_json);
        fflush(stdout);
    }
    cdx_store_close(store);
    cdx_encoder_close(enc);
    cdx_contract_close(contract);
    if (rc != CDX_OK) {
        fprintf(stderr, "clipdex ingest: %s\n", cdx_errbuf_msg(&eb));
        return cdx_exit_code(rc);
    }
    return sum.interrupted ? cdx_exit_code(CDX_ERR_INTERRUPTED) : 0;
}
