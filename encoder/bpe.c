/* CLIP byte-level BPE, following the Hugging Face fast tokenizer
 * (tokenizers' Rust crate) as configured by CLIP's tokenizer.json:
 *
 *   added tokens   split out first, leftmost-longest: non-normalized ones on
 *                  the raw text, normalized ones after normalization
 *   normalizer     the file's sequence of NFC, Replace(\s+ -> " "), Lowercase,
 *                  Strip (per code point, no Final_Sigma context, like Rust)
 *   pre-tokenizer  Split on the CLIP regex (kept matches, whitespace removed),
 *                  then ByteLevel: each UTF-8 byte becomes one symbol
 *   model          BPE: the last symbol carries `</w>`; repeatedly merge the
 *                  adjacent pair of lowest merge rank, leftmost first; a
 *                  symbol missing from the vocabulary becomes the unk token
 *
 * tokenizer.c adds <|startoftext|>/<|endoftext|>, truncates and pads. The
 * object is read-only after loading and shared by all threads; encode() keeps
 * its scratch on the caller's side. Loading refuses configurations it does
 * not implement (another regex, byte fallback, dropout...) with
 * CDX_ERR_UNSUPPORTED rather than tokenizing differently from the reference. */
#include "encoder/tok_internal.h"

#include "common/util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum norm_step { NORM_NFC, NORM_LOWER, NORM_REPLACE_WS, NORM_STRIP };
#define MAX_NORM_STEPS 16
#define MAX_VOCAB (1 << 24)

struct cdx_bpe {
    cdx_strmap *vocab;
    cdx_pairmap *merges;
    int32_t byte_id[256], byte_eow_id[256]; /* ids of each byte's symbol, alone and with the suffix; -1 missing */
    int32_t unk_id;
    int fuse_unk;
    int32_t vocab_size;
    int n_steps;
    enum norm_step steps[MAX_NORM_STEPS];
    uint8_t strip_left[MAX_NORM_STEPS], strip_right[MAX_NORM_STEPS];
    char replace_content[MAX_NORM_STEPS][8];
    int lowercase;
    cdx_added_token *added;
    size_t n_added;
    int32_t bos_id, eos_id, pad_id;
    int32_t model_max_length;
};

/* The CLIP pre-tokenizer regex as tokenizer.json spells it (after JSON
 * decoding), and the spelling without brackets; both mean the same. */
static const char *const clip_split_patterns[] = {
    "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
    "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^\\s\\p{L}\\p{N}]+",
};

/* GPT-2's byte-to-unicode table: printable bytes map to themselves, the rest
 * to U+0100 upwards in byte order. */
static uint32_t byte_to_unicode(unsigned b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        return b;
    unsigned n = 0;
    for (unsigned k = 0; k < b; k++)
        if (!((k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF)))
            n++;
    return 256 + n;
}

void cdx_bpe_free(cdx_bpe *b)
{
    if (!b)
        return;
    cdx_strmap_free(b->vocab);
    cdx_pairmap_free(b->merges);
    for (size_t i = 0; i < b->n_added; i++)
        free(b->added[i].content);
    free(b->added);
    free(b);
}

void cdx_bpe_describe(const cdx_bpe *b, cdx_tok_model_info *info)
{
    info->bos_id = b->bos_id;
    info->eos_id = b->eos_id;
    info->unk_id = b->unk_id;
    info->pad_id = b->pad_id;
    info->vocab_size = b->vocab_size;
    info->lowercase = b->lowercase;
    info->model_max_length = b->model_max_length;
}

static int vocab_id(const cdx_bpe *b, const char *s, size_t n, int32_t *id)
{
    return cdx_strmap_get(b->vocab, s, n, id);
}

/* ---- loading --------------------------------------------------------------- */
static cdx_bpe *bpe_new(void)
{
    cdx_bpe *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->unk_id = b->bos_id = b->eos_id = b->pad_id = -1;
    return b;
}

static int add_vocab(cdx_bpe *b, const char *tok, size_t n, json_int_t id, const char *what, cdx_errbuf *eb)
{
    if (id < 0 || id >= MAX_VOCAB)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: vocabulary id %lld of \"%.40s\" is out of range 0..%d", what,
                              (long long)id, tok, MAX_VOCAB - 1);
    if (n == 0)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: the vocabulary has an empty token (id %lld)", what,
                              (long long)id);
    if (cdx_strmap_put(b->vocab, tok, n, (int32_t)id) != CDX_OK)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory building the vocabulary", what);
    if (id + 1 > b->vocab_size)
        b->vocab_size = (int32_t)id + 1;
    return CDX_OK;
}

static int load_vocab_object(cdx_bpe *b, json_t *vocab, const char *what, cdx_errbuf *eb)
{
    if (!json_is_object(vocab))
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: the vocabulary must be a JSON object of token -> id", what);
    if (json_object_size(vocab) > MAX_VOCAB)
        return cdx_errbuf_set(eb, CDX_ERR_TOOBIG, "%s: %zu vocabulary entries, at most %d supported", what,
                              json_object_size(vocab), MAX_VOCAB);
    b->vocab = cdx_strmap_new(json_object_size(vocab) + 64);
    if (!b->vocab)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
    const char *key;
    size_t klen;
    json_t *v;
    void *tmp;
    json_object_keylen_foreach_safe(vocab, tmp, key, klen, v)
    {
        if (!json_is_integer(v))
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: vocabulary entry \"%.40s\" is not an integer id", what, key);
        int rc = add_vocab(b, key, klen, json_integer_value(v), what, eb);
        if (rc != CDX_OK)
            return rc;
    }
    return CDX_OK;
}

