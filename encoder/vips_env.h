/* libvips, set up once per process for decoding untrusted images.
 *
 * libvips keeps process-wide state: its init, an operation cache, a thread
 * count, a block list of loaders and one global error buffer. This file owns
 * all of it, so every decode in clipdex runs under the same rules:
 *   - untrusted loaders are blocked (vips_block_untrusted_set), and every loader
 *     outside a short allowlist (JPEG, PNG, WebP, TIFF, GIF, HEIF/AVIF, JPEG XL)
 *     is blocked too: a text file must never be "decoded" as a matrix;
 *   - the operation cache is off: each image is seen once, and a cached decode
 *     of a file that changed on disk would be wrong;
 *   - libvips' own warnings go to clipdex's log (component "vips", debug level)
 *     instead of stderr.
 * Thread-safe; the first call does the work. */
#ifndef CDX_ENCODER_VIPS_ENV_H
#define CDX_ENCODER_VIPS_ENV_H

#include <stddef.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initializes libvips on first use and sets its worker-thread count to
 * concurrency (>= 1). The thread count is process-wide: the last call wins.
 * CDX_ERR_INTERNAL when libvips cannot start. */
int cdx_vips_init(int concurrency, cdx_errbuf *eb);

/* Copies libvips' global error text into buf as one line (newlines become
 * "; ", trailing space trimmed) and clears it, so the next failure does not
 * inherit it. The buffer is shared by every thread: call this right after the
 * failing call. Returns buf ("" when libvips had nothing to say). */
const char *cdx_vips_error_take(char *buf, size_t cap);

/* Discards libvips' global error text. */
void cdx_vips_error_drop(void);

/* The short format name clipdex accepts for a libvips loader class name as
 * returned by vips_foreign_find_load_source ("VipsForeignLoadJpegSource" ->
 * "jpeg"), or NULL when the loader is not on the allowlist. */
const char *cdx_vips_allowed_format(const char *loader_class);

/* Lowercase loader name for messages ("VipsForeignLoadSvgSource" -> "svg"),
 * written into buf. */
const char *cdx_vips_loader_short_name(const char *loader_class, char *buf, size_t cap);

/* "8.14.1" */
const char *cdx_vips_version_string(void);

#ifdef __cplusplus
}
#endif
#endif
