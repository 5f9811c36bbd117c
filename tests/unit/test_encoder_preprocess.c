/* Image preprocessing (encoder/preprocess.h) against the Pillow reference and
 * against hostile input.
 *
 * The references in tests/fixtures/preprocess were made by
 * tools/preprocess/make_fixtures.py (Pillow + numpy, golden/README.md's
 * reference processor); a full-size decode must reproduce them exactly, in
 * every format, orientation and colour layout, for both resize modes and all
 * three filters. Hostile inputs are built here, each must give its documented
 * code and a message naming the input, and nothing may crash or leak.
 * ctest-timeout: 600 */
#include "testutil.h"

#include "common/util.h"
#include "encoder/imghdr.h"
#include "encoder/preprocess.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

static json_t *fixtures;
static char *fxdir;

/* ---- fixtures ------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    fxdir = cdx_test_src_path("tests/fixtures/preprocess");
    char *p = cdx_test_fmt("%s/fixtures.json", fxdir);
    json_error_t err;
    fixtures = json_load_file(p, 0, &err);
    free(p);
    if (!fixtures)
        fprintf(stderr, "cannot load fixtures.json: %s\n", err.text);
    return fixtures ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(fixtures);
    free(fxdir);
    return 0;
}

static size_t n_images(void) { return json_array_size(json_object_get(fixtures, "images")); }

static const char *image_name(size_t i)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(fixtures, "images"), i), "name"));
}

static char *image_path(size_t i)
{
    json_t *im = json_array_get(json_object_get(fixtures, "images"), i);
    return cdx_test_fmt("%s/images/%s", fxdir, json_string_value(json_object_get(im, "file")));
}

static char *image_path_by_name(const char *name)
{
    for (size_t i = 0; i < n_images(); i++)
        if (strcmp(image_name(i), name) == 0)
            return image_path(i);
    fail_msg("no fixture named %s", name);
    return NULL;
}

static json_t *config(const char *name)
{
    json_t *cs = json_object_get(fixtures, "configs");
    for (size_t i = 0; i < json_array_size(cs); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(cs, i), "name")), name) == 0)
            return json_array_get(cs, i);
    fail_msg("no configuration named %s", name);
    return NULL;
}

/* A contract's image section from a fixtures.json configuration. */
static void spec_from_config(json_t *c, cdx_contract_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    snprintf(spec->id, sizeof spec->id, "%s", json_string_value(json_object_get(c, "name")));
    json_t *size = json_object_get(c, "size");
    spec->image.height = (int32_t)json_integer_value(json_array_get(size, 0));
    spec->image.width = (int32_t)json_integer_value(json_array_get(size, 1));
    spec->image.resize = strcmp(json_string_value(json_object_get(c, "resize")), "exact") == 0
                             ? CDX_RESIZE_EXACT
                             : CDX_RESIZE_SHORTEST_EDGE;
    spec->image.resize_to = (int32_t)json_integer_value(json_object_get(c, "resize_to"));
    const char *it = json_string_value(json_object_get(c, "interpolation"));
    spec->image.interpolation = strcmp(it, "bilinear") == 0  ? CDX_INTERP_BILINEAR
                                : strcmp(it, "nearest") == 0 ? CDX_INTERP_NEAREST
                                                             : CDX_INTERP_BICUBIC;
    spec->image.crop = strcmp(json_string_value(json_object_get(c, "crop")), "center") == 0 ? CDX_CROP_CENTER
                                                                                              : CDX_CROP_NONE;
    spec->image.rescale = json_real_value(json_object_get(c, "rescale"));
    for (int k = 0; k < 3; k++) {
        spec->image.mean[k] = (float)json_number_value(json_array_get(json_object_get(c, "mean"), k));
        spec->image.std[k] = (float)json_number_value(json_array_get(json_object_get(c, "std"), k));
        spec->image.background[k] =
            (uint8_t)json_integer_value(json_array_get(json_object_get(c, "background"), k));
    }
}

static cdx_preprocess *open_config(const char *name, const cdx_preprocess_params *p)
{
    cdx_contract_spec *spec = malloc(sizeof *spec);
    assert_non_null(spec);
    spec_from_config(config(name), spec);
    cdx_preprocess *pp = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_preprocess_open(spec, p, &pp, &eb);
    free(spec);
    if (rc != CDX_OK)
        fail_msg("open %s: %s", name, cdx_errbuf_msg(&eb));
    return pp;
}

static cdx_preprocess_params exact_params(void)
{
    cdx_preprocess_params p = cdx_preprocess_default_params();
    p.shrink_on_load = 0;
    return p;
}

static cdx_preprocess *open_family(enum cdx_family fam, int size, const cdx_preprocess_params *p)
{
    cdx_contract_spec *spec = calloc(1, sizeof *spec);
    assert_non_null(spec);
    snprintf(spec->id, sizeof spec->id, "test");
    cdx_preprocess_image_defaults(fam, size, spec);
    cdx_preprocess *pp = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_preprocess_open(spec, p, &pp, &eb);
    free(spec);
    if (rc != CDX_OK)
        fail_msg("open: %s", cdx_errbuf_msg(&eb));
    return pp;
}

/* ---- agreement with Pillow ------------------------------------------------ */

