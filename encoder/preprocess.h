/* Image preprocessing: any image file or buffer -> the model's input tensor.
 *
 * One cdx_preprocess is configured from a contract's image section (size,
 * resize mode, interpolation, crop, rescale, mean, std, background) plus
 * safety limits, and is then shared read-only by any number of threads. Each
 * call decodes one image with libvips and writes 3*H*W float32 values (NCHW,
 * one image) into the caller's buffer, exactly as golden/README.md's reference
 * processor (Pillow + Hugging Face) would:
 *
 *   decode (first frame) -> EXIF orientation -> 8-bit RGB (16-bit / 257,
 *   greyscale, palette, CMYK by Pillow's formula) -> alpha flattened onto the
 *   background -> resize with Pillow's resampling (CLIP: shortest edge to
 *   resize_to, other edge int(resize_to * long / short); SigLIP: straight to
 *   H x W), 8-bit rounding -> centre crop with HF's offsets (zero padding when
 *   the image is smaller) -> (x * rescale - mean) / std in float32.
 *
 * The resampling is Pillow's own arithmetic, reproduced bit for bit
 * (encoder/resample.h), streamed over the decoder's rows; encoder/README.md
 * measures it against libvips' kernels. JPEG and WebP may decode at 1/2, 1/4
 * or 1/8 scale when the image is much larger than the target
 * (shrink_on_load); that trades exactness for speed within the bound the
 * README reports.
 *
 * Untrusted input: sizes are checked (bytes, then the pixel count claimed by
 * the header, before any decoding), truncated files fail, untrusted and
 * unlisted libvips loaders are blocked (encoder/vips_env.h), each item has a
 * wall-time budget, and every failure comes back as a code with a message
 * naming the input and what to do. Nothing here aborts on bad input. */
#ifndef CDX_ENCODER_PREPROCESS_H
#define CDX_ENCODER_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "contracts/contract.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_preprocess cdx_preprocess;

/* How strict decoding is about damaged files (libvips' fail_on). */
enum cdx_preprocess_fail_on {
    CDX_PREPROCESS_FAIL_ON_TRUNCATED = 0, /* truncated files fail; minor damage is tolerated */
    CDX_PREPROCESS_FAIL_ON_ERROR = 1,     /* any decoder error fails */
    CDX_PREPROCESS_FAIL_ON_WARNING = 2,   /* any decoder warning fails */
};

/* Which resampler resizes. PILLOW is the contract's behaviour; the libvips
 * ones exist to measure the difference (encoder/README.md). */
enum cdx_preprocess_resampler {
    CDX_PREPROCESS_RESAMPLER_PILLOW = 0,      /* Pillow's arithmetic, bit-exact */
    CDX_PREPROCESS_RESAMPLER_VIPS_REDUCE = 1, /* vips_reduce, VIPS_KERNEL_CUBIC (vips_resize when enlarging) */
    CDX_PREPROCESS_RESAMPLER_VIPS_RESIZE = 2, /* vips_resize, VIPS_KERNEL_CUBIC (box pre-shrink + reduce) */
};

typedef struct cdx_preprocess_params {
    int64_t max_bytes;        /* input size limit (default 128 MiB) */
    int64_t max_pixels;       /* width * height claimed by the header, checked before decoding (default 150 M) */
    int64_t max_work_bytes;   /* resampling scratch limit; only extreme aspect ratios reach it (default 512 MiB) */
    int32_t budget_ms;        /* wall time per item, decode included; 0 = none (default 10000) */
    enum cdx_preprocess_fail_on fail_on;      /* default TRUNCATED */
    int32_t shrink_on_load;   /* 1: JPEG/WebP may decode at 1/2, 1/4, 1/8 scale (default 1) */
    double shrink_margin;     /* ... only while the decoded image keeps >= this many pixels per
                                 output pixel on both axes (default 4.0, see encoder/README.md) */
    int32_t vips_concurrency; /* libvips worker threads, process-wide (default 1: run several
                                 decode workers instead) */
    enum cdx_preprocess_resampler resampler; /* default PILLOW */
} cdx_preprocess_params;

cdx_preprocess_params cdx_preprocess_default_params(void);

enum cdx_preprocess_colour {
    CDX_PREPROCESS_COLOUR_RGB = 0,
    CDX_PREPROCESS_COLOUR_GREY = 1,
    CDX_PREPROCESS_COLOUR_CMYK = 2,
    CDX_PREPROCESS_COLOUR_OTHER = 3, /* converted to sRGB by libvips (Lab, float, ...) */
};

/* What one call saw and did. Filled as far as the call got, also on error. */
typedef struct cdx_preprocess_info {
    char format[8];          /* "jpeg", "png", "webp", "tiff", "gif", "heif", "jxl"; "" when unknown */
    char loader[40];         /* libvips loader, e.g. "jpegload_source" */
    int64_t bytes;           /* input size */
    int32_t width, height;   /* as stored, before orientation and shrink-on-load */
    int32_t orientation;     /* EXIF orientation applied, 1..8 (1: none) */
    int32_t pages;           /* frames or pages in the file; only the first is used */
    int32_t bands;           /* as decoded, alpha included */
    int32_t bits;            /* bits per sample as decoded (8 or 16; other depths: 0) */
    int32_t has_alpha;       /* alpha was flattened onto the background */
    enum cdx_preprocess_colour colour;
    int32_t shrink;          /* shrink-on-load factor used (1: full-size decode) */
    int32_t decoded_width, decoded_height;  /* after shrink-on-load, before orientation */
    int32_t resized_width, resized_height;  /* the resize target before the crop */
    int64_t elapsed_ns;      /* wall time of the call */
} cdx_preprocess_info;

