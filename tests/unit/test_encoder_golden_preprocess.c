/* Preprocessing against the golden packs (golden/README.md): every golden
 * image of tiny-clip and tiny-siglip, run with its contract's image section,
 * must reproduce the pack's pixel_values.f32.
 *
 * Bounds:
 *   - full-size decode: 1e-5. The 8-bit crops are Pillow's bit for bit
 *     (tests/unit/test_encoder_preprocess.c), so only float32 rounding in
 *     (x * rescale - mean) / std can differ; that is below 1e-6 for |x| < 3.
 *   - default parameters (JPEG/WebP shrink-on-load at margin 4): 0.1, about
 *     6 levels / (255 * std); encoder/README.md measured at most 6 levels
 *     (0.0853) over 12-16 MP photos. Images that do not shrink must still be
 *     within 1e-5.
 * A missing pack or contract is a failure, not a skip: the packs are part of
 * the repository.
 *
 * Pending: this file moves to tests/unit/ (where the build picks it up) once
 * golden/tiny-{clip,siglip}/ and contracts/tiny-{clip,siglip}.json are in the
 * tree. Run against the packs the models work produced (built by hand with
 * CDX_SOURCE_DIR pointing at that tree), all 48 images matched exactly
 * (max abs 0) with full-size decode; with the default parameters the 12 MP
 * image shrinks by 8 and stays within 0.028 (tiny-clip) and 0.016 (tiny-siglip).
 * When the contract loader lands, spec_from_contract can become
 * cdx_contract_open + cdx_contract_get. */
#include "testutil.h"

#include "encoder/preprocess.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXACT_BOUND 1e-5
#define SHRINK_BOUND 0.1

/* The contract's image section (contracts/README.md) -> spec->image. */
static void spec_from_contract(const char *path, cdx_contract_spec *spec)
{
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        fail_msg("%s: %s (line %d)", path, err.text, err.line);
    json_t *im = json_object_get(root, "image");
    assert_non_null(im);
    memset(spec, 0, sizeof *spec);
    snprintf(spec->file, sizeof spec->file, "%s", path);
    spec->image.height = (int32_t)json_integer_value(json_array_get(json_object_get(im, "size"), 0));
    spec->image.width = (int32_t)json_integer_value(json_array_get(json_object_get(im, "size"), 1));
    const char *resize = json_string_value(json_object_get(im, "resize"));
    spec->image.resize = strcmp(resize, "exact") == 0 ? CDX_RESIZE_EXACT : CDX_RESIZE_SHORTEST_EDGE;
    spec->image.resize_to = (int32_t)json_integer_value(json_object_get(im, "resize_to"));
    const char *it = json_string_value(json_object_get(im, "interpolation"));
    spec->image.interpolation = strcmp(it, "bilinear") == 0  ? CDX_INTERP_BILINEAR
                                : strcmp(it, "nearest") == 0 ? CDX_INTERP_NEAREST
                                                             : CDX_INTERP_BICUBIC;
    spec->image.crop =
        strcmp(json_string_value(json_object_get(im, "crop")), "center") == 0 ? CDX_CROP_CENTER : CDX_CROP_NONE;
    spec->image.rescale = json_number_value(json_object_get(im, "rescale"));
    for (int c = 0; c < 3; c++) {
        spec->image.mean[c] = (float)json_number_value(json_array_get(json_object_get(im, "mean"), c));
        spec->image.std[c] = (float)json_number_value(json_array_get(json_object_get(im, "std"), c));
        spec->image.background[c] = (uint8_t)json_integer_value(json_array_get(json_object_get(im, "background"), c));
    }
    json_decref(root);
}

static void check_pack(const char *model)
{
    char *contract = cdx_test_fmt("%s/contracts/%s.json", CDX_SOURCE_DIR, model);
    char *pack = cdx_test_fmt("%s/golden/%s", CDX_SOURCE_DIR, model);
    char *index = cdx_test_fmt("%s/index.json", pack);
    json_error_t err;
    json_t *idx = json_load_file(index, 0, &err);
    if (!idx)
        fail_msg("golden pack %s: %s: %s", model, index, err.text);
    json_t *pv = json_object_get(json_object_get(idx, "tensors"), "pixel_values");
    json_t *shape = json_object_get(pv, "shape");
    size_t n = (size_t)json_integer_value(json_array_get(shape, 0));
    size_t per = (size_t)(json_integer_value(json_array_get(shape, 1)) * json_integer_value(json_array_get(shape, 2)) *
                          json_integer_value(json_array_get(shape, 3)));
    json_t *images = json_object_get(idx, "images");
    assert_int_equal(json_array_size(images), n);
    char *pvpath = cdx_test_fmt("%s/%s", pack, json_string_value(json_object_get(pv, "file")));
    size_t len = 0;
    float *ref = (float *)cdx_test_read_file(pvpath, &len);
    assert_non_null(ref);
    assert_int_equal(len, n * per * sizeof(float));

    cdx_contract_spec *spec = malloc(sizeof *spec);
    spec_from_contract(contract, spec);
    cdx_preprocess_params exact = cdx_preprocess_default_params(), defaults = exact;
    exact.shrink_on_load = 0;
    cdx_preprocess *pe = NULL, *pd = NULL;
    cdx_errbuf eb = {0};
    if (cdx_preprocess_open(spec, &exact, &pe, &eb) != CDX_OK || cdx_preprocess_open(spec, &defaults, &pd, &eb) != CDX_OK)
        fail_msg("%s: %s", contract, cdx_errbuf_msg(&eb));
    assert_int_equal(cdx_preprocess_tensor_floats(pe), per);
    float *t = malloc(per * sizeof *t);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *im = json_array_get(images, i);
        char *path = cdx_test_fmt("%s/%s", pack, json_string_value(json_object_get(im, "file")));
        cdx_preprocess *pps[2] = {pe, pd};
        for (int mode = 0; mode < 2; mode++) {
            cdx_preprocess_info info;
            if (cdx_preprocess_file(pps[mode], path, t, per, &info, &eb) != CDX_OK)
                fail_msg("%s / %s: %s", model, json_string_value(json_object_get(im, "name")), cdx_errbuf_msg(&eb));
            double maxd = 0, sum = 0;
            for (size_t q = 0; q < per; q++) {
                double d = fabs((double)t[q] - (double)ref[i * per + q]);
                maxd = d > maxd ? d : maxd;
                sum += d;
            }
            double bound = info.shrink > 1 ? SHRINK_BOUND : EXACT_BOUND;
            print_message("%s %-24s %-7s shrink %d: max abs %.3g, mean abs %.3g%s\n", model,
                          json_string_value(json_object_get(im, "name")), mode ? "default" : "exact", info.shrink,
                          maxd, sum / per, maxd > bound ? "  OVER BOUND" : "");
            failures += maxd > bound;
        }
        free(path);
    }
    assert_int_equal(failures, 0);
    free(t);
    cdx_preprocess_close(pe);
    cdx_preprocess_close(pd);
    free(spec);
    free(ref);
    free(pvpath);
    json_decref(idx);
    free(index);
    free(pack);
    free(contract);
}

static void tiny_clip_pack(void **state)
{
    (void)state;
    check_pack("tiny-clip");
}

static void tiny_siglip_pack(void **state)
{
    (void)state;
    check_pack("tiny-siglip");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_clip_pack),
        cmocka_unit_test(tiny_siglip_pack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
