/* `clipdex preprocess`: run images through the encoder's preprocessing and
 * report what it saw, optionally writing the tensors (raw float32 NCHW, the
 * golden pack's pixel_values layout) or the 8-bit crops. A tool for checking
 * agreement with the Pillow reference (tools/preprocess/compare.py) and for
 * measuring decode+preprocess speed (--repeat, --threads).
 *
 * Until the contract loader lands, the image settings come from a family
 * preset (--family, --size) with overrides. */
#include "cli/cli.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/escape.h"
#include "encoder/preprocess.h"

#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: clipdex preprocess [options] IMAGE...\n"
            "  --family clip|siglip       preset image settings (default clip)\n"
            "  --size N                   model input N x N (default 224)\n"
            "  --resize-to N              CLIP shortest edge (default: --size)\n"
            "  --interpolation bicubic|bilinear|nearest\n"
            "  --mean R,G,B --std R,G,B --background R,G,B\n"
            "  --resampler pillow|vips-reduce|vips-resize   (default pillow)\n"
            "  --no-shrink                full-size decode (no JPEG/WebP shrink-on-load)\n"
            "  --shrink-margin M          shrink-on-load margin (default 4)\n"
            "  --max-pixels N --max-bytes N --budget-ms N --fail-on truncated|error|warning\n"
            "  --out FILE                 write float32 tensors [N, 3, H, W] (failed items: zeros)\n"
            "  --rgb-out FILE             write the 8-bit crops [N, H, W, 3]\n"
            "  --repeat N                 process the list N times and report images/s\n"
            "  --threads N                decode workers (default 1), libvips concurrency 1 each\n"
            "  --json                     one JSON object per image\n"
            "exit: 0 all images ok, 3 some image failed, 2 usage\n");
}

/* Option values that name an enum: a table per option. */
typedef struct name_value {
    const char *name;
    int value;
} name_value;

static const name_value families[] = {{"clip", CDX_FAMILY_CLIP}, {"siglip", CDX_FAMILY_SIGLIP}, {0, 0}};
static const name_value interps[] = {
    {"bicubic", CDX_INTERP_BICUBIC}, {"bilinear", CDX_INTERP_BILINEAR}, {"nearest", CDX_INTERP_NEAREST}, {0, 0}};
static const name_value resamplers[] = {{"pillow", CDX_PREPROCESS_RESAMPLER_PILLOW},
                                        {"vips-reduce", CDX_PREPROCESS_RESAMPLER_VIPS_REDUCE},
                                        {"vips-resize", CDX_PREPROCESS_RESAMPLER_VIPS_RESIZE},
                                        {0, 0}};
static const name_value fail_ons[] = {{"truncated", CDX_PREPROCESS_FAIL_ON_TRUNCATED},
                                      {"error", CDX_PREPROCESS_FAIL_ON_ERROR},
                                      {"warning", CDX_PREPROCESS_FAIL_ON_WARNING},
                                      {0, 0}};

/* The value named s in t, or -1 after printing the choices. */
static int lookup(const char *opt, const name_value *t, const char *s)
{
    for (const name_value *e = t; e->name; e++)
        if (strcmp(e->name, s) == 0)
            return e->value;
    fprintf(stderr, "clipdex preprocess: --%s %s: expected one of", opt, s);
    for (const name_value *e = t; e->name; e++)
        fprintf(stderr, " %s", e->name);
    fprintf(stderr, "\n");
    return -1;
}

static int parse_triple(const char *s, double v[3])
{
    char *end;
    for (int i = 0; i < 3; i++) {
        v[i] = strtod(s, &end);
        if (end == s || (i < 2 && *end != ',') || (i == 2 && *end != '\0'))
            return -1;
        s = end + 1;
    }
    return 0;
}

typedef struct bench_ctx {
    const cdx_preprocess *pp;
    char **files;
    int nfiles;
    int repeat;
    int next;
    int failures;
    pthread_mutex_t mu;
} bench_ctx;

static void *bench_worker(void *a)
{
    bench_ctx *b = a;
    float *t = malloc(cdx_preprocess_tensor_floats(b->pp) * sizeof *t);
    for (;;) {
        pthread_mutex_lock(&b->mu);
        int i = b->next++;
        pthread_mutex_unlock(&b->mu);
        if (!t || i >= b->nfiles * b->repeat)
            break;
        cdx_errbuf eb = {0};
        if (cdx_preprocess_file(b->pp, b->files[i % b->nfiles], t, cdx_preprocess_tensor_floats(b->pp), NULL,
                                &eb) != CDX_OK) {
            pthread_mutex_lock(&b->mu);
            b->failures++;
            pthread_mutex_unlock(&b->mu);
        }
    }
    free(t);
    return NULL;
}

