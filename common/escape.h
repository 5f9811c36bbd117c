/* Printable renderings of names that may hold any bytes.
 *
 * File names on Linux are byte strings: they may contain newlines, control
 * characters or invalid UTF-8. Error messages, logs and JSON need one printable
 * line that still tells the user which file it was. */
#ifndef CDX_COMMON_ESCAPE_H
#define CDX_COMMON_ESCAPE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes a single-line rendering of in (NUL-terminated) into out: valid,
 * printable UTF-8 passes through; \n, \r and \t become those two-character
 * escapes; other control characters (C0, DEL, C1, U+2028/U+2029) and bytes
 * that are not valid UTF-8 become \xNN per byte; a backslash becomes \\.
 * When the result does not fit in cap bytes it ends in "...". Always
 * NUL-terminates when cap > 0. Returns out. */
char *cdx_escape_name(const char *in, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
