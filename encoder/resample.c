/* Pillow-exact separable resampling (see resample.h).
 *
 * The weight computation mirrors Pillow's precompute_coeffs and
 * normalize_coeffs_8bpc expression by expression: the same double arithmetic
 * in the same order, the same truncating casts, the same fixed-point rounding.
 * Changing any of it (even "equivalent" algebra) can move a sum across a
 * rounding boundary and break bit-exact agreement with the reference. */
#include "encoder/resample.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Weights must not depend on the compiler fusing a*b+c (aarch64 compilers do
 * by default): Pillow's reference is built without FMA. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

struct filter {
    double (*fn)(double x);
    double support;
};

static double bicubic_filter(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double bilinear_filter(double x)
{
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return 1.0 - x;
    return 0.0;
}

static const struct filter BICUBIC = {bicubic_filter, 2.0};
static const struct filter BILINEAR = {bilinear_filter, 1.0};

void cdx_resample_axis_free(cdx_resample_axis *ax)
{
    if (!ax)
        return;
    free(ax->start);
    free(ax->count);
    free(ax->k);
    memset(ax, 0, sizeof *ax);
}

static int axis_alloc(cdx_resample_axis *ax, int32_t n, int32_t ksize)
{
    memset(ax, 0, sizeof *ax);
    if (n <= 0 || ksize <= 0 || (size_t)n > SIZE_MAX / sizeof(int32_t) / (size_t)ksize)
        return -1;
    ax->n = n;
    ax->ksize = ksize;
    ax->start = malloc((size_t)n * sizeof *ax->start);
    ax->count = malloc((size_t)n * sizeof *ax->count);
    ax->k = calloc((size_t)n * (size_t)ksize, sizeof *ax->k);
    if (!ax->start || !ax->count || !ax->k) {
        cdx_resample_axis_free(ax);
        return -1;
    }
    return 0;
}

static void axis_finish(cdx_resample_axis *ax)
{
    ax->in_lo = INT32_MAX;
    ax->in_hi = 0;
    for (int32_t j = 0; j < ax->n; j++) {
        if (ax->count[j] == 0)
            continue;
        if (ax->start[j] < ax->in_lo)
            ax->in_lo = ax->start[j];
        if (ax->start[j] + ax->count[j] > ax->in_hi)
            ax->in_hi = ax->start[j] + ax->count[j];
    }
    if (ax->in_lo > ax->in_hi)
        ax->in_lo = ax->in_hi = 0;
}

/* Pillow's _resize for NEAREST: ImagingScaleAffine walks the output with an
 * accumulated double position starting at the first pixel centre and
 * truncates it (COORD). The accumulation is replayed from 0 so a subset picks
 * the same inputs as the whole. */
static int axis_nearest(cdx_resample_axis *ax, int32_t in_size, double in0, double in1, int32_t out_size,
                        int32_t first, int32_t n)
{
    if (axis_alloc(ax, n, 1) != 0)
        return -1;
    double a = (in1 - in0) / out_size;
    double xo = in0 + a * 0.5;
    for (int32_t x = 0; x < first + n; x++, xo += a) {
        if (x < first)
            continue;
        int32_t xin = xo < 0.0 ? 0 : (int32_t)xo;
        if (xin >= in_size)
            xin = in_size - 1;
        ax->start[x - first] = xin;
        ax->count[x - first] = 1;
        ax->k[x - first] = 1 << CDX_RESAMPLE_PRECISION_BITS;
    }
    axis_finish(ax);
    return 0;
}

int cdx_resample_axis_init(cdx_resample_axis *ax, enum cdx_interp filter, int32_t in_size, double in0,
                           double in1, int32_t out_size, int32_t first, int32_t n)
{
    memset(ax, 0, sizeof *ax);
    if (in_size < 1 || out_size < 1 || first < 0 || n < 1 || first > out_size - n || !(in0 < in1))
        return -1;
    if (filter == CDX_INTERP_NEAREST)
        return axis_nearest(ax, in_size, in0, in1, out_size, first, n);
    const struct filter *fp = filter == CDX_INTERP_BILINEAR ? &BILINEAR : &BICUBIC;

    /* precompute_coeffs */
    double filterscale, scale;
    filterscale = scale = (in1 - in0) / out_size;
    if (filterscale < 1.0)
        filterscale = 1.0;
    double support = fp->support * filterscale;
    double kmax = ceil(support) * 2 + 1;
    if (kmax > (double)INT32_MAX / 2)
        return -1;
    int32_t ksize = (int32_t)kmax;
    if (axis_alloc(ax, n, ksize) != 0)
        return -1;
    double *kk = malloc((size_t)ksize * sizeof *kk);
    if (!kk) {
        cdx_resample_axis_free(ax);
        return -1;
    }
    for (int32_t j = 0; j < n; j++) {
        int32_t xx = first + j;
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        double ss = 1.0 / filterscale;
        int32_t xmin = (int32_t)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int32_t xmax = (int32_t)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        if (xmax < 0)
            xmax = 0;
        for (int32_t x = 0; x < xmax; x++) {
            double w = fp->fn((x + xmin - center + 0.5) * ss);
            kk[x] = w;
            ww += w;
        }
        /* normalize_coeffs_8bpc: round half away from zero into fixed point */
        int32_t *k = &ax->k[(size_t)j * (size_t)ksize];
        for (int32_t x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? kk[x] / ww : kk[x];
            if (v < 0)
                k[x] = (int32_t)(-0.5 + v * (1 << CDX_RESAMPLE_PRECISION_BITS));
            else
                k[x] = (int32_t)(0.5 + v * (1 << CDX_RESAMPLE_PRECISION_BITS));
        }
        ax->start[j] = xmin;
        ax->count[j] = xmax;
    }
    free(kk);
    axis_finish(ax);
    return 0;
}

/* The inner loops are plain integer dot products and axpys. Integer sums are
 * exact in any order (and stay inside int32 in any order: |sum of weights|
 * x 255 < 2^31), so letting the compiler vectorize them changes nothing in
 * the results. GCC needs the vectorizer's cost model loosened at -O2; an
 * AVX2 clone is picked at run time where the CPU has it (GCC only: clang 14
 * mislinks target_clones on external functions). */
#if defined(__GNUC__) && !defined(__clang__)
#define CDX_VECTORIZE __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define CDX_VECTORIZE
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define CDX_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CDX_CLONES
#endif

CDX_CLONES CDX_VECTORIZE static int32_t dot_u8(const uint8_t *p, const int32_t *k, int32_t n)
{
    int32_t s = 0;
    for (int32_t x = 0; x < n; x++)
        s += p[x] * k[x];
    return s;
}

void cdx_resample_line(const cdx_resample_axis *ax, int32_t base, const uint8_t *line, size_t plane,
                       uint8_t *out)
{
    for (int32_t j = 0; j < ax->n; j++) {
        const int32_t *k = &ax->k[(size_t)j * (size_t)ax->ksize];
        const uint8_t *p = line + (ax->start[j] - base);
        for (int c = 0; c < 3; c++)
            out[j * 3 + c] = cdx_resample_clip8(CDX_RESAMPLE_ROUND + dot_u8(p + c * plane, k, ax->count[j]));
    }
}

CDX_CLONES CDX_VECTORIZE void cdx_resample_accumulate(int32_t *acc, int32_t w, const uint8_t *line, int32_t n)
{
    for (int32_t q = 0; q < n; q++)
        acc[q] += w * line[q];
}

void cdx_resample_block(const cdx_resample_axis *ax, int32_t base, const uint8_t *cols, int32_t nl, int32_t *acc,
                        uint8_t *out, ptrdiff_t out_stride)
{
    const size_t col = (size_t)nl * 3;
    for (int32_t j = 0; j < ax->n; j++) {
        const int32_t *k = &ax->k[(size_t)j * (size_t)ax->ksize];
        const uint8_t *p = cols + (size_t)(ax->start[j] - base) * col;
        for (size_t q = 0; q < col; q++)
            acc[q] = CDX_RESAMPLE_ROUND;
        for (int32_t x = 0; x < ax->count[j]; x++)
            cdx_resample_accumulate(acc, k[x], p + (size_t)x * col, (int32_t)col);
        for (int32_t r = 0; r < nl; r++)
            for (int c = 0; c < 3; c++)
                out[r * out_stride + j * 3 + c] = cdx_resample_clip8(acc[(size_t)c * nl + r]);
    }
}

void cdx_resample_column_rgb(const cdx_resample_axis *ax, int32_t i, int32_t base, const uint8_t *in,
                             size_t stride, int32_t width3, int32_t *acc, uint8_t *out)
{
    const int32_t *k = &ax->k[(size_t)i * (size_t)ax->ksize];
    for (int32_t q = 0; q < width3; q++)
        acc[q] = CDX_RESAMPLE_ROUND;
    for (int32_t y = 0; y < ax->count[i]; y++)
        cdx_resample_accumulate(acc, k[y], in + (size_t)(ax->start[i] + y - base) * stride, width3);
    for (int32_t q = 0; q < width3; q++)
        out[q] = cdx_resample_clip8(acc[q]);
}
