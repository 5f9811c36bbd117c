/* Text tokenizers for both model families, behind one handle.
 *
 *   CLIP   byte-level BPE with `</w>` from tokenizer.json (or vocab.json +
 *          merges.txt), as the Hugging Face fast tokenizer does it: NFC,
 *          whitespace runs to one space, lowercase; the CLIP split regex; BPE
 *          by merge rank; <|startoftext|> ... <|endoftext|>.
 *   SigLIP SentencePiece unigram from spiece.model, as Hugging Face's
 *          SiglipTokenizer does it: lowercase, ASCII punctuation removed,
 *          whitespace collapsed, the model's own normalizer (precompiled
 *          charsmap), best segmentation by piece scores, `</s>` appended.
 *
 * A tokenizer is opened from a contract (cdx_contract_spec: kind, context
 * length, special ids, padding rule, artifact paths) or from a model folder.
 * Once open it is immutable: any number of threads may call
 * cdx_tokenizer_encode on one handle at the same time; each call uses scratch
 * memory of its own. Texts are UTF-8; invalid UTF-8 is refused with
 * CDX_ERR_PARSE (Hugging Face tokenizers only accept valid Unicode strings). */
#ifndef CDX_ENCODER_TOKENIZER_H
#define CDX_ENCODER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "contracts/contract.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_tokenizer cdx_tokenizer;

typedef struct cdx_tokenizer_params {
    /* Sequence length the model takes; longer texts are truncated keeping the
     * end token. 0 takes the model folder's own (tokenizer_config.json
     * model_max_length, else 77 for CLIP and 64 for SigLIP). Ignored by
     * cdx_tokenizer_open, which takes the contract's. */
    int32_t context_length;
    /* Texts longer than this many bytes are refused with CDX_ERR_TOOBIG
     * (default 1 MiB). */
    size_t max_text_bytes;
} cdx_tokenizer_params;

cdx_tokenizer_params cdx_tokenizer_default_params(void);

/* What an open tokenizer is. Borrowed from the handle. */
typedef struct cdx_tokenizer_info {
    enum cdx_tokenizer_kind kind;
    int32_t context_length;
    int64_t bos_id;          /* -1 when the family has none (SigLIP) */
    int64_t eos_id, pad_id, unk_id;
    int32_t vocab_size;
    int32_t lowercase;       /* the normalizer lowercases */
    enum cdx_padding padding;
    int32_t n_seq_buckets;   /* from the contract; 0 when opened from a folder */
    int32_t seq_buckets[CDX_CONTRACT_MAX_BUCKETS];
    const char *unicode_version; /* of the tables behind NFC, lowercase and categories */
} cdx_tokenizer_info;

/* Opens the tokenizer the contract names. The files are the artifacts with
 * role `tokenizer` (tokenizer.json) or `vocab` + `merges` for clip_bpe, and
 * `spiece` for sentencepiece_unigram. The contract's special ids and
 * lowercase flag are checked against the files: a difference is
 * CDX_ERR_MISMATCH naming both values. params may be NULL (defaults). */
int cdx_tokenizer_open(const cdx_contract_spec *spec, const cdx_tokenizer_params *params,
                       cdx_tokenizer **out, cdx_errbuf *eb);
/* Opens from a model folder in Hugging Face layout: spiece.model makes a
 * SentencePiece unigram tokenizer, else tokenizer.json (or vocab.json +
 * merges.txt) a CLIP BPE one. Padding is max_length; no sequence buckets. */
int cdx_tokenizer_open_dir(const char *model_dir, const cdx_tokenizer_params *params, cdx_tokenizer **out,
                           cdx_errbuf *eb);
/* Parses a tokenizer from memory, for tests and fuzzing: kind says which
 * loader; for CLIP, data is tokenizer.json; for SigLIP, data is spiece.model. */
int cdx_tokenizer_open_memory(enum cdx_tokenizer_kind kind, const void *data, size_t len,
                              const cdx_tokenizer_params *params, cdx_tokenizer **out, cdx_errbuf *eb);
void cdx_tokenizer_close(cdx_tokenizer *t);

const cdx_tokenizer_info *cdx_tokenizer_get_info(const cdx_tokenizer *t);

/* pad_to for cdx_tokenizer_encode. */
#define CDX_TOKENIZER_PAD_RULE (-1) /* the contract's rule: context_length, or the nearest sequence bucket */
#define CDX_TOKENIZER_PAD_NONE 0    /* no padding: length == n_tokens */

typedef struct cdx_token_result {
    int32_t n_tokens;  /* real tokens, special tokens included (the attention mask's sum) */
    int32_t length;    /* positions written to ids and mask (n_tokens plus padding) */
    int32_t truncated; /* 1 when the text did not fit context_length */
} cdx_token_result;

/* Encodes one text (len bytes of UTF-8; NUL bytes are characters like any
 * other) into ids and attention mask, each with room for cap values
 * (cap >= context_length always suffices). pad_to is CDX_TOKENIZER_PAD_RULE,
 * CDX_TOKENIZER_PAD_NONE, or a length to pad to (n_tokens <= pad_to <=
 * context_length, else CDX_ERR_INVAL). Errors: CDX_ERR_PARSE (invalid
 * UTF-8, with the byte offset), CDX_ERR_TOOBIG (text longer than
 * max_text_bytes), CDX_ERR_INVAL (bad pad_to or cap), CDX_ERR_NOMEM. */
int cdx_tokenizer_encode(const cdx_tokenizer *t, const char *text, size_t len, int32_t pad_to, int64_t *ids,
                         int64_t *mask, int32_t cap, cdx_token_result *res, cdx_errbuf *eb);

#ifdef __cplusplus
}
#endif
#endif
