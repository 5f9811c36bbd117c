/* Encoder façade (see encoder.h): owns the two towers and the tokenizer of
 * one contract, and normalizes what the towers return. */
#include "encoder/encoder.h"

#include "common/log.h"
#include "common/util.h"
#include "encoder/golden.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cdx_encoder {
    const cdx_contract_spec *spec;
    cdx_tower *towers[2];
    cdx_tokenizer *tokenizer;
    cdx_preprocess *preprocess;
};

cdx_encoder_params cdx_encoder_default_params(void)
{
    return (cdx_encoder_params){
        .vision_providers = NULL,
        .text_providers = NULL,
        .threads = 0,
        .max_fallback = -1,
        .warmup = 1,
        .report_placement = 1,
        .load_vision = 1,
        .load_text = 1,
        .preprocess = cdx_preprocess_default_params(),
    };
}

int cdx_encoder_open(const cdx_contract *contract, const cdx_encoder_params *params, cdx_encoder **out,
                     cdx_errbuf *eb)
{
    *out = NULL;
    cdx_encoder_params p = params ? *params : cdx_encoder_default_params();
    cdx_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "encoder: out of memory");
    e->spec = cdx_contract_get(contract);
    int rc = CDX_OK;
    for (int w = 0; w < 2 && rc == CDX_OK; w++) {
        if (!(w == CDX_TOWER_VISION ? p.load_vision : p.load_text))
            continue;
        cdx_tower_params tp = cdx_tower_default_params();
        tp.providers = w == CDX_TOWER_VISION || !p.text_providers ? p.vision_providers : p.text_providers;
        tp.threads = p.threads;
        tp.max_fallback = p.max_fallback;
        tp.warmup = p.warmup;
        tp.report_placement = p.report_placement;
        rc = cdx_tower_open(e->spec, (enum cdx_tower_kind)w, &tp, &e->towers[w], eb);
    }
    if (rc == CDX_OK && p.load_text)
        rc = cdx_tokenizer_open(e->spec, NULL, &e->tokenizer, eb);
    if (rc == CDX_OK && p.load_vision)
        rc = cdx_preprocess_open(e->spec, &p.preprocess, &e->preprocess, eb);
    if (rc != CDX_OK) {
        cdx_encoder_close(e);
        return rc;
    }
    *out = e;
    return CDX_OK;
}

void cdx_encoder_close(cdx_encoder *e)
{
    if (!e)
        return;
    cdx_tower_close(e->towers[0]);
    cdx_tower_close(e->towers[1]);
    cdx_tokenizer_close(e->tokenizer);
    cdx_preprocess_close(e->preprocess);
    free(e);
}

const cdx_contract_spec *cdx_encoder_spec(const cdx_encoder *e) { return e->spec; }
cdx_tower *cdx_encoder_tower(const cdx_encoder *e, enum cdx_tower_kind which) { return e->towers[which]; }
const cdx_tokenizer *cdx_encoder_tokenizer(const cdx_encoder *e) { return e->tokenizer; }
const cdx_preprocess *cdx_encoder_preprocess(const cdx_encoder *e) { return e->preprocess; }

static int need_tower(const cdx_encoder *e, enum cdx_tower_kind which, cdx_errbuf *eb)
{
    if (e->towers[which])
        return CDX_OK;
    return cdx_errbuf_set(eb, CDX_ERR_INVAL, "encoder: the %s tower was not loaded", cdx_tower_name(which));
}

static void normalize_rows(const cdx_encoder *e, float *out, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        cdx_l2_normalize(out + (size_t)i * (size_t)e->spec->dim, e->spec->dim);
}

int cdx_encoder_embed_pixels(cdx_encoder *e, const float *pixels, int32_t n, float *out, cdx_errbuf *eb)
{
    int rc = need_tower(e, CDX_TOWER_VISION, eb);
    if (rc == CDX_OK)
        rc = cdx_tower_run(e->towers[CDX_TOWER_VISION], &(cdx_tower_input){.pixels = pixels}, n, out, eb);
    if (rc == CDX_OK)
        normalize_rows(e, out, n);
    return rc;
}

int cdx_encoder_embed_ids(cdx_encoder *e, const int64_t *ids, const int64_t *mask, int32_t n, int32_t seq,
                          float *out, cdx_errbuf *eb)
{
    int rc = need_tower(e, CDX_TOWER_TEXT, eb);
    if (rc == CDX_OK)
        rc = cdx_tower_run(e->towers[CDX_TOWER_TEXT], &(cdx_tower_input){.ids = ids, .mask = mask, .seq = seq}, n,
                           out, eb);
    if (rc == CDX_OK)
        normalize_rows(e, out, n);
    return rc;
}

