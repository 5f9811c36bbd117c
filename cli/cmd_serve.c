/* `clipdex serve`: the HTTP server over a data directory (server/server.h).
 * Loads the contract the directory was built with (the default model unless
 * --contract), warms every shape bucket before it says ready, and serves
 * until SIGINT or SIGTERM, then answers what is queued and exits 0. */
#include "cli/cli.h"

#include "common/log.h"
#include "common/threads.h"
#include "contracts/contract.h"
#include "encoder/encoder.h"
#include "index/store.h"
#include "server/server.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int usage(void)
{
    printf("usage: clipdex serve --data DIR [--listen 127.0.0.1:8080] [--token-file F] [--contract C]\n"
           "                     [--providers SPEC] [--text-providers SPEC] [--max-connections N]\n"
           "                     [--deadline-ms N] [--batch-deadline-ms N] [--queue N] [--workers N]\n"
           "                     [--batch-queue N] [--encoder-slots N] [--k-max N] [--threads SPEC]\n"
           "                     [--batch-chunk N] [--batch-nice N]\n"
           "Serves search, rerank and embed over HTTP, the item routes, /metrics and a search page at /.\n"
           "Binds to loopback unless --listen names another address. Write routes (uploads, deletes)\n"
           "need the token in --token-file (sent as 'Authorization: Bearer <token>'); without one they\n"
           "answer 403. --deadline-ms is the default deadline of search and rerank; clients may lower\n"
           "it with X-Deadline-Ms. --providers defaults to 'cpu:spin=off' (ORT threads do not spin\n"
           "between runs: the towers share the cores with the request workers). --threads (or CDX_THREADS) overrides the thread budget: cores=,ort=,omp=,...\n"
           "Uploads (POST /v1/items) go through the same path as clipdex ingest; a bad image is refused\n"
           "with its reason and recorded under clipdex failures list. Ctrl-C stops the server cleanly:\n"
           "queued requests are answered, running ones finish, the index is checkpointed.\n");
    return 0;
}

/* The token file's first line, without trailing whitespace. */
static int read_token(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "clipdex serve: --token-file %s: cannot open it; create it with a secret of 16+ characters\n",
                path);
        return 3;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077))
        cdx_log_warn("serve", "--token-file %s is readable by other users; chmod 600 it", path);
    size_t n = fgets(out, (int)cap, f) ? strlen(out) : 0;
    fclose(f);
    while (n > 0 && isspace((unsigned char)out[n - 1]))
        out[--n] = 0;
    if (n < 8) {
        fprintf(stderr, "clipdex serve: --token-file %s: the token must be at least 8 characters on the first line\n",
                path);
        return 3;
    }
    return 0;
}

static int int_arg(const char *opt, const char *v, int lo, int hi, int32_t *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == 0 || *end || x < lo || x > hi)
        return cdx_cli_usage_error("serve", "%s %s: expected an integer in %d..%d", opt, v, lo, hi);
    *out = (int32_t)x;
    return 0;
}

