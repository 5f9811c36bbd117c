/* Golden pack reader (see golden.h). index.json is parsed with jansson into
 * strings copied onto the handle; each tensor file must hold exactly
 * prod(shape) elements of its dtype, and the shapes must agree with the
 * pack's own dimensions and entry counts, so a truncated or mismatched pack
 * is an error that names the file, never a short read. */
#include "encoder/golden.h"

#include "common/util.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tensor_id { T_PIXELS, T_IMAGE_EMBEDS, T_INPUT_IDS, T_MASK, T_TEXT_EMBEDS, T_COUNT };

static const struct {
    const char *key, *dtype;
    size_t elem;
} tensor_defs[T_COUNT] = {
    {"pixel_values", "float32", 4}, {"image_embeds", "float32", 4}, {"input_ids", "int64", 8},
    {"attention_mask", "int64", 8}, {"text_embeds", "float32", 4},
};

struct cdx_golden {
    char *dir;
    char *model, *family;
    cdx_golden_info info;
    cdx_golden_image *images;
    cdx_golden_text *texts;
    char *tensor_file[T_COUNT];
    void *tensor[T_COUNT];
};


void cdx_golden_close(cdx_golden *g)
{
    if (!g)
        return;
    for (int i = 0; g->images && i < g->info.n_images; i++) {
        free((char *)g->images[i].name);
        free((char *)g->images[i].path);
        free((char *)g->images[i].why);
    }
    for (int j = 0; g->texts && j < g->info.n_texts; j++) {
        free((char *)g->texts[j].name);
        free((char *)g->texts[j].text);
        free((char *)g->texts[j].why);
    }
    for (int t = 0; t < T_COUNT; t++) {
        free(g->tensor_file[t]);
        free(g->tensor[t]);
    }
    free(g->images);
    free(g->texts);
    free(g->model);
    free(g->family);
    free(g->dir);
    free(g);
}

/* Reads an integer field >= min; fails naming the field. */
static int get_int(json_t *obj, const char *key, int min, int32_t *out, const char *where, cdx_errbuf *eb)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > INT32_MAX)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: %s: expected an integer >= %d", where, key, min);
    *out = (int32_t)json_integer_value(v);
    return CDX_OK;
}

static int get_str(json_t *obj, const char *key, char **out, size_t *len, const char *where, cdx_errbuf *eb)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: %s: expected a string", where, key);
    if (len)
        *len = json_string_length(v);
    /* json strings may hold NUL; copy the whole length */
    size_t n = json_string_length(v);
    *out = malloc(n + 1);
    if (!*out)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", where);
    memcpy(*out, json_string_value(v), n);
    (*out)[n] = '\0';
    return CDX_OK;
}

/* The expected shape of tensor t given the pack's dimensions. */
static void expected_shape(const cdx_golden *g, int t, int64_t shape[4], int *rank)
{
    const cdx_golden_info *in = &g->info;
    switch (t) {
    case T_PIXELS:
        *rank = 4;
        shape[0] = in->n_images, shape[1] = 3, shape[2] = in->height, shape[3] = in->width;
        break;
    case T_IMAGE_EMBEDS:
        *rank = 2;
        shape[0] = in->n_images, shape[1] = in->dim;
        break;
    case T_TEXT_EMBEDS:
        *rank = 2;
        shape[0] = in->n_texts, shape[1] = in->dim;
        break;
    default:
        *rank = 2;
        shape[0] = in->n_texts, shape[1] = in->context_length;
        break;
    }
}

