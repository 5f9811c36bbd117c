/* `clipdex contract show`: a contract as JSON (the schema's layout with paths
 * resolved, plus the file, the space hash and what was verified) or as a
 * short text summary for people. */
#include "contracts/contract.h"

#include "contracts/contract_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static json_t *int_array(const int32_t *v, int32_t n)
{
    json_t *a = json_array();
    for (int32_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

/* Floats as the decimal the contract wrote (0.48145466, not 0.48145466089...). */
static json_t *float_array(const float *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.9g", v[i]);
        json_array_append_new(a, json_real(strtod(buf, NULL)));
    }
    return a;
}

static json_t *tensors_json(const cdx_tensor_spec *t, int32_t n)
{
    json_t *a = json_array();
    for (int32_t i = 0; i < n; i++) {
        json_t *shape = json_array();
        for (int32_t d = 0; d < t[i].rank; d++)
            json_array_append_new(shape, t[i].dims[d] >= 0 ? json_integer(t[i].dims[d])
                                                           : json_string(t[i].dim_names[d]));
        json_array_append_new(a, json_pack("{s:s, s:s, s:o}", "name", t[i].name, "dtype", cdx_dtype_name(t[i].dtype),
                                           "shape", shape));
    }
    return a;
}

static json_t *describe_json(const cdx_contract_spec *s)
{
    json_t *arts = json_array();
    for (int32_t i = 0; i < s->n_artifacts; i++)
        json_array_append_new(arts, json_pack("{s:s, s:s, s:s}", "role", s->artifacts[i].role, "path",
                                              s->artifacts[i].path, "sha256", s->artifacts[i].sha256));
    json_t *onnx = json_pack("{s:i, s:i}", "opset", (int)s->onnx_opset, "ir_version", (int)s->onnx_ir_version);
    for (int t = 0; t < 2; t++)
        json_object_set_new(onnx, cdx_contract_tower_keys[t],
                            json_pack("{s:o, s:o}", "inputs", tensors_json(s->towers[t].inputs, s->towers[t].n_inputs),
                                      "outputs", tensors_json(s->towers[t].outputs, s->towers[t].n_outputs)));
    int32_t size[2] = {s->image.height, s->image.width};
    int32_t bg[3] = {s->image.background[0], s->image.background[1], s->image.background[2]};
    json_t *image = json_pack(
        "{s:o, s:s, s:o, s:s, s:s, s:f, s:o, s:o, s:s, s:o}", "size", int_array(size, 2), "resize",
        cdx_contract_resize_names[s->image.resize], "resize_to",
        s->image.resize_to ? json_integer(s->image.resize_to) : json_null(), "interpolation",
        cdx_contract_interp_names[s->image.interpolation], "crop", cdx_contract_crop_names[s->image.crop], "rescale",
        s->image.rescale, "mean", float_array(s->image.mean, 3), "std", float_array(s->image.std, 3), "colour", "rgb",
        "background", int_array(bg, 3));
    json_t *text = json_pack(
        "{s:s, s:i, s:b, s:o, s:I, s:I, s:I, s:s, s:s}", "tokenizer", cdx_contract_tokenizer_names[s->text.tokenizer],
        "context_length", (int)s->text.context_length, "lowercase", (int)s->text.lowercase, "bos_id",
        s->text.bos_id >= 0 ? json_integer(s->text.bos_id) : json_null(), "eos_id", (json_int_t)s->text.eos_id,
        "pad_id", (json_int_t)s->text.pad_id, "unk_id", (json_int_t)s->text.unk_id, "padding",
        cdx_contract_padding_names[s->text.padding], "pooling", cdx_contract_pooling_names[s->text.pooling]);
    json_t *root = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:b, s:b}, s:o, s:o, s:o, s:o, s:{s:i, s:s}, s:{s:f, s:o}, "
        "s:{s:o, s:o}, s:{s:s, s:f, s:f}, s:{s:f, s:f, s:f, s:f}}",
        "file", s->file, "id", s->id, "version", s->version, "family", cdx_family_name(s->family), "variant",
        cdx_contract_variant_names[s->variant], "space_hash", s->space_hash, "model_dir", s->model_dir, "verified",
        "artifacts", (int)s->artifacts_verified, "onnx", (int)s->onnx_checked, "artifacts", arts, "onnx", onnx,
        "image", image, "text", text, "embedding", "dim", (int)s->dim, "normalize", "l2", "scoring", "logit_scale",
        s->scoring.logit_scale, "logit_bias", s->scoring.has_logit_bias ? json_real(s->scoring.logit_bias) : json_null(),
        "buckets", "batch", int_array(s->batch_buckets, s->n_batch_buckets), "sequence",
        int_array(s->seq_buckets, s->n_seq_buckets), "golden", "pack", s->golden_pack, "image_min_cosine",
        s->golden_image_min_cosine, "text_min_cosine", s->golden_text_min_cosine, "thresholds", "max_fallback",
        s->thresholds.max_fallback, "min_speedup", s->thresholds.min_speedup, "max_cold_warm_ratio",
        s->thresholds.max_cold_warm_ratio, "max_drift", s->thresholds.max_drift);
    return root;
}

