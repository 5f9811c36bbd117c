/* A first look at an image's bytes, before any decoder runs.
 *
 * Reads only fixed headers (PNG IHDR, JPEG SOF, GIF screen, WebP VP8/VP8L/VP8X)
 * to learn the format and the claimed size, so a file that claims 50000x50000
 * pixels is refused by the pixel limit even when it is truncated right after
 * its header (where the decoder itself would fail with a vaguer message). Also
 * names common non-image inputs (SVG, PDF, HTML, text) so the error can say
 * what the file looks like. Never reads past n; no allocation. */
#ifndef CDX_ENCODER_IMGHDR_H
#define CDX_ENCODER_IMGHDR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_imghdr {
    const char *format;   /* "jpeg", "png", "gif", "webp", or NULL when unknown */
    int32_t has_size;     /* 1 when width and height were read */
    int64_t width, height;
} cdx_imghdr;

/* Fills out; returns 1 when the bytes start like one of the formats above. */
int cdx_imghdr_peek(const uint8_t *p, size_t n, cdx_imghdr *out);

/* What a non-image input looks like, for messages: "SVG", "PDF", "PostScript",
 * "HTML", "XML", "BMP", "Photoshop", "text", or NULL. */
const char *cdx_imghdr_sniff_other(const uint8_t *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
