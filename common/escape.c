/* Printable single-line renderings of arbitrary byte strings (escape.h).
 * Used for file names in error messages, logs and dead-letter rows. */
#include "common/escape.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. *cp gets
 * the code point. */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

static int is_control(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

char *cdx_escape_name(const char *in, char *out, size_t cap)
{
    if (!out || cap == 0)
        return out;
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    size_t o = 0;
    const size_t room = cap > 4 ? cap - 4 : 0; /* keep space for "..." and NUL */
    while (*s) {
        char piece[24];
        size_t plen = 0, adv;
        uint32_t cp = 0;
        size_t n = utf8_seq(s, &cp);
        if (n == 0) {
            plen = (size_t)snprintf(piece, sizeof piece, "\\x%02X", s[0]);
            adv = 1;
        } else if (cp == '\\') {
            memcpy(piece, "\\\\", 2), plen = 2, adv = 1;
        } else if (cp == '\n') {
            memcpy(piece, "\\n", 2), plen = 2, adv = 1;
        } else if (cp == '\r') {
            memcpy(piece, "\\r", 2), plen = 2, adv = 1;
        } else if (cp == '\t') {
            memcpy(piece, "\\t", 2), plen = 2, adv = 1;
        } else if (is_control(cp)) {
            for (size_t i = 0; i < n; i++)
                plen += (size_t)snprintf(piece + plen, sizeof piece - plen, "\\x%02X", s[i]);
            adv = n;
        } else {
            memcpy(piece, s, n), plen = n, adv = n;
        }
        if (o + plen > room) {
            /* Does the rest fit exactly without the ellipsis? */
            if (o + plen < cap && s[adv] == '\0') {
                memcpy(out + o, piece, plen);
                o += plen;
                s += adv;
                break;
            }
            memcpy(out + o, "...", cap > 3 ? 3 : 0);
            o += cap > 3 ? 3 : 0;
            break;
        }
        memcpy(out + o, piece, plen);
        o += plen;
        s += adv;
    }
    out[o < cap ? o : cap - 1] = '\0';
    return out;
}
