/* Tokenizers: Unicode helpers (UTF-8, NFC, lowercase), the CLIP BPE and the
 * SigLIP unigram on hand-made files whose ids are worked out by hand in the
 * comments, truncation and padding rules, contract checks, loader errors,
 * concurrent encodes, and the shipped models where they are present. The
 * randomized identity test against the reference implementations lives in
 * tests/integration/test_tokenizer_reference.sh. */
#include "testutil.h"

#include "common/util.h"
#include "encoder/tokenizer.h"
#include "encoder/unicode.h"
#include "tok_fixtures.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXL 128

/* ---- helpers ---- */
static cdx_tokenizer *open_clip_fixture(int32_t context_length)
{
    char *json = fx_clip_json(NULL);
    assert_non_null(json);
    cdx_tokenizer_params p = cdx_tokenizer_default_params();
    p.context_length = context_length;
    cdx_tokenizer *t = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_tokenizer_open_memory(CDX_TOKENIZER_CLIP_BPE, json, strlen(json), &p, &t, &eb);
    if (rc != CDX_OK)
        fail_msg("fixture tokenizer.json: %s", eb.msg);
    free(json);
    return t;
}

static cdx_tokenizer *open_spiece_fixture(int byte_fallback, int32_t context_length)
{
    size_t n;
    unsigned char *m = fx_spiece(byte_fallback, &n);
    cdx_tokenizer_params p = cdx_tokenizer_default_params();
    p.context_length = context_length;
    cdx_tokenizer *t = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_tokenizer_open_memory(CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM, m, n, &p, &t, &eb);
    if (rc != CDX_OK)
        fail_msg("fixture spiece.model: %s", eb.msg);
    free(m);
    return t;
}

/* Encodes without padding and compares with the expected ids (terminated by -1). */
static void expect_ids(const cdx_tokenizer *t, const char *text, size_t len, const int64_t *want)
{
    int64_t ids[MAXL], mask[MAXL];
    cdx_token_result r;
    cdx_errbuf eb = {0};
    int rc = cdx_tokenizer_encode(t, text, len, CDX_TOKENIZER_PAD_NONE, ids, mask, MAXL, &r, &eb);
    if (rc != CDX_OK)
        fail_msg("encode \"%s\": %s", text, eb.msg);
    int32_t n = 0;
    while (want[n] >= 0)
        n++;
    char got[1024] = "", exp[1024] = "";
    for (int32_t i = 0; i < r.n_tokens; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), " %lld", (long long)ids[i]);
    for (int32_t i = 0; i < n; i++)
        snprintf(exp + strlen(exp), sizeof exp - strlen(exp), " %lld", (long long)want[i]);
    if (r.n_tokens != n || strcmp(got, exp) != 0)
        fail_msg("encode \"%s\": got [%s ] want [%s ]", text, got, exp);
    for (int32_t i = 0; i < r.n_tokens; i++)
        assert_int_equal(mask[i], 1);
    assert_int_equal(r.length, r.n_tokens);
}
#define EXPECT(t, text, ...)                                                                                           \
    do {                                                                                                               \
        const int64_t want_[] = {__VA_ARGS__, -1};                                                                     \
        expect_ids((t), (text), strlen(text), want_);                                                                  \
    } while (0)

static void nfc_str(const char *in, char *out, size_t cap)
{
    cdx_u32buf a = {0}, b = {0};
    size_t bad;
    assert_int_equal(cdx_utf8_decode(in, strlen(in), &a, &bad), CDX_OK);
    assert_int_equal(cdx_uc_nfc(a.v, a.n, &b), CDX_OK);
    size_t n = 0;
    for (size_t i = 0; i < b.n; i++) {
        assert_true(n + 4 < cap);
        n += cdx_utf8_put(b.v[i], out + n);
    }
    out[n] = 0;
    cdx_u32buf_free(&a);
    cdx_u32buf_free(&b);
}

