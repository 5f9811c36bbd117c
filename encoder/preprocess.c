/* Image preprocessing (preprocess.h): untrusted image bytes -> the model's
 * NCHW float32 input, as golden/README.md's Pillow reference computes it.
 *
 * Used by ingest's decode workers, the server's embed routes and `clipdex
 * embed` / `clipdex golden`. A cdx_preprocess is immutable after open and
 * shared by threads; every call owns its own decode state (a pp_job).
 *
 * How a call runs:
 *   1. limits: input bytes, then the header's claimed size (our own peek at
 *      PNG/JPEG/GIF/WebP headers, then libvips' header), before any pixel is
 *      decoded; loaders outside the allowlist are refused;
 *   2. geometry: the resize target and crop from the EXIF-oriented size, the
 *      Pillow weights for just the output pixels the crop keeps, and from them
 *      the rectangle of the stored image that is actually read;
 *   3. libvips decodes that rectangle row by row (sequential access,
 *      vips_sink_disc); each row becomes 8-bit RGB (alpha flattened) and goes
 *      straight into the first resampling pass, so the decoded image is never
 *      held whole. EXIF orientation is not a copy: it decides whether a stored
 *      row feeds the first pass along the row or across rows;
 *   4. the second pass, the crop (with HF's zero padding) and normalization.
 * Pillow runs its horizontal pass first and rounds to 8 bits between passes;
 * so does this, in the oriented frame, which is what makes it bit-exact. */
#include "encoder/preprocess.h"

#include "common/clock.h"
#include "common/escape.h"
#include "common/log.h"
#include "common/util.h"
#include "encoder/imghdr.h"
#include "encoder/resample.h"
#include "encoder/vips_env.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#define PP_NAME_MAX 200    /* escaped input name in messages */
#define PP_VIPS_MSG_MAX 200
#define PP_HEAD_BYTES 65536 /* bytes of a file peeked at before decoding */
#define PP_BLOCK_LINES 32   /* rows the horizontal pass handles at once */

struct cdx_preprocess {
    cdx_preprocess_params p;
    int32_t out_h, out_w;
    enum cdx_resize resize;
    int32_t resize_to;
    enum cdx_interp interp;
    enum cdx_crop crop;
    uint8_t bg[3];
    float lut[3][256]; /* normalized value of each 8-bit level, per channel */
};

cdx_preprocess_params cdx_preprocess_default_params(void)
{
    cdx_preprocess_params p;
    memset(&p, 0, sizeof p);
    p.max_bytes = (int64_t)128 << 20;
    p.max_pixels = 150000000;
    p.max_work_bytes = (int64_t)512 << 20;
    p.budget_ms = 10000;
    p.fail_on = CDX_PREPROCESS_FAIL_ON_TRUNCATED;
    p.shrink_on_load = 1;
    p.shrink_margin = 4.0;
    p.vips_concurrency = 1;
    p.resampler = CDX_PREPROCESS_RESAMPLER_PILLOW;
    return p;
}

const char *cdx_preprocess_colour_name(enum cdx_preprocess_colour c)
{
    static const char *names[] = {"rgb", "grey", "cmyk", "other"};
    return (unsigned)c < CDX_ARRAY_LEN(names) ? names[c] : "unknown";
}

void cdx_preprocess_image_defaults(enum cdx_family family, int32_t size, cdx_contract_spec *spec)
{
    static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    int clip = family == CDX_FAMILY_CLIP;
    spec->image.height = spec->image.width = size;
    spec->image.resize = clip ? CDX_RESIZE_SHORTEST_EDGE : CDX_RESIZE_EXACT;
    spec->image.resize_to = clip ? size : 0;
    spec->image.interpolation = CDX_INTERP_BICUBIC;
    spec->image.crop = clip ? CDX_CROP_CENTER : CDX_CROP_NONE;
    spec->image.rescale = 1.0 / 255.0;
    for (int c = 0; c < 3; c++) {
        spec->image.mean[c] = clip ? clip_mean[c] : 0.5f;
        spec->image.std[c] = clip ? clip_std[c] : 0.5f;
        spec->image.background[c] = 255;
    }
}

/* ---- open / close -------------------------------------------------------- */

int cdx_preprocess_open(const cdx_contract_spec *spec, const cdx_preprocess_params *params,
                        cdx_preprocess **out, cdx_errbuf *eb)
{
    *out = NULL;
    cdx_preprocess_params p = params ? *params : cdx_preprocess_default_params();
    if (p.max_bytes <= 0 || p.max_pixels <= 0 || p.max_work_bytes <= 0 || p.budget_ms < 0 ||
        p.vips_concurrency < 1 || p.vips_concurrency > 1024 || !(p.shrink_margin >= 1.0) ||
        (unsigned)p.fail_on > CDX_PREPROCESS_FAIL_ON_WARNING ||
        (unsigned)p.resampler > CDX_PREPROCESS_RESAMPLER_VIPS_RESIZE)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL,
                              "preprocess params: limits must be positive, budget_ms >= 0, "
                              "vips_concurrency 1..1024, shrink_margin >= 1");
    const char *cf = spec->file[0] ? spec->file : spec->id;
    if (spec->image.height < 1 || spec->image.width < 1 || spec->image.height > 16384 ||
        spec->image.width > 16384)
        return cdx_errbuf_set(eb, CDX_ERR_CONTRACT, "%s: image.size [%d, %d]: expected 1..16384 each", cf,
                              spec->image.height, spec->image.width);
    if (spec->image.resize == CDX_RESIZE_SHORTEST_EDGE) {
        if (spec->image.resize_to < 1 || spec->image.resize_to > 16384)
            return cdx_errbuf_set(eb, CDX_ERR_CONTRACT, "%s: image.resize_to %d: expected 1..16384", cf,
                                  spec->image.resize_to);
        if (spec->image.crop != CDX_CROP_CENTER)
            return cdx_errbuf_set(eb, CDX_ERR_CONTRACT,
                                  "%s: image.resize shortest_edge needs image.crop center "
                                  "(otherwise the tensor's size would depend on the image)",
                                  cf);
    } else if (spec->image.resize != CDX_RESIZE_EXACT) {
        return cdx_errbuf_set(eb, CDX_ERR_CONTRACT, "%s: image.resize: unknown mode %d", cf,
                              (int)spec->image.resize);
    }
    if ((unsigned)spec->image.interpolation > CDX_INTERP_NEAREST)
        return cdx_errbuf_set(eb, CDX_ERR_CONTRACT, "%s: image.interpolation: unknown value %d", cf,
                              (int)spec->image.interpolation);
    if (!(spec->image.rescale > 0) || !isfinite(spec->image.rescale))
        return cdx_errbuf_set(eb, CDX_ERR_CONTRACT, "%s: image.rescale %g: expected a positive number", cf,
                              spec->image.rescale);
    for (int c = 0; c < 3; c++)
        if (!(spec->image.std[c] != 0.0f) || !isfinite(spec->image.std[c]) || !isfinite(spec->image.mean[c]))
            return cdx_errbuf_set(eb, CDX_ERR_CONTRACT, "%s: image.std[%d] = %g, mean[%d] = %g: expected finite, std != 0",
                                  cf, c, (double)spec->image.std[c], c, (double)spec->image.mean[c]);
    int rc = cdx_vips_init(p.vips_concurrency, eb);
    if (rc != CDX_OK)
        return rc;

    cdx_preprocess *pp = calloc(1, sizeof *pp);
    if (!pp)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "preprocess: out of memory");
    pp->p = p;
    pp->out_h = spec->image.height;
    pp->out_w = spec->image.width;
    pp->resize = spec->image.resize;
    pp->resize_to = spec->image.resize_to;
    pp->interp = spec->image.interpolation;
    pp->crop = spec->image.crop;
    memcpy(pp->bg, spec->image.background, 3);
    /* Hugging Face: rescale in float64 then cast to float32; normalize in
     * float32 with float32 mean and std. */
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            float x = (float)((double)v * spec->image.rescale);
            float d = x - spec->image.mean[c];
            pp->lut[c][v] = d / spec->image.std[c];
        }
    *out = pp;
    return CDX_OK;
}

