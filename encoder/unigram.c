/* SentencePiece unigram for SigLIP: spiece.model parsing, SentencePiece's
 * normalizer and Viterbi segmentation, and the text canonicalization Hugging
 * Face's SiglipTokenizer applies around them.
 *
 * spiece.model is a protobuf ModelProto; a small reader below takes the
 * fields tokenization needs (pieces with score and type; trainer_spec
 * model_type, byte_fallback, treat_whitespace_as_suffix; normalizer_spec
 * precompiled_charsmap, add_dummy_prefix, remove_extra_whitespaces,
 * escape_whitespaces) and skips the rest, checking every length.
 *
 * Normalization and segmentation follow SentencePiece (normalizer.cc,
 * unigram_model.cc EncodeOptimized): the charsmap is a Darts double-array
 * trie of longest-prefix rewrites; the best path maximises the float32 sum of
 * piece scores; a character no piece covers becomes <unk> with score
 * min_score - 10, and runs of them are split into <0xXX> byte pieces when the
 * model has byte fallback.
 *
 * Around it, SiglipTokenizer (transformers, slow tokenizer; HF turns
 * add_dummy_prefix off and emulates it): "▁" + text with "▁" replaced by " ";
 * lowercase per character; split out </s> and <unk> (eating whitespace on
 * both sides); each other chunk loses ASCII punctuation, has whitespace runs
 * collapsed and is stripped, then is encoded as "<unk>" + chunk with the
 * pieces of "<unk>" dropped again. Read-only after loading; thread-safe. */
#include "encoder/tok_internal.h"

#include "common/util.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PIECE_NORMAL = 1, PIECE_UNKNOWN = 2, PIECE_CONTROL = 3, PIECE_USER_DEFINED = 4, PIECE_UNUSED = 5, PIECE_BYTE = 6 };
#define MAX_PIECES (1 << 22)
#define SPACE_SYMBOL "\xE2\x96\x81" /* U+2581 */
#define UNK_PENALTY 10.0f

typedef struct piece {
    const char *s; /* into the model blob copy */
    uint32_t len;
    float score;
    int32_t type;
} piece;

struct cdx_unigram {
    char *blob; /* a copy of spiece.model; pieces and the charsmap point into it */
    size_t blob_len;
    piece *pieces;
    int32_t n_pieces;
    cdx_strmap *normal;   /* NORMAL, USER_DEFINED, UNUSED pieces -> id (SentencePiece's pieces_) */
    cdx_strmap *reserved; /* CONTROL, UNKNOWN, BYTE pieces -> id (reserved_id_map_) */
    cdx_pairmap *trie;    /* (node << 8 | byte) -> (child node, id of the piece ending here or -1) */
    cdx_pairmap *user_trie; /* the same over USER_DEFINED pieces only (the normalizer's prefix matcher) */
    int32_t n_user;
    int32_t unk_id, eos_id, pad_id;
    float min_score, max_score;
    int byte_fallback, model_type, treat_ws_as_suffix;
    int add_dummy_prefix, remove_extra_ws, escape_ws;
    const uint32_t *charsmap_units; /* not aligned: read with memcpy */
    const unsigned char *charsmap_units_raw;
    size_t n_units;
    const char *charsmap_pool;
    size_t pool_len;
    int32_t unk_prefix_pieces; /* pieces of "<unk>", dropped after encoding "<unk>" + chunk */
    int32_t model_max_length;
};

/* ---- protobuf wire format ---------------------------------------------------- */
typedef struct pb {
    const unsigned char *p, *end;
} pb;

static int pb_varint(pb *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return 0;
        unsigned char c = *r->p++;
        x |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return 0;
}

/* Reads one field header and its payload: for length-delimited fields *sub is
 * the payload; for varints *v; fixed32 in *f32. 0 on malformed input. */
typedef struct pb_field {
    uint32_t number, wire;
    uint64_t v;
    uint32_t f32;
    pb sub;
} pb_field;

