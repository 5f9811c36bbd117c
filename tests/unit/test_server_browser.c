/* The search page in headless Chromium (Debian's, from tools/bootstrap
 * --browser; driven by tests/browser/check_page.mjs over the DevTools
 * protocol): the page loads with no console error, exception or failed load;
 * typing a query and submitting shows the expected thumbnails, each loaded,
 * with its score; clicking one runs "more like this"; the upload form shows
 * because the server has a token. Skipped (77) where chromium or node is
 * missing; CI installs both.
 * ctest-labels: unit;browser
 * ctest-timeout: 120 */
#include "server_fixture.h"

#include <stdio.h>

/* Types a query, waits for the grid, clicks the first thumbnail, waits for
 * the "more like" results; returns what a person would see. */
static const char check_expr[] =
    "(async () => {"
    " const sleep = (ms) => new Promise((r) => setTimeout(r, ms));"
    " const until = async (f) => { for (let i = 0; i < 100 && !f(); i++) await sleep(50); return f(); };"
    " await until(() => !document.getElementById('upload').hidden);"
    " document.getElementById('q').value = 'a yellow star';"
    " document.getElementById('search-form').requestSubmit();"
    " await until(() => document.querySelectorAll('.card').length > 0);"
    " const imgs = [...document.querySelectorAll('.card img')];"
    " await until(() => imgs.every((i) => i.complete));"
    " const first = { ids: [...document.querySelectorAll('.card')].map((c) => +c.dataset.id),"
    "   loaded: imgs.filter((i) => i.naturalWidth > 0).length,"
    "   scores: [...document.querySelectorAll('.card .score')].map((s) => +s.textContent),"
    "   status: document.getElementById('status').textContent };"
    " imgs[0].click();"
    " await until(() => document.getElementById('status').textContent.includes('more like item'));"
    " await until(() => !document.getElementById('status').textContent.startsWith('searching'));"
    " return { first, more: [...document.querySelectorAll('.card')].map((c) => +c.dataset.id),"
    "   status: document.getElementById('status').textContent,"
    "   upload: !document.getElementById('upload').hidden };"
    "})()";

static int have(const char *cmd)
{
    char buf[256];
    snprintf(buf, sizeof buf, "command -v %s >/dev/null 2>&1", cmd);
    return system(buf) == 0;
}

static void search_page_in_chromium(void **state)
{
    (void)state;
    test_server t;
    assert_int_equal(test_server_start(&t, params(), enc, &vt), 0);
    char *script = cdx_test_src_path("tests/browser/check_page.mjs");
    char *exprf = cdx_test_fmt("%s/expr.js", tmpdir);
    assert_int_equal(cdx_test_write_file(exprf, check_expr, sizeof check_expr - 1), 0);
    char *cmd = cdx_test_fmt("node --experimental-websocket '%s' http://127.0.0.1:%d/ --expr \"$(cat '%s')\" "
                             "--timeout-ms 60000 2>&1",
                             script, t.port, exprf);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[65536];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    test_server_stop(&t);
    if (rc != 0)
        fail_msg("check_page exit %d:\n%s", rc, out);
    json_t *j = json_loads(strchr(out, '{') ? strchr(out, '{') : out, JSON_DISABLE_EOF_CHECK, NULL);
    if (!j)
        fail_msg("check_page output is not JSON:\n%s", out);
    assert_int_equal(json_array_size(json_object_get(j, "errors")), 0);
    json_t *r = json_object_get(j, "result"), *first = json_object_get(r, "first");
    json_t *ids = json_object_get(first, "ids");
    if (json_array_size(ids) != 6 || json_integer_value(json_array_get(ids, 0)) != 4)
        fail_msg("unexpected results: %s", out);
    assert_int_equal(json_integer_value(json_object_get(first, "loaded")), 6); /* every thumbnail loaded */
    assert_true(fabs(json_number_value(json_array_get(json_object_get(first, "scores"), 0)) - 1.0) < 1e-3);
    json_t *more = json_object_get(r, "more");
    assert_int_equal(json_array_size(more), 5); /* everything but item 4 itself */
    for (size_t i = 0; i < json_array_size(more); i++)
        assert_int_not_equal(json_integer_value(json_array_get(more, i)), 4);
    assert_true(json_is_true(json_object_get(r, "upload")));
    json_decref(j);
    free(cmd);
    free(exprf);
    free(script);
}

int main(void)
{
    if (!have("node") || !have("${CHROMIUM:-chromium}")) {
        printf("skip: needs node and chromium (tools/bootstrap --browser)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(search_page_in_chromium),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
