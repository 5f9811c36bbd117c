/* Golden packs: a model's ground truth, read without Python (golden/README.md).
 *
 * A pack holds the inputs chosen to break preprocessing and tokenizers, and the
 * reference tensors and fp32 embeddings the model's own processor and PyTorch
 * produce for them. cdx_golden_open validates index.json strictly (every
 * tensor's shape against the pack's dimensions and the raw file's size) and
 * loads the arrays. Read-only after open; pointers are borrowed until close. */
#ifndef CDX_ENCODER_GOLDEN_H
#define CDX_ENCODER_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_golden cdx_golden;

typedef struct cdx_golden_image {
    const char *name;
    const char *path;   /* resolved against the pack directory */
    const char *why;
} cdx_golden_image;

typedef struct cdx_golden_text {
    const char *name;
    const char *text;   /* UTF-8, may contain NUL-free control characters */
    size_t text_len;
    int32_t n_tokens;   /* non-padding positions */
    const char *why;
} cdx_golden_text;

typedef struct cdx_golden_info {
    const char *model;
    const char *family;
    int32_t height, width;       /* image_size */
    int32_t dim;
    int32_t context_length;
    int32_t n_images, n_texts;
} cdx_golden_info;

int cdx_golden_open(const char *dir, cdx_golden **out, cdx_errbuf *eb);
/* Parses index.json from memory and checks it, without reading tensor files
 * (for tests and fuzzing). */
int cdx_golden_parse_index(const char *json, size_t len, const char *dir, cdx_golden **out, cdx_errbuf *eb);
void cdx_golden_close(cdx_golden *g);

const cdx_golden_info *cdx_golden_get_info(const cdx_golden *g);
const cdx_golden_image *cdx_golden_get_image(const cdx_golden *g, int32_t i);
const cdx_golden_text *cdx_golden_get_text(const cdx_golden *g, int32_t j);
/* Tensors (NULL after cdx_golden_parse_index, which loads none). */
const float *cdx_golden_pixel_values(const cdx_golden *g, int32_t i);     /* [3, H, W] */
const float *cdx_golden_image_embed(const cdx_golden *g, int32_t i);      /* [dim], not normalized */
const int64_t *cdx_golden_input_ids(const cdx_golden *g, int32_t j);      /* [context_length] */
const int64_t *cdx_golden_attention_mask(const cdx_golden *g, int32_t j); /* [context_length] */
const float *cdx_golden_text_embed(const cdx_golden *g, int32_t j);       /* [dim], not normalized */

/* Cosine similarity of two vectors of length n (0 when either is zero). */
double cdx_cosine(const float *a, const float *b, int32_t n);
/* L2-normalizes v in place; returns its norm before normalizing. */
double cdx_l2_normalize(float *v, int32_t n);

#ifdef __cplusplus
}
#endif
#endif