static int pb_next(pb *r, pb_field *f)
{
    uint64_t key;
    if (!pb_varint(r, &key) || (key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF)
        return 0;
    f->number = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    switch (f->wire) {
    case 0:
        return pb_varint(r, &f->v);
    case 1:
        if (r->end - r->p < 8)
            return 0;
        r->p += 8;
        return 1;
    case 2: {
        uint64_t n;
        if (!pb_varint(r, &n) || n > (uint64_t)(r->end - r->p))
            return 0;
        f->sub.p = r->p;
        f->sub.end = r->p + n;
        r->p += n;
        return 1;
    }
    case 5:
        if (r->end - r->p < 4)
            return 0;
        f->f32 = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
        r->p += 4;
        return 1;
    default:
        return 0; /* groups (3, 4) are not used by sentencepiece_model.proto */
    }
}

void cdx_unigram_free(cdx_unigram *u)
{
    if (!u)
        return;
    free(u->blob);
    free(u->pieces);
    cdx_strmap_free(u->normal);
    cdx_strmap_free(u->reserved);
    cdx_pairmap_free(u->trie);
    cdx_pairmap_free(u->user_trie);
    free(u);
}

void cdx_unigram_describe(const cdx_unigram *u, cdx_tok_model_info *info)
{
    info->bos_id = -1;
    info->eos_id = u->eos_id;
    info->unk_id = u->unk_id;
    info->pad_id = u->pad_id;
    info->vocab_size = u->n_pieces;
    info->lowercase = 1;
    info->model_max_length = u->model_max_length;
}

static int parse_piece(cdx_unigram *u, pb sub, const char *what, cdx_errbuf *eb)
{
    piece pc = {NULL, 0, 0.0f, PIECE_NORMAL};
    pb_field f;
    while (sub.p < sub.end) {
        if (!pb_next(&sub, &f))
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: piece %d is malformed protobuf", what, u->n_pieces);
        if (f.number == 1 && f.wire == 2) {
            pc.s = (const char *)f.sub.p;
            pc.len = (uint32_t)(f.sub.end - f.sub.p);
        } else if (f.number == 2 && f.wire == 5) {
            memcpy(&pc.score, &f.f32, sizeof pc.score);
        } else if (f.number == 3 && f.wire == 0) {
            pc.type = (int32_t)f.v;
        }
    }
    if (!pc.s || pc.len == 0)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: piece %d is empty", what, u->n_pieces);
    if (pc.type < PIECE_NORMAL || pc.type > PIECE_BYTE)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: piece %d has unknown type %d", what, u->n_pieces, pc.type);
    size_t bad;
    if (cdx_utf8_validate(pc.s, pc.len, &bad) != CDX_OK)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: piece %d is not valid UTF-8", what, u->n_pieces);
    u->pieces[u->n_pieces++] = pc;
    return CDX_OK;
}

static int parse_model(cdx_unigram *u, const char *what, cdx_errbuf *eb)
{
    pb r = {(const unsigned char *)u->blob, (const unsigned char *)u->blob + u->blob_len};
    size_t n_pieces = 0;
    pb_field f;
    /* First pass: count pieces. */
    for (pb c = r; c.p < c.end;) {
        if (!pb_next(&c, &f))
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: not a SentencePiece model (malformed protobuf at byte %td)", what,
                                  (const char *)c.p - u->blob);
        if (f.number == 1 && f.wire == 2)
            n_pieces++;
    }
    if (n_pieces == 0 || n_pieces > MAX_PIECES)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: a SentencePiece model needs 1..%d pieces, this has %zu", what,
                              MAX_PIECES, n_pieces);
    u->pieces = calloc(n_pieces, sizeof *u->pieces);
    if (!u->pieces)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
    u->model_type = 1;
    u->add_dummy_prefix = u->remove_extra_ws = u->escape_ws = 1;
    const unsigned char *charsmap = NULL;
    size_t charsmap_len = 0;
    while (r.p < r.end) {
        pb_next(&r, &f);
        if (f.number == 1 && f.wire == 2) {
            int rc = parse_piece(u, f.sub, what, eb);
            if (rc != CDX_OK)
                return rc;
        } else if (f.number == 2 && f.wire == 2) { /* TrainerSpec */
            pb_field g;
            while (f.sub.p < f.sub.end) {
                if (!pb_next(&f.sub, &g))
                    return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: trainer_spec is malformed protobuf", what);
                if (g.wire != 0)
                    continue;
                if (g.number == 3)
                    u->model_type = (int)g.v;
                else if (g.number == 24)
                    u->treat_ws_as_suffix = g.v != 0;
                else if (g.number == 35)
                    u->byte_fallback = g.v != 0;
            }
        } else if (f.number == 3 && f.wire == 2) { /* NormalizerSpec */
            pb_field g;
            while (f.sub.p < f.sub.end) {
                if (!pb_next(&f.sub, &g))
                    return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: normalizer_spec is malformed protobuf", what);
                if (g.number == 2 && g.wire == 2) {
                    charsmap = g.sub.p;
                    charsmap_len = (size_t)(g.sub.end - g.sub.p);
                } else if (g.wire == 0 && g.number == 3) {
                    u->add_dummy_prefix = g.v != 0;
                } else if (g.wire == 0 && g.number == 4) {
                    u->remove_extra_ws = g.v != 0;
                } else if (g.wire == 0 && g.number == 5) {
                    u->escape_ws = g.v != 0;
                }
            }
        }
    }
    if (u->model_type != 1)
        return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED, "%s: SentencePiece model_type %d; only unigram (1) is supported",
                              what, u->model_type);
    if (u->treat_ws_as_suffix)
        return cdx_errbuf_set(eb, CDX_ERR_UNSUPPORTED, "%s: treat_whitespace_as_suffix is not supported", what);
    if (charsmap && charsmap_len > 0) {
        if (charsmap_len < 4)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: precompiled_charsmap is truncated", what);
        uint32_t trie_size = (uint32_t)charsmap[0] | (uint32_t)charsmap[1] << 8 | (uint32_t)charsmap[2] << 16 |
                             (uint32_t)charsmap[3] << 24;
        if (trie_size % 4 != 0 || trie_size > charsmap_len - 4 || trie_size == 0)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: precompiled_charsmap trie size %u does not fit its %zu bytes",
                                  what, trie_size, charsmap_len);
        u->charsmap_units_raw = charsmap + 4;
        u->n_units = trie_size / 4;
        u->charsmap_pool = (const char *)charsmap + 4 + trie_size;
        u->pool_len = charsmap_len - 4 - trie_size;
    }
    return CDX_OK;
}