static void fixtures_match_pillow_exactly(void **state)
{
    (void)state;
    json_t *cs = json_object_get(fixtures, "configs");
    cdx_preprocess_params p = exact_params();
    int mismatches = 0;
    for (size_t ci = 0; ci < json_array_size(cs); ci++) {
        json_t *c = json_array_get(cs, ci);
        const char *cname = json_string_value(json_object_get(c, "name"));
        cdx_preprocess *pp = open_config(cname, &p);
        size_t per = cdx_preprocess_tensor_floats(pp);
        char *rp = cdx_test_fmt("%s/%s", fxdir, json_string_value(json_object_get(c, "ref")));
        size_t rlen = 0;
        unsigned char *ref = cdx_test_read_file(rp, &rlen);
        assert_non_null(ref);
        assert_int_equal(rlen, per * n_images());
        uint8_t *rgb = malloc(per);
        float *t = malloc(per * sizeof *t);
        for (size_t i = 0; i < n_images(); i++) {
            char *path = image_path(i);
            cdx_errbuf eb = {0};
            cdx_preprocess_info info;
            int rc = cdx_preprocess_file_rgb8(pp, path, rgb, per, &info, &eb);
            if (rc != CDX_OK)
                fail_msg("%s / %s: %s", cname, image_name(i), cdx_errbuf_msg(&eb));
            assert_int_equal(info.shrink, 1);
            int maxd = 0;
            size_t ndiff = 0;
            for (size_t q = 0; q < per; q++) {
                int d = abs((int)rgb[q] - (int)ref[i * per + q]);
                maxd = d > maxd ? d : maxd;
                ndiff += d != 0;
            }
            if (maxd) {
                print_message("MISMATCH %s / %s: max %d levels, %zu of %zu values\n", cname, image_name(i), maxd,
                              ndiff, per);
                mismatches++;
            }
            /* The float tensor is the normalized crop. */
            assert_int_equal(cdx_preprocess_file(pp, path, t, per, NULL, &eb), CDX_OK);
            float *t2 = malloc(per * sizeof *t2);
            cdx_preprocess_normalize(pp, rgb, t2);
            assert_memory_equal(t, t2, per * sizeof *t);
            free(t2);
            free(path);
        }
        /* Normalization: every level of every channel, bit-exact to numpy's float32. */
        char *lp = cdx_test_fmt("%s/%s", fxdir, json_string_value(json_object_get(c, "lut")));
        size_t llen = 0;
        float *lut = (float *)cdx_test_read_file(lp, &llen);
        assert_non_null(lut);
        assert_int_equal(llen, 3 * 256 * sizeof(float));
        int32_t h = cdx_preprocess_height(pp), w = cdx_preprocess_width(pp);
        size_t plane = (size_t)h * w;
        for (size_t q = 0; q < per; q++)
            rgb[q] = (uint8_t)((q / 3) % 256);
        cdx_preprocess_normalize(pp, rgb, t);
        for (int k = 0; k < 3; k++)
            for (size_t q = 0; q < plane; q++)
                assert_true(t[k * plane + q] == lut[k * 256 + rgb[q * 3 + k]]);
        free(lut);
        free(lp);
        free(t);
        free(rgb);
        free(ref);
        free(rp);
        cdx_preprocess_close(pp);
    }
    assert_int_equal(mismatches, 0);
}

static void buffer_equals_file(void **state)
{
    (void)state;
    cdx_preprocess_params p = exact_params();
    cdx_preprocess *pp = open_config("clip40", &p);
    size_t per = cdx_preprocess_tensor_floats(pp);
    uint8_t *a = malloc(per), *b = malloc(per);
    for (size_t i = 0; i < n_images(); i++) {
        char *path = image_path(i);
        size_t len = 0;
        unsigned char *data = cdx_test_read_file(path, &len);
        cdx_errbuf eb = {0};
        cdx_preprocess_info ia, ib;
        assert_int_equal(cdx_preprocess_file_rgb8(pp, path, a, per, &ia, &eb), CDX_OK);
        assert_int_equal(cdx_preprocess_buffer_rgb8(pp, data, len, image_name(i), b, per, &ib, &eb), CDX_OK);
        assert_memory_equal(a, b, per);
        assert_int_equal(ia.bytes, (int64_t)len);
        assert_int_equal(ib.bytes, (int64_t)len);
        assert_string_equal(ia.format, ib.format);
        free(data);
        free(path);
    }
    free(a);
    free(b);
    cdx_preprocess_close(pp);
}

typedef struct thread_arg {
    cdx_preprocess *pp;
    const unsigned char *ref;
    int rounds, mismatches;
} thread_arg;

static void *agree_worker(void *a)
{
    thread_arg *ta = a;
    size_t per = cdx_preprocess_tensor_floats(ta->pp);
    uint8_t *rgb = malloc(per);
    for (int r = 0; r < ta->rounds; r++)
        for (size_t i = 0; i < n_images(); i++) {
            char *path = image_path(i);
            cdx_errbuf eb = {0};
            if (cdx_preprocess_file_rgb8(ta->pp, path, rgb, per, NULL, &eb) != CDX_OK ||
                memcmp(rgb, ta->ref + i * per, per) != 0)
                ta->mismatches++;
            free(path);
        }
    free(rgb);
    return NULL;
}

