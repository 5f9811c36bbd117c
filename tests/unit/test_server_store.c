/* The server over a real data directory (cdx_server_store_catalog, what
 * `clipdex serve` binds): the store for item reads, search and deletes,
 * ingest's single-item path for uploads. An upload needs the token, lands in
 * the catalog with its caption and metadata and is searchable at once (by
 * its own image, and "more like this" from another item); the same bytes
 * again are the same item; a bad image is refused with 422 and its reason,
 * and leaves a dead letter (stage decode) for `clipdex failures list` (its
 * bytes are not kept); an
 * acknowledged upload survives closing and reopening the store. */
#include "testutil.h"

#include "server_harness.h"

#include "common/hash.h"
#include "index/store.h"
#include "server/request.h"

#include <jansson.h>
#include <math.h>
#include <string.h>
#include <vips/vips.h>

#include "server_fixture.h"

/* A PNG of w x h pixels whose colour and stripes depend on seed, so the
 * fixture image tower gives each a different vector. Caller frees (g_free). */
static void *make_png(int seed, size_t *len)
{
    enum { W = 48, H = 40 };
    static unsigned char px[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned char *p = px + (y * W + x) * 3;
            int band = ((x + seed * 7) / (4 + seed)) & 1;
            p[0] = (unsigned char)(seed & 1 ? 220 : 30 + 60 * band);
            p[1] = (unsigned char)(seed & 2 ? 200 - 100 * band : 40);
            p[2] = (unsigned char)((seed * 53 + y * 3) & 255);
        }
    VipsImage *img = vips_image_new_from_memory(px, sizeof px, W, H, 3, VIPS_FORMAT_UCHAR);
    void *buf = NULL;
    assert_non_null(img);
    assert_int_equal(vips_pngsave_buffer(img, &buf, len, NULL), 0);
    g_object_unref(img);
    return buf;
}

static json_t *request(int port, const char *method, const char *path, const char *body, int auth, int *status)
{
    test_response r;
    const char *h = auth ? "Content-Type: application/json\r\nAuthorization: Bearer " TOKEN "\r\n"
                         : "Content-Type: application/json\r\n";
    assert_int_equal(test_http(port, method, path, h, body, body ? strlen(body) : 0, &r), 0);
    *status = r.status;
    json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
    if (!j)
        fail_msg("%s %s: not JSON: %s", method, path, r.raw);
    test_response_free(&r);
    return j;
}

/* Uploads image bytes; returns the new item's id (201) or -status. */
static int64_t upload(int port, const void *img, size_t n, const char *extra_fields, int auth, json_t **err)
{
    char *b64 = cdx_base64_encode(img, n);
    char *body = cdx_test_fmt("{\"image\":\"%s\"%s}", b64, extra_fields ? extra_fields : "");
    int st;
    json_t *j = request(port, "POST", "/v1/items", body, auth, &st);
    int64_t id = st == 201 ? json_integer_value(json_object_get(j, "id")) : -st;
    if (err)
        *err = j;
    else
        json_decref(j);
    free(body);
    free(b64);
    return id;
}

typedef struct failures_seen {
    int n;
    char uri[128], stage[32], message[512];
} failures_seen;

static int collect_failure(void *ctx, const cdx_failure_row *row)
{
    failures_seen *f = ctx;
    f->n++;
    snprintf(f->uri, sizeof f->uri, "%s", row->uri);
    snprintf(f->stage, sizeof f->stage, "%s", row->stage);
    snprintf(f->message, sizeof f->message, "%s", row->message);
    return 0;
}

