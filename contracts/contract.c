/* Contract schema: parses a contract (contracts/README.md) strictly into a
 * cdx_contract_spec and computes its space hash. contract_open.c opens the
 * file and checks what it points at.
 *
 * The schema is a set of field tables, one per JSON object, walked by one
 * loop (walk_object): a key not in the table is an error, a key in the table
 * but not in the object is an error, and each value is type-, range- and
 * enum-checked before it is stored. Rules that span fields (roles per family,
 * buckets against context_length, padding against pooling, ...) run after
 * the walk, as a table of checks. Every error names the file, the JSON path
 * of the field, what was expected and what was found. Parsing stops at the
 * first schema error. */
#include "contracts/contract.h"

#include "common/hash.h"
#include "common/util.h"
#include "contracts/contract_internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTRACT_SCHEMA "clipdex.contract/1"

const char *const cdx_contract_family_names[] = {"clip", "siglip", NULL};
const char *const cdx_contract_variant_names[] = {"fp32", "int8", NULL};
const char *const cdx_contract_resize_names[] = {"shortest_edge", "exact", NULL};
const char *const cdx_contract_interp_names[] = {"bicubic", "bilinear", "nearest", NULL};
const char *const cdx_contract_crop_names[] = {"center", "none", NULL};
const char *const cdx_contract_tokenizer_names[] = {"clip_bpe", "sentencepiece_unigram", NULL};
const char *const cdx_contract_padding_names[] = {"max_length", "bucket", NULL};
const char *const cdx_contract_pooling_names[] = {"eos_argmax", "last", NULL};
const char *const cdx_contract_dtype_names[] = {"float32", "int64", "int32", "float16", NULL};
const char *const cdx_contract_tower_keys[] = {"vision", "text", NULL};
const char *const cdx_contract_tower_roles[] = {"vision_model", "text_model", NULL};

static const char *const schema_names[] = {CONTRACT_SCHEMA, NULL};
static const char *const l2_names[] = {"l2", NULL};
static const char *const colour_names[] = {"rgb", NULL};
static const char *const role_names[] = {"vision_model", "text_model", "tokenizer", "config", "preprocessor_config",
                                         "vocab", "merges", "spiece", NULL};
/* Symbolic dims are named for what the runtime binds them to. */
static const char *const dim_names[] = {"batch", "sequence", NULL};

/* Roles every family needs, then each family's tokenizer files. */
static const char *const roles_common[] = {"vision_model", "text_model", "tokenizer", "config",
                                          "preprocessor_config", NULL};
static const char *const *const roles_family[] = {
    [CDX_FAMILY_CLIP] = (const char *const[]){"vocab", "merges", NULL},
    [CDX_FAMILY_SIGLIP] = (const char *const[]){"spiece", NULL},
};
/* What each family's model does with text (contracts/README.md). */
static const enum cdx_tokenizer_kind family_tokenizer[] = {[CDX_FAMILY_CLIP] = CDX_TOKENIZER_CLIP_BPE,
                                                           [CDX_FAMILY_SIGLIP] = CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM};
static const enum cdx_pooling family_pooling[] = {[CDX_FAMILY_CLIP] = CDX_POOLING_EOS_ARGMAX,
                                                  [CDX_FAMILY_SIGLIP] = CDX_POOLING_LAST};

const char *cdx_family_name(enum cdx_family f)
{
    return (unsigned)f < 2 ? cdx_contract_family_names[f] : "unknown";
}

const char *cdx_dtype_name(enum cdx_dtype d)
{
    return (unsigned)d < 4 ? cdx_contract_dtype_names[d] : "unknown";
}

static int names_index(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* "a", "b" or "c" into buf. */
static const char *names_list(const char *const *names, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && len < cap; i++) {
        const char *sep = !i ? "" : names[i + 1] ? ", " : " or ";
        int n = snprintf(buf + len, cap - len, "%s\"%s\"", sep, names[i]);
        if (n < 0)
            break;
        len += (size_t)n;
    }
    return buf;
}

/* --- JSON walking context --- */

typedef struct jctx {
    const char *file;       /* names the contract in messages */
    const char *base_dir;   /* relative paths resolve against this ("" = working directory) */
    const char *path_base;  /* what F_PATH fields resolve against right now */
    cdx_contract_spec *spec;
    json_t *root;
    cdx_errbuf *eb;
    char path[160];         /* JSON path of the value being read, e.g. image.mean[2] */
    size_t plen;
} jctx;

static size_t path_push(jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(jctx *c, const char *fmt, ...)
{
    size_t old = c->plen;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->path + c->plen, sizeof c->path - c->plen, fmt, ap);
    va_end(ap);
    if (n > 0)
        c->plen = CDX_MIN(c->plen + (size_t)n, sizeof c->path - 1);
    return old;
}

static size_t path_key(jctx *c, const char *key) { return path_push(c, "%s%s", c->plen ? "." : "", key); }
static size_t path_index(jctx *c, size_t i) { return path_push(c, "[%zu]", i); }

