/* Running a golden pack through an encoder: the agreement check behind
 * `clipdex golden`.
 *
 * Two paths per input, so a failure says where it comes from:
 *  - end to end: clipdex's own preprocessing / tokenizer, then the model;
 *  - runtime only: the pack's reference tensor / token ids, then the model.
 * Both are compared by cosine with the reference fp32 embedding; clipdex's
 * tensors and ids are also compared with the reference ones directly. */
#ifndef CDX_ENCODER_GOLDEN_RUN_H
#define CDX_ENCODER_GOLDEN_RUN_H

#include <stdint.h>

#include "common/error.h"
#include "encoder/encoder.h"
#include "encoder/golden.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Preprocesses the image at path into out ([3, H, W]); NULL skips the end-to-end image path. */
typedef int (*cdx_golden_image_fn)(void *ctx, const char *path, float *out, cdx_errbuf *eb);

typedef struct cdx_golden_result {
    int32_t n_images, n_texts, dim;
    double image_min_cos, image_mean_cos;       /* end to end (runtime only when no image fn) */
    int32_t image_worst;                        /* index of the lowest end-to-end image cosine */
    double image_runtime_min_cos;
    double pixel_max_abs_diff;                  /* clipdex tensor vs reference; -1 when not computed */
    double pixel_mean_abs_diff;
    int32_t image_errors;                       /* images clipdex could not preprocess */
    double text_min_cos, text_mean_cos;
    int32_t text_worst;
    double text_runtime_min_cos;
    int32_t token_mismatches;                   /* texts whose ids or mask differ from the reference */
    int32_t first_token_mismatch;               /* index, -1 when none */
    int32_t pass;
    float *image_embeds;                        /* [n_images, dim] end to end, normalized; owned */
    float *text_embeds;                         /* [n_texts, dim] */
} cdx_golden_result;

/* Runs every input; failures of single inputs are counted, not returned.
 * Pass marks: image_min / text_min cosine (from the contract or --epsilon). */
int cdx_golden_run(cdx_encoder *e, const cdx_golden *g, cdx_golden_image_fn image_fn, void *image_ctx,
                   double image_min, double text_min, cdx_golden_result *out, cdx_errbuf *eb);
void cdx_golden_result_free(cdx_golden_result *r);

#ifdef __cplusplus
}
#endif
#endif
