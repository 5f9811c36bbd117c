/* Request parsing (request.h): JSON with jansson and protobuf with protobuf-c
 * into the same structs. Strict: an unknown field is an error (a typo should
 * not silently search without its filter), every count and size is checked
 * against the limits, and vectors must have the model's dimension. */
#include "server/request.h"

#include "common/util.h"
#include "contracts/clipdex.pb-c.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

cdx_request_limits cdx_request_default_limits(void)
{
    return (cdx_request_limits){
        .dim = 512, .k_max = 1000, .max_inputs = 256, .max_text_bytes = 4096, .max_image_bytes = 8 << 20};
}

/* ---- base64 ------------------------------------------------------------ */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *cdx_base64_encode(const uint8_t *in, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = b64chars[v >> 18];
        *o++ = b64chars[(v >> 12) & 63];
        *o++ = b64chars[(v >> 6) & 63];
        *o++ = b64chars[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *o++ = b64chars[v >> 18];
        *o++ = b64chars[(v >> 12) & 63];
        *o++ = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = 0;
    return out;
}

int cdx_base64_decode(const char *in, size_t len, cdx_arena *a, uint8_t **out, size_t *out_len)
{
    static int8_t dec[256];
    static int init;
    if (!init) { /* benign race: every thread writes the same table */
        memset(dec, -1, sizeof dec);
        for (int i = 0; i < 64; i++)
            dec[(uint8_t)b64chars[i]] = (int8_t)i;
        init = 1;
    }
    *out = NULL;
    *out_len = 0;
    if (len > 5 && strncmp(in, "data:", 5) == 0) {
        const char *comma = memchr(in, ',', len);
        if (!comma || comma - in < 12 || strncmp(comma - 7, ";base64", 7) != 0)
            return CDX_ERR_PARSE;
        len -= (size_t)(comma + 1 - in);
        in = comma + 1;
    }
    while (len > 0 && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return CDX_ERR_PARSE;
    uint8_t *buf = cdx_arena_alloc(a, len / 4 * 3 + 3);
    if (!buf)
        return CDX_ERR_NOMEM;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int8_t v = dec[(uint8_t)in[i]];
        if (v < 0)
            return CDX_ERR_PARSE;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *out_len = n;
    return CDX_OK;
}

/* ---- shared helpers ------------------------------------------------------ */

typedef struct pctx {
    const cdx_request_limits *lim;
    cdx_arena *a;
    const char **reason;
    cdx_errbuf *eb;
} pctx;

static int fail(pctx *c, int err, const char *reason, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(pctx *c, int err, const char *reason, const char *fmt, ...)
{
    char msg[CDX_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *c->reason = reason;
    return cdx_errbuf_set(c->eb, err, "%s", msg);
}

static int take_text(pctx *c, const char *s, size_t len, const char *field, const char **out, size_t *out_len)
{
    if ((int64_t)len > c->lim->max_text_bytes)
        return fail(c, CDX_ERR_TOOBIG, "too_large", "%s: %zu bytes; at most %lld", field, len,
                    (long long)c->lim->max_text_bytes);
    if (len == 0)
        return fail(c, CDX_ERR_INVAL, "invalid_field", "%s: empty text", field);
    char *t = cdx_arena_strndup(c->a, s, len);
    if (!t)
        return fail(c, CDX_ERR_NOMEM, "internal", "out of memory");
    if (strlen(t) != len)
        return fail(c, CDX_ERR_INVAL, "invalid_field", "%s: the text contains a NUL character", field);
    *out = t;
    *out_len = len;
    return CDX_OK;
}

static int take_image_b64(pctx *c, const char *s, size_t len, const char *field, const uint8_t **out, size_t *out_len)
{
    if ((int64_t)len / 4 * 3 > c->lim->max_image_bytes + 3)
        return fail(c, CDX_ERR_TOOBIG, "too_large", "%s: the image is over %lld bytes", field,
                    (long long)c->lim->max_image_bytes);
    uint8_t *b;
    size_t n;
    int rc = cdx_base64_decode(s, len, c->a, &b, &n);
    if (rc == CDX_ERR_NOMEM)
        return fail(c, rc, "internal", "out of memory");
    if (rc != CDX_OK)
        return fail(c, CDX_ERR_INVAL, "bad_base64",
                    "%s: not valid base64 (standard alphabet, optional '=' padding, or a data: URL)", field);
    if (n == 0)
        return fail(c, CDX_ERR_INVAL, "invalid_field", "%s: empty image", field);
    *out = b;
    *out_len = n;
    return CDX_OK;
}

static int take_image_bytes(pctx *c, const uint8_t *s, size_t len, const char *field, const uint8_t **out,
                            size_t *out_len)
{
    if ((int64_t)len > c->lim->max_image_bytes)
        return fail(c, CDX_ERR_TOOBIG, "too_large", "%s: %zu bytes; at most %lld", field, len,
                    (long long)c->lim->max_image_bytes);
    if (len == 0)
        return fail(c, CDX_ERR_INVAL, "invalid_field", "%s: empty image", field);
    uint8_t *b = cdx_arena_alloc(c->a, len);
    if (!b)
        return fail(c, CDX_ERR_NOMEM, "internal", "out of memory");
    memcpy(b, s, len);
    *out = b;
    *out_len = len;
    return CDX_OK;
}

/* Copies and L2-normalizes a query vector. */
static int take_vector(pctx *c, const double *v, size_t n, const float *vf, const char *field, const float **out)
{
    if ((int64_t)n != c->lim->dim)
        return fail(c, CDX_ERR_INVAL, "dim_mismatch", "%s: %zu numbers; this model's vectors have %d", field, n,
                    c->lim->dim);
    float *f = cdx_arena_alloc(c->a, n * sizeof *f);
    if (!f)
        return fail(c, CDX_ERR_NOMEM, "internal", "out of memory");
    double norm = 0;
    for (size_t i = 0; i < n; i++) {
        double x = v ? v[i] : vf[i];
        if (!isfinite(x))
            return fail(c, CDX_ERR_INVAL, "invalid_field", "%s[%zu]: not a finite number", field, i);
        f[i] = (float)x;
        norm += x * x;
    }
    if (!(norm > 1e-30))
        return fail(c, CDX_ERR_INVAL, "invalid_field", "%s: the vector is zero; nothing to compare by", field);
    float inv = (float)(1.0 / sqrt(norm));
    for (size_t i = 0; i < n; i++)
        f[i] *= inv;
    *out = f;
    return CDX_OK;
}

static int check_k(pctx *c, int64_t k)
{
    if (k < 1 || k > c->lim->k_max)
        return fail(c, CDX_ERR_INVAL, "k_out_of_range", "k: %lld is out of range; give 1..%d", (long long)k,
                    c->lim->k_max);
    return CDX_OK;
}

static int check_count(pctx *c, size_t n, const char *what)
{
    if (n > (size_t)c->lim->max_inputs)
        return fail(c, CDX_ERR_TOOBIG, "too_many_inputs", "%s: %zu given; at most %d per request", what, n,
                    c->lim->max_inputs);
    return CDX_OK;
}

/* Room for m more inputs after the *count there are; the new ones zeroed. */
static cdx_input *grow_inputs(pctx *c, cdx_input **inputs, int32_t count, size_t m, const char *field)
{
    if (check_count(c, (size_t)count + m, field) != CDX_OK)
        return NULL;
    cdx_input *all = cdx_arena_calloc(c->a, (size_t)count + m + 1, sizeof *all);
    if (!all) {
        fail(c, CDX_ERR_NOMEM, "internal", "out of memory");
        return NULL;
    }
    if (count)
        memcpy(all, *inputs, (size_t)count * sizeof *all);
    *inputs = all;
    return all + count;
}

/* ---- JSON ---------------------------------------------------------------- */

static int json_open(pctx *c, const char *body, size_t len, json_t **out)
{
    json_error_t err;
    *out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!*out)
        return fail(c, CDX_ERR_PARSE, "invalid_json", "the body is not valid JSON: %s (line %d, column %d)", err.text,
                    err.line, err.column);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return fail(c, CDX_ERR_PARSE, "invalid_json", "the body must be a JSON object");
    }
    return CDX_OK;
}

static int json_int(pctx *c, json_t *v, const char *field, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return CDX_OK;
    }
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e15) {
        *out = (int64_t)json_real_value(v);
        return CDX_OK;
    }
    return fail(c, CDX_ERR_INVAL, "invalid_field", "%s: expected an integer", field);
}