/* One merge "a b" -> rank. Both parts and their concatenation must be in the
 * vocabulary, as the Rust BPE builder requires. */
static int add_merge(cdx_bpe *b, const char *a, size_t alen, const char *c, size_t clen, int32_t rank,
                     const char *what, cdx_errbuf *eb)
{
    int32_t ia, ic, inew;
    if (!vocab_id(b, a, alen, &ia))
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: merge %d: \"%.*s\" is not in the vocabulary", what, rank,
                              (int)CDX_MIN(alen, 40), a);
    if (!vocab_id(b, c, clen, &ic))
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: merge %d: \"%.*s\" is not in the vocabulary", what, rank,
                              (int)CDX_MIN(clen, 40), c);
    char stackbuf[256];
    char *joined = alen + clen <= sizeof stackbuf ? stackbuf : malloc(alen + clen);
    if (!joined)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
    memcpy(joined, a, alen);
    memcpy(joined + alen, c, clen);
    int found = vocab_id(b, joined, alen + clen, &inew);
    if (joined != stackbuf)
        free(joined);
    if (!found)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: merge %d: \"%.*s%.*s\" (the merged token) is not in the vocabulary",
                              what, rank, (int)CDX_MIN(alen, 40), a, (int)CDX_MIN(clen, 40), c);
    if (cdx_pairmap_put(b->merges, ((uint64_t)(uint32_t)ia << 32) | (uint32_t)ic, rank, inew) != CDX_OK)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
    return CDX_OK;
}

static int load_merges_array(cdx_bpe *b, json_t *merges, const char *what, cdx_errbuf *eb)
{
    if (!json_is_array(merges))
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: model.merges must be an array", what);
    b->merges = cdx_pairmap_new(json_array_size(merges) + 16);
    if (!b->merges)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m)
    {
        if (i >= MAX_VOCAB)
            return cdx_errbuf_set(eb, CDX_ERR_TOOBIG, "%s: more than %d merges", what, MAX_VOCAB);
        const char *a, *c;
        size_t alen, clen;
        if (json_is_string(m)) { /* "a b": split at the first space */
            a = json_string_value(m);
            size_t n = json_string_length(m);
            const char *sp = memchr(a, ' ', n);
            if (!sp || sp == a || sp + 1 == a + n)
                return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: merge %zu \"%.40s\" is not two tokens separated by a space",
                                      what, i, a);
            alen = (size_t)(sp - a);
            c = sp + 1;
            clen = n - alen - 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            alen = json_string_length(json_array_get(m, 0));
            c = json_string_value(json_array_get(m, 1));
            clen = json_string_length(json_array_get(m, 1));
        } else {
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: merge %zu must be \"a b\" or [\"a\", \"b\"]", what, i);
        }
        int rc = add_merge(b, a, alen, c, clen, (int32_t)i, what, eb);
        if (rc != CDX_OK)
            return rc;
    }
    return CDX_OK;
}

static int finish_bytes(cdx_bpe *b, const char *eow, size_t eow_len, const char *what, cdx_errbuf *eb)
{
    for (unsigned x = 0; x < 256; x++) {
        char s[16];
        size_t n = cdx_utf8_put(byte_to_unicode(x), s);
        b->byte_id[x] = b->byte_eow_id[x] = -1;
        int32_t id;
        if (vocab_id(b, s, n, &id))
            b->byte_id[x] = id;
        if (eow_len > 8)
            return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED, "%s: end_of_word_suffix longer than 8 bytes", what);
        memcpy(s + n, eow, eow_len);
        if (vocab_id(b, s, n + eow_len, &id))
            b->byte_eow_id[x] = id;
    }
    return CDX_OK;
}

static int parse_added_tokens(cdx_bpe *b, json_t *arr, const char *what, cdx_errbuf *eb)
{
    if (!arr || json_is_null(arr))
        return CDX_OK;
    if (!json_is_array(arr))
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: added_tokens must be an array", what);
    b->added = calloc(json_array_size(arr) + 1, sizeof *b->added);
    if (!b->added)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t)
    {
        json_t *content = json_object_get(t, "content"), *id = json_object_get(t, "id");
        if (!json_is_string(content) || !json_is_integer(id) || json_string_length(content) == 0)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: added_tokens[%zu] needs a non-empty \"content\" and an integer \"id\"",
                                  what, i);
        json_int_t idv = json_integer_value(id);
        if (idv < 0 || idv >= MAX_VOCAB)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: added_tokens[%zu] id %lld out of range", what, i, (long long)idv);
        if (json_is_true(json_object_get(t, "single_word")))
            return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED, "%s: added_tokens[%zu] \"%s\": single_word tokens are not supported",
                                  what, i, json_string_value(content));
        size_t n;
        const char *c = json_string_value(content);
        n = json_string_length(content);
        size_t bad;
        cdx_u32buf tmp = {0};
        int valid = cdx_utf8_decode(c, n, &tmp, &bad) == CDX_OK;
        cdx_u32buf_free(&tmp);
        if (!valid)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: added_tokens[%zu] is not valid UTF-8", what, i);
        cdx_added_token *a = &b->added[b->n_added];
        a->content = malloc(n + 1);
        if (!a->content)
            return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
        memcpy(a->content, c, n + 1);
        a->len = n;
        a->id = (int32_t)idv;
        a->special = json_is_true(json_object_get(t, "special"));
        json_t *norm = json_object_get(t, "normalized");
        a->normalized = norm ? json_is_true(norm) : !a->special;
        a->lstrip = json_is_true(json_object_get(t, "lstrip"));
        a->rstrip = json_is_true(json_object_get(t, "rstrip"));
        b->n_added++;
        if (idv + 1 > b->vocab_size)
            b->vocab_size = (int32_t)idv + 1;
    }
    return CDX_OK;
}

