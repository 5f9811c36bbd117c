/* Hashing over libxxhash (XXH3-128, for content dedupe) and OpenSSL's EVP
 * SHA-256 (hardware accelerated where the CPU has SHA extensions). Files are
 * read in 1 MiB chunks so hashing a multi-GB model stays flat in memory. */
#include "common/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define HASH_CHUNK (1u << 20)

cdx_hash128 cdx_hash128_bytes(const void *data, size_t len)
{
    XXH128_hash_t h = XXH3_128bits(data, len);
    return (cdx_hash128){.hi = h.high64, .lo = h.low64};
}

/* Reads path chunk by chunk into fn(ctx, buf, n). */
static int read_chunks(const char *path, void (*fn)(void *, const void *, size_t), void *ctx,
                       cdx_errbuf *eb)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cdx_errbuf_set(eb, errno == ENOENT ? CDX_ERR_NOTFOUND : CDX_ERR_IO,
                              "open %s: %s", path, strerror(errno));
    unsigned char *buf = malloc(HASH_CHUNK);
    if (!buf) {
        close(fd);
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "hash %s: out of memory", path);
    }
    int rc = CDX_OK;
    for (;;) {
        ssize_t n = read(fd, buf, HASH_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = cdx_errbuf_set(eb, CDX_ERR_IO, "read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        fn(ctx, buf, (size_t)n);
    }
    free(buf);
    close(fd);
    return rc;
}

static void xxh_update(void *ctx, const void *p, size_t n) { XXH3_128bits_update(ctx, p, n); }

int cdx_hash128_file(const char *path, cdx_hash128 *out, cdx_errbuf *eb)
{
    XXH3_state_t st;
    XXH3_128bits_reset(&st);
    int rc = read_chunks(path, xxh_update, &st, eb);
    if (rc != CDX_OK)
        return rc;
    XXH128_hash_t h = XXH3_128bits_digest(&st);
    *out = (cdx_hash128){.hi = h.high64, .lo = h.low64};
    return CDX_OK;
}

void cdx_hash128_to_hex(cdx_hash128 h, char out[CDX_HASH128_HEX_LEN + 1])
{
    snprintf(out, CDX_HASH128_HEX_LEN + 1, "%016llx%016llx", (unsigned long long)h.hi,
             (unsigned long long)h.lo);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cdx_hash128_from_hex(const char *hex, cdx_hash128 *out)
{
    uint64_t w[2] = {0, 0};
    for (int i = 0; i < 32; i++) {
        int v = hex ? hexval(hex[i]) : -1;
        if (v < 0)
            return CDX_ERR_PARSE;
        w[i / 16] = (w[i / 16] << 4) | (uint64_t)v;
    }
    if (hex[32] != '\0')
        return CDX_ERR_PARSE;
    out->hi = w[0];
    out->lo = w[1];
    return CDX_OK;
}

struct cdx_sha256 {
    EVP_MD_CTX *md;
};

int cdx_sha256_init(cdx_sha256 **out)
{
    *out = NULL;
    cdx_sha256 *s = calloc(1, sizeof *s);
    if (!s)
        return CDX_ERR_NOMEM;
    s->md = EVP_MD_CTX_new();
    if (!s->md || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
        cdx_sha256_free(s);
        return CDX_ERR_NOMEM;
    }
    *out = s;
    return CDX_OK;
}

void cdx_sha256_update(cdx_sha256 *s, const void *data, size_t len) { EVP_DigestUpdate(s->md, data, len); }

void cdx_sha256_final(cdx_sha256 *s, uint8_t digest[32])
{
    unsigned int n = 32;
    EVP_DigestFinal_ex(s->md, digest, &n);
    EVP_DigestInit_ex(s->md, EVP_sha256(), NULL);
}

void cdx_sha256_free(cdx_sha256 *s)
{
    if (!s)
        return;
    EVP_MD_CTX_free(s->md);
    free(s);
}

void cdx_sha256_bytes(const void *data, size_t len, uint8_t digest[32])
{
    unsigned int n = 32;
    EVP_Digest(data, len, digest, &n, EVP_sha256(), NULL);
}

static void sha_update(void *ctx, const void *p, size_t n) { cdx_sha256_update(ctx, p, n); }

int cdx_sha256_file(const char *path, uint8_t digest[32], cdx_errbuf *eb)
{
    cdx_sha256 *s;
    if (cdx_sha256_init(&s) != CDX_OK)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "sha256 %s: out of memory", path);
    int rc = read_chunks(path, sha_update, s, eb);
    if (rc == CDX_OK)
        cdx_sha256_final(s, digest);
    cdx_sha256_free(s);
    return rc;
}

int cdx_sha256_file_hex(const char *path, char out[CDX_SHA256_HEX_LEN + 1], cdx_errbuf *eb)
{
    uint8_t d[32];
    int rc = cdx_sha256_file(path, d, eb);
    if (rc == CDX_OK)
        cdx_hex_encode(d, 32, out);
    return rc;
}

void cdx_hex_encode(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

int cdx_ct_equal(const void *a, const void *b, size_t n) { return CRYPTO_memcmp(a, b, n) == 0; }
