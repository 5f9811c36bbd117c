/* Unicode pieces the tokenizers need: strict UTF-8 decoding, general
 * categories L and N, White_Space, NFC, and per-code-point full lowercase.
 *
 * The data are generated from the ICU inside node by
 * tools/unicode/gen_unicode_tables.mjs (cdx_uc_unicode_version() says which
 * Unicode version), so clipdex agrees with tokenizers.js, the JavaScript
 * reference it is tested against. Internal to the encoder; everything here is
 * pure and thread-safe. */
#ifndef CDX_ENCODER_UNICODE_H
#define CDX_ENCODER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#include "encoder/unicode_tables.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A growable array of code points. Zero-initialise; free with cdx_u32buf_free. */
typedef struct cdx_u32buf {
    uint32_t *v;
    size_t n, cap;
} cdx_u32buf;

/* Growable arrays (this one and the tokenizers' scratch buffers): makes room
 * in *v (n elements used of *cap, each elem bytes) for `extra` more, doubling
 * from `first`. CDX_ERR_NOMEM on failure, leaving the array as it was. */
int cdx_array_grow(void **v, size_t *cap, size_t n, size_t extra, size_t elem, size_t first);
/* Makes room for at least `extra` more elements. CDX_ERR_NOMEM on failure. */
int cdx_u32buf_grow(cdx_u32buf *b, size_t extra);
void cdx_u32buf_free(cdx_u32buf *b);

/* The Unicode version of the generated tables, e.g. "17.0". */
const char *cdx_uc_unicode_version(void);

static inline const cdx_uc_record *cdx_uc_get(uint32_t cp)
{
    if (cp >= 0x110000)
        cp = 0xFFFF; /* a noncharacter: no properties */
    uint16_t block = cdx_uc_stage1[cp >> CDX_UC_SHIFT];
    return &cdx_uc_records[cdx_uc_stage2[((uint32_t)block << CDX_UC_SHIFT) | (cp & ((1u << CDX_UC_SHIFT) - 1))]];
}
static inline int cdx_uc_has(uint32_t cp, unsigned flag) { return (cdx_uc_get(cp)->flags & flag) != 0; }

/* Strict UTF-8 (no overlong forms, surrogates or values above U+10FFFF).
 * Appends the code points to out. On invalid input returns CDX_ERR_PARSE and
 * sets *bad_offset to the byte offset of the first bad sequence. */
int cdx_utf8_decode(const char *s, size_t len, cdx_u32buf *out, size_t *bad_offset);
/* The same check without decoding: CDX_OK or CDX_ERR_PARSE with *bad_offset. */
int cdx_utf8_validate(const char *s, size_t len, size_t *bad_offset);
/* Writes cp as UTF-8 into out (1..4 bytes); returns the length. cp must be a scalar value. */
size_t cdx_utf8_put(uint32_t cp, char out[4]);
/* Length in bytes of the UTF-8 sequence a lead byte starts (1 for bytes that
 * cannot lead, as SentencePiece counts them). */
size_t cdx_utf8_len_of_lead(unsigned char c);

/* NFC of in[0..n) appended to out. in and out must not alias. */
int cdx_uc_nfc(const uint32_t *in, size_t n, cdx_u32buf *out);
/* Full lowercase of each code point on its own (as Rust's char::to_lowercase
 * and Python's str.lower on one character: no Final_Sigma context), appended to out. */
int cdx_uc_lower(const uint32_t *in, size_t n, cdx_u32buf *out);

#ifdef __cplusplus
}
#endif
#endif
