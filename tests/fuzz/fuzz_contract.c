/* Fuzz target: the contract JSON parser (cdx_contract_parse: jansson plus our
 * field tables and cross-field rules), then both descriptions of whatever it
 * accepted. Any input must give a contract or an error code with a message,
 * never a crash or leak. Seeds: the fixture contracts and broken variants
 * (tests/fuzz/corpus/contract/). */
#include "common/util.h"
#include "contracts/contract.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cdx_contract *c = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_contract_parse((const char *)data, size, "/fuzz/contracts", &c, &eb);
    if (rc != CDX_OK) {
        CDX_ASSERT(c == NULL && strlen(eb.msg) > 0);
        return 0;
    }
    const cdx_contract_spec *s = cdx_contract_get(c);
    CDX_ASSERT(strlen(s->space_hash) == 64);
    CDX_ASSERT(s->n_seq_buckets > 0 && s->seq_buckets[s->n_seq_buckets - 1] == s->text.context_length);
    CDX_ASSERT(cdx_contract_artifact_path(c, "vision_model") && cdx_contract_artifact_path(c, "text_model"));
    for (int as_json = 0; as_json < 2; as_json++)
        free(cdx_contract_describe(c, as_json));
    cdx_contract_close(c);
    return 0;
}