int cdx_cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},         {"listen", required_argument, NULL, 'l'},
        {"token-file", required_argument, NULL, 't'},   {"contract", required_argument, NULL, 'c'},
        {"providers", required_argument, NULL, 'p'},    {"text-providers", required_argument, NULL, 'T'},
        {"max-connections", required_argument, NULL, 'm'}, {"deadline-ms", required_argument, NULL, 'D'},
        {"batch-deadline-ms", required_argument, NULL, 'B'}, {"queue", required_argument, NULL, 'q'},
        {"workers", required_argument, NULL, 'w'},      {"batch-queue", required_argument, NULL, 'Q'},
        {"encoder-slots", required_argument, NULL, 'e'}, {"k-max", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 'j'},      {"batch-chunk", required_argument, NULL, 'C'},
        {"batch-nice", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *data = NULL, *token_file = NULL, *contract_path = NULL, *threads_spec = getenv("CDX_THREADS");
    cdx_server_params sp = cdx_server_default_params();
    cdx_encoder_params ep = cdx_encoder_default_params();
    int c, bad = 0, workers_given = 0, slots_given = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1 && !bad) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'l': sp.listen = optarg; break;
        case 't': token_file = optarg; break;
        case 'c': contract_path = optarg; break;
        case 'p': ep.vision_providers = optarg; break;
        case 'T': ep.text_providers = optarg; break;
        case 'm': bad = int_arg("--max-connections", optarg, 1, 100000, &sp.max_connections); break;
        case 'D': bad = int_arg("--deadline-ms", optarg, 1, 3600000, &sp.interactive_deadline_ms); break;
        case 'B': bad = int_arg("--batch-deadline-ms", optarg, 1, 3600000, &sp.batch_deadline_ms); break;
        case 'q': bad = int_arg("--queue", optarg, 1, 100000, &sp.interactive_capacity); break;
        case 'w': bad = int_arg("--workers", optarg, 1, 64, &sp.interactive_workers), workers_given = 1; break;
        case 'Q': bad = int_arg("--batch-queue", optarg, 1, 100000, &sp.batch_capacity); break;
        case 'e': bad = int_arg("--encoder-slots", optarg, 1, 64, &sp.encoder_slots), slots_given = 1; break;
        case 'k': bad = int_arg("--k-max", optarg, 1, 100000, &sp.k_max); break;
        case 'j': threads_spec = optarg; break;
        case 'C': bad = int_arg("--batch-chunk", optarg, 1, 1024, &sp.batch_chunk); break;
        case 'N': bad = int_arg("--batch-nice", optarg, 0, 19, &sp.batch_nice); break;
        case 'h': return usage();
        default: return cdx_cli_usage_error("serve", "see clipdex serve --help");
        }
    }
    if (bad)
        return bad;
    if (optind < argc)
        return cdx_cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (!data)
        return cdx_cli_usage_error("serve", "--data DIR is required (a directory made by clipdex ingest)");
    /* Tests only: slow every encoder call down (see cdx_server_params). */
    const char *delay = getenv("CDX_FAULT_ENCODE_DELAY_MS");
    if (delay)
        sp.fault_encode_delay_ms = atoi(delay);

    char token[512] = "";
    if (token_file) {
        int rc = read_token(token_file, token, sizeof token);
        if (rc)
            return rc;
        sp.token = token;
    }
    sp.data_dir = data;
    sp.handle_signals = 1;

    cdx_errbuf eb = {0};
    /* The serve role's thread budget: ORT's intra-op threads for the one
     * encoder call at a time (the gate), one OpenMP thread per request
     * worker's search. */
    cdx_threads_params tp = cdx_threads_default_params();
    tp.role = CDX_THREADS_ROLE_SERVE;
    if (cdx_threads_parse(threads_spec, &tp, &eb) != CDX_OK)
        return cdx_cli_usage_error("serve", "--threads: %s", cdx_errbuf_msg(&eb));
    cdx_threads_budget budget;
    cdx_threads_plan(&tp, &budget);
    cdx_threads_apply(&budget);
    /* Interactive workers as the budget says (one per core), and an encoder
     * slot for each of them plus one for the batch lane's worker: a search
     * never waits for the encoder behind batch work, and the batch worker's
     * lower priority (batch_nice) decides who gets the CPU instead. */
    if (!workers_given)
        sp.interactive_workers = budget.workers;
    if (!slots_given)
        sp.encoder_slots = sp.interactive_workers + sp.batch_workers;

    /* ORT's intra-op threads spin after each run by default. In a server two
     * sessions (image and text tower) take turns and share the cores with the
     * request workers and the event loop: the spinning threads of one tower
     * steal the CPU the other tower's run, a search or a refusal needs (the
     * batch-flood benchmark in docs/server.md measured interactive p99 ~2x
     * lower without). So serving defaults to no spinning; --providers says
     * otherwise. */
    if (!ep.vision_providers)
        ep.vision_providers = "cpu:spin=off";

    cdx_contract *contract = NULL;
    cdx_encoder *enc = NULL;
    cdx_store *store = NULL;
    cdx_server *srv = NULL;
    int rc = cdx_cli_open_model(contract_path, &ep, &contract, &enc, &eb);
    cdx_store_params stp = cdx_store_default_params();
    stp.create = 0;
    stp.threads = budget.omp;
    if (rc == CDX_OK)
        rc = cdx_store_open(data, contract, &stp, &store, &eb);
    if (rc == CDX_OK) {
        cdx_server_catalog cat = cdx_server_store_catalog(store);
        rc = cdx_server_open(&sp, enc, &cat, &srv, &eb);
    }
    memset(token, 0, sizeof token);
    if (rc == CDX_OK) {
        const char *colon = strrchr(sp.listen, ':');
        int host_len = colon ? (int)(colon - sp.listen) : 0;
        int any = host_len == 0 || strncmp(sp.listen, "0.0.0.0", (size_t)host_len) == 0;
        char base[128];
        snprintf(base, sizeof base, "http://%.*s:%d", any ? 9 : host_len, any ? "127.0.0.1" : sp.listen,
                 cdx_server_port(srv));
        printf("clipdex serve: %s/  (Ctrl-C stops)\n"
               "  search from a shell: curl -s %s/v1/search -H 'Content-Type: application/json' "
               "-d '{\"text\": \"a red circle\", \"k\": 3}'\n",
               base, base);
        fflush(stdout);
        rc = cdx_server_run(srv);
    }
    /* The server first (it answers what is queued and waits for running
     * work), then the store, whose close checkpoints the indexes. */
    int served = srv != NULL;
    cdx_server_close(srv);
    cdx_encoder_close(enc);
    cdx_store_close(store);
    if (served && rc == CDX_OK) {
        printf("clipdex serve: stopped; %s closed (index checkpointed)\n", data);
        fflush(stdout);
    }
    cdx_contract_close(contract);
    if (rc != CDX_OK) {
        fprintf(stderr, "clipdex serve: %s\n", cdx_errbuf_msg(&eb));
        return cdx_exit_code(rc);
    }
    return 0;
}
