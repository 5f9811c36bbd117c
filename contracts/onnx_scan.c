/* ONNX signature reader (see onnx_scan.h).
 *
 * An ONNX file is one serialized ModelProto, and nearly all of its bytes are
 * weights inside graph.initializer. Unpacking the ModelProto with protobuf-c
 * would copy all of them, so this file walks the protobuf wire format itself
 * at the two outer levels: ModelProto (ir_version 1, graph 7, opset_import 8)
 * and GraphProto (initializer 5, input 11, output 12, sparse_initializer 15),
 * stepping over every other field by its length. Only the small
 * ValueInfoProto messages of inputs and outputs go to protobuf-c
 * (contracts/onnx_min.proto). Every length is checked against the bytes left
 * before it is used: the input is untrusted and fuzzed. */
#include "contracts/onnx_scan.h"

#include "common/util.h"
#include "contracts/onnx_min.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum wire_type { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* A cursor over one message's bytes; base is the start of the whole file so
 * errors can give absolute offsets. */
typedef struct wire {
    const uint8_t *base, *p, *end;
} wire;

typedef struct wire_field {
    uint32_t num;
    enum wire_type type;
    uint64_t u;             /* WT_VARINT value */
    const uint8_t *data;    /* WT_LEN payload */
    size_t len;
    size_t at;              /* offset of the tag in the file */
} wire_field;

/* A name inside the mapped bytes (not NUL-terminated). */
typedef struct name_ref {
    const uint8_t *p;
    size_t n;
} name_ref;

typedef struct scan {
    const uint8_t *base;    /* start of the file, for offsets in errors */
    const char *label;
    cdx_errbuf *eb;
    cdx_onnx_info *info;
    name_ref *inits;
    size_t n_inits, cap_inits;
    int32_t cap_inputs, cap_outputs;
    int opset_seen;
} scan;

static int scan_fail(scan *s, size_t at, const char *what)
{
    return cdx_errbuf_set(s->eb, CDX_ERR_PARSE, "%s: not a valid ONNX model: %s at byte %zu", s->label,
                          what, at);
}

static int wire_varint(wire *w, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (w->p >= w->end)
            return -1;
        uint8_t b = *w->p++;
        if (shift == 63 && b > 1)
            return -1;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

/* Reads the next field. 1: a field in *f; 0: end of message; -1: malformed,
 * with a reason in *why and the offset in f->at. */
static int wire_next(wire *w, wire_field *f, const char **why)
{
    if (w->p >= w->end)
        return 0;
    f->at = (size_t)(w->p - w->base);
    uint64_t tag, n;
    if (wire_varint(w, &tag) != 0) {
        *why = "truncated or overlong field tag";
        return -1;
    }
    f->num = (uint32_t)(tag >> 3);
    f->type = (enum wire_type)(tag & 7);
    if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff) {
        *why = "invalid field number";
        return -1;
    }
    switch ((int)f->type) {
    case WT_VARINT:
        if (wire_varint(w, &f->u) != 0) {
            *why = "truncated varint";
            return -1;
        }
        return 1;
    case WT_I64:
    case WT_I32:
        n = f->type == WT_I64 ? 8 : 4;
        if ((uint64_t)(w->end - w->p) < n) {
            *why = "truncated fixed-width field";
            return -1;
        }
        w->p += n;
        return 1;
    case WT_LEN:
        if (wire_varint(w, &n) != 0) {
            *why = "truncated length";
            return -1;
        }
        if (n > (uint64_t)(w->end - w->p)) {
            *why = "field length runs past the end of its message (truncated file?)";
            return -1;
        }
        f->data = w->p;
        f->len = (size_t)n;
        w->p += n;
        return 1;
    default:
        *why = "unsupported wire type (groups or garbage)";
        return -1;
    }
}

/* Walks the fields of one message; for each field calls fn. Checks that the
 * fields named in expect[] carry the wire type given there. */
typedef struct field_rule {
    uint32_t num;
    enum wire_type type;
    const char *name;
} field_rule;

typedef int (*field_fn)(scan *s, const wire_field *f, void *ctx);

