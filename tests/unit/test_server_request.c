/* Request parsing: each field of search, rerank and embed in JSON and in
 * protobuf (packed here with the generated code and parsed back), the reason
 * codes of every kind of bad input (bad JSON, bad base64, wrong vector
 * dimension, k out of range, unknown fields, too many inputs), base64 both
 * ways, and the metadata filter's equality and range tests. */
#include "testutil.h"

#include "contracts/clipdex.pb-c.h"
#include "server/request.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static cdx_request_limits lim4(void)
{
    cdx_request_limits l = cdx_request_default_limits();
    l.dim = 4;
    l.k_max = 50;
    l.max_inputs = 3;
    l.max_text_bytes = 16;
    return l;
}

static int parse_search(const char *json, cdx_search_request *r, const char **reason, cdx_arena *a)
{
    cdx_request_limits l = lim4();
    cdx_errbuf eb = {0};
    return cdx_request_parse_search(json, strlen(json), 0, &l, a, r, reason, &eb);
}

static void search_json(void **state)
{
    (void)state;
    cdx_arena *a;
    assert_int_equal(cdx_arena_init(0, &a), CDX_OK);
    cdx_search_request r;
    const char *reason;
    assert_int_equal(parse_search("{\"text\":\"a red circle\"}", &r, &reason, a), CDX_OK);
    assert_int_equal(r.query.kind, CDX_QUERY_TEXT);
    assert_string_equal(r.query.text, "a red circle");
    assert_int_equal(r.k, 10);
    assert_int_equal(parse_search("{\"vector\":[3,0,4,0],\"k\":7,\"space\":\"caption\","
                                  "\"filter\":{\"shape\":\"circle\",\"size\":{\"gte\":2,\"lt\":9},\"ok\":true}}",
                                  &r, &reason, a),
                     CDX_OK);
    assert_int_equal(r.query.kind, CDX_QUERY_VECTOR);
    assert_true(fabsf(r.query.vector[0] - 0.6f) < 1e-6 && fabsf(r.query.vector[2] - 0.8f) < 1e-6);
    assert_int_equal(r.k, 7);
    assert_int_equal(r.space, 1);
    assert_int_equal(r.n_conds, 3);
    assert_true(cdx_filter_match(r.conds, r.n_conds, "{\"shape\":\"circle\",\"size\":2,\"ok\":true}"));
    assert_false(cdx_filter_match(r.conds, r.n_conds, "{\"shape\":\"circle\",\"size\":9,\"ok\":true}"));
    assert_false(cdx_filter_match(r.conds, r.n_conds, "{\"shape\":\"square\",\"size\":3,\"ok\":true}"));
    assert_false(cdx_filter_match(r.conds, r.n_conds, "{\"shape\":\"circle\",\"size\":\"3\",\"ok\":true}"));
    assert_false(cdx_filter_match(r.conds, r.n_conds, NULL));
    assert_true(cdx_filter_match(r.conds, 0, NULL));
    assert_int_equal(parse_search("{\"item_id\":42,\"k\":1}", &r, &reason, a), CDX_OK);
    assert_int_equal(r.query.item_id, 42);
    assert_int_equal(parse_search("{\"image\":\"aGVsbG8=\"}", &r, &reason, a), CDX_OK);
    assert_int_equal(r.query.image_len, 5);
    assert_memory_equal(r.query.image, "hello", 5);

    static const struct {
        const char *body, *reason;
        int rc;
    } bad[] = {
        {"{\"text\":", "invalid_json", CDX_ERR_PARSE},
        {"[1,2]", "invalid_json", CDX_ERR_PARSE},
        {"{\"image\":\"not base64!\"}", "bad_base64", CDX_ERR_INVAL},
        {"{\"vector\":[1,2,3]}", "dim_mismatch", CDX_ERR_INVAL},
        {"{\"vector\":[0,0,0,0]}", "invalid_field", CDX_ERR_INVAL},
        {"{\"text\":\"x\",\"k\":0}", "k_out_of_range", CDX_ERR_INVAL},
        {"{\"text\":\"x\",\"k\":51}", "k_out_of_range", CDX_ERR_INVAL},
        {"{\"text\":\"x\",\"kk\":5}", "invalid_field", CDX_ERR_INVAL},
        {"{\"text\":\"x\",\"image\":\"aGk=\"}", "invalid_field", CDX_ERR_INVAL},
        {"{\"k\":5}", "missing_query", CDX_ERR_INVAL},
        {"{\"text\":\"this text is over sixteen bytes\"}", "too_large", CDX_ERR_TOOBIG},
        {"{\"text\":\"x\",\"filter\":{\"a\":{\"near\":1}}}", "invalid_field", CDX_ERR_INVAL},
        {"{\"text\":\"x\",\"filter\":{\"a\":[1]}}", "invalid_field", CDX_ERR_INVAL},
        {"{\"item_id\":-3}", "invalid_field", CDX_ERR_INVAL},
        {"{\"text\":\"x\",\"space\":\"audio\"}", "invalid_field", CDX_ERR_INVAL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        reason = NULL;
        int rc = parse_search(bad[i].body, &r, &reason, a);
        if (rc != bad[i].rc || !reason || strcmp(reason, bad[i].reason) != 0)
            fail_msg("%s: rc %d reason %s, expected %d %s", bad[i].body, rc, reason ? reason : "(none)", bad[i].rc,
                     bad[i].reason);
    }
    cdx_arena_free(a);
}

static void rerank_and_embed_json(void **state)
{
    (void)state;
    cdx_arena *a;
    assert_int_equal(cdx_arena_init(0, &a), CDX_OK);
    cdx_request_limits l = lim4();
    cdx_errbuf eb = {0};
    const char *reason;
    cdx_rerank_request rr;
    const char *j = "{\"text\":\"q\",\"candidates\":{\"texts\":[\"a\",\"b\"]}}";
    assert_int_equal(cdx_request_parse_rerank(j, strlen(j), 0, &l, a, &rr, &reason, &eb), CDX_OK);
    assert_int_equal(rr.n, 2);
    assert_string_equal(rr.candidates[1].text, "b");
    j = "{\"item_id\":5,\"candidates\":{\"ids\":[1,2,3]}}";
    assert_int_equal(cdx_request_parse_rerank(j, strlen(j), 0, &l, a, &rr, &reason, &eb), CDX_OK);
    assert_int_equal(rr.candidates[2].id, 3);
    j = "{\"item_id\":5,\"candidates\":{\"ids\":[1,2,3,4]}}";
    assert_int_equal(cdx_request_parse_rerank(j, strlen(j), 0, &l, a, &rr, &reason, &eb), CDX_ERR_TOOBIG);
    assert_string_equal(reason, "too_many_inputs");
    j = "{\"text\":\"q\",\"candidates\":{\"ids\":[1],\"texts\":[\"a\"]}}";
    assert_int_equal(cdx_request_parse_rerank(j, strlen(j), 0, &l, a, &rr, &reason, &eb), CDX_ERR_INVAL);
    j = "{\"text\":\"q\"}";
    assert_int_equal(cdx_request_parse_rerank(j, strlen(j), 0, &l, a, &rr, &reason, &eb), CDX_ERR_INVAL);
    cdx_embed_request er;
    j = "{\"images\":[\"aGk=\"],\"texts\":[\"x\",\"y\"]}";
    assert_int_equal(cdx_request_parse_embed(j, strlen(j), 0, &l, a, &er, &reason, &eb), CDX_OK);
    assert_int_equal(er.n, 3);
    assert_int_equal(er.inputs[0].kind, CDX_INPUT_TEXT); /* texts first */
    assert_int_equal(er.inputs[2].kind, CDX_INPUT_IMAGE);
    j = "{\"images\":[\"a\"]}";
    assert_int_equal(cdx_request_parse_embed(j, strlen(j), 0, &l, a, &er, &reason, &eb), CDX_ERR_INVAL);
    assert_string_equal(reason, "bad_base64");
    assert_non_null(strstr(eb.msg, "images[0]"));
    j = "{}";
    assert_int_equal(cdx_request_parse_embed(j, strlen(j), 0, &l, a, &er, &reason, &eb), CDX_ERR_INVAL);
    cdx_arena_free(a);
}

static void protobuf_requests(void **state)
{
    (void)state;
    cdx_arena *a;
    assert_int_equal(cdx_arena_init(0, &a), CDX_OK);
    cdx_request_limits l = lim4();
    cdx_errbuf eb = {0};
    const char *reason;

    Clipdex__V1__Query q = CLIPDEX__V1__QUERY__INIT;
    Clipdex__V1__Vector v = CLIPDEX__V1__VECTOR__INIT;
    float vals[4] = {0, 2, 0, 0};
    v.n_values = 4;
    v.values = vals;
    q.vector = &v;
    Clipdex__V1__Condition c = CLIPDEX__V1__CONDITION__INIT;
    c.key = "size";
    c.has_gt = 1;
    c.gt = 3;
    Clipdex__V1__Condition *cs[] = {&c};
    Clipdex__V1__SearchRequest m = CLIPDEX__V1__SEARCH_REQUEST__INIT;
    m.query = &q;
    m.has_k = 1;
    m.k = 5;
    m.n_filter = 1;
    m.filter = cs;
    uint8_t buf[256];
    size_t n = clipdex__v1__search_request__pack(&m, buf);
    cdx_search_request r;
    assert_int_equal(cdx_request_parse_search((const char *)buf, n, 1, &l, a, &r, &reason, &eb), CDX_OK);
    assert_int_equal(r.query.kind, CDX_QUERY_VECTOR);
    assert_true(fabsf(r.query.vector[1] - 1.0f) < 1e-6);
    assert_int_equal(r.k, 5);
    assert_int_equal(r.n_conds, 1);
    assert_true(cdx_filter_match(r.conds, 1, "{\"size\":3.5}"));
    assert_false(cdx_filter_match(r.conds, 1, "{\"size\":3}"));
    /* The default k, and a wrong dimension. */
    m.has_k = 0;
    v.n_values = 3;
    n = clipdex__v1__search_request__pack(&m, buf);
    assert_int_equal(cdx_request_parse_search((const char *)buf, n, 1, &l, a, &r, &reason, &eb), CDX_ERR_INVAL);
    assert_string_equal(reason, "dim_mismatch");
    /* Not a message at all. */
    assert_int_equal(cdx_request_parse_search("\xff\xff\xff", 3, 1, &l, a, &r, &reason, &eb), CDX_ERR_PARSE);
    assert_string_equal(reason, "invalid_protobuf");

    Clipdex__V1__Query tq = CLIPDEX__V1__QUERY__INIT;
    tq.text = "q";
    Clipdex__V1__RerankRequest rm = CLIPDEX__V1__RERANK_REQUEST__INIT;
    rm.query = &tq;
    int64_t ids[] = {7, 8};
    rm.n_candidate_ids = 2;
    rm.candidate_ids = ids;
    n = clipdex__v1__rerank_request__pack(&rm, buf);
    cdx_rerank_request rr;
    assert_int_equal(cdx_request_parse_rerank((const char *)buf, n, 1, &l, a, &rr, &reason, &eb), CDX_OK);
    assert_int_equal(rr.n, 2);
    assert_int_equal(rr.candidates[1].id, 8);

    Clipdex__V1__EmbedRequest em = CLIPDEX__V1__EMBED_REQUEST__INIT;
    char *texts[] = {"one", "two"};
    ProtobufCBinaryData img = {3, (uint8_t *)"abc"};
    em.n_texts = 2;
    em.texts = texts;
    em.n_images = 1;
    em.images = &img;
    n = clipdex__v1__embed_request__pack(&em, buf);
    cdx_embed_request er;
    assert_int_equal(cdx_request_parse_embed((const char *)buf, n, 1, &l, a, &er, &reason, &eb), CDX_OK);
    assert_int_equal(er.n, 3);
    assert_string_equal(er.inputs[1].text, "two");
    assert_int_equal(er.inputs[2].image_len, 3);
    cdx_arena_free(a);
}

static void base64_both_ways(void **state)
{
    (void)state;
    cdx_arena *a;
    assert_int_equal(cdx_arena_init(0, &a), CDX_OK);
    uint8_t data[256];
    for (int i = 0; i < 256; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    for (size_t len = 0; len < 40; len++) {
        char *e = cdx_base64_encode(data, len);
        uint8_t *d;
        size_t n;
        assert_int_equal(cdx_base64_decode(e, strlen(e), a, &d, &n), CDX_OK);
        assert_int_equal(n, len);
        assert_memory_equal(d, data, len);
        free(e);
    }
    uint8_t *d;
    size_t n;
    assert_int_equal(cdx_base64_decode("aGk", 3, a, &d, &n), CDX_OK); /* padding optional */
    assert_memory_equal(d, "hi", 2);
    const char *url = "data:image/png;base64,aGk=";
    assert_int_equal(cdx_base64_decode(url, strlen(url), a, &d, &n), CDX_OK);
    assert_int_equal(n, 2);
    assert_int_equal(cdx_base64_decode("a", 1, a, &d, &n), CDX_ERR_PARSE);
    assert_int_equal(cdx_base64_decode("aG k", 4, a, &d, &n), CDX_ERR_PARSE);
    assert_int_equal(cdx_base64_decode("data:x,aGk", 10, a, &d, &n), CDX_ERR_PARSE);
    cdx_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(search_json),
        cmocka_unit_test(rerank_and_embed_json),
        cmocka_unit_test(protobuf_requests),
        cmocka_unit_test(base64_both_ways),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