/* ---- tries ---------------------------------------------------------------- */
static int trie_add(cdx_pairmap *t, int32_t *n_nodes, const char *s, size_t n, int32_t id)
{
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = ((uint64_t)(uint32_t)node << 8) | (unsigned char)s[i];
        int32_t child, pid;
        if (!cdx_pairmap_get(t, key, &child, &pid)) {
            child = (*n_nodes)++;
            if (cdx_pairmap_put(t, key, child, i + 1 == n ? id : -1) != CDX_OK)
                return CDX_ERR_NOMEM;
        } else if (i + 1 == n && pid < 0) {
            /* The node exists as a prefix of a longer piece: record the id (the map keeps first values, so rebuild). */
            if (cdx_pairmap_replace(t, key, child, id) != CDX_OK)
                return CDX_ERR_NOMEM;
        }
        node = child;
    }
    return CDX_OK;
}

static int build(cdx_unigram *u, const char *what, cdx_errbuf *eb)
{
    u->normal = cdx_strmap_new((size_t)u->n_pieces);
    u->reserved = cdx_strmap_new(64);
    u->trie = cdx_pairmap_new((size_t)u->n_pieces * 4);
    u->user_trie = cdx_pairmap_new(64);
    if (!u->normal || !u->reserved || !u->trie || !u->user_trie)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
    u->unk_id = u->eos_id = u->pad_id = -1;
    u->min_score = FLT_MAX;
    u->max_score = FLT_MIN; /* as SentencePiece initialises it: the smallest positive float */
    int32_t nodes = 1, user_nodes = 1;
    for (int32_t i = 0; i < u->n_pieces; i++) {
        const piece *pc = &u->pieces[i];
        int normal = pc->type == PIECE_NORMAL || pc->type == PIECE_USER_DEFINED || pc->type == PIECE_UNUSED;
        cdx_strmap *m = normal ? u->normal : u->reserved;
        int32_t prev;
        if (cdx_strmap_get(m, pc->s, pc->len, &prev))
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: piece %d \"%.*s\" is already defined (piece %d)", what, i,
                                  (int)CDX_MIN(pc->len, 40), pc->s, prev);
        if (cdx_strmap_put(m, pc->s, pc->len, i) != CDX_OK)
            return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
        if (pc->type == PIECE_UNKNOWN) {
            if (u->unk_id >= 0)
                return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: more than one unknown piece (%d and %d)", what, u->unk_id, i);
            u->unk_id = i;
        }
        if (pc->type == PIECE_BYTE && !u->byte_fallback)
            return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: byte piece %d although byte_fallback is off", what, i);
        if (pc->type == PIECE_NORMAL) {
            u->min_score = pc->score < u->min_score ? pc->score : u->min_score;
            u->max_score = pc->score > u->max_score ? pc->score : u->max_score;
        }
        if (normal && trie_add(u->trie, &nodes, pc->s, pc->len, i) != CDX_OK)
            return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
        if (pc->type == PIECE_USER_DEFINED) {
            if (trie_add(u->user_trie, &user_nodes, pc->s, pc->len, i) != CDX_OK)
                return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
            u->n_user++;
        }
    }
    if (u->unk_id < 0)
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: the model defines no unknown piece", what);
    int32_t id;
    if (cdx_strmap_get(u->reserved, "</s>", 4, &id) || cdx_strmap_get(u->normal, "</s>", 4, &id))
        u->eos_id = u->pad_id = id;
    else
        return cdx_errbuf_set(eb, CDX_ERR_PARSE, "%s: the model has no </s> piece (SigLIP's end and padding token)", what);
    return CDX_OK;
}

