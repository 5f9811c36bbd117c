/* Fuzz target: image preprocessing from memory (what the server does with a
 * request's base64-decoded body), plus the header peek and sniffing that run
 * before any decoder. Arbitrary bytes must give CDX_OK or an error code with
 * a message, never a crash, a sanitizer report or a leak.
 *
 * Two preprocessors run on every input, so both resize modes, the crop with
 * padding, orientation and every pixel layout get exercised; limits are kept
 * small so one input stays fast. Seeds: tests/fuzz/corpus/image (made by
 * tools/preprocess/make_fixtures.py). */
#include "common/util.h"
#include "encoder/imghdr.h"
#include "encoder/preprocess.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cdx_preprocess *pp_clip, *pp_siglip;
static float tensor[3 * 40 * 40];

static cdx_preprocess *open_one(enum cdx_family fam, int32_t size)
{
    cdx_contract_spec *spec = calloc(1, sizeof *spec);
    CDX_ASSERT(spec);
    cdx_preprocess_image_defaults(fam, size, spec);
    if (fam == CDX_FAMILY_CLIP) {
        spec->image.resize_to = size - 8; /* smaller than the crop: exercises the padding */
        spec->image.width = size + 4;
    }
    cdx_preprocess_params p = cdx_preprocess_default_params();
    p.max_pixels = 4 * 1000 * 1000;
    p.max_bytes = 1 << 20;
    p.budget_ms = 3000;
    cdx_preprocess *pp = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_preprocess_open(spec, &p, &pp, &eb);
    free(spec);
    CDX_ASSERT(rc == CDX_OK);
    return pp;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pp_clip) {
        pp_clip = open_one(CDX_FAMILY_CLIP, 32);
        pp_siglip = open_one(CDX_FAMILY_SIGLIP, 24);
    }
    cdx_imghdr h;
    cdx_imghdr_peek(data, size, &h);
    (void)cdx_imghdr_sniff_other(data, size);
    cdx_preprocess_info info;
    cdx_errbuf eb = {0};
    cdx_preprocess *pps[2] = {pp_clip, pp_siglip};
    for (int i = 0; i < 2; i++) {
        int rc = cdx_preprocess_buffer(pps[i], data, size, "fuzz", tensor, CDX_ARRAY_LEN(tensor), &info, &eb);
        CDX_ASSERT(rc == CDX_OK || (rc < 0 && eb.msg[0] != '\0'));
        CDX_ASSERT(rc != CDX_ERR_INTERNAL && rc != CDX_ERR_INVAL);
        if (rc == CDX_OK) {
            /* Every value is a normalized 8-bit level. */
            for (size_t q = 0; q < cdx_preprocess_tensor_floats(pps[i]); q++)
                CDX_ASSERT(tensor[q] > -3.0f && tensor[q] < 3.0f);
        }
    }
    return 0;
}