/* One object, four threads at once, libvips itself running two threads. */
static void threads_share_one_object(void **state)
{
    (void)state;
    cdx_preprocess_params p = exact_params();
    p.vips_concurrency = 2;
    cdx_preprocess *pp = open_config("siglip40x48", &p);
    char *rp = cdx_test_fmt("%s/%s", fxdir, json_string_value(json_object_get(config("siglip40x48"), "ref")));
    unsigned char *ref = cdx_test_read_file(rp, NULL);
    assert_non_null(ref);
    thread_arg ta[4];
    pthread_t tid[4];
    for (int k = 0; k < 4; k++) {
        ta[k] = (thread_arg){.pp = pp, .ref = ref, .rounds = 2};
        assert_int_equal(pthread_create(&tid[k], NULL, agree_worker, &ta[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(tid[k], NULL);
        assert_int_equal(ta[k].mismatches, 0);
    }
    free(ref);
    free(rp);
    cdx_preprocess_close(pp);
    cdx_preprocess_params one = cdx_preprocess_default_params();
    cdx_preprocess_close(open_config("clip40", &one)); /* back to one libvips thread */
}

/* ---- what info reports ------------------------------------------------------ */

static void info_reports_layout(void **state)
{
    (void)state;
    static const struct {
        const char *name, *format;
        int orientation, bands, bits, alpha;
        enum cdx_preprocess_colour colour;
        int pages;
    } cases[] = {
        {"jpeg_exif_6", "jpeg", 6, 3, 8, 0, CDX_PREPROCESS_COLOUR_RGB, 1},
        {"webp_exif_8", "webp", 8, 3, 8, 0, CDX_PREPROCESS_COLOUR_RGB, 1},
        {"png_exif_6", "png", 6, 3, 8, 0, CDX_PREPROCESS_COLOUR_RGB, 1},
        {"png16_rgba", "png", 1, 4, 16, 1, CDX_PREPROCESS_COLOUR_RGB, 1},
        {"png16_grey", "png", 1, 1, 16, 0, CDX_PREPROCESS_COLOUR_GREY, 1},
        {"png_la", "png", 1, 2, 8, 1, CDX_PREPROCESS_COLOUR_GREY, 1},
        {"jpeg_cmyk", "jpeg", 1, 4, 8, 0, CDX_PREPROCESS_COLOUR_CMYK, 1},
        {"tiff_cmyk", "tiff", 1, 4, 8, 0, CDX_PREPROCESS_COLOUR_CMYK, 1},
        {"gif_anim_trns", "gif", 1, 4, 8, 1, CDX_PREPROCESS_COLOUR_RGB, 2},
        {"tiff_grey16", "tiff", 1, 1, 16, 0, CDX_PREPROCESS_COLOUR_GREY, 1},
    };
    cdx_preprocess_params p = cdx_preprocess_default_params();
    cdx_preprocess *pp = open_family(CDX_FAMILY_CLIP, 224, &p);
    float *t = malloc(cdx_preprocess_tensor_floats(pp) * sizeof *t);
    for (size_t i = 0; i < CDX_ARRAY_LEN(cases); i++) {
        char *path = image_path_by_name(cases[i].name);
        cdx_preprocess_info info;
        cdx_errbuf eb = {0};
        assert_int_equal(cdx_preprocess_file(pp, path, t, cdx_preprocess_tensor_floats(pp), &info, &eb), CDX_OK);
        assert_string_equal(info.format, cases[i].format);
        assert_int_equal(info.orientation, cases[i].orientation);
        assert_int_equal(info.bands, cases[i].bands);
        assert_int_equal(info.bits, cases[i].bits);
        assert_int_equal(info.has_alpha, cases[i].alpha);
        assert_int_equal(info.colour, cases[i].colour);
        assert_int_equal(info.pages, cases[i].pages);
        assert_true(info.elapsed_ns > 0);
        assert_true(strstr(info.loader, "load") != NULL);
        /* Orientations 5-8 swap the sides before the resize. */
        int32_t ow = cases[i].orientation >= 5 ? info.height : info.width;
        int32_t oh = cases[i].orientation >= 5 ? info.width : info.height;
        assert_int_equal(ow <= oh ? info.resized_width : info.resized_height, 224);
        free(path);
    }
    free(t);
    cdx_preprocess_close(pp);
}

/* ---- shrink-on-load --------------------------------------------------------- */

/* A 4096x3072 JPEG made from a fixture: a 12.6 MP photo without committing one. */
static void *make_big_jpeg(const char *from, double scale, int quality, size_t *len)
{
    VipsImage *in = vips_image_new_from_file(from, NULL), *big = NULL;
    assert_non_null(in);
    assert_int_equal(vips_resize(in, &big, scale, NULL), 0);
    void *buf = NULL;
    assert_int_equal(vips_jpegsave_buffer(big, &buf, len, "Q", quality, NULL), 0);
    g_object_unref(big);
    g_object_unref(in);
    void *out = malloc(*len);
    memcpy(out, buf, *len);
    g_free(buf);
    return out;
}

/* The bound: tools/preprocess/compare.py measured at most 6 levels and a
 * tensor cosine >= 0.99996 over 12-16 MP photos at the default margin (see
 * encoder/README.md); 8 levels and 0.9999 leave room for other content. */
static void shrink_on_load_stays_close(void **state)
{
    (void)state;
    char *src = image_path_by_name("jpeg_medium");
    size_t len = 0;
    cdx_preprocess_params defaults = cdx_preprocess_default_params(), exact = exact_params();
    cdx_preprocess *pp = open_family(CDX_FAMILY_CLIP, 224, &exact); /* libvips is up for make_big_jpeg */
    void *jpg = make_big_jpeg(src, 4.0, 90, &len);
    cdx_preprocess *ps = open_family(CDX_FAMILY_CLIP, 224, &defaults);
    size_t per = cdx_preprocess_tensor_floats(pp);
    uint8_t *a = malloc(per), *b = malloc(per);
    float *ta = malloc(per * sizeof *ta), *tb = malloc(per * sizeof *tb);
    cdx_preprocess_info ia, ib;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_preprocess_buffer_rgb8(pp, jpg, len, "big.jpg", a, per, &ia, &eb), CDX_OK);
    assert_int_equal(cdx_preprocess_buffer_rgb8(ps, jpg, len, "big.jpg", b, per, &ib, &eb), CDX_OK);
    assert_int_equal(ia.width, 4096);
    assert_int_equal(ia.shrink, 1);
    assert_int_equal(ib.shrink, 2); /* 3072 / 224 = 13.7 >= 2 x margin 4 */
    assert_int_equal(ib.decoded_width, 2048);
    int maxd = 0;
    double sumd = 0;
    for (size_t q = 0; q < per; q++) {
        int d = abs((int)a[q] - (int)b[q]);
        maxd = d > maxd ? d : maxd;
        sumd += d;
    }
    cdx_preprocess_normalize(pp, a, ta);
    cdx_preprocess_normalize(pp, b, tb);
    double dot = 0, na = 0, nb = 0;
    for (size_t q = 0; q < per; q++)
        dot += (double)ta[q] * tb[q], na += (double)ta[q] * ta[q], nb += (double)tb[q] * tb[q];
    double cosv = dot / sqrt(na * nb);
    print_message("shrink 2 vs full decode: max %d levels, mean %.3f, tensor cosine %.7f\n", maxd, sumd / per, cosv);
    assert_true(maxd <= 8);
    assert_true(sumd / per < 1.0);
    assert_true(cosv >= 0.9999);
    /* A looser margin shrinks further. */
    cdx_preprocess_params loose = defaults;
    loose.shrink_margin = 1.0;
    cdx_preprocess *pl = open_family(CDX_FAMILY_CLIP, 224, &loose);
    assert_int_equal(cdx_preprocess_buffer_rgb8(pl, jpg, len, "big.jpg", b, per, &ib, &eb), CDX_OK);
    assert_int_equal(ib.shrink, 8);
    cdx_preprocess_close(pl);
    free(ta);
    free(tb);
    free(a);
    free(b);
    free(jpg);
    free(src);
    cdx_preprocess_close(ps);
    cdx_preprocess_close(pp);
}

/* HEIF and AVIF decode where libvips' HEIF module has the codecs (Debian's
 * has both): the images are made here from a fixture and must look like it. */
static void heif_and_avif(void **state)
{
    (void)state;
    cdx_preprocess_params p = exact_params();
    cdx_preprocess *pp = open_family(CDX_FAMILY_CLIP, 64, &p);
    char *src = image_path_by_name("jpeg_q90_444");
    size_t per = cdx_preprocess_tensor_floats(pp);
    uint8_t *want = malloc(per), *got = malloc(per);
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_preprocess_file_rgb8(pp, src, want, per, NULL, &eb), CDX_OK);
    if (!vips_type_find("VipsOperation", "heifsave_buffer")) {
        print_message("this libvips has no HEIF support: HEIF/AVIF input is reported as unsupported\n");
    } else {
        static const VipsForeignHeifCompression codecs[] = {VIPS_FOREIGN_HEIF_COMPRESSION_HEVC,
                                                            VIPS_FOREIGN_HEIF_COMPRESSION_AV1};
        VipsImage *in = vips_image_new_from_file(src, NULL);
        assert_non_null(in);
        for (size_t i = 0; i < CDX_ARRAY_LEN(codecs); i++) {
            void *buf = NULL;
            size_t len = 0;
            if (vips_heifsave_buffer(in, &buf, &len, "compression", codecs[i], "Q", 95, NULL) != 0) {
                print_message("no %s encoder here: %s\n", i ? "AV1" : "HEVC", vips_error_buffer());
                vips_error_clear();
                continue;
            }
            cdx_preprocess_info info;
            int rc = cdx_preprocess_buffer_rgb8(pp, buf, len, "x.heif", got, per, &info, &eb);
            g_free(buf);
            if (rc != CDX_OK)
                fail_msg("%s", cdx_errbuf_msg(&eb));
            assert_string_equal(info.format, "heif");
            double sum = 0;
            for (size_t q = 0; q < per; q++)
                sum += abs((int)got[q] - (int)want[q]);
            print_message("%s at Q95: mean difference %.2f levels from the JPEG it was made from\n",
                          i ? "AVIF" : "HEIC", sum / per);
            assert_true(sum / per < 4.0);
        }
        g_object_unref(in);
    }
    free(want);
    free(got);
    free(src);
    cdx_preprocess_close(pp);
}

/* ---- hostile input ------------------------------------------------------------ */

static uint32_t crc32_of(const uint8_t *p, size_t n, uint32_t crc)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Appends a PNG chunk; returns the new length. */
static size_t png_chunk(uint8_t *out, size_t at, const char *tag, const uint8_t *data, uint32_t n)
{
    put32(out + at, n);
    memcpy(out + at + 4, tag, 4);
    if (n)
        memcpy(out + at + 8, data, n);
    put32(out + at + 8 + n, crc32_of(out + at + 4, n + 4, 0));
    return at + 12 + n;
}

static size_t png_ihdr(uint8_t *out, uint32_t w, uint32_t h, uint8_t depth, uint8_t ctype)
{
    memcpy(out, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = {0};
    put32(ihdr, w);
    put32(ihdr + 4, h);
    ihdr[8] = depth, ihdr[9] = ctype;
    return png_chunk(out, 8, "IHDR", ihdr, 13);
}

/* Little bit writer for a fixed-Huffman deflate stream (RFC 1951). */
typedef struct bits {
    uint8_t *p;
    size_t n;
    uint32_t acc;
    int nacc;
} bits;

static void bits_put(bits *b, uint32_t v, int n) /* LSB first */
{
    b->acc |= v << b->nacc;
    b->nacc += n;
    while (b->nacc >= 8) {
        b->p[b->n++] = (uint8_t)b->acc;
        b->acc >>= 8;
        b->nacc -= 8;
    }
}

static void bits_put_rev(bits *b, uint32_t code, int n) /* Huffman codes go MSB first */
{
    for (int i = n - 1; i >= 0; i--)
        bits_put(b, (code >> i) & 1, 1);
}

/* A real decompression bomb: a 1-bit greyscale PNG of w x h zeros whose IDAT
 * is a zlib stream of (literal 0, then "copy 258 from distance 1") codes,
 * about 1:1300. Caller frees. */
static uint8_t *make_png_bomb(uint32_t w, uint32_t h, size_t *len)
{
    uint64_t raw = (uint64_t)h * (1 + (w + 7) / 8);
    size_t cap = (size_t)(raw / 258 * 13 / 8) + 4096;
    uint8_t *z = malloc(cap), *out = malloc(cap + 64);
    bits b = {.p = z};
    bits_put(&b, 0x78, 8), bits_put(&b, 0x01, 8); /* zlib header */
    bits_put(&b, 1, 1), bits_put(&b, 1, 2);        /* final block, fixed Huffman */
    bits_put_rev(&b, 0x30, 8);                     /* literal 0 */
    uint64_t left = raw - 1;
    while (left >= 258 + 3) {
        bits_put_rev(&b, 0xC5, 8); /* length code 285 = 258 */
        bits_put_rev(&b, 0, 5);    /* distance code 0 = 1 */
        left -= 258;
    }
    while (left--)
        bits_put_rev(&b, 0x30, 8);
    bits_put_rev(&b, 0, 7); /* end of block */
    if (b.nacc)
        bits_put(&b, 0, 8 - b.nacc);
    uint32_t adler = (uint32_t)((raw % 65521) << 16 | 1); /* a = 1, b = n: all bytes zero */
    uint8_t ad[4];
    put32(ad, adler);
    memcpy(z + b.n, ad, 4);
    size_t at = png_ihdr(out, w, h, 1, 0);
    at = png_chunk(out, at, "IDAT", z, (uint32_t)(b.n + 4));
    at = png_chunk(out, at, "IEND", NULL, 0);
    free(z);
    *len = at;
    return out;
}

typedef struct hostile {
    const char *file;      /* name in the scratch directory */
    int code;
    const char *expect;    /* substring of the message */
} hostile;

static void expect_error(cdx_preprocess *pp, const char *path, int code, const char *expect)
{
    size_t per = cdx_preprocess_tensor_floats(pp);
    float *t = malloc(per * sizeof *t);
    cdx_errbuf eb = {0};
    cdx_preprocess_info info;
    int rc = cdx_preprocess_file(pp, path, t, per, &info, &eb);
    free(t);
    const char *msg = cdx_errbuf_msg(&eb);
    if (rc != code || !strstr(msg, expect))
        fail_msg("%s: got %s \"%s\", expected %s with \"%s\"", path, cdx_errname(rc), msg, cdx_errname(code),
                 expect);
    assert_null(strchr(msg, '\n'));
}

static void hostile_files(void **state)
{
    (void)state;
    char *dir = cdx_test_mkdtemp("pp-hostile");
    assert_non_null(dir);
    size_t jlen = 0;
    char *jp = image_path_by_name("jpeg_q75_420");
    unsigned char *jpg = cdx_test_read_file(jp, &jlen);
    free(jp);
    assert_non_null(jpg);

    /* corrupt: a JPEG header followed by garbage */
    unsigned char *bad = malloc(jlen);
    memcpy(bad, jpg, jlen);
    for (size_t i = 200; i < jlen; i++)
        bad[i] = (unsigned char)(i * 131 + 7);
    char *p;
#define WRITE(name, data, n)                                                                                      \
    do {                                                                                                          \
        p = cdx_test_fmt("%s/%s", dir, name);                                                                     \
        assert_int_equal(cdx_test_write_file(p, data, n), 0);                                                     \
        free(p);                                                                                                  \
    } while (0)
    WRITE("corrupt.jpg", bad, jlen);
    WRITE("zero.jpg", "", 0);
    WRITE("text.jpg", "just some words\nnot an image\n", 29);
    WRITE("truncated.jpg", jpg, jlen * 6 / 10);
    WRITE("matrix.jpg", "2 2\n1 2\n3 4\n", 12);
    const char svg[] = "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" "
                       "height=\"64\"><rect width=\"64\" height=\"64\" fill=\"red\"/></svg>\n";
    WRITE("vector.svg", svg, sizeof svg - 1);
    WRITE("page.txt", "<!DOCTYPE html>\n<html><body>404</body></html>\n", 45);
    WRITE("doc.jpg", "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", 34);
    uint8_t ihdr[64];
    size_t n = png_ihdr(ihdr, 50000, 50000, 8, 2);
    WRITE("huge_header.png", ihdr, n);
    size_t blen = 0;
    uint8_t *bomb = make_png_bomb(20000, 20000, &blen);
    WRITE("bomb.png", bomb, blen);
    print_message("bomb: %zu bytes for 20000x20000 pixels\n", blen);
    p = cdx_test_fmt("%s/subdir.jpg", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
#undef WRITE

    static const hostile cases[] = {
        {"corrupt.jpg", CDX_ERR_DECODE, "decode failed: "},
        {"zero.jpg", CDX_ERR_DECODE, "empty file (0 bytes)"},
        {"text.jpg", CDX_ERR_UNSUPPORTED, "it looks like a text file"},
        {"truncated.jpg", CDX_ERR_DECODE, "(fail_on=truncated)"},
        {"matrix.jpg", CDX_ERR_UNSUPPORTED, "matrix files are not accepted"},
        {"vector.svg", CDX_ERR_UNSUPPORTED, "svg files are not accepted"},
        {"doc.jpg", CDX_ERR_UNSUPPORTED, "pdf files are not accepted"},
        {"page.txt", CDX_ERR_UNSUPPORTED, "it looks like HTML"},
        {"huge_header.png", CDX_ERR_TOOBIG, "claims 50000x50000 (2500.0 MP), over the 150.0 MP limit"},
        {"bomb.png", CDX_ERR_TOOBIG, "claims 20000x20000 (400.0 MP)"},
        {"subdir.jpg", CDX_ERR_UNSUPPORTED, "not a regular file"},
        {"missing.jpg", CDX_ERR_NOTFOUND, "no such file"},
    };
    cdx_preprocess_params params = cdx_preprocess_default_params();
    cdx_preprocess *pp = open_family(CDX_FAMILY_CLIP, 224, &params);
    for (size_t i = 0; i < CDX_ARRAY_LEN(cases); i++) {
        p = cdx_test_fmt("%s/%s", dir, cases[i].file);
        expect_error(pp, p, cases[i].code, cases[i].file); /* the message names the input */
        expect_error(pp, p, cases[i].code, cases[i].expect);
        /* The same bytes from memory fail the same way (except what only files have). */
        size_t len = 0;
        struct stat st;
        unsigned char *data = stat(p, &st) == 0 && S_ISREG(st.st_mode) ? cdx_test_read_file(p, &len) : NULL;
        if (data) {
            size_t per = cdx_preprocess_tensor_floats(pp);
            float *t = malloc(per * sizeof *t);
            cdx_errbuf eb = {0};
            assert_int_equal(cdx_preprocess_buffer(pp, data, len, cases[i].file, t, per, NULL, &eb), cases[i].code);
            assert_non_null(strstr(cdx_errbuf_msg(&eb), cases[i].file));
            free(t);
            free(data);
        }
        free(p);
    }
    cdx_preprocess_close(pp);

    /* Stricter settings: a bomb under the pixel limit is stopped by max_pixels
     * lowered, and oversized files by max_bytes. */
    cdx_preprocess_params strict = cdx_preprocess_default_params();
    strict.max_pixels = 1000000;
    strict.max_bytes = 4096;
    pp = open_family(CDX_FAMILY_CLIP, 224, &strict);
    uint8_t *small_bomb = make_png_bomb(2000, 2000, &blen);
    p = cdx_test_fmt("%s/small_bomb.png", dir);
    assert_int_equal(cdx_test_write_file(p, small_bomb, blen), 0);
    expect_error(pp, p, CDX_ERR_TOOBIG, "over the 1.0 MP limit (max_pixels)");
    free(p);
    p = image_path_by_name("jpeg_medium");
    expect_error(pp, p, CDX_ERR_TOOBIG, "over the 4096 byte limit (max_bytes)");
    free(p);
    cdx_preprocess_close(pp);

    /* A 2 x 40000 sliver: Pillow's order (horizontal pass first) would
     * widen every one of its 40000 rows to 224 pixels. */
    cdx_preprocess_params thin = cdx_preprocess_default_params();
    thin.max_work_bytes = 8 << 20;
    pp = open_family(CDX_FAMILY_SIGLIP, 224, &thin);
    VipsImage *black = NULL;
    void *png = NULL;
    assert_int_equal(vips_black(&black, 2, 40000, NULL), 0);
    assert_int_equal(vips_pngsave_buffer(black, &png, &blen, NULL), 0);
    p = cdx_test_fmt("%s/sliver.png", dir);
    assert_int_equal(cdx_test_write_file(p, png, blen), 0);
    expect_error(pp, p, CDX_ERR_TOOBIG, "too elongated to resample exactly within 8 MiB (max_work_bytes)");
    free(p);
    g_free(png);
    g_object_unref(black);
    cdx_preprocess_close(pp);

    free(small_bomb);
    free(bomb);
    free(bad);
    free(jpg);
    cdx_test_rmtree(dir);
    free(dir);
}

/* fail_on: stray bytes before the scan's marker make libjpeg warn ("Corrupt
 * JPEG data: 2 extraneous bytes before marker 0xda"); the default (truncated)
 * tolerates that, fail_on=warning refuses it, and a truncated file fails
 * under both. */
static void fail_on_levels(void **state)
{
    (void)state;
    char *jp = image_path_by_name("jpeg_q90_444");
    size_t len = 0;
    unsigned char *jpg = cdx_test_read_file(jp, &len);
    free(jp);
    size_t sos = 2;
    while (sos + 1 < len && !(jpg[sos] == 0xFF && jpg[sos + 1] == 0xDA))
        sos++;
    assert_true(sos + 1 < len);
    unsigned char *warn = malloc(len + 2);
    memcpy(warn, jpg, sos);
    memcpy(warn + sos, "\x12\x34", 2);
    memcpy(warn + sos + 2, jpg + sos, len - sos);
    len += 2;
    cdx_preprocess_params lax = cdx_preprocess_default_params(), strict = lax;
    strict.fail_on = CDX_PREPROCESS_FAIL_ON_WARNING;
    cdx_preprocess *pl = open_family(CDX_FAMILY_SIGLIP, 64, &lax), *ps = open_family(CDX_FAMILY_SIGLIP, 64, &strict);
    size_t per = cdx_preprocess_tensor_floats(pl);
    float *t = malloc(per * sizeof *t);
    cdx_errbuf eb = {0};
    int rc = cdx_preprocess_buffer(pl, warn, len, "stray.jpg", t, per, NULL, &eb);
    if (rc != CDX_OK)
        fail_msg("fail_on=truncated: %s", cdx_errbuf_msg(&eb));
    rc = cdx_preprocess_buffer(ps, warn, len, "stray.jpg", t, per, NULL, &eb);
    assert_int_equal(rc, CDX_ERR_DECODE);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "(fail_on=warning)"));
    assert_int_equal(cdx_preprocess_buffer(pl, jpg, len / 2, "half.jpg", t, per, NULL, &eb), CDX_ERR_DECODE);
    assert_int_equal(cdx_preprocess_buffer(ps, jpg, len / 2, "half.jpg", t, per, NULL, &eb), CDX_ERR_DECODE);
    free(t);
    free(warn);
    free(jpg);
    cdx_preprocess_close(pl);
    cdx_preprocess_close(ps);
}

/* chmod 000: as root, drop the file-system uid so the permission check bites. */
static void unreadable_file(void **state)
{
    (void)state;
    char *dir = cdx_test_mkdtemp("pp-perm");
    assert_int_equal(chmod(dir, 0755), 0);
    char *src = image_path_by_name("upscale");
    size_t len = 0;
    unsigned char *data = cdx_test_read_file(src, &len);
    char *p = cdx_test_fmt("%s/locked.jpg", dir);
    assert_int_equal(cdx_test_write_file(p, data, len), 0);
    assert_int_equal(chmod(p, 0), 0);
    cdx_preprocess_params params = cdx_preprocess_default_params();
    cdx_preprocess *pp = open_family(CDX_FAMILY_CLIP, 64, &params);
    int root = geteuid() == 0;
    if (root)
        setfsuid(65534);
    expect_error(pp, p, CDX_ERR_IO, "permission denied");
    if (root)
        setfsuid(0);
    cdx_preprocess_close(pp);
    free(p);
    free(data);
    free(src);
    cdx_test_rmtree(dir);
    free(dir);
}

/* A path holding a newline and invalid UTF-8 is named, escaped, on one line. */
static void odd_names_are_escaped(void **state)
{
    (void)state;
    char *dir = cdx_test_mkdtemp("pp-names");
    char *p = cdx_test_fmt("%s/bad\nname\xff\xfe.jpg", dir);
    assert_int_equal(cdx_test_write_file(p, "\xff\xd8\xff\xe0 truncated", 15), 0);
    cdx_preprocess_params params = cdx_preprocess_default_params();
    cdx_preprocess *pp = open_family(CDX_FAMILY_CLIP, 64, &params);
    expect_error(pp, p, CDX_ERR_DECODE, "bad\\nname\\xFF\\xFE.jpg");
    /* A good image under such a name decodes. */
    char *src = image_path_by_name("tiny_3x3");
    size_t len = 0;
    unsigned char *data = cdx_test_read_file(src, &len);
    assert_int_equal(cdx_test_write_file(p, data, len), 0);
    float *t = malloc(cdx_preprocess_tensor_floats(pp) * sizeof *t);
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_preprocess_file(pp, p, t, cdx_preprocess_tensor_floats(pp), NULL, &eb), CDX_OK);
    free(t);
    free(data);
    free(src);
    cdx_preprocess_close(pp);
    free(p);
    cdx_test_rmtree(dir);
    free(dir);
}

