/* Contract schema: the fixture contracts read back field by field; every kind
 * of schema error (missing, unknown, ill-typed, out of range, bad enum,
 * buckets, roles per family, rules across fields) gives its code and a
 * message naming the field's JSON path, what was expected and what was found;
 * the space hash matches an independent implementation and covers exactly the
 * vector-space fields; the default contract is found where documented. */
#include "contract_fixture.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The space hash make_contract_fixtures.py computed for a fixture. */
static void expected_space_hash(const char *name, char out[65])
{
    char *path = cdx_test_fixture("space_hashes.txt");
    char *text = (char *)cdx_test_read_file(path, NULL);
    assert_non_null(text);
    char *line = strstr(text, name);
    assert_non_null(line);
    assert_int_equal(sscanf(line + strlen(name), " %64s", out), 1);
    free(text);
    free(path);
}

static void assert_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    if (n < m || strcmp(s + n - m, suffix) != 0)
        fail_msg("\"%s\" does not end with \"%s\"", s, suffix);
}

static void assert_tensor(const cdx_tensor_spec *t, const char *name, enum cdx_dtype dtype, int32_t rank,
                          const int64_t *dims, const char *const *dim_names)
{
    assert_string_equal(t->name, name);
    assert_int_equal(t->dtype, dtype);
    assert_int_equal(t->rank, rank);
    for (int32_t i = 0; i < rank; i++) {
        assert_int_equal(t->dims[i], dims[i]);
        assert_string_equal(t->dim_names[i], dim_names[i] ? dim_names[i] : "");
    }
}