/* Tokenizes texts [off, off+m) padded to one sequence bucket and embeds them. */
static int embed_text_chunk(cdx_encoder *e, const char *const *texts, const size_t *lens, int32_t off, int32_t m,
                            float *out, cdx_errbuf *eb)
{
    const cdx_contract_spec *s = e->spec;
    int32_t ctx = s->text.context_length, longest = 1;
    int64_t *ids = malloc((size_t)m * (size_t)ctx * sizeof *ids), *mask = malloc((size_t)m * (size_t)ctx * sizeof *mask);
    int rc = CDX_OK;
    if (!ids || !mask) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "embed texts: out of memory");
        goto done;
    }
    /* First pass: token counts, to choose the batch's sequence bucket. */
    for (int32_t i = 0; i < m && rc == CDX_OK; i++) {
        cdx_token_result r;
        const char *t = texts[off + i];
        rc = cdx_tokenizer_encode(e->tokenizer, t, lens ? lens[off + i] : strlen(t), CDX_TOKENIZER_PAD_NONE, ids, mask,
                                  ctx, &r, eb);
        if (rc != CDX_OK) {
            char why[CDX_ERRMSG_MAX];
            snprintf(why, sizeof why, "%s", cdx_errbuf_msg(eb));
            cdx_errbuf_set(eb, rc, "text %d: %s", off + i, why);
        }
        longest = r.n_tokens > longest ? r.n_tokens : longest;
    }
    int32_t seq = rc == CDX_OK ? cdx_tower_seq_bucket(e->towers[CDX_TOWER_TEXT], longest) : 0;
    /* Second pass: rows padded to seq, written ctx apart (the tokenizer wants
     * room for a full context), then packed seq apart. Row i moves from
     * i*ctx to i*seq <= i*ctx, so moving in order never overwrites a row
     * not yet moved. */
    for (int32_t i = 0; i < m && rc == CDX_OK; i++) {
        cdx_token_result r;
        const char *t = texts[off + i];
        rc = cdx_tokenizer_encode(e->tokenizer, t, lens ? lens[off + i] : strlen(t), seq, ids + (size_t)i * (size_t)ctx,
                                  mask + (size_t)i * (size_t)ctx, ctx, &r, eb);
    }
    for (int32_t i = 1; i < m && rc == CDX_OK; i++) {
        memmove(ids + (size_t)i * (size_t)seq, ids + (size_t)i * (size_t)ctx, (size_t)seq * sizeof *ids);
        memmove(mask + (size_t)i * (size_t)seq, mask + (size_t)i * (size_t)ctx, (size_t)seq * sizeof *mask);
    }
    if (rc == CDX_OK)
        rc = cdx_encoder_embed_ids(e, ids, mask, m, seq, out + (size_t)off * (size_t)s->dim, eb);
done:
    free(ids);
    free(mask);
    return rc;
}

int cdx_encoder_embed_texts(cdx_encoder *e, const char *const *texts, const size_t *lens, int32_t n, float *out,
                            cdx_errbuf *eb)
{
    int rc = need_tower(e, CDX_TOWER_TEXT, eb);
    if (rc != CDX_OK)
        return rc;
    if (n < 1)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "embed texts: no texts");
    int32_t max_b = e->spec->batch_buckets[e->spec->n_batch_buckets - 1];
    for (int32_t off = 0; off < n && rc == CDX_OK; off += max_b)
        rc = embed_text_chunk(e, texts, lens, off, n - off < max_b ? n - off : max_b, out, eb);
    return rc;
}

/* Preprocesses one image (from path, or from data/len) and embeds it. */
static int embed_image(cdx_encoder *e, const char *path, const void *data, size_t len, const char *name, float *out,
                       cdx_preprocess_info *info, cdx_errbuf *eb)
{
    int rc = need_tower(e, CDX_TOWER_VISION, eb);
    if (rc != CDX_OK)
        return rc;
    size_t n = cdx_preprocess_tensor_floats(e->preprocess);
    float *px = malloc(n * sizeof(float));
    if (!px)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", path ? path : name);
    rc = path ? cdx_preprocess_file(e->preprocess, path, px, n, info, eb)
              : cdx_preprocess_buffer(e->preprocess, data, len, name, px, n, info, eb);
    if (rc == CDX_OK)
        rc = cdx_encoder_embed_pixels(e, px, 1, out, eb);
    free(px);
    return rc;
}

int cdx_encoder_embed_image_file(cdx_encoder *e, const char *path, float *out, cdx_preprocess_info *info,
                                 cdx_errbuf *eb)
{
    return embed_image(e, path, NULL, 0, NULL, out, info, eb);
}

int cdx_encoder_embed_image_buffer(cdx_encoder *e, const void *data, size_t len, const char *name, float *out,
                                   cdx_preprocess_info *info, cdx_errbuf *eb)
{
    return embed_image(e, NULL, data, len, name ? name : "(image)", out, info, eb);
}
