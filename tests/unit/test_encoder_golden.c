/* Golden pack reader: a pack written by the test loads with every row where
 * golden/README.md says; each kind of broken pack is refused with a message
 * naming the file and the field. */
#include "testutil.h"

#include "encoder/golden.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NI 2
#define NT 3
#define H 4
#define W 5
#define D 6
#define L 7

#define INDEX_FMT \
    "{\"schema\":\"clipdex.golden/1\",\"model\":\"m\",\"family\":\"clip\",\"image_size\":[%d,%d],\"dim\":%d,"\
    "\"context_length\":%d,"\
    "\"images\":[{\"name\":\"a\",\"file\":\"images/a.jpg\",\"why\":\"x\"},{\"name\":\"b\",\"file\":\"%s\",\"why\":\"y\"}],"\
    "\"texts\":[{\"name\":\"t0\",\"text\":\"hello\",\"n_tokens\":3,\"why\":\"\"},"\
    "{\"name\":\"t1\",\"text\":\"caf\\u00e9\\n\",\"n_tokens\":%d,\"why\":\"\"},"\
    "{\"name\":\"t2\",\"text\":\"\",\"n_tokens\":2,\"why\":\"empty\"}],"\
    "\"tensors\":{\"pixel_values\":{\"file\":\"pixel_values.f32\",\"dtype\":\"float32\",\"shape\":[%d,3,%d,%d]},"\
    "\"image_embeds\":{\"file\":\"image_embeds.f32\",\"dtype\":\"float32\",\"shape\":[%d,%d]},"\
    "\"input_ids\":{\"file\":\"input_ids.i64\",\"dtype\":\"%s\",\"shape\":[%d,%d]},"\
    "\"attention_mask\":{\"file\":\"attention_mask.i64\",\"dtype\":\"int64\",\"shape\":[%d,%d]},"\
    "\"text_embeds\":{\"file\":\"text_embeds.f32\",\"dtype\":\"float32\",\"shape\":[%d,%d]}}}"

struct variant {
    const char *image_b;
    int t1_tokens;
    const char *ids_dtype;
    int pixel_rows;
};

static char *write_pack(const struct variant *v, int truncate_embeds, int zero_embed)
{
    char *dir = cdx_test_mkdtemp("golden");
    char *idx = cdx_test_fmt(INDEX_FMT, H, W, D, L, v->image_b, v->t1_tokens, v->pixel_rows, H, W, NI, D,
                             v->ids_dtype, NT, L, NT, L, NT, D);
    char *p = cdx_test_fmt("%s/index.json", dir);
    assert_int_equal(cdx_test_write_file(p, idx, strlen(idx)), 0);
    free(p);
    free(idx);
    float px[NI * 3 * H * W], ie[NI * D], te[NT * D];
    int64_t ids[NT * L], mask[NT * L];
    for (int i = 0; i < NI * 3 * H * W; i++)
        px[i] = (float)i;
    for (int i = 0; i < NI * D; i++)
        ie[i] = zero_embed ? 0.0f : (float)(i + 1);
    for (int i = 0; i < NT * D; i++)
        te[i] = (float)(100 + i);
    for (int i = 0; i < NT * L; i++) {
        ids[i] = 1000 + i;
        mask[i] = i % 2;
    }
    struct { const char *name; void *data; size_t len; } files[] = {
        {"pixel_values.f32", px, sizeof px}, {"image_embeds.f32", ie, sizeof ie - (truncate_embeds ? 4 : 0)},
        {"input_ids.i64", ids, sizeof ids}, {"attention_mask.i64", mask, sizeof mask}, {"text_embeds.f32", te, sizeof te}};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char *fp = cdx_test_fmt("%s/%s", dir, files[f].name);
        assert_int_equal(cdx_test_write_file(fp, files[f].data, files[f].len), 0);
        free(fp);
    }
    return dir;
}

static const struct variant good = {"images/b.png", 4, "int64", NI};