static int parse_tensors(cdx_golden *g, json_t *tensors, const char *where, cdx_errbuf *eb)
{
    if (!json_is_object(tensors))
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: tensors: expected an object", where);
    for (int t = 0; t < T_COUNT; t++) {
        char field[96];
        snprintf(field, sizeof field, "tensors.%s", tensor_defs[t].key);
        json_t *o = json_object_get(tensors, tensor_defs[t].key);
        if (!json_is_object(o))
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: %s: missing", where, field);
        char *file = NULL;
        int rc = get_str(o, "file", &file, NULL, field, eb);
        if (rc != CDX_OK)
            return rc;
        g->tensor_file[t] = file;
        if (!*file || strstr(file, "..") || file[0] == '/')
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: %s.file: '%s' must be a path inside the pack", where, field,
                                  file);
        const char *dt = json_string_value(json_object_get(o, "dtype"));
        if (!dt || strcmp(dt, tensor_defs[t].dtype) != 0)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: %s.dtype: expected \"%s\", got \"%s\"", where, field,
                                  tensor_defs[t].dtype, dt ? dt : "(missing)");
        json_t *shape = json_object_get(o, "shape");
        int64_t want[4];
        int rank;
        expected_shape(g, t, want, &rank);
        if (!json_is_array(shape) || (int)json_array_size(shape) != rank)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: %s.shape: expected rank %d", where, field, rank);
        for (int d = 0; d < rank; d++) {
            json_t *v = json_array_get(shape, (size_t)d);
            if (!json_is_integer(v) || json_integer_value(v) != want[d])
                return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: %s.shape[%d]: expected %lld (from the pack's counts and sizes)",
                                      where, field, d, (long long)want[d]);
        }
    }
    return CDX_OK;
}

static int parse_entries(cdx_golden *g, json_t *root, const char *where, cdx_errbuf *eb)
{
    json_t *images = json_object_get(root, "images"), *texts = json_object_get(root, "texts");
    if (!json_is_array(images) || !json_is_array(texts))
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: images and texts must be arrays", where);
    g->info.n_images = (int32_t)json_array_size(images);
    g->info.n_texts = (int32_t)json_array_size(texts);
    g->images = calloc((size_t)g->info.n_images + 1, sizeof *g->images);
    g->texts = calloc((size_t)g->info.n_texts + 1, sizeof *g->texts);
    if (!g->images || !g->texts)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", where);
    for (int i = 0; i < g->info.n_images; i++) {
        char at[64];
        snprintf(at, sizeof at, "images[%d]", i);
        json_t *e = json_array_get(images, (size_t)i);
        char *file = NULL;
        cdx_golden_image *im = &g->images[i];
        int rc = get_str(e, "name", (char **)&im->name, NULL, at, eb);
        if (rc == CDX_OK)
            rc = get_str(e, "file", &file, NULL, at, eb);
        if (rc == CDX_OK)
            rc = get_str(e, "why", (char **)&im->why, NULL, at, eb);
        if (rc == CDX_OK && (strstr(file, "..") || file[0] == '/'))
            rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: %s.file: '%s' must be a path inside the pack", where, at, file);
        if (rc == CDX_OK) {
            size_t n = strlen(g->dir) + strlen(file) + 2;
            char *p = malloc(n);
            if (p)
                snprintf(p, n, "%s/%s", g->dir, file);
            im->path = p;
        }
        free(file);
        if (rc != CDX_OK)
            return rc;
    }
    for (int j = 0; j < g->info.n_texts; j++) {
        char at[64];
        snprintf(at, sizeof at, "texts[%d]", j);
        json_t *e = json_array_get(texts, (size_t)j);
        cdx_golden_text *tx = &g->texts[j];
        int rc = get_str(e, "name", (char **)&tx->name, NULL, at, eb);
        if (rc == CDX_OK)
            rc = get_str(e, "text", (char **)&tx->text, &tx->text_len, at, eb);
        if (rc == CDX_OK)
            rc = get_str(e, "why", (char **)&tx->why, NULL, at, eb);
        if (rc == CDX_OK)
            rc = get_int(e, "n_tokens", 0, &tx->n_tokens, at, eb);
        if (rc == CDX_OK && tx->n_tokens > g->info.context_length)
            rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: %s.n_tokens %d exceeds context_length %d", where, at,
                                tx->n_tokens, g->info.context_length);
        if (rc != CDX_OK)
            return rc;
    }
    return CDX_OK;
}

