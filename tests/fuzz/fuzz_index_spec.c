/* Fuzz target: index spec strings ("hnsw:m=32,efc=200,efs=64"). A spec that
 * parses formats to canonical text that parses to the same spec, and
 * resolving it for any catalog size keeps it valid. */
#include "index/spec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    cdx_index_spec s, again;
    cdx_errbuf eb;
    if (cdx_index_spec_parse(text, &s, &eb) == CDX_OK) {
        char buf[CDX_INDEX_SPEC_MAX];
        cdx_index_spec_format(&s, buf, sizeof buf);
        if (cdx_index_spec_parse(buf, &again, &eb) != CDX_OK || memcmp(&s, &again, sizeof s) != 0)
            abort();
        int64_t n = size > 0 ? (int64_t)data[0] << (data[size - 1] % 40) : 0;
        int32_t chosen_m = s.pq_m == 0; /* a user's m that does not divide dim is refused at create */
        cdx_index_spec_resolve(&s, n, 512);
        if ((s.kind == CDX_INDEX_IVF || s.kind == CDX_INDEX_IVFPQ) && (s.nlist < 1 || s.nprobe > s.nlist))
            abort();
        if (s.kind == CDX_INDEX_IVFPQ && chosen_m && 512 % s.pq_m != 0)
            abort();
    }
    free(text);
    return 0;
}
