/* Tokenizer goldens: every text of each model's golden pack
 * (golden/<model>/index.json, input_ids.i64, attention_mask.i64; see
 * golden/README.md) encodes to exactly the reference ids and mask, padded to
 * the pack's context length. A pack that has not been made yet is reported as
 * skipped. CDX_MODELS_DIR and CDX_GOLDEN_DIR move the folders (defaults:
 * models/ and golden/ in the source tree). */
#include "testutil.h"

#include "encoder/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *under(const char *env, const char *deflt, const char *name)
{
    const char *e = getenv(env);
    return e && *e ? cdx_test_fmt("%s/%s", e, name) : cdx_test_fmt("%s/%s/%s", CDX_SOURCE_DIR, deflt, name);
}

/* Reads an int64 tensor [rows, cols] named in index.json's "tensors". */
static int64_t *read_tensor(const char *pack, json_t *index, const char *name, size_t rows, size_t cols)
{
    json_t *t = json_object_get(json_object_get(index, "tensors"), name);
    json_t *shape = json_object_get(t, "shape");
    assert_string_equal(json_string_value(json_object_get(t, "dtype")), "int64");
    assert_int_equal(json_integer_value(json_array_get(shape, 0)), rows);
    assert_int_equal(json_integer_value(json_array_get(shape, 1)), cols);
    char *path = cdx_test_fmt("%s/%s", pack, json_string_value(json_object_get(t, "file")));
    size_t n = 0;
    unsigned char *d = cdx_test_read_file(path, &n);
    if (!d || n != rows * cols * sizeof(int64_t))
        fail_msg("%s: %zu bytes, expected %zu", path, n, rows * cols * sizeof(int64_t));
    free(path);
    return (int64_t *)d; /* little-endian on every platform clipdex builds for */
}

static void check_pack(const char *model)
{
    char *pack = under("CDX_GOLDEN_DIR", "golden", model);
    char *dir = under("CDX_MODELS_DIR", "models", model);
    char *index_path = cdx_test_fmt("%s/index.json", pack);
    json_error_t je;
    json_t *index = json_load_file(index_path, 0, &je);
    if (!index) {
        printf("golden pack %s not found (%s): skipped\n", index_path, je.text);
        free(index_path);
        free(pack);
        free(dir);
        skip();
    }
    json_t *texts = json_object_get(index, "texts");
    size_t n = json_array_size(texts);
    size_t L = (size_t)json_integer_value(json_object_get(index, "context_length"));
    assert_true(n > 0 && L >= 2);
    int64_t *want_ids = read_tensor(pack, index, "input_ids", n, L);
    int64_t *want_mask = read_tensor(pack, index, "attention_mask", n, L);

    cdx_tokenizer_params p = cdx_tokenizer_default_params();
    p.context_length = (int32_t)L;
    cdx_tokenizer *t = NULL;
    cdx_errbuf eb = {0};
    if (cdx_tokenizer_open_dir(dir, &p, &t, &eb) != CDX_OK)
        fail_msg("%s: %s", dir, eb.msg);
    int64_t *ids = calloc(L, sizeof *ids), *mask = calloc(L, sizeof *mask);
    int bad = 0;
    for (size_t j = 0; j < n; j++) {
        json_t *e = json_array_get(texts, j);
        const char *text = json_string_value(json_object_get(e, "text"));
        size_t len = json_string_length(json_object_get(e, "text"));
        cdx_token_result r;
        int rc = cdx_tokenizer_encode(t, text, len, CDX_TOKENIZER_PAD_RULE, ids, mask, (int32_t)L, &r, &eb);
        int same = rc == CDX_OK && r.length == (int32_t)L &&
                   memcmp(ids, want_ids + j * L, L * sizeof *ids) == 0 &&
                   memcmp(mask, want_mask + j * L, L * sizeof *mask) == 0;
        json_t *nt = json_object_get(e, "n_tokens");
        if (same && json_is_integer(nt) && json_integer_value(nt) != r.n_tokens)
            same = 0;
        if (!same) {
            bad++;
            printf("%s golden text %zu (%s) %s: ", model, j, json_string_value(json_object_get(e, "name")), text);
            if (rc != CDX_OK) {
                printf("error %s\n", eb.msg);
                continue;
            }
            printf("\n  clipdex  ");
            for (size_t i = 0; i < L && (i < (size_t)r.n_tokens || i < 2); i++)
                printf(" %lld", (long long)ids[i]);
            printf("\n  golden   ");
            for (size_t i = 0; i < L && want_mask[j * L + i]; i++)
                printf(" %lld", (long long)want_ids[j * L + i]);
            printf("\n");
        }
    }
    printf("%s: %zu golden texts, %d differ\n", model, n, bad);
    assert_int_equal(bad, 0);
    cdx_tokenizer_close(t);
    free(ids);
    free(mask);
    free(want_ids);
    free(want_mask);
    json_decref(index);
    free(index_path);
    free(pack);
    free(dir);
}

static void golden_tiny_clip(void **state)
{
    (void)state;
    check_pack("tiny-clip");
}

static void golden_tiny_siglip(void **state)
{
    (void)state;
    check_pack("tiny-siglip");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_tiny_clip),
        cmocka_unit_test(golden_tiny_siglip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
