/* Fuzz target: the index sidecar parser (it reads a file from the data
 * directory). A sidecar that parses must format to text that parses back to
 * the same struct. */
#include "index/sidecar.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cdx_sidecar sc, again;
    cdx_errbuf eb;
    if (cdx_sidecar_parse((const char *)data, size, &sc, &eb) != CDX_OK)
        return 0;
    char *text = cdx_sidecar_format(&sc);
    if (!text)
        return 0;
    if (cdx_sidecar_parse(text, strlen(text), &again, &eb) != CDX_OK || memcmp(&sc, &again, sizeof sc) != 0)
        abort();
    free(text);
    return 0;
}