static void print_ints(FILE *f, const int32_t *v, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        fprintf(f, "%s%d", i ? ", " : "[", (int)v[i]);
    fprintf(f, "]");
}

static void print_tower(FILE *f, const cdx_tower_spec *tw, const char *name)
{
    for (int io = 0; io < 2; io++) {
        const cdx_tensor_spec *t = io ? tw->outputs : tw->inputs;
        for (int32_t i = 0; i < (io ? tw->n_outputs : tw->n_inputs); i++) {
            char shape[160];
            cdx_contract_format_shape(&t[i], shape, sizeof shape);
            fprintf(f, "  %-6s %-3s       %s %s %s\n", name, io ? "out" : "in", t[i].name, cdx_dtype_name(t[i].dtype),
                    shape);
        }
    }
}

static char *describe_text(const cdx_contract_spec *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    const char *yes_no[] = {"no (skipped)", "yes"};
    fprintf(f, "contract     %s version %s (%s, %s)\n", s->id, s->version, cdx_family_name(s->family),
            cdx_contract_variant_names[s->variant]);
    fprintf(f, "file         %s\n", s->file[0] ? s->file : "(memory)");
    fprintf(f, "space hash   %s\n", s->space_hash);
    fprintf(f, "verified     sha256 of artifacts: %s; ONNX signatures: %s\n", yes_no[s->artifacts_verified != 0],
            yes_no[s->onnx_checked != 0]);
    fprintf(f, "model dir    %s\n", s->model_dir);
    fprintf(f, "artifacts\n");
    for (int32_t i = 0; i < s->n_artifacts; i++)
        fprintf(f, "  %-20s %s  %s\n", s->artifacts[i].role, s->artifacts[i].sha256, s->artifacts[i].path);
    fprintf(f, "onnx         opset %d, IR version %d\n", (int)s->onnx_opset, (int)s->onnx_ir_version);
    for (int t = 0; t < 2; t++)
        print_tower(f, &s->towers[t], cdx_contract_tower_keys[t]);
    fprintf(f, "image        %dx%d (HxW), resize %s", (int)s->image.height, (int)s->image.width,
            cdx_contract_resize_names[s->image.resize]);
    if (s->image.resize_to)
        fprintf(f, " to %d", (int)s->image.resize_to);
    fprintf(f, ", %s, crop %s\n", cdx_contract_interp_names[s->image.interpolation],
            cdx_contract_crop_names[s->image.crop]);
    fprintf(f, "             x = (pixel * %.9g - mean) / std, mean [%.8g, %.8g, %.8g], std [%.8g, %.8g, %.8g]\n",
            s->image.rescale, s->image.mean[0], s->image.mean[1], s->image.mean[2], s->image.std[0], s->image.std[1],
            s->image.std[2]);
    fprintf(f, "             rgb, alpha onto [%d, %d, %d]\n", s->image.background[0], s->image.background[1],
            s->image.background[2]);
    fprintf(f, "text         %s, context %d%s, padding %s, pooling %s\n",
            cdx_contract_tokenizer_names[s->text.tokenizer], (int)s->text.context_length,
            s->text.lowercase ? ", lowercase" : "", cdx_contract_padding_names[s->text.padding],
            cdx_contract_pooling_names[s->text.pooling]);
    fprintf(f, "             ids: bos ");
    if (s->text.bos_id >= 0)
        fprintf(f, "%lld", (long long)s->text.bos_id);
    else
        fprintf(f, "none");
    fprintf(f, ", eos %lld, pad %lld, unk %lld\n", (long long)s->text.eos_id, (long long)s->text.pad_id,
            (long long)s->text.unk_id);
    fprintf(f, "embedding    %d, l2-normalized\n", (int)s->dim);
    fprintf(f, "scoring      logit scale %g, logit bias ", s->scoring.logit_scale);
    if (s->scoring.has_logit_bias)
        fprintf(f, "%g\n", s->scoring.logit_bias);
    else
        fprintf(f, "none\n");
    fprintf(f, "buckets      batch ");
    print_ints(f, s->batch_buckets, s->n_batch_buckets);
    fprintf(f, ", sequence ");
    print_ints(f, s->seq_buckets, s->n_seq_buckets);
    fprintf(f, "\ngolden       %s (min cosine: image %g, text %g)\n", s->golden_pack, s->golden_image_min_cosine,
            s->golden_text_min_cosine);
    fprintf(f, "thresholds   max fallback %g, min speed-up %g, max cold/warm %g, max drift %g\n",
            s->thresholds.max_fallback, s->thresholds.min_speedup, s->thresholds.max_cold_warm_ratio,
            s->thresholds.max_drift);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

char *cdx_contract_describe(const cdx_contract *c, int as_json)
{
    if (!c)
        return NULL;
    const cdx_contract_spec *s = cdx_contract_get(c);
    if (!as_json)
        return describe_text(s);
    json_t *root = describe_json(s);
    /* 15 digits print the contract's decimals as written. */
    char *out = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(root);
    return out;
}
