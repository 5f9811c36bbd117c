/* Fuzz target: provider spec parsing and canonical formatting. A spec that
 * parses must format to text that parses again to the same spec. */
#include "encoder/providers.h"

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
    cdx_provider_spec s, again;
    cdx_errbuf eb;
    if (cdx_provider_spec_parse(text, &s, &eb) == CDX_OK) {
        char buf[4096];
        cdx_provider_spec_format(&s, buf, sizeof buf);
        if (cdx_provider_spec_parse(buf, &again, &eb) != CDX_OK || again.n_entries != s.n_entries)
            abort();
        cdx_session_settings ss;
        cdx_provider_session_settings(&s, &ss, &eb);
        const char *k[CDX_PROVIDER_MAX_OPTIONS], *v[CDX_PROVIDER_MAX_OPTIONS];
        for (int i = 0; i < s.n_entries; i++)
            cdx_provider_entry_ort_options(&s.entries[i], k, v, CDX_PROVIDER_MAX_OPTIONS);
    }
    free(text);
    return 0;
}
