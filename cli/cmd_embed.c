/* `clipdex embed`: texts and images to L2-normalized vectors, in the order
 * given. With no --contract the embedded default model is used. One-shot, so
 * towers are not warmed; placement is still read from ORT's log and the
 * fallback limit still applies. */
#include "cli/cli.h"

#include "contracts/contract.h"
#include "encoder/encoder.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct input {
    int is_image;
    const char *value;
};

static int usage(void)
{
    printf("usage: clipdex embed [--contract C] (--text T | --image PATH)... [--providers SPEC]\n"
           "                     [--text-providers SPEC] [--max-fallback R] [--json]\n"
           "Prints one L2-normalized vector per input, in order. --providers applies to both towers unless\n"
           "--text-providers names another spec for the text tower (e.g. --providers 'coreml;cpu').\n");
    return 0;
}

static void print_vector(const struct input *in, const float *v, int32_t dim, json_t *items)
{
    if (items) {
        json_t *vec = json_array();
        for (int32_t d = 0; d < dim; d++)
            json_array_append_new(vec, json_real(v[d]));
        json_array_append_new(items, json_pack("{s:s, s:s, s:o}", "kind", in->is_image ? "image" : "text", "input",
                                               in->value, "vector", vec));
        return;
    }
    printf("%s\t%s\n", in->is_image ? "image" : "text", in->value);
    for (int32_t d = 0; d < dim; d++)
        printf("%s%.7g", d ? " " : "", v[d]);
    printf("\n");
}

int cdx_cmd_embed(int argc, char **argv)
{
    static const struct option opts[] = {
        {"contract", required_argument, NULL, 'c'}, {"text", required_argument, NULL, 't'},
        {"image", required_argument, NULL, 'i'},    {"providers", required_argument, NULL, 'p'},
        {"text-providers", required_argument, NULL, 'T'}, {"max-fallback", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},           {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct input *inputs = calloc((size_t)argc + 1, sizeof *inputs);
    int n = 0, n_text = 0, n_image = 0, as_json = 0, c;
    const char *contract_path = NULL;
    cdx_encoder_params ep = cdx_encoder_default_params();
    ep.warmup = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': contract_path = optarg; break;
        case 't': inputs[n++] = (struct input){0, optarg}, n_text++; break;
        case 'i': inputs[n++] = (struct input){1, optarg}, n_image++; break;
        case 'p': ep.vision_providers = optarg; break;
        case 'T': ep.text_providers = optarg; break;
        case 'f': ep.max_fallback = strtod(optarg, NULL); break;
        case 'j': as_json = 1; break;
        case 'h': free(inputs); return usage();
        default: free(inputs); return cdx_cli_usage_error("embed", "see clipdex embed --help");
        }
    }
    if (optind < argc || n == 0) {
        free(inputs);
        return cdx_cli_usage_error("embed", optind < argc ? "unexpected argument '%s'" : "give at least one --text or --image%s",
                                   optind < argc ? argv[optind] : "");
    }
    ep.load_vision = n_image > 0;
    ep.load_text = n_text > 0;

    cdx_errbuf eb = {0};
    cdx_contract *contract = NULL;
    cdx_encoder *enc = NULL;
    char path[CDX_CONTRACT_PATH_MAX];
    float *v = NULL;
    json_t *items = as_json ? json_array() : NULL;
    int rc = CDX_OK;
    if (!contract_path) {
        rc = cdx_contract_default_path(path, sizeof path, &eb);
        contract_path = path;
    }
    cdx_contract_params cp = cdx_contract_default_params();
    if (rc == CDX_OK)
        rc = cdx_contract_open(contract_path, &cp, &contract, &eb);
    if (rc == CDX_OK)
        rc = cdx_encoder_open(contract, &ep, &enc, &eb);
    const cdx_contract_spec *s = contract ? cdx_contract_get(contract) : NULL;
    if (rc == CDX_OK && !(v = malloc((size_t)s->dim * sizeof *v)))
        rc = cdx_errbuf_set(&eb, CDX_ERR_NOMEM, "embed: out of memory");
    for (int i = 0; i < n && rc == CDX_OK; i++) {
        rc = inputs[i].is_image ? cdx_encoder_embed_image_file(enc, inputs[i].value, v, NULL, &eb)
                                : cdx_encoder_embed_texts(enc, &inputs[i].value, NULL, 1, v, &eb);
        if (rc == CDX_OK)
            print_vector(&inputs[i], v, s->dim, items);
    }
    if (rc == CDX_OK && items) {
        json_t *root = json_pack("{s:s, s:s, s:i, s:o}", "contract", s->id, "space_hash", s->space_hash, "dim", s->dim,
                                 "items", items);
        items = NULL;
        char *text = json_dumps(root, JSON_COMPACT);
        printf("%s\n", text);
        free(text);
        json_decref(root);
    }
    json_decref(items);
    free(v);
    free(inputs);
    cdx_encoder_close(enc);
    cdx_contract_close(contract);
    if (rc != CDX_OK) {
        fprintf(stderr, "clipdex embed: %s\n", cdx_errbuf_msg(&eb));
        return cdx_exit_code(rc);
    }
    return 0;
}
