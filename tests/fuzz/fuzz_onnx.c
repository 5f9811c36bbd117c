/* Fuzz target: the ONNX signature reader (contracts/onnx_scan.c), our own
 * walker over the protobuf wire format of untrusted model files. Any input
 * must give CDX_OK or CDX_ERR_PARSE, never a crash, leak or hang; on success
 * the signature it read must be self-consistent, and comparing it with a
 * contract (whose messages quote the file's untrusted names) must not
 * misbehave either. Seeds: the fixture towers and a few broken ones
 * (tests/fuzz/corpus/onnx/). */
#include "common/util.h"
#include "contracts/contract_internal.h"
#include "contracts/onnx_scan.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fixture-clip vision tower's side of a contract. */
static const cdx_contract_spec *spec(void)
{
    static cdx_contract_spec s;
    if (s.onnx_opset == 0) {
        s.onnx_opset = 17;
        s.onnx_ir_version = 8;
        cdx_tower_spec *v = &s.towers[CDX_TOWER_VISION];
        v->n_inputs = v->n_outputs = 1;
        v->inputs[0] = (cdx_tensor_spec){.name = "pixel_values", .dtype = CDX_DTYPE_FLOAT32, .rank = 4,
                                         .dims = {-1, 3, 16, 16}, .dim_names = {"batch"}};
        v->outputs[0] = (cdx_tensor_spec){.name = "image_embeds", .dtype = CDX_DTYPE_FLOAT32, .rank = 2,
                                          .dims = {-1, 8}, .dim_names = {"batch"}};
    }
    return &s;
}

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
    cdx_problems p = {0};
    cdx_contract_compare_onnx(spec(), CDX_TOWER_VISION, "fuzz.onnx", &info, &p);
    cdx_errbuf out = {0};
    CDX_ASSERT((cdx_problems_finish(&p, &out) == CDX_OK) == (p.count == 0));
    CDX_ASSERT(strlen(out.msg) < sizeof out.msg);
    cdx_problems_free(&p);
    cdx_onnx_info_free(&info);
    return 0;
}