/* fixture-clip, opened from disk with every check on: every field of the spec. */
static void clip_fixture_reads_back(void **state)
{
    (void)state;
    char *file = cdx_test_fixture("contracts/fixture-clip.json");
    cdx_contract *c = NULL;
    cdx_errbuf eb = {0};
    cdx_contract_params p = cdx_contract_default_params();
    assert_int_equal(p.verify_artifacts, 1);
    assert_int_equal(p.check_onnx, 1);
    int rc = cdx_contract_open(file, &p, &c, &eb);
    if (rc != CDX_OK)
        fail_msg("%s", cdx_errbuf_msg(&eb));
    const cdx_contract_spec *s = cdx_contract_get(c);

    assert_string_equal(s->file, file);
    assert_string_equal(s->id, "fixture-clip");
    assert_string_equal(s->version, "1");
    assert_int_equal(s->family, CDX_FAMILY_CLIP);
    assert_int_equal(s->variant, CDX_VARIANT_FP32);
    assert_ends_with(s->model_dir, "tests/fixtures/contracts/../models/fixture-clip");
    assert_int_equal(s->artifacts_verified, 1);
    assert_int_equal(s->onnx_checked, 1);

    static const char *const roles[] = {"vision_model", "text_model", "tokenizer", "vocab",
                                        "merges", "config", "preprocessor_config"};
    static const char *const paths[] = {"onnx/vision_model.onnx", "onnx/text_model.onnx", "tokenizer.json",
                                        "vocab.json", "merges.txt", "config.json", "preprocessor_config.json"};
    assert_int_equal(s->n_artifacts, 7);
    for (int i = 0; i < 7; i++) {
        assert_string_equal(s->artifacts[i].role, roles[i]);
        char *want = cdx_test_fmt("%s/%s", s->model_dir, paths[i]);
        assert_string_equal(s->artifacts[i].path, want);
        assert_string_equal(cdx_contract_artifact_path(c, roles[i]), want);
        char hex[65];
        assert_int_equal(cdx_sha256_file_hex(want, hex, &eb), CDX_OK);
        assert_string_equal(s->artifacts[i].sha256, hex);
        free(want);
    }
    assert_null(cdx_contract_artifact_path(c, "spiece"));
    assert_null(cdx_contract_artifact_path(c, NULL));

    assert_int_equal(s->onnx_opset, 17);
    assert_int_equal(s->onnx_ir_version, 8);
    const cdx_tower_spec *v = &s->towers[CDX_TOWER_VISION], *t = &s->towers[CDX_TOWER_TEXT];
    assert_int_equal(v->n_inputs, 1);
    assert_int_equal(v->n_outputs, 1);
    assert_tensor(&v->inputs[0], "pixel_values", CDX_DTYPE_FLOAT32, 4, (const int64_t[]){-1, 3, 16, 16},
                  (const char *const[]){"batch", NULL, NULL, NULL});
    assert_tensor(&v->outputs[0], "image_embeds", CDX_DTYPE_FLOAT32, 2, (const int64_t[]){-1, 8},
                  (const char *const[]){"batch", NULL});
    assert_int_equal(t->n_inputs, 2);
    assert_int_equal(t->n_outputs, 1);
    assert_tensor(&t->inputs[0], "input_ids", CDX_DTYPE_INT64, 2, (const int64_t[]){-1, -1},
                  (const char *const[]){"batch", "sequence"});
    assert_tensor(&t->inputs[1], "attention_mask", CDX_DTYPE_INT64, 2, (const int64_t[]){-1, -1},
                  (const char *const[]){"batch", "sequence"});
    assert_tensor(&t->outputs[0], "text_embeds", CDX_DTYPE_FLOAT32, 2, (const int64_t[]){-1, 8},
                  (const char *const[]){"batch", NULL});

    assert_int_equal(s->image.height, 16);
    assert_int_equal(s->image.width, 16);
    assert_int_equal(s->image.resize, CDX_RESIZE_SHORTEST_EDGE);
    assert_int_equal(s->image.resize_to, 16);
    assert_int_equal(s->image.interpolation, CDX_INTERP_BICUBIC);
    assert_int_equal(s->image.crop, CDX_CROP_CENTER);
    assert_true(s->image.rescale == 0.00392156862745098);
    const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    for (int i = 0; i < 3; i++) {
        assert_true(s->image.mean[i] == mean[i]);
        assert_true(s->image.std[i] == std[i]);
        assert_int_equal(s->image.background[i], 255);
    }

    assert_int_equal(s->text.tokenizer, CDX_TOKENIZER_CLIP_BPE);
    assert_int_equal(s->text.context_length, 8);
    assert_int_equal(s->text.lowercase, 1);
    assert_int_equal(s->text.bos_id, 1);
    assert_int_equal(s->text.eos_id, 2);
    assert_int_equal(s->text.pad_id, 2);
    assert_int_equal(s->text.unk_id, 2);
    assert_int_equal(s->text.padding, CDX_PADDING_BUCKET);
    assert_int_equal(s->text.pooling, CDX_POOLING_EOS_ARGMAX);
    assert_int_equal(s->dim, 8);
    assert_true(s->scoring.logit_scale == 100.0);
    assert_int_equal(s->scoring.has_logit_bias, 0);
    assert_true(s->scoring.logit_bias == 0.0);

    assert_int_equal(s->n_batch_buckets, 3);
    assert_int_equal(s->batch_buckets[0], 1);
    assert_int_equal(s->batch_buckets[1], 2);
    assert_int_equal(s->batch_buckets[2], 4);
    assert_int_equal(s->n_seq_buckets, 2);
    assert_int_equal(s->seq_buckets[0], 4);
    assert_int_equal(s->seq_buckets[1], 8);

    assert_ends_with(s->golden_pack, "tests/fixtures/contracts/../golden/fixture-clip");
    assert_true(s->golden_image_min_cosine == 0.9995);
    assert_true(s->golden_text_min_cosine == 0.9995);
    assert_true(s->thresholds.max_fallback == 0.0);
    assert_true(s->thresholds.min_speedup == 0.18);
    assert_true(s->thresholds.max_cold_warm_ratio == 6.5);
    assert_true(s->thresholds.max_drift == 0.2);

    char want[65];
    expected_space_hash("fixture-clip", want);
    assert_string_equal(s->space_hash, want);
    assert_string_equal(cdx_family_name(s->family), "clip");
    assert_string_equal(cdx_dtype_name(CDX_DTYPE_FLOAT16), "float16");
    cdx_contract_close(c);
    cdx_contract_close(NULL);
    free(file);
}