static void time_budget_stops_slow_decodes(void **state)
{
    (void)state;
    cdx_preprocess_params p = exact_params();
    p.budget_ms = 1;
    cdx_preprocess *pp = open_family(CDX_FAMILY_SIGLIP, 224, &p);
    char *src = image_path_by_name("jpeg_medium");
    size_t len = 0;
    void *jpg = make_big_jpeg(src, 4.0, 95, &len);
    size_t per = cdx_preprocess_tensor_floats(pp);
    float *t = malloc(per * sizeof *t);
    cdx_errbuf eb = {0};
    cdx_preprocess_info info;
    int rc = cdx_preprocess_buffer(pp, jpg, len, "slow.jpg", t, per, &info, &eb);
    assert_int_equal(rc, CDX_ERR_TIMEOUT);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "over the 1 ms budget (budget_ms)"));
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "slow.jpg"));
    /* The same object and image are fine again with a budget. */
    cdx_preprocess_close(pp);
    p.budget_ms = 60000;
    pp = open_family(CDX_FAMILY_SIGLIP, 224, &p);
    assert_int_equal(cdx_preprocess_buffer(pp, jpg, len, "slow.jpg", t, per, &info, &eb), CDX_OK);
    free(t);
    free(jpg);
    free(src);
    cdx_preprocess_close(pp);
}

