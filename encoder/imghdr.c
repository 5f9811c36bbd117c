/* Header peek and non-image sniffing (imghdr.h). A parser of untrusted bytes:
 * every read is bounds-checked against n, and it is fuzzed through
 * tests/fuzz/fuzz_image.c. */
#include "encoder/imghdr.h"

#include <string.h>

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }
static uint32_t le24(const uint8_t *p) { return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]; }

static void peek_png(const uint8_t *p, size_t n, cdx_imghdr *h)
{
    h->format = "png";
    if (n >= 24 && memcmp(p + 12, "IHDR", 4) == 0) {
        h->width = be32(p + 16);
        h->height = be32(p + 20);
        h->has_size = 1;
    }
}

/* Walks marker segments up to the first SOFn (or SOS / end of data). */
static void peek_jpeg(const uint8_t *p, size_t n, cdx_imghdr *h)
{
    h->format = "jpeg";
    size_t i = 2;
    while (i + 1 < n) {
        if (p[i] != 0xFF)
            return; /* not at a marker: corrupt, let the decoder say so */
        uint8_t m = p[i + 1];
        if (m == 0xFF) { /* fill byte */
            i++;
            continue;
        }
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* standalone markers */
            i += 2;
            continue;
        }
        if (m == 0xD9 || m == 0xDA) /* EOI, SOS: no frame header before the scan */
            return;
        if (i + 4 > n)
            return;
        uint32_t len = be16(p + i + 2);
        if (len < 2)
            return;
        int sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (sof) {
            if (i + 9 > n || len < 7)
                return;
            h->height = be16(p + i + 5);
            h->width = be16(p + i + 7);
            h->has_size = 1;
            return;
        }
        i += 2 + (size_t)len;
    }
}

static void peek_gif(const uint8_t *p, size_t n, cdx_imghdr *h)
{
    h->format = "gif";
    if (n >= 10) {
        h->width = le16(p + 6);
        h->height = le16(p + 8);
        h->has_size = 1;
    }
}

static void peek_webp(const uint8_t *p, size_t n, cdx_imghdr *h)
{
    h->format = "webp";
    if (n < 30)
        return;
    const uint8_t *c = p + 12;
    if (memcmp(c, "VP8X", 4) == 0) {
        h->width = (int64_t)le24(p + 24) + 1;
        h->height = (int64_t)le24(p + 27) + 1;
        h->has_size = 1;
    } else if (memcmp(c, "VP8 ", 4) == 0) {
        /* frame tag (3 bytes) then the start code 9d 01 2a at offset 23 */
        if (p[23] == 0x9d && p[24] == 0x01 && p[25] == 0x2a) {
            h->width = le16(p + 26) & 0x3FFF;
            h->height = le16(p + 28) & 0x3FFF;
            h->has_size = 1;
        }
    } else if (memcmp(c, "VP8L", 4) == 0) {
        if (p[20] == 0x2f && n >= 25) {
            uint32_t b = (uint32_t)p[21] | (uint32_t)p[22] << 8 | (uint32_t)p[23] << 16 | (uint32_t)p[24] << 24;
            h->width = (int64_t)(b & 0x3FFF) + 1;
            h->height = (int64_t)((b >> 14) & 0x3FFF) + 1;
            h->has_size = 1;
        }
    }
}

int cdx_imghdr_peek(const uint8_t *p, size_t n, cdx_imghdr *out)
{
    memset(out, 0, sizeof *out);
    if (!p)
        return 0;
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        peek_png(p, n, out);
    else if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        peek_jpeg(p, n, out);
    else if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        peek_gif(p, n, out);
    else if (n >= 16 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        peek_webp(p, n, out);
    return out->format != NULL;
}

/* Case-insensitive search for needle in the first n bytes of p. */
static int contains_ci(const uint8_t *p, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m && (p[i + j] | 0x20) == (uint8_t)(needle[j] | 0x20))
            j++;
        if (j == m)
            return 1;
    }
    return 0;
}

const char *cdx_imghdr_sniff_other(const uint8_t *p, size_t n)
{
    if (!p || n == 0)
        return NULL;
    size_t head = n < 1024 ? n : 1024;
    if (n >= 5 && memcmp(p, "%PDF-", 5) == 0)
        return "PDF";
    if (n >= 2 && memcmp(p, "%!", 2) == 0)
        return "PostScript";
    if (n >= 4 && memcmp(p, "8BPS", 4) == 0)
        return "Photoshop";
    if (n >= 2 && memcmp(p, "BM", 2) == 0 && n >= 14)
        return "BMP";
    /* Skip a UTF-8 BOM and leading whitespace before looking at markup. */
    size_t s = (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) ? 3 : 0;
    while (s < head && (p[s] == ' ' || p[s] == '\t' || p[s] == '\r' || p[s] == '\n'))
        s++;
    if (s < head && p[s] == '<') {
        if (contains_ci(p + s, head - s, "<svg"))
            return "SVG";
        if (contains_ci(p + s, head - s, "<html") || contains_ci(p + s, head - s, "<!doctype html"))
            return "HTML";
        return "XML";
    }
    for (size_t i = 0; i < head; i++) {
        uint8_t c = p[i];
        if (c < 0x09 || (c > 0x0D && c < 0x20) || c == 0x7F)
            return NULL;
    }
    return "text";
}