/* Validates spec->image and sets up the tables. The contract may be closed
 * afterwards (values are copied). Starts libvips on first use
 * (encoder/vips_env.h) and sets its thread count from params.
 * CDX_ERR_CONTRACT when the image section cannot be served (e.g. a zero std,
 * shortest_edge without a centre crop), CDX_ERR_INVAL for bad params. */
int cdx_preprocess_open(const cdx_contract_spec *spec, const cdx_preprocess_params *params,
                        cdx_preprocess **out, cdx_errbuf *eb);
void cdx_preprocess_close(cdx_preprocess *pp);

/* The model input's height and width, and 3 * height * width. */
int32_t cdx_preprocess_height(const cdx_preprocess *pp);
int32_t cdx_preprocess_width(const cdx_preprocess *pp);
size_t cdx_preprocess_tensor_floats(const cdx_preprocess *pp);

/* Preprocesses the image file at path into tensor (cap floats, at least
 * cdx_preprocess_tensor_floats). info may be NULL. Thread-safe.
 * On failure tensor is unspecified, eb names the input and what to do:
 *   CDX_ERR_NOTFOUND     no such file
 *   CDX_ERR_IO           unreadable (permissions, I/O error)
 *   CDX_ERR_UNSUPPORTED  not a regular file; not an image format clipdex decodes
 *                        (text, SVG, PDF, ...: untrusted and unlisted loaders are
 *                        blocked); a pixel layout that cannot become RGB
 *   CDX_ERR_TOOBIG       over max_bytes, over max_pixels (from the header, before
 *                        decoding), or an aspect ratio over max_work_bytes
 *   CDX_ERR_DECODE       empty, truncated or corrupt (per fail_on)
 *   CDX_ERR_TIMEOUT      over budget_ms
 *   CDX_ERR_NOMEM, CDX_ERR_INVAL (cap too small), CDX_ERR_INTERNAL (libvips) */
int cdx_preprocess_file(const cdx_preprocess *pp, const char *path, float *tensor, size_t cap,
                        cdx_preprocess_info *info, cdx_errbuf *eb);

/* The same for an encoded image in memory (e.g. a request's base64-decoded
 * body). data is borrowed for the call. name labels the input in messages
 * (NULL: "<buffer>"). */
int cdx_preprocess_buffer(const cdx_preprocess *pp, const void *data, size_t len, const char *name,
                          float *tensor, size_t cap, cdx_preprocess_info *info, cdx_errbuf *eb);

/* The 8-bit RGB image the tensor is made from (H * W * 3 bytes, row-major
 * HWC, padding pixels 0): what the model sees, before rescale and normalize.
 * For tests against Pillow and for showing users the model's view. */
int cdx_preprocess_file_rgb8(const cdx_preprocess *pp, const char *path, uint8_t *rgb, size_t cap,
                             cdx_preprocess_info *info, cdx_errbuf *eb);
int cdx_preprocess_buffer_rgb8(const cdx_preprocess *pp, const void *data, size_t len, const char *name,
                               uint8_t *rgb, size_t cap, cdx_preprocess_info *info, cdx_errbuf *eb);

/* rgb (H * W * 3, HWC) -> tensor (3 * H * W, CHW): x * rescale, then
 * (x - mean) / std, in float32 as Hugging Face computes it. */
void cdx_preprocess_normalize(const cdx_preprocess *pp, const uint8_t *rgb, float *tensor);

/* A small sRGB JPEG of the image for display (the server's cached thumbnails):
 * the longest side at most max_side pixels, EXIF orientation applied, alpha
 * flattened onto the contract's background, metadata stripped. Same limits and
 * errors as cdx_preprocess_buffer. *jpeg is malloc'd; caller frees with free(). */
int cdx_preprocess_thumbnail(const cdx_preprocess *pp, const void *data, size_t len, const char *name,
                             int32_t max_side, int32_t quality, uint8_t **jpeg, size_t *jpeg_len,
                             cdx_preprocess_info *info, cdx_errbuf *eb);

const char *cdx_preprocess_colour_name(enum cdx_preprocess_colour c);

/* Fills spec->image with a model family's Hugging Face processor defaults at
 * size x size (CLIP, as openai/clip-vit-base-patch32: shortest edge to size,
 * centre crop, OpenAI mean/std; SigLIP, as google/siglip-base-patch16-224:
 * straight to size x size, mean = std = 0.5), bicubic, white background. For
 * tools and tests that have no contract file; other fields are untouched. */
void cdx_preprocess_image_defaults(enum cdx_family family, int32_t size, cdx_contract_spec *spec);

#ifdef __cplusplus
}
#endif
#endif
