/* Fuzz target: spiece.model parsing (protobuf, pieces, the precompiled
 * charsmap's double-array trie) and, when a model loads, encoding texts that
 * walk the charsmap and the segmentation. */
#include "encoder/tokenizer.h"
#include "../unit/tok_fixtures.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cdx_tokenizer *t = NULL;
    cdx_errbuf eb = {0};
    cdx_tokenizer_params p = cdx_tokenizer_default_params();
    p.context_length = 16;
    if (cdx_tokenizer_open_memory(CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM, data, size, &p, &t, &eb) != CDX_OK)
        return 0;
    static const char *const texts[] = {"Hello, World!", "\xEF\xBC\xA1\xE2\x80\x8B \xEF\xAC\x81 </s> <unk> x", "   ", ""};
    fx_encode_some(t, texts, sizeof texts / sizeof texts[0]);
    cdx_tokenizer_close(t);
    return 0;
}