/* ---- Unicode ---- */
static void utf8_strict(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
        int ok;
        size_t bad;
    } cases[] = {
        {"abc", 3, 1, 0},
        {"\xC3\xA9", 2, 1, 0},
        {"\xF0\x9F\x98\x80", 4, 1, 0},
        {"a\xC0\x80", 3, 0, 1},          /* overlong NUL */
        {"ab\xED\xA0\x80", 5, 0, 2},     /* surrogate */
        {"\xF4\x90\x80\x80", 4, 0, 0},   /* above U+10FFFF */
        {"xy\xE2\x82", 4, 0, 2},         /* truncated */
        {"\x80", 1, 0, 0},               /* stray continuation */
        {"a\0b", 3, 1, 0},               /* NUL is a character */
    };
    for (size_t i = 0; i < CDX_ARRAY_LEN(cases); i++) {
        size_t bad = 99;
        int rc = cdx_utf8_validate(cases[i].s, cases[i].len, &bad);
        assert_int_equal(rc, cases[i].ok ? CDX_OK : CDX_ERR_PARSE);
        if (!cases[i].ok)
            assert_int_equal(bad, cases[i].bad);
        cdx_u32buf b = {0};
        assert_int_equal(cdx_utf8_decode(cases[i].s, cases[i].len, &b, &bad), rc);
        cdx_u32buf_free(&b);
    }
}

static void nfc_cases(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"e\xCC\x81", "\xC3\xA9"},                                   /* e + acute -> é */
        {"\xE1\xB8\x8B\xCC\xA3", "\xE1\xB8\x8D\xCC\x87"},            /* ḋ + dot below -> ḍ + dot above (reorder) */
        {"\xE2\x84\xAB", "\xC3\x85"},                                /* Å (angstrom sign, singleton) -> Å */
        {"\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", "\xEA\xB0\x81"},    /* Hangul L V T -> 각 */
        {"\xEA\xB0\x80\xE1\x86\xA8", "\xEA\xB0\x81"},                /* LV + T -> LVT */
        {"O\xCC\x84\xCC\xA8", "\xC7\xAC"},                           /* O + macron + ogonek -> Ǭ */
        {"\xCD\x84", "\xCC\x88\xCC\x81"},                            /* U+0344 decomposes, never recomposes */
        {"abc", "abc"},
        {"a\xCC\x81\xCC\x81", "\xC3\xA1\xCC\x81"},                   /* the second acute is blocked */
    };
    for (size_t i = 0; i < CDX_ARRAY_LEN(cases); i++) {
        char out[64];
        nfc_str(cases[i][0], out, sizeof out);
        assert_string_equal(out, cases[i][1]);
    }
    assert_non_null(strchr(cdx_uc_unicode_version(), '.'));
}

static void categories_and_lowercase(void **state)
{
    (void)state;
    assert_true(cdx_uc_has('a', CDX_UC_F_L));
    assert_true(cdx_uc_has(0x4E00, CDX_UC_F_L));       /* CJK ideograph */
    assert_true(cdx_uc_has(0x0663, CDX_UC_F_N));       /* Arabic-Indic three */
    assert_true(cdx_uc_has(0x2460, CDX_UC_F_N));       /* circled one */
    assert_true(cdx_uc_has(0x3000, CDX_UC_F_WS));
    assert_false(cdx_uc_has(0xFEFF, CDX_UC_F_WS));     /* BOM is not White_Space */
    assert_false(cdx_uc_has(0x1C, CDX_UC_F_WS));
    assert_true(cdx_uc_has(0x1C, CDX_UC_F_PYWS));      /* but Python's isspace says yes */
    assert_false(cdx_uc_has(0x0301, CDX_UC_F_L));
    uint32_t in[] = {0x130, 0x3A3, 'A', 0x1E9E};
    cdx_u32buf out = {0};
    assert_int_equal(cdx_uc_lower(in, 4, &out), CDX_OK);
    uint32_t want[] = {'i', 0x307, 0x3C3, 'a', 0xDF}; /* İ -> i + dot; Σ -> σ (no final-sigma context) */
    assert_int_equal(out.n, 5);
    assert_memory_equal(out.v, want, sizeof want);
    cdx_u32buf_free(&out);
}