static int parse_normalizer(cdx_bpe *b, json_t *n, const char *what, cdx_errbuf *eb)
{
    if (!n || json_is_null(n))
        return CDX_OK;
    const char *type = json_string_value(json_object_get(n, "type"));
    if (!type)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: normalizer without a \"type\"", what);
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(n, "normalizers");
        if (!json_is_array(list))
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: Sequence normalizer without a \"normalizers\" array", what);
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e)
        {
            int rc = parse_normalizer(b, e, what, eb);
            if (rc != CDX_OK)
                return rc;
        }
        return CDX_OK;
    }
    if (b->n_steps >= MAX_NORM_STEPS)
        return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED, "%s: more than %d normalizer steps", what, MAX_NORM_STEPS);
    int k = b->n_steps;
    if (strcmp(type, "NFC") == 0) {
        b->steps[k] = NORM_NFC;
    } else if (strcmp(type, "Lowercase") == 0) {
        b->steps[k] = NORM_LOWER;
        b->lowercase = 1;
    } else if (strcmp(type, "Strip") == 0) {
        b->steps[k] = NORM_STRIP;
        b->strip_left[k] = json_is_true(json_object_get(n, "strip_left"));
        b->strip_right[k] = json_is_true(json_object_get(n, "strip_right"));
    } else if (strcmp(type, "Replace") == 0) {
        const char *re = json_string_value(json_object_get(json_object_get(n, "pattern"), "Regex"));
        json_t *content = json_object_get(n, "content");
        if (!re || strcmp(re, "\\s+") != 0 || !json_is_string(content) || json_string_length(content) >= 8)
            return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED,
                                  "%s: Replace normalizer: only the pattern {\"Regex\": \"\\\\s+\"} with a short content is supported",
                                  what);
        b->steps[k] = NORM_REPLACE_WS;
        size_t bad;
        cdx_u32buf tmp = {0};
        int valid = cdx_utf8_decode(json_string_value(content), json_string_length(content), &tmp, &bad) == CDX_OK;
        cdx_u32buf_free(&tmp);
        if (!valid || memchr(json_string_value(content), 0, json_string_length(content)))
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: Replace normalizer content is not valid text", what);
        memcpy(b->replace_content[k], json_string_value(content), json_string_length(content) + 1);
    } else {
        return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED,
                              "%s: normalizer type \"%s\" is not supported (clipdex implements NFC, Lowercase, Strip and Replace \\s+)",
                              what, type);
    }
    b->n_steps++;
    return CDX_OK;
}

static int parse_pre_tokenizer(json_t *p, const char *what, cdx_errbuf *eb)
{
    const char *type = json_string_value(json_object_get(p, "type"));
    json_t *list = NULL;
    if (type && strcmp(type, "Sequence") == 0)
        list = json_object_get(p, "pretokenizers");
    if (!json_is_array(list) || json_array_size(list) != 2)
        return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED,
                              "%s: pre_tokenizer must be CLIP's Sequence of Split (the CLIP regex) and ByteLevel", what);
    json_t *split = json_array_get(list, 0), *bl = json_array_get(list, 1);
    const char *re = json_string_value(json_object_get(json_object_get(split, "pattern"), "Regex"));
    const char *beh = json_string_value(json_object_get(split, "behavior"));
    int known = 0;
    for (size_t i = 0; re && i < CDX_ARRAY_LEN(clip_split_patterns); i++)
        known |= strcmp(re, clip_split_patterns[i]) == 0;
    if (strcmp(json_string_value(json_object_get(split, "type")) ? json_string_value(json_object_get(split, "type")) : "",
               "Split") != 0 ||
        !known || !beh || strcmp(beh, "Removed") != 0 || !json_is_true(json_object_get(split, "invert")))
        return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED,
                              "%s: pre_tokenizer Split must use the CLIP regex with behavior Removed and invert true", what);
    /* ByteLevel's own GPT-2 regex (use_regex) cannot split a CLIP piece further:
     * every CLIP piece is one letter run, one number, one run of other
     * characters or a contraction, and the added tokens never reach it. */
    const char *bt = json_string_value(json_object_get(bl, "type"));
    if (!bt || strcmp(bt, "ByteLevel") != 0 || json_is_true(json_object_get(bl, "add_prefix_space")))
        return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED, "%s: pre_tokenizer ByteLevel must have add_prefix_space false", what);
    return CDX_OK;
}