static int json_image(pctx *c, json_t *v, const char *field, const uint8_t **out, size_t *out_len)
{
    if (!json_is_string(v))
        return fail(c, CDX_ERR_INVAL, "invalid_field", "%s: expected a base64 string", field);
    return take_image_b64(c, json_string_value(v), json_string_length(v), field, out, out_len);
}

static int json_text(pctx *c, json_t *v, const char *field, const char **out, size_t *out_len)
{
    if (!json_is_string(v))
        return fail(c, CDX_ERR_INVAL, "invalid_field", "%s: expected a string", field);
    return take_text(c, json_string_value(v), json_string_length(v), field, out, out_len);
}

/* Takes the query field key (one of text, image, vector, item_id) if it is one. */
static int json_query_field(pctx *c, const char *key, json_t *v, cdx_query *q, int *taken)
{
    static const char *const kinds[] = {"text", "image", "vector", "item_id"};
    *taken = 0;
    for (size_t i = 0; i < CDX_ARRAY_LEN(kinds); i++) {
        if (strcmp(key, kinds[i]) != 0)
            continue;
        *taken = 1;
        if (q->kind != CDX_QUERY_NONE)
            return fail(c, CDX_ERR_INVAL, "invalid_field", "give one query: text, image, vector or item_id (%s was second)",
                        key);
        break;
    }
    if (!*taken)
        return CDX_OK;
    if (strcmp(key, "text") == 0) {
        q->kind = CDX_QUERY_TEXT;
        return json_text(c, v, "text", &q->text, &q->text_len);
    }
    if (strcmp(key, "image") == 0) {
        q->kind = CDX_QUERY_IMAGE;
        return json_image(c, v, "image", &q->image, &q->image_len);
    }
    if (strcmp(key, "item_id") == 0) {
        q->kind = CDX_QUERY_ITEM;
        int rc = json_int(c, v, "item_id", &q->item_id);
        if (rc == CDX_OK && q->item_id < 1)
            return fail(c, CDX_ERR_INVAL, "invalid_field", "item_id: %lld is not an item id", (long long)q->item_id);
        return rc;
    }
    q->kind = CDX_QUERY_VECTOR;
    if (!json_is_array(v))
        return fail(c, CDX_ERR_INVAL, "invalid_field", "vector: expected an array of numbers");
    size_t n = json_array_size(v);
    if (n > 65536)
        return fail(c, CDX_ERR_INVAL, "dim_mismatch", "vector: %zu numbers; this model's vectors have %d", n, c->lim->dim);
    double *d = cdx_arena_alloc(c->a, (n ? n : 1) * sizeof *d);
    if (!d)
        return fail(c, CDX_ERR_NOMEM, "internal", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(v, i);
        if (!json_is_number(x))
            return fail(c, CDX_ERR_INVAL, "invalid_field", "vector[%zu]: expected a number", i);
        d[i] = json_number_value(x);
    }
    return take_vector(c, d, n, NULL, "vector", &q->vector);
}