/* ---- CLIP BPE ---- */
static void clip_fixture_encodes(void **state)
{
    (void)state;
    cdx_tokenizer *t = open_clip_fixture(77);
    const cdx_tokenizer_info *in = cdx_tokenizer_get_info(t);
    assert_int_equal(in->bos_id, FX_BOS);
    assert_int_equal(in->eos_id, FX_EOS);
    assert_int_equal(in->context_length, 77);
    assert_int_equal(in->lowercase, 1);
    EXPECT(t, "", FX_BOS, FX_EOS);
    EXPECT(t, " \t\n ", FX_BOS, FX_EOS);
    EXPECT(t, "a cat", FX_BOS, fx_id("a</w>"), fx_id("cat</w>"), FX_EOS);
    /* NBSP and EM SPACE are White_Space; lowercase applies */
    EXPECT(t, "A\xC2\xA0\xE2\x80\x83 CAT", FX_BOS, fx_id("a</w>"), fx_id("cat</w>"), FX_EOS);
    EXPECT(t, "The CAT's", FX_BOS, fx_id("the</w>"), fx_id("cat</w>"), fx_id("'s</w>"), FX_EOS);
    /* one digit per piece; contractions split off */
    EXPECT(t, "it's 12", FX_BOS, fx_id("it</w>"), fx_id("'s</w>"), fx_id("1</w>"), fx_id("2</w>"), FX_EOS);
    /* lowest rank first, leftmost first: a a a a</w> -> aa a a</w>; a a a</w> -> aa a</w> -> aaa</w> */
    EXPECT(t, "aaaa", FX_BOS, fx_id("aa"), fx_id("a"), fx_id("a</w>"), FX_EOS);
    EXPECT(t, "aaa", FX_BOS, fx_id("aaa</w>"), FX_EOS);
    /* punctuation runs stay together, "'s" only at the start of a run */
    EXPECT(t, "!'s", FX_BOS, fx_id("!"), fx_id("'</w>"), fx_id("s</w>"), FX_EOS);
    /* ΑΣ -> ασ (CE B1 CF 83): per-code-point lowercase, not final ς */
    EXPECT(t, "\xCE\x91\xCE\xA3", FX_BOS, 0xCE, 0xB1, 0xCF, 256 + 0x83, FX_EOS);
    /* e + combining acute -> é (C3 A9) */
    EXPECT(t, "e\xCC\x81", FX_BOS, 0xC3, 256 + 0xA9, FX_EOS);
    /* special tokens inside the text, also after lowercasing */
    EXPECT(t, "a<|endoftext|>b", FX_BOS, fx_id("a</w>"), FX_EOS, fx_id("b</w>"), FX_EOS);
    EXPECT(t, "<|ENDOFTEXT|>", FX_BOS, FX_EOS, FX_EOS);
    /* a NUL byte is a character (a run of "other") */
    const int64_t nul[] = {FX_BOS, fx_id("a</w>"), 256, fx_id("b</w>"), FX_EOS, -1};
    expect_ids(t, "a \0 b", 5, nul);
    cdx_tokenizer_close(t);
}