void cdx_preprocess_close(cdx_preprocess *pp) { free(pp); }

int32_t cdx_preprocess_height(const cdx_preprocess *pp) { return pp->out_h; }
int32_t cdx_preprocess_width(const cdx_preprocess *pp) { return pp->out_w; }
size_t cdx_preprocess_tensor_floats(const cdx_preprocess *pp) { return (size_t)3 * pp->out_h * pp->out_w; }

void cdx_preprocess_normalize(const cdx_preprocess *pp, const uint8_t *rgb, float *tensor)
{
    size_t plane = (size_t)pp->out_h * pp->out_w;
    for (int c = 0; c < 3; c++) {
        const float *lut = pp->lut[c];
        float *o = tensor + (size_t)c * plane;
        for (size_t i = 0; i < plane; i++)
            o[i] = lut[rgb[i * 3 + c]];
    }
}

/* ---- one call's state ---------------------------------------------------- */

/* The input: a file descriptor we opened, or caller memory. */
typedef struct pp_input {
    const uint8_t *data; /* buffer input, or NULL */
    size_t len;
    int fd;              /* file input, or -1 */
    int64_t bytes;
    const uint8_t *head; /* the first head_len bytes, for the header peek */
    size_t head_len;
    uint8_t *head_buf;   /* owned copy for files */
} pp_input;

typedef struct pp_job {
    const cdx_preprocess *pp;
    cdx_preprocess_info *info;
    cdx_errbuf *eb;
    char name[PP_NAME_MAX + 8]; /* escaped, for messages */
    int64_t t0, deadline;       /* deadline 0: no budget */
    int timed_out;

    /* decoded pixel layout */
    enum cdx_preprocess_colour colour;
    int bands, is16, alpha;
    int fallback; /* libvips converts to 8-bit sRGB first */

    /* geometry, in the oriented frame */
    int swap, revx, revy;
    int32_t rw, rh;          /* the stored-image rectangle read */
    int32_t X0, XW, Y0, YH;  /* oriented input window that feeds the crop */
    int32_t rsz_w, rsz_h;    /* resize target */
    int32_t crop_x, crop_y;  /* crop origin in the resized image (may be negative) */
    int32_t col0, ncols, row0, nrows; /* resized pixels inside the crop */
    cdx_resample_axis hx, vy;

    /* pass buffers */
    uint8_t *line;        /* one converted row, rw pixels */
    uint8_t *tmp;         /* YH rows x ncols pixels after the first pass */
    size_t tstride;
    int32_t *acc;         /* transposed first pass: ncols x YH x 3 sums */
    int32_t *cstart, *cj, *ck; /* transposed first pass: per oriented x, (output, weight) */
    uint8_t *raw;         /* libvips resamplers: the whole converted image */
    uint8_t *cols;        /* a block of rows, column-major, then the same rows planar */
    int32_t *bacc;        /* its sums: 3 x PP_BLOCK_LINES */
} pp_job;

static void unref(void *object)
{
    if (object)
        g_object_unref(object);
}

static void job_free(pp_job *j)
{
    cdx_resample_axis_free(&j->hx);
    cdx_resample_axis_free(&j->vy);
    CDX_FREE(j->line);
    CDX_FREE(j->tmp);
    CDX_FREE(j->acc);
    CDX_FREE(j->cstart);
    CDX_FREE(j->cj);
    CDX_FREE(j->ck);
    CDX_FREE(j->raw);
    CDX_FREE(j->cols);
    CDX_FREE(j->bacc);
}

/* "decode failed: NAME: damaged or truncated JPEG (fail_on=truncated):
 * <libvips' words>; <advice>" */
static int job_vips_error(pp_job *j, int code, const char *what, const char *advice)
{
    char vmsg[PP_VIPS_MSG_MAX], fmt[sizeof j->info->format];
    cdx_vips_error_take(vmsg, sizeof vmsg);
    size_t i = 0;
    for (; j->info->format[i]; i++)
        fmt[i] = (char)toupper((unsigned char)j->info->format[i]);
    fmt[i] = '\0';
    static const char *fail_on_names[] = {" (fail_on=truncated)", " (fail_on=error)", " (fail_on=warning)"};
    int decode = code == CDX_ERR_DECODE;
    return cdx_errbuf_set(j->eb, code, "%s: %s: %s %s%s%s%s; %s", what, j->name,
                          decode ? "damaged or truncated" : "cannot process", fmt[0] ? fmt : "image",
                          decode ? fail_on_names[j->pp->p.fail_on] : "", vmsg[0] ? ": " : "", vmsg, advice);
}

static int job_timeout(pp_job *j)
{
    cdx_vips_error_drop();
    return cdx_errbuf_set(j->eb, CDX_ERR_TIMEOUT,
                          "decode timed out: %s: stopped after %.0f ms, over the %d ms budget (budget_ms); "
                          "the image is too slow to decode (huge or hostile); shrink it or raise the budget",
                          j->name, cdx_ns_to_ms(cdx_clock_ns() - j->t0), j->pp->p.budget_ms);
}

/* ---- input: limits and the first look at the bytes --------------------- */