/* fixture-siglip: the null-able fields, fixed sequence dims, one sequence bucket. */
static void siglip_fixture_reads_back(void **state)
{
    (void)state;
    char *file = cdx_test_fixture("contracts/fixture-siglip.json");
    cdx_contract *c = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_contract_open(file, NULL, &c, &eb);
    if (rc != CDX_OK)
        fail_msg("%s", cdx_errbuf_msg(&eb));
    const cdx_contract_spec *s = cdx_contract_get(c);
    assert_int_equal(s->family, CDX_FAMILY_SIGLIP);
    assert_int_equal(s->n_artifacts, 6);
    assert_non_null(cdx_contract_artifact_path(c, "spiece"));
    assert_null(cdx_contract_artifact_path(c, "vocab"));
    assert_int_equal(s->image.resize, CDX_RESIZE_EXACT);
    assert_int_equal(s->image.resize_to, 0);
    assert_int_equal(s->image.interpolation, CDX_INTERP_BILINEAR);
    assert_int_equal(s->image.crop, CDX_CROP_NONE);
    assert_int_equal(s->image.background[0], 0);
    assert_int_equal(s->text.tokenizer, CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM);
    assert_int_equal(s->text.lowercase, 0);
    assert_int_equal(s->text.bos_id, -1);
    assert_int_equal(s->text.unk_id, 3);
    assert_int_equal(s->text.padding, CDX_PADDING_MAX_LENGTH);
    assert_int_equal(s->text.pooling, CDX_POOLING_LAST);
    assert_int_equal(s->scoring.has_logit_bias, 1);
    assert_true(s->scoring.logit_bias == -10.0);
    assert_true(s->scoring.logit_scale == 10.0);
    assert_int_equal(s->n_seq_buckets, 1);
    assert_int_equal(s->seq_buckets[0], 8);
    assert_int_equal(s->towers[CDX_TOWER_TEXT].n_inputs, 1);
    assert_tensor(&s->towers[CDX_TOWER_TEXT].inputs[0], "input_ids", CDX_DTYPE_INT64, 2, (const int64_t[]){-1, 8},
                  (const char *const[]){"batch", NULL});
    char want[65];
    expected_space_hash("fixture-siglip", want);
    assert_string_equal(s->space_hash, want);
    cdx_contract_close(c);
    free(file);
}

/* Parsed from memory: no file, nothing verified, paths against base_dir. */
static void parse_from_memory(void **state)
{
    (void)state;
    cdx_contract *c = NULL;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_test_parse_edited("fixture-clip", NULL, 0, &c, &eb), CDX_OK);
    const cdx_contract_spec *s = cdx_contract_get(c);
    assert_string_equal(s->file, "");
    assert_int_equal(s->artifacts_verified, 0);
    assert_int_equal(s->onnx_checked, 0);
    assert_ends_with(s->artifacts[0].path, "tests/fixtures/contracts/../models/fixture-clip/onnx/vision_model.onnx");
    cdx_contract_close(c);

    /* Absolute paths stay as written; no base dir leaves relative ones alone. */
    cdx_test_edit e[] = {{"model_dir", "\"/opt/m\""}, {"golden.pack", "\"g/p\""}};
    char *text = cdx_test_contract_text("fixture-clip", e, 2);
    assert_int_equal(cdx_contract_parse(text, strlen(text), NULL, &c, &eb), CDX_OK);
    assert_string_equal(cdx_contract_get(c)->artifacts[1].path, "/opt/m/onnx/text_model.onnx");
    assert_string_equal(cdx_contract_get(c)->golden_pack, "g/p");
    cdx_contract_close(c);
    free(text);
}

typedef struct schema_case {
    const char *fixture;
    const char *path;
    const char *value;  /* JSON text; NULL deletes */
    int code;
    const char *expect; /* in the message, after "contract: " */
} schema_case;

#define CLIP "fixture-clip"
#define SIGLIP "fixture-siglip"
#define BAD CDX_ERR_CONTRACT

