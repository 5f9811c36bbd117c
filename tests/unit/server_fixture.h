/* Shared by the server's end-to-end tests: the fixture-clip towers with a
 * working tiny tokenizer, and an in-memory catalog that keeps the store's
 * contract (brute-force inner product) with six captioned items whose image
 * vectors are their captions' text vectors, so a caption finds its item.
 * setup/teardown are cmocka group fixtures. */
#ifndef CDX_TEST_SERVER_FIXTURE_H
#define CDX_TEST_SERVER_FIXTURE_H

#include "testutil.h"

#include "server_harness.h"

#include "common/hash.h"
#include "contracts/contract.h"
#include "encoder/encoder.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#define MAXI 64
#define TOKEN "s3cret-token-for-tests"

/* ---- an in-memory catalog ------------------------------------------------ */

typedef struct mem_item {
    int64_t id;
    char uri[512], caption[64], meta[128];
    float vec[16];
    int live;
} mem_item;

typedef struct mem_catalog {
    pthread_mutex_t mu;
    mem_item items[MAXI];
    int n, dim;
} mem_catalog;

static int mem_search(void *ctx, enum cdx_space space, const float *q, int32_t k, int64_t *ids, float *scores,
                      cdx_errbuf *eb)
{
    (void)space;
    (void)eb;
    mem_catalog *c = ctx;
    pthread_mutex_lock(&c->mu);
    for (int32_t i = 0; i < k; i++)
        ids[i] = -1, scores[i] = -INFINITY;
    for (int i = 0; i < c->n; i++) {
        if (!c->items[i].live)
            continue;
        float dot = 0;
        for (int d = 0; d < c->dim; d++)
            dot += q[d] * c->items[i].vec[d];
        for (int32_t j = 0; j < k; j++) {
            if (ids[j] < 0 || dot > scores[j]) {
                memmove(ids + j + 1, ids + j, (size_t)(k - j - 1) * sizeof *ids);
                memmove(scores + j + 1, scores + j, (size_t)(k - j - 1) * sizeof *scores);
                ids[j] = c->items[i].id, scores[j] = dot;
                break;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    return CDX_OK;
}

static mem_item *find(mem_catalog *c, int64_t id)
{
    for (int i = 0; i < c->n; i++)
        if (c->items[i].id == id && c->items[i].live)
            return &c->items[i];
    return NULL;
}

static int mem_get_item(void *ctx, int64_t id, cdx_item_row *out, cdx_errbuf *eb)
{
    mem_catalog *c = ctx;
    pthread_mutex_lock(&c->mu);
    mem_item *it = find(c, id);
    if (it) {
        memset(out, 0, sizeof *out);
        out->id = id;
        out->uri = strdup(it->uri);
        out->caption = it->caption[0] ? strdup(it->caption) : NULL;
        out->meta_json = it->meta[0] ? strdup(it->meta) : NULL;
        snprintf(out->content_hash, sizeof out->content_hash, "%032lld", (long long)id);
    }
    pthread_mutex_unlock(&c->mu);
    return it ? CDX_OK : cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "no item %lld", (long long)id);
}

static void mem_clear_row(cdx_item_row *row)
{
    free(row->uri);
    free(row->caption);
    free(row->meta_json);
    memset(row, 0, sizeof *row);
}

static int mem_get_vector(void *ctx, int64_t id, enum cdx_space space, float *out, cdx_errbuf *eb)
{
    (void)space;
    mem_catalog *c = ctx;
    pthread_mutex_lock(&c->mu);
    mem_item *it = find(c, id);
    if (it)
        memcpy(out, it->vec, (size_t)c->dim * sizeof *out);
    pthread_mutex_unlock(&c->mu);
    return it ? CDX_OK : cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "no item %lld", (long long)id);
}

static int mem_delete(void *ctx, int64_t id, cdx_errbuf *eb)
{
    mem_catalog *c = ctx;
    pthread_mutex_lock(&c->mu);
    mem_item *it = find(c, id);
    if (it)
        it->live = 0;
    pthread_mutex_unlock(&c->mu);
    return it ? CDX_OK : cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "no item %lld", (long long)id);
}

static int mem_info(void *ctx, cdx_store_info *out, cdx_errbuf *eb)
{
    (void)eb;
    mem_catalog *c = ctx;
    memset(out, 0, sizeof *out);
    out->dim = c->dim;
    out->items = c->n;
    snprintf(out->space[0].spec, sizeof out->space[0].spec, "flat");
    out->space[0].vectors = out->space[0].indexed = c->n;
    return CDX_OK;
}