int cdx_golden_parse_index(const char *json, size_t len, const char *dir, cdx_golden **out, cdx_errbuf *eb)
{
    *out = NULL;
    char where[4200];
    snprintf(where, sizeof where, "%s/index.json", dir);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: not a JSON object (%s, line %d)", where,
                              root ? "wrong type" : jerr.text, jerr.line);
    }
    cdx_golden *g = calloc(1, sizeof *g);
    int rc = g ? CDX_OK : CDX_ERR_NOMEM;
    if (rc == CDX_OK && !(g->dir = strdup(dir)))
        rc = CDX_ERR_NOMEM;
    const char *schema = json_string_value(json_object_get(root, "schema"));
    if (rc == CDX_OK && (!schema || strcmp(schema, "clipdex.golden/1") != 0))
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: schema: expected \"clipdex.golden/1\", got \"%s\"", where,
                            schema ? schema : "(missing)");
    json_t *size = json_object_get(root, "image_size");
    if (rc == CDX_OK && (!json_is_array(size) || json_array_size(size) != 2 ||
                         json_integer_value(json_array_get(size, 0)) < 1 ||
                         json_integer_value(json_array_get(size, 1)) < 1 ||
                         json_integer_value(json_array_get(size, 0)) > 8192 ||
                         json_integer_value(json_array_get(size, 1)) > 8192))
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: image_size: expected [height, width] in 1..8192", where);
    if (rc == CDX_OK) {
        g->info.height = (int32_t)json_integer_value(json_array_get(size, 0));
        g->info.width = (int32_t)json_integer_value(json_array_get(size, 1));
        rc = get_int(root, "dim", 1, &g->info.dim, where, eb);
    }
    if (rc == CDX_OK)
        rc = get_int(root, "context_length", 1, &g->info.context_length, where, eb);
    if (rc == CDX_OK)
        rc = get_str(root, "model", &g->model, NULL, where, eb);
    if (rc == CDX_OK)
        rc = get_str(root, "family", &g->family, NULL, where, eb);
    if (rc == CDX_OK && g->info.dim > 65536)
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: dim %d is implausible", where, g->info.dim);
    if (rc == CDX_OK && g->info.context_length > 65536)
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: context_length %d is implausible", where, g->info.context_length);
    if (rc == CDX_OK)
        rc = parse_entries(g, root, where, eb);
    if (rc == CDX_OK)
        rc = parse_tensors(g, json_object_get(root, "tensors"), where, eb);
    json_decref(root);
    if (rc == CDX_ERR_NOMEM)
        cdx_errbuf_set(eb, rc, "%s: out of memory", where);
    if (rc != CDX_OK) {
        cdx_golden_close(g);
        return rc;
    }
    g->info.model = g->model;
    g->info.family = g->family;
    *out = g;
    return CDX_OK;
}

static int load_tensor(cdx_golden *g, int t, cdx_errbuf *eb)
{
    int64_t shape[4];
    int rank;
    expected_shape(g, t, shape, &rank);
    size_t want = tensor_defs[t].elem;
    for (int d = 0; d < rank; d++)
        want *= (size_t)shape[d];
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", g->dir, g->tensor_file[t]);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cdx_errbuf_set(eb, errno == ENOENT ? CDX_ERR_NOTFOUND : CDX_ERR_IO, "golden pack: open %s: %s", path,
                              strerror(errno));
    fseek(f, 0, SEEK_END);
    long got = ftell(f);
    fseek(f, 0, SEEK_SET);
    int rc = CDX_OK;
    if (got < 0 || (size_t)got != want) {
        rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "golden pack: %s holds %ld bytes; its shape in index.json needs %zu",
                            path, got, want);
    } else if (!(g->tensor[t] = malloc(want ? want : 1))) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "golden pack: %s: out of memory", path);
    } else if (fread(g->tensor[t], 1, want, f) != want) {
        rc = cdx_errbuf_set(eb, CDX_ERR_IO, "golden pack: read %s failed", path);
    }
    fclose(f);
    return rc;
}

