/* The tokenizer front end: opens the model's files (from a contract, a model
 * folder or memory), checks the contract's special ids against them, and
 * turns a back end's content ids into what the text tower takes: special
 * tokens, truncation to the context length keeping the end token, padding
 * and the attention mask.
 *
 * Truncation follows each family's reference exactly:
 *   CLIP (Rust tokenizers): content cut to context_length - 2, then
 *        <|startoftext|> content <|endoftext|>.
 *   SigLIP (transformers' slow tokenizer): content cut to context_length - 1,
 *        then `</s>` appended unless the content already ends with it. */
#include "encoder/tokenizer.h"

#include "common/util.h"
#include "encoder/tok_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TOKENIZER_FILE_MAX (64u << 20) /* tokenizer.json of large vocabularies is ~10 MiB */

struct cdx_tokenizer {
    cdx_tokenizer_info info;
    cdx_bpe *bpe;
    cdx_unigram *unigram;
    size_t max_text_bytes;
};

cdx_tokenizer_params cdx_tokenizer_default_params(void)
{
    cdx_tokenizer_params p;
    memset(&p, 0, sizeof p);
    p.context_length = 0;
    p.max_text_bytes = 1u << 20;
    return p;
}

void cdx_tokenizer_close(cdx_tokenizer *t)
{
    if (!t)
        return;
    cdx_bpe_free(t->bpe);
    cdx_unigram_free(t->unigram);
    free(t);
}

const cdx_tokenizer_info *cdx_tokenizer_get_info(const cdx_tokenizer *t) { return &t->info; }

static int load_file(enum cdx_tokenizer_kind kind, const char *path, const char *vocab_path,
                     const char *merges_path, cdx_tokenizer *t, cdx_errbuf *eb)
{
    char *a = NULL, *m = NULL;
    size_t alen = 0, mlen = 0;
    int rc;
    if (kind == CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM) {
        if ((rc = cdx_tok_read_file(path, TOKENIZER_FILE_MAX, &a, &alen, eb)) == CDX_OK)
            rc = cdx_unigram_from_spiece(a, alen, path, &t->unigram, eb);
    } else if (path) {
        if ((rc = cdx_tok_read_file(path, TOKENIZER_FILE_MAX, &a, &alen, eb)) == CDX_OK)
            rc = cdx_bpe_from_json(a, alen, path, &t->bpe, eb);
    } else {
        if ((rc = cdx_tok_read_file(vocab_path, TOKENIZER_FILE_MAX, &a, &alen, eb)) == CDX_OK &&
            (rc = cdx_tok_read_file(merges_path, TOKENIZER_FILE_MAX, &m, &mlen, eb)) == CDX_OK)
            rc = cdx_bpe_from_vocab_merges(a, alen, m, mlen, vocab_path, &t->bpe, eb);
    }
    free(a);
    free(m);
    return rc;
}

static void model_info(const cdx_tokenizer *t, cdx_tok_model_info *mi)
{
    memset(mi, 0, sizeof *mi);
    if (t->bpe)
        cdx_bpe_describe(t->bpe, mi);
    else
        cdx_unigram_describe(t->unigram, mi);
}

static cdx_tokenizer *tokenizer_new(enum cdx_tokenizer_kind kind, const cdx_tokenizer_params *params)
{
    cdx_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    cdx_tokenizer_params p = params ? *params : cdx_tokenizer_default_params();
    t->max_text_bytes = p.max_text_bytes ? p.max_text_bytes : cdx_tokenizer_default_params().max_text_bytes;
    t->info.kind = kind;
    t->info.context_length = p.context_length;
    t->info.padding = CDX_PADDING_MAX_LENGTH;
    t->info.unicode_version = cdx_uc_unicode_version();
    return t;
}