static void path_pop(jctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

/* "file: path: message" with code. */
static int jfail(jctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int jfail(jctx *c, int code, const char *fmt, ...)
{
    char msg[CDX_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cdx_errbuf_set(c->eb, code, "%s: %s%s%s", c->file, c->path, c->plen ? ": " : "", msg);
}

/* A short quoted rendering of an untrusted string: control characters and
 * quotes escaped, long strings cut. */
void cdx_contract_quote(const char *s, char *buf, size_t cap)
{
    size_t len = 0, i = 0;
    buf[len++] = '"';
    for (; s[i] && len + 8 < cap && i < 48; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            len += (size_t)snprintf(buf + len, cap - len, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", ch);
        else
            buf[len++] = (char)ch;
    }
    if (s[i] && len + 5 < cap)
        len += (size_t)snprintf(buf + len, cap - len, "...");
    buf[len++] = '"';
    buf[len] = '\0';
}

/* What a JSON value is, for "got ..." in messages. */
static const char *jbrief(const json_t *v, char *buf, size_t cap)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        cdx_contract_quote(json_string_value(v), buf, cap);
        return buf;
    case JSON_INTEGER:
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
        return buf;
    case JSON_REAL:
        snprintf(buf, cap, "%.17g", json_real_value(v));
        if (!strpbrk(buf, ".eEn"))
            strncat(buf, ".0", cap - strlen(buf) - 1);
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    }
    return "?";
}

#define GOT(v) jbrief((v), got, sizeof got)

/* --- field tables --- */

enum fkind {
    F_STRING,   /* char[size]; with names: one of them */
    F_PATH,     /* char[size], resolved against jctx.path_base */
    F_INT,      /* int32_t (size 4) or int64_t (size 8), in [lo, hi] */
    F_NUMBER,   /* double in [lo, hi] (or > 0 with F_POSITIVE) */
    F_BOOL,     /* int32_t 0/1 */
    F_ENUM,     /* int-sized enum: index into names */
    F_OBJECT,   /* sub-table, same base */
    F_CUSTOM,   /* fn */
};
#define F_NULLABLE 1u   /* null is allowed and stores null_as (F_INT) */
#define F_POSITIVE 2u   /* F_NUMBER must be > 0 */
#define F_NO_STORE ((size_t)-1)

typedef struct field field;
typedef int (*field_fn)(jctx *c, const field *f, json_t *v, void *base);

typedef struct section {
    const field *fields;
    size_t n;
} section;

struct field {
    const char *key;
    enum fkind kind;
    unsigned flags;
    size_t off;
    size_t size;
    double lo, hi;
    const char *const *names;
    const section *sub;
    field_fn fn;
    int64_t null_as;
};

#define SPEC_OFF(m) offsetof(cdx_contract_spec, m)
#define SPEC_SIZE(m) sizeof(((cdx_contract_spec *)0)->m)
#define SECTION(t) {t, CDX_ARRAY_LEN(t)}

static int walk_object(jctx *c, json_t *obj, const section *sec, void *base);

static int expect_type(jctx *c, json_t *v, int ok, const char *what)
{
    char got[96];
    return ok ? CDX_OK : jfail(c, CDX_ERR_CONTRACT, "expected %s, got %s", what, GOT(v));
}

static void store(void *base, const field *f, const void *val, size_t n)
{
    if (f->off != F_NO_STORE)
        memcpy((char *)base + f->off, val, n);
}

/* Joins dir and rel (rel as-is when absolute or dir is empty). */
static int path_join(char *out, size_t cap, const char *dir, const char *rel)
{
    int n = (rel[0] == '/' || !dir[0]) ? snprintf(out, cap, "%s", rel) : snprintf(out, cap, "%s/%s", dir, rel);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

static int read_string(jctx *c, const field *f, json_t *v, void *base)
{
    char got[96], list[256];
    int rc = expect_type(c, v, json_is_string(v), "a string");
    if (rc != CDX_OK)
        return rc;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (f->names && names_index(f->names, s) < 0)
        return jfail(c, CDX_ERR_CONTRACT, "expected %s, got %s", names_list(f->names, list, sizeof list), GOT(v));
    if (n == 0)
        return jfail(c, CDX_ERR_CONTRACT, "expected a non-empty string, got \"\"");
    if (f->kind == F_PATH) {
        char *dst = (char *)base + f->off;
        if (path_join(dst, f->size, c->path_base, s) != 0)
            return jfail(c, CDX_ERR_CONTRACT, "path too long (more than %zu bytes when resolved)", f->size - 1);
        return CDX_OK;
    }
    if (n >= f->size && f->off != F_NO_STORE)
        return jfail(c, CDX_ERR_CONTRACT, "expected at most %zu bytes, got %zu", f->size - 1, n);
    store(base, f, s, f->off == F_NO_STORE ? 0 : n + 1);
    return CDX_OK;
}

static int read_int(jctx *c, const field *f, json_t *v, void *base)
{
    char got[96];
    int64_t x;
    if (json_is_null(v) && (f->flags & F_NULLABLE)) {
        x = f->null_as;
    } else {
        int rc = expect_type(c, v, json_is_integer(v),
                             (f->flags & F_NULLABLE) ? "an integer or null" : "an integer");
        if (rc != CDX_OK)
            return rc;
        x = json_integer_value(v);
        if ((double)x < f->lo || (double)x > f->hi)
            return jfail(c, CDX_ERR_CONTRACT, "expected an integer from %.0f to %.0f, got %s", f->lo, f->hi,
                         GOT(v));
    }
    if (f->size == sizeof(int32_t)) {
        int32_t x32 = (int32_t)x;
        store(base, f, &x32, sizeof x32);
    } else {
        store(base, f, &x, sizeof x);
    }
    return CDX_OK;
}

/* Checks a number against a field's range; the message says the range. */
static int check_number(jctx *c, const field *f, json_t *v, double x)
{
    char got[96];
    int pos = (f->flags & F_POSITIVE) != 0;
    if ((pos && !(x > 0)) || (!pos && x < f->lo) || x > f->hi) {
        char range[64];
        if (pos)
            snprintf(range, sizeof range, "> 0 and <= %g", f->hi);
        else
            snprintf(range, sizeof range, "from %g to %g", f->lo, f->hi);
        return jfail(c, CDX_ERR_CONTRACT, "expected a number %s, got %s", range, GOT(v));
    }
    return CDX_OK;
}

static int read_number(jctx *c, const field *f, json_t *v, void *base)
{
    int rc = expect_type(c, v, json_is_number(v), "a number");
    if (rc != CDX_OK)
        return rc;
    double x = json_number_value(v);
    if ((rc = check_number(c, f, v, x)) != CDX_OK)
        return rc;
    store(base, f, &x, sizeof x);
    return CDX_OK;
}

static int read_bool(jctx *c, const field *f, json_t *v, void *base)
{
    int rc = expect_type(c, v, json_is_boolean(v), "true or false");
    if (rc != CDX_OK)
        return rc;
    int32_t b = json_is_true(v) ? 1 : 0;
    store(base, f, &b, sizeof b);
    return CDX_OK;
}

static int read_enum(jctx *c, const field *f, json_t *v, void *base)
{
    char got[96], list[256];
    int rc = expect_type(c, v, json_is_string(v), "a string");
    if (rc != CDX_OK)
        return rc;
    int idx = names_index(f->names, json_string_value(v));
    if (idx < 0)
        return jfail(c, CDX_ERR_CONTRACT, "expected %s, got %s", names_list(f->names, list, sizeof list), GOT(v));
    store(base, f, &idx, sizeof idx);
    return CDX_OK;
}

static int read_object(jctx *c, const field *f, json_t *v, void *base)
{
    int rc = expect_type(c, v, json_is_object(v), "an object");
    return rc != CDX_OK ? rc : walk_object(c, v, f->sub, base);
}

static int read_custom(jctx *c, const field *f, json_t *v, void *base) { return f->fn(c, f, v, base); }

static const field_fn readers[] = {
    [F_STRING] = read_string, [F_PATH] = read_string, [F_INT] = read_int,       [F_NUMBER] = read_number,
    [F_BOOL] = read_bool,     [F_ENUM] = read_enum,   [F_OBJECT] = read_object, [F_CUSTOM] = read_custom,
};

/* Unknown keys first (a misspelt key reads better as "unknown" than as the
 * key it was meant to be being "missing"), then every table key in order. */
static int walk_object(jctx *c, json_t *obj, const section *sec, void *base)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t i = 0;
        while (i < sec->n && strcmp(sec->fields[i].key, key) != 0)
            i++;
        if (i < sec->n)
            continue;
        char list[512], q[96];
        size_t len = 0;
        for (size_t k = 0; k < sec->n && len < sizeof list; k++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "", sec->fields[k].key);
        cdx_contract_quote(key, q, sizeof q);
        return jfail(c, CDX_ERR_CONTRACT, "unknown field %s (fields here: %s)", q, list);
    }
    for (size_t i = 0; i < sec->n; i++) {
        const field *f = &sec->fields[i];
        size_t mark = path_key(c, f->key);
        v = json_object_get(obj, f->key);
        int rc = v ? readers[f->kind](c, f, v, base)
                   : jfail(c, CDX_ERR_CONTRACT, "missing field (every field is required; use null where a "
                                                "value does not apply)");
        if (rc != CDX_OK)
            return rc;
        path_pop(c, mark);
    }
    return CDX_OK;
}

/* v must be an array of n_min..n_max entries (noun names them in the message). */
static int expect_array(jctx *c, json_t *v, size_t n_min, size_t n_max, const char *noun, size_t *n)
{
    int rc = expect_type(c, v, json_is_array(v), "an array");
    if (rc != CDX_OK)
        return rc;
    *n = json_array_size(v);
    if (*n >= n_min && *n <= n_max)
        return CDX_OK;
    if (n_min == n_max)
        return jfail(c, CDX_ERR_CONTRACT, "expected %zu %s, got %zu", n_min, noun, *n);
    return jfail(c, CDX_ERR_CONTRACT, "expected %zu to %zu %s, got %zu", n_min, n_max, noun, *n);
}

/* An array of 1..n_max objects, each walked with sec into the items stride
 * bytes apart; *count is the number read so far. */
static int read_object_array(jctx *c, json_t *v, size_t n_max, const char *noun, const section *sec, void *items,
                             size_t stride, int32_t *count)
{
    size_t n;
    int rc = expect_array(c, v, 1, n_max, noun, &n);
    for (size_t i = 0; rc == CDX_OK && i < n; i++) {
        json_t *e = json_array_get(v, i);
        size_t mark = path_index(c, i);
        rc = expect_type(c, e, json_is_object(e), "an object");
        if (rc == CDX_OK)
            rc = walk_object(c, e, sec, (char *)items + i * stride);
        if (rc != CDX_OK)
            return rc;
        *count = (int32_t)i + 1;
        path_pop(c, mark);
    }
    return rc;
}

/* Reads a JSON array of numbers with n_min..n_max entries into out[];
 * integer: each must be an integer. Each entry is range-checked by f. */
static int read_num_array(jctx *c, const field *f, json_t *v, size_t n_min, size_t n_max, int integer,
                          double *out, size_t *n_out)
{
        size_t n;
    int rc = expect_array(c, v, n_min, n_max, "entries", &n);
    if (rc != CDX_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        size_t mark = path_index(c, i);
        rc = expect_type(c, e, integer ? json_is_integer(e) : json_is_number(e), integer ? "an integer" : "a number");
        if (rc == CDX_OK)
            rc = check_number(c, f, e, json_number_value(e));
        if (rc != CDX_OK)
            return rc;
        out[i] = json_number_value(e);
        path_pop(c, mark);
    }
    *n_out = n;
    return CDX_OK;
}

/* --- custom fields --- */

static int read_id(jctx *c, const field *f, json_t *v, void *base)
{
    int rc = read_string(c, f, v, base);
    if (rc != CDX_OK)
        return rc;
    const char *s = json_string_value(v);
    char got[96];
    for (size_t i = 0; s[i]; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || (i > 0 && strchr("._-", ch));
        if (!ok)
            return jfail(c, CDX_ERR_CONTRACT, "expected an id matching [a-z0-9][a-z0-9._-]*, got %s", GOT(v));
    }
    return CDX_OK;
}

static int read_sha256(jctx *c, const field *f, json_t *v, void *base)
{
    char got[96];
    int rc = expect_type(c, v, json_is_string(v), "a string");
    if (rc != CDX_OK)
        return rc;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    int ok = n == CDX_SHA256_HEX_LEN;
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    if (!ok)
        return jfail(c, CDX_ERR_CONTRACT, "expected 64 lowercase hex digits, got %s", GOT(v));
    store(base, f, s, n + 1);
    return CDX_OK;
}

static const field artifact_fields[] = {
    {.key = "role", .kind = F_STRING, .off = offsetof(cdx_artifact, role), .size = sizeof(((cdx_artifact *)0)->role),
     .names = role_names},
    {.key = "path", .kind = F_PATH, .off = offsetof(cdx_artifact, path), .size = CDX_CONTRACT_PATH_MAX},
    {.key = "sha256", .kind = F_CUSTOM, .off = offsetof(cdx_artifact, sha256), .fn = read_sha256},
};
static const section artifact_section = SECTION(artifact_fields);

static int read_artifacts(jctx *c, const field *f, json_t *v, void *base)
{
    (void)f;
    (void)base;
    cdx_contract_spec *s = c->spec;
    c->path_base = s->model_dir; /* artifact paths are relative to model_dir */
    int rc = read_object_array(c, v, CDX_CONTRACT_MAX_ARTIFACTS, "artifacts", &artifact_section, s->artifacts,
                               sizeof s->artifacts[0], &s->n_artifacts);
    c->path_base = c->base_dir;
    for (int32_t i = 0; rc == CDX_OK && i < s->n_artifacts; i++) {
        for (int32_t k = 0; k < i; k++) {
            if (strcmp(s->artifacts[k].role, s->artifacts[i].role) == 0) {
                path_push(c, "[%d].role", (int)i);
                return jfail(c, CDX_ERR_CONTRACT, "role \"%s\" is already given by artifacts[%d]; each role "
                             "appears once", s->artifacts[i].role, (int)k);
            }
        }
    }
    return rc;
}

static int read_shape(jctx *c, const field *f, json_t *v, void *base)
{
    (void)f;
    char got[96], list[64];
    cdx_tensor_spec *t = base;
    size_t n;
    int rc = expect_array(c, v, 1, CDX_CONTRACT_MAX_RANK, "dims", &n);
    if (rc != CDX_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        size_t mark = path_index(c, i);
        if (json_is_integer(e)) {
            if (json_integer_value(e) < 1 || json_integer_value(e) > INT32_MAX)
                return jfail(c, CDX_ERR_CONTRACT, "expected a dim >= 1, got %s", GOT(e));
            t->dims[i] = json_integer_value(e);
            t->dim_names[i][0] = '\0';
        } else if (json_is_string(e) && names_index(dim_names, json_string_value(e)) >= 0) {
            t->dims[i] = -1;
            snprintf(t->dim_names[i], sizeof t->dim_names[i], "%s", json_string_value(e));
        } else {
            return jfail(c, CDX_ERR_CONTRACT, "expected an integer (fixed dim) or %s (symbolic dim), got %s",
                         names_list(dim_names, list, sizeof list), GOT(e));
        }
        path_pop(c, mark);
    }
    t->rank = (int32_t)n;
    return CDX_OK;
}

static const field tensor_fields[] = {
    {.key = "name", .kind = F_STRING, .off = offsetof(cdx_tensor_spec, name),
     .size = sizeof(((cdx_tensor_spec *)0)->name)},
    {.key = "dtype", .kind = F_ENUM, .off = offsetof(cdx_tensor_spec, dtype), .names = cdx_contract_dtype_names},
    {.key = "shape", .kind = F_CUSTOM, .fn = read_shape},
};
static const section tensor_section = SECTION(tensor_fields);

/* A tower's inputs or outputs: f->off is the cdx_tower_spec, f->size 0 for
 * inputs and 1 for outputs. */
static int read_tensors(jctx *c, const field *f, json_t *v, void *base)
{
    cdx_tower_spec *tw = (cdx_tower_spec *)((char *)base + f->off);
    return read_object_array(c, v, CDX_CONTRACT_MAX_IO, "tensors", &tensor_section, f->size ? tw->outputs : tw->inputs,
                             sizeof tw->inputs[0], f->size ? &tw->n_outputs : &tw->n_inputs);
}

#define TOWER_FIELDS(name, t)                                                                                   \
    static const field name[] = {                                                                               \
        {.key = "inputs", .kind = F_CUSTOM, .off = SPEC_OFF(towers[t]), .size = 0, .fn = read_tensors},         \
        {.key = "outputs", .kind = F_CUSTOM, .off = SPEC_OFF(towers[t]), .size = 1, .fn = read_tensors},        \
    }
TOWER_FIELDS(vision_fields, CDX_TOWER_VISION);
TOWER_FIELDS(text_tower_fields, CDX_TOWER_TEXT);
static const section vision_section = SECTION(vision_fields);
static const section text_tower_section = SECTION(text_tower_fields);

static const field onnx_fields[] = {
    {.key = "opset", .kind = F_INT, .off = SPEC_OFF(onnx_opset), .size = 4, .lo = 1, .hi = 1000},
    {.key = "ir_version", .kind = F_INT, .off = SPEC_OFF(onnx_ir_version), .size = 4, .lo = 1, .hi = 1000},
    {.key = "vision", .kind = F_OBJECT, .sub = &vision_section},
    {.key = "text", .kind = F_OBJECT, .sub = &text_tower_section},
};
static const section onnx_section = SECTION(onnx_fields);

static int read_image_size(jctx *c, const field *f, json_t *v, void *base)
{
    double x[2];
    size_t n;
    int rc = read_num_array(c, f, v, 2, 2, 1, x, &n);
    if (rc == CDX_OK) {
        c->spec->image.height = (int32_t)x[0];
        c->spec->image.width = (int32_t)x[1];
    }
    return rc;
}

/* mean and std: three numbers; f->off is the float[3]. */
static int read_float3(jctx *c, const field *f, json_t *v, void *base)
{
    double x[3];
    size_t n;
    int rc = read_num_array(c, f, v, 3, 3, 0, x, &n);
    for (int i = 0; rc == CDX_OK && i < 3; i++) {
        float y = (float)x[i];
        memcpy((char *)base + f->off + i * sizeof y, &y, sizeof y);
    }
    return rc;
}

static int read_background(jctx *c, const field *f, json_t *v, void *base)
{
    double x[3];
    size_t n;
    int rc = read_num_array(c, f, v, 3, 3, 1, x, &n);
    for (int i = 0; rc == CDX_OK && i < 3; i++)
        c->spec->image.background[i] = (uint8_t)x[i];
    return rc;
}

static const field image_fields[] = {
    {.key = "size", .kind = F_CUSTOM, .lo = 1, .hi = 16384, .fn = read_image_size},
    {.key = "resize", .kind = F_ENUM, .off = SPEC_OFF(image.resize), .names = cdx_contract_resize_names},
    {.key = "resize_to", .kind = F_INT, .flags = F_NULLABLE, .off = SPEC_OFF(image.resize_to), .size = 4, .lo = 1,
     .hi = 16384, .null_as = 0},
    {.key = "interpolation", .kind = F_ENUM, .off = SPEC_OFF(image.interpolation), .names = cdx_contract_interp_names},
    {.key = "crop", .kind = F_ENUM, .off = SPEC_OFF(image.crop), .names = cdx_contract_crop_names},
    {.key = "rescale", .kind = F_NUMBER, .flags = F_POSITIVE, .off = SPEC_OFF(image.rescale), .hi = 1},
    {.key = "mean", .kind = F_CUSTOM, .off = SPEC_OFF(image.mean), .lo = -1e3, .hi = 1e3, .fn = read_float3},
    {.key = "std", .kind = F_CUSTOM, .flags = F_POSITIVE, .off = SPEC_OFF(image.std), .hi = 1e3, .fn = read_float3},
    {.key = "colour", .kind = F_STRING, .off = F_NO_STORE, .names = colour_names},
    {.key = "background", .kind = F_CUSTOM, .lo = 0, .hi = 255, .fn = read_background},
};
static const section image_section = SECTION(image_fields);

#define TOKEN_ID(k, m, fl, na)                                                                                  \
    {.key = k, .kind = F_INT, .flags = fl, .off = SPEC_OFF(text.m), .size = 8, .lo = 0, .hi = INT32_MAX,         \
     .null_as = na}
static const field text_fields[] = {
    {.key = "tokenizer", .kind = F_ENUM, .off = SPEC_OFF(text.tokenizer), .names = cdx_contract_tokenizer_names},
    {.key = "context_length", .kind = F_INT, .off = SPEC_OFF(text.context_length), .size = 4, .lo = 1,
     .hi = 65536},
    {.key = "lowercase", .kind = F_BOOL, .off = SPEC_OFF(text.lowercase)},
    TOKEN_ID("bos_id", bos_id, F_NULLABLE, -1),
    TOKEN_ID("eos_id", eos_id, 0, 0),
    TOKEN_ID("pad_id", pad_id, 0, 0),
    TOKEN_ID("unk_id", unk_id, 0, 0),
    {.key = "padding", .kind = F_ENUM, .off = SPEC_OFF(text.padding), .names = cdx_contract_padding_names},
    {.key = "pooling", .kind = F_ENUM, .off = SPEC_OFF(text.pooling), .names = cdx_contract_pooling_names},
};
static const section text_section = SECTION(text_fields);

static const field embedding_fields[] = {
    {.key = "dim", .kind = F_INT, .off = SPEC_OFF(dim), .size = 4, .lo = 1, .hi = 65536},
    {.key = "normalize", .kind = F_STRING, .off = F_NO_STORE, .names = l2_names},
};
static const section embedding_section = SECTION(embedding_fields);

static int read_logit_bias(jctx *c, const field *f, json_t *v, void *base)
{
    (void)base;
        if (json_is_null(v)) {
        c->spec->scoring.has_logit_bias = 0;
        c->spec->scoring.logit_bias = 0;
        return CDX_OK;
    }
    int rc = expect_type(c, v, json_is_number(v), "a number or null");
    if (rc == CDX_OK)
        rc = check_number(c, f, v, json_number_value(v));
    if (rc == CDX_OK) {
        c->spec->scoring.has_logit_bias = 1;
        c->spec->scoring.logit_bias = json_number_value(v);
    }
    return rc;
}

static const field scoring_fields[] = {
    {.key = "logit_scale", .kind = F_NUMBER, .flags = F_POSITIVE, .off = SPEC_OFF(scoring.logit_scale), .hi = 1e6},
    {.key = "logit_bias", .kind = F_CUSTOM, .lo = -1e6, .hi = 1e6, .fn = read_logit_bias},
};
static const section scoring_section = SECTION(scoring_fields);

/* Strictly ascending bucket sizes; f->off is the int32 array and f->size the
 * offset of its count. */
static int read_buckets(jctx *c, const field *f, json_t *v, void *base)
{
    double x[CDX_CONTRACT_MAX_BUCKETS];
    size_t n;
    int rc = read_num_array(c, f, v, 1, CDX_CONTRACT_MAX_BUCKETS, 1, x, &n);
    if (rc != CDX_OK)
        return rc;
    int32_t *arr = (int32_t *)((char *)base + f->off);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && x[i] <= x[i - 1]) {
            size_t mark = path_index(c, i);
            rc = jfail(c, CDX_ERR_CONTRACT, "buckets must be strictly ascending: expected more than %.0f, got %.0f",
                       x[i - 1], x[i]);
            path_pop(c, mark);
            return rc;
        }
        arr[i] = (int32_t)x[i];
    }
    int32_t n32 = (int32_t)n;
    memcpy((char *)base + f->size, &n32, sizeof n32);
    return CDX_OK;
}

