/* Fuzz target: tokenizer.json parsing (the CLIP BPE loader) and, when a file
 * loads, encoding a few texts with it. Any input must load or be refused
 * with an error; nothing may crash, leak or read out of bounds. */
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
    if (cdx_tokenizer_open_memory(CDX_TOKENIZER_CLIP_BPE, data, size, &p, &t, &eb) != CDX_OK)
        return 0;
    static const char *const texts[] = {"a photo of a cat", "It's 12 <|endoftext|> \xC3\xA9t\xC3\xA9!", ""};
    fx_encode_some(t, texts, sizeof texts / sizeof texts[0]);
    cdx_tokenizer_close(t);
    return 0;
}