/* Fills info from the files for folder and memory opens. */
static int info_from_model(cdx_tokenizer *t, int32_t config_max_length, const char *what, cdx_errbuf *eb)
{
    cdx_tok_model_info mi;
    model_info(t, &mi);
    cdx_tokenizer_info *in = &t->info;
    int clip = in->kind == CDX_TOKENIZER_CLIP_BPE;
    if (in->context_length <= 0)
        in->context_length = config_max_length > 0 ? config_max_length
                             : mi.model_max_length > 0 ? mi.model_max_length
                             : clip ? 77 : 64;
    in->bos_id = clip ? mi.bos_id : -1;
    in->eos_id = mi.eos_id;
    in->unk_id = mi.unk_id;
    in->pad_id = mi.pad_id >= 0 ? mi.pad_id : mi.eos_id;
    in->vocab_size = mi.vocab_size;
    in->lowercase = mi.lowercase;
    if (in->eos_id < 0 || (clip && in->bos_id < 0))
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: the tokenizer defines no %s token", what,
                              in->eos_id < 0 ? "end" : "start");
    if (in->context_length < 2 || in->context_length > (1 << 16))
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "%s: context length %d is outside 2..65536", what, in->context_length);
    return CDX_OK;
}

int cdx_tokenizer_open_memory(enum cdx_tokenizer_kind kind, const void *data, size_t len,
                              const cdx_tokenizer_params *params, cdx_tokenizer **out, cdx_errbuf *eb)
{
    *out = NULL;
    cdx_tokenizer *t = tokenizer_new(kind, params);
    if (!t)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "tokenizer: out of memory");
    int rc = kind == CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM
                 ? cdx_unigram_from_spiece(data, len, "(memory)", &t->unigram, eb)
                 : cdx_bpe_from_json(data, len, "(memory)", &t->bpe, eb);
    if (rc == CDX_OK)
        rc = info_from_model(t, 0, "(memory)", eb);
    if (rc != CDX_OK) {
        cdx_tokenizer_close(t);
        return rc;
    }
    *out = t;
    return CDX_OK;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* tokenizer_config.json's model_max_length when it is a sane number (Hugging
 * Face writes 1e30 for "no limit"), else 0. */
static int32_t config_max_length(const char *dir)
{
    char path[CDX_CONTRACT_PATH_MAX];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *root = json_load_file(path, 0, NULL);
    json_t *v = json_object_get(root, "model_max_length");
    int32_t n = 0;
    if (json_is_integer(v) && json_integer_value(v) > 1 && json_integer_value(v) <= (1 << 16))
        n = (int32_t)json_integer_value(v);
    json_decref(root);
    return n;
}

int cdx_tokenizer_open_dir(const char *dir, const cdx_tokenizer_params *params, cdx_tokenizer **out,
                           cdx_errbuf *eb)
{
    *out = NULL;
    char sp[CDX_CONTRACT_PATH_MAX], tj[CDX_CONTRACT_PATH_MAX], vj[CDX_CONTRACT_PATH_MAX], mt[CDX_CONTRACT_PATH_MAX];
    snprintf(sp, sizeof sp, "%s/spiece.model", dir);
    snprintf(tj, sizeof tj, "%s/tokenizer.json", dir);
    snprintf(vj, sizeof vj, "%s/vocab.json", dir);
    snprintf(mt, sizeof mt, "%s/merges.txt", dir);
    enum cdx_tokenizer_kind kind;
    const char *path = NULL;
    if (file_exists(sp)) {
        kind = CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM;
        path = sp;
    } else if (file_exists(tj)) {
        kind = CDX_TOKENIZER_CLIP_BPE;
        path = tj;
    } else if (file_exists(vj) && file_exists(mt)) {
        kind = CDX_TOKENIZER_CLIP_BPE;
    } else {
        return cdx_errbuf_set(eb, CDX_ERR_NOTFOUND,
                              "%s: no tokenizer files (expected spiece.model, tokenizer.json, or vocab.json + merges.txt)",
                              dir);
    }
    cdx_tokenizer *t = tokenizer_new(kind, params);
    if (!t)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "tokenizer: out of memory");
    int rc = load_file(kind, path, vj, mt, t, eb);
    if (rc == CDX_OK)
        rc = info_from_model(t, config_max_length(dir), dir, eb);
    if (rc != CDX_OK) {
        cdx_tokenizer_close(t);
        return rc;
    }
    *out = t;
    return CDX_OK;
}

