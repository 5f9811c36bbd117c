/* Pieces shared by the tokenizer implementations (bpe.c, unigram.c) and the
 * front end (tokenizer.c). Internal to the encoder. */
#ifndef CDX_ENCODER_TOK_INTERNAL_H
#define CDX_ENCODER_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "encoder/unicode.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- string -> int32 map (vocabularies) ----------------------------------
 * Open addressing over a copy of every key; built once at load time, then
 * read-only and safe to share between threads. */
typedef struct cdx_strmap cdx_strmap;

cdx_strmap *cdx_strmap_new(size_t expected);
void cdx_strmap_free(cdx_strmap *m);
/* Inserts or replaces. CDX_ERR_NOMEM on failure. */
int cdx_strmap_put(cdx_strmap *m, const char *key, size_t len, int32_t value);
/* 1 and *value when found, else 0. */
int cdx_strmap_get(const cdx_strmap *m, const char *key, size_t len, int32_t *value);
size_t cdx_strmap_count(const cdx_strmap *m);

/* ---- uint64 -> (int32, int32) map (BPE merges: pair of ids -> rank, new id) */
typedef struct cdx_pairmap cdx_pairmap;

cdx_pairmap *cdx_pairmap_new(size_t expected);
void cdx_pairmap_free(cdx_pairmap *m);
/* Inserts; an existing key keeps its first value (the lower merge rank). */
int cdx_pairmap_put(cdx_pairmap *m, uint64_t key, int32_t a, int32_t b);
/* Inserts or replaces. */
int cdx_pairmap_replace(cdx_pairmap *m, uint64_t key, int32_t a, int32_t b);
int cdx_pairmap_get(const cdx_pairmap *m, uint64_t key, int32_t *a, int32_t *b);

/* ---- growable byte and id buffers (per-call scratch) ---------------------- */
typedef struct cdx_bytebuf {
    char *v;
    size_t n, cap;
} cdx_bytebuf;
int cdx_bytebuf_grow(cdx_bytebuf *b, size_t extra);
int cdx_bytebuf_append(cdx_bytebuf *b, const void *data, size_t n);
void cdx_bytebuf_free(cdx_bytebuf *b);

typedef struct cdx_idbuf {
    int32_t *v;
    size_t n, cap;
} cdx_idbuf;
int cdx_idbuf_push(cdx_idbuf *b, int32_t id);
void cdx_idbuf_free(cdx_idbuf *b);

/* The error an encode failure returns: rc with a message in eb. */
int cdx_tok_encode_error(cdx_errbuf *eb, int rc);

/* Reads a whole file (at most max_bytes) into a NUL-terminated buffer the
 * caller frees. Errors name the path: CDX_ERR_NOTFOUND, CDX_ERR_IO, CDX_ERR_TOOBIG. */
int cdx_tok_read_file(const char *path, size_t max_bytes, char **data, size_t *len, cdx_errbuf *eb);

/* Skips White_Space (flag CDX_UC_F_WS, or CDX_UC_F_PYWS for Python's
 * str.isspace) in valid UTF-8: the first non-space at or after lo, the end of
 * the last non-space before hi. */
size_t cdx_utf8_lstrip_flag(const char *s, size_t lo, size_t hi, unsigned flag);
size_t cdx_utf8_rstrip_flag(const char *s, size_t lo, size_t hi, unsigned flag);
#define cdx_utf8_lstrip_ws(s, lo, hi) cdx_utf8_lstrip_flag((s), (lo), (hi), CDX_UC_F_WS)
#define cdx_utf8_rstrip_ws(s, lo, hi) cdx_utf8_rstrip_flag((s), (lo), (hi), CDX_UC_F_WS)

/* ---- added (special) tokens ----------------------------------------------
 * The tokens matched in the text before the model sees it, leftmost-longest
 * like the Hugging Face AddedVocabulary. */
typedef struct cdx_added_token {
    char *content;     /* UTF-8 */
    size_t len;
    int32_t id;
    uint8_t special, normalized, lstrip, rstrip;
} cdx_added_token;

/* Finds the leftmost-longest occurrence of any token whose `normalized` flag
 * equals want_normalized in s[from..n); returns its index in toks or -1, with
 * the start in *at. */
int cdx_added_find(const cdx_added_token *toks, size_t n_toks, int want_normalized, const char *s,
                   size_t n, size_t from, size_t *at);


/* ---- model back ends ---------------------------------------------------------
 * Each turns text into the content ids the model sees between its special
 * tokens; tokenizer.c adds the special tokens, truncates and pads. `what`
 * names the input in error messages (a file path). encode() stops early once
 * it has produced more than max_ids ids (the caller only needs to know that
 * the text overflows); the ids it did produce are exactly the reference's. */
typedef struct cdx_tok_model_info {
    int32_t bos_id, eos_id, unk_id, pad_id; /* -1 when absent */
    int32_t vocab_size;
    int32_t lowercase;
    int32_t model_max_length; /* 0 when the files do not say */
} cdx_tok_model_info;

typedef struct cdx_bpe cdx_bpe;
int cdx_bpe_from_json(const char *json, size_t len, const char *what, cdx_bpe **out, cdx_errbuf *eb);
int cdx_bpe_from_vocab_merges(const char *vocab_json, size_t vocab_len, const char *merges, size_t merges_len,
                              const char *what, cdx_bpe **out, cdx_errbuf *eb);
void cdx_bpe_free(cdx_bpe *b);
void cdx_bpe_describe(const cdx_bpe *b, cdx_tok_model_info *info);
int cdx_bpe_encode(const cdx_bpe *b, const char *text, size_t len, size_t max_ids, cdx_idbuf *ids, cdx_errbuf *eb);

typedef struct cdx_unigram cdx_unigram;
int cdx_unigram_from_spiece(const void *data, size_t len, const char *what, cdx_unigram **out, cdx_errbuf *eb);
void cdx_unigram_free(cdx_unigram *u);
void cdx_unigram_describe(const cdx_unigram *u, cdx_tok_model_info *info);
/* The SiglipTokenizer pipeline up to (not including) the appended `</s>`. */
int cdx_unigram_encode(const cdx_unigram *u, const char *text, size_t len, cdx_idbuf *ids, cdx_errbuf *eb);

#ifdef __cplusplus
}
#endif
#endif