static void uploads_through_ingest(void **state)
{
    (void)state;
    char *data = cdx_test_fmt("%s/data", tmpdir);
    cdx_errbuf eb = {0};
    cdx_store *store = NULL;
    cdx_store_params sp = cdx_store_default_params();
    assert_int_equal(cdx_store_open(data, contract, &sp, &store, &eb), CDX_OK);
    cdx_server_catalog cat_store = cdx_server_store_catalog(store);
    cdx_server_params p = params();
    p.data_dir = data;
    test_server t;
    assert_int_equal(test_server_start(&t, p, enc, &cat_store), 0);

    size_t na, nb, nc;
    void *a = make_png(1, &na), *b = make_png(2, &nb), *c = make_png(3, &nc);
    /* The token is required. */
    assert_int_equal(upload(t.port, a, na, NULL, 0, NULL), -401);
    int64_t ia = upload(t.port, a, na, ",\"caption\":\"a striped red tile\",\"metadata\":{\"shape\":\"tile\",\"n\":1}",
                        1, NULL);
    int64_t ib = upload(t.port, b, nb, NULL, 1, NULL), ic = upload(t.port, c, nc, NULL, 1, NULL);
    assert_true(ia > 0 && ib > 0 && ic > 0 && ia != ib && ib != ic && ia != ic);
    /* The same bytes again are the same item. */
    assert_int_equal(upload(t.port, a, na, NULL, 1, NULL), ia);

    int st;
    char *path = cdx_test_fmt("/v1/items/%lld", (long long)ia);
    json_t *j = request(t.port, "GET", path, NULL, 0, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(j, "caption")), "a striped red tile");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "shape")), "tile");
    assert_true(strncmp(json_string_value(json_object_get(j, "uri")), "upload:", 7) == 0);
    json_decref(j);

    /* Searchable at once: its own image finds it first with cosine 1, and
     * "more like this" from b finds the other two, never b itself. */
    char *b64 = cdx_base64_encode(a, na);
    char *q = cdx_test_fmt("{\"image\":\"%s\",\"k\":3}", b64);
    j = request(t.port, "POST", "/v1/search", q, 0, &st);
    assert_int_equal(st, 200);
    json_t *res = json_object_get(j, "results");
    assert_int_equal(json_array_size(res), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(res, 0), "id")), ia);
    assert_true(fabs(json_number_value(json_object_get(json_array_get(res, 0), "score")) - 1.0) < 1e-4);
    json_decref(j);
    free(q);
    q = cdx_test_fmt("{\"item_id\":%lld,\"k\":5}", (long long)ib);
    j = request(t.port, "POST", "/v1/search", q, 0, &st);
    assert_int_equal(st, 200);
    res = json_object_get(j, "results");
    assert_int_equal(json_array_size(res), 2);
    for (size_t i = 0; i < json_array_size(res); i++)
        assert_true(json_integer_value(json_object_get(json_array_get(res, i), "id")) != ib);
    json_decref(j);
    free(q);

    /* The thumbnail comes from the bytes the server kept under DATA/uploads. */
    char *tp = cdx_test_fmt("/v1/items/%lld/thumbnail", (long long)ia);
    test_response r;
    assert_int_equal(test_http(t.port, "GET", tp, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.body_len > 100 && (uint8_t)r.body[0] == 0xFF && (uint8_t)r.body[1] == 0xD8);
    test_response_free(&r);

    /* A bad image: 422 with the reason, and a dead letter for its upload uri. */
    static const char junk[] = "this is not an image, whatever its name says";
    json_t *err = NULL;
    assert_int_equal(upload(t.port, junk, sizeof junk - 1, NULL, 1, &err), -422);
    const char *code = json_string_value(json_object_get(json_object_get(err, "error"), "code"));
    const char *msg = json_string_value(json_object_get(json_object_get(err, "error"), "message"));
    assert_string_equal(code, "image_decode_failed");
    assert_true(msg && strlen(msg) > 10);
    json_decref(err);
    char hex[CDX_HASH128_HEX_LEN + 1], *want_uri;
    cdx_hash128_to_hex(cdx_hash128_bytes(junk, sizeof junk - 1), hex);
    want_uri = cdx_test_fmt("upload:%s", hex);
    failures_seen fs = {0};
    assert_int_equal(cdx_store_list_failures(store, collect_failure, &fs, &eb), CDX_OK);
    assert_int_equal(fs.n, 1);
    assert_string_equal(fs.uri, want_uri);
    assert_string_equal(fs.stage, "decode");
    assert_true(strlen(fs.message) > 0);
    char *kept = cdx_test_fmt("%s/uploads/%s", data, hex);
    assert_int_equal(access(kept, F_OK), -1); /* the rejected bytes were not kept */
    free(kept);
    /* Bad requests never reach ingest. */
    j = request(t.port, "POST", "/v1/items", "{\"image\":\"%%%\"}", 1, &st);
    assert_int_equal(st, 400);
    json_decref(j);
    j = request(t.port, "POST", "/v1/items", "{\"caption\":\"no image\"}", 1, &st);
    assert_int_equal(st, 400);
    json_decref(j);

    /* Delete one; the catalog counts what is left. */
    char *dp = cdx_test_fmt("/v1/items/%lld", (long long)ic);
    j = request(t.port, "DELETE", dp, NULL, 1, &st);
    assert_int_equal(st, 200);
    json_decref(j);
    j = request(t.port, "GET", dp, NULL, 0, &st);
    assert_int_equal(st, 404);
    json_decref(j);
    assert_int_equal(test_http(t.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    assert_non_null(strstr(r.body, "\ncdx_catalog_items 2\n"));
    assert_non_null(strstr(r.body, "\ncdx_catalog_failures 1\n"));
    test_response_free(&r);
    test_server_stop(&t);

    /* Acknowledged means kept: reopen the directory and find the upload. */
    cdx_store_close(store);
    store = NULL;
    assert_int_equal(cdx_store_open(data, contract, &sp, &store, &eb), CDX_OK);
    cdx_item_row row;
    assert_int_equal(cdx_store_get_item(store, ia, &row, &eb), CDX_OK);
    assert_string_equal(row.caption, "a striped red tile");
    cdx_item_row_clear(&row);
    assert_int_equal(cdx_store_get_item(store, ic, &row, &eb), CDX_ERR_NOTFOUND);
    cdx_store_info info;
    assert_int_equal(cdx_store_get_info(store, &info, &eb), CDX_OK);
    assert_int_equal(info.items, 2);
    assert_int_equal(info.space[CDX_SPACE_IMAGE].indexed, 2);
    cdx_store_close(store);

    free(want_uri);
    free(dp);
    free(tp);
    free(b64);
    free(path);
    g_free(a);
    g_free(b);
    g_free(c);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uploads_through_ingest),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
