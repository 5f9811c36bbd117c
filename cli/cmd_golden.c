/* `clipdex golden`: run a contract's golden pack under one or more provider
 * specs and print the agreement matrix; --save writes the embeddings so
 * another machine can compare with --against (remote parity). Exit 0 when
 * every row passes, 1 when any fails. */
#include "cli/cli.h"

#include "common/log.h"
#include "common/sysinfo.h"
#include "contracts/contract.h"
#include "encoder/encoder.h"
#include "encoder/golden_run.h"
#include "encoder/ort_env.h"
#include "encoder/providers.h"

#include <getopt.h>
#include <math.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SPECS 16

/* What the matrix compares when no --providers is given: graph optimizations
 * off vs all, one thread vs two. */
static const char *const default_specs[] = {"cpu:threads=1,opt=disabled", "cpu:threads=1,opt=all",
                                            "cpu:threads=2,opt=all"};

struct run {
    char spec[512];
    cdx_golden_result r;
    double vs_first; /* min cosine to the first spec's embeddings */
    int ok;
};

static double min_cos_rows(const float *a, const float *b, int32_t rows, int32_t dim)
{
    double m = 1;
    for (int32_t i = 0; i < rows; i++) {
        double c = cdx_cosine(a + (size_t)i * (size_t)dim, b + (size_t)i * (size_t)dim, dim);
        m = c < m ? c : m;
    }
    return m;
}

static json_t *embeds_json(const float *v, int32_t rows, int32_t dim)
{
    json_t *a = json_array();
    for (int32_t i = 0; i < rows; i++) {
        json_t *row = json_array();
        for (int32_t d = 0; d < dim; d++)
            json_array_append_new(row, json_real(v[(size_t)i * (size_t)dim + (size_t)d]));
        json_array_append_new(a, row);
    }
    return a;
}

static json_t *run_json(const struct run *x, int with_embeds)
{
    const cdx_golden_result *r = &x->r;
    json_t *o = json_pack("{s:s, s:f, s:f, s:f, s:f, s:f, s:i, s:f, s:f, s:f, s:i, s:f, s:b}", "providers", x->spec,
                          "image_min_cosine", r->image_min_cos, "image_mean_cosine", r->image_mean_cos,
                          "image_runtime_min_cosine", r->image_runtime_min_cos, "pixel_max_abs_diff",
                          r->pixel_max_abs_diff, "pixel_mean_abs_diff", r->pixel_mean_abs_diff, "image_errors",
                          r->image_errors, "text_min_cosine", r->text_min_cos, "text_mean_cosine", r->text_mean_cos,
                          "text_runtime_min_cosine", r->text_runtime_min_cos, "token_mismatches", r->token_mismatches,
                          "vs_first_min_cosine", x->vs_first, "pass", x->ok);
    if (with_embeds) {
        json_object_set_new(o, "image_embeds", embeds_json(r->image_embeds, r->n_images, r->dim));
        json_object_set_new(o, "text_embeds", embeds_json(r->text_embeds, r->n_texts, r->dim));
    }
    return o;
}

/* Reads a --save file's first run's embeddings into a flat array. */
static int load_saved(const char *path, const cdx_contract_spec *s, const cdx_golden_info *gi, float **img,
                      float **txt, char *their_spec, size_t cap, cdx_errbuf *eb)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "--against %s: %s (line %d)", path, jerr.text, jerr.line);
    int rc = CDX_OK;
    const char *hash = json_string_value(json_object_get(root, "space_hash"));
    json_t *run0 = json_array_get(json_object_get(root, "runs"), 0);
    json_t *arrays[2] = {json_object_get(run0, "image_embeds"), json_object_get(run0, "text_embeds")};
    int32_t rows[2] = {gi->n_images, gi->n_texts};
    float **outs[2] = {img, txt};
    if (!hash || strcmp(hash, s->space_hash) != 0) {
        rc = cdx_errbuf_set(eb, CDX_ERR_MISMATCH, "--against %s: saved under contract space %s, this is %s (%s)", path,
                            hash ? hash : "(none)", s->space_hash, s->id);
        goto done;
    }
    snprintf(their_spec, cap, "%s", json_string_value(json_object_get(run0, "providers")) ?: "?");
    for (int k = 0; k < 2; k++) {
        if (!json_is_array(arrays[k]) || (int32_t)json_array_size(arrays[k]) != rows[k]) {
            rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "--against %s: expected %d %s embeddings", path, rows[k],
                                k ? "text" : "image");
            goto done;
        }
        *outs[k] = calloc((size_t)rows[k] + 1, (size_t)s->dim * sizeof(float));
        for (int32_t i = 0; i < rows[k]; i++) {
            json_t *row = json_array_get(arrays[k], (size_t)i);
            if (!json_is_array(row) || (int32_t)json_array_size(row) != s->dim) {
                rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "--against %s: %s embedding %d is not %d numbers", path,
                                    k ? "text" : "image", i, s->dim);
                goto done;
            }
            for (int32_t d = 0; d < s->dim; d++)
                (*outs[k])[(size_t)i * (size_t)s->dim + (size_t)d] = (float)json_number_value(json_array_get(row, (size_t)d));
        }
    }