static int special_id(const cdx_bpe *b, json_t *pair_or_name, json_t *special_tokens, int32_t *id)
{
    /* RobertaProcessing: ["<|endoftext|>", 49407]; TemplateProcessing: the name, resolved through special_tokens. */
    if (json_is_array(pair_or_name) && json_array_size(pair_or_name) == 2 &&
        json_is_integer(json_array_get(pair_or_name, 1))) {
        json_int_t v = json_integer_value(json_array_get(pair_or_name, 1));
        if (v < 0 || v >= MAX_VOCAB)
            return 0;
        *id = (int32_t)v;
        return 1;
    }
    if (json_is_string(pair_or_name)) {
        json_t *ids = json_object_get(json_object_get(special_tokens, json_string_value(pair_or_name)), "ids");
        if (json_is_array(ids) && json_array_size(ids) == 1 && json_is_integer(json_array_get(ids, 0))) {
            json_int_t v = json_integer_value(json_array_get(ids, 0));
            if (v < 0 || v >= MAX_VOCAB)
                return 0;
            *id = (int32_t)v;
            return 1;
        }
        return vocab_id(b, json_string_value(pair_or_name), json_string_length(pair_or_name), id);
    }
    return 0;
}

static int parse_post_processor(cdx_bpe *b, json_t *p, const char *what, cdx_errbuf *eb)
{
    const char *type = json_string_value(json_object_get(p, "type"));
    if (type && (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0)) {
        if (special_id(b, json_object_get(p, "cls"), NULL, &b->bos_id) &&
            special_id(b, json_object_get(p, "sep"), NULL, &b->eos_id))
            return CDX_OK;
    } else if (type && strcmp(type, "TemplateProcessing") == 0) {
        json_t *single = json_object_get(p, "single"), *sp = json_object_get(p, "special_tokens");
        if (json_is_array(single) && json_array_size(single) == 3 &&
            json_object_get(json_array_get(single, 1), "Sequence") &&
            special_id(b, json_object_get(json_object_get(json_array_get(single, 0), "SpecialToken"), "id"), sp,
                       &b->bos_id) &&
            special_id(b, json_object_get(json_object_get(json_array_get(single, 2), "SpecialToken"), "id"), sp,
                       &b->eos_id))
            return CDX_OK;
    }
    return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED,
                          "%s: post_processor must add one start and one end token (RobertaProcessing, or "
                          "TemplateProcessing \"<bos> $A <eos>\")",
                          what);
}

int cdx_bpe_from_json(const char *data, size_t len, const char *what, cdx_bpe **out, cdx_errbuf *eb)
{
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: not valid JSON: line %d: %s", what, jerr.line, jerr.text);
    int rc = CDX_OK;
    cdx_bpe *b = bpe_new();
    if (!b) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    json_t *model = json_object_get(root, "model");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(model) || !mtype || strcmp(mtype, "BPE") != 0) {
        rc = cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED, "%s: model.type is \"%s\", the CLIP tokenizer needs \"BPE\"", what,
                            mtype ? mtype : "(missing)");
        goto done;
    }
    json_t *dropout = json_object_get(model, "dropout");
    if ((dropout && !json_is_null(dropout) && json_number_value(dropout) != 0.0) ||
        json_is_true(json_object_get(model, "byte_fallback")) || json_is_true(json_object_get(model, "ignore_merges"))) {
        rc = cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED, "%s: BPE dropout, byte_fallback and ignore_merges are not supported", what);
        goto done;
    }
    const char *csp = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    if (csp && *csp) {
        rc = cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED, "%s: continuing_subword_prefix is not supported", what);
        goto done;
    }
    if ((rc = load_vocab_object(b, json_object_get(model, "vocab"), what, eb)) != CDX_OK)
        goto done;
    if ((rc = load_merges_array(b, json_object_get(model, "merges"), what, eb)) != CDX_OK)
        goto done;
    json_t *eowj = json_object_get(model, "end_of_word_suffix");
    const char *eow = json_string_value(eowj);
    if ((rc = finish_bytes(b, eow ? eow : "", eow ? json_string_length(eowj) : 0, what, eb)) != CDX_OK)
        goto done;
    json_t *unk = json_object_get(model, "unk_token");
    if (json_is_string(unk) && !vocab_id(b, json_string_value(unk), json_string_length(unk), &b->unk_id)) {
        rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: unk_token \"%.40s\" is not in the vocabulary", what,
                            json_string_value(unk));
        goto done;
    }
    b->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
    if ((rc = parse_added_tokens(b, json_object_get(root, "added_tokens"), what, eb)) != CDX_OK)
        goto done;
    if ((rc = parse_normalizer(b, json_object_get(root, "normalizer"), what, eb)) != CDX_OK)
        goto done;
    if ((rc = parse_pre_tokenizer(json_object_get(root, "pre_tokenizer"), what, eb)) != CDX_OK)
        goto done;
    if ((rc = parse_post_processor(b, json_object_get(root, "post_processor"), what, eb)) != CDX_OK)
        goto done;
    json_t *pad = json_object_get(json_object_get(root, "padding"), "pad_id");
    if (json_is_integer(pad) && json_integer_value(pad) >= 0 && json_integer_value(pad) < MAX_VOCAB)
        b->pad_id = (int32_t)json_integer_value(pad);
    json_t *trunc = json_object_get(json_object_get(root, "truncation"), "max_length");
    if (json_is_integer(trunc) && json_integer_value(trunc) > 0 && json_integer_value(trunc) < (1 << 20))
        b->model_max_length = (int32_t)json_integer_value(trunc);
    *out = b;
    b = NULL;