static const schema_case schema_cases[] = {
    /* missing and unknown fields */
    {CLIP, "image.std", NULL, BAD, "image.std: missing field"},
    {CLIP, "thresholds", NULL, BAD, "thresholds: missing field"},
    {CLIP, "text.bos_id", NULL, BAD, "text.bos_id: missing field (every field is required; use null"},
    {CLIP, "colour_space", "\"srgb\"", BAD, "contract: unknown field \"colour_space\" (fields here: schema, id,"},
    {CLIP, "onnx.vision.inputs[0].layout", "\"NCHW\"", BAD,
     "onnx.vision.inputs[0]: unknown field \"layout\" (fields here: name, dtype, shape)"},
    {CLIP, "artifacts[2].size", "12", BAD, "artifacts[2]: unknown field \"size\""},
    /* types */
    {CLIP, "text.context_length", "\"8\"", BAD, "text.context_length: expected an integer, got \"8\""},
    {CLIP, "embedding.dim", "8.0", BAD, "embedding.dim: expected an integer, got 8.0"},
    {CLIP, "text.lowercase", "1", BAD, "text.lowercase: expected true or false, got 1"},
    {CLIP, "image.mean[2]", "\"x\"", BAD, "image.mean[2]: expected a number, got \"x\""},
    {CLIP, "image.mean", "[0.5, 0.5]", BAD, "image.mean: expected 3 entries, got 2"},
    {CLIP, "image", "[]", BAD, "image: expected an object, got an array"},
    {CLIP, "artifacts", "{}", BAD, "artifacts: expected an array, got an object"},
    {CLIP, "artifacts[1]", "\"text_model\"", BAD, "artifacts[1]: expected an object, got \"text_model\""},
    {CLIP, "text.eos_id", "null", BAD, "text.eos_id: expected an integer, got null"},
    {CLIP, "text.bos_id", "\"49406\"", BAD, "text.bos_id: expected an integer or null, got \"49406\""},
    {CLIP, "version", "\"0123456789012345678901234567890123456789\"", BAD,
     "version: expected at most 31 bytes, got 40"},
    {CLIP, "artifacts[0].path", "\"\"", BAD, "artifacts[0].path: expected a non-empty string, got \"\""},
    /* ranges */
    {CLIP, "image.std[1]", "0", BAD, "image.std[1]: expected a number > 0 and <= 1000, got 0"},
    {CLIP, "image.background[0]", "256", BAD, "image.background[0]: expected a number from 0 to 255, got 256"},
    {CLIP, "image.size[0]", "0", BAD, "image.size[0]: expected a number from 1 to 16384, got 0"},
    {CLIP, "text.context_length", "0", BAD, "text.context_length: expected an integer from 1 to 65536, got 0"},
    {CLIP, "golden.image_min_cosine", "1.5", BAD, "golden.image_min_cosine: expected a number > 0 and <= 1, got 1.5"},
    {CLIP, "thresholds.max_fallback", "-0.1", BAD, "thresholds.max_fallback: expected a number from 0 to 1, got -0.1"},
    {CLIP, "onnx.opset", "0", BAD, "onnx.opset: expected an integer from 1 to 1000, got 0"},
    /* enums and fixed strings */
    {CLIP, "family", "\"clap\"", BAD, "family: expected \"clip\" or \"siglip\", got \"clap\""},
    {CLIP, "variant", "\"int4\"", BAD, "variant: expected \"fp32\" or \"int8\", got \"int4\""},
    {CLIP, "image.crop", "\"centre\"", BAD, "image.crop: expected \"center\" or \"none\", got \"centre\""},
    {CLIP, "image.interpolation", "\"lanczos\"", BAD,
     "image.interpolation: expected \"bicubic\", \"bilinear\" or \"nearest\", got \"lanczos\""},
    {CLIP, "onnx.text.inputs[0].dtype", "\"int8\"", BAD,
     "onnx.text.inputs[0].dtype: expected \"float32\", \"int64\", \"int32\" or \"float16\", got \"int8\""},
    {CLIP, "schema", "\"clipdex.contract/2\"", BAD,
     "schema: expected \"clipdex.contract/1\", got \"clipdex.contract/2\""},
    {CLIP, "embedding.normalize", "\"none\"", BAD, "embedding.normalize: expected \"l2\", got \"none\""},
    {CLIP, "image.colour", "\"bgr\"", BAD, "image.colour: expected \"rgb\", got \"bgr\""},
    {CLIP, "text.padding", "\"longest\"", BAD, "text.padding: expected \"max_length\" or \"bucket\", got \"longest\""},
    /* ids, hex */
    {CLIP, "id", "\"Tiny CLIP\"", BAD, "id: expected an id matching [a-z0-9][a-z0-9._-]*, got \"Tiny CLIP\""},
    {CLIP, "id", "\"-clip\"", BAD, "id: expected an id matching"},
    {CLIP, "artifacts[0].sha256", "\"abc\"", BAD, "artifacts[0].sha256: expected 64 lowercase hex digits, got \"abc\""},
    {CLIP, "artifacts[6].sha256", "\"F2F4CF7624D762744E7A6A1384431D04A559CC0314A26257ACFBB7316A5B765D\"", BAD,
     "artifacts[6].sha256: expected 64 lowercase hex digits, got \"F2F4CF7624D7"},
    /* buckets */
    {CLIP, "buckets.batch", "[1, 8, 4]", BAD,
     "buckets.batch[2]: buckets must be strictly ascending: expected more than 8, got 4"},
    {CLIP, "buckets.batch", "[1, 1]", BAD, "buckets.batch[1]: buckets must be strictly ascending"},
    {CLIP, "buckets.batch", "[]", BAD, "buckets.batch: expected 1 to 16 entries, got 0"},
    {CLIP, "buckets.batch[0]", "0", BAD, "buckets.batch[0]: expected a number from 1 to 65536, got 0"},
    {CLIP, "buckets.sequence", "[4, 6]", BAD,
     "buckets.sequence[1]: the last sequence bucket must be text.context_length: expected 8, got 6"},
    {SIGLIP, "buckets.sequence", "[4, 8]", BAD,
     "buckets.sequence: \"max_length\" padding always pads to text.context_length: expected [8], got 2 buckets"},
    /* padding and pooling */
    {SIGLIP, "text.padding", "\"bucket\"", BAD,
     "text.padding: \"bucket\" padding is only exact with \"eos_argmax\" pooling"},
    {CLIP, "text.pooling", "\"last\"", BAD, "text.pooling: family clip pools with \"eos_argmax\", got \"last\""},
    {CLIP, "text.tokenizer", "\"sentencepiece_unigram\"", BAD,
     "text.tokenizer: family clip uses \"clip_bpe\", got \"sentencepiece_unigram\""},
    /* roles */
    {CLIP, "artifacts[4].role", "\"vocab\"", BAD,
     "artifacts[4].role: role \"vocab\" is already given by artifacts[3]; each role appears once"},
    {CLIP, "artifacts[3].role", "\"spiece\"", BAD, "artifacts[3].role: family clip does not use a \"spiece\" artifact"},
    {SIGLIP, "artifacts[3].role", "\"merges\"", BAD,
     "artifacts[3].role: family siglip does not use a \"merges\" artifact (its roles: vision_model, text_model, "
     "tokenizer, config, preprocessor_config, spiece)"},
    {CLIP, "artifacts[4]", NULL, BAD, "artifacts: no \"merges\" artifact: family clip needs the roles"},
    {SIGLIP, "artifacts[0]", NULL, BAD, "artifacts: no \"vision_model\" artifact"},
    {CLIP, "artifacts[0].role", "\"weights\"", BAD, "artifacts[0].role: expected \"vision_model\", \"text_model\""},
    /* scoring per family */
    {CLIP, "scoring.logit_bias", "1.5", BAD, "scoring.logit_bias: family clip has no logit bias: expected null, got 1.5"},
    {SIGLIP, "scoring.logit_bias", "null", BAD,
     "scoring.logit_bias: family siglip scores with a logit bias: expected a number, got null"},
    {CLIP, "scoring.logit_scale", "0", BAD, "scoring.logit_scale: expected a number > 0"},
    /* resize */
    {CLIP, "image.resize", "\"exact\"", BAD,
     "image.resize_to: \"exact\" resize goes straight to image.size: expected null, got 16"},
    {CLIP, "image.resize_to", "null", BAD, "image.resize_to: \"shortest_edge\" resize needs a target"},
    {CLIP, "image.resize_to", "8", BAD, "image.resize_to: the crop needs the shortest edge at least 16 (image.size): "
                                        "expected >= 16, got 8"},
    {CLIP, "image.crop", "\"none\"", BAD, "image.crop: \"shortest_edge\" resize keeps the aspect"},
    /* signatures */
    {CLIP, "onnx.vision.inputs[0].shape[0]", "\"batch_size\"", BAD,
     "onnx.vision.inputs[0].shape[0]: expected an integer (fixed dim) or \"batch\" or \"sequence\" (symbolic dim), "
     "got \"batch_size\""},
    {CLIP, "onnx.vision.inputs[0].shape[1]", "0", BAD, "onnx.vision.inputs[0].shape[1]: expected a dim >= 1, got 0"},
    {CLIP, "onnx.vision.inputs[0].shape", "[]", BAD, "onnx.vision.inputs[0].shape: expected 1 to 8 dims, got 0"},
    {CLIP, "onnx.vision.inputs", "[]", BAD, "onnx.vision.inputs: expected 1 to 4 tensors, got 0"},
    {CLIP, "onnx.vision.inputs[0].shape[2]", "224", BAD,
     "onnx.vision.inputs[0].shape[2]: NCHW input of a 16x16 RGB image (image.size): expected 16, got 224"},
    {CLIP, "onnx.vision.inputs[0].shape[1]", "4", BAD, "onnx.vision.inputs[0].shape[1]: NCHW input"},
    {CLIP, "embedding.dim", "16", BAD, "onnx.vision.outputs: no output of shape [\"batch\", 16] (embedding.dim)"},
    {CLIP, "onnx.text.inputs[1].name", "\"input_ids\"", BAD,
     "onnx.text.inputs[1].name: \"input_ids\" is already the name of inputs[0]"},
    {CLIP, "onnx.text.inputs[0].shape[1]", "8", BAD,
     "onnx.text.inputs[0].shape[1]: \"bucket\" padding feeds several lengths: expected \"sequence\", got 8"},
    {SIGLIP, "onnx.text.inputs[0].shape[1]", "16", BAD,
     "onnx.text.inputs[0].shape[1]: a fixed sequence dim is text.context_length: expected 8, got 16"},
    {CLIP, "onnx.vision.inputs[0].name", "\"0123456789012345678901234567890123456789012345678901234567890123\"", BAD,
     "onnx.vision.inputs[0].name: expected at most 63 bytes, got 64"},
};