static const char *artifact(const cdx_contract_spec *spec, const char *role)
{
    for (int32_t i = 0; i < spec->n_artifacts && i < CDX_CONTRACT_MAX_ARTIFACTS; i++)
        if (strcmp(spec->artifacts[i].role, role) == 0)
            return spec->artifacts[i].path;
    return NULL;
}

/* One contract value against the files' value; -1 in the files means "not stated there". */
static int check_id(const char *field, int64_t contract, int64_t files, const char *file, const char *cfile,
                    cdx_errbuf *eb)
{
    if (files < 0 || contract == files)
        return CDX_OK;
    return cdx_errbuf_set(eb, CDX_ERR_MISMATCH, "%s: text.%s is %lld but %s says %lld; fix the contract or the files",
                          cfile, field, (long long)contract, file, (long long)files);
}

int cdx_tokenizer_open(const cdx_contract_spec *spec, const cdx_tokenizer_params *params, cdx_tokenizer **out,
                       cdx_errbuf *eb)
{
    *out = NULL;
    enum cdx_tokenizer_kind kind = spec->text.tokenizer;
    const char *path = NULL, *vocab = NULL, *merges = NULL;
    if (kind == CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM) {
        if (!(path = artifact(spec, "spiece")))
            return cdx_errbuf_set(eb, CDX_ERR_CONTRACT,
                                  "%s: text.tokenizer is sentencepiece_unigram but no artifact has role \"spiece\"",
                                  spec->file);
    } else if (kind == CDX_TOKENIZER_CLIP_BPE) {
        path = artifact(spec, "tokenizer");
        vocab = artifact(spec, "vocab");
        merges = artifact(spec, "merges");
        if (!path && !(vocab && merges))
            return cdx_errbuf_set(eb, CDX_ERR_CONTRACT,
                                  "%s: text.tokenizer is clip_bpe but no artifact has role \"tokenizer\" (or \"vocab\" and \"merges\")",
                                  spec->file);
    } else {
        return cdx_errbuf_set(eb, CDX_ERR_CONTRACT, "%s: unknown text.tokenizer kind %d", spec->file, (int)kind);
    }
    cdx_tokenizer_params p = params ? *params : cdx_tokenizer_default_params();
    p.context_length = spec->text.context_length;
    cdx_tokenizer *t = tokenizer_new(kind, &p);
    if (!t)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "tokenizer: out of memory");
    const char *what = path ? path : vocab;
    int rc = load_file(kind, path, vocab, merges, t, eb);
    if (rc != CDX_OK)
        goto done;
    cdx_tok_model_info mi;
    model_info(t, &mi);
    int clip = kind == CDX_TOKENIZER_CLIP_BPE;
    if ((rc = check_id("bos_id", spec->text.bos_id, clip ? mi.bos_id : -1, what, spec->file, eb)) != CDX_OK ||
        (rc = check_id("eos_id", spec->text.eos_id, mi.eos_id, what, spec->file, eb)) != CDX_OK ||
        (rc = check_id("unk_id", spec->text.unk_id, mi.unk_id, what, spec->file, eb)) != CDX_OK ||
        (rc = check_id("pad_id", spec->text.pad_id, mi.pad_id, what, spec->file, eb)) != CDX_OK ||
        (rc = check_id("lowercase", spec->text.lowercase, mi.lowercase, what, spec->file, eb)) != CDX_OK)
        goto done;
    if (!clip && spec->text.bos_id != -1) {
        rc = cdx_errbuf_set(eb, CDX_ERR_MISMATCH, "%s: text.bos_id is %lld but a SentencePiece SigLIP tokenizer has no start token (null)",
                            spec->file, (long long)spec->text.bos_id);
        goto done;
    }
    cdx_tokenizer_info *in = &t->info;
    in->bos_id = spec->text.bos_id;
    in->eos_id = spec->text.eos_id;
    in->pad_id = spec->text.pad_id;
    in->unk_id = spec->text.unk_id;
    in->vocab_size = mi.vocab_size;
    in->lowercase = mi.lowercase;
    in->padding = spec->text.padding;
    in->n_seq_buckets = CDX_MIN(spec->n_seq_buckets, CDX_CONTRACT_MAX_BUCKETS);
    memcpy(in->seq_buckets, spec->seq_buckets, sizeof in->seq_buckets);
    if (in->context_length < 2 || in->context_length > (1 << 16)) {
        rc = cdx_errbuf_set(eb, CDX_ERR_CONTRACT, "%s: text.context_length %d is outside 2..65536", spec->file,
                            in->context_length);
        goto done;
    }
    int64_t ids[4] = {in->bos_id, in->eos_id, in->pad_id, in->unk_id};
    static const char *const names[4] = {"bos_id", "eos_id", "pad_id", "unk_id"};
    for (int i = 0; i < 4; i++) {
        if (ids[i] >= mi.vocab_size || (ids[i] < 0 && !(i == 0 && !clip))) {
            rc = cdx_errbuf_set(eb, CDX_ERR_MISMATCH, "%s: text.%s %lld is not an id of %s (vocabulary of %d)",
                                spec->file, names[i], (long long)ids[i], what, mi.vocab_size);
            goto done;
        }
    }