/* ---- normalizer -------------------------------------------------------------- */
static uint32_t unit_at(const cdx_unigram *u, size_t i)
{
    uint32_t v;
    memcpy(&v, u->charsmap_units_raw + 4 * i, 4);
    return v;
}

/* Darts-clone commonPrefixSearch, keeping the longest match: the length of
 * the longest key that prefixes s[0..n) and its value (a pool offset). */
static size_t charsmap_longest(const cdx_unigram *u, const unsigned char *s, size_t n, uint32_t *value)
{
    if (!u->n_units)
        return 0;
    size_t best = 0;
    uint32_t unit = unit_at(u, 0);
    size_t node = (unit >> 10) << ((unit & (1u << 9)) >> 6);
    for (size_t i = 0; i < n; i++) {
        node ^= s[i];
        if (node >= u->n_units)
            return best;
        unit = unit_at(u, node);
        if ((unit & ((1u << 31) | 0xFF)) != s[i])
            return best;
        node ^= (unit >> 10) << ((unit & (1u << 9)) >> 6);
        if (node >= u->n_units)
            return best;
        if ((unit >> 8) & 1) {
            *value = unit_at(u, node) & 0x7FFFFFFFu;
            best = i + 1;
        }
    }
    return best;
}

/* SentencePiece's OneCharLen: the lead byte's nominal length. */
static size_t sp_char_len(unsigned char c) { return (size_t)"\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4]; }

static size_t user_prefix(const cdx_unigram *u, const unsigned char *s, size_t n)
{
    if (!u->n_user)
        return 0;
    int32_t node = 0;
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t child, id;
        if (!cdx_pairmap_get(u->user_trie, ((uint64_t)(uint32_t)node << 8) | s[i], &child, &id))
            break;
        if (id >= 0)
            best = i + 1;
        node = child;
    }
    return best;
}

/* Normalizer::NormalizePrefix: the replacement for the longest rule matching
 * a prefix of s, and how many input bytes it consumes. */
static size_t normalize_prefix(const cdx_unigram *u, const unsigned char *s, size_t n, const char **rep,
                               size_t *rep_len)
{
    size_t m = user_prefix(u, s, n);
    if (m) {
        *rep = (const char *)s;
        *rep_len = m;
        return m;
    }
    uint32_t value = 0;
    size_t len = charsmap_longest(u, s, n, &value);
    if (len && value < u->pool_len) {
        const char *r = u->charsmap_pool + value;
        const char *nul = memchr(r, '\0', u->pool_len - value);
        *rep = r;
        *rep_len = nul ? (size_t)(nul - r) : u->pool_len - value;
        return len;
    }
    /* No rule: one character unchanged (the input is valid UTF-8). */
    size_t l = cdx_utf8_len_of_lead(s[0]);
    if (l > n)
        l = n;
    *rep = (const char *)s;
    *rep_len = l;
    return l;
}

