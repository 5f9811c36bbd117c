/* Sidecar JSON: one table of fields drives both the writer and the strict
 * reader, so the two cannot drift apart. */
#include "index/sidecar.h"

#include "common/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum field_type { F_STR, F_INT32, F_INT64 };

typedef struct sc_field {
    const char *name;
    enum field_type type;
    size_t offset, size; /* size: buffer size for strings */
    int64_t min, max;
} sc_field;

#define STR(n, f) {n, F_STR, offsetof(cdx_sidecar, f), sizeof(((cdx_sidecar *)0)->f), 0, 0}
#define I32(n, f, lo, hi) {n, F_INT32, offsetof(cdx_sidecar, f), 4, lo, hi}
#define I64(n, f, lo) {n, F_INT64, offsetof(cdx_sidecar, f), 8, lo, INT64_MAX}

static const sc_field fields[] = {
    I32("format", format, CDX_SIDECAR_FORMAT, CDX_SIDECAR_FORMAT),
    STR("space", space),
    STR("file", file),
    STR("spec", spec),
    I32("auto", auto_spec, 0, 1),
    STR("contract_id", contract_id),
    STR("space_hash", space_hash),
    I32("dim", dim, 1, 1 << 16),
    I64("count", count, 0),
    STR("sha256", sha256),
    I64("bytes", bytes, 0),
    I64("watermark", watermark, 0),
    I64("tomb_watermark", tomb_watermark, 0),
    I64("generation", generation, 1),
    I64("planned_n", planned_n, 0),
    I64("written_ms", written_ms, 0),
};

static int is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

void cdx_sidecar_file_name(const char *space, int64_t generation, char *buf, size_t cap)
{
    snprintf(buf, cap, "index-%s.%lld.faiss", space, (long long)generation);
}

int cdx_sidecar_parse(const char *text, size_t len, cdx_sidecar *out, cdx_errbuf *eb)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    int rc = CDX_OK;
    if (!root || !json_is_object(root)) {
        rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "sidecar: not a JSON object (%s)", root ? "wrong type" : je.text);
        goto done;
    }
    if (json_object_size(root) != CDX_ARRAY_LEN(fields)) {
        rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "sidecar: %zu fields, expected %zu", json_object_size(root),
                            CDX_ARRAY_LEN(fields));
        goto done;
    }
    for (size_t i = 0; i < CDX_ARRAY_LEN(fields); i++) {
        const sc_field *f = &fields[i];
        json_t *v = json_object_get(root, f->name);
        char *dst = (char *)out + f->offset;
        if (!v) {
            rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "sidecar: field '%s' missing", f->name);
            goto done;
        }
        if (f->type == F_STR) {
            const char *s = json_string_value(v);
            if (!s || json_string_length(v) >= f->size || strlen(s) != json_string_length(v)) {
                rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "sidecar: field '%s' must be a string under %zu bytes",
                                    f->name, f->size);
                goto done;
            }
            memcpy(dst, s, strlen(s) + 1);
            continue;
        }
        if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max) {
            rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "sidecar: field '%s' must be an integer in [%lld, %lld]", f->name,
                                (long long)f->min, (long long)f->max);
            goto done;
        }
        int64_t x = json_integer_value(v);
        if (f->type == F_INT32) {
            int32_t y = (int32_t)x;
            memcpy(dst, &y, 4);
        } else {
            memcpy(dst, &x, 8);
        }
    }
    /* Rules across fields. */
    if (strcmp(out->space, "image") != 0 && strcmp(out->space, "caption") != 0) {
        rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "sidecar: space '%s' is not image or caption", out->space);
        goto done;
    }
    char want[sizeof out->file];
    cdx_sidecar_file_name(out->space, out->generation, want, sizeof want);
    if (strcmp(out->file, want) != 0) {
        rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "sidecar: file '%s' should be '%s'", out->file, want);
        goto done;
    }
    if (!is_hex(out->sha256, 64) || !is_hex(out->space_hash, 64)) {
        rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "sidecar: sha256 and space_hash must be 64 lowercase hex digits");
        goto done;
    }
    cdx_index_spec spec = {0};
    cdx_errbuf seb = {0};
    if (cdx_index_spec_parse(out->spec, &spec, &seb) != CDX_OK || spec.kind == CDX_INDEX_AUTO) {
        rc = cdx_errbuf_set(eb, CDX_ERR_CORRUPT, "sidecar: spec: %s", spec.kind == CDX_INDEX_AUTO && !seb.code
                                                                            ? "auto is not a resolved spec"
                                                                            : seb.msg);
        goto done;
    }
done:
    json_decref(root);
    return rc;
}

char *cdx_sidecar_format(const cdx_sidecar *s)
{
    json_t *root = json_object();
    if (!root)
        return NULL;
    for (size_t i = 0; i < CDX_ARRAY_LEN(fields); i++) {
        const sc_field *f = &fields[i];
        const char *src = (const char *)s + f->offset;
        json_t *v;
        if (f->type == F_STR) {
            v = json_string(src);
        } else if (f->type == F_INT32) {
            int32_t x;
            memcpy(&x, src, 4);
            v = json_integer(x);
        } else {
            int64_t x;
            memcpy(&x, src, 8);
            v = json_integer(x);
        }
        json_object_set_new(root, f->name, v);
    }
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}