static int mem_put_image(void *ctx, cdx_encoder *e, const void *data, size_t len, const char *uri,
                         const char *caption, const char *meta, int64_t *id_out, cdx_errbuf *eb)
{
    mem_catalog *c = ctx;
    float v[16];
    int rc = cdx_encoder_embed_image_buffer(e, data, len, uri, v, NULL, eb);
    if (rc != CDX_OK)
        return rc;
    pthread_mutex_lock(&c->mu);
    mem_item *it = &c->items[c->n];
    memset(it, 0, sizeof *it);
    it->id = c->n + 1;
    it->live = 1;
    snprintf(it->uri, sizeof it->uri, "%s", uri);
    snprintf(it->caption, sizeof it->caption, "%s", caption ? caption : "");
    snprintf(it->meta, sizeof it->meta, "%s", meta ? meta : "");
    memcpy(it->vec, v, sizeof v);
    *id_out = it->id;
    c->n++;
    pthread_mutex_unlock(&c->mu);
    return CDX_OK;
}

/* ---- fixture ------------------------------------------------------------- */

static cdx_contract *contract;
static cdx_encoder *enc;
static mem_catalog cat;
static cdx_server_catalog vt;
static char *tmpdir;
static const char *shapes[] = {"a red circle", "a blue square", "a green triangle", "a yellow star",
                               "a red square", "a blue circle"};

/* The fixture-clip contract's towers with a working tokenizer: a tiny CLIP
 * BPE vocabulary whose ids fit the fixture text model's 32-row embedding
 * (letters, three word ends, the two special tokens; no merges), in a model
 * folder of its own with a contract pinning its sha256s. */
static char *tiny_tokenizer_json(void)
{
    json_t *vocab = json_object();
    json_object_set_new(vocab, "!", json_integer(0));
    json_object_set_new(vocab, "<|startoftext|>", json_integer(1));
    json_object_set_new(vocab, "<|endoftext|>", json_integer(2));
    for (int c = 0; c < 26; c++) {
        char l[2] = {(char)('a' + c), 0};
        json_object_set_new(vocab, l, json_integer(3 + c));
    }
    json_object_set_new(vocab, "e</w>", json_integer(29));
    json_object_set_new(vocab, "s</w>", json_integer(30));
    json_object_set_new(vocab, "d</w>", json_integer(31));
    json_t *root = json_pack(
        "{s:s,s:n,s:n,s:[{s:i,s:s,s:b,s:b,s:b,s:b,s:b},{s:i,s:s,s:b,s:b,s:b,s:b,s:b}],"
        "s:{s:s,s:[{s:s},{s:s,s:{s:s},s:s},{s:s}]},"
        "s:{s:s,s:[{s:s,s:{s:s},s:s,s:b},{s:s,s:b,s:b,s:b}]},"
        "s:{s:s,s:[s,i],s:[s,i],s:b,s:b},s:n,"
        "s:{s:s,s:n,s:s,s:n,s:s,s:b,s:o,s:[]}}",
        "version", "1.0", "truncation", "padding", "added_tokens", "id", 1, "content", "<|startoftext|>",
        "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 1, "special", 1, "id", 2, "content",
        "<|endoftext|>", "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 1, "special", 1, "normalizer",
        "type", "Sequence", "normalizers", "type", "NFC", "type", "Replace", "pattern", "Regex", "\\s+", "content", " ",
        "type", "Lowercase", "pre_tokenizer", "type", "Sequence", "pretokenizers", "type", "Split", "pattern", "Regex",
        "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
        "behavior", "Removed", "invert", 1, "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
        "use_regex", 0, "post_processor", "type", "RobertaProcessing", "sep", "<|endoftext|>", 2, "cls",
        "<|startoftext|>", 1, "trim_offsets", 0, "add_prefix_space", 0, "decoder", "model", "type", "BPE",
        "dropout", "unk_token", "<|endoftext|>", "continuing_subword_prefix", "end_of_word_suffix", "</w>",
        "fuse_unk", 0, "vocab", vocab, "merges");
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return s;
}

