/* The query and item routes end to end over HTTP, on the fixture model
 * (tests/fixtures/contracts/fixture-clip.json) and an in-memory catalog that
 * keeps the store's contract (brute-force inner product): search by text,
 * vector and item (filters, k, "more like this" without itself), rerank
 * (ordering, the CLIP softmax), embed (the encoder's own vectors), JSON and
 * protobuf round trips, every 4xx with its reason, items and thumbnails,
 * auth, and admission under a slowed encoder: a request whose deadline
 * passes in the queue is dropped unrun, a full queue or a hopeless deadline
 * is refused at once with Retry-After. */
#include "testutil.h"

#include "server_harness.h"

#include "common/clock.h"
#include "common/hash.h"
#include "contracts/clipdex.pb-c.h"
#include "contracts/contract.h"
#include "encoder/encoder.h"
#include "server/request.h"

#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#include "server_fixture.h"

static json_t *post_json(int port, const char *path, const char *body, const char *headers, int *status)
{
    test_response r;
    char h[512];
    snprintf(h, sizeof h, "Content-Type: application/json\r\n%s", headers ? headers : "");
    assert_int_equal(test_http(port, "POST", path, h, body, strlen(body), &r), 0);
    *status = r.status;
    json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
    if (!j)
        fail_msg("%s: not JSON: %s", path, r.raw);
    test_response_free(&r);
    return j;
}

static const char *err_code(json_t *j) { return json_string_value(json_object_get(json_object_get(j, "error"), "code")); }

/* ---- tests --------------------------------------------------------------- */