static int need_query(pctx *c, const cdx_query *q)
{
    if (q->kind == CDX_QUERY_NONE)
        return fail(c, CDX_ERR_INVAL, "missing_query", "give a query: text, image (base64), vector or item_id");
    return CDX_OK;
}

static int json_filter(pctx *c, json_t *f, cdx_search_request *out)
{
    if (!json_is_object(f))
        return fail(c, CDX_ERR_INVAL, "invalid_field", "filter: expected an object of key: value or key: {gte, gt, lte, lt}");
    if (json_object_size(f) > CDX_FILTER_MAX)
        return fail(c, CDX_ERR_INVAL, "invalid_field", "filter: %zu conditions; at most %d", json_object_size(f),
                    CDX_FILTER_MAX);
    const char *key;
    json_t *v;
    json_object_foreach(f, key, v)
    {
        cdx_cond *cd = &out->conds[out->n_conds++];
        memset(cd, 0, sizeof *cd);
        if (!(cd->key = cdx_arena_strdup(c->a, key)))
            return fail(c, CDX_ERR_NOMEM, "internal", "out of memory");
        if (json_is_string(v)) {
            cd->kind = CDX_VALUE_STRING;
            if (!(cd->str = cdx_arena_strdup(c->a, json_string_value(v))))
                return fail(c, CDX_ERR_NOMEM, "internal", "out of memory");
        } else if (json_is_number(v)) {
            cd->kind = CDX_VALUE_NUMBER;
            cd->num = json_number_value(v);
        } else if (json_is_boolean(v)) {
            cd->kind = CDX_VALUE_BOOL;
            cd->boolean = json_is_true(v);
        } else if (json_is_object(v)) {
            cd->op = CDX_COND_RANGE;
            const char *op;
            json_t *x;
            json_object_foreach(v, op, x)
            {
                if (!json_is_number(x))
                    return fail(c, CDX_ERR_INVAL, "invalid_field", "filter.%s.%s: expected a number", key, op);
                double d = json_number_value(x);
                if (strcmp(op, "gte") == 0 || strcmp(op, "gt") == 0) {
                    cd->has_lo = 1, cd->lo = d, cd->lo_open = op[2] == 0;
                } else if (strcmp(op, "lte") == 0 || strcmp(op, "lt") == 0) {
                    cd->has_hi = 1, cd->hi = d, cd->hi_open = op[2] == 0;
                } else {
                    return fail(c, CDX_ERR_INVAL, "invalid_field", "filter.%s: unknown operator '%s' (use gte, gt, lte, lt)",
                                key, op);
                }
            }
            if (!cd->has_lo && !cd->has_hi)
                return fail(c, CDX_ERR_INVAL, "invalid_field", "filter.%s: an empty range", key);
        } else {
            return fail(c, CDX_ERR_INVAL, "invalid_field",
                        "filter.%s: expected a string, number, boolean or a range object", key);
        }
    }
    return CDX_OK;
}

