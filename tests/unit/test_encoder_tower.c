/* Towers on the tiny fixture models (tests/fixtures/runtime): batch padding
 * and chunking give the same rows as one-at-a-time runs; text sequence
 * buckets give the same embeddings as full-length padding; cold runs are kept
 * apart from warm runs per bucket; the placement report comes from ORT; the
 * optimized-model cache misses then hits; concurrent runs on one tower agree;
 * provider errors are reported. */
#include "testutil.h"

#include "encoder/ort_env.h"
#include "encoder/tower.h"

#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DIM 16

static void tensor(cdx_tensor_spec *t, const char *name, enum cdx_dtype dt, int rank, const int64_t *dims)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dt;
    t->rank = rank;
    for (int i = 0; i < rank; i++) {
        t->dims[i] = dims[i];
        if (dims[i] < 0)
            snprintf(t->dim_names[i], sizeof t->dim_names[i], i == 0 ? "batch" : "sequence");
    }
}

/* The contract the fixture towers would have. */
static void make_spec(cdx_contract_spec *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "fixture-tiny");
    snprintf(s->file, sizeof s->file, "(test)");
    s->family = CDX_FAMILY_CLIP;
    s->n_artifacts = 2;
    snprintf(s->artifacts[0].role, sizeof s->artifacts[0].role, "vision_model");
    snprintf(s->artifacts[0].path, sizeof s->artifacts[0].path, "%s/tests/fixtures/runtime/vision_tiny.onnx",
             CDX_SOURCE_DIR);
    snprintf(s->artifacts[0].sha256, sizeof s->artifacts[0].sha256, "%064d", 1);
    snprintf(s->artifacts[1].role, sizeof s->artifacts[1].role, "text_model");
    snprintf(s->artifacts[1].path, sizeof s->artifacts[1].path, "%s/tests/fixtures/runtime/text_tiny.onnx",
             CDX_SOURCE_DIR);
    snprintf(s->artifacts[1].sha256, sizeof s->artifacts[1].sha256, "%064d", 2);
    cdx_tower_spec *v = &s->towers[CDX_TOWER_VISION], *t = &s->towers[CDX_TOWER_TEXT];
    v->n_inputs = v->n_outputs = 1;
    tensor(&v->inputs[0], "pixel_values", CDX_DTYPE_FLOAT32, 4, (int64_t[]){-1, 3, 8, 8});
    tensor(&v->outputs[0], "image_embeds", CDX_DTYPE_FLOAT32, 2, (int64_t[]){-1, DIM});
    t->n_inputs = 2;
    t->n_outputs = 1;
    tensor(&t->inputs[0], "input_ids", CDX_DTYPE_INT64, 2, (int64_t[]){-1, -1});
    tensor(&t->inputs[1], "attention_mask", CDX_DTYPE_INT64, 2, (int64_t[]){-1, -1});
    tensor(&t->outputs[0], "text_embeds", CDX_DTYPE_FLOAT32, 2, (int64_t[]){-1, DIM});
    s->image.height = s->image.width = 8;
    s->text.context_length = 12;
    s->text.bos_id = 1;
    s->text.eos_id = 2;
    s->text.pad_id = 0;
    s->text.padding = CDX_PADDING_BUCKET;
    s->text.pooling = CDX_POOLING_EOS_ARGMAX;
    s->dim = DIM;
    s->n_batch_buckets = 3;
    memcpy(s->batch_buckets, (int32_t[]){1, 4, 8}, 3 * sizeof(int32_t));
    s->n_seq_buckets = 3;
    memcpy(s->seq_buckets, (int32_t[]){4, 8, 12}, 3 * sizeof(int32_t));
    s->thresholds.max_fallback = 0;
}

static cdx_contract_spec g_spec;

static cdx_tower *open_tower(enum cdx_tower_kind which, const char *providers, int warmup)
{
    cdx_tower_params p = cdx_tower_default_params();
    p.providers = providers;
    p.warmup = warmup;
    cdx_tower *t = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_tower_open(&g_spec, which, &p, &t, &eb);
    if (rc != CDX_OK)
        fail_msg("open %s tower with '%s': %s", cdx_tower_name(which), providers, eb.msg);
    return t;
}

static void assert_close(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fabsf(a[i] - b[i]) > 1e-5f * (1 + fabsf(a[i])))
            fail_msg("element %zu: %g vs %g", i, a[i], b[i]);
}