static void bad_arguments_and_contracts(void **state)
{
    (void)state;
    cdx_contract_spec *spec = calloc(1, sizeof *spec);
    snprintf(spec->file, sizeof spec->file, "contracts/x.json");
    cdx_preprocess *pp = NULL;
    cdx_errbuf eb = {0};
    cdx_preprocess_params p = cdx_preprocess_default_params();

    cdx_preprocess_image_defaults(CDX_FAMILY_CLIP, 224, spec);
    spec->image.crop = CDX_CROP_NONE;
    assert_int_equal(cdx_preprocess_open(spec, &p, &pp, &eb), CDX_ERR_CONTRACT);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "contracts/x.json: image.resize shortest_edge needs image.crop"));
    cdx_preprocess_image_defaults(CDX_FAMILY_SIGLIP, 224, spec);
    spec->image.std[1] = 0;
    assert_int_equal(cdx_preprocess_open(spec, &p, &pp, &eb), CDX_ERR_CONTRACT);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "image.std[1]"));
    cdx_preprocess_image_defaults(CDX_FAMILY_SIGLIP, 0, spec);
    assert_int_equal(cdx_preprocess_open(spec, &p, &pp, &eb), CDX_ERR_CONTRACT);
    cdx_preprocess_image_defaults(CDX_FAMILY_SIGLIP, 224, spec);
    spec->image.rescale = NAN;
    assert_int_equal(cdx_preprocess_open(spec, &p, &pp, &eb), CDX_ERR_CONTRACT);
    spec->image.rescale = 1.0 / 255;
    p.vips_concurrency = 0;
    assert_int_equal(cdx_preprocess_open(spec, &p, &pp, &eb), CDX_ERR_INVAL);
    p = cdx_preprocess_default_params();
    p.shrink_margin = 0.5;
    assert_int_equal(cdx_preprocess_open(spec, &p, &pp, &eb), CDX_ERR_INVAL);
    assert_null(pp);

    p = cdx_preprocess_default_params();
    assert_int_equal(cdx_preprocess_open(spec, &p, &pp, &eb), CDX_OK);
    assert_int_equal(cdx_preprocess_tensor_floats(pp), 3 * 224 * 224);
    float small[16];
    assert_int_equal(cdx_preprocess_buffer(pp, "x", 1, "a", small, 16, NULL, &eb), CDX_ERR_INVAL);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "needs 150528"));
    float *t = malloc(3 * 224 * 224 * sizeof *t);
    assert_int_equal(cdx_preprocess_buffer(pp, NULL, 10, "a", t, 3 * 224 * 224, NULL, &eb), CDX_ERR_INVAL);
    assert_int_equal(cdx_preprocess_buffer(pp, NULL, 0, NULL, t, 3 * 224 * 224, NULL, &eb), CDX_ERR_DECODE);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "<buffer>: empty"));
    free(t);
    cdx_preprocess_close(pp);
    cdx_preprocess_close(NULL);
    free(spec);
}