static int walk(scan *s, const uint8_t *data, size_t len, const field_rule *rules, size_t n_rules,
                field_fn fn, void *ctx)
{
    wire w = {s->base, data, data + len};
    wire_field f = {0};
    const char *why = NULL;
    int r;
    while ((r = wire_next(&w, &f, &why)) == 1) {
        for (size_t i = 0; i < n_rules; i++) {
            if (rules[i].num != f.num)
                continue;
            if (rules[i].type != f.type) {
                char what[96];
                snprintf(what, sizeof what, "field %s (%u) has wire type %d, expected %d", rules[i].name,
                         f.num, (int)f.type, (int)rules[i].type);
                return scan_fail(s, f.at, what);
            }
            int rc = fn(s, &f, ctx);
            if (rc != CDX_OK)
                return rc;
        }
    }
    return r < 0 ? scan_fail(s, f.at, why) : CDX_OK;
}

/* --- TensorProto / SparseTensorProto: the name only --- */

static int on_tensor_field(scan *s, const wire_field *f, void *ctx)
{
    (void)s;
    name_ref *out = ctx;
    out->p = f->data;
    out->n = f->len;
    return CDX_OK;
}

static int add_initializer(scan *s, const uint8_t *data, size_t len)
{
    static const field_rule rules[] = {{8, WT_LEN, "TensorProto.name"}};
    name_ref name = {NULL, 0};
    int rc = walk(s, data, len, rules, CDX_ARRAY_LEN(rules), on_tensor_field, &name);
    if (rc != CDX_OK || !name.p)
        return rc;
    if (s->n_inits == s->cap_inits) {
        size_t cap = s->cap_inits ? s->cap_inits * 2 : 64;
        name_ref *p = realloc(s->inits, cap * sizeof *p);
        if (!p)
            return cdx_errbuf_set(s->eb, CDX_ERR_NOMEM, "%s: out of memory", s->label);
        s->inits = p;
        s->cap_inits = cap;
    }
    s->inits[s->n_inits++] = name;
    return CDX_OK;
}

static int on_sparse_field(scan *s, const wire_field *f, void *ctx)
{
    (void)ctx;
    return add_initializer(s, f->data, f->len);
}

/* --- ValueInfoProto, through protobuf-c --- */

static void value_free(cdx_onnx_value *v)
{
    if (v->dim_params)
        for (int32_t i = 0; i < v->rank; i++)
            free(v->dim_params[i]);
    CDX_FREE(v->dim_params);
    CDX_FREE(v->dims);
    CDX_FREE(v->name);
}