static void vision_padding_and_chunks_match_single_rows(void **state)
{
    (void)state;
    cdx_tower *t = open_tower(CDX_TOWER_VISION, "cpu:threads=1", 1);
    const int n = 19; /* 8 + 8 + 3 -> the last chunk pads 3 up to 4 */
    float *px = malloc(n * 192 * sizeof(float)), *batched = malloc(n * DIM * sizeof(float));
    float single[DIM];
    for (int i = 0; i < n * 192; i++)
        px[i] = (float)((i * 7919) % 255) / 255.0f - 0.5f;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_tower_run(t, &(cdx_tower_input){.pixels = px}, n, batched, &eb), CDX_OK);
    for (int r = 0; r < n; r++) {
        assert_int_equal(cdx_tower_run(t, &(cdx_tower_input){.pixels = px + r * 192}, 1, single, &eb), CDX_OK);
        assert_close(single, batched + r * DIM, DIM);
    }
    /* 5 rows pad to 8: still the same rows */
    assert_int_equal(cdx_tower_run(t, &(cdx_tower_input){.pixels = px}, 5, batched, &eb), CDX_OK);
    assert_int_equal(cdx_tower_run(t, &(cdx_tower_input){.pixels = px + 4 * 192}, 1, single, &eb), CDX_OK);
    assert_close(single, batched + 4 * DIM, DIM);

    cdx_tower_report r;
    cdx_tower_get_report(t, &r);
    assert_string_equal(r.used, "cpu");
    assert_int_equal(r.intra_threads, 1);
    assert_int_equal(r.n_buckets, 3);
    for (int i = 0; i < r.n_buckets; i++) {
        assert_true(r.buckets[i].cold_ns > 0);  /* warm-up ran every bucket once */
        assert_true(r.buckets[i].warm_runs > 0);
    }
    /* 19 rows = 8+8+(3 padded to 4), then 19 singles, then 5 padded to 8 */
    uint64_t rows = 0, padded = 0;
    for (int i = 0; i < r.n_buckets; i++) {
        rows += r.buckets[i].rows;
        padded += r.buckets[i].padded_rows;
    }
    assert_int_equal(rows, (1 + 4 + 8) + 19 + 19 + 5 + 1); /* warm-up rows count as real rows */
    assert_int_equal(padded, 1 + 3);
    assert_int_equal(r.placement.n_eps, 1);
    assert_string_equal(r.placement.eps[0].provider, "CPUExecutionProvider");
    assert_int_equal(r.placement.nodes_from_log, 1);
    assert_true(r.placement.eps[0].nodes >= 2);
    assert_true(r.placement.profiled_runs >= 3);
    assert_true(r.placement.fallback_by_nodes == 0);
    free(px);
    free(batched);
    cdx_tower_close(t);
}

static void text_seq_buckets_match_full_padding(void **state)
{
    (void)state;
    cdx_tower *t = open_tower(CDX_TOWER_TEXT, "cpu:threads=1", 0);
    /* three texts of 3, 5 and 2 tokens, rows of length 5 */
    int64_t ids[3 * 5] = {1, 17, 2, 0, 0, 1, 40, 41, 42, 2, 1, 2, 0, 0, 0};
    int64_t mask[3 * 5] = {1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
    int64_t full_ids[3 * 12] = {0}, full_mask[3 * 12] = {0};
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 5; c++) {
            full_ids[r * 12 + c] = ids[r * 5 + c];
            full_mask[r * 12 + c] = mask[r * 5 + c];
        }
    float a[3 * DIM], b[3 * DIM];
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_tower_seq_bucket(t, 5), 8);
    assert_int_equal(cdx_tower_seq_bucket(t, 3), 4);
    assert_int_equal(cdx_tower_seq_bucket(t, 12), 12);
    assert_int_equal(cdx_tower_run(t, &(cdx_tower_input){.ids = ids, .mask = mask, .seq = 5}, 3, a, &eb), CDX_OK);
    assert_int_equal(cdx_tower_run(t, &(cdx_tower_input){.ids = full_ids, .mask = full_mask, .seq = 12}, 3, b, &eb),
                     CDX_OK);
    assert_close(a, b, 3 * DIM);
    cdx_tower_report r;
    cdx_tower_get_report(t, &r);
    int saw_seq8 = 0;
    for (int i = 0; i < r.n_buckets; i++)
        saw_seq8 |= r.buckets[i].seq == 8 && r.buckets[i].batch == 4;
    assert_true(saw_seq8);
    /* Without warm-up there is no profile: placement comes from nothing but the
     * first run must still count as cold. */
    for (int i = 0; i < r.n_buckets; i++)
        assert_true(r.buckets[i].cold_ns > 0);
    /* bad inputs are errors, not crashes */
    assert_int_equal(cdx_tower_run(t, &(cdx_tower_input){.ids = ids, .mask = mask, .seq = 13}, 3, a, &eb),
                     CDX_ERR_INVAL);
    assert_int_equal(cdx_tower_run(t, &(cdx_tower_input){.ids = ids, .mask = NULL, .seq = 5}, 3, a, &eb),
                     CDX_ERR_INVAL);
    assert_int_equal(cdx_tower_run(t, &(cdx_tower_input){.ids = ids, .mask = mask, .seq = 5}, 0, a, &eb),
                     CDX_ERR_INVAL);
    cdx_tower_close(t);
}

