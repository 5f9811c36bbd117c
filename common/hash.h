/* Hashing: a fast 128-bit content hash for dedupe (XXH3-128) and SHA-256 for
 * artifacts and index files, where a hash is a promise to someone else. */
#ifndef CDX_COMMON_HASH_H
#define CDX_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_hash128 {
    uint64_t hi, lo;
} cdx_hash128;

#define CDX_HASH128_HEX_LEN 32
#define CDX_SHA256_HEX_LEN 64

cdx_hash128 cdx_hash128_bytes(const void *data, size_t len);
/* Hashes a whole file. Errors (CDX_ERR_NOTFOUND, CDX_ERR_IO) name the path in eb. */
int cdx_hash128_file(const char *path, cdx_hash128 *out, cdx_errbuf *eb);
/* Writes 32 lowercase hex digits and a NUL into out. */
void cdx_hash128_to_hex(cdx_hash128 h, char out[CDX_HASH128_HEX_LEN + 1]);
/* Parses 32 hex digits; CDX_ERR_PARSE otherwise. */
int cdx_hash128_from_hex(const char *hex, cdx_hash128 *out);

/* Streaming SHA-256. */
typedef struct cdx_sha256 cdx_sha256;
int cdx_sha256_init(cdx_sha256 **out);
void cdx_sha256_update(cdx_sha256 *s, const void *data, size_t len);
/* Writes the digest and resets the state for reuse. */
void cdx_sha256_final(cdx_sha256 *s, uint8_t digest[32]);
void cdx_sha256_free(cdx_sha256 *s);

void cdx_sha256_bytes(const void *data, size_t len, uint8_t digest[32]);
int cdx_sha256_file(const char *path, uint8_t digest[32], cdx_errbuf *eb);
/* Same, as 64 lowercase hex digits and a NUL. */
int cdx_sha256_file_hex(const char *path, char out[CDX_SHA256_HEX_LEN + 1], cdx_errbuf *eb);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void cdx_hex_encode(const uint8_t *bytes, size_t n, char *out);
/* Compares n bytes in time independent of where they differ: 1 when equal. */
int cdx_ct_equal(const void *a, const void *b, size_t n);

#ifdef __cplusplus
}
#endif
#endif