static void clip_truncation_and_padding(void **state)
{
    (void)state;
    cdx_tokenizer *t = open_clip_fixture(8);
    int64_t ids[MAXL], mask[MAXL];
    cdx_token_result r;
    cdx_errbuf eb = {0};
    const char *text = "a b c d e f g h i j k";
    assert_int_equal(cdx_tokenizer_encode(t, text, strlen(text), CDX_TOKENIZER_PAD_RULE, ids, mask, 8, &r, &eb), CDX_OK);
    assert_int_equal(r.n_tokens, 8);
    assert_int_equal(r.length, 8);
    assert_int_equal(r.truncated, 1);
    assert_int_equal(ids[0], FX_BOS);
    assert_int_equal(ids[6], fx_id("f</w>")); /* the first six content tokens are kept */
    assert_int_equal(ids[7], FX_EOS);        /* and the end token */
    /* exactly at the limit: not truncated */
    assert_int_equal(cdx_tokenizer_encode(t, "a b c d e f", 11, CDX_TOKENIZER_PAD_NONE, ids, mask, 8, &r, &eb), CDX_OK);
    assert_int_equal(r.n_tokens, 8);
    assert_int_equal(r.truncated, 0);
    /* padding: to the context (rule, max_length here), to a given length, none */
    assert_int_equal(cdx_tokenizer_encode(t, "cat", 3, CDX_TOKENIZER_PAD_RULE, ids, mask, 8, &r, &eb), CDX_OK);
    assert_int_equal(r.n_tokens, 3);
    assert_int_equal(r.length, 8);
    for (int i = 3; i < 8; i++) {
        assert_int_equal(ids[i], FX_EOS); /* pad id defaults to the end token */
        assert_int_equal(mask[i], 0);
    }
    assert_int_equal(cdx_tokenizer_encode(t, "cat", 3, 5, ids, mask, 8, &r, &eb), CDX_OK);
    assert_int_equal(r.length, 5);
    assert_int_equal(mask[2], 1);
    assert_int_equal(mask[3], 0);
    /* bad requests */
    assert_int_equal(cdx_tokenizer_encode(t, "a b c", 5, 3, ids, mask, 8, &r, &eb), CDX_ERR_INVAL);
    assert_non_null(strstr(eb.msg, "shorter"));
    assert_int_equal(cdx_tokenizer_encode(t, "cat", 3, 9, ids, mask, 8, &r, &eb), CDX_ERR_INVAL);
    assert_int_equal(cdx_tokenizer_encode(t, "cat", 3, CDX_TOKENIZER_PAD_RULE, ids, mask, 7, &r, &eb), CDX_ERR_INVAL);
    assert_int_equal(cdx_tokenizer_encode(t, "ab\xFF", 3, CDX_TOKENIZER_PAD_RULE, ids, mask, 8, &r, &eb), CDX_ERR_PARSE);
    assert_non_null(strstr(eb.msg, "byte offset 2"));
    cdx_tokenizer_close(t);

    cdx_tokenizer_params p = cdx_tokenizer_default_params();
    p.max_text_bytes = 4;
    char *json = fx_clip_json(NULL);
    assert_int_equal(cdx_tokenizer_open_memory(CDX_TOKENIZER_CLIP_BPE, json, strlen(json), &p, &t, &eb), CDX_OK);
    assert_int_equal(cdx_tokenizer_encode(t, "abcde", 5, CDX_TOKENIZER_PAD_RULE, ids, mask, MAXL, &r, &eb), CDX_ERR_TOOBIG);
    cdx_tokenizer_close(t);
    free(json);
}

static void clip_loader_errors(void **state)
{
    (void)state;
    cdx_tokenizer *t = NULL;
    cdx_errbuf eb = {0};
    const char *bad_json = "{\"model\": ";
    assert_int_equal(cdx_tokenizer_open_memory(CDX_TOKENIZER_CLIP_BPE, bad_json, strlen(bad_json), NULL, &t, &eb),
                     CDX_ERR_PARSE);
    assert_null(t);
    const char *wordpiece = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}";
    assert_int_equal(cdx_tokenizer_open_memory(CDX_TOKENIZER_CLIP_BPE, wordpiece, strlen(wordpiece), NULL, &t, &eb),
                     CDX_ERR_UNSUPPORTED);
    assert_non_null(strstr(eb.msg, "WordPiece"));
    char *json = fx_clip_json(json_pack("{s:s}", "type", "NFKD"));
    assert_int_equal(cdx_tokenizer_open_memory(CDX_TOKENIZER_CLIP_BPE, json, strlen(json), NULL, &t, &eb),
                     CDX_ERR_UNSUPPORTED);
    assert_non_null(strstr(eb.msg, "NFKD"));
    free(json);
    /* a merge whose parts are not in the vocabulary */
    json = fx_clip_json(NULL);
    json_t *root = json_loads(json, 0, NULL);
    free(json);
    json_array_set_new(json_object_get(json_object_get(root, "model"), "merges"), 0, json_string("c zz"));
    char *s = json_dumps(root, JSON_COMPACT);
    assert_int_equal(cdx_tokenizer_open_memory(CDX_TOKENIZER_CLIP_BPE, s, strlen(s), NULL, &t, &eb), CDX_ERR_PARSE);
    assert_non_null(strstr(eb.msg, "\"zz\" is not in the vocabulary"));
    free(s);
    json_decref(root);
}

