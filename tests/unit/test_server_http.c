/* The HTTP core without a model or an index: the route table (404, 405 with
 * Allow), the service routes (/healthz, /readyz saying why it is not ready,
 * /metrics in Prometheus text, /v1/info), JSON errors, limits (413 for
 * headers and bodies, 400 for a body where none belongs), a malformed
 * X-Deadline-Ms, the connection cap counted at accept, and read timeouts. */
#include "testutil.h"

#include "server_harness.h"

#include "common/clock.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <string.h>
#include <time.h>

static json_t *body_json(const test_response *r)
{
    json_error_t err;
    json_t *j = json_loadb(r->body, r->body_len, 0, &err);
    if (!j)
        fail_msg("not JSON (%s): %.*s", err.text, (int)r->body_len, r->body);
    return j;
}

static void expect_error(const test_response *r, int status, const char *code)
{
    assert_int_equal(r->status, status);
    json_t *j = body_json(r);
    const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_non_null(c);
    assert_non_null(m);
    assert_true(strlen(m) > 0);
    assert_string_equal(c, code);
    json_decref(j);
}

static void service_routes(void **state)
{
    (void)state;
    test_server t;
    assert_int_equal(test_server_start(&t, cdx_server_default_params(), NULL, NULL), 0);
    test_response r;
    assert_int_equal(test_http(t.port, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"ok\""));
    test_response_free(&r);

    assert_int_equal(test_http(t.port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 503);
    char h[64];
    assert_non_null(test_header(&r, "Retry-After", h, sizeof h));
    json_t *j = body_json(&r);
    assert_false(json_is_true(json_object_get(j, "ready")));
    assert_true(json_array_size(json_object_get(j, "reasons")) >= 2); /* no model, no index */
    json_decref(j);
    test_response_free(&r);

    assert_int_equal(test_http(t.port, "GET", "/v1/info", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    j = body_json(&r);
    assert_non_null(json_object_get(json_object_get(j, "versions"), "clipdex"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "limits"), "k_max")), 1000);
    json_decref(j);
    test_response_free(&r);

    assert_int_equal(test_http(t.port, "GET", "/nope", NULL, NULL, 0, &r), 0);
    expect_error(&r, 404, "no_route");
    test_response_free(&r);

    assert_int_equal(test_http(t.port, "POST", "/healthz", NULL, "x", 1, &r), 0);
    expect_error(&r, 405, "method_not_allowed");
    assert_non_null(test_header(&r, "Allow", h, sizeof h));
    assert_string_equal(h, "GET, HEAD");
    test_response_free(&r);

    assert_int_equal(test_http(t.port, "GET", "/healthz", "X-Deadline-Ms: soon\r\n", NULL, 0, &r), 0);
    expect_error(&r, 400, "bad_deadline");
    test_response_free(&r);

    /* Metrics count what came before, by route and status. */
    assert_int_equal(test_http(t.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(test_header(&r, "Content-Type", h, sizeof h));
    assert_non_null(strstr(h, "text/plain"));
    assert_non_null(strstr(r.body, "cdx_http_requests_total{route=\"healthz\",status=\"200\"} 1\n"));
    assert_non_null(strstr(r.body, "cdx_http_requests_total{route=\"readyz\",status=\"503\"} 1\n"));
    assert_non_null(strstr(r.body, "cdx_http_requests_total{route=\"unmatched\",status=\"404\"} 1\n"));
    assert_non_null(strstr(r.body, "cdx_http_requests_total{route=\"healthz\",status=\"400\"} 1\n"));
    assert_non_null(strstr(r.body, "# TYPE cdx_http_request_seconds histogram\n"));
    assert_non_null(strstr(r.body, "cdx_http_request_seconds_count{route=\"healthz\",phase=\"total\"} 2\n"));
    assert_non_null(strstr(r.body, "cdx_queue_capacity{queue=\"interactive\"} 64\n"));
    assert_non_null(strstr(r.body, "cdx_encoder_busy_seconds_total{class=\"batch\"}"));
    assert_non_null(strstr(r.body, "cdx_http_connections_total "));
    test_response_free(&r);
    test_server_stop(&t);
}

static void limits(void **state)
{
    (void)state;
    cdx_server_params p = cdx_server_default_params();
    p.max_header_bytes = 1024;
    p.max_body_bytes = 4096;
    p.max_query_body_bytes = 2048;
    test_server t;
    assert_int_equal(test_server_start(&t, p, NULL, NULL), 0);
    test_response r;
    /* Headers over the limit. */
    char big[2048];
    memset(big, 'a', sizeof big);
    memcpy(big, "X-Big: ", 7);
    memcpy(big + sizeof big - 3, "\r\n", 3);
    assert_int_equal(test_http(t.port, "GET", "/healthz", big, NULL, 0, &r), 0);
    expect_error(&r, 413, "headers_too_large");
    test_response_free(&r);
    /* A body over the server's limit is refused before it is read. */
    char *body = calloc(1, 8192);
    assert_int_equal(test_http(t.port, "GET", "/healthz", NULL, body, 8192, &r), 0);
    assert_int_equal(r.status, 413);
    test_response_free(&r);
    /* A body where the route takes none. */
    assert_int_equal(test_http(t.port, "GET", "/healthz", NULL, body, 10, &r), 0);
    expect_error(&r, 400, "unexpected_body");
    test_response_free(&r);
    free(body);
    test_server_stop(&t);
}

/* A read that ends because the server closed the connection (not our own
 * receive timeout, which test_connect sets to 10 s). */
static int closed_by_server(int fd)
{
    char buf[16];
    ssize_t n = read(fd, buf, sizeof buf);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void connection_cap_and_timeouts(void **state)
{
    (void)state;
    cdx_server_params p = cdx_server_default_params();
    p.max_connections = 3;
    p.read_timeout_ms = 1000;
    test_server t;
    assert_int_equal(test_server_start(&t, p, NULL, NULL), 0);
    /* Three keep-alive connections, each answered once: so all three are
     * counted before the fourth arrives (a condition, not a sleep). */
    const char keep[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    int fds[3];
    test_response r;
    for (int i = 0; i < 3; i++) {
        assert_true((fds[i] = test_connect(t.port)) >= 0);
        assert_int_equal(write(fds[i], keep, sizeof keep - 1), (ssize_t)(sizeof keep - 1));
        assert_int_equal(test_read_one(fds[i], &r), 0);
        assert_int_equal(r.status, 200);
        test_response_free(&r);
    }
    int64_t idle_since = cdx_clock_ns();
    /* A fourth connection is accepted by the kernel but not served while at the cap. */
    int extra = test_connect(t.port);
    assert_true(extra >= 0);
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_int_equal(write(extra, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    struct pollfd pf = {.fd = extra, .events = POLLIN};
    int answered_early = poll(&pf, 1, 200);
    /* Only meaningful while the idle ones cannot have timed out yet. */
    if (cdx_clock_ns() - idle_since < (int64_t)p.read_timeout_ms * 1000000 * 9 / 10)
        assert_int_equal(answered_early, 0);
    /* Idle connections are closed after the read timeout; then the waiting one is served. */
    assert_int_equal(test_read_response(extra, &r), 0);
    assert_int_equal(r.status, 200);
    test_response_free(&r);
    close(extra);
    for (int i = 0; i < 3; i++) {
        assert_true(closed_by_server(fds[i]));
        close(fds[i]);
    }
    assert_int_equal(test_http(t.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    /* Paused at least once: again when the idle ones time out one by one
     * (the waiting one takes the first free place, and the cap is reached again). */
    const char *pauses = strstr(r.body, "\ncdx_http_accept_pauses_total ");
    assert_non_null(pauses);
    assert_true(atoi(pauses + strlen("\ncdx_http_accept_pauses_total ")) >= 1);
    assert_non_null(strstr(r.body, "cdx_http_connections_total 5\n"));
    assert_non_null(strstr(r.body, "cdx_http_connections_open 1\n")); /* this one */
    test_response_free(&r);
    /* A slow client that never finishes its headers is dropped too, after
     * about the read timeout (the bound is a ratio of it, for loaded machines). */
    int slow = test_connect(t.port);
    assert_int_equal(write(slow, "GET /hea", 8), 8);
    int64_t t0 = cdx_clock_ns();
    assert_true(closed_by_server(slow));
    int64_t took_ms = (cdx_clock_ns() - t0) / 1000000;
    assert_true(took_ms < 5LL * p.read_timeout_ms);
    close(slow);
    test_server_stop(&t);
}

static void bad_listen_address(void **state)
{
    (void)state;
    cdx_server_params p = cdx_server_default_params();
    p.listen = "localhost:http";
    cdx_server *s = NULL;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_server_open(&p, NULL, NULL, &s, &eb), CDX_ERR_INVAL);
    assert_null(s);
    assert_non_null(strstr(eb.msg, "localhost:http"));
    p = cdx_server_default_params();
    p.max_connections = 0;
    assert_int_equal(cdx_server_open(&p, NULL, NULL, &s, &eb), CDX_ERR_INVAL);
    cdx_server_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(service_routes),
        cmocka_unit_test(limits),
        cmocka_unit_test(connection_cap_and_timeouts),
        cmocka_unit_test(bad_listen_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
