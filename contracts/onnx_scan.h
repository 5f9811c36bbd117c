/* ONNX signature reader: what a model file says about itself (IR version,
 * default-domain opset, graph inputs and outputs), read without loading its
 * weights. Used by the contract loader to compare a tower file with its
 * contract; fuzzed by tests/fuzz/fuzz_onnx.c.
 *
 * Graph inputs that are also initializers (older exporters list every weight
 * as an input) are not model inputs and are left out. */
#ifndef CDX_CONTRACTS_ONNX_SCAN_H
#define CDX_CONTRACTS_ONNX_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One graph input or output as the file declares it. */
typedef struct cdx_onnx_value {
    char *name;             /* owned; "" when the file gives none */
    int32_t is_tensor;      /* 0: a sequence, map or other non-tensor type (or no type) */
    int32_t elem_type;      /* TensorProto.DataType (1 float, 7 int64, ...); 0 when absent */
    int32_t rank;           /* -1 when the file gives no shape */
    int64_t *dims;          /* owned, rank entries: >= 0 fixed, -1 symbolic or unknown */
    char **dim_params;      /* owned, rank entries: the symbolic name, or NULL */
} cdx_onnx_value;

typedef struct cdx_onnx_info {
    int64_t ir_version;     /* 0 when the file has none */
    int64_t opset;          /* opset of the default domain ("" or "ai.onnx"); 0 when not imported */
    int32_t n_inputs, n_outputs;
    cdx_onnx_value *inputs; /* owned, graph order, initializers left out */
    cdx_onnx_value *outputs;
    int32_t n_initializer_inputs; /* graph inputs left out because they are initializers */
} cdx_onnx_info;

/* Reads the signature from a serialized ModelProto in memory. label names the
 * input in error messages. On error (CDX_ERR_PARSE: not an ONNX model,
 * truncated, malformed) *out is left empty and eb says where in the bytes. */
int cdx_onnx_parse(const void *data, size_t len, const char *label, cdx_onnx_info *out,
                   cdx_errbuf *eb);
/* The same for a file, memory-mapped so that only the bytes read are paged in.
 * CDX_ERR_NOTFOUND / CDX_ERR_IO name the path. */
int cdx_onnx_read(const char *path, cdx_onnx_info *out, cdx_errbuf *eb);
/* Frees what the info owns and empties it; an empty info is a no-op. */
void cdx_onnx_info_free(cdx_onnx_info *info);

/* "float32", "int64", ... for a TensorProto.DataType value; "unknown" for
 * values this build does not know. Static. */
const char *cdx_onnx_elem_type_name(int32_t elem_type);

#ifdef __cplusplus
}
#endif
#endif
