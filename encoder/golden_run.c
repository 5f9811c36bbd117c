/* Golden run (see golden_run.h). Inputs go through the model one at a time:
 * the pack is small (tens of inputs) and single rows exercise the batch-1
 * bucket every interactive query uses. */
#include "encoder/golden_run.h"

#include "common/log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cdx_golden_result_free(cdx_golden_result *r)
{
    if (!r)
        return;
    free(r->image_embeds);
    free(r->text_embeds);
    r->image_embeds = r->text_embeds = NULL;
}

static void pixel_diff(const float *a, const float *b, size_t n, double *max_abs, double *sum_abs)
{
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > *max_abs)
            *max_abs = d;
        *sum_abs += d;
    }
}

static int run_images(cdx_encoder *e, const cdx_golden *g, cdx_golden_image_fn fn, void *ctx, cdx_golden_result *r,
                      cdx_errbuf *eb)
{
    const cdx_golden_info *in = cdx_golden_get_info(g);
    size_t px = 3 * (size_t)in->height * (size_t)in->width;
    float *mine = malloc(px * sizeof(float)), *emb = malloc((size_t)r->dim * sizeof(float));
    double sum_abs = 0, sum_cos = 0;
    int rc = mine && emb ? CDX_OK : cdx_errbuf_set(eb, CDX_ERR_NOMEM, "golden: out of memory");
    r->image_min_cos = r->image_runtime_min_cos = 2;
    for (int32_t i = 0; i < in->n_images && rc == CDX_OK; i++) {
        const float *ref = cdx_golden_image_embed(g, i);
        rc = cdx_encoder_embed_pixels(e, cdx_golden_pixel_values(g, i), 1, emb, eb);
        if (rc != CDX_OK)
            break;
        double c = cdx_cosine(emb, ref, r->dim);
        r->image_runtime_min_cos = c < r->image_runtime_min_cos ? c : r->image_runtime_min_cos;
        if (fn) {
            cdx_errbuf ieb = {0};
            if (fn(ctx, cdx_golden_get_image(g, i)->path, mine, &ieb) != CDX_OK) {
                cdx_log_warn("golden", "image %s: %s", cdx_golden_get_image(g, i)->name, cdx_errbuf_msg(&ieb));
                r->image_errors++;
                c = 0;
            } else {
                pixel_diff(mine, cdx_golden_pixel_values(g, i), px, &r->pixel_max_abs_diff, &sum_abs);
                rc = cdx_encoder_embed_pixels(e, mine, 1, emb, eb);
                c = cdx_cosine(emb, ref, r->dim);
            }
        }
        memcpy(r->image_embeds + (size_t)i * (size_t)r->dim, emb, (size_t)r->dim * sizeof(float));
        sum_cos += c;
        if (c < r->image_min_cos) {
            r->image_min_cos = c;
            r->image_worst = i;
        }
    }
    r->image_mean_cos = in->n_images ? sum_cos / in->n_images : 1;
    if (!fn)
        r->pixel_max_abs_diff = r->pixel_mean_abs_diff = -1;
    else if (in->n_images)
        r->pixel_mean_abs_diff = sum_abs / ((double)px * in->n_images);
    if (in->n_images == 0)
        r->image_min_cos = r->image_runtime_min_cos = 1;
    free(mine);
    free(emb);
    return rc;
}

