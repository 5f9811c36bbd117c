/* Generated Unicode data behind encoder/unicode.c (see
 * tools/unicode/gen_unicode_tables.mjs). Internal to the encoder. */
#ifndef CDX_ENCODER_UNICODE_TABLES_H
#define CDX_ENCODER_UNICODE_TABLES_H

#include <stdint.h>

enum {
    CDX_UC_F_L = 1,       /* general category L (letter) */
    CDX_UC_F_N = 2,       /* general category N (number) */
    CDX_UC_F_WS = 4,      /* White_Space property (regex \s in Oniguruma and tokenizers.js) */
    CDX_UC_F_PYWS = 8,    /* Python str.isspace() */
    CDX_UC_F_NFC_QC = 16, /* NFC quick check Yes and ccc 0: never changed by NFC */
    CDX_UC_F_COMP2 = 32   /* may compose with a preceding character */
};

typedef struct cdx_uc_record {
    uint8_t flags;
    uint8_t ccc;       /* canonical combining class order (0 = starter); not the UCD number */
    uint16_t lower;    /* index into cdx_uc_seq of the full lowercase mapping, 0 = itself */
    uint16_t decomp;   /* index into cdx_uc_seq of the full canonical decomposition, 0 = none */
} cdx_uc_record;

typedef struct cdx_uc_pair {
    uint32_t first, second, composite;
} cdx_uc_pair;

#ifdef __cplusplus
extern "C" {
#endif
extern const char cdx_uc_version_string[];
extern const cdx_uc_record cdx_uc_records[];
extern const uint16_t cdx_uc_stage1[];
extern const uint16_t cdx_uc_stage2[];
extern const uint32_t cdx_uc_seq[];
extern const cdx_uc_pair cdx_uc_pairs[];
extern const uint32_t cdx_uc_n_pairs;
#ifdef __cplusplus
}
#endif

#define CDX_UC_SHIFT 7

#endif