static int json_space(pctx *c, json_t *v, int32_t *space)
{
    const char *s = json_string_value(v);
    if (s && strcmp(s, "image") == 0)
        *space = 0;
    else if (s && strcmp(s, "caption") == 0)
        *space = 1;
    else
        return fail(c, CDX_ERR_INVAL, "invalid_field", "space: expected \"image\" or \"caption\"");
    return CDX_OK;
}

static int json_search(pctx *c, json_t *root, cdx_search_request *out)
{
    const char *key;
    json_t *v;
    int rc = CDX_OK;
    json_object_foreach(root, key, v)
    {
        int taken;
        if ((rc = json_query_field(c, key, v, &out->query, &taken)) != CDX_OK)
            return rc;
        if (taken)
            continue;
        int64_t k;
        if (strcmp(key, "k") == 0) {
            if ((rc = json_int(c, v, "k", &k)) != CDX_OK || (rc = check_k(c, k)) != CDX_OK)
                return rc;
            out->k = (int32_t)k;
        } else if (strcmp(key, "filter") == 0) {
            if ((rc = json_filter(c, v, out)) != CDX_OK)
                return rc;
        } else if (strcmp(key, "space") == 0) {
            if ((rc = json_space(c, v, &out->space)) != CDX_OK)
                return rc;
        } else {
            return fail(c, CDX_ERR_INVAL, "invalid_field",
                        "unknown field '%s' (search takes text, image, vector, item_id, k, filter, space)", key);
        }
    }
    return need_query(c, &out->query);
}

