/* The encoder: a contract's model as one object — the image tower, the text
 * tower and the tokenizer — turning pixels, token ids or texts into
 * L2-normalized embeddings.
 *
 * Each tower has its own provider spec (the image tower on one provider, the
 * text tower on another). The encoder is shared by any number of threads;
 * scratch memory is per call. The contract is borrowed and must outlive the
 * encoder. */
#ifndef CDX_ENCODER_ENCODER_H
#define CDX_ENCODER_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "contracts/contract.h"
#include "encoder/preprocess.h"
#include "encoder/tokenizer.h"
#include "encoder/tower.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_encoder cdx_encoder;

typedef struct cdx_encoder_params {
    const char *vision_providers; /* provider spec for the image tower; NULL means "cpu" */
    const char *text_providers;   /* for the text tower; NULL means the same as vision_providers */
    int32_t threads;              /* intra-op threads per tower when a spec sets none; 0 = the thread budget (common/threads.h) */
    double max_fallback;          /* < 0: the contract's thresholds.max_fallback */
    int32_t warmup;               /* warm every bucket at open (default 1) */
    int32_t report_placement;     /* capture placement and profile the warm-up (default 1) */
    int32_t load_vision;          /* default 1 */
    int32_t load_text;            /* default 1 (also loads the tokenizer) */
    cdx_preprocess_params preprocess; /* image limits and decode settings (with the vision tower) */
} cdx_encoder_params;

cdx_encoder_params cdx_encoder_default_params(void);

int cdx_encoder_open(const cdx_contract *contract, const cdx_encoder_params *params, cdx_encoder **out,
                     cdx_errbuf *eb);
void cdx_encoder_close(cdx_encoder *e);

/* Borrowed from the encoder; NULL when that half was not loaded. */
const cdx_contract_spec *cdx_encoder_spec(const cdx_encoder *e);
cdx_tower *cdx_encoder_tower(const cdx_encoder *e, enum cdx_tower_kind which);
const cdx_tokenizer *cdx_encoder_tokenizer(const cdx_encoder *e);
const cdx_preprocess *cdx_encoder_preprocess(const cdx_encoder *e);

/* pixels: [n, 3, H, W] as the contract's preprocessing makes them.
 * out: n * dim floats, each row L2-normalized. */
int cdx_encoder_embed_pixels(cdx_encoder *e, const float *pixels, int32_t n, float *out, cdx_errbuf *eb);
/* ids/mask: [n, seq]. */
int cdx_encoder_embed_ids(cdx_encoder *e, const int64_t *ids, const int64_t *mask, int32_t n, int32_t seq,
                          float *out, cdx_errbuf *eb);
/* texts[i] of lens[i] bytes (lens NULL: NUL-terminated). Tokenized, padded to
 * the sequence bucket of the longest text in each batch, embedded. On error
 * eb names the text's index. */
int cdx_encoder_embed_texts(cdx_encoder *e, const char *const *texts, const size_t *lens, int32_t n, float *out,
                            cdx_errbuf *eb);

/* One image from a file or from memory (name labels errors): preprocess and
 * embed; out gets dim floats. info may be NULL. */
int cdx_encoder_embed_image_file(cdx_encoder *e, const char *path, float *out, cdx_preprocess_info *info,
                                 cdx_errbuf *eb);
int cdx_encoder_embed_image_buffer(cdx_encoder *e, const void *data, size_t len, const char *name, float *out,
                                   cdx_preprocess_info *info, cdx_errbuf *eb);

#ifdef __cplusplus
}
#endif
#endif