/* A charsmap may map one character to a long string; a model that blows a
 * text up beyond this is refused rather than allowed to exhaust memory. */
#define MAX_EXPANSION 64

static int sp_normalize(const cdx_unigram *u, const char *in, size_t n, cdx_bytebuf *out)
{
    const unsigned char *s = (const unsigned char *)in;
    const size_t limit = n * MAX_EXPANSION + 4096;
    out->n = 0;
    const char *rep;
    size_t rep_len;
    if (u->remove_extra_ws) {
        while (n > 0) {
            size_t used = normalize_prefix(u, s, n, &rep, &rep_len);
            if (!(rep_len == 1 && rep[0] == ' '))
                break;
            s += used;
            n -= used;
        }
    }
    if (n == 0)
        return CDX_OK;
    if (u->add_dummy_prefix && cdx_bytebuf_append(out, u->escape_ws ? SPACE_SYMBOL : " ", u->escape_ws ? 3 : 1))
        return CDX_ERR_NOMEM;
    int prev_space = u->remove_extra_ws;
    while (n > 0) {
        size_t used = normalize_prefix(u, s, n, &rep, &rep_len);
        const char *p = rep;
        size_t pl = rep_len;
        if (prev_space)
            while (pl > 0 && *p == ' ')
                p++, pl--;
        if (pl > 0) {
            for (size_t k = 0; k < pl; k++) {
                int rc = (u->escape_ws && p[k] == ' ') ? cdx_bytebuf_append(out, SPACE_SYMBOL, 3)
                                                       : cdx_bytebuf_append(out, p + k, 1);
                if (rc != CDX_OK)
                    return CDX_ERR_NOMEM;
            }
            prev_space = p[pl - 1] == ' ';
        }
        s += used;
        n -= used;
        if (!u->remove_extra_ws)
            prev_space = 0;
        if (out->n > limit)
            return CDX_ERR_TOOBIG;
    }
    if (u->remove_extra_ws) {
        const char *sp = u->escape_ws ? SPACE_SYMBOL : " ";
        size_t sl = u->escape_ws ? 3 : 1;
        while (out->n >= sl && memcmp(out->v + out->n - sl, sp, sl) == 0)
            out->n -= sl;
    }
    return CDX_OK;
}

/* ---- Viterbi (unigram_model.cc EncodeOptimized) ------------------------------ */
typedef struct best_node {
    int32_t id;
    float score;
    int32_t starts_at;
} best_node;

typedef struct sp_piece_out {
    uint32_t start, len; /* in the normalized text */
    int32_t id;
} sp_piece_out;

typedef struct sp_pieces {
    sp_piece_out *v;
    size_t n, cap;
} sp_pieces;

static int pieces_push(sp_pieces *p, uint32_t start, uint32_t len, int32_t id)
{
    if (cdx_array_grow((void **)&p->v, &p->cap, p->n, 1, sizeof *p->v, 64) != CDX_OK)
        return CDX_ERR_NOMEM;
    p->v[p->n++] = (sp_piece_out){start, len, id};
    return CDX_OK;
}

