/* Small containers behind the tokenizers: a string -> id map for
 * vocabularies, a pair -> (rank, id) map for BPE merges, growable scratch
 * buffers, whole-file reads and the added-token matcher. Maps are filled at
 * load time and only read afterwards, so any number of threads may share them. */
#include "encoder/tok_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- hashing --------------------------------------------------------------- */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0x100000001B3ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ mix64(w)) * 0x100000001B3ULL;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    return mix64(h ^ w ^ ((uint64_t)n << 56));
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c *= 2;
    return c;
}

/* ---- string map ------------------------------------------------------------ */
typedef struct strmap_slot {
    uint64_t hash;
    uint32_t off, len; /* key bytes in keys[off..off+len) */
    int32_t value;
    int32_t used;
} strmap_slot;

struct cdx_strmap {
    strmap_slot *slots;
    size_t cap, count;
    char *keys;
    size_t keys_n, keys_cap;
};

cdx_strmap *cdx_strmap_new(size_t expected)
{
    cdx_strmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = pow2_at_least(expected * 2 + 16);
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void cdx_strmap_free(cdx_strmap *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m->keys);
    free(m);
}

static strmap_slot *strmap_find(const cdx_strmap *m, const char *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    for (;;) {
        strmap_slot *s = &m->slots[i];
        if (!s->used)
            return s;
        if (s->hash == h && s->len == len && memcmp(m->keys + s->off, key, len) == 0)
            return s;
        i = (i + 1) & mask;
    }
}

static int strmap_rehash(cdx_strmap *m)
{
    size_t cap = m->cap * 2;
    strmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return CDX_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].used)
            continue;
        size_t j = (size_t)m->slots[i].hash & (cap - 1);
        while (slots[j].used)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return CDX_OK;
}

int cdx_strmap_put(cdx_strmap *m, const char *key, size_t len, int32_t value)
{
    if (len > UINT32_MAX / 2)
        return CDX_ERR_TOOBIG;
    if ((m->count + 1) * 2 > m->cap && strmap_rehash(m) != CDX_OK)
        return CDX_ERR_NOMEM;
    uint64_t h = hash_bytes(key, len);
    strmap_slot *s = strmap_find(m, key, len, h);
    if (s->used) {
        s->value = value;
        return CDX_OK;
    }
    if (m->keys_cap - m->keys_n < len + 1) {
        size_t cap = m->keys_cap ? m->keys_cap : 4096;
        while (cap - m->keys_n < len + 1)
            cap *= 2;
        if (cap > UINT32_MAX)
            return CDX_ERR_TOOBIG;
        char *k = realloc(m->keys, cap);
        if (!k)
            return CDX_ERR_NOMEM;
        m->keys = k;
        m->keys_cap = cap;
    }
    memcpy(m->keys + m->keys_n, key, len);
    m->keys[m->keys_n + len] = '\0';
    s->hash = h;
    s->off = (uint32_t)m->keys_n;
    s->len = (uint32_t)len;
    s->value = value;
    s->used = 1;
    m->keys_n += len + 1;
    m->count++;
    return CDX_OK;
}

int cdx_strmap_get(const cdx_strmap *m, const char *key, size_t len, int32_t *value)
{
    const strmap_slot *s = strmap_find(m, key, len, hash_bytes(key, len));
    if (!s->used)
        return 0;
    *value = s->value;
    return 1;
}

size_t cdx_strmap_count(const cdx_strmap *m) { return m->count; }

/* ---- pair map -------------------------------------------------------------- */
typedef struct pairmap_slot {
    uint64_t key; /* key + 1, so 0 marks an empty slot */
    int32_t a, b;
} pairmap_slot;

struct cdx_pairmap {
    pairmap_slot *slots;
    size_t cap, count;
};

cdx_pairmap *cdx_pairmap_new(size_t expected)
{
    cdx_pairmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = pow2_at_least(expected * 2 + 16);
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void cdx_pairmap_free(cdx_pairmap *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m);
}