static void schema_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < CDX_ARRAY_LEN(schema_cases); i++) {
        const schema_case *k = &schema_cases[i];
        cdx_test_edit e = {k->path, k->value};
        cdx_contract *c = (cdx_contract *)1;
        cdx_errbuf eb = {0};
        int rc = cdx_test_parse_edited(k->fixture, &e, 1, &c, &eb);
        const char *msg = cdx_errbuf_msg(&eb);
        if (rc != k->code || !strstr(msg, k->expect) || strncmp(msg, "contract: ", 10) != 0)
            fail_msg("case %zu (%s = %s): rc %s, message \"%s\"; expected %s with \"%s\"", i, k->path,
                     k->value ? k->value : "(deleted)", cdx_errname(rc), msg, cdx_errname(k->code), k->expect);
        assert_null(c);
    }
}

/* Whole-document failures, and the file named in messages when opened from disk. */
static void document_errors(void **state)
{
    (void)state;
    cdx_contract *c = NULL;
    cdx_errbuf eb = {0};
    char *dir = cdx_test_mkdtemp("contract-doc");

    char *missing = cdx_test_fmt("%s/nope.json", dir);
    assert_int_equal(cdx_contract_open(missing, NULL, &c, &eb), CDX_ERR_NOTFOUND);
    assert_null(c);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), missing));

    char *path = cdx_test_fmt("%s/x.json", dir);
    const char *notjson = "{\"schema\": \"clipdex.contract/1\",\n  \"id\": tiny }";
    assert_int_equal(cdx_test_write_file(path, notjson, strlen(notjson)), 0);
    assert_int_equal(cdx_contract_open(path, NULL, &c, &eb), CDX_ERR_PARSE);
    char *want = cdx_test_fmt("%s: not valid JSON: ", path);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), want));
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "(line 2, column"));
    free(want);

    assert_int_equal(cdx_test_write_file(path, "", 0), 0);
    assert_int_equal(cdx_contract_open(path, NULL, &c, &eb), CDX_ERR_PARSE);
    assert_int_equal(cdx_test_write_file(path, "[1, 2]", 6), 0);
    assert_int_equal(cdx_contract_open(path, NULL, &c, &eb), CDX_ERR_CONTRACT);
    want = cdx_test_fmt("%s: expected a JSON object at the top level, got an array", path);
    assert_string_equal(cdx_errbuf_msg(&eb), want);
    free(want);

    /* A directory is not a contract. */
    assert_int_equal(cdx_contract_open(dir, NULL, &c, &eb), CDX_ERR_IO);

    /* Duplicate keys are rejected, not silently resolved. */
    char *text = cdx_test_contract_text("fixture-clip", NULL, 0);
    char *dup = cdx_test_fmt("{\"id\": \"other\",%s", text + 1);
    assert_int_equal(cdx_contract_parse(dup, strlen(dup), NULL, &c, &eb), CDX_ERR_PARSE);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "duplicate"));
    free(dup);
    free(text);

    /* Schema errors name the file when it was opened from disk. */
    cdx_test_edit e = {"image.mean[2]", "\"x\""};
    char *file = NULL;
    assert_int_equal(cdx_test_open_edited(dir, "fixture-clip", &e, 1, NULL, &c, &eb, &file, NULL), CDX_ERR_CONTRACT);
    want = cdx_test_fmt("%s: image.mean[2]: expected a number, got \"x\"", file);
    assert_string_equal(cdx_errbuf_msg(&eb), want);
    free(want);
    free(file);

    /* Far too large to be a contract. */
    char *big = calloc(1, (2u << 20) + 1);
    memset(big, ' ', 2u << 20);
    assert_int_equal(cdx_test_write_file(path, big, 2u << 20), 0);
    assert_int_equal(cdx_contract_open(path, NULL, &c, &eb), CDX_ERR_TOOBIG);
    free(big);

    cdx_test_rmtree(dir);
    free(path);
    free(missing);
    free(dir);
}

