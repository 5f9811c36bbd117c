/* cdx_mkimages: deterministic photo-like test images, made with libvips.
 *
 *   cdx_mkimages --out DIR --count N [--seed S] [--mp-min 1] [--mp-max 12]
 *                [--png 0.1] [--webp 0.1] [--manifest FILE] [--start I] [--pool 8]
 *
 * Not noise, which no camera produces: each image has smooth regions (a
 * low-resolution random field upscaled), texture whose strength varies
 * across the frame (blurred noise under another smooth field), hard edges
 * (filled and outlined rectangles and circles, lines) and a little sensor
 * noise on top (made as --pool canvases; each image is a crop of one, maybe
 * mirrored, with its own shapes); then JPEG at quality 75-95 (4:2:0 or 4:4:4), or PNG or
 * WebP. Sizes are drawn in megapixels with camera-like aspect ratios.
 * The same seed makes the same files. --manifest writes a CSV with uri,
 * caption (a description of the drawing) and id. For tests and the ingest
 * benchmark; nothing it writes is committed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <vips/vips.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64: tiny, seedable, good enough for pictures */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unif(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }
static int irange(int lo, int hi) { return lo + (int)(unif() * (hi - lo + 1)); }

static int fail(const char *what)
{
    fprintf(stderr, "cdx_mkimages: %s: %s\n", what, vips_error_buffer());
    return 1;
}

/* A smooth field: a random w0 x h0 image upscaled to w x h. */
static VipsImage *smooth_field(VipsObject *parent, int w, int h, int bands, int lo, int hi)
{
    int w0 = irange(3, 12), h0 = irange(3, 12);
    unsigned char *buf = malloc((size_t)w0 * h0 * bands);
    for (int i = 0; i < w0 * h0 * bands; i++)
        buf[i] = (unsigned char)irange(lo, hi);
    VipsImage *small = vips_image_new_from_memory_copy(buf, (size_t)w0 * h0 * bands, w0, h0, bands, VIPS_FORMAT_UCHAR);
    free(buf);
    VipsImage *big = NULL, *out = NULL;
    if (!small || vips_resize(small, &big, (double)w / w0, "vscale", (double)h / h0, "kernel", VIPS_KERNEL_LINEAR,
                              NULL))
        return NULL;
    vips_object_local(parent, small);
    vips_object_local(parent, big);
    if (vips_crop(big, &out, 0, 0, VIPS_MIN(w, big->Xsize), VIPS_MIN(h, big->Ysize), NULL) ||
        vips_embed(out, &big, 0, 0, w, h, "extend", VIPS_EXTEND_COPY, NULL))
        return NULL;
    vips_object_local(parent, out);
    vips_object_local(parent, big);
    return big;
}

/* Noise is made once, as tiles, and laid under each image at a random
 * offset: per-pixel Gaussian noise at 12 MP is what made this tool slow. */
#define TILE 1024
static VipsImage *texture_tile, *sensor_tile;

static VipsImage *noise_tile(double sigma, double blur)
{
    VipsImage *a = NULL, *b = NULL, *out = NULL;
    if (vips_gaussnoise(&a, TILE, TILE, "sigma", sigma, "mean", 0.0, NULL))
        return NULL;
    if (blur > 0 && vips_gaussblur(a, &b, blur, NULL) == 0) {
        g_object_unref(a);
        a = b;
    }
    out = vips_image_copy_memory(a);
    g_object_unref(a);
    return out;
}

/* w x h of a tile, from a random offset (the tile repeats). */
static int tiled(VipsImage *tile, int w, int h, VipsImage **out)
{
    VipsImage *r = NULL;
    int rc = vips_replicate(tile, &r, w / TILE + 2, h / TILE + 2, NULL) ||
             vips_crop(r, out, irange(0, TILE - 1), irange(0, TILE - 1), w, h, NULL);
    if (r)
        g_object_unref(r);
    return rc;
}

static const char *const shape_names[] = {"rectangle", "circle", "line"};
static const char *const colour_names[] = {"red", "green", "blue", "yellow", "white", "black", "orange", "purple"};
static const double colour_rgb[][3] = {{220, 30, 30}, {40, 180, 60}, {40, 70, 220}, {240, 220, 40},
                                       {245, 245, 245}, {15, 15, 15}, {245, 140, 20}, {140, 50, 170}};

