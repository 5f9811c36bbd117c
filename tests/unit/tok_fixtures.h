/* Hand-made tokenizer files for the tokenizer tests and fuzz seeds: a small
 * CLIP-style tokenizer.json (all 256 byte symbols with and without </w>, a
 * few merges, the two special tokens) and small spiece.model protobufs.
 * Header-only; each function returns malloc'd bytes the caller frees. */
#ifndef CDX_TESTS_TOK_FIXTURES_H
#define CDX_TESTS_TOK_FIXTURES_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GPT-2 bytes-to-unicode, written out independently of encoder/bpe.c. */
static inline void fx_byte_char(unsigned b, char out[4])
{
    unsigned cp = b, n = 0;
    int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    if (!printable) {
        for (unsigned k = 0; k < b; k++)
            if (!((k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE)))
                n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

/* The fixture's merges, in rank order (ASCII, so byte symbols are the letters themselves). */
static const char *const fx_merges[][2] = {
    {"c", "a"}, {"ca", "t</w>"}, {"i", "t</w>"}, {"'", "s</w>"}, {"t", "h"}, {"th", "e</w>"},
    {"d", "o"}, {"do", "g</w>"}, {"r", "e"}, {"re", "d</w>"}, {"a", "a"}, {"aa", "a</w>"},
};
#define FX_N_MERGES (sizeof fx_merges / sizeof fx_merges[0])
#define FX_BOS (512 + (int)FX_N_MERGES)
#define FX_EOS (FX_BOS + 1)

/* The id the fixture gives a token string, or -1. */
static inline int fx_id(const char *tok)
{
    for (unsigned b = 0; b < 256; b++) {
        char c[4], w[16];
        fx_byte_char(b, c);
        snprintf(w, sizeof w, "%s</w>", c);
        if (strcmp(tok, c) == 0)
            return (int)b;
        if (strcmp(tok, w) == 0)
            return 256 + (int)b;
    }
    for (unsigned k = 0; k < FX_N_MERGES; k++) {
        char m[64];
        snprintf(m, sizeof m, "%s%s", fx_merges[k][0], fx_merges[k][1]);
        if (strcmp(tok, m) == 0)
            return 512 + (int)k;
    }
    if (strcmp(tok, "<|startoftext|>") == 0)
        return FX_BOS;
    if (strcmp(tok, "<|endoftext|>") == 0)
        return FX_EOS;
    return -1;
}

/* tokenizer.json as Hugging Face writes CLIP's; `normalizer` may replace the normalizer (NULL keeps CLIP's). */
static inline char *fx_clip_json(json_t *normalizer)
{
    json_t *vocab = json_object(), *merges = json_array();
    for (unsigned b = 0; b < 256; b++) {
        char c[4], w[16];
        fx_byte_char(b, c);
        snprintf(w, sizeof w, "%s</w>", c);
        json_object_set_new(vocab, c, json_integer(b));
        json_object_set_new(vocab, w, json_integer(256 + b));
    }
    for (unsigned k = 0; k < FX_N_MERGES; k++) {
        char m[64];
        snprintf(m, sizeof m, "%s%s", fx_merges[k][0], fx_merges[k][1]);
        json_object_set_new(vocab, m, json_integer(512 + k));
        snprintf(m, sizeof m, "%s %s", fx_merges[k][0], fx_merges[k][1]);
        json_array_append_new(merges, json_string(m));
    }
    json_object_set_new(vocab, "<|startoftext|>", json_integer(FX_BOS));
    json_object_set_new(vocab, "<|endoftext|>", json_integer(FX_EOS));
    if (!normalizer)
        normalizer = json_pack("{s:s,s:[{s:s},{s:s,s:{s:s},s:s},{s:s}]}", "type", "Sequence", "normalizers", "type",
                               "NFC", "type", "Replace", "pattern", "Regex", "\\s+", "content", " ", "type",
                               "Lowercase");
    json_t *root = json_pack(
        "{s:s,s:n,s:n,s:[{s:i,s:s,s:b,s:b,s:b,s:b,s:b},{s:i,s:s,s:b,s:b,s:b,s:b,s:b}],s:o,"
        "s:{s:s,s:[{s:s,s:{s:s},s:s,s:b},{s:s,s:b,s:b,s:b}]},"
        "s:{s:s,s:[s,i],s:[s,i],s:b,s:b},s:n,"
        "s:{s:s,s:n,s:s,s:n,s:s,s:b,s:o,s:o}}",
        "version", "1.0", "truncation", "padding", "added_tokens", "id", FX_BOS, "content", "<|startoftext|>",
        "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 1, "special", 1, "id", FX_EOS, "content",
        "<|endoftext|>", "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 1, "special", 1, "normalizer",
        normalizer, "pre_tokenizer", "type", "Sequence", "pretokenizers", "type", "Split", "pattern", "Regex",
        "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
        "behavior", "Removed", "invert", 1, "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
        "use_regex", 0, "post_processor", "type", "RobertaProcessing", "sep", "<|endoftext|>", FX_EOS, "cls",
        "<|startoftext|>", FX_BOS, "trim_offsets", 0, "add_prefix_space", 0, "decoder", "model", "type", "BPE",
        "dropout", "unk_token", "<|endoftext|>", "continuing_subword_prefix", "end_of_word_suffix", "</w>",
        "fuse_unk", 0, "vocab", vocab, "merges", merges);
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return s;
}

/* ---- a protobuf writer for spiece.model fixtures ---- */
typedef struct fx_buf {
    unsigned char *v;
    size_t n, cap;
} fx_buf;

static inline void fx_put(fx_buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->v = realloc(b->v, b->cap);
    }
    memcpy(b->v + b->n, d, n);
    b->n += n;
}
static inline void fx_varint(fx_buf *b, uint64_t v)
{
    do {
        unsigned char c = (unsigned char)(v & 0x7F);
        v >>= 7;
        if (v)
            c |= 0x80;
        fx_put(b, &c, 1);
    } while (v);
}
static inline void fx_field_varint(fx_buf *b, unsigned f, uint64_t v)
{
    fx_varint(b, (uint64_t)f << 3);
    fx_varint(b, v);
}
static inline void fx_field_bytes(fx_buf *b, unsigned f, const void *d, size_t n)
{
    fx_varint(b, ((uint64_t)f << 3) | 2);
    fx_varint(b, n);
    fx_put(b, d, n);
}
static inline void fx_field_float(fx_buf *b, unsigned f, float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    unsigned char le[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
    fx_varint(b, ((uint64_t)f << 3) | 5);
    fx_put(b, le, 4);
}

typedef struct fx_piece {
    const char *s;
    float score;
    int type; /* 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte */
} fx_piece;

/* The fixture vocabulary: T5's layout (<pad> 0, </s> 1, <unk> 2), then a few pieces. */
static const fx_piece fx_pieces[] = {
    {"<pad>", 0, 3}, {"</s>", 0, 3}, {"<unk>", 0, 2}, {"\xE2\x96\x81", -2.0f, 1}, {"\xE2\x96\x81" "a", -1.5f, 1},
    {"a", -3.0f, 1}, {"b", -3.0f, 1}, {"\xE2\x96\x81" "b", -2.5f, 1}, {"ab", -2.0f, 1}, {"\xE2\x96\x81" "ab", -1.0f, 1},
    {"c", -4.0f, 1}, {"<", -5.0f, 1}, {">", -5.0f, 1}, {"unk", -3.5f, 1}, {"x", -6.0f, 5},
};
#define FX_SP_N (sizeof fx_pieces / sizeof fx_pieces[0])

/* spiece.model bytes; byte_fallback adds the 256 <0xXX> byte pieces. */
static inline unsigned char *fx_spiece(int byte_fallback, size_t *len)
{
    fx_buf m = {0}, p = {0}, t = {0}, nspec = {0};
    for (size_t i = 0; i < FX_SP_N + (byte_fallback ? 256 : 0); i++) {
        char name[8];
        fx_piece pc;
        if (i < FX_SP_N) {
            pc = fx_pieces[i];
        } else {
            snprintf(name, sizeof name, "<0x%02X>", (unsigned)(i - FX_SP_N));
            pc = (fx_piece){name, 0, 6};
        }
        p.n = 0;
        fx_field_bytes(&p, 1, pc.s, strlen(pc.s));
        fx_field_float(&p, 2, pc.score);
        if (pc.type != 1)
            fx_field_varint(&p, 3, (uint64_t)pc.type);
        fx_field_bytes(&m, 1, p.v, p.n);
    }
    fx_field_varint(&t, 3, 1); /* model_type UNIGRAM */
    if (byte_fallback)
        fx_field_varint(&t, 35, 1);
    fx_field_bytes(&m, 2, t.v, t.n);
    fx_field_bytes(&nspec, 1, "identity", 8);
    fx_field_varint(&nspec, 3, 1);
    fx_field_varint(&nspec, 4, 1);
    fx_field_varint(&nspec, 5, 1);
    fx_field_bytes(&m, 3, nspec.v, nspec.n);
    free(p.v);
    free(t.v);
    free(nspec.v);
    *len = m.n;
    return m.v;
}

/* Encodes a few fixed texts with t (fuzz targets: reach encode() through a freshly parsed file). */
#ifdef CDX_ENCODER_TOKENIZER_H
static inline void fx_encode_some(const cdx_tokenizer *t, const char *const *texts, size_t n)
{
    int64_t ids[16], mask[16];
    cdx_token_result r;
    cdx_errbuf eb = {0};
    for (size_t i = 0; i < n; i++)
        cdx_tokenizer_encode(t, texts[i], strlen(texts[i]), CDX_TOKENIZER_PAD_RULE, ids, mask, 16, &r, &eb);
}
#endif

#endif