static char *make_model(const char *dir)
{
    static const char *const files[] = {"onnx/vision_model.onnx", "onnx/text_model.onnx", "vocab.json", "merges.txt",
                                        "config.json", "preprocessor_config.json"};
    char *src = cdx_test_src_path("tests/fixtures/models/fixture-clip");
    char *mdir = cdx_test_fmt("%s/model", dir), *odir = cdx_test_fmt("%s/model/onnx", dir);
    mkdir(mdir, 0755);
    mkdir(odir, 0755);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *from = cdx_test_fmt("%s/%s", src, files[i]), *to = cdx_test_fmt("%s/%s", mdir, files[i]);
        size_t n;
        unsigned char *b = cdx_test_read_file(from, &n);
        assert_non_null(b);
        assert_int_equal(cdx_test_write_file(to, b, n), 0);
        free(b), free(from), free(to);
    }
    char *tok = tiny_tokenizer_json(), *tok_path = cdx_test_fmt("%s/tokenizer.json", mdir);
    assert_int_equal(cdx_test_write_file(tok_path, tok, strlen(tok)), 0);
    char *cpath = cdx_test_src_path("tests/fixtures/contracts/fixture-clip.json");
    json_t *c = json_load_file(cpath, 0, NULL);
    assert_non_null(c);
    json_object_set_new(c, "model_dir", json_string(mdir));
    json_t *arts = json_object_get(c, "artifacts");
    for (size_t i = 0; i < json_array_size(arts); i++) {
        json_t *a = json_array_get(arts, i);
        char *f = cdx_test_fmt("%s/%s", mdir, json_string_value(json_object_get(a, "path")));
        char hex[65];
        cdx_errbuf eb = {0};
        assert_int_equal(cdx_sha256_file_hex(f, hex, &eb), CDX_OK);
        json_object_set_new(a, "sha256", json_string(hex));
        free(f);
    }
    char *out = cdx_test_fmt("%s/contract.json", dir);
    assert_int_equal(json_dump_file(c, out, JSON_INDENT(2)), 0);
    json_decref(c);
    free(tok), free(tok_path), free(cpath), free(src), free(mdir), free(odir);
    return out;
}

static int setup(void **state)
{
    (void)state;
    tmpdir = cdx_test_mkdtemp("server-routes");
    char *cpath = make_model(tmpdir);
    cdx_errbuf eb = {0};
    cdx_contract_params cp = cdx_contract_default_params();
    if (cdx_contract_open(cpath, &cp, &contract, &eb) != CDX_OK) {
        fprintf(stderr, "contract: %s\n", cdx_errbuf_msg(&eb));
        free(cpath);
        return -1;
    }
    free(cpath);
    cdx_encoder_params ep = cdx_encoder_default_params();
    ep.report_placement = 0;
    if (cdx_encoder_open(contract, &ep, &enc, &eb) != CDX_OK) {
        fprintf(stderr, "encoder: %s\n", cdx_errbuf_msg(&eb));
        return -1;
    }
    pthread_mutex_init(&cat.mu, NULL);
    cat.dim = cdx_encoder_spec(enc)->dim;
    /* One small PNG for every item's file (thumbnails read it). */
    char *png = cdx_test_fmt("%s/shape.png", tmpdir);
    VipsImage *img = NULL;
    if (vips_black(&img, 40, 30, "bands", 3, NULL) != 0 || vips_pngsave(img, png, NULL) != 0)
        return -1;
    g_object_unref(img);
    for (int i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++) {
        mem_item *it = &cat.items[cat.n++];
        it->id = i + 1;
        it->live = 1;
        snprintf(it->uri, sizeof it->uri, "%s", png);
        snprintf(it->caption, sizeof it->caption, "%s", shapes[i]);
        snprintf(it->meta, sizeof it->meta, "{\"shape\":\"%s\",\"size\":%d}", strrchr(shapes[i], ' ') + 1, i);
        if (cdx_encoder_embed_texts(enc, &shapes[i], NULL, 1, it->vec, &eb) != CDX_OK)
            return -1;
    }
    free(png);
    vt = (cdx_server_catalog){&cat, mem_search, mem_get_item, mem_clear_row, mem_get_vector, mem_delete, mem_info,
                              mem_put_image};
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdx_encoder_close(enc);
    cdx_contract_close(contract);
    if (tmpdir)
        cdx_test_rmtree(tmpdir);
    free(tmpdir);
    pthread_mutex_destroy(&cat.mu);
    return 0;
}

static cdx_server_params params(void)
{
    cdx_server_params p = cdx_server_default_params();
    p.data_dir = tmpdir;
    p.token = TOKEN;
    return p;
}

#endif