/* ---- SigLIP unigram ---- */
static void siglip_fixture_encodes(void **state)
{
    (void)state;
    cdx_tokenizer *t = open_spiece_fixture(0, 64);
    const cdx_tokenizer_info *in = cdx_tokenizer_get_info(t);
    assert_int_equal(in->bos_id, -1);
    assert_int_equal(in->eos_id, 1);
    assert_int_equal(in->pad_id, 1);
    assert_int_equal(in->unk_id, 2);
    /* "▁a b" -> "<unk>▁a▁b" -> < unk > ▁a ▁b; the three pieces of "<unk>" are dropped */
    EXPECT(t, "A b", 4, 7, 1);
    EXPECT(t, "a, b!", 4, 7, 1);              /* ASCII punctuation removed */
    EXPECT(t, "ab", 9, 1);                    /* ▁ab (-1.0) beats ▁a b (-4.5) */
    EXPECT(t, "d", 3, 2, 1);                  /* ▁ then an unknown character */
    EXPECT(t, "dd e", 3, 2, 3, 2, 1);         /* a run of unknowns is one <unk> */
    /* an unused piece is never chosen by the segmentation; the unknown it
     * leaves has the surface "x", and SentencePiece's PieceToId (which
     * SiglipTokenizer applies to the piece strings) knows "x": id 14 */
    EXPECT(t, "x", 3, 14, 1);
    EXPECT(t, "a </s>", 4, 1);                /* a literal </s> is the end token; none added twice */
    EXPECT(t, "</s>", 1);                     /* the lone ▁ before a special token is dropped */
    EXPECT(t, "", 1);
    EXPECT(t, "  \xE2\x80\x83 ", 1);          /* only whitespace */
    EXPECT(t, "a\xE2\x96\x81" "b", 4, 7, 1);  /* U+2581 in the text is a space */
    /* truncation: 100 words -> 63 kept, then </s> */
    char text[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(text, "a ");
    int64_t ids[MAXL], mask[MAXL];
    cdx_token_result r;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_tokenizer_encode(t, text, strlen(text), CDX_TOKENIZER_PAD_RULE, ids, mask, 64, &r, &eb), CDX_OK);
    assert_int_equal(r.n_tokens, 64);
    assert_int_equal(r.truncated, 1);
    assert_int_equal(ids[62], 4);
    assert_int_equal(ids[63], 1);
    cdx_tokenizer_close(t);

    t = open_spiece_fixture(1, 64);
    EXPECT(t, "d", 3, (int64_t)FX_SP_N + 'd', 1); /* byte fallback: <0x64> */
    EXPECT(t, "\xC3\xA9", 3, (int64_t)FX_SP_N + 0xC3, (int64_t)FX_SP_N + 0xA9, 1);
    cdx_tokenizer_close(t);
}

static void siglip_loader_errors(void **state)
{
    (void)state;
    cdx_tokenizer *t = NULL;
    cdx_errbuf eb = {0};
    size_t n;
    unsigned char *m = fx_spiece(0, &n);
    /* every truncation of a valid model is refused or loads; none crashes */
    for (size_t cut = 0; cut < n; cut += 7) {
        int rc = cdx_tokenizer_open_memory(CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM, m, cut, NULL, &t, &eb);
        if (rc == CDX_OK)
            cdx_tokenizer_close(t);
        else
            assert_null(t);
    }
    assert_int_equal(cdx_tokenizer_open_memory(CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM, "\xFF\xFF\xFF", 3, NULL, &t, &eb),
                     CDX_ERR_PARSE);
    assert_non_null(strstr(eb.msg, "protobuf"));
    free(m);
    /* no unknown piece */
    fx_buf b = {0}, p = {0};
    fx_field_bytes(&p, 1, "a", 1);
    fx_field_float(&p, 2, -1.0f);
    fx_field_bytes(&b, 1, p.v, p.n);
    assert_int_equal(cdx_tokenizer_open_memory(CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM, b.v, b.n, NULL, &t, &eb),
                     CDX_ERR_PARSE);
    assert_non_null(strstr(eb.msg, "unknown piece"));
    /* BPE-type model */
    fx_buf tr = {0};
    fx_field_varint(&tr, 3, 2);
    fx_field_bytes(&b, 2, tr.v, tr.n);
    assert_int_equal(cdx_tokenizer_open_memory(CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM, b.v, b.n, NULL, &t, &eb),
                     CDX_ERR_UNSUPPORTED);
    free(b.v);
    free(p.v);
    free(tr.v);
}

