/* The Pillow-exact resampler (encoder/resample.h): values Pillow 9.4 itself
 * produced, and the properties the streaming passes rely on (a subset of
 * outputs equals the same outputs of the whole, constants stay constant,
 * same-size resizes are the identity, windows stay inside the input). */
#include "testutil.h"

#include "common/util.h"
#include "encoder/resample.h"

#include <stdlib.h>
#include <string.h>

static void run_line(enum cdx_interp f, const uint8_t *in, int32_t n_in, uint8_t *out, int32_t n_out)
{
    cdx_resample_axis ax;
    assert_int_equal(cdx_resample_axis_init(&ax, f, n_in, 0.0, n_in, n_out, 0, n_out), 0);
    uint8_t *rgb = malloc((size_t)n_in * 3), *o = malloc((size_t)n_out * 3);
    for (int32_t i = 0; i < n_in * 3; i++) /* three equal planes */
        rgb[i] = in[i % n_in];
    cdx_resample_line(&ax, 0, rgb, (size_t)n_in, o);
    for (int32_t i = 0; i < n_out; i++) {
        assert_int_equal(o[i * 3], o[i * 3 + 1]);
        assert_int_equal(o[i * 3], o[i * 3 + 2]);
        out[i] = o[i * 3];
    }
    free(rgb);
    free(o);
    cdx_resample_axis_free(&ax);
}

/* From Pillow 9.4: Image.fromarray(line).resize((n, 1), filter). */
static void matches_pillow_values(void **state)
{
    (void)state;
    static const uint8_t line[7] = {0, 255, 10, 200, 30, 90, 255};
    static const struct {
        enum cdx_interp f;
        int32_t n;
        uint8_t want[11];
    } cases[] = {
        {CDX_INTERP_BICUBIC, 3, {113, 103, 142}},
        {CDX_INTERP_BICUBIC, 11, {0, 119, 250, 59, 62, 200, 90, 27, 80, 190, 255}},
        {CDX_INTERP_BILINEAR, 3, {111, 112, 136}},
        {CDX_INTERP_BILINEAR, 11, {0, 116, 233, 77, 79, 200, 92, 46, 85, 180, 255}},
        {CDX_INTERP_NEAREST, 3, {255, 200, 90}},
        {CDX_INTERP_NEAREST, 11, {0, 0, 255, 10, 10, 200, 30, 30, 90, 255, 255}},
    };
    for (size_t i = 0; i < CDX_ARRAY_LEN(cases); i++) {
        uint8_t got[11];
        run_line(cases[i].f, line, 7, got, cases[i].n);
        assert_memory_equal(got, cases[i].want, (size_t)cases[i].n);
    }
}

static void subsets_equal_the_whole(void **state)
{
    (void)state;
    srand(7);
    for (int iter = 0; iter < 300; iter++) {
        enum cdx_interp f = (enum cdx_interp)(iter % 3);
        int32_t in = 1 + rand() % 400, out = 1 + rand() % 300;
        int32_t first = rand() % out, n = 1 + rand() % (out - first);
        cdx_resample_axis whole, part;
        assert_int_equal(cdx_resample_axis_init(&whole, f, in, 0.0, in, out, 0, out), 0);
        assert_int_equal(cdx_resample_axis_init(&part, f, in, 0.0, in, out, first, n), 0);
        assert_int_equal(whole.ksize, part.ksize);
        for (int32_t j = 0; j < n; j++) {
            assert_int_equal(part.start[j], whole.start[first + j]);
            assert_int_equal(part.count[j], whole.count[first + j]);
            assert_memory_equal(&part.k[(size_t)j * part.ksize], &whole.k[(size_t)(first + j) * whole.ksize],
                                (size_t)part.ksize * sizeof(int32_t));
            assert_true(part.start[j] >= part.in_lo && part.start[j] + part.count[j] <= part.in_hi);
            assert_true(part.start[j] >= 0 && part.start[j] + part.count[j] <= in && part.count[j] >= 1);
        }
        cdx_resample_axis_free(&whole);
        cdx_resample_axis_free(&part);
    }
}

static void constants_stay_constant(void **state)
{
    (void)state;
    srand(11);
    uint8_t in[512], out[512];
    for (int iter = 0; iter < 300; iter++) {
        enum cdx_interp f = (enum cdx_interp)(iter % 3);
        int32_t n_in = 1 + rand() % 500, n_out = 1 + rand() % 500;
        uint8_t v = (uint8_t)(rand() % 256);
        memset(in, v, sizeof in);
        run_line(f, in, n_in, out, n_out);
        for (int32_t i = 0; i < n_out; i++)
            assert_int_equal(out[i], v);
    }
}