static const field buckets_fields[] = {
    {.key = "batch", .kind = F_CUSTOM, .off = SPEC_OFF(batch_buckets), .size = SPEC_OFF(n_batch_buckets), .lo = 1,
     .hi = 65536, .fn = read_buckets},
    {.key = "sequence", .kind = F_CUSTOM, .off = SPEC_OFF(seq_buckets), .size = SPEC_OFF(n_seq_buckets), .lo = 1,
     .hi = 65536, .fn = read_buckets},
};
static const section buckets_section = SECTION(buckets_fields);

static const field golden_fields[] = {
    {.key = "pack", .kind = F_PATH, .off = SPEC_OFF(golden_pack), .size = SPEC_SIZE(golden_pack)},
    {.key = "image_min_cosine", .kind = F_NUMBER, .flags = F_POSITIVE, .off = SPEC_OFF(golden_image_min_cosine),
     .hi = 1},
    {.key = "text_min_cosine", .kind = F_NUMBER, .flags = F_POSITIVE, .off = SPEC_OFF(golden_text_min_cosine),
     .hi = 1},
};
static const section golden_section = SECTION(golden_fields);

#define THRESHOLD(k, hi_)                                                                                       \
    {.key = #k, .kind = F_NUMBER, .off = SPEC_OFF(thresholds.k), .lo = 0, .hi = hi_}
static const field thresholds_fields[] = {
    THRESHOLD(max_fallback, 1),
    THRESHOLD(min_speedup, 1e6),
    THRESHOLD(max_cold_warm_ratio, 1e6),
    THRESHOLD(max_drift, 1e6),
};
static const section thresholds_section = SECTION(thresholds_fields);

static const field contract_fields[] = {
    {.key = "schema", .kind = F_STRING, .off = F_NO_STORE, .names = schema_names},
    {.key = "id", .kind = F_CUSTOM, .off = SPEC_OFF(id), .size = SPEC_SIZE(id), .fn = read_id},
    {.key = "version", .kind = F_STRING, .off = SPEC_OFF(version), .size = SPEC_SIZE(version)},
    {.key = "family", .kind = F_ENUM, .off = SPEC_OFF(family), .names = cdx_contract_family_names},
    {.key = "variant", .kind = F_ENUM, .off = SPEC_OFF(variant), .names = cdx_contract_variant_names},
    {.key = "model_dir", .kind = F_PATH, .off = SPEC_OFF(model_dir), .size = SPEC_SIZE(model_dir)},
    {.key = "artifacts", .kind = F_CUSTOM, .fn = read_artifacts},
    {.key = "onnx", .kind = F_OBJECT, .sub = &onnx_section},
    {.key = "image", .kind = F_OBJECT, .sub = &image_section},
    {.key = "text", .kind = F_OBJECT, .sub = &text_section},
    {.key = "embedding", .kind = F_OBJECT, .sub = &embedding_section},
    {.key = "scoring", .kind = F_OBJECT, .sub = &scoring_section},
    {.key = "buckets", .kind = F_OBJECT, .sub = &buckets_section},
    {.key = "golden", .kind = F_OBJECT, .sub = &golden_section},
    {.key = "thresholds", .kind = F_OBJECT, .sub = &thresholds_section},
};
static const section contract_section = SECTION(contract_fields);

/* --- rules across fields --- */

/* Sets the JSON path for a rule's message. */
static void path_set(jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void path_set(jctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->path, sizeof c->path, fmt, ap);
    va_end(ap);
    c->plen = n < 0 ? 0 : CDX_MIN((size_t)n, sizeof c->path - 1);
}

static int rule_roles(jctx *c, const cdx_contract_spec *s)
{
    const char *const *sets[2] = {roles_common, roles_family[s->family]};
    char want[256];
    size_t len = 0;
    for (int k = 0; k < 2; k++)
        for (const char *const *r = sets[k]; *r && len < sizeof want; r++)
            len += (size_t)snprintf(want + len, sizeof want - len, "%s%s", len ? ", " : "", *r);
    for (int32_t i = 0; i < s->n_artifacts; i++) {
        const char *role = s->artifacts[i].role;
        if (names_index(sets[0], role) < 0 && names_index(sets[1], role) < 0) {
            path_set(c, "artifacts[%d].role", (int)i);
            return jfail(c, CDX_ERR_CONTRACT, "family %s does not use a \"%s\" artifact (its roles: %s)",
                         cdx_family_name(s->family), role, want);
        }
    }
    for (int k = 0; k < 2; k++) {
        for (const char *const *r = sets[k]; *r; r++) {
            int32_t i = 0;
            while (i < s->n_artifacts && strcmp(s->artifacts[i].role, *r) != 0)
                i++;
            if (i == s->n_artifacts) {
                path_set(c, "artifacts");
                return jfail(c, CDX_ERR_CONTRACT, "no \"%s\" artifact: family %s needs the roles %s", *r,
                             cdx_family_name(s->family), want);
            }
        }
    }
    return CDX_OK;
}

static int rule_family_text(jctx *c, const cdx_contract_spec *s)
{
    const char *fam = cdx_family_name(s->family);
    if (s->text.tokenizer != family_tokenizer[s->family]) {
        path_set(c, "text.tokenizer");
        return jfail(c, CDX_ERR_CONTRACT, "family %s uses \"%s\", got \"%s\"", fam,
                     cdx_contract_tokenizer_names[family_tokenizer[s->family]],
                     cdx_contract_tokenizer_names[s->text.tokenizer]);
    }
    if (s->text.pooling != family_pooling[s->family]) {
        path_set(c, "text.pooling");
        return jfail(c, CDX_ERR_CONTRACT, "family %s pools with \"%s\", got \"%s\"", fam,
                     cdx_contract_pooling_names[family_pooling[s->family]],
                     cdx_contract_pooling_names[s->text.pooling]);
    }
    if (s->text.padding == CDX_PADDING_BUCKET && s->text.pooling != CDX_POOLING_EOS_ARGMAX) {
        path_set(c, "text.padding");
        return jfail(c, CDX_ERR_CONTRACT, "\"bucket\" padding is only exact with \"eos_argmax\" pooling, and "
                     "text.pooling is \"%s\": expected \"max_length\"", cdx_contract_pooling_names[s->text.pooling]);
    }
    if (s->family == CDX_FAMILY_CLIP && s->scoring.has_logit_bias) {
        path_set(c, "scoring.logit_bias");
        return jfail(c, CDX_ERR_CONTRACT, "family clip has no logit bias: expected null, got %g",
                     s->scoring.logit_bias);
    }
    if (s->family == CDX_FAMILY_SIGLIP && !s->scoring.has_logit_bias) {
        path_set(c, "scoring.logit_bias");
        return jfail(c, CDX_ERR_CONTRACT, "family siglip scores with a logit bias: expected a number, got null");
    }
    return CDX_OK;
}

static int rule_image(jctx *c, const cdx_contract_spec *s)
{
    int32_t need = CDX_MAX(s->image.height, s->image.width);
    path_set(c, "image.resize_to");
    if (s->image.resize == CDX_RESIZE_EXACT && s->image.resize_to != 0)
        return jfail(c, CDX_ERR_CONTRACT, "\"exact\" resize goes straight to image.size: expected null, got %d",
                     (int)s->image.resize_to);
    if (s->image.resize == CDX_RESIZE_SHORTEST_EDGE && s->image.resize_to == 0)
        return jfail(c, CDX_ERR_CONTRACT, "\"shortest_edge\" resize needs a target: expected an integer, got null");
    if (s->image.resize == CDX_RESIZE_SHORTEST_EDGE && s->image.resize_to < need)
        return jfail(c, CDX_ERR_CONTRACT, "the crop needs the shortest edge at least %d (image.size): expected "
                     ">= %d, got %d", (int)need, (int)need, (int)s->image.resize_to);
    if (s->image.resize == CDX_RESIZE_SHORTEST_EDGE && s->image.crop != CDX_CROP_CENTER) {
        path_set(c, "image.crop");
        return jfail(c, CDX_ERR_CONTRACT, "\"shortest_edge\" resize keeps the aspect, so the crop makes the size: "
                     "expected \"center\", got \"none\"");
    }
    return CDX_OK;
}

static int rule_buckets(jctx *c, const cdx_contract_spec *s)
{
    int32_t ctx = s->text.context_length, n = s->n_seq_buckets;
    if (s->text.padding == CDX_PADDING_MAX_LENGTH && n != 1) {
        path_set(c, "buckets.sequence");
        return jfail(c, CDX_ERR_CONTRACT, "\"max_length\" padding always pads to text.context_length: expected "
                     "[%d], got %d buckets", (int)ctx, (int)n);
    }
    if (s->seq_buckets[n - 1] != ctx) {
        path_set(c, "buckets.sequence[%d]", (int)n - 1);
        return jfail(c, CDX_ERR_CONTRACT, "the last sequence bucket must be text.context_length: expected %d, "
                     "got %d", (int)ctx, (int)s->seq_buckets[n - 1]);
    }
    return CDX_OK;
}

/* Tensor names are unique per tower, and the shapes agree with the rest of
 * the contract where they are fixed: the vision input with image.size (NCHW,
 * 3 channels), some output of each tower with embedding.dim, and the text
 * inputs' sequence dim with the padding. */
static int rule_signatures(jctx *c, const cdx_contract_spec *s)
{
    for (int t = 0; t < 2; t++) {
        const cdx_tower_spec *tw = &s->towers[t];
        const char *tk = cdx_contract_tower_keys[t];
        for (int io = 0; io < 2; io++) {
            int32_t n = io ? tw->n_outputs : tw->n_inputs;
            const cdx_tensor_spec *arr = io ? tw->outputs : tw->inputs;
            const char *iok = io ? "outputs" : "inputs";
            for (int32_t i = 0; i < n; i++) {
                for (int32_t k = 0; k < i; k++) {
                    if (strcmp(arr[i].name, arr[k].name) == 0) {
                        path_set(c, "onnx.%s.%s[%d].name", tk, iok, (int)i);
                        return jfail(c, CDX_ERR_CONTRACT, "\"%s\" is already the name of %s[%d]", arr[i].name,
                                     iok, (int)k);
                    }
                }
            }
        }
        int has_embed = 0;
        for (int32_t i = 0; i < tw->n_outputs; i++)
            has_embed |= tw->outputs[i].rank == 2 && tw->outputs[i].dims[1] == s->dim;
        if (!has_embed) {
            path_set(c, "onnx.%s.outputs", tk);
            return jfail(c, CDX_ERR_CONTRACT, "no output of shape [\"batch\", %d] (embedding.dim)", (int)s->dim);
        }
    }
    const cdx_tensor_spec *px = &s->towers[CDX_TOWER_VISION].inputs[0];
    const int64_t want[4] = {-2, 3, s->image.height, s->image.width};
    for (int d = 1; px->rank == 4 && d < 4; d++) {
        if (px->dims[d] >= 0 && px->dims[d] != want[d]) {
            path_set(c, "onnx.vision.inputs[0].shape[%d]", d);
            return jfail(c, CDX_ERR_CONTRACT, "NCHW input of a %dx%d RGB image (image.size): expected %lld, got %lld",
                         (int)s->image.height, (int)s->image.width, (long long)want[d], (long long)px->dims[d]);
        }
    }
    const cdx_tower_spec *tx = &s->towers[CDX_TOWER_TEXT];
    for (int32_t i = 0; i < tx->n_inputs; i++) {
        const cdx_tensor_spec *in = &tx->inputs[i];
        if (in->rank != 2 || in->dims[1] < 0)
            continue;
        path_set(c, "onnx.text.inputs[%d].shape[1]", (int)i);
        if (s->text.padding == CDX_PADDING_BUCKET)
            return jfail(c, CDX_ERR_CONTRACT, "\"bucket\" padding feeds several lengths: expected \"sequence\", "
                         "got %lld", (long long)in->dims[1]);
        if (in->dims[1] != s->text.context_length)
            return jfail(c, CDX_ERR_CONTRACT, "a fixed sequence dim is text.context_length: expected %d, got %lld",
                         (int)s->text.context_length, (long long)in->dims[1]);
    }
    return CDX_OK;
}

static int (*const contract_rules[])(jctx *, const cdx_contract_spec *) = {
    rule_roles, rule_family_text, rule_image, rule_buckets, rule_signatures,
};

/* sha256 of the canonical JSON of the vector-space fields (contracts/README.md). */
static int space_hash(jctx *c, cdx_contract_spec *s)
{
    static const char *const keys[] = {"family", "variant", "artifacts", "onnx", "image", "text", "embedding"};
    json_t *o = json_object();
    if (!o)
        return cdx_errbuf_set(c->eb, CDX_ERR_NOMEM, "%s: out of memory", c->file);
    for (size_t i = 0; i < CDX_ARRAY_LEN(keys); i++)
        json_object_set(o, keys[i], json_object_get(c->root, keys[i]));
    char *canon = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(o);
    if (!canon)
        return cdx_errbuf_set(c->eb, CDX_ERR_NOMEM, "%s: out of memory", c->file);
    uint8_t d[32];
    cdx_sha256_bytes(canon, strlen(canon), d);
    cdx_hex_encode(d, sizeof d, s->space_hash);
    free(canon);
    return CDX_OK;
}

int cdx_contract_parse_as(const char *json, size_t len, const char *base_dir, const char *file, cdx_contract **out,
                          cdx_errbuf *eb)
{
    *out = NULL;
    jctx c = {.file = file, .base_dir = base_dir ? base_dir : "", .eb = eb};
    c.path_base = c.base_dir;
    json_error_t jerr;
    int rc = CDX_OK;
    cdx_contract *ct = calloc(1, sizeof *ct);
    if (!ct)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", file);
    c.spec = &ct->spec;
    c.root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!c.root) {
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: not valid JSON: %s (line %d, column %d)", file, jerr.text,
                            jerr.line, jerr.column);
        goto done;
    }
    char got[96];
    if (!json_is_object(c.root)) {
        rc = jfail(&c, CDX_ERR_CONTRACT, "expected a JSON object at the top level, got %s", GOT(c.root));
        goto done;
    }
    if ((rc = walk_object(&c, c.root, &contract_section, &ct->spec)) != CDX_OK)
        goto done;
    for (size_t i = 0; i < CDX_ARRAY_LEN(contract_rules); i++)
        if ((rc = contract_rules[i](&c, &ct->spec)) != CDX_OK)
            goto done;
    if ((rc = space_hash(&c, &ct->spec)) != CDX_OK)
        goto done;
    *out = ct;
    ct = NULL;
done:
    json_decref(c.root);
    free(ct);
    return rc;
}

int cdx_contract_parse(const char *json, size_t len, const char *base_dir, cdx_contract **out, cdx_errbuf *eb)
{
    return cdx_contract_parse_as(json, len, base_dir, "contract", out, eb);
}