done:
    json_decref(root);
    return rc;
}

static void print_matrix(const cdx_contract_spec *s, const cdx_golden_info *gi, const struct run *runs, int n,
                         double img_min, double txt_min)
{
    printf("golden %s: %d images, %d texts; pass when image cosine >= %.6g and text cosine >= %.6g, tokens identical\n",
           s->id, gi->n_images, gi->n_texts, img_min, txt_min);
    printf("%-34s %9s %9s %9s %9s %9s %9s %9s %5s %9s  %s\n", "providers", "img-min", "img-mean", "img-rt", "px-maxd",
           "txt-min", "txt-mean", "txt-rt", "tok≠", "vs-first", "verdict");
    for (int i = 0; i < n; i++) {
        const cdx_golden_result *r = &runs[i].r;
        char pxd[16];
        if (r->pixel_max_abs_diff < 0)
            snprintf(pxd, sizeof pxd, "n/a");
        else
            snprintf(pxd, sizeof pxd, "%.2e", r->pixel_max_abs_diff);
        printf("%-34s %9.7f %9.7f %9.7f %9s %9.7f %9.7f %9.7f %5d %9.7f  %s\n", runs[i].spec, r->image_min_cos,
               r->image_mean_cos, r->image_runtime_min_cos, pxd, r->text_min_cos, r->text_mean_cos,
               r->text_runtime_min_cos, r->token_mismatches, runs[i].vs_first, runs[i].ok ? "PASS" : "FAIL");
    }
    printf("img: clipdex preprocessing + model vs reference embedding; img-rt: reference tensor + model (runtime only);\n"
           "px-maxd: clipdex tensor vs reference tensor; txt/txt-rt likewise with token ids; vs-first: min cosine to the\n"
           "first row's embeddings.\n");
}

/* clipdex's own preprocessing, as ingest and the server run it. */
static int golden_image(void *ctx, const char *path, float *out, cdx_errbuf *eb)
{
    const cdx_preprocess *pp = cdx_encoder_preprocess(ctx);
    return cdx_preprocess_file(pp, path, out, cdx_preprocess_tensor_floats(pp), NULL, eb);
}

static int usage(void)
{
    printf("usage: clipdex golden [--contract C] [--providers SPEC[,SPEC...]]... [--text-providers SPEC]\n"
           "                      [--epsilon E] [--max-fallback R] [--json] [--save F] [--against F]\n"
           "Runs the contract's golden pack under each provider spec and prints the agreement matrix.\n"
           "Default specs: %s, %s, %s.\n"
           "--epsilon E       pass when cosine >= 1-E (default: the contract's golden pass marks)\n"
           "--save F          write results and embeddings as JSON for --against on another machine\n"
           "--against F       also compare the first spec's embeddings with a saved run\n"
           "Exit 0 when every row passes, 1 when any fails.\n",
           default_specs[0], default_specs[1], default_specs[2]);
    return 0;
}