static void loads_rows_where_the_readme_says(void **state)
{
    (void)state;
    char *dir = write_pack(&good, 0, 0);
    cdx_golden *g;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_golden_open(dir, &g, &eb), CDX_OK);
    const cdx_golden_info *in = cdx_golden_get_info(g);
    assert_int_equal(in->n_images, NI);
    assert_int_equal(in->n_texts, NT);
    assert_int_equal(in->height, H);
    assert_int_equal(in->width, W);
    assert_int_equal(in->dim, D);
    assert_int_equal(in->context_length, L);
    assert_string_equal(in->family, "clip");
    char *want = cdx_test_fmt("%s/images/b.png", dir);
    assert_string_equal(cdx_golden_get_image(g, 1)->path, want);
    free(want);
    assert_string_equal(cdx_golden_get_text(g, 1)->text, "caf\xc3\xa9\n");
    assert_int_equal(cdx_golden_get_text(g, 1)->text_len, 6);
    assert_int_equal(cdx_golden_get_text(g, 2)->text_len, 0);
    assert_int_equal(cdx_golden_get_text(g, 1)->n_tokens, 4);
    assert_true(cdx_golden_pixel_values(g, 1)[0] == (float)(3 * H * W));
    assert_true(cdx_golden_image_embed(g, 1)[0] == (float)(D + 1));
    assert_int_equal(cdx_golden_input_ids(g, 2)[0], 1000 + 2 * L);
    assert_int_equal(cdx_golden_attention_mask(g, 1)[0], (L % 2));
    assert_true(cdx_golden_text_embed(g, 2)[D - 1] == (float)(100 + 3 * D - 1));
    assert_null(cdx_golden_get_image(g, NI));
    assert_null(cdx_golden_get_text(g, -1));
    assert_null(cdx_golden_text_embed(g, NT));
    cdx_golden_close(g);
    cdx_golden_close(NULL);
    cdx_test_rmtree(dir);
    free(dir);
}

static void broken_packs_are_refused(void **state)
{
    (void)state;
    struct {
        struct variant v;
        int truncate, zero, rc;
        const char *needle;
    } cases[] = {
        {{"../../etc/passwd", 4, "int64", NI}, 0, 0, CDX_ERR_PARSE, "must be a path inside the pack"},
        {{"images/b.png", 99, "int64", NI}, 0, 0, CDX_ERR_PARSE, "n_tokens 99 exceeds context_length"},
        {{"images/b.png", 4, "int32", NI}, 0, 0, CDX_ERR_PARSE, "tensors.input_ids.dtype: expected \"int64\""},
        {{"images/b.png", 4, "int64", NI + 1}, 0, 0, CDX_ERR_PARSE, "tensors.pixel_values.shape[0]: expected 2"},
        {good, 1, 0, CDX_ERR_CORRUPT, "image_embeds.f32 holds"},
        {good, 0, 1, CDX_ERR_CORRUPT, "reference image embedding 0 is zero"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir = write_pack(&cases[i].v, cases[i].truncate, cases[i].zero);
        cdx_golden *g = (cdx_golden *)1;
        cdx_errbuf eb = {0};
        assert_int_equal(cdx_golden_open(dir, &g, &eb), cases[i].rc);
        assert_null(g);
        if (!strstr(eb.msg, cases[i].needle))
            fail_msg("case %zu: '%s' lacks '%s'", i, eb.msg, cases[i].needle);
        cdx_test_rmtree(dir);
        free(dir);
    }
    cdx_golden *g;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_golden_open("/nonexistent/pack", &g, &eb), CDX_ERR_NOTFOUND);
    assert_non_null(strstr(eb.msg, "/nonexistent/pack/index.json"));
    assert_int_equal(cdx_golden_parse_index("[1]", 3, "/x", &g, &eb), CDX_ERR_PARSE);
    assert_int_equal(cdx_golden_parse_index("{\"schema\":\"other\"}", 18, "/x", &g, &eb), CDX_ERR_PARSE);
    assert_non_null(strstr(eb.msg, "schema"));
}

static void cosine_and_normalize(void **state)
{
    (void)state;
    float a[3] = {3, 0, 4}, b[3] = {6, 0, 8}, c[3] = {0, 1, 0}, z[3] = {0, 0, 0};
    assert_true(fabs(cdx_cosine(a, b, 3) - 1) < 1e-12);
    assert_true(fabs(cdx_cosine(a, c, 3)) < 1e-12);
    assert_true(cdx_cosine(a, z, 3) == 0);
    assert_true(fabs(cdx_l2_normalize(a, 3) - 5) < 1e-12);
    assert_true(fabsf(a[0] - 0.6f) < 1e-7f && fabsf(a[2] - 0.8f) < 1e-7f);
    assert_true(cdx_l2_normalize(z, 3) == 0 && z[0] == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_rows_where_the_readme_says),
        cmocka_unit_test(broken_packs_are_refused),
        cmocka_unit_test(cosine_and_normalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
