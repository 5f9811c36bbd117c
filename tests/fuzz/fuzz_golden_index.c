/* Fuzz target: golden pack index.json parsing and validation. */
#include "encoder/golden.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cdx_golden *g = NULL;
    cdx_errbuf eb;
    if (cdx_golden_parse_index((const char *)data, size, "/pack", &g, &eb) == CDX_OK) {
        const cdx_golden_info *in = cdx_golden_get_info(g);
        for (int32_t i = 0; i < in->n_images; i++)
            (void)cdx_golden_get_image(g, i)->path;
        for (int32_t j = 0; j < in->n_texts; j++)
            (void)cdx_golden_get_text(g, j)->text_len;
    }
    cdx_golden_close(g);
    return 0;
}