/* ---- thumbnails ----------------------------------------------------------------- */

static void thumbnails(void **state)
{
    (void)state;
    cdx_preprocess_params p = cdx_preprocess_default_params();
    cdx_preprocess *pp = open_family(CDX_FAMILY_CLIP, 224, &p);
    static const struct {
        const char *name;
        int w, h;
    } cases[] = {
        {"jpeg_exif_6", 38, 64}, /* 150x90 stored, portrait once oriented */
        {"png_rgba", 64, 50},    /* alpha flattened: 3 bands out */
        {"jpeg_cmyk", 64, 48},
        {"tiny_3x3", 3, 3},      /* never enlarged */
    };
    for (size_t i = 0; i < CDX_ARRAY_LEN(cases); i++) {
        char *path = image_path_by_name(cases[i].name);
        size_t len = 0;
        unsigned char *data = cdx_test_read_file(path, &len);
        uint8_t *jpeg = NULL;
        size_t jlen = 0;
        cdx_errbuf eb = {0};
        int rc = cdx_preprocess_thumbnail(pp, data, len, cases[i].name, 64, 80, &jpeg, &jlen, NULL, &eb);
        if (rc != CDX_OK)
            fail_msg("%s: %s", cases[i].name, cdx_errbuf_msg(&eb));
        VipsImage *im = vips_image_new_from_buffer(jpeg, jlen, "", NULL);
        assert_non_null(im);
        assert_int_equal(vips_image_get_width(im), cases[i].w);
        assert_int_equal(vips_image_get_height(im), cases[i].h);
        assert_int_equal(vips_image_get_bands(im), 3);
        g_object_unref(im);
        free(jpeg);
        free(data);
        free(path);
    }
    uint8_t *jpeg = (uint8_t *)"untouched";
    size_t jlen = 1;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_preprocess_thumbnail(pp, "hello", 5, "hello.txt", 64, 80, &jpeg, &jlen, NULL, &eb),
                     CDX_ERR_UNSUPPORTED);
    assert_null(jpeg);
    assert_int_equal(jlen, 0);
    cdx_preprocess_close(pp);
}