static void hash_of(const cdx_test_edit *e, size_t n, char out[65])
{
    cdx_contract *c = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_test_parse_edited("fixture-clip", e, n, &c, &eb);
    if (rc != CDX_OK)
        fail_msg("%s", cdx_errbuf_msg(&eb));
    memcpy(out, cdx_contract_get(c)->space_hash, 65);
    cdx_contract_close(c);
}

/* The space hash covers family, variant, artifacts, onnx, image, text and
 * embedding, and nothing else; key order and whitespace do not matter. */
static void space_hash_scope(void **state)
{
    (void)state;
    char base[65], h[65];
    hash_of(NULL, 0, base);
    static const cdx_test_edit same[] = {
        {"id", "\"renamed\""}, {"version", "\"2\""}, {"model_dir", "\"/elsewhere\""}, {"buckets.batch", "[1, 64]"},
        {"golden.pack", "\"/g\""}, {"golden.text_min_cosine", "0.99"}, {"thresholds.max_drift", "0.5"},
        {"scoring.logit_scale", "50.0"},
    };
    for (size_t i = 0; i < CDX_ARRAY_LEN(same); i++) {
        hash_of(&same[i], 1, h);
        if (strcmp(h, base) != 0)
            fail_msg("editing %s changed the space hash", same[i].path);
    }
    static const cdx_test_edit differ[] = {
        {"image.mean[0]", "0.5"},
        {"artifacts[0].sha256", "\"0000000000000000000000000000000000000000000000000000000000000000\""},
        {"artifacts[2].path", "\"tok.json\""}, {"variant", "\"int8\""}, {"onnx.opset", "18"},
        {"text.lowercase", "false"}, {"image.interpolation", "\"bilinear\""}, {"text.eos_id", "3"},
    };
    for (size_t i = 0; i < CDX_ARRAY_LEN(differ); i++) {
        hash_of(&differ[i], 1, h);
        if (strcmp(h, base) == 0)
            fail_msg("editing %s left the space hash unchanged", differ[i].path);
    }
    /* Reordered keys and other whitespace: the same canonical form. */
    char *text = cdx_test_contract_text("fixture-clip", NULL, 0);
    json_t *root = json_loads(text, 0, NULL);
    char *sorted = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
    cdx_contract *c = NULL;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_contract_parse(sorted, strlen(sorted), "", &c, &eb), CDX_OK);
    assert_string_equal(cdx_contract_get(c)->space_hash, base);
    cdx_contract_close(c);
    free(sorted);
    json_decref(root);
    free(text);
}