static void search_routes(void **state)
{
    (void)state;
    test_server t;
    assert_int_equal(test_server_start(&t, params(), enc, &vt), 0);
    int st;
    /* A caption's own text finds that item first, with cosine 1. */
    json_t *j = post_json(t.port, "/v1/search", "{\"text\":\"a yellow star\",\"k\":3}", NULL, &st);
    assert_int_equal(st, 200);
    json_t *res = json_object_get(j, "results");
    assert_int_equal(json_array_size(res), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(res, 0), "id")), 4);
    assert_true(fabs(json_number_value(json_object_get(json_array_get(res, 0), "score")) - 1.0) < 1e-4);
    for (size_t i = 1; i < 3; i++)
        assert_true(json_number_value(json_object_get(json_array_get(res, i), "score")) <=
                    json_number_value(json_object_get(json_array_get(res, i - 1), "score")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(res, 0), "metadata"), "shape")),
                        "star");
    json_t *tm = json_object_get(j, "timings_ms");
    assert_true(json_number_value(json_object_get(tm, "encode")) > 0);
    assert_non_null(json_object_get(tm, "queue"));
    assert_non_null(json_object_get(tm, "fetch"));
    json_decref(j);

    /* Filters: equality and ranges. */
    j = post_json(t.port, "/v1/search", "{\"text\":\"a red circle\",\"k\":10,\"filter\":{\"shape\":\"square\"}}", NULL, &st);
    assert_int_equal(st, 200);
    res = json_object_get(j, "results");
    assert_int_equal(json_array_size(res), 2);
    json_decref(j);
    j = post_json(t.port, "/v1/search", "{\"text\":\"a red circle\",\"k\":10,\"filter\":{\"size\":{\"gte\":2,\"lt\":4}}}",
                  NULL, &st);
    assert_int_equal(json_array_size(json_object_get(j, "results")), 2);
    json_decref(j);

    /* More like this: the item itself is not among its results. */
    j = post_json(t.port, "/v1/search", "{\"item_id\":1,\"k\":5}", NULL, &st);
    assert_int_equal(st, 200);
    res = json_object_get(j, "results");
    assert_int_equal(json_array_size(res), 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_not_equal(json_integer_value(json_object_get(json_array_get(res, i), "id")), 1);
    json_decref(j);

    static const struct {
        const char *body;
        int status;
        const char *code;
    } bad[] = {
        {"{\"text\":", 400, "invalid_json"},
        {"{\"image\":\"%%%\"}", 400, "bad_base64"},
        {"{\"vector\":[1,2,3]}", 400, "dim_mismatch"},
        {"{\"text\":\"x\",\"k\":100000}", 400, "k_out_of_range"},
        {"{\"item_id\":999}", 404, "unknown_item"},
        {"{\"image\":\"aGVsbG8gd29ybGQ=\"}", 422, "image_decode_failed"},
        {"{}", 400, "missing_query"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = post_json(t.port, "/v1/search", bad[i].body, NULL, &st);
        if (st != bad[i].status || !err_code(j) || strcmp(err_code(j), bad[i].code) != 0)
            fail_msg("%s: %d %s, expected %d %s", bad[i].body, st, err_code(j) ? err_code(j) : "-", bad[i].status,
                     bad[i].code);
        json_decref(j);
    }
    /* A wrong content type. */
    test_response r;
    assert_int_equal(test_http(t.port, "POST", "/v1/search", "Content-Type: text/xml\r\n", "<q/>", 4, &r), 0);
    assert_int_equal(r.status, 415);
    test_response_free(&r);

    /* Protobuf both ways. */
    Clipdex__V1__Query q = CLIPDEX__V1__QUERY__INIT;
    q.text = "a blue square";
    Clipdex__V1__SearchRequest m = CLIPDEX__V1__SEARCH_REQUEST__INIT;
    m.query = &q;
    m.has_k = 1;
    m.k = 2;
    uint8_t buf[256];
    size_t n = clipdex__v1__search_request__pack(&m, buf);
    assert_int_equal(test_http(t.port, "POST", "/v1/search", "Content-Type: application/x-protobuf\r\n", buf, n, &r), 0);
    assert_int_equal(r.status, 200);
    Clipdex__V1__SearchResponse *sr =
        clipdex__v1__search_response__unpack(NULL, r.body_len, (const uint8_t *)r.body);
    assert_non_null(sr);
    assert_int_equal(sr->n_results, 2);
    assert_int_equal(sr->results[0]->id, 2);
    assert_string_equal(sr->results[0]->caption, "a blue square");
    assert_non_null(sr->timings);
    assert_true(sr->timings->encode_ms > 0);
    clipdex__v1__search_response__free_unpacked(sr, NULL);
    test_response_free(&r);
    test_server_stop(&t);
}

static void rerank_and_embed(void **state)
{
    (void)state;
    test_server t;
    assert_int_equal(test_server_start(&t, params(), enc, &vt), 0);
    int st;
    json_t *j = post_json(t.port, "/v1/rerank",
                          "{\"text\":\"a blue circle\",\"candidates\":{\"texts\":[\"a red square\",\"a blue circle\","
                          "\"a yellow star\"]}}",
                          NULL, &st);
    assert_int_equal(st, 200);
    json_t *res = json_object_get(j, "results");
    assert_int_equal(json_array_size(res), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(res, 0), "index")), 1);
    double sum = 0;
    for (size_t i = 0; i < 3; i++)
        sum += json_number_value(json_object_get(json_array_get(res, i), "probability"));
    assert_true(fabs(sum - 1.0) < 1e-6); /* CLIP: a softmax over the candidates */
    assert_string_equal(json_string_value(json_object_get(j, "family")), "clip");
    json_decref(j);
    /* Candidates by id; the best is the query's own caption's item. */
    j = post_json(t.port, "/v1/rerank", "{\"text\":\"a green triangle\",\"candidates\":{\"ids\":[1,3,5]}}", NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(j, "results"), 0), "id")), 3);
    json_decref(j);
    j = post_json(t.port, "/v1/rerank", "{\"text\":\"x\",\"candidates\":{\"ids\":[1,77]}}", NULL, &st);
    assert_int_equal(st, 404);
    assert_string_equal(err_code(j), "unknown_item");
    json_decref(j);

    /* Embed gives the encoder's own vectors. */
    j = post_json(t.port, "/v1/embed", "{\"texts\":[\"a red circle\",\"a yellow star\"]}", NULL, &st);
    assert_int_equal(st, 200);
    json_t *vecs = json_object_get(j, "vectors");
    assert_int_equal(json_array_size(vecs), 2);
    json_t *v1 = json_object_get(json_array_get(vecs, 1), "vector");
    assert_int_equal(json_array_size(v1), cat.dim);
    for (int d = 0; d < cat.dim; d++)
        assert_true(fabs(json_number_value(json_array_get(v1, (size_t)d)) - cat.items[3].vec[d]) < 1e-5);
    json_decref(j);

    /* Protobuf embed round trip. */
    Clipdex__V1__EmbedRequest em = CLIPDEX__V1__EMBED_REQUEST__INIT;
    char *texts[] = {"a blue square"};
    em.n_texts = 1;
    em.texts = texts;
    uint8_t buf[256];
    size_t n = clipdex__v1__embed_request__pack(&em, buf);
    test_response r;
    assert_int_equal(test_http(t.port, "POST", "/v1/embed", "Content-Type: application/x-protobuf\r\n", buf, n, &r), 0);
    assert_int_equal(r.status, 200);
    Clipdex__V1__EmbedResponse *er = clipdex__v1__embed_response__unpack(NULL, r.body_len, (const uint8_t *)r.body);
    assert_non_null(er);
    assert_int_equal(er->dim, cat.dim);
    assert_int_equal(er->n_vectors, 1);
    for (int d = 0; d < cat.dim; d++)
        assert_true(fabsf(er->vectors[0]->values[d] - cat.items[1].vec[d]) < 1e-6f);
    clipdex__v1__embed_response__free_unpacked(er, NULL);
    test_response_free(&r);

    /* Protobuf rerank round trip. */
    Clipdex__V1__Query q = CLIPDEX__V1__QUERY__INIT;
    q.text = "a red square";
    Clipdex__V1__RerankRequest rm = CLIPDEX__V1__RERANK_REQUEST__INIT;
    rm.query = &q;
    int64_t ids[] = {2, 5};
    rm.n_candidate_ids = 2;
    rm.candidate_ids = ids;
    n = clipdex__v1__rerank_request__pack(&rm, buf);
    assert_int_equal(test_http(t.port, "POST", "/v1/rerank", "Content-Type: application/x-protobuf\r\n", buf, n, &r), 0);
    assert_int_equal(r.status, 200);
    Clipdex__V1__RerankResponse *rr = clipdex__v1__rerank_response__unpack(NULL, r.body_len, (const uint8_t *)r.body);
    assert_non_null(rr);
    assert_int_equal(rr->n_results, 2);
    assert_int_equal(rr->results[0]->id, 5);
    assert_true(fabsf(rr->results[0]->probability + rr->results[1]->probability - 1.0f) < 1e-5f);
    clipdex__v1__rerank_response__free_unpacked(rr, NULL);
    test_response_free(&r);
    test_server_stop(&t);
}