static int json_inputs(pctx *c, json_t *arr, enum cdx_input_kind kind, const char *field, cdx_input **inputs,
                       int32_t *n)
{
    if (!json_is_array(arr))
        return fail(c, CDX_ERR_INVAL, "invalid_field", "%s: expected an array", field);
    size_t m = json_array_size(arr);
    int rc = CDX_OK;
    cdx_input *fresh = grow_inputs(c, inputs, *n, m, field);
    if (!fresh)
        return c->eb->code;
    for (size_t i = 0; i < m; i++) {
        cdx_input *in = &fresh[i];
        json_t *v = json_array_get(arr, i);
        char f[48];
        snprintf(f, sizeof f, "%s[%zu]", field, i);
        in->kind = kind;
        if (kind == CDX_INPUT_TEXT)
            rc = json_text(c, v, f, &in->text, &in->text_len);
        else if (kind == CDX_INPUT_IMAGE)
            rc = json_image(c, v, f, &in->image, &in->image_len);
        else if ((rc = json_int(c, v, f, &in->id)) == CDX_OK && in->id < 1)
            rc = fail(c, CDX_ERR_INVAL, "invalid_field", "%s: %lld is not an item id", f, (long long)in->id);
        if (rc != CDX_OK)
            return rc;
    }
    *n += (int32_t)m;
    return CDX_OK;
}

static int json_rerank(pctx *c, json_t *root, cdx_rerank_request *out)
{
    const char *key;
    json_t *v;
    int rc;
    json_object_foreach(root, key, v)
    {
        int taken;
        if ((rc = json_query_field(c, key, v, &out->query, &taken)) != CDX_OK)
            return rc;
        if (taken)
            continue;
        if (strcmp(key, "candidates") != 0)
            return fail(c, CDX_ERR_INVAL, "invalid_field",
                        "unknown field '%s' (rerank takes text, image, vector or item_id, and candidates)", key);
        if (!json_is_object(v) || json_object_size(v) != 1)
            return fail(c, CDX_ERR_INVAL, "invalid_field",
                        "candidates: expected an object with one of ids, texts or images");
        const char *ck;
        json_t *arr;
        json_object_foreach(v, ck, arr)
        {
            enum cdx_input_kind kind = strcmp(ck, "ids") == 0     ? CDX_INPUT_ID
                                       : strcmp(ck, "texts") == 0 ? CDX_INPUT_TEXT
                                       : strcmp(ck, "images") == 0 ? CDX_INPUT_IMAGE
                                                                   : (enum cdx_input_kind)-1;
            if ((int)kind < 0)
                return fail(c, CDX_ERR_INVAL, "invalid_field", "candidates.%s: expected ids, texts or images", ck);
            char f[32];
            snprintf(f, sizeof f, "candidates.%s", ck);
            if ((rc = json_inputs(c, arr, kind, f, &out->candidates, &out->n)) != CDX_OK)
                return rc;
        }
    }
    if ((rc = need_query(c, &out->query)) != CDX_OK)
        return rc;
    if (out->n == 0)
        return fail(c, CDX_ERR_INVAL, "invalid_field", "candidates: give at least one id, text or image");
    return CDX_OK;
}

static int json_embed(pctx *c, json_t *root, cdx_embed_request *out)
{
    json_t *texts = json_object_get(root, "texts"), *images = json_object_get(root, "images");
    int rc;
    if (json_object_size(root) != (size_t)(!!texts + !!images))
        return fail(c, CDX_ERR_INVAL, "invalid_field", "embed takes only texts and images");
    if (texts && (rc = json_inputs(c, texts, CDX_INPUT_TEXT, "texts", &out->inputs, &out->n)) != CDX_OK)
        return rc;
    if (images && (rc = json_inputs(c, images, CDX_INPUT_IMAGE, "images", &out->inputs, &out->n)) != CDX_OK)
        return rc;
    if (out->n == 0)
        return fail(c, CDX_ERR_INVAL, "missing_query", "give texts or images to embed");
    return CDX_OK;
}