static int value_from_proto(const CdxOnnx__ValueInfoProto *m, cdx_onnx_value *v)
{
    memset(v, 0, sizeof *v);
    v->rank = -1;
    v->name = strdup(m->name ? m->name : "");
    if (!v->name)
        return CDX_ERR_NOMEM;
    if (!m->type || m->type->value_case != CDX_ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return CDX_OK;
    const CdxOnnx__TypeProto__Tensor *t = m->type->tensor_type;
    v->is_tensor = 1;
    v->elem_type = t->has_elem_type ? t->elem_type : 0;
    if (!t->shape)
        return CDX_OK;
    size_t n = t->shape->n_dim;
    if (n > INT32_MAX / 2)
        return CDX_ERR_PARSE;
    v->dims = calloc(n ? n : 1, sizeof *v->dims);
    v->dim_params = calloc(n ? n : 1, sizeof *v->dim_params);
    if (!v->dims || !v->dim_params)
        return CDX_ERR_NOMEM;
    v->rank = (int32_t)n;
    for (size_t i = 0; i < n; i++) {
        const CdxOnnx__TensorShapeProto__Dimension *d = t->shape->dim[i];
        v->dims[i] = -1;
        if (d->value_case == CDX_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0)
            v->dims[i] = d->dim_value;
        else if (d->value_case == CDX_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && d->dim_param &&
                 !(v->dim_params[i] = strdup(d->dim_param)))
            return CDX_ERR_NOMEM;
    }
    return CDX_OK;
}

static int add_value(scan *s, const wire_field *f, int is_output)
{
    cdx_onnx_info *info = s->info;
    int32_t *n = is_output ? &info->n_outputs : &info->n_inputs;
    int32_t *cap = is_output ? &s->cap_outputs : &s->cap_inputs;
    cdx_onnx_value **arr = is_output ? &info->outputs : &info->inputs;
    if (*n == *cap) {
        if (*cap > INT32_MAX / 4)
            return scan_fail(s, f->at, "too many graph inputs or outputs");
        int32_t c = *cap ? *cap * 2 : 4;
        cdx_onnx_value *p = realloc(*arr, (size_t)c * sizeof *p);
        if (!p)
            return cdx_errbuf_set(s->eb, CDX_ERR_NOMEM, "%s: out of memory", s->label);
        *arr = p;
        *cap = c;
    }
    CdxOnnx__ValueInfoProto *m = cdx_onnx__value_info_proto__unpack(NULL, f->len, f->data);
    if (!m) {
        char what[64];
        snprintf(what, sizeof what, "malformed ValueInfoProto in graph.%s[%d]", is_output ? "output" : "input",
                 (int)*n);
        return scan_fail(s, f->at, what);
    }
    int rc = value_from_proto(m, &(*arr)[*n]);
    cdx_onnx__value_info_proto__free_unpacked(m, NULL);
    (*n)++; /* counted even on failure, so cdx_onnx_info_free releases what was set */
    if (rc == CDX_ERR_PARSE)
        return scan_fail(s, f->at, "absurd tensor rank");
    if (rc != CDX_OK)
        return cdx_errbuf_set(s->eb, rc, "%s: out of memory", s->label);
    return CDX_OK;
}

/* --- GraphProto --- */

static int on_graph_field(scan *s, const wire_field *f, void *ctx)
{
    static const field_rule sparse_rules[] = {{1, WT_LEN, "SparseTensorProto.values"}};
    (void)ctx;
    switch (f->num) {
    case 5:
        return add_initializer(s, f->data, f->len);
    case 15:
        return walk(s, f->data, f->len, sparse_rules, CDX_ARRAY_LEN(sparse_rules), on_sparse_field, NULL);
    case 11:
        return add_value(s, f, 0);
    case 12:
        return add_value(s, f, 1);
    default:
        return CDX_OK;
    }
}

/* --- ModelProto --- */

typedef struct opset_entry {
    name_ref domain;
    uint64_t version;
} opset_entry;

static int on_opset_field(scan *s, const wire_field *f, void *ctx)
{
    (void)s;
    opset_entry *e = ctx;
    if (f->num == 1)
        e->domain = (name_ref){f->data, f->len};
    else
        e->version = f->u;
    return CDX_OK;
}


static int domain_is_default(name_ref d)
{
    return d.n == 0 || (d.n == 7 && memcmp(d.p, "ai.onnx", 7) == 0);
}

static int on_model_field(scan *s, const wire_field *f, void *ctx)
{
    static const field_rule graph_rules[] = {{5, WT_LEN, "GraphProto.initializer"},
                                             {11, WT_LEN, "GraphProto.input"},
                                             {12, WT_LEN, "GraphProto.output"},
                                             {15, WT_LEN, "GraphProto.sparse_initializer"}};
    static const field_rule opset_rules[] = {{1, WT_LEN, "OperatorSetIdProto.domain"},
                                             {2, WT_VARINT, "OperatorSetIdProto.version"}};
    int *seen_graph = ctx;
    opset_entry e = {{NULL, 0}, 0};
    int rc;
    switch (f->num) {
    case 1:
        s->info->ir_version = (int64_t)f->u;
        return CDX_OK;
    case 7:
        /* A repeated embedded message merges: inputs and outputs append. */
        *seen_graph = 1;
        return walk(s, f->data, f->len, graph_rules, CDX_ARRAY_LEN(graph_rules), on_graph_field, NULL);
    case 8:
        rc = walk(s, f->data, f->len, opset_rules, CDX_ARRAY_LEN(opset_rules), on_opset_field, &e);
        if (rc != CDX_OK || !domain_is_default(e.domain))
            return rc;
        if (s->opset_seen && (uint64_t)s->info->opset != e.version)
            return scan_fail(s, f->at, "the default domain is imported twice with different versions");
        s->opset_seen = 1;
        s->info->opset = (int64_t)e.version;
        return CDX_OK;
    default:
        return CDX_OK;
    }
}

static int name_ref_cmp(const void *a, const void *b)
{
    const name_ref *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return x->n ? memcmp(x->p, y->p, x->n) : 0;
}

/* Drops graph inputs whose name is an initializer's: they are weights with a
 * default value, not something a caller feeds. */
static void drop_initializer_inputs(scan *s)
{
    cdx_onnx_info *info = s->info;
    if (s->n_inits == 0)
        return;
    qsort(s->inits, s->n_inits, sizeof *s->inits, name_ref_cmp);
    int32_t keep = 0;
    for (int32_t i = 0; i < info->n_inputs; i++) {
        name_ref key = {(const uint8_t *)info->inputs[i].name, strlen(info->inputs[i].name)};
        if (bsearch(&key, s->inits, s->n_inits, sizeof *s->inits, name_ref_cmp)) {
            value_free(&info->inputs[i]);
            info->n_initializer_inputs++;
            continue;
        }
        info->inputs[keep++] = info->inputs[i];
    }
    info->n_inputs = keep;
}

int cdx_onnx_parse(const void *data, size_t len, const char *label, cdx_onnx_info *out, cdx_errbuf *eb)
{
    static const field_rule model_rules[] = {{1, WT_VARINT, "ModelProto.ir_version"},
                                             {7, WT_LEN, "ModelProto.graph"},
                                             {8, WT_LEN, "ModelProto.opset_import"}};
    memset(out, 0, sizeof *out);
    scan s = {.base = data, .label = label ? label : "onnx", .eb = eb, .info = out};
    int seen_graph = 0;
    int rc;
    if (len == 0) {
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: not a valid ONNX model: the file is empty", s.label);
        goto done;
    }
    rc = walk(&s, data, len, model_rules, CDX_ARRAY_LEN(model_rules), on_model_field, &seen_graph);
    if (rc != CDX_OK)
        goto done;
    if (!seen_graph) {
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: not a valid ONNX model: it has no graph (ModelProto field 7)",
                            s.label);
        goto done;
    }
    if (out->ir_version <= 0) {
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE,
                            "%s: not a valid ONNX model: it has no ir_version (ModelProto field 1)", s.label);
        goto done;
    }
    drop_initializer_inputs(&s);