static json_t *info_json(const char *file, int rc, const cdx_errbuf *eb, const cdx_preprocess_info *in)
{
    char name[1024];
    json_t *o = json_object();
    json_object_set_new(o, "file", json_string(cdx_escape_name(file, name, sizeof name)));
    json_object_set_new(o, "ok", json_boolean(rc == CDX_OK));
    if (rc != CDX_OK) {
        json_object_set_new(o, "error", json_string(cdx_errname(rc)));
        json_object_set_new(o, "message", json_string(cdx_errbuf_msg(eb)));
    }
    json_object_set_new(o, "format", json_string(in->format));
    json_object_set_new(o, "loader", json_string(in->loader));
    json_object_set_new(o, "bytes", json_integer(in->bytes));
    json_object_set_new(o, "width", json_integer(in->width));
    json_object_set_new(o, "height", json_integer(in->height));
    json_object_set_new(o, "orientation", json_integer(in->orientation));
    json_object_set_new(o, "pages", json_integer(in->pages));
    json_object_set_new(o, "bands", json_integer(in->bands));
    json_object_set_new(o, "bits", json_integer(in->bits));
    json_object_set_new(o, "alpha", json_boolean(in->has_alpha));
    json_object_set_new(o, "colour", json_string(cdx_preprocess_colour_name(in->colour)));
    json_object_set_new(o, "shrink", json_integer(in->shrink));
    json_object_set_new(o, "decoded", json_pack("[ii]", in->decoded_width, in->decoded_height));
    json_object_set_new(o, "resized", json_pack("[ii]", in->resized_width, in->resized_height));
    json_object_set_new(o, "ms", json_real(cdx_ns_to_ms(in->elapsed_ns)));
    return o;
}