/* ---- protobuf ------------------------------------------------------------ */

static int pb_query(pctx *c, const Clipdex__V1__Query *q, cdx_query *out)
{
    int set = !!q->text + !!q->has_image + !!q->vector + !!q->has_item_id;
    if (set != 1)
        return fail(c, CDX_ERR_INVAL, set ? "invalid_field" : "missing_query",
                    "query: set exactly one of text, image, vector, item_id (%d set)", set);
    if (q->text) {
        out->kind = CDX_QUERY_TEXT;
        return take_text(c, q->text, strlen(q->text), "query.text", &out->text, &out->text_len);
    }
    if (q->has_image) {
        out->kind = CDX_QUERY_IMAGE;
        return take_image_bytes(c, q->image.data, q->image.len, "query.image", &out->image, &out->image_len);
    }
    if (q->has_item_id) {
        out->kind = CDX_QUERY_ITEM;
        out->item_id = q->item_id;
        if (q->item_id < 1)
            return fail(c, CDX_ERR_INVAL, "invalid_field", "query.item_id: %lld is not an item id", (long long)q->item_id);
        return CDX_OK;
    }
    out->kind = CDX_QUERY_VECTOR;
    return take_vector(c, NULL, q->vector->n_values, q->vector->values, "query.vector", &out->vector);
}

static int pb_search(pctx *c, const Clipdex__V1__SearchRequest *m, cdx_search_request *out)
{
    int rc = pb_query(c, m->query, &out->query);
    if (rc != CDX_OK || (rc = check_k(c, m->k)) != CDX_OK)
        return rc;
    out->k = m->k;
    if (m->space) {
        if (strcmp(m->space, "caption") == 0)
            out->space = 1;
        else if (strcmp(m->space, "image") != 0)
            return fail(c, CDX_ERR_INVAL, "invalid_field", "space: expected \"image\" or \"caption\"");
    }
    if (m->n_filter > CDX_FILTER_MAX)
        return fail(c, CDX_ERR_INVAL, "invalid_field", "filter: %zu conditions; at most %d", m->n_filter, CDX_FILTER_MAX);
    for (size_t i = 0; i < m->n_filter; i++) {
        const Clipdex__V1__Condition *f = m->filter[i];
        cdx_cond *cd = &out->conds[out->n_conds++];
        memset(cd, 0, sizeof *cd);
        if (!(cd->key = cdx_arena_strdup(c->a, f->key)))
            return fail(c, CDX_ERR_NOMEM, "internal", "out of memory");
        int eq = !!f->equals_string + f->has_equals_number + f->has_equals_bool;
        int range = f->has_gt + f->has_gte + f->has_lt + f->has_lte;
        if (eq + !!range != 1 || (f->has_gt && f->has_gte) || (f->has_lt && f->has_lte))
            return fail(c, CDX_ERR_INVAL, "invalid_field",
                        "filter[%zu] (%s): set one equals_* value, or a range (gt|gte, lt|lte)", i, f->key);
        if (f->equals_string) {
            cd->kind = CDX_VALUE_STRING;
            if (!(cd->str = cdx_arena_strdup(c->a, f->equals_string)))
                return fail(c, CDX_ERR_NOMEM, "internal", "out of memory");
        } else if (f->has_equals_number) {
            cd->kind = CDX_VALUE_NUMBER, cd->num = f->equals_number;
        } else if (f->has_equals_bool) {
            cd->kind = CDX_VALUE_BOOL, cd->boolean = f->equals_bool;
        } else {
            cd->op = CDX_COND_RANGE;
            cd->has_lo = f->has_gt || f->has_gte, cd->lo = f->has_gt ? f->gt : f->gte, cd->lo_open = f->has_gt;
            cd->has_hi = f->has_lt || f->has_lte, cd->hi = f->has_lt ? f->lt : f->lte, cd->hi_open = f->has_lt;
        }
    }
    return CDX_OK;
}