int cdx_golden_open(const char *dir, cdx_golden **out, cdx_errbuf *eb)
{
    *out = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/index.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cdx_errbuf_set(eb, errno == ENOENT ? CDX_ERR_NOTFOUND : CDX_ERR_IO,
                              "golden pack: open %s: %s (the contract's golden.pack names the directory)", path,
                              strerror(errno));
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 65536 > cap) {
            char *nb = realloc(buf, cap = cap * 2 + 65536);
            if (!nb) {
                free(buf);
                fclose(f);
                return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "golden pack: %s: out of memory", path);
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    cdx_golden *g = NULL;
    int rc = cdx_golden_parse_index(buf, n, dir, &g, eb);
    free(buf);
    for (int t = 0; rc == CDX_OK && t < T_COUNT; t++)
        rc = load_tensor(g, t, eb);
    if (rc != CDX_OK) {
        cdx_golden_close(g);
        return rc;
    }
    /* A reference row must be a real vector: a zero or NaN embedding would make
     * every cosine meaningless. */
    for (int i = 0; i < g->info.n_images + g->info.n_texts; i++) {
        const float *v = i < g->info.n_images ? cdx_golden_image_embed(g, i)
                                              : cdx_golden_text_embed(g, i - g->info.n_images);
        double s = 0;
        for (int d = 0; d < g->info.dim; d++)
            s += (double)v[d] * v[d];
        if (!(s > 0) || !isfinite(s)) {
            int is_image = i < g->info.n_images;
            int row_index = is_image ? i : i - g->info.n_images;
            cdx_golden_close(g);
            return cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "golden pack %s: reference %s embedding %d is zero or not finite",
                                  dir, is_image ? "image" : "text", row_index);
        }
    }
    *out = g;
    return CDX_OK;
}

const cdx_golden_info *cdx_golden_get_info(const cdx_golden *g) { return &g->info; }

const cdx_golden_image *cdx_golden_get_image(const cdx_golden *g, int32_t i)
{
    return i >= 0 && i < g->info.n_images ? &g->images[i] : NULL;
}

const cdx_golden_text *cdx_golden_get_text(const cdx_golden *g, int32_t j)
{
    return j >= 0 && j < g->info.n_texts ? &g->texts[j] : NULL;
}

static const void *row(const cdx_golden *g, int t, int32_t i, int32_t n, size_t row_elems)
{
    if (!g->tensor[t] || i < 0 || i >= n)
        return NULL;
    return (const char *)g->tensor[t] + (size_t)i * row_elems * tensor_defs[t].elem;
}

const float *cdx_golden_pixel_values(const cdx_golden *g, int32_t i)
{
    return row(g, T_PIXELS, i, g->info.n_images, 3 * (size_t)g->info.height * (size_t)g->info.width);
}
const float *cdx_golden_image_embed(const cdx_golden *g, int32_t i)
{
    return row(g, T_IMAGE_EMBEDS, i, g->info.n_images, (size_t)g->info.dim);
}
const int64_t *cdx_golden_input_ids(const cdx_golden *g, int32_t j)
{
    return row(g, T_INPUT_IDS, j, g->info.n_texts, (size_t)g->info.context_length);
}
const int64_t *cdx_golden_attention_mask(const cdx_golden *g, int32_t j)
{
    return row(g, T_MASK, j, g->info.n_texts, (size_t)g->info.context_length);
}
const float *cdx_golden_text_embed(const cdx_golden *g, int32_t j)
{
    return row(g, T_TEXT_EMBEDS, j, g->info.n_texts, (size_t)g->info.dim);
}

double cdx_cosine(const float *a, const float *b, int32_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int32_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

double cdx_l2_normalize(float *v, int32_t n)
{
    double s = 0;
    for (int32_t i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    double norm = sqrt(s);
    if (norm > 0)
        for (int32_t i = 0; i < n; i++)
            v[i] = (float)(v[i] / norm);
    return norm;
}
