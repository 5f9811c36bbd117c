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

/* The escaped form of the character at s: writes it into piece, returns its
 * length, and sets *adv to the input bytes it covers. */
static size_t escape_one(const unsigned char *s, char piece[24], size_t *adv)
{
    uint32_t cp = 0;
    size_t n = utf8_seq(s, &cp), plen = 0;
    static const struct {
        uint32_t cp;
        const char *esc;
    } named[] = {{'\\', "\\\\"}, {'\n', "\\n"}, {'\r', "\\r"}, {'\t', "\\t"}};
    *adv = n ? n : 1;
    if (n == 0)
        return (size_t)snprintf(piece, 24, "\\x%02X", s[0]);
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (cp == named[i].cp) {
            memcpy(piece, named[i].esc, 2);
            return 2;
        }
    if (is_control(cp)) {
        for (size_t i = 0; i < n; i++)
            plen += (size_t)snprintf(piece + plen, 24 - plen, "\\x%02X", s[i]);
        return plen;
    }
    memcpy(piece, s, n);
    return n;
}

char *cdx_escape_name(const char *in, char *out, size_t cap)
{
    if (!out || cap == 0)
        return out;
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    char piece[24];
    size_t adv, total = 0;
    for (const unsigned char *t = s; *t; t += adv)
        total += escape_one(t, piece, &adv);
    /* Whole pieces only; when the rest does not fit, end with "...". */
    size_t limit = total < cap ? cap - 1 : (cap > 4 ? cap - 4 : 0), o = 0;
    for (; *s; s += adv) {
        size_t plen = escape_one(s, piece, &adv);
        if (o + plen > limit)
            break;
        memcpy(out + o, piece, plen);
        o += plen;
    }
    if (total >= cap && cap > 3) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}
