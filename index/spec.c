/* Index spec strings: a table of kinds, each with a table of the keys it
 * takes, walked by one parser and one formatter. */
#include "index/spec.h"

#include "common/util.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct spec_key {
    const char *name;
    size_t offset;   /* of the int32_t field in cdx_index_spec */
    int32_t min, max;
} spec_key;

#define KEY(n, field, lo, hi) {n, offsetof(cdx_index_spec, field), lo, hi}

static const spec_key hnsw_keys[] = {KEY("m", m, 4, 256), KEY("efc", efc, 8, 4096), KEY("efs", efs, 1, 32768)};
static const spec_key ivf_keys[] = {KEY("nlist", nlist, 0, 1 << 22), KEY("nprobe", nprobe, 1, 1 << 22)};
static const spec_key ivfpq_keys[] = {KEY("nlist", nlist, 0, 1 << 22), KEY("m", pq_m, 0, 4096),
                                      KEY("nbits", pq_nbits, 4, 8), KEY("nprobe", nprobe, 1, 1 << 22),
                                      KEY("rerank", rerank, 0, 100)};
static const spec_key sq8_keys[] = {KEY("rerank", rerank, 0, 100)};

typedef struct spec_kind {
    enum cdx_index_kind kind;
    const char *name;
    const spec_key *keys;
    size_t n_keys;
    cdx_index_spec defaults;
} spec_kind;

static const spec_kind kinds[] = {
    {CDX_INDEX_AUTO, "auto", NULL, 0, {.kind = CDX_INDEX_AUTO}},
    {CDX_INDEX_FLAT, "flat", NULL, 0, {.kind = CDX_INDEX_FLAT}},
    {CDX_INDEX_HNSW, "hnsw", hnsw_keys, CDX_ARRAY_LEN(hnsw_keys), {.kind = CDX_INDEX_HNSW, .m = 32, .efc = 200, .efs = 64}},
    {CDX_INDEX_IVF, "ivf", ivf_keys, CDX_ARRAY_LEN(ivf_keys), {.kind = CDX_INDEX_IVF, .nprobe = 16}},
    {CDX_INDEX_IVFPQ, "ivfpq", ivfpq_keys, CDX_ARRAY_LEN(ivfpq_keys),
     {.kind = CDX_INDEX_IVFPQ, .pq_nbits = 8, .nprobe = 16, .rerank = 10}},
    {CDX_INDEX_SQ8, "sq8", sq8_keys, CDX_ARRAY_LEN(sq8_keys), {.kind = CDX_INDEX_SQ8}},
    {CDX_INDEX_FAISS_FLAT, "faissflat", NULL, 0, {.kind = CDX_INDEX_FAISS_FLAT}},
};

static const spec_kind *kind_of(enum cdx_index_kind k)
{
    for (size_t i = 0; i < CDX_ARRAY_LEN(kinds); i++)
        if (kinds[i].kind == k)
            return &kinds[i];
    return &kinds[0];
}

const char *cdx_index_kind_name(enum cdx_index_kind kind) { return kind_of(kind)->name; }

cdx_index_spec cdx_index_spec_default(enum cdx_index_kind kind) { return kind_of(kind)->defaults; }

static int32_t *field(cdx_index_spec *s, const spec_key *k) { return (int32_t *)(void *)((char *)s + k->offset); }

static void list_keys(const spec_kind *sk, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sk->n_keys && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", sk->keys[i].name);
}

