/* Unicode for the tokenizers: UTF-8, NFC and lowercase over the generated
 * tables in unicode_tables.c. Used by the BPE and unigram tokenizers; pure
 * functions, safe from any thread. NFC follows UAX #15: full canonical
 * decomposition (Hangul algorithmically), canonical ordering of non-starters,
 * then canonical composition with blocking. A quick check passes text whose
 * every code point NFC leaves alone straight through. */
#include "encoder/unicode.h"

#include "common/error.h"

#include <stdlib.h>
#include <string.h>

int cdx_array_grow(void **v, size_t *cap, size_t n, size_t extra, size_t elem, size_t first)
{
    if (*cap - n >= extra)
        return CDX_OK;
    size_t c = *cap ? *cap : first;
    while (c - n < extra) {
        if (c > ((size_t)-1) / 2 / elem)
            return CDX_ERR_NOMEM;
        c *= 2;
    }
    void *p = realloc(*v, c * elem);
    if (!p)
        return CDX_ERR_NOMEM;
    *v = p;
    *cap = c;
    return CDX_OK;
}

int cdx_u32buf_grow(cdx_u32buf *b, size_t extra)
{
    return cdx_array_grow((void **)&b->v, &b->cap, b->n, extra, sizeof *b->v, 64);
}

void cdx_u32buf_free(cdx_u32buf *b)
{
    if (!b)
        return;
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

const char *cdx_uc_unicode_version(void) { return cdx_uc_version_string; }

size_t cdx_utf8_len_of_lead(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        return 2;
    if ((c & 0xF0) == 0xE0)
        return 3;
    if ((c & 0xF8) == 0xF0)
        return 4;
    return 1;
}

/* Decodes one strict UTF-8 sequence at p[i] (i < len); 0 on invalid input. */
static size_t utf8_next(const unsigned char *p, size_t len, size_t i, uint32_t *cp)
{
    uint32_t c = p[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t need;
    uint32_t min;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1, min = 0x80, c &= 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2, min = 0x800, c &= 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (len - i <= need)
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((p[i + k] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (p[i + k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return need + 1;
}

int cdx_utf8_decode(const char *s, size_t len, cdx_u32buf *out, size_t *bad_offset)
{
    const unsigned char *p = (const unsigned char *)s;
    if (cdx_u32buf_grow(out, len) != CDX_OK) /* never more code points than bytes */
        return CDX_ERR_NOMEM;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = utf8_next(p, len, i, &cp);
        if (!l) {
            if (bad_offset)
                *bad_offset = i;
            return CDX_ERR_PARSE;
        }
        out->v[out->n++] = cp;
        i += l;
    }
    return CDX_OK;
}

int cdx_utf8_validate(const char *s, size_t len, size_t *bad_offset)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = utf8_next(p, len, i, &cp);
        if (!l) {
            if (bad_offset)
                *bad_offset = i;
            return CDX_ERR_PARSE;
        }
        i += l;
    }
    return CDX_OK;
}

size_t cdx_utf8_put(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Hangul syllables (UAX #15, section 3.12). */
enum {
    H_SBASE = 0xAC00, H_LBASE = 0x1100, H_VBASE = 0x1161, H_TBASE = 0x11A7,
    H_LCOUNT = 19, H_VCOUNT = 21, H_TCOUNT = 28, H_NCOUNT = 588, H_SCOUNT = 11172
};

static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a >= H_LBASE && a < H_LBASE + H_LCOUNT && b >= H_VBASE && b < H_VBASE + H_VCOUNT)
        return H_SBASE + ((a - H_LBASE) * H_VCOUNT + (b - H_VBASE)) * H_TCOUNT;
    if (a >= H_SBASE && a < H_SBASE + H_SCOUNT && (a - H_SBASE) % H_TCOUNT == 0 && b > H_TBASE &&
        b < H_TBASE + H_TCOUNT)
        return a + (b - H_TBASE);
    size_t lo = 0, hi = cdx_uc_n_pairs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const cdx_uc_pair *p = &cdx_uc_pairs[mid];
        if (p->first < a || (p->first == a && p->second < b))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < cdx_uc_n_pairs && cdx_uc_pairs[lo].first == a && cdx_uc_pairs[lo].second == b)
        return cdx_uc_pairs[lo].composite;
    return 0;
}

int cdx_uc_nfc(const uint32_t *in, size_t n, cdx_u32buf *out)
{
    /* Quick-check characters are starters NFC leaves alone and never combine
     * with what precedes them, so the text up to the last one before the
     * first other character passes through; that last one may still take
     * combining marks and goes through the full algorithm. */
    size_t i = 0;
    while (i < n && cdx_uc_has(in[i], CDX_UC_F_NFC_QC))
        i++;
    if (cdx_u32buf_grow(out, n) != CDX_OK)
        return CDX_ERR_NOMEM;
    if (i == n) {
        memcpy(out->v + out->n, in, n * sizeof *in);
        out->n += n;
        return CDX_OK;
    }
    if (i > 0)
        i--;
    memcpy(out->v + out->n, in, i * sizeof *in);
    out->n += i;

    /* Decompose the rest. */
    size_t start = out->n;
    for (; i < n; i++) {
        uint32_t cp = in[i];
        if (cp >= H_SBASE && cp < H_SBASE + H_SCOUNT) {
            uint32_t s = cp - H_SBASE;
            if (cdx_u32buf_grow(out, 3) != CDX_OK)
                return CDX_ERR_NOMEM;
            out->v[out->n++] = H_LBASE + s / H_NCOUNT;
            out->v[out->n++] = H_VBASE + (s % H_NCOUNT) / H_TCOUNT;
            if (s % H_TCOUNT)
                out->v[out->n++] = H_TBASE + s % H_TCOUNT;
            continue;
        }
        const cdx_uc_record *r = cdx_uc_get(cp);
        if (r->decomp) {
            const uint32_t *seq = &cdx_uc_seq[r->decomp];
            if (cdx_u32buf_grow(out, seq[0]) != CDX_OK)
                return CDX_ERR_NOMEM;
            memcpy(out->v + out->n, seq + 1, seq[0] * sizeof *seq);
            out->n += seq[0];
        } else {
            if (cdx_u32buf_grow(out, 1) != CDX_OK)
                return CDX_ERR_NOMEM;
            out->v[out->n++] = cp;
        }
    }
    uint32_t *d = out->v + start;
    size_t dn = out->n - start;

    /* Canonical ordering: a stable insertion sort inside each run of non-starters. */
    for (size_t k = 1; k < dn; k++) {
        uint8_t c = cdx_uc_get(d[k])->ccc;
        if (!c)
            continue;
        size_t j = k;
        uint32_t cp = d[k];
        while (j > 0 && cdx_uc_get(d[j - 1])->ccc > c) {
            d[j] = d[j - 1];
            j--;
        }
        d[j] = cp;
    }

    /* Canonical composition in place: w is the write index, starter the last
     * starter written; in canonical order the last character written has the
     * highest class of those between it and the starter. */
    size_t w = 0, starter = (size_t)-1;
    uint8_t last_ccc = 0;
    for (size_t k = 0; k < dn; k++) {
        uint32_t cp = d[k];
        uint8_t c = cdx_uc_get(cp)->ccc;
        if (starter != (size_t)-1) {
            int adjacent = (w - 1 == starter);
            if (adjacent || (last_ccc != 0 && last_ccc < c)) {
                uint32_t comp = cdx_uc_has(cp, CDX_UC_F_COMP2) ? compose_pair(d[starter], cp) : 0;
                if (comp) {
                    d[starter] = comp;
                    continue;
                }
            }
        }
        if (c == 0)
            starter = w;
        last_ccc = c;
        d[w++] = cp;
    }
    out->n = start + w;
    return CDX_OK;
}

int cdx_uc_lower(const uint32_t *in, size_t n, cdx_u32buf *out)
{
    if (cdx_u32buf_grow(out, n) != CDX_OK)
        return CDX_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = in[i];
        if (cp < 0x80) {
            if (cdx_u32buf_grow(out, 1) != CDX_OK)
                return CDX_ERR_NOMEM;
            out->v[out->n++] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
            continue;
        }
        const cdx_uc_record *r = cdx_uc_get(cp);
        if (!r->lower) {
            if (cdx_u32buf_grow(out, 1) != CDX_OK)
                return CDX_ERR_NOMEM;
            out->v[out->n++] = cp;
            continue;
        }
        const uint32_t *seq = &cdx_uc_seq[r->lower];
        if (cdx_u32buf_grow(out, seq[0]) != CDX_OK)
            return CDX_ERR_NOMEM;
        memcpy(out->v + out->n, seq + 1, seq[0] * sizeof *seq);
        out->n += seq[0];
    }
    return CDX_OK;
}