/* A canvas: smooth colour regions with texture of varying strength and
 * sensor noise, side x side. Images are crops of canvases (making every
 * image from scratch at 12 MP took seconds each). */
static VipsImage *make_canvas(int side)
{
    VipsObject *scope = VIPS_OBJECT(vips_image_new());
    VipsImage *t[16] = {0}, *canvas = NULL;
    VipsImage *base = smooth_field(scope, side, side, 3, 20, 235);
    VipsImage *amp = smooth_field(scope, side, side, 1, 0, 255);
    /* Texture: blurred noise under amp, which is 0 (smooth, like sky) over
     * about half the frame and rises to 1 elsewhere. */
    if (base && amp && !tiled(texture_tile, side, side, &t[1]) &&
        !vips_linear1(amp, &t[11], 1.0 / 100.0, -1.2, NULL) &&
        !vips_relational_const1(t[11], &t[12], VIPS_OPERATION_RELATIONAL_MORE, 0.0, NULL) &&
        !vips_ifthenelse(t[12], t[11], t[12], &t[13], NULL) && !vips_cast(t[13], &t[2], VIPS_FORMAT_FLOAT, NULL) &&
        !vips_multiply(t[1], t[2], &t[3], NULL) && !vips_add(base, t[3], &t[4], NULL) &&
        !tiled(sensor_tile, side, side, &t[7]) && !vips_add(t[4], t[7], &t[8], NULL) &&
        !vips_cast(t[8], &t[9], VIPS_FORMAT_UCHAR, NULL))
        canvas = vips_image_copy_memory(t[9]);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i])
            g_object_unref(t[i]);
    g_object_unref(scope);
    return canvas;
}

static int make_one(VipsImage *const *pool, int n_pool, const char *path, int w, int h, const char *fmt, int quality,
                    int subsample_444, char *caption, size_t cap)
{
    VipsImage *t[4] = {0}, *canvas = NULL;
    int rc = 1;
    const VipsImage *src = pool[irange(0, n_pool - 1)];
    int x = irange(0, src->Xsize - w), y = irange(0, src->Ysize - h);
    if (vips_crop((VipsImage *)src, &t[0], x, y, w, h, NULL))
        goto done;
    if (irange(0, 1) && !vips_flip(t[0], &t[1], VIPS_DIRECTION_HORIZONTAL, NULL))
        canvas = vips_image_copy_memory(t[1]);
    else
        canvas = vips_image_copy_memory(t[0]);
    if (!canvas)
        goto done;
    t[2] = canvas;
    /* Edges: shapes in named colours; the caption says what was drawn. */
    int n_shapes = irange(1, 4), off = 0;
    off += snprintf(caption + off, cap - (size_t)off, "a photo of");
    for (int s = 0; s < n_shapes; s++) {
        int kind = irange(0, 2), c = irange(0, 7), fill = irange(0, 1);
        double ink[3] = {colour_rgb[c][0], colour_rgb[c][1], colour_rgb[c][2]};
        int cx = irange(0, w - 1), cy = irange(0, h - 1), r = irange(VIPS_MAX(4, w / 20), VIPS_MAX(8, w / 4));
        if (kind == 0)
            vips_draw_rect(canvas, ink, 3, cx - r, cy - r / 2, 2 * r, r, "fill", fill, NULL);
        else if (kind == 1)
            vips_draw_circle(canvas, ink, 3, cx, cy, r, "fill", fill, NULL);
        else
            for (int k = 0; k < VIPS_MAX(2, w / 150); k++)
                vips_draw_line(canvas, ink, 3, cx + k, cy, irange(0, w - 1) + k, irange(0, h - 1), NULL);
        off += snprintf(caption + off, cap - (size_t)off, "%s a %s %s", s ? " and" : "", colour_names[c],
                        shape_names[kind]);
    }
    if (vips_copy(canvas, &t[3], "interpretation", VIPS_INTERPRETATION_sRGB, NULL))
        goto done;
    int err;
    if (strcmp(fmt, "png") == 0)
        err = vips_pngsave(t[3], path, "compression", 1, NULL);
    else if (strcmp(fmt, "webp") == 0)
        err = vips_webpsave(t[3], path, "Q", quality, NULL);
    else
        err = vips_jpegsave(t[3], path, "Q", quality, "subsample_mode",
                            subsample_444 ? VIPS_FOREIGN_SUBSAMPLE_OFF : VIPS_FOREIGN_SUBSAMPLE_ON, NULL);
    rc = err ? 1 : 0;
done:
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i])
            g_object_unref(t[i]);
    return rc;
}