static void same_size_is_identity(void **state)
{
    (void)state;
    srand(3);
    uint8_t in[300], out[300];
    for (int32_t n = 1; n < 300; n += 37)
        for (int f = 0; f < 3; f++) {
            for (int32_t i = 0; i < n; i++)
                in[i] = (uint8_t)(rand() % 256);
            run_line((enum cdx_interp)f, in, n, out, n);
            assert_memory_equal(in, out, (size_t)n);
        }
}

/* The column pass and the accumulate-across-lines pass agree with the line
 * pass on the same data (the transposed-orientation path relies on it). */
static void passes_agree(void **state)
{
    (void)state;
    srand(5);
    enum { N_IN = 57, N_OUT = 13 };
    cdx_resample_axis ax;
    assert_int_equal(cdx_resample_axis_init(&ax, CDX_INTERP_BICUBIC, N_IN, 0.0, N_IN, N_OUT, 0, N_OUT), 0);
    uint8_t line[N_IN * 3], planes[N_IN * 3], by_line[N_OUT * 3], by_col[N_OUT * 3], by_acc[N_OUT * 3];
    for (int i = 0; i < N_IN * 3; i++)
        line[i] = (uint8_t)(rand() % 256);
    for (int i = 0; i < N_IN; i++)
        for (int c = 0; c < 3; c++)
            planes[c * N_IN + i] = line[i * 3 + c];
    cdx_resample_line(&ax, 0, planes, N_IN, by_line);
    /* Column pass: the same samples as N_IN lines of one pixel each. */
    int32_t acc[3];
    for (int j = 0; j < N_OUT; j++)
        cdx_resample_column_rgb(&ax, j, 0, line, 3, 3, acc, by_col + j * 3);
    assert_memory_equal(by_line, by_col, sizeof by_line);
    /* Accumulate: each input sample adds itself to every output whose window holds it. */
    int32_t sums[N_OUT * 3];
    for (int q = 0; q < N_OUT * 3; q++)
        sums[q] = CDX_RESAMPLE_ROUND;
    for (int x = N_IN - 1; x >= 0; x--) /* any order */
        for (int j = 0; j < N_OUT; j++)
            if (x >= ax.start[j] && x < ax.start[j] + ax.count[j])
                cdx_resample_accumulate(sums + j * 3, ax.k[(size_t)j * ax.ksize + (x - ax.start[j])], line + x * 3, 3);
    for (int q = 0; q < N_OUT * 3; q++)
        by_acc[q] = cdx_resample_clip8(sums[q]);
    assert_memory_equal(by_line, by_acc, sizeof by_line);
    /* Block pass: 5 lines column-major, written bottom-up (negative stride);
     * line 2 is our line, the others random. */
    enum { NL = 5 };
    uint8_t cols[N_IN * 3 * NL], out[NL][N_OUT * 3];
    int32_t bacc[3 * NL];
    for (int x = 0; x < N_IN; x++)
        for (int c = 0; c < 3; c++)
            for (int r = 0; r < NL; r++)
                cols[(x * 3 + c) * NL + r] = r == 2 ? line[x * 3 + c] : (uint8_t)(rand() % 256);
    cdx_resample_block(&ax, 0, cols, NL, bacc, out[NL - 1], -(ptrdiff_t)sizeof out[0]);
    assert_memory_equal(by_line, out[NL - 1 - 2], sizeof by_line);
    cdx_resample_axis_free(&ax);
}

static void rejects_bad_arguments(void **state)
{
    (void)state;
    cdx_resample_axis ax;
    assert_int_equal(cdx_resample_axis_init(&ax, CDX_INTERP_BICUBIC, 0, 0.0, 1.0, 4, 0, 4), -1);
    assert_int_equal(cdx_resample_axis_init(&ax, CDX_INTERP_BICUBIC, 4, 0.0, 4.0, 0, 0, 1), -1);
    assert_int_equal(cdx_resample_axis_init(&ax, CDX_INTERP_BICUBIC, 4, 0.0, 4.0, 4, 3, 2), -1);
    assert_int_equal(cdx_resample_axis_init(&ax, CDX_INTERP_BICUBIC, 4, 4.0, 4.0, 4, 0, 4), -1);
    assert_int_equal(cdx_resample_axis_init(&ax, CDX_INTERP_NEAREST, 4, 0.0, 4.0, 4, -1, 4), -1);
    cdx_resample_axis_free(&ax); /* zeroed on failure: freeing is safe */
    cdx_resample_axis_free(NULL);
    assert_int_equal(cdx_resample_clip8(-5 * (1 << CDX_RESAMPLE_PRECISION_BITS)), 0);
    assert_int_equal(cdx_resample_clip8(300 << CDX_RESAMPLE_PRECISION_BITS), 255);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_pillow_values),   cmocka_unit_test(subsets_equal_the_whole),
        cmocka_unit_test(constants_stay_constant), cmocka_unit_test(same_size_is_identity),
        cmocka_unit_test(passes_agree),            cmocka_unit_test(rejects_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