int cdx_cmd_golden(int argc, char **argv)
{
    static const struct option opts[] = {
        {"contract", required_argument, NULL, 'c'},     {"providers", required_argument, NULL, 'p'},
        {"text-providers", required_argument, NULL, 't'}, {"epsilon", required_argument, NULL, 'e'},
        {"max-fallback", required_argument, NULL, 'f'}, {"json", no_argument, NULL, 'j'},
        {"save", required_argument, NULL, 's'},         {"against", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},               {NULL, 0, NULL, 0}};
    const char *contract_path = NULL, *text_providers = NULL, *save = NULL, *against = NULL;
    char specs[MAX_SPECS][512];
    int n_specs = 0, as_json = 0, c;
    double epsilon = -1, max_fallback = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': contract_path = optarg; break;
        case 'p':
            if (cdx_cli_split_specs(optarg, specs, &n_specs, MAX_SPECS) != 0)
                return cdx_cli_usage_error("golden", "at most %d provider specs", MAX_SPECS);
            break;
        case 't': text_providers = optarg; break;
        case 'e':
            epsilon = strtod(optarg, NULL);
            if (!(epsilon >= 0 && epsilon < 1))
                return cdx_cli_usage_error("golden", "--epsilon %s: expected a number in [0, 1)", optarg);
            break;
        case 'f': max_fallback = strtod(optarg, NULL); break;
        case 'j': as_json = 1; break;
        case 's': save = optarg; break;
        case 'a': against = optarg; break;
        case 'h': return usage();
        default: return cdx_cli_usage_error("golden", "see clipdex golden --help");
        }
    }
    if (optind < argc)
        return cdx_cli_usage_error("golden", "unexpected argument '%s'", argv[optind]);
    if (n_specs == 0)
        for (; n_specs < (int)(sizeof default_specs / sizeof default_specs[0]); n_specs++)
            snprintf(specs[n_specs], sizeof specs[n_specs], "%s", default_specs[n_specs]);

    cdx_errbuf eb = {0};
    cdx_contract *contract = NULL;
    cdx_golden *golden = NULL;
    struct run *runs = calloc((size_t)n_specs, sizeof *runs);
    float *their_img = NULL, *their_txt = NULL;
    char path[CDX_CONTRACT_PATH_MAX], their_spec[512] = "";
    int rc = CDX_OK, all_ok = 1;
    if (!contract_path) {
        rc = cdx_contract_default_path(path, sizeof path, &eb);
        contract_path = path;
    }
    cdx_contract_params cp = cdx_contract_default_params();
    if (rc == CDX_OK)
        rc = cdx_contract_open(contract_path, &cp, &contract, &eb);
    const cdx_contract_spec *s = contract ? cdx_contract_get(contract) : NULL;
    if (rc == CDX_OK)
        rc = cdx_golden_open(s->golden_pack, &golden, &eb);
    if (rc != CDX_OK)
        goto done;
    const cdx_golden_info *gi = cdx_golden_get_info(golden);
    double img_min = epsilon >= 0 ? 1 - epsilon : s->golden_image_min_cosine;
    double txt_min = epsilon >= 0 ? 1 - epsilon : s->golden_text_min_cosine;
    for (int i = 0; i < n_specs && rc == CDX_OK; i++) {
        cdx_encoder_params ep = cdx_encoder_default_params();
        ep.vision_providers = specs[i];
        ep.text_providers = text_providers;
        ep.max_fallback = max_fallback;
        cdx_encoder *enc = NULL;
        snprintf(runs[i].spec, sizeof runs[i].spec, "%s", specs[i]);
        rc = cdx_encoder_open(contract, &ep, &enc, &eb);
        if (rc == CDX_OK)
            rc = cdx_golden_run(enc, golden, golden_image, enc, img_min, txt_min, &runs[i].r, &eb);
        cdx_encoder_close(enc);
        if (rc != CDX_OK)
            break;
        runs[i].vs_first = i == 0 ? 1
                                  : fmin(min_cos_rows(runs[i].r.image_embeds, runs[0].r.image_embeds, gi->n_images, s->dim),
                                         min_cos_rows(runs[i].r.text_embeds, runs[0].r.text_embeds, gi->n_texts, s->dim));
        runs[i].ok = runs[i].r.pass && runs[i].vs_first >= fmin(img_min, txt_min);
        all_ok &= runs[i].ok;
    }
    if (rc != CDX_OK)
        goto done;
    double remote = -1;
    if (against) {
        rc = load_saved(against, s, gi, &their_img, &their_txt, their_spec, sizeof their_spec, &eb);
        if (rc != CDX_OK)
            goto done;
        remote = fmin(min_cos_rows(runs[0].r.image_embeds, their_img, gi->n_images, s->dim),
                      min_cos_rows(runs[0].r.text_embeds, their_txt, gi->n_texts, s->dim));
        all_ok &= remote >= fmin(img_min, txt_min);
    }
    if (as_json || save) {
        cdx_sysinfo si;
        cdx_sysinfo_read(&si);
        cdx_ort_info oi;
        cdx_ort_info_read(&oi, &eb);
        json_t *root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:b}", "schema", "clipdex.golden-results/1",
                                 "contract", s->id, "space_hash", s->space_hash, "clipdex", cdx_cli_version(),
                                 "onnxruntime", oi.version, "cpu", si.cpu_model, "image_min_cosine", img_min,
                                 "text_min_cosine", txt_min, "pass", all_ok);
        json_t *arr = json_array();
        for (int i = 0; i < n_specs; i++)
            json_array_append_new(arr, run_json(&runs[i], save != NULL));
        json_object_set_new(root, "runs", arr);
        if (against)
            json_object_set_new(root, "against", json_pack("{s:s, s:s, s:f, s:b}", "file", against, "providers",
                                                           their_spec, "min_cosine", remote,
                                                           "pass", remote >= fmin(img_min, txt_min)));
        if (save && json_dump_file(root, save, JSON_COMPACT) != 0)
            rc = cdx_errbuf_set(&eb, CDX_ERR_IO, "--save %s: cannot write", save);
        if (as_json) {
            json_t *shown = json_deep_copy(root);
            json_t *r;
            size_t i;
            json_array_foreach(json_object_get(shown, "runs"), i, r)
            {
                json_object_del(r, "image_embeds");
                json_object_del(r, "text_embeds");
            }
            char *text = json_dumps(shown, JSON_INDENT(2));
            printf("%s\n", text);
            free(text);
            json_decref(shown);
        }
        json_decref(root);
    }
    if (!as_json) {
        print_matrix(s, gi, runs, n_specs, img_min, txt_min);
        if (against)
            printf("against %s (%s): min cosine %.6f  %s\n", against, their_spec, remote,
                   remote >= fmin(img_min, txt_min) ? "PASS" : "FAIL");
    }
done:
    for (int i = 0; runs && i < n_specs; i++)
        cdx_golden_result_free(&runs[i].r);
    free(runs);
    free(their_img);
    free(their_txt);
    cdx_golden_close(golden);
    cdx_contract_close(contract);
    if (rc != CDX_OK) {
        fprintf(stderr, "clipdex golden: %s\n", cdx_errbuf_msg(&eb));
        return cdx_exit_code(rc);
    }
    return all_ok ? 0 : 1;
}
