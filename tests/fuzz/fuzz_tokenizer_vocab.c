/* Fuzz target: vocab.json + merges.txt loading (the CLIP BPE loader's other
 * input). The input is split at its first NUL byte: vocab.json before it,
 * merges.txt after it. */
#include "encoder/tok_internal.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nul = memchr(s, 0, size);
    size_t vlen = nul ? (size_t)(nul - s) : size;
    const char *merges = nul ? nul + 1 : s + size;
    size_t mlen = nul ? size - vlen - 1 : 0;
    cdx_bpe *b = NULL;
    cdx_errbuf eb = {0};
    if (cdx_bpe_from_vocab_merges(s, vlen, merges, mlen, "fuzz", &b, &eb) != CDX_OK)
        return 0;
    cdx_idbuf ids = {0};
    cdx_bpe_encode(b, "a cat <|endoftext|>", 19, 64, &ids, &eb);
    cdx_idbuf_free(&ids);
    cdx_bpe_free(b);
    return 0;
}