static int run_texts(cdx_encoder *e, const cdx_golden *g, cdx_golden_result *r, cdx_errbuf *eb)
{
    const cdx_golden_info *in = cdx_golden_get_info(g);
    int32_t L = in->context_length;
    int64_t *ids = malloc((size_t)L * sizeof *ids), *mask = malloc((size_t)L * sizeof *mask);
    float *emb = malloc((size_t)r->dim * sizeof(float));
    double sum_cos = 0;
    int rc = ids && mask && emb ? CDX_OK : cdx_errbuf_set(eb, CDX_ERR_NOMEM, "golden: out of memory");
    r->text_min_cos = r->text_runtime_min_cos = 2;
    r->first_token_mismatch = -1;
    cdx_tower *tower = cdx_encoder_tower(e, CDX_TOWER_TEXT);
    for (int32_t j = 0; j < in->n_texts && rc == CDX_OK; j++) {
        const cdx_golden_text *t = cdx_golden_get_text(g, j);
        const float *ref = cdx_golden_text_embed(g, j);
        /* runtime only: the reference ids at full length, as the pack was made */
        rc = cdx_encoder_embed_ids(e, cdx_golden_input_ids(g, j), cdx_golden_attention_mask(g, j), 1, L, emb, eb);
        if (rc != CDX_OK)
            break;
        double c = cdx_cosine(emb, ref, r->dim);
        r->text_runtime_min_cos = c < r->text_runtime_min_cos ? c : r->text_runtime_min_cos;
        /* end to end: clipdex's tokens, padded to the contract's rule (a sequence bucket where allowed) */
        cdx_token_result tr;
        cdx_errbuf teb = {0};
        int trc = cdx_tokenizer_encode(cdx_encoder_tokenizer(e), t->text, t->text_len, L, ids, mask, L, &tr, &teb);
        int same = trc == CDX_OK && memcmp(ids, cdx_golden_input_ids(g, j), (size_t)L * sizeof *ids) == 0 &&
                   memcmp(mask, cdx_golden_attention_mask(g, j), (size_t)L * sizeof *mask) == 0;
        if (!same) {
            r->token_mismatches++;
            if (r->first_token_mismatch < 0)
                r->first_token_mismatch = j;
            cdx_log_warn("golden", "text %s: token ids differ from the reference%s%s", t->name,
                         trc == CDX_OK ? "" : ": ", trc == CDX_OK ? "" : cdx_errbuf_msg(&teb));
        }
        if (trc == CDX_OK) {
            int32_t seq = cdx_tower_seq_bucket(tower, tr.n_tokens);
            rc = cdx_tokenizer_encode(cdx_encoder_tokenizer(e), t->text, t->text_len, seq, ids, mask, L, &tr, eb);
            if (rc == CDX_OK)
                rc = cdx_encoder_embed_ids(e, ids, mask, 1, seq, emb, eb);
            c = rc == CDX_OK ? cdx_cosine(emb, ref, r->dim) : 0;
        } else {
            c = 0;
        }
        memcpy(r->text_embeds + (size_t)j * (size_t)r->dim, emb, (size_t)r->dim * sizeof(float));
        sum_cos += c;
        if (c < r->text_min_cos) {
            r->text_min_cos = c;
            r->text_worst = j;
        }
    }
    r->text_mean_cos = in->n_texts ? sum_cos / in->n_texts : 1;
    if (in->n_texts == 0)
        r->text_min_cos = r->text_runtime_min_cos = 1;
    free(ids);
    free(mask);
    free(emb);
    return rc;
}

int cdx_golden_run(cdx_encoder *e, const cdx_golden *g, cdx_golden_image_fn image_fn, void *image_ctx,
                   double image_min, double text_min, cdx_golden_result *r, cdx_errbuf *eb)
{
    memset(r, 0, sizeof *r);
    const cdx_golden_info *in = cdx_golden_get_info(g);
    const cdx_contract_spec *s = cdx_encoder_spec(e);
    if (in->dim != s->dim || in->height != s->image.height || in->width != s->image.width ||
        in->context_length != s->text.context_length)
        return cdx_errbuf_set(eb, CDX_ERR_MISMATCH,
                              "golden pack for %s (dim %d, image %dx%d, context %d) does not fit contract %s (dim %d, "
                              "image %dx%d, context %d)",
                              in->model, in->dim, in->height, in->width, in->context_length, s->id, s->dim,
                              s->image.height, s->image.width, s->text.context_length);
    r->n_images = in->n_images;
    r->n_texts = in->n_texts;
    r->dim = in->dim;
    r->image_embeds = calloc((size_t)in->n_images + 1, (size_t)in->dim * sizeof(float));
    r->text_embeds = calloc((size_t)in->n_texts + 1, (size_t)in->dim * sizeof(float));
    if (!r->image_embeds || !r->text_embeds) {
        cdx_golden_result_free(r);
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "golden: out of memory");
    }
    int rc = run_images(e, g, image_fn, image_ctx, r, eb);
    if (rc == CDX_OK)
        rc = run_texts(e, g, r, eb);
    if (rc != CDX_OK) {
        cdx_golden_result_free(r);
        return rc;
    }
    r->pass = r->image_min_cos >= image_min && r->image_runtime_min_cos >= image_min && r->text_min_cos >= text_min &&
              r->text_runtime_min_cos >= text_min && r->token_mismatches == 0 && r->image_errors == 0;
    return CDX_OK;
}
