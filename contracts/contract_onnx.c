/* Compares a tower file's own signature (contracts/onnx_scan.h) with what the
 * contract says about it, and reports every difference, each naming the
 * contract field, the contract's value and the file's value:
 *   contracts/x.json: onnx.vision.inputs[0].name: contract says "pixel_values", models/x/onnx/vision_model.onnx has "input"
 * Used by cdx_contract_open. */
#include "common/util.h"
#include "contracts/contract_internal.h"

#include <stdio.h>
#include <string.h>

/* TensorProto.DataType for each enum cdx_dtype. */
static const int32_t dtype_onnx[] = {[CDX_DTYPE_FLOAT32] = 1, [CDX_DTYPE_INT64] = 7, [CDX_DTYPE_INT32] = 6,
                                     [CDX_DTYPE_FLOAT16] = 10};

void cdx_contract_format_shape(const cdx_tensor_spec *t, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int32_t i = 0; i < t->rank && len < cap; i++) {
        const char *sep = i ? ", " : "";
        if (t->dims[i] >= 0)
            len += (size_t)snprintf(buf + len, cap - len, "%s%lld", sep, (long long)t->dims[i]);
        else
            len += (size_t)snprintf(buf + len, cap - len, "%s\"%s\"", sep, t->dim_names[i]);
    }
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}

/* The file's shape in the same notation; "?" for a dim with no value or name. */
static void format_file_shape(const cdx_onnx_value *v, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int32_t i = 0; i < v->rank && len < cap; i++) {
        char q[64];
        const char *sep = i ? ", " : "";
        if (v->dims[i] >= 0)
            len += (size_t)snprintf(buf + len, cap - len, "%s%lld", sep, (long long)v->dims[i]);
        else if (v->dim_params[i]) {
            cdx_contract_quote(v->dim_params[i], q, sizeof q);
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", sep, q);
        } else
            len += (size_t)snprintf(buf + len, cap - len, "%s?", sep);
    }
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}

typedef struct cmp {
    const char *file;       /* the contract */
    const char *onnx;       /* the tower file */
    cdx_problems *p;
} cmp;

static void compare_tensor(const cmp *m, const char *field, const cdx_tensor_spec *t, const cdx_onnx_value *v)
{
    char q[96], a[160], b[160];
    cdx_contract_quote(v->name, q, sizeof q);
    if (strcmp(t->name, v->name) != 0)
        cdx_problems_add(m->p, CDX_ERR_MISMATCH, "%s: %s.name: contract says \"%s\", %s has %s", m->file, field,
                         t->name, m->onnx, q);
    if (!v->is_tensor) {
        cdx_problems_add(m->p, CDX_ERR_MISMATCH, "%s: %s.dtype: contract says a %s tensor, %s has %s, which is not a "
                         "tensor", m->file, field, cdx_dtype_name(t->dtype), m->onnx, q);
        return;
    }
    if (dtype_onnx[t->dtype] != v->elem_type)
        cdx_problems_add(m->p, CDX_ERR_MISMATCH, "%s: %s.dtype: contract says \"%s\", %s has \"%s\"", m->file, field,
                         cdx_dtype_name(t->dtype), m->onnx, cdx_onnx_elem_type_name(v->elem_type));
    cdx_contract_format_shape(t, a, sizeof a);
    if (v->rank < 0) {
        cdx_problems_add(m->p, CDX_ERR_MISMATCH, "%s: %s.shape: contract says %s, %s declares no shape", m->file,
                         field, a, m->onnx);
        return;
    }
    format_file_shape(v, b, sizeof b);
    if (v->rank != t->rank) {
        cdx_problems_add(m->p, CDX_ERR_MISMATCH, "%s: %s.shape: contract says rank %d %s, %s has rank %d %s", m->file,
                         field, (int)t->rank, a, m->onnx, (int)v->rank, b);
        return;
    }
    for (int32_t d = 0; d < t->rank; d++) {
        int64_t want = t->dims[d], have = v->dims[d];
        if (want >= 0 && have == want)
            continue;
        if (want < 0 && have < 0)
            continue; /* symbolic in both; the names are labels, not compared */
        char sym[128];
        if (have < 0 && v->dim_params[d]) {
            cdx_contract_quote(v->dim_params[d], q, sizeof q);
            snprintf(sym, sizeof sym, "symbolic %s", q);
        } else if (have < 0)
            snprintf(sym, sizeof sym, "an unnamed symbolic dim");
        else
            snprintf(sym, sizeof sym, "fixed %lld", (long long)have);
        if (want >= 0)
            cdx_problems_add(m->p, CDX_ERR_MISMATCH, "%s: %s.shape[%d]: contract says %lld, %s has %s", m->file, field,
                             (int)d, (long long)want, m->onnx, sym);
        else
            cdx_problems_add(m->p, CDX_ERR_MISMATCH, "%s: %s.shape[%d]: contract says symbolic \"%s\", %s has %s",
                             m->file, field, (int)d, t->dim_names[d], m->onnx, sym);
    }
}

/* "name", "name", ... of the file's values, for a count mismatch. */
static void list_names(const cdx_onnx_value *v, int32_t n, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < n && len + 8 < cap; i++) {
        char q[64];
        cdx_contract_quote(v[i].name, q, sizeof q);
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", q);
    }
}

static void compare_list(const cmp *m, const char *tower, const char *io, const cdx_tensor_spec *t, int32_t nt,
                         const cdx_onnx_value *v, int32_t nv)
{
    char field[64];
    if (nt != nv) {
        char names[200];
        list_names(v, nv, names, sizeof names);
        cdx_problems_add(m->p, CDX_ERR_MISMATCH, "%s: onnx.%s.%s: contract lists %d, %s has %d (%s)", m->file, tower,
                         io, (int)nt, m->onnx, (int)nv, names);
    }
    for (int32_t i = 0; i < CDX_MIN(nt, nv); i++) {
        snprintf(field, sizeof field, "onnx.%s.%s[%d]", tower, io, (int)i);
        compare_tensor(m, field, &t[i], &v[i]);
    }
}

void cdx_contract_compare_onnx(const cdx_contract_spec *s, enum cdx_tower_kind tower, const char *onnx_path,
                               const cdx_onnx_info *info, cdx_problems *p)
{
    cmp m = {s->file[0] ? s->file : "contract", onnx_path, p};
    if (info->opset != s->onnx_opset) {
        if (info->opset == 0)
            cdx_problems_add(p, CDX_ERR_MISMATCH, "%s: onnx.opset: contract says %d, %s imports no ai.onnx opset",
                             m.file, (int)s->onnx_opset, onnx_path);
        else
            cdx_problems_add(p, CDX_ERR_MISMATCH, "%s: onnx.opset: contract says %d, %s has %lld", m.file,
                             (int)s->onnx_opset, onnx_path, (long long)info->opset);
    }
    if (info->ir_version != s->onnx_ir_version)
        cdx_problems_add(p, CDX_ERR_MISMATCH, "%s: onnx.ir_version: contract says %d, %s has %lld", m.file,
                         (int)s->onnx_ir_version, onnx_path, (long long)info->ir_version);
    const cdx_tower_spec *tw = &s->towers[tower];
    const char *key = cdx_contract_tower_keys[tower];
    compare_list(&m, key, "inputs", tw->inputs, tw->n_inputs, info->inputs, info->n_inputs);
    compare_list(&m, key, "outputs", tw->outputs, tw->n_outputs, info->outputs, info->n_outputs);
}