/* Encodes a normalized text into pieces (appended to out). */
static int sp_viterbi(const cdx_unigram *u, const char *text, size_t size, sp_pieces *out)
{
    if (size == 0)
        return CDX_OK;
    if (size > UINT32_MAX / 2)
        return CDX_ERR_TOOBIG;
    const unsigned char *s = (const unsigned char *)text;
    best_node *best = malloc((size + 1) * sizeof *best);
    if (!best)
        return CDX_ERR_NOMEM;
    for (size_t i = 0; i <= size; i++)
        best[i] = (best_node){-1, 0.0f, -1};
    const float unk_score = u->min_score - UNK_PENALTY;
    for (size_t start = 0; start < size;) {
        const float till_here = best[start].score;
        int has_single = 0;
        size_t mblen = sp_char_len(s[start]);
        if (mblen > size - start)
            mblen = size - start;
        int32_t node = 0;
        for (size_t k = start; k < size; k++) {
            int32_t child, id;
            if (!cdx_pairmap_get(u->trie, ((uint64_t)(uint32_t)node << 8) | s[k], &child, &id))
                break;
            node = child;
            if (id < 0 || u->pieces[id].type == PIECE_UNUSED)
                continue;
            size_t end = k + 1, length = end - start;
            best_node *t = &best[end];
            /* SentencePiece computes this in double (its ternary mixes
             * float and double), compares in double and stores a float. */
            double score = u->pieces[id].type == PIECE_USER_DEFINED ? (double)((float)length * u->max_score) - 0.1
                                                                    : (double)u->pieces[id].score;
            double cand = score + (double)till_here;
            if (t->starts_at == -1 || cand > (double)t->score) {
                t->score = (float)cand;
                t->starts_at = (int32_t)start;
                t->id = id;
            }
            if (!has_single && length == mblen)
                has_single = 1;
        }
        if (!has_single) {
            best_node *t = &best[start + mblen];
            float cand = unk_score + till_here;
            if (t->starts_at == -1 || cand > t->score) {
                t->score = cand;
                t->starts_at = (int32_t)start;
                t->id = u->unk_id;
            }
        }
        start += mblen;
    }
    /* Backtrack, then reverse in place. A run of unknown pieces becomes one
     * unknown piece (SentencePiece merges them so a decoder can copy them). */
    size_t first = out->n;
    int rc = CDX_OK;
    for (size_t end = size; end > 0 && rc == CDX_OK;) {
        const best_node *b = &best[end];
        sp_piece_out *last = out->n > first ? &out->v[out->n - 1] : NULL;
        if (b->id == u->unk_id && last && last->id == u->unk_id) {
            last->len += last->start - (uint32_t)b->starts_at;
            last->start = (uint32_t)b->starts_at;
        } else {
            rc = pieces_push(out, (uint32_t)b->starts_at, (uint32_t)(end - (size_t)b->starts_at), b->id);
        }
        end = (size_t)b->starts_at;
    }
    for (size_t i = first, j = out->n ? out->n - 1 : 0; i < j; i++, j--) {
        sp_piece_out tmp = out->v[i];
        out->v[i] = out->v[j];
        out->v[j] = tmp;
    }
    free(best);
    return rc;
}

/* SentencePieceProcessor::Encode + PopulateSentencePieceText on one chunk,
 * then transformers' piece -> id conversion. Returns the ids. */
typedef struct sp_scratch {
    int first_is_space_symbol; /* the last sp_encode_ids emitted exactly one piece, and it was "▁" */
    cdx_bytebuf norm, text, chunk;
    sp_pieces pieces;
    cdx_u32buf cps, lower;
} sp_scratch;

static void sp_scratch_free(sp_scratch *sc)
{
    cdx_bytebuf_free(&sc->norm);
    cdx_bytebuf_free(&sc->text);
    cdx_bytebuf_free(&sc->chunk);
    free(sc->pieces.v);
    cdx_u32buf_free(&sc->cps);
    cdx_u32buf_free(&sc->lower);
}

/* transformers' convert_tokens_to_ids on one piece string: the added tokens
 * first (</s>, <unk>), then SentencePiece's PieceToId (reserved pieces, then
 * the others), else <unk>. */
static int32_t piece_to_id(const cdx_unigram *u, const char *s, size_t n)
{
    int32_t id;
    if (n == 4 && memcmp(s, "</s>", 4) == 0)
        return u->eos_id;
    if (n == 5 && memcmp(s, "<unk>", 5) == 0)
        return u->unk_id;
    if (cdx_strmap_get(u->reserved, s, n, &id) || cdx_strmap_get(u->normal, s, n, &id))
        return id;
    return u->unk_id;
}

/* Encodes text with SentencePiece and appends the piece strings' ids, except
 * the first `skip` pieces. Returns the number of pieces in *n_pieces. */