done:
    cdx_bpe_free(b);
    json_decref(root);
    return rc;
}

/* vocab.json + merges.txt: the pipeline CLIPTokenizerFast builds from them. */
int cdx_bpe_from_vocab_merges(const char *vocab_json, size_t vocab_len, const char *merges, size_t merges_len,
                              const char *what, cdx_bpe **out, cdx_errbuf *eb)
{
    *out = NULL;
    json_error_t jerr;
    json_t *vocab = json_loadb(vocab_json, vocab_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!vocab)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: vocab.json is not valid JSON: line %d: %s", what, jerr.line,
                              jerr.text);
    int rc = CDX_OK;
    cdx_bpe *b = bpe_new();
    if (!b) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    if ((rc = load_vocab_object(b, vocab, what, eb)) != CDX_OK)
        goto done;
    b->merges = cdx_pairmap_new(merges_len / 8 + 16);
    if (!b->merges) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    const char *p = merges, *end = merges + merges_len;
    int32_t rank = 0;
    for (int line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t n = (size_t)(le - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (n && !(line == 1 && n >= 8 && memcmp(p, "#version", 8) == 0)) {
            const char *sp = memchr(p, ' ', n);
            if (!sp || sp == p || sp + 1 == p + n || memchr(sp + 1, ' ', (size_t)(p + n - sp - 1))) {
                rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: merges.txt line %d is not two tokens separated by a space",
                                    what, line);
                goto done;
            }
            if (rank >= MAX_VOCAB) {
                rc = cdx_errbuf_set(eb, CDX_ERR_TOOBIG, "%s: more than %d merges", what, MAX_VOCAB);
                goto done;
            }
            if ((rc = add_merge(b, p, (size_t)(sp - p), sp + 1, (size_t)(p + n - sp - 1), rank++, what, eb)) != CDX_OK)
                goto done;
        }
        p = nl ? nl + 1 : end;
    }
    if ((rc = finish_bytes(b, "</w>", 4, what, eb)) != CDX_OK)
        goto done;
    static const enum norm_step clip_steps[] = {NORM_NFC, NORM_REPLACE_WS, NORM_LOWER};
    for (size_t i = 0; i < CDX_ARRAY_LEN(clip_steps); i++) {
        b->steps[b->n_steps] = clip_steps[i];
        strcpy(b->replace_content[b->n_steps], " ");
        b->n_steps++;
    }
    b->lowercase = 1;
    static const char *const specials[] = {"<|startoftext|>", "<|endoftext|>"};
    int32_t ids[2];
    for (int i = 0; i < 2; i++) {
        if (!vocab_id(b, specials[i], strlen(specials[i]), &ids[i])) {
            rc = cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: vocab.json has no %s", what, specials[i]);
            goto done;
        }
    }
    b->added = calloc(2, sizeof *b->added);
    if (!b->added) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    for (int i = 0; i < 2; i++) {
        b->added[i].content = strdup(specials[i]);
        if (!b->added[i].content) {
            rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
            goto done;
        }
        b->added[i].len = strlen(specials[i]);
        b->added[i].id = ids[i];
        b->added[i].special = 1;
        b->added[i].normalized = 1;
        b->n_added++;
    }
    b->bos_id = ids[0];
    b->eos_id = b->unk_id = b->pad_id = ids[1];
    *out = b;
    b = NULL;
done:
    cdx_bpe_free(b);
    json_decref(vocab);
    return rc;
}

/* ---- normalization --------------------------------------------------------- */
typedef struct bpe_scratch {
    cdx_u32buf a, b;     /* code point ping-pong buffers */
    cdx_bytebuf norm;    /* a normalized section as UTF-8 */
    int32_t *sym_id;     /* BPE symbols of one word */
    int32_t *sym_prev, *sym_next;
    uint64_t *heap;      /* (rank << 32 | pos) */
    int32_t *heap_new;
    size_t sym_cap, heap_cap;
} bpe_scratch;

static void scratch_free(bpe_scratch *s)
{
    cdx_u32buf_free(&s->a);
    cdx_u32buf_free(&s->b);
    cdx_bytebuf_free(&s->norm);
    free(s->sym_id);
    free(s->sym_prev);
    free(s->sym_next);
    free(s->heap);
    free(s->heap_new);
}

static int is_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

static int ascii_ws(unsigned char c) { return c == ' ' || (c >= 0x09 && c <= 0x0D); }