/* ---- the header peek ------------------------------------------------------------- */

static void header_peek(void **state)
{
    (void)state;
    static const struct {
        const char *name, *format;
        int w, h;
    } cases[] = {
        {"jpeg_q75_420", "jpeg", 320, 240}, {"jpeg_exif_6", "jpeg", 150, 90}, {"png_rgb", "png", 200, 130},
        {"gif", "gif", 160, 120},           {"webp_lossy", "webp", 240, 160}, {"webp_lossless", "webp", 160, 120},
        {"webp_alpha", "webp", 160, 120},
    };
    for (size_t i = 0; i < CDX_ARRAY_LEN(cases); i++) {
        char *path = image_path_by_name(cases[i].name);
        size_t len = 0;
        unsigned char *data = cdx_test_read_file(path, &len);
        cdx_imghdr h;
        assert_int_equal(cdx_imghdr_peek(data, len, &h), 1);
        assert_string_equal(h.format, cases[i].format);
        assert_int_equal(h.has_size, 1);
        assert_int_equal(h.width, cases[i].w);
        assert_int_equal(h.height, cases[i].h);
        /* Every prefix is safe to peek at. */
        for (size_t n = 0; n < len && n < 2048; n++)
            cdx_imghdr_peek(data, n, &h);
        free(data);
        free(path);
    }
    cdx_imghdr h;
    assert_int_equal(cdx_imghdr_peek((const uint8_t *)"hello", 5, &h), 0);
    assert_int_equal(cdx_imghdr_peek(NULL, 0, &h), 0);
    assert_string_equal(cdx_imghdr_sniff_other((const uint8_t *)"  <svg width=\"1\"/>", 18), "SVG");
    assert_string_equal(cdx_imghdr_sniff_other((const uint8_t *)"<!DOCTYPE html><html>", 21), "HTML");
    assert_string_equal(cdx_imghdr_sniff_other((const uint8_t *)"%PDF-1.7", 8), "PDF");
    assert_string_equal(cdx_imghdr_sniff_other((const uint8_t *)"plain words\n", 12), "text");
    assert_null(cdx_imghdr_sniff_other((const uint8_t *)"\x00\x01\x02\x03", 4));
    assert_null(cdx_imghdr_sniff_other(NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixtures_match_pillow_exactly),
        cmocka_unit_test(buffer_equals_file),
        cmocka_unit_test(threads_share_one_object),
        cmocka_unit_test(info_reports_layout),
        cmocka_unit_test(shrink_on_load_stays_close),
        cmocka_unit_test(heif_and_avif),
        cmocka_unit_test(hostile_files),
        cmocka_unit_test(fail_on_levels),
        cmocka_unit_test(unreadable_file),
        cmocka_unit_test(odd_names_are_escaped),
        cmocka_unit_test(time_budget_stops_slow_decodes),
        cmocka_unit_test(bad_arguments_and_contracts),
        cmocka_unit_test(thumbnails),
        cmocka_unit_test(header_peek),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
