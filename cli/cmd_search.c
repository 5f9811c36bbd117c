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
    printf("usage: clipdex search --data DIR (--text T | --image PATH) [-k N] [--space image|caption] [--json]\n"
           "                      [--contract C] [--providers SPEC] [--effort N]\n"
           "Prints the k nearest items (cosine), best first: rank, score, id, uri and caption.\n");
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

int cdx_cmd_search(int argc, char **argv)
{
    enum { O_DATA = 1000, O_TEXT, O_IMAGE, O_K, O_SPACE, O_JSON, O_CONTRACT, O_PROVIDERS, O_EFFORT, O_HELP };
    static const struct option opts[] = {
        {"data", required_argument, NULL, O_DATA},       {"text", required_argument, NULL, O_TEXT},
        {"image", required_argument, NULL, O_IMAGE},     {"k", required_argument, NULL, O_K},
        {"space", required_argument, NULL, O_SPACE},     {"json", no_argument, NULL, O_JSON},
        {"contract", required_argument, NULL, O_CONTRACT}, {"providers", required_argument, NULL, O_PROVIDERS},
        {"effort", required_argument, NULL, O_EFFORT},   {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *data = NULL, *text = NULL, *image = NULL, *contract_path = NULL;
    int k = 10, as_json = 0, effort = 0, c;
    enum cdx_space space = CDX_SPACE_IMAGE;
    cdx_encoder_params ep = cdx_encoder_default_params();
    ep.warmup = 0;
    ep.report_placement = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:", opts, NULL)) != -1) {
        switch (c) {
        case O_DATA: data = optarg; break;
        case O_TEXT: text = optarg; break;
        case O_IMAGE: image = optarg; break;
        case 'k':
        case O_K:
            k = atoi(optarg);
            if (k < 1 || k > 10000)
                return cdx_cli_usage_error("search", "-k %s: expected 1..10000", optarg);
            break;
        case O_SPACE: {
            size_t i = 0;
            for (; i < sizeof spaces / sizeof spaces[0] && strcmp(spaces[i].name, optarg) != 0; i++)
                ;
            if (i == sizeof spaces / sizeof spaces[0])
                return cdx_cli_usage_error("search", "--space %s: expected image or caption", optarg);
            space = spaces[i].space;
            break;
        }
        case O_JSON: as_json = 1; break;
        case O_CONTRACT: contract_path = optarg; break;
        case O_PROVIDERS: ep.vision_providers = optarg; break;
        case O_EFFORT: effort = atoi(optarg); break;
        case O_HELP: return usage();
        default: return cdx_cli_usage_error("search", "see clipdex search --help");
        }
    }
    if (!data || (!text == !image) || optind < argc)
        return cdx_cli_usage_error("search", optind < argc ? "unexpected argument '%s'"
                                                           : "give --data DIR and one of --text T or --image PATH%s",
                                   optind < argc ? argv[optind] : "");
    ep.load_text = text != NULL;
    ep.load_vision = image != NULL;

    cdx_errbuf eb = {0};
    cdx_contract *contract = NULL;
    cdx_encoder *enc = NULL;
    cdx_store *store = NULL;
    float *q = NULL, *scores = NULL;
    int64_t *ids = NULL;
    json_t *results = as_json ? json_array() : NULL;
    int rc = cdx_cli_open_model(contract_path, &ep, &contract, &enc, &eb);
    cdx_store_params sp = cdx_store_default_params();
    sp.read_only = 1;
    sp.create = 0;
    if (rc == CDX_OK)
        rc = cdx_store_open(data, contract, &sp, &store, &eb);
    int32_t dim = contract ? cdx_contract_get(contract)->dim : 0;
    if (rc == CDX_OK && (!(q = malloc((size_t)dim * sizeof *q)) || !(ids = malloc((size_t)k * sizeof *ids)) ||
                         !(scores = malloc((size_t)k * sizeof *scores))))
        rc = cdx_errbuf_set(&eb, CDX_ERR_NOMEM, "search: out of memory");
    if (rc == CDX_OK)
        rc = text ? cdx_encoder_embed_texts(enc, &text, NULL, 1, q, &eb)
                  : cdx_encoder_embed_image_file(enc, image, q, NULL, &eb);
    if (rc == CDX_OK)
        rc = cdx_store_search(store, space, q, 1, k, effort, ids, scores, &eb);
    for (int i = 0; rc == CDX_OK && i < k && ids[i] >= 0; i++)
        print_hit(store, i + 1, ids[i], scores[i], results);
    if (rc == CDX_OK && results) {
        json_t *root = json_pack("{s:s, s:o, s:s, s:i, s:o}", "query_kind", text ? "text" : "image", "query",
                                 json_name(text ? text : image), "space", spaces[space].name, "k", k, "results",
                                 results);
        results = NULL;
        char *out = json_dumps(root, JSON_COMPACT);
        printf("%s\n", out);
        free(out);
        json_decref(root);
    }
    json_decref(results);
    free(q);
    free(ids);
    free(scores);
    cdx_store_close(store);
    cdx_encoder_close(enc);
    cdx_contract_close(contract);
    if (rc != CDX_OK) {
        fprintf(stderr, "clipdex search: %s\n", cdx_errbuf_msg(&eb));
        return cdx_exit_code(rc);
    }
    return 0;
}