/* ---- contract ---- */
static void contract_open_checks_ids(void **state)
{
    (void)state;
    char *dir = cdx_test_mkdtemp("tok");
    char *path = cdx_test_fmt("%s/tokenizer.json", dir);
    char *json = fx_clip_json(NULL);
    assert_int_equal(cdx_test_write_file(path, json, strlen(json)), 0);
    cdx_contract_spec *spec = calloc(1, sizeof *spec);
    snprintf(spec->file, sizeof spec->file, "%s/c.json", dir);
    spec->n_artifacts = 1;
    strcpy(spec->artifacts[0].role, "tokenizer");
    snprintf(spec->artifacts[0].path, sizeof spec->artifacts[0].path, "%s", path);
    spec->text.tokenizer = CDX_TOKENIZER_CLIP_BPE;
    spec->text.context_length = 16;
    spec->text.lowercase = 1;
    spec->text.bos_id = FX_BOS;
    spec->text.eos_id = spec->text.pad_id = spec->text.unk_id = FX_EOS;
    spec->text.padding = CDX_PADDING_BUCKET;
    spec->n_seq_buckets = 3;
    spec->seq_buckets[0] = 4;
    spec->seq_buckets[1] = 8;
    spec->seq_buckets[2] = 16;

    cdx_tokenizer *t = NULL;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_tokenizer_open(spec, NULL, &t, &eb), CDX_OK);
    int64_t ids[16], mask[16];
    cdx_token_result r;
    /* bucket padding: 3 tokens -> 4, 5 tokens -> 8 */
    assert_int_equal(cdx_tokenizer_encode(t, "cat", 3, CDX_TOKENIZER_PAD_RULE, ids, mask, 16, &r, &eb), CDX_OK);
    assert_int_equal(r.length, 4);
    assert_int_equal(cdx_tokenizer_encode(t, "a b c", 5, CDX_TOKENIZER_PAD_RULE, ids, mask, 16, &r, &eb), CDX_OK);
    assert_int_equal(r.n_tokens, 5);
    assert_int_equal(r.length, 8);
    cdx_tokenizer_close(t);

    spec->text.eos_id = 3;
    assert_int_equal(cdx_tokenizer_open(spec, NULL, &t, &eb), CDX_ERR_MISMATCH);
    assert_non_null(strstr(eb.msg, "text.eos_id is 3"));
    spec->text.eos_id = FX_EOS;
    spec->text.lowercase = 0;
    assert_int_equal(cdx_tokenizer_open(spec, NULL, &t, &eb), CDX_ERR_MISMATCH);
    spec->text.lowercase = 1;
    spec->text.tokenizer = CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM;
    assert_int_equal(cdx_tokenizer_open(spec, NULL, &t, &eb), CDX_ERR_CONTRACT);
    assert_non_null(strstr(eb.msg, "spiece"));
    spec->text.tokenizer = CDX_TOKENIZER_CLIP_BPE;
    snprintf(spec->artifacts[0].path, sizeof spec->artifacts[0].path, "%s/missing.json", dir);
    assert_int_equal(cdx_tokenizer_open(spec, NULL, &t, &eb), CDX_ERR_NOTFOUND);
    assert_non_null(strstr(eb.msg, "missing.json"));

    free(spec);
    free(json);
    free(path);
    cdx_test_rmtree(dir);
    free(dir);
}

/* ---- threads ---- */
typedef struct thread_arg {
    const cdx_tokenizer *t;
    int bad;
} thread_arg;

static const char *const thread_texts[] = {"a cat", "The CAT's red dog", "\xCE\x91\xCE\xA3 e\xCC\x81", "aaaa aaa",
                                           "it's 12 <|endoftext|> x", ""};

static void *encode_many(void *p)
{
    thread_arg *a = p;
    int64_t ref[6][MAXL], ids[MAXL], mask[MAXL];
    cdx_token_result r;
    cdx_errbuf eb = {0};
    for (size_t k = 0; k < 6; k++)
        if (cdx_tokenizer_encode(a->t, thread_texts[k], strlen(thread_texts[k]), CDX_TOKENIZER_PAD_RULE, ref[k], mask,
                                 MAXL, &r, &eb) != CDX_OK)
            a->bad++;
    for (int i = 0; i < 3000; i++) {
        size_t k = (size_t)i % 6;
        if (cdx_tokenizer_encode(a->t, thread_texts[k], strlen(thread_texts[k]), CDX_TOKENIZER_PAD_RULE, ids, mask,
                                 MAXL, &r, &eb) != CDX_OK ||
            memcmp(ids, ref[k], (size_t)r.length * sizeof *ids) != 0)
            a->bad++;
    }
    return NULL;
}