static int sp_encode_ids(const cdx_unigram *u, const char *text, size_t len, int32_t skip, sp_scratch *sc,
                         cdx_idbuf *ids, int32_t *n_pieces)
{
    int rc = sp_normalize(u, text, len, &sc->norm);
    if (rc != CDX_OK)
        return rc;
    sc->pieces.n = 0;
    if ((rc = sp_viterbi(u, sc->norm.v, sc->norm.n, &sc->pieces)) != CDX_OK)
        return rc;
    int32_t count = 0;
    sc->first_is_space_symbol = 0;
    for (size_t i = 0; i < sc->pieces.n; i++) {
        const sp_piece_out *p = &sc->pieces.v[i];
        const char *w = sc->norm.v + p->start;
        if (p->id == u->unk_id && u->byte_fallback) {
            for (uint32_t k = 0; k < p->len; k++, count++) {
                if (count < skip)
                    continue;
                char name[8];
                snprintf(name, sizeof name, "<0x%02X>", (unsigned)(unsigned char)w[k]);
                if (cdx_idbuf_push(ids, piece_to_id(u, name, 6)) != CDX_OK)
                    return CDX_ERR_NOMEM;
            }
            continue;
        }
        if (count++ < skip)
            continue;
        sc->first_is_space_symbol = count == skip + 1 && p->len == 3 && memcmp(w, SPACE_SYMBOL, 3) == 0;
        int32_t id = p->id == u->unk_id ? piece_to_id(u, w, p->len) : p->id;
        if (cdx_idbuf_push(ids, id) != CDX_OK)
            return CDX_ERR_NOMEM;
    }
    if (count != skip + 1)
        sc->first_is_space_symbol = 0;
    *n_pieces = count;
    return CDX_OK;
}

static int is_ascii_punct(uint32_t c)
{
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

/* SiglipTokenizer._tokenize on one chunk (already lowercased). */
static int siglip_chunk(const cdx_unigram *u, const char *s, size_t n, sp_scratch *sc, cdx_idbuf *ids)
{
    /* canonicalize_text: drop string.punctuation, \s+ -> " ", strip() */
    cdx_bytebuf *t = &sc->chunk;
    t->n = 0;
    if (cdx_bytebuf_append(t, "<unk>", 5) != CDX_OK)
        return CDX_ERR_NOMEM;
    size_t body = t->n;
    int in_space = 0;
    for (size_t i = 0; i < n;) {
        size_t l = cdx_utf8_len_of_lead((unsigned char)s[i]);
        uint32_t cp = (unsigned char)s[i];
        if (l > 1) {
            cp &= (l == 2 ? 0x1F : l == 3 ? 0x0F : 0x07);
            for (size_t k = 1; k < l; k++)
                cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3F);
        }
        if (cp < 0x80 && is_ascii_punct(cp)) {
            i += l;
            continue;
        }
        if (cdx_uc_has(cp, CDX_UC_F_PYWS)) {
            if (!in_space && cdx_bytebuf_append(t, " ", 1) != CDX_OK)
                return CDX_ERR_NOMEM;
            in_space = 1;
        } else {
            if (cdx_bytebuf_append(t, s + i, l) != CDX_OK)
                return CDX_ERR_NOMEM;
            in_space = 0;
        }
        i += l;
    }
    size_t lo = body, hi = t->n;
    while (lo < hi && t->v[lo] == ' ')
        lo++;
    while (hi > lo && t->v[hi - 1] == ' ')
        hi--;
    memmove(t->v + body, t->v + lo, hi - lo);
    t->n = body + (hi - lo);
    /* sp.encode("<unk>" + text)[unk_token_length:], or all of it when shorter */
    size_t mark = ids->n;
    int32_t n_pieces = 0;
    int rc = sp_encode_ids(u, t->v, t->n, u->unk_prefix_pieces, sc, ids, &n_pieces);
    if (rc == CDX_OK && n_pieces < u->unk_prefix_pieces) {
        ids->n = mark;
        rc = sp_encode_ids(u, t->v, t->n, 0, sc, ids, &n_pieces);
    }
    return rc;
}

