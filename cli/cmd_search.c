/* `clipdex search`: top-k of a data directory for a text or an image, for a
 * user at a terminal (or --json for scripts). The query is embedded with the
 * directory's contract (the embedded default unless --contract names
 * another; a directory stamped with another contract is refused by the
 * store); a text searches the image space by default, an image the image
 * space too (similar images); --space caption searches the captions. */
#include "cli/cli.h"

#include "common/escape.h"
#include "common/threads.h"
#include "index/store.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    printf("usage: clipdex search --data DIR (--text T | --image PATH | --stdin) [-k N] [--space image|caption]\n"
           "                      [--json] [--contract C] [--providers SPEC] [--effort N]\n"
           "Prints the k nearest items (cosine), best first: rank, score, id, uri and caption.\n"
           "--stdin: one text query per line (with --json, one JSON object per query).\n");
    return 0;
}

static const struct {
    const char *name;
    enum cdx_space space;
} spaces[] = {{"image", CDX_SPACE_IMAGE}, {"caption", CDX_SPACE_CAPTION}};

/* A JSON string for bytes that may not be UTF-8 (file names): escaped when they are not. */
static json_t *json_name(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char shown[4096];
    return json_string(cdx_escape_name(s, shown, sizeof shown));
}

static void print_hit(cdx_store *store, int rank, int64_t id, float score, json_t *results)
{
    cdx_item_row row = {0};
    cdx_errbuf eb = {0};
    int found = cdx_store_get_item(store, id, &row, &eb) == CDX_OK;
    if (results) {
        json_t *hit = json_pack("{s:i, s:I, s:f}", "rank", rank, "id", (json_int_t)id, "score", (double)score);
        if (found) {
            json_object_set_new(hit, "uri", json_name(row.uri));
            if (row.caption)
                json_object_set_new(hit, "caption", json_name(row.caption));
            json_t *meta = row.meta_json ? json_loads(row.meta_json, 0, NULL) : NULL;
            if (meta)
                json_object_set_new(hit, "meta", meta);
        }
        json_array_append_new(results, hit);
    } else {
        char uri[1024], cap[256];
        printf("%3d  %.4f  %6lld  %s%s%s%s\n", rank, (double)score, (long long)id,
               found ? cdx_escape_name(row.uri, uri, sizeof uri) : "(deleted)", found && row.caption ? "  \"" : "",
               found && row.caption ? cdx_escape_name(row.caption, cap, sizeof cap) : "",
               found && row.caption ? "\"" : "");
    }
    cdx_item_row_clear(&row);
}

typedef struct query_ctx {
    cdx_encoder *enc;
    cdx_store *store;
    enum cdx_space space;
    int k, effort, as_json;
    int32_t dim;
    float *q, *scores;
    int64_t *ids;
} query_ctx;

/* Embeds one query, searches, prints the hits (a block of lines, or one JSON line). */
static int run_query(query_ctx *c, int is_text, const char *value, cdx_errbuf *eb)
{
    int rc = is_text ? cdx_encoder_embed_texts(c->enc, &value, NULL, 1, c->q, eb)
                     : cdx_encoder_embed_image_file(c->enc, value, c->q, NULL, eb);
    if (rc == CDX_OK)
        rc = cdx_store_search(c->store, c->space, c->q, 1, c->k, c->effort, c->ids, c->scores, eb);
    if (rc != CDX_OK)
        return rc;
    json_t *results = c->as_json ? json_array() : NULL;
    for (int i = 0; i < c->k && c->ids[i] >= 0; i++)
        print_hit(c->store, i + 1, c->ids[i], c->scores[i], results);
    if (results) {
        json_t *root = json_pack("{s:s, s:o, s:s, s:i, s:o}", "query_kind", is_text ? "text" : "image", "query",
                                 json_name(value), "space", spaces[c->space].name, "k", c->k, "results", results);
        char *out = json_dumps(root, JSON_COMPACT);
        printf("%s\n", out);
        free(out);
        json_decref(root);
    }
    fflush(stdout);
    return CDX_OK;
}