static int pb_inputs_text(pctx *c, char **texts, size_t n, const char *field, cdx_input **inputs, int32_t *count)
{
    int rc = CDX_OK;
    cdx_input *fresh = grow_inputs(c, inputs, *count, n, field);
    if (!fresh)
        return c->eb->code;
    for (size_t i = 0; i < n; i++) {
        cdx_input *in = &fresh[i];
        in->kind = CDX_INPUT_TEXT;
        if ((rc = take_text(c, texts[i], strlen(texts[i]), field, &in->text, &in->text_len)) != CDX_OK)
            return rc;
    }
    *count += (int32_t)n;
    return CDX_OK;
}

static int pb_inputs_image(pctx *c, const ProtobufCBinaryData *imgs, size_t n, const char *field, cdx_input **inputs,
                           int32_t *count)
{
    int rc = CDX_OK;
    cdx_input *fresh = grow_inputs(c, inputs, *count, n, field);
    if (!fresh)
        return c->eb->code;
    for (size_t i = 0; i < n; i++) {
        cdx_input *in = &fresh[i];
        in->kind = CDX_INPUT_IMAGE;
        if ((rc = take_image_bytes(c, imgs[i].data, imgs[i].len, field, &in->image, &in->image_len)) != CDX_OK)
            return rc;
    }
    *count += (int32_t)n;
    return CDX_OK;
}

static int pb_rerank(pctx *c, const Clipdex__V1__RerankRequest *m, cdx_rerank_request *out)
{
    int rc = pb_query(c, m->query, &out->query);
    if (rc != CDX_OK)
        return rc;
    int kinds = !!m->n_candidate_ids + !!m->n_candidate_texts + !!m->n_candidate_images;
    if (kinds != 1)
        return fail(c, CDX_ERR_INVAL, "invalid_field", "candidates: give one kind: candidate_ids, _texts or _images");
    if (m->n_candidate_ids) {
        if ((rc = check_count(c, m->n_candidate_ids, "candidate_ids")) != CDX_OK)
            return rc;
        out->candidates = cdx_arena_calloc(c->a, m->n_candidate_ids, sizeof *out->candidates);
        if (!out->candidates)
            return fail(c, CDX_ERR_NOMEM, "internal", "out of memory");
        for (size_t i = 0; i < m->n_candidate_ids; i++) {
            out->candidates[i].kind = CDX_INPUT_ID;
            out->candidates[i].id = m->candidate_ids[i];
            if (m->candidate_ids[i] < 1)
                return fail(c, CDX_ERR_INVAL, "invalid_field", "candidate_ids[%zu]: %lld is not an item id", i,
                            (long long)m->candidate_ids[i]);
        }
        out->n = (int32_t)m->n_candidate_ids;
        return CDX_OK;
    }
    if (m->n_candidate_texts)
        return pb_inputs_text(c, m->candidate_texts, m->n_candidate_texts, "candidate_texts", &out->candidates, &out->n);
    return pb_inputs_image(c, m->candidate_images, m->n_candidate_images, "candidate_images", &out->candidates, &out->n);
}

static int pb_embed(pctx *c, const Clipdex__V1__EmbedRequest *m, cdx_embed_request *out)
{
    int rc = pb_inputs_text(c, m->texts, m->n_texts, "texts", &out->inputs, &out->n);
    if (rc == CDX_OK)
        rc = pb_inputs_image(c, m->images, m->n_images, "images", &out->inputs, &out->n);
    if (rc == CDX_OK && out->n == 0)
        rc = fail(c, CDX_ERR_INVAL, "missing_query", "give texts or images to embed");
    return rc;
}

