/* Fuzz target: the ONNX signature reader (contracts/onnx_scan.c), our own
 * walker over the protobuf wire format of untrusted model files. Any input
 * must give CDX_OK or CDX_ERR_PARSE, never a crash, leak or hang; on success
 * the signature it read must be self-consistent. Seeds: the fixture towers
 * and a few broken ones (tests/fuzz/corpus/onnx/). */
#include "common/util.h"
#include "contracts/onnx_scan.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cdx_onnx_info info;
    cdx_errbuf eb = {0};
    int rc = cdx_onnx_parse(data, size, "fuzz.onnx", &info, &eb);
    CDX_ASSERT(rc == CDX_OK || rc == CDX_ERR_PARSE || rc == CDX_ERR_NOMEM);
    if (rc != CDX_OK) {
        CDX_ASSERT(info.inputs == NULL && info.outputs == NULL && strlen(eb.msg) > 0);
        return 0;
    }
    CDX_ASSERT(info.ir_version > 0);
    for (int io = 0; io < 2; io++) {
        const cdx_onnx_value *v = io ? info.outputs : info.inputs;
        for (int32_t i = 0; i < (io ? info.n_outputs : info.n_inputs); i++) {
            CDX_ASSERT(v[i].name != NULL);
            CDX_ASSERT(v[i].rank >= -1);
            for (int32_t d = 0; d < v[i].rank; d++)
                CDX_ASSERT(v[i].dims[d] >= -1 && (v[i].dims[d] < 0 || v[i].dim_params[d] == NULL));
            (void)cdx_onnx_elem_type_name(v[i].elem_type);
        }
    }
    cdx_onnx_info_free(&info);
    return 0;
}