int cdx_cmd_search(int argc, char **argv)
{
    enum { O_DATA = 1000, O_TEXT, O_IMAGE, O_STDIN, O_K, O_SPACE, O_JSON, O_CONTRACT, O_PROVIDERS, O_EFFORT, O_HELP };
    static const struct option opts[] = {
        {"data", required_argument, NULL, O_DATA},       {"text", required_argument, NULL, O_TEXT},
        {"image", required_argument, NULL, O_IMAGE},     {"stdin", no_argument, NULL, O_STDIN},
        {"k", required_argument, NULL, O_K},             {"space", required_argument, NULL, O_SPACE},
        {"json", no_argument, NULL, O_JSON},             {"contract", required_argument, NULL, O_CONTRACT},
        {"providers", required_argument, NULL, O_PROVIDERS}, {"effort", required_argument, NULL, O_EFFORT},
        {"help", no_argument, NULL, O_HELP},             {NULL, 0, NULL, 0},
    };
    const char *data = NULL, *text = NULL, *image = NULL, *contract_path = NULL;
    int c, from_stdin = 0;
    query_ctx qc = {.space = CDX_SPACE_IMAGE, .k = 10};
    cdx_encoder_params ep = cdx_encoder_default_params();
    ep.warmup = 0;
    ep.report_placement = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:", opts, NULL)) != -1) {
        switch (c) {
        case O_DATA: data = optarg; break;
        case O_TEXT: text = optarg; break;
        case O_IMAGE: image = optarg; break;
        case O_STDIN: from_stdin = 1; break;
        case 'k':
        case O_K:
            qc.k = atoi(optarg);
            if (qc.k < 1 || qc.k > 10000)
                return cdx_cli_usage_error("search", "-k %s: expected 1..10000", optarg);
            break;
        case O_SPACE: {
            size_t i = 0;
            for (; i < sizeof spaces / sizeof spaces[0] && strcmp(spaces[i].name, optarg) != 0; i++)
                ;
            if (i == sizeof spaces / sizeof spaces[0])
                return cdx_cli_usage_error("search", "--space %s: expected image or caption", optarg);
            qc.space = spaces[i].space;
            break;
        }
        case O_JSON: qc.as_json = 1; break;
        case O_CONTRACT: contract_path = optarg; break;
        case O_PROVIDERS: ep.vision_providers = optarg; break;
        case O_EFFORT: qc.effort = atoi(optarg); break;
        case O_HELP: return usage();
        default: return cdx_cli_usage_error("search", "see clipdex search --help");
        }
    }
    if (!data || (!!text + !!image + from_stdin) != 1 || optind < argc)
        return cdx_cli_usage_error("search", optind < argc ? "unexpected argument '%s'"
                                                           : "give --data DIR and one of --text T, --image PATH or --stdin%s",
                                   optind < argc ? argv[optind] : "");
    ep.load_text = text != NULL || from_stdin;
    ep.load_vision = image != NULL;

    cdx_errbuf eb = {0};
    cdx_contract *contract = NULL;
    char *line = NULL;
    size_t cap = 0;
    int rc = cdx_cli_open_model(contract_path, &ep, &contract, &qc.enc, &eb);
    cdx_store_params sp = cdx_store_default_params();
    sp.read_only = 1;
    sp.create = 0;
    if (rc == CDX_OK)
        rc = cdx_store_open(data, contract, &sp, &qc.store, &eb);
    qc.dim = contract ? cdx_contract_get(contract)->dim : 0;
    if (rc == CDX_OK && (!(qc.q = malloc((size_t)qc.dim * sizeof *qc.q)) ||
                         !(qc.ids = malloc((size_t)qc.k * sizeof *qc.ids)) ||
                         !(qc.scores = malloc((size_t)qc.k * sizeof *qc.scores))))
        rc = cdx_errbuf_set(&eb, CDX_ERR_NOMEM, "search: out of memory");
    if (rc == CDX_OK && !from_stdin)
        rc = run_query(&qc, text != NULL, text ? text : image, &eb);
    ssize_t n;
    while (rc == CDX_OK && from_stdin && (n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (!qc.as_json)
            printf("# %s\n", line);
        rc = run_query(&qc, 1, line, &eb);
    }
    free(line);
    free(qc.q);
    free(qc.ids);
    free(qc.scores);
    cdx_store_close(qc.store);
    cdx_encoder_close(qc.enc);
    cdx_contract_close(contract);
    if (rc != CDX_OK) {
        fprintf(stderr, "clipdex search: %s\n", cdx_errbuf_msg(&eb));
        return cdx_exit_code(rc);
    }
    return 0;
}