int main(int argc, char **argv)
{
    const char *out = NULL, *manifest = NULL;
    long count = 10, start = 0;
    double mp_min = 0.05, mp_max = 0.3, p_png = 0.1, p_webp = 0.1;
    long pool_size = 8;
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--out")) out = v;
        else if (!strcmp(k, "--count")) count = atol(v);
        else if (!strcmp(k, "--start")) start = atol(v);
        else if (!strcmp(k, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--mp-min")) mp_min = atof(v);
        else if (!strcmp(k, "--mp-max")) mp_max = atof(v);
        else if (!strcmp(k, "--png")) p_png = atof(v);
        else if (!strcmp(k, "--webp")) p_webp = atof(v);
        else if (!strcmp(k, "--manifest")) manifest = v;
        else if (!strcmp(k, "--pool")) pool_size = atol(v);
        else {
            fprintf(stderr, "cdx_mkimages: unknown option %s\n", k);
            return 2;
        }
    }
    if (!out || count < 1 || !(mp_min > 0) || mp_max < mp_min || pool_size < 1 || pool_size > 64) {
        fprintf(stderr, "usage: cdx_mkimages --out DIR --count N [--seed S] [--start I] [--mp-min MP] [--mp-max MP] "
                        "[--png P] [--webp P] [--manifest FILE] [--pool N]\n");
        return 2;
    }
    if (VIPS_INIT(argv[0]))
        return fail("vips init");
    vips_concurrency_set(1);
    vips_cache_set_max(0);
    rng_state = seed;
    if (!(texture_tile = noise_tile(40.0, 1.2)) || !(sensor_tile = noise_tile(3.0, 0)))
        return fail("noise tiles");
    g_mkdir_with_parents(out, 0755);
    FILE *m = manifest ? fopen(manifest, "w") : NULL;
    if (manifest && !m) {
        perror(manifest);
        return 1;
    }
    char *out_real = realpath(out, NULL);
    if (m)
        fprintf(m, "id,uri,caption,megapixels\n");
    static const double aspects[] = {4.0 / 3, 3.0 / 2, 16.0 / 9, 1.0, 3.0 / 4, 2.0 / 3};
    /* Canvases wide and tall enough for the largest image in any aspect. */
    int side = (int)(sqrt(mp_max * 1e6 * 16.0 / 9) + 2);
    VipsImage *pool[64];
    for (long k = 0; k < pool_size; k++)
        if (!(pool[k] = make_canvas(side)))
            return fail("canvas");
    for (long i = start; i < start + count; i++) {
        rng_state = seed * 0x2545f4914f6cdd1dull + (uint64_t)i * 0x9e3779b97f4a7c15ull;
        double mp = mp_min + unif() * (mp_max - mp_min), a = aspects[irange(0, 5)];
        int w = (int)sqrt(mp * 1e6 * a), h = (int)(mp * 1e6 / w);
        double f = unif();
        const char *fmt = f < p_png ? "png" : f < p_png + p_webp ? "webp" : "jpg";
        int quality = irange(75, 95), s444 = irange(0, 3) == 0;
        char path[4096], caption[512];
        snprintf(path, sizeof path, "%s/img%06ld.%s", out, i, fmt);
        if (make_one(pool, (int)pool_size, path, VIPS_MIN(VIPS_MAX(w, 8), side), VIPS_MIN(VIPS_MAX(h, 8), side), fmt,
                     quality, s444, caption, sizeof caption))
            return fail(path);
        if (m)
            fprintf(m, "%ld,%s/img%06ld.%s,\"%s\",%.2f\n", i, out_real ? out_real : out, i, fmt, caption,
                    (double)w * h / 1e6);
    }
    if (m)
        fclose(m);
    free(out_real);
    for (long k = 0; k < pool_size; k++)
        g_object_unref(pool[k]);
    g_object_unref(texture_tile);
    g_object_unref(sensor_tile);
    vips_shutdown();
    return 0;
}