int cdx_cmd_preprocess(int argc, char **argv)
{
    static const struct option opts[] = {
        {"family", required_argument, 0, 'f'},     {"size", required_argument, 0, 's'},
        {"resize-to", required_argument, 0, 'r'},  {"interpolation", required_argument, 0, 'i'},
        {"mean", required_argument, 0, 'm'},       {"std", required_argument, 0, 'd'},
        {"background", required_argument, 0, 'g'}, {"resampler", required_argument, 0, 'R'},
        {"no-shrink", no_argument, 0, 'n'},        {"shrink-margin", required_argument, 0, 'M'},
        {"max-pixels", required_argument, 0, 'P'}, {"max-bytes", required_argument, 0, 'B'},
        {"budget-ms", required_argument, 0, 'T'},  {"fail-on", required_argument, 0, 'F'},
        {"out", required_argument, 0, 'o'},        {"rgb-out", required_argument, 0, 'O'},
        {"repeat", required_argument, 0, 'N'},     {"threads", required_argument, 0, 't'},
        {"json", no_argument, 0, 'j'},             {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = "preprocess";
    enum cdx_family family = CDX_FAMILY_CLIP;
    int size = 224, resize_to = 0, repeat = 0, threads = 1, as_json = 0;
    int interp = -1;
    double mean[3], std[3], bg[3];
    int have_mean = 0, have_std = 0, have_bg = 0;
    const char *out_path = NULL, *rgb_path = NULL;
    cdx_preprocess_params p = cdx_preprocess_default_params();
    optind = 1;
    int c, v;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if ((v = lookup("family", families, optarg)) < 0)
                return 2;
            family = (enum cdx_family)v;
            break;
        case 's': size = atoi(optarg); break;
        case 'r': resize_to = atoi(optarg); break;
        case 'i':
            if ((interp = lookup("interpolation", interps, optarg)) < 0)
                return 2;
            break;
        case 'm':
        case 'd':
        case 'g': {
            double *tri = c == 'm' ? mean : c == 'd' ? std : bg;
            if (parse_triple(optarg, tri) != 0)
                return cdx_cli_usage_error(cmd, "--%s %s: expected three numbers R,G,B",
                                           c == 'm' ? "mean" : c == 'd' ? "std" : "background", optarg);
            *(c == 'm' ? &have_mean : c == 'd' ? &have_std : &have_bg) = 1;
            break;
        }
        case 'R':
            if ((v = lookup("resampler", resamplers, optarg)) < 0)
                return 2;
            p.resampler = (enum cdx_preprocess_resampler)v;
            break;
        case 'n': p.shrink_on_load = 0; break;
        case 'M': p.shrink_margin = atof(optarg); break;
        case 'P': p.max_pixels = atoll(optarg); break;
        case 'B': p.max_bytes = atoll(optarg); break;
        case 'T': p.budget_ms = atoi(optarg); break;
        case 'F':
            if ((v = lookup("fail-on", fail_ons, optarg)) < 0)
                return 2;
            p.fail_on = (enum cdx_preprocess_fail_on)v;
            break;
        case 'o': out_path = optarg; break;
        case 'O': rgb_path = optarg; break;
        case 'N': repeat = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'j': as_json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    if (size < 1 || threads < 1 || threads > 256 || repeat < 0)
        return cdx_cli_usage_error(cmd, "--size, --threads (1..256) and --repeat must be positive");

    cdx_contract_spec *spec = calloc(1, sizeof *spec);
    if (!spec)
        return 4;
    snprintf(spec->id, sizeof spec->id, "%s-preset", family == CDX_FAMILY_CLIP ? "clip" : "siglip");
    cdx_preprocess_image_defaults(family, size, spec);
    if (resize_to > 0)
        spec->image.resize_to = resize_to;
    if (interp >= 0)
        spec->image.interpolation = (enum cdx_interp)interp;
    for (int k = 0; k < 3; k++) {
        if (have_mean)
            spec->image.mean[k] = (float)mean[k];
        if (have_std)
            spec->image.std[k] = (float)std[k];
        if (have_bg)
            spec->image.background[k] = (uint8_t)(bg[k] < 0 ? 0 : bg[k] > 255 ? 255 : bg[k]);
    }
    cdx_errbuf eb = {0};
    cdx_preprocess *pp = NULL;
    int rc = cdx_preprocess_open(spec, &p, &pp, &eb);
    free(spec);
    if (rc != CDX_OK) {
        fprintf(stderr, "clipdex preprocess: %s\n", cdx_errbuf_msg(&eb));
        return cdx_exit_code(rc);
    }
    char **files = argv + optind;
    int nfiles = argc - optind;
    int exit_code = 0;

    if (repeat > 0) {
        bench_ctx b = {.pp = pp, .files = files, .nfiles = nfiles, .repeat = repeat};
        pthread_mutex_init(&b.mu, NULL);
        pthread_t tid[256];
        int64_t t0 = cdx_clock_ns();
        for (int k = 0; k < threads; k++)
            pthread_create(&tid[k], NULL, bench_worker, &b);
        for (int k = 0; k < threads; k++)
            pthread_join(tid[k], NULL);
        double secs = (double)(cdx_clock_ns() - t0) / 1e9;
        int n = nfiles * repeat;
        printf("%d images in %.3f s: %.2f images/s with %d thread%s (%.2f per thread), %d failed\n", n, secs,
               n / secs, threads, threads == 1 ? "" : "s", n / secs / threads, b.failures);
        pthread_mutex_destroy(&b.mu);
        cdx_preprocess_close(pp);
        return b.failures ? 3 : 0;
    }

    size_t nf = cdx_preprocess_tensor_floats(pp);
    float *t = malloc(nf * sizeof *t);
    uint8_t *rgb = malloc(nf);
    FILE *fo = out_path ? fopen(out_path, "wb") : NULL;
    FILE *fr = rgb_path ? fopen(rgb_path, "wb") : NULL;
    if (!t || !rgb || (out_path && !fo) || (rgb_path && !fr)) {
        fprintf(stderr, "clipdex preprocess: cannot open the output files or allocate buffers\n");
        exit_code = 4;
        goto done;
    }
    for (int k = 0; k < nfiles; k++) {
        cdx_preprocess_info info;
        rc = cdx_preprocess_file_rgb8(pp, files[k], rgb, nf, &info, &eb);
        if (rc == CDX_OK) {
            cdx_preprocess_normalize(pp, rgb, t);
        } else {
            memset(t, 0, nf * sizeof *t);
            memset(rgb, 0, nf);
            exit_code = 3;
        }
        if (as_json) {
            json_t *o = info_json(files[k], rc, &eb, &info);
            char *s = json_dumps(o, JSON_COMPACT);
            printf("%s\n", s ? s : "{}");
            free(s);
            json_decref(o);
        } else if (rc == CDX_OK) {
            char name[512];
            printf("%s: %s %dx%d orient=%d bands=%d bits=%d %s%s shrink=%d -> %dx%d, %.1f ms\n",
                   cdx_escape_name(files[k], name, sizeof name), info.format, info.width, info.height,
                   info.orientation, info.bands, info.bits, cdx_preprocess_colour_name(info.colour),
                   info.has_alpha ? "+alpha" : "", info.shrink, info.resized_width, info.resized_height,
                   cdx_ns_to_ms(info.elapsed_ns));
        } else {
            printf("%s: %s\n", cdx_errname(rc), cdx_errbuf_msg(&eb));
        }
        if ((fo && fwrite(t, sizeof *t, nf, fo) != nf) || (fr && fwrite(rgb, 1, nf, fr) != nf)) {
            fprintf(stderr, "clipdex preprocess: write failed\n");
            exit_code = 4;
            goto done;
        }
    }
done:
    if (fo && fclose(fo) != 0)
        exit_code = 4;
    if (fr && fclose(fr) != 0)
        exit_code = 4;
    free(t);
    free(rgb);
    cdx_preprocess_close(pp);
    return exit_code;
}