struct worker {
    cdx_tower *t;
    const float *px;
    float out[8 * DIM];
    int rc;
};

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    cdx_errbuf eb = {0};
    for (int i = 0; i < 50 && w->rc == CDX_OK; i++)
        w->rc = cdx_tower_run(w->t, &(cdx_tower_input){.pixels = w->px}, 7, w->out, &eb);
    return NULL;
}

static void concurrent_runs_agree(void **state)
{
    (void)state;
    cdx_tower *t = open_tower(CDX_TOWER_VISION, "cpu:threads=1,spin=off", 0);
    float px[7 * 192], ref[7 * DIM];
    for (int i = 0; i < 7 * 192; i++)
        px[i] = (float)(i % 13) * 0.1f;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_tower_run(t, &(cdx_tower_input){.pixels = px}, 7, ref, &eb), CDX_OK);
    struct worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.t = t, .px = px, .rc = CDX_OK};
        pthread_create(&th[i], NULL, run_worker, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].rc, CDX_OK);
        assert_close(ref, w[i].out, 7 * DIM);
    }
    cdx_tower_close(t);
}

static void optimized_model_cache(void **state)
{
    (void)state;
    char *dir = cdx_test_mkdtemp("ortcache");
    char *spec = cdx_test_fmt("cpu:threads=1,cache=%s", dir);
    float px[192] = {0.25f}, a[DIM], b[DIM];
    cdx_errbuf eb = {0};
    cdx_tower_report r;
    cdx_tower *t = open_tower(CDX_TOWER_VISION, spec, 1);
    cdx_tower_get_report(t, &r);
    assert_int_equal(r.cache_hit, 0);
    assert_int_equal(cdx_tower_run(t, &(cdx_tower_input){.pixels = px}, 1, a, &eb), CDX_OK);
    cdx_tower_close(t);
    t = open_tower(CDX_TOWER_VISION, spec, 1);
    cdx_tower_get_report(t, &r);
    assert_int_equal(r.cache_hit, 1);
    assert_non_null(strstr(r.model_path, dir));
    assert_int_equal(cdx_tower_run(t, &(cdx_tower_input){.pixels = px}, 1, b, &eb), CDX_OK);
    assert_close(a, b, DIM);
    cdx_tower_close(t);
    /* A corrupt cache file is dropped and the original model loaded. */
    assert_int_equal(cdx_test_write_file(r.model_path, "garbage", 7), 0);
    t = open_tower(CDX_TOWER_VISION, spec, 1);
    cdx_tower_get_report(t, &r);
    assert_int_equal(r.cache_hit, 0);
    assert_int_equal(cdx_tower_run(t, &(cdx_tower_input){.pixels = px}, 1, b, &eb), CDX_OK);
    assert_close(a, b, DIM);
    cdx_tower_close(t);
    cdx_test_rmtree(dir);
    free(dir);
    free(spec);
}

static void provider_errors(void **state)
{
    (void)state;
    cdx_tower_params p = cdx_tower_default_params();
    cdx_tower *t = NULL;
    cdx_errbuf eb = {0};
    p.providers = "coreml:format=mlprogram";
    assert_int_equal(cdx_tower_open(&g_spec, CDX_TOWER_VISION, &p, &t, &eb), CDX_ERR_PROVIDER);
    assert_null(t);
    assert_non_null(strstr(eb.msg, "CoreMLExecutionProvider"));
    p.providers = "tpu";
    assert_int_equal(cdx_tower_open(&g_spec, CDX_TOWER_VISION, &p, &t, &eb), CDX_ERR_INVAL);
    assert_non_null(strstr(eb.msg, "unknown provider 'tpu'"));
    /* coreml then cpu: coreml is skipped on this build, cpu takes over */
    t = open_tower(CDX_TOWER_VISION, "coreml;cpu:threads=1", 0);
    cdx_tower_report r;
    cdx_tower_get_report(t, &r);
    assert_string_equal(r.used, "cpu");
    cdx_tower_close(t);
    /* a missing model file names the file */
    cdx_contract_spec bad = g_spec;
    snprintf(bad.artifacts[0].path, sizeof bad.artifacts[0].path, "/nonexistent/vision.onnx");
    p.providers = "cpu";
    assert_int_equal(cdx_tower_open(&bad, CDX_TOWER_VISION, &p, &t, &eb), CDX_ERR_ORT);
    assert_non_null(strstr(eb.msg, "/nonexistent/vision.onnx"));
}

int main(void)
{
    make_spec(&g_spec);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vision_padding_and_chunks_match_single_rows),
        cmocka_unit_test(text_seq_buckets_match_full_padding),
        cmocka_unit_test(concurrent_runs_agree),
        cmocka_unit_test(optimized_model_cache),
        cmocka_unit_test(provider_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cdx_ort_env_shutdown();
    return rc;
}