static int pb_bad(pctx *c, const char *what)
{
    return fail(c, CDX_ERR_PARSE, "invalid_protobuf", "the body is not a valid clipdex.v1.%s message", what);
}

/* ---- entry points -------------------------------------------------------- */

#define PARSE_ENTRY(NAME, TYPE, PBTYPE, PBFN, PBNAME)                                                              \
    int cdx_request_parse_##NAME(const char *body, size_t len, int is_pb, const cdx_request_limits *lim,           \
                                 cdx_arena *a, TYPE *out, const char **reason, cdx_errbuf *eb)                     \
    {                                                                                                              \
        pctx c = {lim, a, reason, eb};                                                                             \
        memset(out, 0, sizeof *out);                                                                               \
        *reason = NULL;                                                                                            \
        int rc;                                                                                                    \
        if (is_pb) {                                                                                               \
            PBTYPE *m = clipdex__v1__##PBFN##__unpack(NULL, len, (const uint8_t *)body);                           \
            if (!m)                                                                                                \
                return pb_bad(&c, PBNAME);                                                                         \
            rc = pb_##NAME(&c, m, out);                                                                            \
            clipdex__v1__##PBFN##__free_unpacked(m, NULL);                                                         \
            return rc;                                                                                             \
        }                                                                                                          \
        json_t *root;                                                                                              \
        if ((rc = json_open(&c, body, len, &root)) != CDX_OK)                                                      \
            return rc;                                                                                             \
        rc = json_##NAME(&c, root, out);                                                                           \
        json_decref(root);                                                                                         \
        return rc;                                                                                                 \
    }

int cdx_request_parse_search(const char *body, size_t len, int is_pb, const cdx_request_limits *lim, cdx_arena *a,
                             cdx_search_request *out, const char **reason, cdx_errbuf *eb)
{
    pctx c = {lim, a, reason, eb};
    memset(out, 0, sizeof *out);
    out->k = 10;
    *reason = NULL;
    int rc;
    if (is_pb) {
        Clipdex__V1__SearchRequest *m = clipdex__v1__search_request__unpack(NULL, len, (const uint8_t *)body);
        if (!m)
            return pb_bad(&c, "SearchRequest");
        rc = pb_search(&c, m, out);
        clipdex__v1__search_request__free_unpacked(m, NULL);
        return rc;
    }
    json_t *root;
    if ((rc = json_open(&c, body, len, &root)) != CDX_OK)
        return rc;
    rc = json_search(&c, root, out);
    json_decref(root);
    return rc;
}

PARSE_ENTRY(rerank, cdx_rerank_request, Clipdex__V1__RerankRequest, rerank_request, "RerankRequest")
PARSE_ENTRY(embed, cdx_embed_request, Clipdex__V1__EmbedRequest, embed_request, "EmbedRequest")

/* ---- filters ------------------------------------------------------------- */

int cdx_filter_match(const cdx_cond *conds, int32_t n, const char *meta_json)
{
    if (n == 0)
        return 1;
    json_t *meta = meta_json ? json_loads(meta_json, 0, NULL) : NULL;
    int ok = json_is_object(meta);
    for (int32_t i = 0; ok && i < n; i++) {
        const cdx_cond *c = &conds[i];
        json_t *v = json_object_get(meta, c->key);
        if (c->op == CDX_COND_RANGE) {
            double x = json_number_value(v);
            ok = json_is_number(v) && (!c->has_lo || (c->lo_open ? x > c->lo : x >= c->lo)) &&
                 (!c->has_hi || (c->hi_open ? x < c->hi : x <= c->hi));
        } else if (c->kind == CDX_VALUE_STRING) {
            ok = json_is_string(v) && strcmp(json_string_value(v), c->str) == 0;
        } else if (c->kind == CDX_VALUE_NUMBER) {
            ok = json_is_number(v) && json_number_value(v) == c->num;
        } else {
            ok = json_is_boolean(v) && json_is_true(v) == c->boolean;
        }
    }
    json_decref(meta);
    return ok;
}