static void items_and_auth(void **state)
{
    (void)state;
    test_server t;
    assert_int_equal(test_server_start(&t, params(), enc, &vt), 0);
    test_response r;
    assert_int_equal(test_http(t.port, "GET", "/v1/items/2", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"a blue square\""));
    test_response_free(&r);
    assert_int_equal(test_http(t.port, "GET", "/v1/items/abc", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 400);
    test_response_free(&r);
    assert_int_equal(test_http(t.port, "GET", "/v1/items/4242", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 404);
    test_response_free(&r);

    /* Thumbnails: JPEG, then from the cache. */
    assert_int_equal(test_http(t.port, "GET", "/v1/items/3/thumbnail", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    char h[128];
    assert_string_equal(test_header(&r, "Content-Type", h, sizeof h), "image/jpeg");
    assert_true(r.body_len > 100 && (uint8_t)r.body[0] == 0xFF && (uint8_t)r.body[1] == 0xD8);
    test_response_free(&r);
    char *cached = cdx_test_fmt("%s/thumbs/3-256-%032d.jpg", tmpdir, 3);
    assert_int_equal(access(cached, F_OK), 0);
    free(cached);

    /* Deleting needs the token. */
    assert_int_equal(test_http(t.port, "DELETE", "/v1/items/6", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 401);
    assert_non_null(test_header(&r, "WWW-Authenticate", h, sizeof h));
    test_response_free(&r);
    assert_int_equal(test_http(t.port, "DELETE", "/v1/items/6", "Authorization: Bearer wrong-token\r\n", NULL, 0, &r), 0);
    assert_int_equal(r.status, 401);
    test_response_free(&r);
    assert_int_equal(test_http(t.port, "DELETE", "/v1/items/6", "Authorization: Bearer " TOKEN "\r\n", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    test_response_free(&r);
    assert_int_equal(test_http(t.port, "GET", "/v1/items/6", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 404);
    test_response_free(&r);

    /* Upload: the PNG, with a caption and metadata; then it is an item. */
    size_t plen;
    char *png_path = cdx_test_fmt("%s/shape.png", tmpdir);
    unsigned char *png = cdx_test_read_file(png_path, &plen);
    char *b64 = cdx_base64_encode(png, plen);
    char *body = cdx_test_fmt("{\"image\":\"%s\",\"caption\":\"a black box\",\"metadata\":{\"shape\":\"box\"}}", b64);
    int st;
    json_t *j = post_json(t.port, "/v1/items", body, NULL, &st);
    assert_int_equal(st, 401);
    json_decref(j);
    j = post_json(t.port, "/v1/items", body, "Authorization: Bearer " TOKEN "\r\n", &st);
    assert_int_equal(st, 201);
    int64_t id = json_integer_value(json_object_get(j, "id"));
    assert_true(id > 0);
    assert_true(strncmp(json_string_value(json_object_get(j, "uri")), "upload:", 7) == 0);
    json_decref(j);
    char *p = cdx_test_fmt("/v1/items/%lld/thumbnail", (long long)id);
    assert_int_equal(test_http(t.port, "GET", p, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200); /* from the bytes the server kept */
    test_response_free(&r);
    j = post_json(t.port, "/v1/items", "{\"image\":\"aGVsbG8=\"}", "Authorization: Bearer " TOKEN "\r\n", &st);
    assert_int_equal(st, 422);
    json_decref(j);
    free(p);
    free(body);
    free(b64);
    free(png);
    free(png_path);
    test_server_stop(&t);

    /* No token configured: write routes are disabled. */
    cdx_server_params np = params();
    np.token = NULL;
    assert_int_equal(test_server_start(&t, np, enc, &vt), 0);
    assert_int_equal(test_http(t.port, "DELETE", "/v1/items/1", "Authorization: Bearer " TOKEN "\r\n", NULL, 0, &r), 0);
    assert_int_equal(r.status, 403);
    test_response_free(&r);
    test_server_stop(&t);
}

static void web_page(void **state)
{
    (void)state;
    test_server t;
    assert_int_equal(test_server_start(&t, params(), enc, &vt), 0);
    test_response r;
    char h[128];
    assert_int_equal(test_http(t.port, "GET", "/", NULL, NULL, 0, &r), 0);
    if (r.status != 200)
        fail_msg("%s", r.raw);
    assert_non_null(strstr(test_header(&r, "Content-Type", h, sizeof h), "text/html"));
    assert_non_null(strstr(r.body, "/ui/app.js"));
    test_response_free(&r);
    assert_int_equal(test_http(t.port, "GET", "/ui/app.js", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "/v1/search"));
    test_response_free(&r);
    assert_int_equal(test_http(t.port, "GET", "/ui/../../etc/passwd", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 404);
    test_response_free(&r);
    test_server_stop(&t);
}

/* The value of one sample line in Prometheus text; NAN when absent. */
static double metric_value(const char *text, const char *series)
{
    const char *p = strstr(text, series);
    return p ? strtod(p + strlen(series), NULL) : NAN;
}

/* Sends a search without reading the answer yet. */
static int send_search(int port, const char *extra)
{
    int fd = test_connect(port);
    char req[512];
    const char *body = "{\"text\":\"a red circle\",\"k\":2}";
    int n = snprintf(req, sizeof req,
                     "POST /v1/search HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n"
                     "%sContent-Length: %zu\r\n\r\n%s",
                     extra ? extra : "", strlen(body), body);
    assert_int_equal(write(fd, req, (size_t)n), n);
    return fd;
}

static void admission_over_http(void **state)
{
    (void)state;
    cdx_server_params p = params();
    p.fault_encode_delay_ms = 400;
    p.interactive_workers = 1;
    p.interactive_capacity = 1;
    test_server t;
    assert_int_equal(test_server_start(&t, p, enc, &vt), 0);
    /* One runs (slowly), one waits with a 60 ms deadline: it passes in the
     * queue and the request is dropped unrun; a third finds the queue full.
     * Each step waits for the server's own state in /metrics (an inline
     * route, answered while the worker is busy), not for a fixed sleep. */
    int a = send_search(t.port, NULL);
    assert_int_equal(test_wait_metric(t.port, "cdx_queue_busy_workers{queue=\"interactive\"} 1\n"), 0);
    int b = send_search(t.port, "X-Deadline-Ms: 60\r\n");
    assert_int_equal(test_wait_metric(t.port, "cdx_queue_depth{queue=\"interactive\"} 1\n"), 0);
    test_response r;
    int c = send_search(t.port, NULL);
    assert_int_equal(test_read_response(c, &r), 0);
    /* At once, not after the slow one: a is still running (no answer yet). */
    struct pollfd pa = {.fd = a, .events = POLLIN};
    assert_int_equal(poll(&pa, 1, 0), 0);
    assert_int_equal(r.status, 503);
    char h[64];
    assert_non_null(test_header(&r, "Retry-After", h, sizeof h));
    assert_non_null(strstr(r.body, "\"overloaded\""));
    test_response_free(&r);
    close(c);
    assert_int_equal(test_read_response(a, &r), 0);
    assert_int_equal(r.status, 200);
    test_response_free(&r);
    close(a);
    assert_int_equal(test_read_response(b, &r), 0);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"deadline_exceeded\""));
    test_response_free(&r);
    close(b);
    /* Now the service estimate knows a search takes ~400 ms: a 100 ms
     * deadline is refused at once, without running the encoder (its time,
     * as a ratio of the encoder's delay, and the tower's run count say so). */
    assert_int_equal(test_http(t.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    double busy_before = metric_value(r.body, "cdx_encoder_busy_seconds_total{class=\"interactive\"}");
    test_response_free(&r);
    int64_t t0 = cdx_clock_ns();
    c = send_search(t.port, "X-Deadline-Ms: 100\r\n");
    assert_int_equal(test_read_response(c, &r), 0);
    int64_t took_ns = cdx_clock_ns() - t0;
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"overloaded\""));
    assert_true(took_ns < (int64_t)p.fault_encode_delay_ms * 1000000 / 2);
    test_response_free(&r);
    close(c);
    /* A client may lower its deadline, never raise it: 10 minutes is capped at the default. */
    c = send_search(t.port, "X-Deadline-Ms: 600000\r\n");
    assert_int_equal(test_read_response(c, &r), 0);
    assert_int_equal(r.status, 200);
    test_response_free(&r);
    close(c);
    assert_int_equal(test_http(t.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    assert_non_null(strstr(r.body, "cdx_http_expired_total{route=\"search\"} 1\n"));
    assert_non_null(strstr(r.body, "cdx_http_refused_total{route=\"search\",reason=\"full\"} 1\n"));
    assert_non_null(strstr(r.body, "cdx_http_refused_total{route=\"search\",reason=\"wait\"} 1\n"));
    assert_non_null(strstr(r.body, "cdx_tower_bucket_runs_total{tower=\"text\""));
    assert_non_null(strstr(r.body, "cdx_index_vectors{space=\"image\",where=\"index\"}"));
    /* Between the two readings only the capped search ran the encoder (one
     * delay, not two: the refused one never ran). */
    double busy_after = metric_value(r.body, "cdx_encoder_busy_seconds_total{class=\"interactive\"}");
    assert_true(busy_after - busy_before >= 0.4 && busy_after - busy_before < 0.8);
    test_response_free(&r);
    test_server_stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(search_routes),
        cmocka_unit_test(rerank_and_embed),
        cmocka_unit_test(items_and_auth),
        cmocka_unit_test(web_page),
        cmocka_unit_test(admission_over_http),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