/* Applies the steps to an all-ASCII text in place; NFC leaves ASCII alone. */
static size_t normalize_ascii(const cdx_bpe *b, char *s, size_t n)
{
    for (int k = 0; k < b->n_steps; k++) {
        switch (b->steps[k]) {
        case NORM_NFC:
            break;
        case NORM_LOWER:
            for (size_t i = 0; i < n; i++)
                if (s[i] >= 'A' && s[i] <= 'Z')
                    s[i] = (char)(s[i] + 32);
            break;
        case NORM_REPLACE_WS: {
            const char *rep = b->replace_content[k];
            size_t rlen = strlen(rep), w = 0;
            CDX_ASSERT(rlen <= 1); /* the ASCII path is only taken for a one-byte replacement */
            for (size_t i = 0; i < n;) {
                if (ascii_ws((unsigned char)s[i])) {
                    while (i < n && ascii_ws((unsigned char)s[i]))
                        i++;
                    if (rlen)
                        s[w++] = rep[0];
                } else {
                    s[w++] = s[i++];
                }
            }
            n = w;
            break;
        }
        case NORM_STRIP: {
            size_t lo = 0, hi = n;
            if (b->strip_left[k])
                while (lo < hi && ascii_ws((unsigned char)s[lo]))
                    lo++;
            if (b->strip_right[k])
                while (hi > lo && ascii_ws((unsigned char)s[hi - 1]))
                    hi--;
            memmove(s, s + lo, hi - lo);
            n = hi - lo;
            break;
        }
        }
    }
    return n;
}

static int ascii_path_ok(const cdx_bpe *b)
{
    for (int k = 0; k < b->n_steps; k++) {
        if (b->steps[k] == NORM_REPLACE_WS &&
            (strlen(b->replace_content[k]) > 1 || (unsigned char)b->replace_content[k][0] >= 0x80))
            return 0;
    }
    return 1;
}

/* Normalizes s[0..n) (valid UTF-8) into sc->norm. */
static int normalize(const cdx_bpe *b, const char *s, size_t n, bpe_scratch *sc)
{
    sc->norm.n = 0;
    if (is_ascii(s, n) && ascii_path_ok(b)) {
        if (cdx_bytebuf_append(&sc->norm, s, n) != CDX_OK)
            return CDX_ERR_NOMEM;
        sc->norm.n = normalize_ascii(b, sc->norm.v, n);
        return CDX_OK;
    }
    sc->a.n = 0;
    size_t bad;
    int rc = cdx_utf8_decode(s, n, &sc->a, &bad);
    if (rc != CDX_OK)
        return rc;
    cdx_u32buf *cur = &sc->a, *nxt = &sc->b;
    for (int k = 0; k < b->n_steps; k++) {
        nxt->n = 0;
        switch (b->steps[k]) {
        case NORM_NFC:
            rc = cdx_uc_nfc(cur->v, cur->n, nxt);
            break;
        case NORM_LOWER:
            rc = cdx_uc_lower(cur->v, cur->n, nxt);
            break;
        case NORM_REPLACE_WS: {
            cdx_u32buf rep = {0};
            rc = cdx_utf8_decode(b->replace_content[k], strlen(b->replace_content[k]), &rep, &bad);
            for (size_t i = 0; rc == CDX_OK && i < cur->n;) {
                if (cdx_uc_has(cur->v[i], CDX_UC_F_WS)) {
                    while (i < cur->n && cdx_uc_has(cur->v[i], CDX_UC_F_WS))
                        i++;
                    rc = cdx_u32buf_grow(nxt, rep.n);
                    if (rc == CDX_OK) {
                        if (rep.n)
                            memcpy(nxt->v + nxt->n, rep.v, rep.n * sizeof *rep.v);
                        nxt->n += rep.n;
                    }
                } else {
                    rc = cdx_u32buf_grow(nxt, 1);
                    if (rc == CDX_OK)
                        nxt->v[nxt->n++] = cur->v[i++];
                }
            }
            cdx_u32buf_free(&rep);
            break;
        }
        case NORM_STRIP: {
            size_t lo = 0, hi = cur->n;
            if (b->strip_left[k])
                while (lo < hi && cdx_uc_has(cur->v[lo], CDX_UC_F_WS))
                    lo++;
            if (b->strip_right[k])
                while (hi > lo && cdx_uc_has(cur->v[hi - 1], CDX_UC_F_WS))
                    hi--;
            rc = cdx_u32buf_grow(nxt, hi - lo);
            if (rc == CDX_OK && hi > lo) {
                memcpy(nxt->v, cur->v + lo, (hi - lo) * sizeof *cur->v);
                nxt->n = hi - lo;
            }
            break;
        }
        }
        if (rc != CDX_OK)
            return rc;
        cdx_u32buf *t = cur;
        cur = nxt;
        nxt = t;
    }
    if (cdx_bytebuf_grow(&sc->norm, cur->n * 4) != CDX_OK)
        return CDX_ERR_NOMEM;
    for (size_t i = 0; i < cur->n; i++)
        sc->norm.n += cdx_utf8_put(cur->v[i], sc->norm.v + sc->norm.n);
    return CDX_OK;
}