int cdx_unigram_encode(const cdx_unigram *u, const char *text, size_t len, cdx_idbuf *ids, cdx_errbuf *eb)
{
    sp_scratch sc = {0};
    int rc = CDX_OK;
    /* "▁" + text.replace("▁", " "), then lowercase each character. */
    sc.cps.n = 0;
    size_t bad;
    if ((rc = cdx_utf8_decode(text, len, &sc.cps, &bad)) != CDX_OK)
        goto done;
    for (size_t i = 0; i < sc.cps.n; i++)
        if (sc.cps.v[i] == 0x2581)
            sc.cps.v[i] = ' ';
    if ((rc = cdx_u32buf_grow(&sc.lower, 1)) != CDX_OK)
        goto done;
    sc.lower.v[sc.lower.n++] = 0x2581;
    if ((rc = cdx_uc_lower(sc.cps.v, sc.cps.n, &sc.lower)) != CDX_OK)
        goto done;
    if ((rc = cdx_bytebuf_grow(&sc.text, sc.lower.n * 4)) != CDX_OK)
        goto done;
    for (size_t i = 0; i < sc.lower.n; i++)
        sc.text.n += cdx_utf8_put(sc.lower.v[i], sc.text.v + sc.text.n);

    /* Split on </s> and <unk>; both strip the whitespace beside them. */
    static const cdx_added_token specials[] = {
        {(char *)"</s>", 4, 0, 1, 0, 1, 1},
        {(char *)"<unk>", 5, 0, 1, 0, 1, 1},
    };
    const char *s = sc.text.v;
    size_t n = sc.text.n, pos = 0, first_special_at = (size_t)-1;
    int first_chunk_is_space_symbol = 0;
    size_t ids_start = ids->n;
    while (pos <= n) {
        size_t at;
        int t = cdx_added_find(specials, 2, 0, s, n, pos, &at);
        size_t hi = t >= 0 ? at : n;
        if (t >= 0)
            hi = cdx_utf8_rstrip_flag(s, pos, hi, CDX_UC_F_PYWS);
        if (hi > pos) {
            size_t before = ids->n;
            if ((rc = siglip_chunk(u, s + pos, hi - pos, &sc, ids)) != CDX_OK)
                goto done;
            if (before == ids_start && ids->n == ids_start + 1)
                first_chunk_is_space_symbol = sc.first_is_space_symbol;
        }
        if (t < 0)
            break;
        if (first_special_at == (size_t)-1)
            first_special_at = ids->n;
        if ((rc = cdx_idbuf_push(ids, t == 0 ? u->eos_id : u->unk_id)) != CDX_OK)
            goto done;
        pos = cdx_utf8_lstrip_flag(s, at + specials[t].len, n, CDX_UC_F_PYWS);
    }
    /* tokenize(): a leading lone "▁" before a special token is dropped. */
    if (first_chunk_is_space_symbol && first_special_at == ids_start + 1) {
        memmove(ids->v + ids_start, ids->v + ids_start + 1, (ids->n - ids_start - 1) * sizeof *ids->v);
        ids->n--;
    }
done:
    sp_scratch_free(&sc);
    return rc == CDX_OK ? CDX_OK : cdx_tok_encode_error(eb, rc);
}

int cdx_unigram_from_spiece(const void *data, size_t len, const char *what, cdx_unigram **out, cdx_errbuf *eb)
{
    *out = NULL;
    cdx_unigram *u = calloc(1, sizeof *u);
    if (!u)
        return cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
    int rc = CDX_OK;
    u->blob = malloc(len ? len : 1);
    if (!u->blob) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    if (len)
        memcpy(u->blob, data, len);
    u->blob_len = len;
    if ((rc = parse_model(u, what, eb)) != CDX_OK || (rc = build(u, what, eb)) != CDX_OK)
        goto done;
    u->add_dummy_prefix = 0; /* SiglipTokenizer loads the model with add_dummy_prefix forced off */
    /* unk_token_length: how many pieces "<unk>" itself encodes to. */
    sp_scratch sc = {0};
    cdx_idbuf tmp = {0};
    int32_t n_pieces = 0;
    rc = sp_encode_ids(u, "<unk>", 5, 0, &sc, &tmp, &n_pieces);
    sp_scratch_free(&sc);
    cdx_idbuf_free(&tmp);
    if (rc != CDX_OK) {
        rc = cdx_errbuf_set(eb, rc, "%s: encoding \"<unk>\" failed: %s", what, cdx_strerror(rc));
        goto done;
    }
    u->unk_prefix_pieces = n_pieces;
    u->model_max_length = 64;
    *out = u;
    u = NULL;
done:
    cdx_unigram_free(u);
    return rc;
}