static int pairmap_insert(cdx_pairmap *m, uint64_t key, int32_t a, int32_t b, int replace)
{
    if ((m->count + 1) * 2 > m->cap) {
        size_t cap = m->cap * 2;
        pairmap_slot *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return CDX_ERR_NOMEM;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->slots[i].key)
                continue;
            size_t j = (size_t)mix64(m->slots[i].key - 1) & (cap - 1);
            while (slots[j].key)
                j = (j + 1) & (cap - 1);
            slots[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    size_t i = (size_t)mix64(key) & (m->cap - 1);
    while (m->slots[i].key) {
        if (m->slots[i].key == key + 1) {
            if (replace) {
                m->slots[i].a = a;
                m->slots[i].b = b;
            }
            return CDX_OK;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->slots[i].key = key + 1;
    m->slots[i].a = a;
    m->slots[i].b = b;
    m->count++;
    return CDX_OK;
}

int cdx_pairmap_put(cdx_pairmap *m, uint64_t key, int32_t a, int32_t b) { return pairmap_insert(m, key, a, b, 0); }
int cdx_pairmap_replace(cdx_pairmap *m, uint64_t key, int32_t a, int32_t b) { return pairmap_insert(m, key, a, b, 1); }

int cdx_pairmap_get(const cdx_pairmap *m, uint64_t key, int32_t *a, int32_t *b)
{
    size_t i = (size_t)mix64(key) & (m->cap - 1);
    while (m->slots[i].key) {
        if (m->slots[i].key == key + 1) {
            *a = m->slots[i].a;
            *b = m->slots[i].b;
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return 0;
}

/* ---- buffers --------------------------------------------------------------- */
int cdx_bytebuf_grow(cdx_bytebuf *b, size_t extra)
{
    return cdx_array_grow((void **)&b->v, &b->cap, b->n, extra, 1, 256);
}

int cdx_bytebuf_append(cdx_bytebuf *b, const void *data, size_t n)
{
    if (cdx_bytebuf_grow(b, n) != CDX_OK)
        return CDX_ERR_NOMEM;
    if (n)
        memcpy(b->v + b->n, data, n);
    b->n += n;
    return CDX_OK;
}

void cdx_bytebuf_free(cdx_bytebuf *b)
{
    if (!b)
        return;
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

int cdx_idbuf_push(cdx_idbuf *b, int32_t id)
{
    if (cdx_array_grow((void **)&b->v, &b->cap, b->n, 1, sizeof *b->v, 128) != CDX_OK)
        return CDX_ERR_NOMEM;
    b->v[b->n++] = id;
    return CDX_OK;
}

void cdx_idbuf_free(cdx_idbuf *b)
{
    if (!b)
        return;
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

int cdx_tok_encode_error(cdx_errbuf *eb, int rc)
{
    if (rc == CDX_ERR_NOMEM)
        return cdx_errbuf_set(eb, rc, "tokenize: out of memory");
    if (rc == CDX_ERR_TOOBIG)
        return cdx_errbuf_set(eb, rc, "tokenize: the model's normalizer expands this text more than 64-fold; "
                                      "check the tokenizer files");
    return cdx_errbuf_set(eb, rc, "tokenize: %s", cdx_strerror(rc));
}

/* ---- files ----------------------------------------------------------------- */
int cdx_tok_read_file(const char *path, size_t max_bytes, char **data, size_t *len, cdx_errbuf *eb)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cdx_errbuf_set(eb, errno == ENOENT ? CDX_ERR_NOTFOUND : CDX_ERR_IO, "open %s: %s", path,
                              strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return cdx_errbuf_set(eb, CDX_ERR_IO, "read %s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return cdx_errbuf_set(eb, CDX_ERR_TOOBIG, "read %s: %lld bytes is more than the %zu allowed for a tokenizer file",
                              path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "read %s: out of memory for %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(buf);
        return cdx_errbuf_set(eb, CDX_ERR_IO, "read %s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return CDX_OK;
}

/* ---- whitespace stripping on UTF-8 ------------------------------------------ */
static uint32_t cp_at(const unsigned char *s, size_t i, size_t *len)
{
    size_t l = cdx_utf8_len_of_lead(s[i]);
    uint32_t cp = l == 1 ? s[i] : (uint32_t)(s[i] & (l == 2 ? 0x1F : l == 3 ? 0x0F : 0x07));
    for (size_t k = 1; k < l; k++)
        cp = (cp << 6) | (s[i + k] & 0x3F);
    *len = l;
    return cp;
}

size_t cdx_utf8_lstrip_flag(const char *s, size_t lo, size_t hi, unsigned flag)
{
    const unsigned char *u = (const unsigned char *)s;
    while (lo < hi) {
        size_t l;
        if (!cdx_uc_has(cp_at(u, lo, &l), flag))
            break;
        lo += l;
    }
    return lo;
}

size_t cdx_utf8_rstrip_flag(const char *s, size_t lo, size_t hi, unsigned flag)
{
    const unsigned char *u = (const unsigned char *)s;
    while (hi > lo) {
        size_t start = hi - 1, l;
        while (start > lo && (u[start] & 0xC0) == 0x80)
            start--;
        if (!cdx_uc_has(cp_at(u, start, &l), flag))
            break;
        hi = start;
    }
    return hi;
}

/* ---- added tokens ---------------------------------------------------------- */
int cdx_added_find(const cdx_added_token *toks, size_t n_toks, int want_normalized, const char *s,
                   size_t n, size_t from, size_t *at)
{
    uint8_t first[256] = {0};
    int any = 0;
    for (size_t t = 0; t < n_toks; t++) {
        if ((toks[t].normalized != 0) == (want_normalized != 0) && toks[t].len > 0) {
            first[(unsigned char)toks[t].content[0]] = 1;
            any = 1;
        }
    }
    if (!any)
        return -1;
    for (size_t i = from; i < n; i++) {
        if (!first[(unsigned char)s[i]])
            continue;
        int best = -1;
        size_t best_len = 0;
        for (size_t t = 0; t < n_toks; t++) {
            const cdx_added_token *k = &toks[t];
            if ((k->normalized != 0) != (want_normalized != 0) || k->len == 0 || k->len > n - i ||
                k->len <= best_len)
                continue;
            if (memcmp(s + i, k->content, k->len) == 0) {
                best = (int)t;
                best_len = k->len;
            }
        }
        if (best >= 0) {
            *at = i;
            return best;
        }
    }
    return -1;
}