static int input_open_file(pp_job *j, const char *path, pp_input *in)
{
    /* O_NONBLOCK: opening a FIFO must not hang the worker; cleared below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return cdx_errbuf_set(j->eb, CDX_ERR_NOTFOUND, "cannot open %s: no such file; check the path", j->name);
        if (e == EACCES || e == EPERM)
            return cdx_errbuf_set(j->eb, CDX_ERR_IO,
                                  "cannot open %s: permission denied; make it readable by the user running clipdex",
                                  j->name);
        if (e == ENOMEM)
            return cdx_errbuf_set(j->eb, CDX_ERR_NOMEM, "cannot open %s: out of memory", j->name);
        return cdx_errbuf_set(j->eb, CDX_ERR_IO, "cannot open %s: %s", j->name, strerror(e));
    }
    in->fd = fd;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return cdx_errbuf_set(j->eb, CDX_ERR_IO, "cannot stat %s: %s", j->name, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cdx_errbuf_set(j->eb, CDX_ERR_UNSUPPORTED, "not a regular file: %s (%s); give an image file",
                              j->name, S_ISDIR(st.st_mode) ? "a directory" : "a device, FIFO or socket");
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    in->bytes = (int64_t)st.st_size;
    if (in->bytes > 0 && in->bytes <= j->pp->p.max_bytes) {
        size_t want = in->bytes < PP_HEAD_BYTES ? (size_t)in->bytes : PP_HEAD_BYTES;
        in->head_buf = malloc(want);
        if (!in->head_buf)
            return cdx_errbuf_set(j->eb, CDX_ERR_NOMEM, "preprocess %s: out of memory", j->name);
        ssize_t got = pread(fd, in->head_buf, want, 0);
        if (got < 0)
            return cdx_errbuf_set(j->eb, CDX_ERR_IO, "cannot read %s: %s", j->name, strerror(errno));
        in->head = in->head_buf;
        in->head_len = (size_t)got;
    }
    return CDX_OK;
}

static void input_close(pp_input *in)
{
    if (in->fd >= 0)
        close(in->fd);
    in->fd = -1;
    CDX_FREE(in->head_buf);
}

static VipsSource *input_source(const pp_input *in)
{
    return in->fd >= 0 ? vips_source_new_from_descriptor(in->fd) : vips_source_new_from_memory(in->data, in->len);
}

static int check_pixels(pp_job *j, int64_t w, int64_t h, const char *who)
{
    if (w > 0 && h > 0 && w <= j->pp->p.max_pixels / h)
        return CDX_OK;
    if (w <= 0 || h <= 0)
        return cdx_errbuf_set(j->eb, CDX_ERR_DECODE, "decode failed: %s: %s claims %lldx%lld pixels; the file is corrupt",
                              j->name, who, (long long)w, (long long)h);
    return cdx_errbuf_set(j->eb, CDX_ERR_TOOBIG,
                          "image too large: %s: %s claims %lldx%lld (%.1f MP), over the %.1f MP limit (max_pixels); "
                          "downscale it first or raise the limit",
                          j->name, who, (long long)w, (long long)h, (double)w * (double)h / 1e6,
                          (double)j->pp->p.max_pixels / 1e6);
}

/* Limits and format checks that need no decoder, then libvips' header read.
 * On success *src and *im are owned by the caller. */
static int job_load_header(pp_job *j, const pp_input *in, VipsSource **src_out, VipsImage **im_out)
{
    *src_out = NULL;
    *im_out = NULL;
    cdx_preprocess_info *info = j->info;
    const cdx_preprocess_params *p = &j->pp->p;
    info->bytes = in->bytes;
    if (in->bytes > p->max_bytes)
        return cdx_errbuf_set(j->eb, CDX_ERR_TOOBIG,
                              "image too large: %s: %lld bytes, over the %lld byte limit (max_bytes); "
                              "downscale or recompress it, or raise the limit",
                              j->name, (long long)in->bytes, (long long)p->max_bytes);
    if (in->bytes == 0)
        return cdx_errbuf_set(j->eb, CDX_ERR_DECODE,
                              "decode failed: %s: empty file (0 bytes); the copy or download did not finish", j->name);

    cdx_imghdr hdr;
    if (cdx_imghdr_peek(in->head, in->head_len, &hdr)) {
        snprintf(info->format, sizeof info->format, "%s", hdr.format);
        if (hdr.has_size) {
            int rc = check_pixels(j, hdr.width, hdr.height, "the header");
            if (rc != CDX_OK)
                return rc;
        }
    }

    VipsSource *src = input_source(in);
    if (!src)
        return job_vips_error(j, CDX_ERR_IO, "cannot read", "check the file");
    const char *loader = vips_foreign_find_load_source(src);
    if (!loader) {
        cdx_vips_error_drop();
        g_object_unref(src);
        if (hdr.format) /* our magic matched but libvips' sniffer did not: damaged */
            return cdx_errbuf_set(j->eb, CDX_ERR_DECODE,
                                  "decode failed: %s: %s header is damaged; re-export or re-download the file",
                                  j->name, hdr.format);
        const char *looks = cdx_imghdr_sniff_other(in->head, in->head_len);
        return cdx_errbuf_set(j->eb, CDX_ERR_UNSUPPORTED,
                              "unsupported image: %s: not a format clipdex decodes (JPEG, PNG, WebP, TIFF, GIF, "
                              "HEIF/AVIF, JPEG XL)%s%s%s; convert it to JPEG or PNG",
                              j->name, looks ? "; it looks like " : "", looks ? (strcmp(looks, "text") == 0 ? "a " : "") : "",
                              looks ? (strcmp(looks, "text") == 0 ? "text file" : looks) : "");
    }
    const char *format = cdx_vips_allowed_format(loader);
    if (!format) {
        char shortname[32];
        cdx_vips_loader_short_name(loader, shortname, sizeof shortname);
        g_object_unref(src);
        return cdx_errbuf_set(j->eb, CDX_ERR_UNSUPPORTED,
                              "unsupported image: %s: %s files are not accepted (the libvips loader %sload is "
                              "blocked as untrusted or unlisted); convert it to JPEG or PNG",
                              j->name, shortname, shortname);
    }
    snprintf(info->format, sizeof info->format, "%s", format);

    static const VipsFailOn fail_on[] = {VIPS_FAIL_ON_TRUNCATED, VIPS_FAIL_ON_ERROR, VIPS_FAIL_ON_WARNING};
    VipsImage *im = vips_image_new_from_source(src, "", "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                               fail_on[p->fail_on], NULL);
    if (!im) {
        g_object_unref(src);
        return job_vips_error(j, CDX_ERR_DECODE, "decode failed",
                              "re-export or re-download the file");
    }
    const char *ln = NULL;
    if (vips_image_get_typeof(im, "vips-loader") && vips_image_get_string(im, "vips-loader", &ln) == 0 && ln)
        snprintf(info->loader, sizeof info->loader, "%s", ln);
    info->width = vips_image_get_width(im);
    info->height = vips_image_get_height(im);
    info->pages = vips_image_get_n_pages(im);
    info->orientation = vips_image_get_orientation(im);
    int rc = check_pixels(j, info->width, info->height, "the header");
    if (rc != CDX_OK) {
        g_object_unref(im);
        g_object_unref(src);
        return rc;
    }
    *src_out = src;
    *im_out = im;
    return CDX_OK;
}

/* ---- geometry ------------------------------------------------------------- */

/* Python's floor division, for HF's crop offsets. */
static int32_t floordiv2(int32_t a) { return a >= 0 ? a / 2 : -((-a + 1) / 2); }

/* The resize target from the oriented size, as Hugging Face computes it. */
static void resize_target(const cdx_preprocess *pp, int64_t w, int64_t h, int32_t *rw, int32_t *rh)
{
    if (pp->resize == CDX_RESIZE_EXACT) {
        *rw = pp->out_w;
        *rh = pp->out_h;
        return;
    }
    /* get_resize_output_image_size(default_to_square=False):
     * new_long = int(size * long / short), in float64 */
    int64_t s = w <= h ? w : h, l = w <= h ? h : w;
    double nl = (double)((int64_t)pp->resize_to * l) / (double)s;
    int32_t new_long = nl >= (double)INT32_MAX ? INT32_MAX : (int32_t)nl;
    *rw = w <= h ? pp->resize_to : new_long;
    *rh = w <= h ? new_long : pp->resize_to;
}

/* Orientation as three flags: does a stored row become an oriented column
 * (swap), and is the oriented x / y axis reversed relative to the stored axis
 * it comes from. Matches ImageOps.exif_transpose. */
static void orientation_flags(int o, int *swap, int *revx, int *revy)
{
    static const int8_t t[9][3] = {
        {0, 0, 0}, {0, 0, 0}, {0, 1, 0}, {0, 1, 1}, {0, 0, 1}, /* 1 none, 2 mirror, 3 rot180, 4 flip */
        {1, 0, 0}, {1, 1, 0}, {1, 1, 1}, {1, 0, 1},            /* 5 transpose, 6 rot90cw, 7 transverse, 8 rot270cw */
    };
    if (o < 1 || o > 8)
        o = 1;
    *swap = t[o][0];
    *revx = t[o][1];
    *revy = t[o][2];
}

/* Largest JPEG/WebP shrink-on-load factor the margin allows: the decoded
 * image must keep >= margin pixels per resized pixel on both axes. */
static int choose_shrink(const cdx_preprocess *pp, const char *format, int64_t ow, int64_t oh, int32_t rw,
                         int32_t rh)
{
    if (!pp->p.shrink_on_load || pp->p.resampler != CDX_PREPROCESS_RESAMPLER_PILLOW)
        return 1;
    if (strcmp(format, "jpeg") != 0 && strcmp(format, "webp") != 0)
        return 1;
    double f = CDX_MIN((double)ow / rw, (double)oh / rh);
    for (int s = 8; s >= 2; s /= 2)
        if ((double)s * pp->p.shrink_margin <= f)
            return s;
    return 1;
}

/* ---- pixel conversion: one stored row -> 8-bit RGB ----------------------- */

static inline uint8_t div255(uint32_t a)
{
    uint32_t t = a + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

/* Pillow's paste(mask=alpha): round((bg * (255 - a) + c * a) / 255). */
static inline uint8_t blend(uint8_t bg, uint8_t c, uint8_t a)
{
    return div255((uint32_t)bg * (255u - a) + (uint32_t)c * a);
}

/* Pillow's cmyk2rgb: (255 - k) - round(c * (255 - k) / 255), clipped. */
static inline uint8_t cmyk_channel(uint8_t c, uint8_t k)
{
    int nk = 255 - k;
    int v = nk - div255((uint32_t)c * (uint32_t)nk);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* 16 -> 8 bits: round(v / 257), scaling rather than truncating. */
static inline uint8_t from16(uint16_t v) { return (uint8_t)(((uint32_t)v + 128) / 257); }

/* One stored row -> 8-bit RGB in three planes (dst, dst + n, dst + 2n). */
static void convert_row(const pp_job *j, const void *src, uint8_t *dst, int32_t n)
{
    const uint8_t *bg = j->pp->bg;
    const int b = j->bands;
    uint8_t *r = dst, *g = dst + n, *bl = dst + 2 * (size_t)n;
    if (!j->is16 && j->colour == CDX_PREPROCESS_COLOUR_RGB && !j->alpha) {
        const uint8_t *s = src;
        for (int32_t x = 0; x < n; x++, s += 3)
            r[x] = s[0], g[x] = s[1], bl[x] = s[2];
        return;
    }
    if (!j->is16 && j->colour == CDX_PREPROCESS_COLOUR_RGB && b == 4) {
        const uint8_t *s = src;
        for (int32_t x = 0; x < n; x++, s += 4) {
            r[x] = blend(bg[0], s[0], s[3]);
            g[x] = blend(bg[1], s[1], s[3]);
            bl[x] = blend(bg[2], s[2], s[3]);
        }
        return;
    }
    const uint8_t *s8 = src;
    const uint16_t *s16 = src;
    for (int32_t x = 0; x < n; x++) {
        uint8_t v[5];
        for (int c = 0; c < b; c++)
            v[c] = j->is16 ? from16(s16[(size_t)x * b + c]) : s8[(size_t)x * b + c];
        uint8_t cr, cg, cb;
        int ai;
        if (j->colour == CDX_PREPROCESS_COLOUR_GREY) {
            cr = cg = cb = v[0];
            ai = 1;
        } else if (j->colour == CDX_PREPROCESS_COLOUR_CMYK) {
            cr = cmyk_channel(v[0], v[3]);
            cg = cmyk_channel(v[1], v[3]);
            cb = cmyk_channel(v[2], v[3]);
            ai = 4;
        } else {
            cr = v[0], cg = v[1], cb = v[2];
            ai = 3;
        }
        if (j->alpha) {
            cr = blend(bg[0], cr, v[ai]);
            cg = blend(bg[1], cg, v[ai]);
            cb = blend(bg[2], cb, v[ai]);
        }
        r[x] = cr, g[x] = cg, bl[x] = cb;
    }
}

static void reverse_planes(uint8_t *p, int32_t n)
{
    for (int c = 0; c < 3; c++, p += n)
        for (int32_t a = 0, b = n - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* ---- the streaming first pass --------------------------------------------- */

static void job_row(pp_job *j, int32_t y, const void *src)
{
    const int32_t n = j->rw;
    convert_row(j, src, j->line, n);
    if (j->raw) { /* libvips resamplers: keep the whole image, interleaved */
        uint8_t *o = j->raw + (size_t)y * n * 3;
        for (int32_t x = 0; x < n; x++)
            for (int c = 0; c < 3; c++)
                o[x * 3 + c] = j->line[(size_t)c * n + x];
        return;
    }
    /* A stored row is an oriented column (at oriented x = xl): it adds its
     * weighted pixels to every horizontal-pass output whose window holds xl.
     * Sums are kept per output, per channel, along oriented y (n == YH). */
    int32_t xl = j->revx ? j->rh - 1 - y : y;
    if (j->revy)
        reverse_planes(j->line, n);
    size_t per_out = (size_t)j->YH * 3;
    for (int32_t e = j->cstart[xl]; e < j->cstart[xl + 1]; e++)
        for (int c = 0; c < 3; c++)
            cdx_resample_accumulate(j->acc + (size_t)j->cj[e] * per_out + (size_t)c * j->YH, j->ck[e],
                                    j->line + (size_t)c * n, j->YH);
}

/* Unrotated (or only mirrored) images: a strip of stored rows is a strip of
 * oriented rows. Converts them PP_BLOCK_LINES at a time, lays them out
 * column-major, and runs the horizontal pass over the block at once. */
static void job_strip(pp_job *j, VipsRegion *region, const VipsRect *area)
{
    const int32_t n = j->rw;
    uint8_t *rows = j->cols + (size_t)n * 3 * PP_BLOCK_LINES; /* the block's planar rows */
    for (int32_t top = area->top; top < area->top + area->height; top += PP_BLOCK_LINES) {
        const int32_t nl = CDX_MIN(PP_BLOCK_LINES, area->top + area->height - top);
        for (int32_t r = 0; r < nl; r++) {
            uint8_t *line = rows + (size_t)r * 3 * n;
            convert_row(j, VIPS_REGION_ADDR(region, area->left, top + r), line, n);
            if (j->revx)
                reverse_planes(line, n);
        }
        /* Transpose in tiles of 32 columns so the writes stay in cache. */
        const size_t col = (size_t)3 * nl;
        for (int32_t x0 = 0; x0 < n; x0 += 32) {
            int32_t x1 = CDX_MIN(x0 + 32, n);
            for (int32_t r = 0; r < nl; r++)
                for (int c = 0; c < 3; c++) {
                    const uint8_t *pl = rows + (size_t)r * 3 * n + (size_t)c * n;
                    uint8_t *dst = j->cols + (size_t)c * nl + r;
                    for (int32_t x = x0; x < x1; x++)
                        dst[(size_t)x * col] = pl[x];
                }
        }
        int32_t yl0 = j->revy ? j->rh - 1 - top : top;
        ptrdiff_t stride = j->revy ? -(ptrdiff_t)j->tstride : (ptrdiff_t)j->tstride;
        cdx_resample_block(&j->hx, j->X0, j->cols, nl, j->bacc, j->tmp + (size_t)yl0 * j->tstride, stride);
    }
}

static int job_write(VipsRegion *region, VipsRect *area, void *a)
{
    pp_job *j = a;
    if (j->deadline && cdx_clock_ns() > j->deadline) {
        j->timed_out = 1;
        return -1;
    }
    if (!j->swap && !j->raw) {
        job_strip(j, region, area);
        return 0;
    }
    for (int y = area->top; y < area->top + area->height; y++)
        job_row(j, y, VIPS_REGION_ADDR(region, area->left, y));
    return 0;
}

static void job_eval(VipsImage *image, VipsProgress *progress, void *a)
{
    (void)progress;
    pp_job *j = a;
    if (j->deadline && cdx_clock_ns() > j->deadline) {
        j->timed_out = 1;
        vips_image_set_kill(image, TRUE);
    }
}

/* Buffers and the per-x contribution lists for the first pass. */
static int job_alloc_passes(pp_job *j)
{
    size_t tbytes = (size_t)j->YH * (size_t)j->ncols * 3;
    size_t accbytes = j->swap ? tbytes * sizeof(int32_t) : 0;
    size_t blockbytes = j->swap ? 0 : (size_t)j->rw * 6 * PP_BLOCK_LINES;
    if ((double)tbytes + (double)accbytes + (double)blockbytes + (double)j->rw * 3 >
        (double)j->pp->p.max_work_bytes)
        return cdx_errbuf_set(j->eb, CDX_ERR_TOOBIG,
                              "image too large: %s: %dx%d is too elongated to resample exactly within %lld MiB "
                              "(max_work_bytes); crop or pad it first",
                              j->name, j->info->width, j->info->height, (long long)(j->pp->p.max_work_bytes >> 20));
    j->line = malloc((size_t)j->rw * 3);
    j->tstride = (size_t)j->ncols * 3;
    j->tmp = malloc(tbytes ? tbytes : 1);
    if (!j->line || !j->tmp)
        return cdx_errbuf_set(j->eb, CDX_ERR_NOMEM, "preprocess %s: out of memory", j->name);
    if (!j->swap) {
        j->cols = malloc(blockbytes);
        j->bacc = malloc(3 * PP_BLOCK_LINES * sizeof *j->bacc);
        if (!j->cols || !j->bacc)
            return cdx_errbuf_set(j->eb, CDX_ERR_NOMEM, "preprocess %s: out of memory", j->name);
        return CDX_OK;
    }
    j->acc = malloc(accbytes ? accbytes : 1);
    size_t ne = 0;
    for (int32_t c = 0; c < j->hx.n; c++)
        ne += (size_t)j->hx.count[c];
    j->cstart = calloc((size_t)j->XW + 1, sizeof *j->cstart);
    j->cj = malloc((ne ? ne : 1) * sizeof *j->cj);
    j->ck = malloc((ne ? ne : 1) * sizeof *j->ck);
    if (!j->acc || !j->cstart || !j->cj || !j->ck)
        return cdx_errbuf_set(j->eb, CDX_ERR_NOMEM, "preprocess %s: out of memory", j->name);
    for (size_t q = 0; q < tbytes; q++)
        j->acc[q] = CDX_RESAMPLE_ROUND;
    /* counting sort of (x, output, weight) by x */
    for (int32_t c = 0; c < j->hx.n; c++)
        for (int32_t t = 0; t < j->hx.count[c]; t++)
            j->cstart[j->hx.start[c] + t - j->X0 + 1]++;
    for (int32_t x = 0; x < j->XW; x++)
        j->cstart[x + 1] += j->cstart[x];
    int32_t *fill = calloc((size_t)j->XW, sizeof *fill);
    if (!fill)
        return cdx_errbuf_set(j->eb, CDX_ERR_NOMEM, "preprocess %s: out of memory", j->name);
    for (int32_t c = 0; c < j->hx.n; c++)
        for (int32_t t = 0; t < j->hx.count[c]; t++) {
            int32_t x = j->hx.start[c] + t - j->X0;
            int32_t e = j->cstart[x] + fill[x]++;
            j->cj[e] = c;
            j->ck[e] = j->hx.k[(size_t)c * j->hx.ksize + t];
        }
    free(fill);
    return CDX_OK;
}

/* Classifies the decoded layout; anything outside 8/16-bit grey, RGB and CMYK
 * (with or without alpha) goes through libvips' own conversion to sRGB. */
static void job_classify(pp_job *j, VipsImage *im)
{
    VipsBandFormat f = vips_image_get_format(im);
    VipsInterpretation it = vips_image_get_interpretation(im);
    int b = vips_image_get_bands(im);
    j->info->bands = b;
    j->info->bits = f == VIPS_FORMAT_UCHAR ? 8 : f == VIPS_FORMAT_USHORT ? 16 : 0;
    j->is16 = f == VIPS_FORMAT_USHORT;
    j->bands = b;
    int known_fmt = f == VIPS_FORMAT_UCHAR || f == VIPS_FORMAT_USHORT;
    if (known_fmt && it == VIPS_INTERPRETATION_CMYK && (b == 4 || b == 5)) {
        j->colour = CDX_PREPROCESS_COLOUR_CMYK;
        j->alpha = b == 5;
    } else if (known_fmt && (it == VIPS_INTERPRETATION_sRGB || it == VIPS_INTERPRETATION_RGB ||
                             it == VIPS_INTERPRETATION_RGB16 || it == VIPS_INTERPRETATION_B_W ||
                             it == VIPS_INTERPRETATION_GREY16 || it == VIPS_INTERPRETATION_MULTIBAND) &&
               b >= 1 && b <= 4) {
        j->colour = b <= 2 ? CDX_PREPROCESS_COLOUR_GREY : CDX_PREPROCESS_COLOUR_RGB;
        j->alpha = b == 2 || b == 4;
    } else {
        j->fallback = 1;
        j->colour = CDX_PREPROCESS_COLOUR_OTHER;
        j->alpha = vips_image_hasalpha(im);
    }
    j->info->colour = j->colour;
    j->info->has_alpha = j->alpha;
}

/* libvips' conversion for layouts we do not handle ourselves (Lab, float,
 * 32-bit, ...): to sRGB, 8 bits; then the layout is RGB or RGBA. */
static int job_fallback(pp_job *j, VipsImage **im)
{
    VipsImage *a = NULL, *b = NULL;
    if (vips_colourspace(*im, &a, VIPS_INTERPRETATION_sRGB, NULL) != 0 ||
        vips_cast(a, &b, VIPS_FORMAT_UCHAR, NULL) != 0) {
        if (a)
            g_object_unref(a);
        return job_vips_error(j, CDX_ERR_UNSUPPORTED, "unsupported image",
                              "its pixel layout cannot be converted to RGB; convert it to 8-bit RGB");
    }
    g_object_unref(a);
    int nb = vips_image_get_bands(b);
    if (nb != 3 && nb != 4) {
        g_object_unref(b);
        return cdx_errbuf_set(j->eb, CDX_ERR_UNSUPPORTED,
                              "unsupported image: %s: %d bands after conversion to sRGB; convert it to 8-bit RGB",
                              j->name, nb);
    }
    g_object_unref(*im);
    *im = b;
    j->bands = nb;
    j->is16 = 0;
    j->colour = CDX_PREPROCESS_COLOUR_RGB;
    j->alpha = nb == 4;
    j->info->has_alpha = j->alpha;
    return CDX_OK;
}

/* Runs libvips over im (the rectangle to read) into the first pass. */
/* Runs libvips over im (the rectangle to read) into the first pass: its
 * threadpool decodes strips in order while our callback consumes them; the
 * eval signal and our callback both check the budget. (Pulling strips with
 * vips_region_prepare in the calling thread measured the same speed.) */
static int job_sink(pp_job *j, VipsImage *im)
{
    vips_image_set_progress(im, TRUE);
    g_signal_connect(im, "eval", G_CALLBACK(job_eval), j);
    int failed = vips_sink_disc(im, job_write, j);
    if (j->timed_out)
        return job_timeout(j);
    if (failed)
        return job_vips_error(j, CDX_ERR_DECODE, "decode failed", "re-export or re-download the file");
    return CDX_OK;
}

/* libvips resamplers (for measurement): orient, resize, cut the crop window. */
static int job_vips_resample(pp_job *j, int orientation, uint8_t *out8)
{
    int rc = CDX_OK;
    VipsImage *m = NULL, *o = NULL, *r = NULL, *c = NULL;
    void *mem = NULL;
    m = vips_image_new_from_memory(j->raw, (size_t)j->rw * j->rh * 3, j->rw, j->rh, 3, VIPS_FORMAT_UCHAR);
    if (!m)
        goto vips_failed;
    vips_image_set_int(m, VIPS_META_ORIENTATION, orientation);
    if (vips_autorot(m, &o, NULL) != 0)
        goto vips_failed;
    double hs = (double)vips_image_get_width(o) / j->rsz_w, vs = (double)vips_image_get_height(o) / j->rsz_h;
    int fail = j->pp->p.resampler == CDX_PREPROCESS_RESAMPLER_VIPS_REDUCE && hs >= 1 && vs >= 1
                   ? vips_reduce(o, &r, hs, vs, "kernel", VIPS_KERNEL_CUBIC, NULL)
                   : vips_resize(o, &r, 1.0 / hs, "vscale", 1.0 / vs, "kernel", VIPS_KERNEL_CUBIC, NULL);
    if (fail)
        goto vips_failed;
    /* libvips rounds output sizes its own way; clamp the crop window to it. */
    int32_t cw = CDX_MIN(j->ncols, vips_image_get_width(r) - j->col0);
    int32_t ch = CDX_MIN(j->nrows, vips_image_get_height(r) - j->row0);
    if (cw < 1 || ch < 1 ||
        vips_embed(r, &c, -j->col0, -j->row0, j->ncols, j->nrows, "extend", VIPS_EXTEND_COPY, NULL) != 0)
        goto vips_failed;
    size_t sz = 0;
    mem = vips_image_write_to_memory(c, &sz);
    if (!mem || sz != (size_t)j->ncols * j->nrows * 3)
        goto vips_failed;
    memcpy(out8, mem, sz);
    goto done;
vips_failed:
    rc = job_vips_error(j, CDX_ERR_INTERNAL, "libvips resize failed", "use the pillow resampler");
done:
    g_free(mem);
    unref(c);
    unref(r);
    unref(o);
    unref(m);
    return rc;
}

/* The whole pipeline for one input; writes the crop as 8-bit RGB into rgb
 * (out_h * out_w * 3). */
static int job_run(pp_job *j, const pp_input *in, uint8_t *rgb)
{
    const cdx_preprocess *pp = j->pp;
    cdx_preprocess_info *info = j->info;
    VipsSource *src = NULL;
    VipsImage *im = NULL, *rect = NULL;
    uint8_t *out8 = NULL;
    int rc = job_load_header(j, in, &src, &im);
    if (rc != CDX_OK)
        goto done;

    /* Geometry in the oriented frame, from the full stored size. */
    int orientation = info->orientation;
    orientation_flags(orientation, &j->swap, &j->revx, &j->revy);
    int64_t ow = j->swap ? info->height : info->width, oh = j->swap ? info->width : info->height;
    resize_target(pp, ow, oh, &j->rsz_w, &j->rsz_h);
    info->resized_width = j->rsz_w;
    info->resized_height = j->rsz_h;
    j->crop_x = pp->crop == CDX_CROP_CENTER ? floordiv2(j->rsz_w - pp->out_w) : 0;
    j->crop_y = pp->crop == CDX_CROP_CENTER ? floordiv2(j->rsz_h - pp->out_h) : 0;
    j->col0 = CDX_MAX(j->crop_x, 0);
    j->ncols = CDX_MIN(j->crop_x + pp->out_w, j->rsz_w) - j->col0;
    j->row0 = CDX_MAX(j->crop_y, 0);
    j->nrows = CDX_MIN(j->crop_y + pp->out_h, j->rsz_h) - j->row0;
    CDX_ASSERT(j->ncols >= 1 && j->nrows >= 1);

    /* Shrink-on-load: decode a JPEG or WebP at 1/s scale when it is far
     * larger than the target. The resize then maps the original extent
     * (JPEG: W / s, the decoder's own geometry) onto the target. */
    info->shrink = choose_shrink(pp, info->format, ow, oh, j->rsz_w, j->rsz_h);
    double ext_w = (double)ow, ext_h = (double)oh;
    if (info->shrink > 1) {
        char opt[32];
        int jpeg = strcmp(info->format, "jpeg") == 0;
        if (jpeg)
            snprintf(opt, sizeof opt, "shrink=%d", info->shrink);
        else
            snprintf(opt, sizeof opt, "scale=%.17g", 1.0 / info->shrink);
        g_object_unref(im);
        g_object_unref(src);
        im = NULL;
        src = input_source(in);
        static const VipsFailOn fail_on[] = {VIPS_FAIL_ON_TRUNCATED, VIPS_FAIL_ON_ERROR, VIPS_FAIL_ON_WARNING};
        im = src ? vips_image_new_from_source(src, opt, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                              fail_on[pp->p.fail_on], NULL)
                 : NULL;
        if (!im) {
            rc = job_vips_error(j, CDX_ERR_DECODE, "decode failed",
                                "re-export or re-download the file");
            goto done;
        }
        int32_t dw = vips_image_get_width(im), dh = vips_image_get_height(im);
        int64_t dow = j->swap ? dh : dw, doh = j->swap ? dw : dh;
        /* libjpeg's scaled IDCT covers the original's extent W / s; libwebp's
         * rescaler maps the whole original onto the decoded size. */
        ext_w = jpeg ? (double)ow / info->shrink : (double)dow;
        ext_h = jpeg ? (double)oh / info->shrink : (double)doh;
        if (ext_w > dow)
            ext_w = (double)dow;
        if (ext_h > doh)
            ext_h = (double)doh;
    }
    int32_t dw = vips_image_get_width(im), dh = vips_image_get_height(im);
    info->decoded_width = dw;
    info->decoded_height = dh;
    int32_t dow = j->swap ? dh : dw, doh = j->swap ? dw : dh;
    if (j->deadline && cdx_clock_ns() > j->deadline) {
        rc = job_timeout(j);
        goto done;
    }

    job_classify(j, im);
    if (j->fallback && (rc = job_fallback(j, &im)) != CDX_OK)
        goto done;

    if (cdx_resample_axis_init(&j->hx, pp->interp, dow, 0.0, ext_w, j->rsz_w, j->col0, j->ncols) != 0 ||
        cdx_resample_axis_init(&j->vy, pp->interp, doh, 0.0, ext_h, j->rsz_h, j->row0, j->nrows) != 0) {
        rc = cdx_errbuf_set(j->eb, CDX_ERR_TOOBIG,
                            "image too large: %s: cannot resample %dx%d to %dx%d within memory; downscale it first",
                            j->name, dow, doh, j->rsz_w, j->rsz_h);
        goto done;
    }
    if (pp->p.resampler == CDX_PREPROCESS_RESAMPLER_PILLOW) {
        j->X0 = j->hx.in_lo, j->XW = j->hx.in_hi - j->hx.in_lo;
        j->Y0 = j->vy.in_lo, j->YH = j->vy.in_hi - j->vy.in_lo;
    } else {
        j->X0 = 0, j->XW = dow, j->Y0 = 0, j->YH = doh;
    }
    /* The stored rectangle that holds the oriented window. */
    int32_t rx, ry;
    if (!j->swap) {
        rx = j->revx ? dw - j->X0 - j->XW : j->X0, j->rw = j->XW;
        ry = j->revy ? dh - j->Y0 - j->YH : j->Y0, j->rh = j->YH;
    } else {
        ry = j->revx ? dh - j->X0 - j->XW : j->X0, j->rh = j->XW;
        rx = j->revy ? dw - j->Y0 - j->YH : j->Y0, j->rw = j->YH;
    }
    if (pp->p.resampler != CDX_PREPROCESS_RESAMPLER_PILLOW) {
        if ((double)j->rw * j->rh * 3 > (double)pp->p.max_work_bytes) {
            rc = cdx_errbuf_set(j->eb, CDX_ERR_TOOBIG, "image too large: %s: the libvips resamplers need the whole "
                                "image in memory, over max_work_bytes", j->name);
            goto done;
        }
        j->raw = malloc((size_t)j->rw * j->rh * 3);
        j->line = malloc((size_t)j->rw * 3);
        if (!j->raw || !j->line) {
            rc = cdx_errbuf_set(j->eb, CDX_ERR_NOMEM, "preprocess %s: out of memory", j->name);
            goto done;
        }
    } else if ((rc = job_alloc_passes(j)) != CDX_OK) {
        goto done;
    }
    if (vips_extract_area(im, &rect, rx, ry, j->rw, j->rh, NULL) != 0) {
        rc = job_vips_error(j, CDX_ERR_INTERNAL, "decode failed", "this is a clipdex bug; please report it");
        goto done;
    }
    if ((rc = job_sink(j, rect)) != CDX_OK)
        goto done;

    out8 = malloc((size_t)j->nrows * j->ncols * 3);
    if (!out8) {
        rc = cdx_errbuf_set(j->eb, CDX_ERR_NOMEM, "preprocess %s: out of memory", j->name);
        goto done;
    }
    if (j->raw) {
        if ((rc = job_vips_resample(j, orientation, out8)) != CDX_OK)
            goto done;
    } else {
        if (j->swap) { /* finish the transposed first pass */
            size_t per_out = (size_t)j->YH * 3;
            for (int32_t c = 0; c < j->ncols; c++)
                for (int k = 0; k < 3; k++) {
                    const int32_t *a = j->acc + (size_t)c * per_out + (size_t)k * j->YH;
                    for (int32_t y = 0; y < j->YH; y++)
                        j->tmp[(size_t)y * j->tstride + (size_t)c * 3 + k] = cdx_resample_clip8(a[y]);
                }
        }
        int32_t *acc = malloc(j->tstride * sizeof *acc);
        if (!acc) {
            rc = cdx_errbuf_set(j->eb, CDX_ERR_NOMEM, "preprocess %s: out of memory", j->name);
            goto done;
        }
        for (int32_t i = 0; i < j->nrows; i++)
            cdx_resample_column_rgb(&j->vy, i, j->Y0, j->tmp, j->tstride, (int32_t)j->tstride, acc,
                                    out8 + (size_t)i * j->tstride);
        free(acc);
    }
    /* The crop, with zero pixels where it overhangs the resized image. */
    memset(rgb, 0, (size_t)pp->out_h * pp->out_w * 3);
    for (int32_t i = 0; i < j->nrows; i++) {
        int32_t r = j->row0 + i - j->crop_y, q = j->col0 - j->crop_x;
        memcpy(rgb + ((size_t)r * pp->out_w + q) * 3, out8 + (size_t)i * j->ncols * 3, (size_t)j->ncols * 3);
    }

done:
    free(out8);
    unref(rect);
    unref(im);
    unref(src);
    return rc;
}

/* ---- entry points --------------------------------------------------------- */

static void job_init(pp_job *j, const cdx_preprocess *pp, const char *name, cdx_preprocess_info *info,
                     cdx_errbuf *eb)
{
    memset(j, 0, sizeof *j);
    memset(info, 0, sizeof *info);
    j->pp = pp;
    j->info = info;
    j->eb = eb;
    info->orientation = 1;
    info->shrink = 1;
    cdx_escape_name(name ? name : "<buffer>", j->name, PP_NAME_MAX);
    j->t0 = cdx_clock_ns();
    j->deadline = pp->p.budget_ms > 0 ? j->t0 + (int64_t)pp->p.budget_ms * 1000000 : 0;
}

/* Runs one input into rgb (8-bit crop) and, when tensor is set, normalizes. */
static int run_input(const cdx_preprocess *pp, const char *path, const void *data, size_t len, const char *name,
                     uint8_t *rgb, float *tensor, cdx_preprocess_info *info_out, cdx_errbuf *eb)
{
    cdx_preprocess_info local;
    cdx_preprocess_info *info = info_out ? info_out : &local;
    pp_job j;
    job_init(&j, pp, path ? path : name, info, eb);
    pp_input in = {.fd = -1};
    uint8_t *own = NULL;
    int rc;
    if (!rgb) {
        own = malloc((size_t)pp->out_h * pp->out_w * 3);
        if (!own) {
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "preprocess %s: out of memory", j.name);
            goto done;
        }
        rgb = own;
    }
    if (path) {
        if ((rc = input_open_file(&j, path, &in)) != CDX_OK)
            goto done;
    } else {
        in.data = data;
        in.len = len;
        in.bytes = (int64_t)len;
        in.head = data;
        in.head_len = len;
    }
    rc = job_run(&j, &in, rgb);
    if (rc == CDX_OK && tensor)
        cdx_preprocess_normalize(pp, rgb, tensor);
done:
    input_close(&in);
    job_free(&j);
    free(own);
    info->elapsed_ns = cdx_clock_ns() - j.t0;
    if (rc == CDX_OK)
        cdx_errbuf_clear(eb);
    return rc;
}

/* The four entry points: check the output buffer, then run. */
static int entry(const cdx_preprocess *pp, const char *path, const void *data, size_t len, const char *name,
                 uint8_t *rgb, float *tensor, size_t cap, cdx_preprocess_info *info, cdx_errbuf *eb)
{
    size_t need = cdx_preprocess_tensor_floats(pp);
    if (cap < need)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "preprocess: %s buffer holds %zu values, needs %zu (3 x %d x %d)",
                              rgb ? "rgb" : "tensor", cap, need, pp->out_h, pp->out_w);
    if (!path && !data && len)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "preprocess: NULL data with length %zu", len);
    return run_input(pp, path, path ? NULL : (data ? data : ""), len, name, rgb, tensor, info, eb);
}

int cdx_preprocess_file(const cdx_preprocess *pp, const char *path, float *tensor, size_t cap,
                        cdx_preprocess_info *info, cdx_errbuf *eb)
{
    return entry(pp, path, NULL, 0, NULL, NULL, tensor, cap, info, eb);
}

int cdx_preprocess_buffer(const cdx_preprocess *pp, const void *data, size_t len, const char *name,
                          float *tensor, size_t cap, cdx_preprocess_info *info, cdx_errbuf *eb)
{
    return entry(pp, NULL, data, len, name, NULL, tensor, cap, info, eb);
}

int cdx_preprocess_file_rgb8(const cdx_preprocess *pp, const char *path, uint8_t *rgb, size_t cap,
                             cdx_preprocess_info *info, cdx_errbuf *eb)
{
    return entry(pp, path, NULL, 0, NULL, rgb, NULL, cap, info, eb);
}

int cdx_preprocess_buffer_rgb8(const cdx_preprocess *pp, const void *data, size_t len, const char *name,
                               uint8_t *rgb, size_t cap, cdx_preprocess_info *info, cdx_errbuf *eb)
{
    return entry(pp, NULL, data, len, name, rgb, NULL, cap, info, eb);
}

/* ---- thumbnails ------------------------------------------------------------ */

int cdx_preprocess_thumbnail(const cdx_preprocess *pp, const void *data, size_t len, const char *name,
                             int32_t max_side, int32_t quality, uint8_t **jpeg, size_t *jpeg_len,
                             cdx_preprocess_info *info_out, cdx_errbuf *eb)
{
    *jpeg = NULL;
    *jpeg_len = 0;
    if (max_side < 1 || max_side > 4096 || quality < 1 || quality > 100 || (!data && len))
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "thumbnail: max_side 1..4096 and quality 1..100 expected");
    cdx_preprocess_info local;
    cdx_preprocess_info *info = info_out ? info_out : &local;
    pp_job j;
    job_init(&j, pp, name, info, eb);
    pp_input in = {.data = data ? data : (const void *)"", .len = len, .fd = -1, .bytes = (int64_t)len,
                   .head = data, .head_len = len};
    VipsSource *src = NULL;
    VipsImage *im = NULL, *t = NULL, *f = NULL, *s = NULL;
    void *buf = NULL;
    size_t blen = 0;
    int rc = job_load_header(&j, &in, &src, &im);
    if (rc != CDX_OK)
        goto done;
    g_object_unref(im);
    im = NULL;
    g_object_unref(src);
    src = input_source(&in);
    static const char *fail_on_opt[] = {"fail_on=truncated", "fail_on=error", "fail_on=warning"};
    /* vips_thumbnail_source shrinks on load, applies EXIF orientation and
     * imports CMYK through a profile: right for display. */
    if (!src || vips_thumbnail_source(src, &t, max_side, "height", max_side, "size", VIPS_SIZE_DOWN,
                                      "option_string", fail_on_opt[pp->p.fail_on], NULL) != 0) {
        rc = job_vips_error(&j, CDX_ERR_DECODE, "thumbnail failed",
                            "re-export or re-download the file");
        goto done;
    }
    VipsImage *cur = t;
    if (vips_image_hasalpha(cur)) {
        VipsArrayDouble *bg = vips_array_double_newv(3, (double)pp->bg[0], (double)pp->bg[1], (double)pp->bg[2]);
        int fail = vips_flatten(cur, &f, "background", bg, NULL);
        vips_area_unref(VIPS_AREA(bg));
        if (fail) {
            rc = job_vips_error(&j, CDX_ERR_DECODE, "thumbnail failed", "re-export the image as JPEG or PNG");
            goto done;
        }
        cur = f;
    }
    if (vips_colourspace(cur, &s, VIPS_INTERPRETATION_sRGB, NULL) != 0) {
        rc = job_vips_error(&j, CDX_ERR_UNSUPPORTED, "thumbnail failed", "convert the image to 8-bit RGB");
        goto done;
    }
    vips_image_set_progress(s, TRUE);
    g_signal_connect(s, "eval", G_CALLBACK(job_eval), &j);
    if (vips_jpegsave_buffer(s, &buf, &blen, "Q", quality, "strip", TRUE, NULL) != 0) {
        rc = j.timed_out ? job_timeout(&j)
                         : job_vips_error(&j, CDX_ERR_DECODE, "thumbnail failed",
                                          "re-export or re-download the file");
        goto done;
    }
    info->decoded_width = vips_image_get_width(s);
    info->decoded_height = vips_image_get_height(s);
    *jpeg = malloc(blen ? blen : 1);
    if (!*jpeg) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "thumbnail %s: out of memory", j.name);
        goto done;
    }
    memcpy(*jpeg, buf, blen);
    *jpeg_len = blen;
done:
    g_free(buf);
    unref(s);
    unref(f);
    unref(t);
    unref(im);
    unref(src);
    job_free(&j);
    info->elapsed_ns = cdx_clock_ns() - j.t0;
    if (rc == CDX_OK)
        cdx_errbuf_clear(eb);
    return rc;
}