/* ---- BPE on one word ------------------------------------------------------- */
static int scratch_reserve(bpe_scratch *sc, size_t n)
{
    if (n <= sc->sym_cap)
        return CDX_OK;
    size_t cap = sc->sym_cap ? sc->sym_cap : 64;
    while (cap < n)
        cap *= 2;
    int32_t *id = realloc(sc->sym_id, cap * sizeof *id);
    if (id)
        sc->sym_id = id;
    int32_t *pv = realloc(sc->sym_prev, cap * sizeof *pv);
    if (pv)
        sc->sym_prev = pv;
    int32_t *nx = realloc(sc->sym_next, cap * sizeof *nx);
    if (nx)
        sc->sym_next = nx;
    /* Each merge pushes at most two entries: n + 2n bounds the heap. */
    uint64_t *hp = realloc(sc->heap, 3 * cap * sizeof *hp);
    if (hp)
        sc->heap = hp;
    int32_t *hn = realloc(sc->heap_new, 3 * cap * sizeof *hn);
    if (hn)
        sc->heap_new = hn;
    if (!id || !pv || !nx || !hp || !hn)
        return CDX_ERR_NOMEM;
    sc->sym_cap = cap;
    return CDX_OK;
}

static void heap_push(bpe_scratch *sc, size_t *hn, uint64_t key, int32_t new_id)
{
    size_t i = (*hn)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (sc->heap[parent] <= key)
            break;
        sc->heap[i] = sc->heap[parent];
        sc->heap_new[i] = sc->heap_new[parent];
        i = parent;
    }
    sc->heap[i] = key;
    sc->heap_new[i] = new_id;
}

static void heap_pop(bpe_scratch *sc, size_t *hn, uint64_t *key, int32_t *new_id)
{
    *key = sc->heap[0];
    *new_id = sc->heap_new[0];
    size_t n = --(*hn);
    uint64_t last = sc->heap[n];
    int32_t last_new = sc->heap_new[n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && sc->heap[c + 1] < sc->heap[c])
            c++;
        if (sc->heap[c] >= last)
            break;
        sc->heap[i] = sc->heap[c];
        sc->heap_new[i] = sc->heap_new[c];
        i = c;
    }
    sc->heap[i] = last;
    sc->heap_new[i] = last_new;
}

static void push_pair(const cdx_bpe *b, bpe_scratch *sc, size_t *hn, int32_t pos)
{
    int32_t next = sc->sym_next[pos];
    if (next < 0)
        return;
    int32_t rank, new_id;
    uint64_t key = ((uint64_t)(uint32_t)sc->sym_id[pos] << 32) | (uint32_t)sc->sym_id[next];
    if (cdx_pairmap_get(b->merges, key, &rank, &new_id))
        heap_push(sc, hn, ((uint64_t)(uint32_t)rank << 32) | (uint32_t)pos, new_id);
}

/* BPE of one pre-token (its UTF-8 bytes). */
static int bpe_word(const cdx_bpe *b, const unsigned char *w, size_t n, bpe_scratch *sc, cdx_idbuf *ids)
{
    if (scratch_reserve(sc, n) != CDX_OK)
        return CDX_ERR_NOMEM;
    int32_t ns = 0;
    int prev_unk = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = i + 1 == n ? b->byte_eow_id[w[i]] : b->byte_id[w[i]];
        if (id < 0) {
            if (b->unk_id < 0)
                continue; /* no unk token: Rust would fail; tokenizers.js drops it */
            if (b->fuse_unk && prev_unk)
                continue;
            id = b->unk_id;
            prev_unk = 1;
        } else {
            prev_unk = 0;
        }
        sc->sym_id[ns] = id;
        sc->sym_prev[ns] = ns - 1;
        sc->sym_next[ns] = -1;
        if (ns > 0)
            sc->sym_next[ns - 1] = ns;
        ns++;
    }
    size_t hn = 0;
    for (int32_t i = 0; i + 1 < ns; i++)
        push_pair(b, sc, &hn, i);
    while (hn > 0) {
        uint64_t key;
        int32_t new_id;
        heap_pop(sc, &hn, &key, &new_id);
        int32_t pos = (int32_t)(uint32_t)key;
        int32_t next = sc->sym_next[pos];
        if (sc->sym_id[pos] < 0 || next < 0)
            continue;
        int32_t rank, cur_new;
        uint64_t pk = ((uint64_t)(uint32_t)sc->sym_id[pos] << 32) | (uint32_t)sc->sym_id[next];
        if (!cdx_pairmap_get(b->merges, pk, &rank, &cur_new) || cur_new != new_id)
            continue; /* a stale entry: one side was merged since */
        sc->sym_id[pos] = new_id;
        sc->sym_id[next] = -1;
        sc->sym_next[pos] = sc->sym_next[next];
        if (sc->sym_next[pos] >= 0)
            sc->sym_prev[sc->sym_next[pos]] = pos;
        if (sc->sym_prev[pos] >= 0)
            push_pair(b, sc, &hn, sc->sym_prev[pos]);
        push_pair(b, sc, &hn, pos);
    }
    for (int32_t i = ns > 0 ? 0 : -1; i >= 0; i = sc->sym_next[i])
        if (cdx_idbuf_push(ids, sc->sym_id[i]) != CDX_OK)
            return CDX_ERR_NOMEM;
    return CDX_OK;
}

/* ---- pre-tokenizer: the CLIP regex, by hand ---------------------------------
 * <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * Alternatives are tried in order at each position (a backtracking regex);
 * text no alternative matches (whitespace) is dropped. */
