/* Fuzz target: encode() on arbitrary bytes with both tokenizer kinds (the
 * hand-made fixture files of the unit tests). Checks the output's invariants:
 * at most context_length tokens, a mask of n_tokens ones then zeros, the end
 * token present, invalid UTF-8 refused with CDX_ERR_PARSE. */
#include "encoder/tokenizer.h"
#include "../unit/tok_fixtures.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cdx_tokenizer *tk[3];

static void open_all(void)
{
    cdx_errbuf eb = {0};
    cdx_tokenizer_params p = cdx_tokenizer_default_params();
    p.context_length = 24;
    char *json = fx_clip_json(NULL);
    if (!json || cdx_tokenizer_open_memory(CDX_TOKENIZER_CLIP_BPE, json, strlen(json), &p, &tk[0], &eb) != CDX_OK)
        abort();
    free(json);
    for (int bf = 0; bf < 2; bf++) {
        size_t n;
        unsigned char *m = fx_spiece(bf, &n);
        if (cdx_tokenizer_open_memory(CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM, m, n, &p, &tk[1 + bf], &eb) != CDX_OK)
            abort();
        free(m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tk[0])
        open_all();
    int64_t ids[24], mask[24];
    for (int k = 0; k < 3; k++) {
        cdx_token_result r;
        cdx_errbuf eb = {0};
        int rc = cdx_tokenizer_encode(tk[k], (const char *)data, size, CDX_TOKENIZER_PAD_RULE, ids, mask, 24, &r, &eb);
        if (rc == CDX_ERR_PARSE)
            continue;
        if (rc != CDX_OK || r.n_tokens < 1 || r.n_tokens > 24 || r.length != 24)
            abort();
        const cdx_tokenizer_info *in = cdx_tokenizer_get_info(tk[k]);
        for (int32_t i = 0; i < 24; i++)
            if (mask[i] != (i < r.n_tokens))
                abort();
        if (ids[r.n_tokens - 1] != in->eos_id || (in->bos_id >= 0 && ids[0] != in->bos_id))
            abort();
    }
    return 0;
}