int cdx_index_spec_parse(const char *s, cdx_index_spec *out, cdx_errbuf *eb)
{
    if (!s || !*s)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "index spec is empty: expected auto, flat, hnsw, ivf, ivfpq, sq8 or faissflat");
    size_t nlen = strcspn(s, ":");
    const spec_kind *sk = NULL;
    for (size_t i = 0; i < CDX_ARRAY_LEN(kinds); i++)
        if (strlen(kinds[i].name) == nlen && strncmp(kinds[i].name, s, nlen) == 0)
            sk = &kinds[i];
    if (!sk)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE,
                              "index spec '%s': unknown kind '%.*s' (expected auto, flat, hnsw, ivf, ivfpq, sq8 or faissflat)", s,
                              (int)CDX_MIN(nlen, 32), s);
    cdx_index_spec spec = sk->defaults;
    const char *p = s + nlen;
    if (*p == ':') {
        p++;
        if (sk->n_keys == 0)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "index spec '%s': %s takes no parameters", s, sk->name);
        unsigned seen = 0;
        for (;;) {
            size_t klen = strcspn(p, "=,");
            if (p[klen] != '=')
                return cdx_errbuf_set(eb, CDX_ERR_PARSE, "index spec '%s': expected key=value at '%.32s'", s, p);
            const spec_key *key = NULL;
            size_t ki = 0;
            for (; ki < sk->n_keys; ki++)
                if (strlen(sk->keys[ki].name) == klen && strncmp(sk->keys[ki].name, p, klen) == 0) {
                    key = &sk->keys[ki];
                    break;
                }
            if (!key) {
                char allowed[96];
                list_keys(sk, allowed, sizeof allowed);
                return cdx_errbuf_set(eb, CDX_ERR_PARSE, "index spec '%s': %s has no key '%.*s' (keys: %s)", s,
                                      sk->name, (int)CDX_MIN(klen, 32), p, allowed);
            }
            if (seen & (1u << ki))
                return cdx_errbuf_set(eb, CDX_ERR_PARSE, "index spec '%s': key '%s' given twice", s, key->name);
            seen |= 1u << ki;
            const char *v = p + klen + 1;
            char *end;
            long val = strtol(v, &end, 10);
            if (end == v || (*end && *end != ',') || val < key->min || val > key->max)
                return cdx_errbuf_set(eb, CDX_ERR_PARSE, "index spec '%s': %s must be an integer in [%d, %d]", s,
                                      key->name, key->min, key->max);
            *field(&spec, key) = (int32_t)val;
            if (!*end)
                break;
            p = end + 1;
        }
    } else if (*p) {
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "index spec '%s': expected ':' after the kind", s);
    }
    *out = spec;
    return CDX_OK;
}

void cdx_index_spec_format(const cdx_index_spec *s, char *buf, size_t cap)
{
    const spec_kind *sk = kind_of(s->kind);
    size_t used = (size_t)snprintf(buf, cap, "%s", sk->name);
    cdx_index_spec copy = *s;
    for (size_t i = 0; i < sk->n_keys && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%c%s=%d", i ? ',' : ':', sk->keys[i].name,
                                 *field(&copy, &sk->keys[i]));
}

void cdx_index_spec_resolve(cdx_index_spec *s, int64_t n, int32_t dim)
{
    if ((s->kind == CDX_INDEX_IVF || s->kind == CDX_INDEX_IVFPQ) && s->nlist == 0) {
        int64_t nl = (int64_t)(4.0 * sqrt((double)(n > 0 ? n : 1)));
        nl = CDX_MIN(nl, n / 39);
        s->nlist = (int32_t)CDX_MAX(nl, 1);
    }
    if (s->kind == CDX_INDEX_IVFPQ && s->pq_m == 0) {
        int32_t m = CDX_MAX(dim / 8, 1);
        while (m > 1 && dim % m != 0)
            m--;
        s->pq_m = m;
    }
    if ((s->kind == CDX_INDEX_IVF || s->kind == CDX_INDEX_IVFPQ) && s->nprobe > s->nlist && s->nlist > 0)
        s->nprobe = s->nlist;
}

int32_t cdx_index_spec_effort(const cdx_index_spec *s)
{
    switch (s->kind) {
    case CDX_INDEX_HNSW:
        return s->efs;
    case CDX_INDEX_IVF:
    case CDX_INDEX_IVFPQ:
        return s->nprobe;
    default:
        return 0;
    }
}

void cdx_index_spec_set_effort(cdx_index_spec *s, int32_t effort)
{
    if (s->kind == CDX_INDEX_HNSW)
        s->efs = effort;
    else if (s->kind == CDX_INDEX_IVF || s->kind == CDX_INDEX_IVFPQ)
        s->nprobe = effort;
}
