/* Separable 8-bit resampling that reproduces Pillow's Image.resize bit for bit.
 *
 * Pillow (src/libImaging/Resample.c) resizes in two passes, horizontal then
 * vertical, each storing 8-bit results. For every output sample it computes a
 * window of input samples and filter weights in double precision (the filter's
 * support widened by the scale factor when shrinking), normalizes them, turns
 * them into 22-bit fixed point, and sums with a rounding offset. This file
 * computes the same windows and weights with the same expressions, so sums and
 * rounding match exactly; it only lets the caller compute a subset of the
 * outputs (a centre crop) and feed input lines in any order.
 *
 * Used by encoder/preprocess.c; internal to the encoder (no ABI promise). */
#ifndef CDX_ENCODER_RESAMPLE_H
#define CDX_ENCODER_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "contracts/contract.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CDX_RESAMPLE_PRECISION_BITS 22
/* The rounding offset every sum starts from (Pillow's 1 << (PRECISION_BITS - 1)). */
#define CDX_RESAMPLE_ROUND (1 << (CDX_RESAMPLE_PRECISION_BITS - 1))

/* Weights for outputs [first, first + n) of a resize of the input interval
 * [in0, in1) (input pixel units; normally [0, in_size)) to out_size samples. */
typedef struct cdx_resample_axis {
    int32_t n;            /* outputs described */
    int32_t ksize;        /* stride of k */
    int32_t in_lo, in_hi; /* union of the windows: inputs [in_lo, in_hi) are read */
    int32_t *start;       /* [n] first input of each window (absolute index) */
    int32_t *count;       /* [n] window length */
    int32_t *k;           /* [n * ksize] fixed-point weights */
} cdx_resample_axis;

/* Fills ax (owned; release with cdx_resample_axis_free). Returns 0, or -1 when
 * out of memory or the arguments are out of range (in_size, out_size >= 1,
 * 0 <= first, first + n <= out_size, in0 < in1). Bicubic (a = -0.5) and
 * bilinear follow Pillow's convolution; nearest follows Pillow's affine
 * nearest-neighbour pick. */
int cdx_resample_axis_init(cdx_resample_axis *ax, enum cdx_interp filter, int32_t in_size, double in0,
                           double in1, int32_t out_size, int32_t first, int32_t n);
void cdx_resample_axis_free(cdx_resample_axis *ax);

/* Pillow's clip8: a fixed-point sum (rounding offset included) to 0..255. */
static inline uint8_t cdx_resample_clip8(int32_t ss)
{
    int32_t v = ss >> CDX_RESAMPLE_PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Horizontal pass over one line held as three planes (R at line, G at
 * line + plane, B at line + 2 * plane): out[j] (j < ax->n, interleaved RGB)
 * where line[0] is input pixel `base` (so each plane must hold inputs
 * [ax->in_lo - base, ax->in_hi - base)). Planes let the sums vectorize. */
void cdx_resample_line(const cdx_resample_axis *ax, int32_t base, const uint8_t *line, size_t plane,
                       uint8_t *out);

/* The same horizontal pass over a block of nl lines held column-major: the
 * sample of input pixel x, channel c, line r is at
 * cols[(x - base) * 3 * nl + c * nl + r]. Output j of line r goes to
 * out[r * out_stride + j * 3 + c] (out_stride may be negative). Each weight
 * then scales 3 * nl contiguous samples at once, which vectorizes far better
 * than short per-pixel dot products. acc is scratch of 3 * nl int32. */
void cdx_resample_block(const cdx_resample_axis *ax, int32_t base, const uint8_t *cols, int32_t nl, int32_t *acc,
                        uint8_t *out, ptrdiff_t out_stride);

/* Vertical pass for output i: out[q] for q < width3 from the lines of in
 * (line y at in + (y - base) * stride). acc is scratch of width3 int32. */
void cdx_resample_column_rgb(const cdx_resample_axis *ax, int32_t i, int32_t base, const uint8_t *in,
                             size_t stride, int32_t width3, int32_t *acc, uint8_t *out);

/* acc[q] += w * line[q] for q < n: the first pass run across lines instead of
 * along them (an EXIF-transposed image arrives column by column). Start acc at
 * CDX_RESAMPLE_ROUND and finish with cdx_resample_clip8. */
void cdx_resample_accumulate(int32_t *acc, int32_t w, const uint8_t *line, int32_t n);

#ifdef __cplusplus
}
#endif
#endif