static void default_path(void **state)
{
    (void)state;
    char buf[PATH_MAX];
    cdx_errbuf eb = {0};
    char *saved = getenv("CDX_HOME") ? strdup(getenv("CDX_HOME")) : NULL;
    char *home = cdx_test_mkdtemp("contract-home");

    setenv("CDX_HOME", home, 1);
    assert_int_equal(cdx_contract_default_path(buf, sizeof buf, &eb), CDX_ERR_NOTFOUND);
    char *want = cdx_test_fmt("%s/contracts/tiny-clip.json does not exist (CDX_HOME is set)", home);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), want));
    free(want);

    char *cdir = cdx_test_fmt("%s/contracts", home);
    assert_int_equal(mkdir(cdir, 0755), 0);
    char *file = cdx_test_fmt("%s/tiny-clip.json", cdir);
    assert_int_equal(cdx_test_write_file(file, "{}", 2), 0);
    assert_int_equal(cdx_contract_default_path(buf, sizeof buf, &eb), CDX_OK);
    char real[PATH_MAX];
    assert_non_null(realpath(file, real));
    assert_string_equal(buf, real);
    char small[8];
    assert_int_equal(cdx_contract_default_path(small, sizeof small, &eb), CDX_ERR_INVAL);

    /* Without CDX_HOME: beside the running binary (build tree, then installed). */
    unsetenv("CDX_HOME");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    int rc = cdx_contract_default_path(buf, sizeof buf, &eb);
    if (rc == CDX_OK) {
        assert_non_null(strstr(buf, "contracts/tiny-clip.json"));
    } else {
        assert_int_equal(rc, CDX_ERR_NOTFOUND);
        want = cdx_test_fmt("tried %s/../contracts/tiny-clip.json and %s/../share/clipdex/contracts/tiny-clip.json",
                            exe, exe);
        assert_non_null(strstr(cdx_errbuf_msg(&eb), want));
        free(want);
    }
    if (saved)
        setenv("CDX_HOME", saved, 1);
    free(saved);
    cdx_test_rmtree(home);
    free(file);
    free(cdir);
    free(home);
}