done:
    free(s.inits);
    if (rc != CDX_OK)
        cdx_onnx_info_free(out);
    return rc;
}

int cdx_onnx_read(const char *path, cdx_onnx_info *out, cdx_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cdx_errbuf_set(eb, errno == ENOENT ? CDX_ERR_NOTFOUND : CDX_ERR_IO, "%s: cannot open: %s", path,
                              strerror(errno));
    int rc;
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) != 0) {
        rc = cdx_errbuf_set(eb, CDX_ERR_IO, "%s: stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = cdx_errbuf_set(eb, CDX_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    if (st.st_size == 0) {
        rc = cdx_onnx_parse("", 0, path, out, eb);
        goto done;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = cdx_errbuf_set(eb, CDX_ERR_IO, "%s: mmap: %s", path, strerror(errno));
        goto done;
    }
    /* Only headers are touched; read-ahead would page in the weights. */
    madvise(map, (size_t)st.st_size, MADV_RANDOM);
    rc = cdx_onnx_parse(map, (size_t)st.st_size, path, out, eb);
done:
    if (map != MAP_FAILED)
        munmap(map, (size_t)st.st_size);
    close(fd);
    return rc;
}

void cdx_onnx_info_free(cdx_onnx_info *info)
{
    if (!info)
        return;
    for (int32_t i = 0; i < info->n_inputs; i++)
        value_free(&info->inputs[i]);
    for (int32_t i = 0; i < info->n_outputs; i++)
        value_free(&info->outputs[i]);
    free(info->inputs);
    free(info->outputs);
    memset(info, 0, sizeof *info);
}

const char *cdx_onnx_elem_type_name(int32_t elem_type)
{
    static const char *const names[] = {
        "undefined", "float32",  "uint8",      "int8",         "uint16",     "int16",
        "int32",     "int64",    "string",     "bool",         "float16",    "float64",
        "uint32",    "uint64",   "complex64",  "complex128",   "bfloat16",   "float8e4m3fn",
        "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "uint4", "int4", "float4e2m1"};
    if (elem_type < 0 || (size_t)elem_type >= CDX_ARRAY_LEN(names))
        return "unknown";
    return names[elem_type];
}