done:
    if (rc != CDX_OK) {
        cdx_tokenizer_close(t);
        return rc;
    }
    *out = t;
    return CDX_OK;
}

int cdx_tokenizer_encode(const cdx_tokenizer *t, const char *text, size_t len, int32_t pad_to, int64_t *ids,
                         int64_t *mask, int32_t cap, cdx_token_result *res, cdx_errbuf *eb)
{
    const cdx_tokenizer_info *in = &t->info;
    int32_t L = in->context_length;
    memset(res, 0, sizeof *res);
    if (len > t->max_text_bytes)
        return cdx_errbuf_set(eb, CDX_ERR_TOOBIG, "text of %zu bytes is longer than the %zu allowed (max_text_bytes)",
                              len, t->max_text_bytes);
    if (pad_to < CDX_TOKENIZER_PAD_RULE || pad_to > L)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "pad_to %d is outside -1..%d (the context length)", pad_to, L);
    if (cap < L)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "output capacity %d is smaller than the context length %d", cap, L);
    size_t bad = 0;
    int rc = cdx_utf8_validate(text, len, &bad);
    if (rc != CDX_OK)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "text is not valid UTF-8 (byte offset %zu, byte 0x%02x); decode or clean it first",
                              bad, (unsigned)(unsigned char)text[bad]);

    cdx_idbuf content = {0};
    int clip = in->kind == CDX_TOKENIZER_CLIP_BPE;
    size_t room = (size_t)L - (clip ? 2 : 1); /* content positions beside the special tokens */
    rc = clip ? cdx_bpe_encode(t->bpe, text, len, room, &content, eb)
              : cdx_unigram_encode(t->unigram, text, len, &content, eb);
    if (rc != CDX_OK) {
        cdx_idbuf_free(&content);
        return rc;
    }
    if (content.n > room) {
        content.n = room;
        res->truncated = 1;
    }
    int32_t n = 0;
    if (clip) {
        ids[n++] = in->bos_id;
        for (size_t i = 0; i < content.n; i++)
            ids[n++] = content.v[i];
        ids[n++] = in->eos_id;
    } else {
        for (size_t i = 0; i < content.n; i++)
            ids[n++] = content.v[i];
        if (!(content.n > 0 && content.v[content.n - 1] == in->eos_id))
            ids[n++] = in->eos_id;
    }
    cdx_idbuf_free(&content);

    int32_t target = n;
    if (pad_to == CDX_TOKENIZER_PAD_RULE) {
        target = L;
        if (in->padding == CDX_PADDING_BUCKET) {
            for (int32_t b = 0; b < in->n_seq_buckets; b++) {
                if (in->seq_buckets[b] >= n) {
                    target = CDX_MIN(in->seq_buckets[b], L);
                    break;
                }
            }
        }
    } else if (pad_to > 0) {
        if (pad_to < n)
            return cdx_errbuf_set(eb, CDX_ERR_INVAL, "pad_to %d is shorter than the text's %d tokens", pad_to, n);
        target = pad_to;
    }
    for (int32_t i = 0; i < target; i++) {
        if (i >= n)
            ids[i] = in->pad_id;
        mask[i] = i < n;
    }
    res->n_tokens = n;
    res->length = target;
    return CDX_OK;
}