/* show: text and JSON carry the fields; the JSON reads back as the spec. */
static void describe(void **state)
{
    (void)state;
    char *file = cdx_test_fixture("contracts/fixture-siglip.json");
    cdx_contract *c = NULL;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_contract_open(file, NULL, &c, &eb), CDX_OK);
    const cdx_contract_spec *s = cdx_contract_get(c);
    char *text = cdx_contract_describe(c, 0);
    assert_non_null(text);
    assert_non_null(strstr(text, "fixture-siglip version 1 (siglip, fp32)"));
    assert_non_null(strstr(text, s->space_hash));
    assert_non_null(strstr(text, "input_ids int64 [\"batch\", 8]"));
    assert_non_null(strstr(text, "logit bias -10"));
    assert_non_null(strstr(text, "sequence [8]"));
    free(text);

    char *js = cdx_contract_describe(c, 1);
    json_error_t je;
    json_t *j = json_loads(js, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "fixture-siglip");
    assert_string_equal(json_string_value(json_object_get(j, "space_hash")), s->space_hash);
    assert_true(json_is_true(json_object_get(json_object_get(j, "verified"), "artifacts")));
    assert_true(json_is_null(json_object_get(json_object_get(j, "text"), "bos_id")));
    assert_true(json_is_null(json_object_get(json_object_get(j, "image"), "resize_to")));
    assert_true(json_real_value(json_object_get(json_object_get(j, "scoring"), "logit_bias")) == -10.0);
    json_t *shape = json_object_get(json_array_get(json_object_get(json_object_get(json_object_get(j, "onnx"), "text"),
                                                                   "inputs"), 0), "shape");
    assert_string_equal(json_string_value(json_array_get(shape, 0)), "batch");
    assert_int_equal(json_integer_value(json_array_get(shape, 1)), 8);
    assert_true(json_real_value(json_array_get(json_object_get(json_object_get(j, "image"), "mean"), 0)) == 0.5);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "artifacts"), 3), "role")),
                        "spiece");
    json_decref(j);
    free(js);
    assert_null(cdx_contract_describe(NULL, 1));
    cdx_contract_close(c);
    free(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clip_fixture_reads_back), cmocka_unit_test(siglip_fixture_reads_back),
        cmocka_unit_test(parse_from_memory),       cmocka_unit_test(schema_errors),
        cmocka_unit_test(document_errors),         cmocka_unit_test(space_hash_scope),
        cmocka_unit_test(default_path),            cmocka_unit_test(describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