static void concurrent_encodes_agree(void **state)
{
    (void)state;
    cdx_tokenizer *tk[2] = {open_clip_fixture(77), open_spiece_fixture(0, 64)};
    for (int m = 0; m < 2; m++) {
        pthread_t th[4];
        thread_arg args[4];
        for (int i = 0; i < 4; i++) {
            args[i] = (thread_arg){tk[m], 0};
            assert_int_equal(pthread_create(&th[i], NULL, encode_many, &args[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(args[i].bad, 0);
        }
        cdx_tokenizer_close(tk[m]);
    }
}

/* ---- the shipped models (ids from the model toolchain's reference, models/README.md) ---- */
static char *model_dir(const char *name)
{
    const char *env = getenv("CDX_MODELS_DIR");
    char *d = env && *env ? cdx_test_fmt("%s/%s", env, name) : cdx_test_fmt("%s/models/%s", CDX_SOURCE_DIR, name);
    char *probe = cdx_test_fmt("%s/tokenizer_config.json", d);
    FILE *f = fopen(probe, "r");
    free(probe);
    if (!f) {
        free(d);
        return NULL;
    }
    fclose(f);
    return d;
}

static int32_t shipped_encode(const cdx_tokenizer *t, const char *text, int64_t *ids)
{
    int64_t mask[MAXL];
    cdx_token_result r;
    cdx_errbuf eb = {0};
    if (cdx_tokenizer_encode(t, text, strlen(text), CDX_TOKENIZER_PAD_NONE, ids, mask, MAXL, &r, &eb) != CDX_OK)
        fail_msg("encode \"%s\": %s", text, eb.msg);
    return r.n_tokens;
}

static void shipped_models(void **state)
{
    (void)state;
    char *clip = model_dir("tiny-clip"), *siglip = model_dir("tiny-siglip");
    if (!clip || !siglip) {
        free(clip);
        free(siglip);
        skip(); /* the models land with the model toolchain; the integration test covers them too */
    }
    cdx_tokenizer *t = NULL;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_tokenizer_open_dir(siglip, NULL, &t, &eb), CDX_OK);
    assert_int_equal(cdx_tokenizer_get_info(t)->context_length, 64);
    /* The shipped vocabularies are retrained with the models, so exact ids are
     * checked against the golden packs and the reference tokenizers
     * (test_encoder_tokenizer_golden, test_tokenizer_reference); here: shape. */
    int64_t a[MAXL], b[MAXL];
    int32_t na = shipped_encode(t, "Hello, World!", a);
    assert_true(na >= 3);
    assert_int_equal(a[na - 1], 1); /* </s> */
    cdx_tokenizer_close(t);
    assert_int_equal(cdx_tokenizer_open_dir(clip, NULL, &t, &eb), CDX_OK);
    assert_int_equal(cdx_tokenizer_get_info(t)->context_length, 77);
    na = shipped_encode(t, "A photo of a cat, it's 12 red!", a);
    assert_true(na >= 4);
    cdx_tokenizer_close(t);
    /* vocab.json + merges.txt give the same ids as tokenizer.json */
    char *tmp = cdx_test_mkdtemp("tokvm");
    for (int k = 0; k < 3; k++) {
        static const char *const files[] = {"vocab.json", "merges.txt", "tokenizer_config.json"};
        char *src = cdx_test_fmt("%s/%s", clip, files[k]), *dst = cdx_test_fmt("%s/%s", tmp, files[k]);
        size_t n;
        unsigned char *d = cdx_test_read_file(src, &n);
        assert_non_null(d);
        assert_int_equal(cdx_test_write_file(dst, d, n), 0);
        free(d);
        free(src);
        free(dst);
    }
    assert_int_equal(cdx_tokenizer_open_dir(tmp, NULL, &t, &eb), CDX_OK);
    int32_t nb = shipped_encode(t, "A photo of a cat, it's 12 red!", b);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na * sizeof a[0]);
    cdx_tokenizer_close(t);
    cdx_test_rmtree(tmp);
    free(tmp);
    free(clip);
    free(siglip);
    assert_int_equal(cdx_tokenizer_open_dir("/nonexistent-dir", NULL, &t, &eb), CDX_ERR_NOTFOUND);
}

/* The model toolchain's contracts (contracts/<name>.json beside the models)
 * name the same special ids and lowercase flag as the tokenizer files. The
 * contract loader is not needed: only the fields the tokenizer reads. */
static void shipped_contracts_agree(void **state)
{
    (void)state;
    char *clip = model_dir("tiny-clip");
    if (!clip)
        skip();
    int checked = 0;
    static const char *const names[] = {"tiny-clip", "tiny-siglip"};
    for (int k = 0; k < 2; k++) {
        char *cpath = cdx_test_fmt("%s/../../contracts/%s.json", clip, names[k]);
        json_t *c = json_load_file(cpath, 0, NULL);
        if (!c) {
            free(cpath);
            continue;
        }
        char *cdir = cdx_test_fmt("%s/../../contracts", clip);
        cdx_contract_spec *spec = calloc(1, sizeof *spec);
        snprintf(spec->file, sizeof spec->file, "%s", cpath);
        const char *mdir = json_string_value(json_object_get(c, "model_dir"));
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(c, "artifacts"), i, a)
        {
            cdx_artifact *art = &spec->artifacts[spec->n_artifacts++];
            snprintf(art->role, sizeof art->role, "%s", json_string_value(json_object_get(a, "role")));
            snprintf(art->path, sizeof art->path, "%s/%s/%s", cdir, mdir, json_string_value(json_object_get(a, "path")));
        }
        json_t *tx = json_object_get(c, "text");
        spec->text.tokenizer = strcmp(json_string_value(json_object_get(tx, "tokenizer")), "clip_bpe") == 0
                                   ? CDX_TOKENIZER_CLIP_BPE
                                   : CDX_TOKENIZER_SENTENCEPIECE_UNIGRAM;
        spec->text.context_length = (int32_t)json_integer_value(json_object_get(tx, "context_length"));
        spec->text.lowercase = json_is_true(json_object_get(tx, "lowercase"));
        json_t *bos = json_object_get(tx, "bos_id");
        spec->text.bos_id = json_is_integer(bos) ? json_integer_value(bos) : -1;
        spec->text.eos_id = json_integer_value(json_object_get(tx, "eos_id"));
        spec->text.pad_id = json_integer_value(json_object_get(tx, "pad_id"));
        spec->text.unk_id = json_integer_value(json_object_get(tx, "unk_id"));
        spec->text.padding = strcmp(json_string_value(json_object_get(tx, "padding")), "bucket") == 0
                                 ? CDX_PADDING_BUCKET
                                 : CDX_PADDING_MAX_LENGTH;
        json_t *b;
        json_array_foreach(json_object_get(json_object_get(c, "buckets"), "sequence"), i, b)
            spec->seq_buckets[spec->n_seq_buckets++] = (int32_t)json_integer_value(b);
        cdx_tokenizer *t = NULL;
        cdx_errbuf eb = {0};
        if (cdx_tokenizer_open(spec, NULL, &t, &eb) != CDX_OK)
            fail_msg("%s: %s", cpath, eb.msg);
        int64_t ids[128], mask[128];
        cdx_token_result r;
        assert_int_equal(cdx_tokenizer_encode(t, "a red circle", 12, CDX_TOKENIZER_PAD_RULE, ids, mask, 128, &r, &eb),
                         CDX_OK);
        /* the padding rule: the smallest sequence bucket, or the whole context */
        assert_int_equal(r.length, spec->text.padding == CDX_PADDING_BUCKET ? spec->seq_buckets[0]
                                                                             : spec->text.context_length);
        cdx_tokenizer_close(t);
        checked++;
        free(spec);
        free(cdir);
        free(cpath);
        json_decref(c);
    }
    free(clip);
    if (!checked)
        skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_strict),
        cmocka_unit_test(nfc_cases),
        cmocka_unit_test(categories_and_lowercase),
        cmocka_unit_test(clip_fixture_encodes),
        cmocka_unit_test(clip_truncation_and_padding),
        cmocka_unit_test(clip_loader_errors),
        cmocka_unit_test(siglip_fixture_encodes),
        cmocka_unit_test(siglip_loader_errors),
        cmocka_unit_test(contract_open_checks_ids),
        cmocka_unit_test(concurrent_encodes_agree),
        cmocka_unit_test(shipped_models),
        cmocka_unit_test(shipped_contracts_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