static uint32_t decode_at(const unsigned char *s, size_t n, size_t i, size_t *len)
{
    unsigned char c = s[i];
    if (c < 0x80) {
        *len = 1;
        return c;
    }
    size_t l = cdx_utf8_len_of_lead(c);
    CDX_ASSERT(i + l <= n); /* the text was validated */
    uint32_t cp = c & (l == 2 ? 0x1F : l == 3 ? 0x0F : 0x07);
    for (size_t k = 1; k < l; k++)
        cp = (cp << 6) | (s[i + k] & 0x3F);
    *len = l;
    return cp;
}

static unsigned char_class(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return CDX_UC_F_L;
        if (cp >= '0' && cp <= '9')
            return CDX_UC_F_N;
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D))
            return CDX_UC_F_WS;
        return 0;
    }
    return cdx_uc_get(cp)->flags & (CDX_UC_F_L | CDX_UC_F_N | CDX_UC_F_WS);
}

static int pretokenize_and_encode(const cdx_bpe *b, const unsigned char *s, size_t n, size_t max_ids,
                                  bpe_scratch *sc, cdx_idbuf *ids)
{
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    static const char *const literals[] = {"<|startoftext|>", "<|endoftext|>"};
    size_t i = 0;
    while (i < n && ids->n <= max_ids) {
        size_t start = i, len;
        int matched = 0;
        if (s[i] == '<') {
            for (size_t k = 0; k < 2 && !matched; k++) {
                size_t ln = strlen(literals[k]);
                if (n - i >= ln && memcmp(s + i, literals[k], ln) == 0)
                    i += ln, matched = 1;
            }
        } else if (s[i] == '\'') {
            for (size_t k = 0; k < CDX_ARRAY_LEN(contractions) && !matched; k++) {
                size_t ln = strlen(contractions[k]);
                if (n - i >= ln && memcmp(s + i, contractions[k], ln) == 0)
                    i += ln, matched = 1;
            }
        }
        if (!matched) {
            uint32_t cp = decode_at(s, n, i, &len);
            unsigned cls = char_class(cp);
            if (cls & CDX_UC_F_L) {
                i += len;
                while (i < n && (char_class(decode_at(s, n, i, &len)) & CDX_UC_F_L))
                    i += len;
            } else if (cls & CDX_UC_F_N) {
                i += len;
            } else if (!(cls & CDX_UC_F_WS)) {
                i += len;
                while (i < n && !(char_class(decode_at(s, n, i, &len)) & (CDX_UC_F_L | CDX_UC_F_N | CDX_UC_F_WS)))
                    i += len;
            } else {
                i += len; /* whitespace: removed */
                continue;
            }
        }
        int rc = bpe_word(b, s + start, i - start, sc, ids);
        if (rc != CDX_OK)
            return rc;
    }
    return CDX_OK;
}

/* ---- encode ---------------------------------------------------------------- */
typedef int (*section_fn)(const cdx_bpe *b, const char *s, size_t n, size_t max_ids, bpe_scratch *sc,
                          cdx_idbuf *ids);

/* Splits s on the added tokens whose `normalized` flag matches, hands the
 * text between them to fn and emits the tokens' own ids; a token with
 * lstrip/rstrip eats the whitespace beside it. */
static int split_added(const cdx_bpe *b, int normalized, const char *s, size_t n, size_t max_ids, bpe_scratch *sc,
                       cdx_idbuf *ids, section_fn fn)
{
    size_t pos = 0;
    while (pos < n && ids->n <= max_ids) {
        size_t at;
        int t = cdx_added_find(b->added, b->n_added, normalized, s, n, pos, &at);
        size_t hi = t >= 0 ? at : n;
        if (t >= 0 && b->added[t].lstrip)
            hi = cdx_utf8_rstrip_ws(s, pos, hi);
        if (hi > pos) {
            int rc = fn(b, s + pos, hi - pos, max_ids, sc, ids);
            if (rc != CDX_OK)
                return rc;
        }
        if (t < 0)
            break;
        if (cdx_idbuf_push(ids, b->added[t].id) != CDX_OK)
            return CDX_ERR_NOMEM;
        pos = at + b->added[t].len;
        if (b->added[t].rstrip)
            pos = cdx_utf8_lstrip_ws(s, pos, n);
    }
    return CDX_OK;
}

static int pretokenize_section(const cdx_bpe *b, const char *s, size_t n, size_t max_ids, bpe_scratch *sc,
                               cdx_idbuf *ids)
{
    return pretokenize_and_encode(b, (const unsigned char *)s, n, max_ids, sc, ids);
}

/* A raw section: normalize it, then split out the normalized added tokens. */
static int normalize_section(const cdx_bpe *b, const char *s, size_t n, size_t max_ids, bpe_scratch *sc,
                             cdx_idbuf *ids)
{
    int rc = normalize(b, s, n, sc);
    if (rc != CDX_OK)
        return rc;
    return split_added(b, 1, sc->norm.v, sc->norm.n, max_ids, sc, ids, pretokenize_section);
}

int cdx_bpe_encode(const cdx_bpe *b, const char *text, size_t len, size_t max_ids, cdx_idbuf *ids, cdx_errbuf *eb)
{
    bpe_scratch sc = {0};
    int rc = split_added(b, 0, text, len, max_ids, &sc, ids, normalize_section);
    scratch_free(&sc);
    return rc == CDX_OK ? CDX_OK : cdx_tok_encode_error(eb, rc);
}
