/* `clipdex index info|verify|rebuild|tune|bench` and `clipdex failures list`
 * on a data directory this test writes through the store API: the outputs,
 * the JSON, and the exit codes (verify: 1 when an index file disagrees).
 * ctest-labels: integration */
#include "testutil.h"

#include "store_fixture.h"

#include "index/sidecar.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs `$CLIPDEX args`; returns the exit code, *out the stdout (caller frees). */
static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...)
{
    const char *bin = getenv("CLIPDEX");
    if (!bin)
        bin = CDX_BUILD_DIR "/clipdex";
    va_list ap;
    va_start(ap, fmt);
    char *args = NULL;
    assert_true(vasprintf(&args, fmt, ap) >= 0);
    va_end(ap);
    char *cmd = cdx_test_fmt("%s %s 2>/dev/null", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t k;
    while ((k = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += k;
        if (len + 1 == cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    int status = pclose(p);
    free(cmd);
    free(args);
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("not JSON (%s): %s", e.text, text);
    return j;
}

static void data_dir_commands(void **state)
{
    (void)state;
    const int32_t dim = 16, n = 300;
    char *dir = cdx_test_mkdtemp("index-cli");
    char *data = cdx_test_fmt("%s/data", dir);
    cdx_contract *c = cdx_test_store_contract("fixture-clip", dim);
    cdx_store_params p = cdx_store_default_params();
    p.index_spec = "flat";
    cdx_store *s;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_store_open(data, c, &p, &s, &eb), CDX_OK);
    float *x = cdx_test_unit_vectors(n, dim, 5);
    cdx_item items[300];
    char uris[300 * 32];
    cdx_test_items(items, uris, n, 0);
    assert_int_equal(cdx_store_put_batch(s, items, x, NULL, n, &eb), CDX_OK);
    for (int i = 0; i < 3; i++) {
        char uri[32];
        snprintf(uri, sizeof uri, "bad/%d.jpg", i);
        cdx_failure f = {.uri = uri, .stage = "decode", .code = CDX_ERR_DECODE, .message = "truncated JPEG"};
        assert_int_equal(cdx_store_put_failure(s, &f, &eb), CDX_OK);
    }
    cdx_store_close(s);

    char *out;
    assert_int_equal(run(&out, "index info --data %s --json", data), 0);
    json_t *j = parse(out);
    assert_int_equal(json_integer_value(json_object_get(j, "items")), n);
    assert_int_equal(json_integer_value(json_object_get(j, "failures")), 3);
    json_t *img = json_object_get(json_object_get(j, "spaces"), "image");
    assert_int_equal(json_integer_value(json_object_get(img, "indexed")), n);
    assert_string_equal(json_string_value(json_object_get(img, "spec")), "flat");
    json_decref(j);
    free(out);

    assert_int_equal(run(&out, "index verify --data %s", data), 0);
    assert_non_null(strstr(out, "ok: the indexes agree"));
    free(out);

    assert_int_equal(run(&out, "failures list --data %s --json", data), 0);
    j = parse(out);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 3);
    json_t *f0 = json_array_get(json_object_get(j, "failures"), 0);
    assert_string_equal(json_string_value(json_object_get(f0, "code")), "DECODE");
    assert_string_equal(json_string_value(json_object_get(f0, "stage")), "decode");
    json_decref(j);
    free(out);
    assert_int_equal(run(&out, "failures list --data %s", data), 0);
    assert_non_null(strstr(out, "bad/2.jpg: truncated JPEG"));
    free(out);

    /* Damage the index file: verify says so and fails; rebuild mends it. */
    char *scp = cdx_test_fmt("%s/index-image.json", data);
    size_t len;
    unsigned char *text = cdx_test_read_file(scp, &len);
    cdx_sidecar sc;
    assert_int_equal(cdx_sidecar_parse((const char *)text, len, &sc, &eb), CDX_OK);
    free(text);
    char *dp = cdx_test_fmt("%s/%s", data, sc.file);
    unsigned char *bytes = cdx_test_read_file(dp, &len);
    bytes[len / 2] ^= 1;
    assert_int_equal(cdx_test_write_file(dp, bytes, len), 0);
    free(bytes);
    assert_int_equal(run(&out, "index verify --data %s", data), 1);
    assert_non_null(strstr(out, "sha256"));
    assert_non_null(strstr(out, "DISAGREE"));
    free(out);
    assert_int_equal(run(&out, "index verify --data %s --json", data), 1);
    j = parse(out);
    assert_false(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
    free(out);
    assert_int_equal(run(&out, "index rebuild --data %s --spec hnsw:m=8,efc=32", data), 0);
    assert_non_null(strstr(out, "hnsw:m=8,efc=32"));
    free(out);
    /* a kind that trains needs data to train on: exact search until then, and it says so */
    assert_int_equal(run(&out, "index rebuild --data %s --spec sq8", data), 0);
    assert_non_null(strstr(out, "until the catalog has 1000"));
    free(out);
    assert_int_equal(run(&out, "index verify --data %s", data), 0);
    free(out);

    /* Tuning table. */
    assert_int_equal(run(&out, "index tune --data %s --spec 'flat;hnsw:m=8,efc=32' --queries 20 --json", data), 0);
    j = parse(out);
    json_t *cands = json_object_get(j, "candidates");
    assert_true(json_array_size(cands) >= 2);
    assert_true(json_real_value(json_object_get(json_array_get(cands, 0), "recall_at_10")) == 1.0);
    json_decref(j);
    free(out);

    /* Errors: usage 2, not a data directory 3. */
    assert_int_equal(run(&out, "index info"), 2);
    free(out);
    assert_int_equal(run(&out, "index frobnicate --data %s", data), 2);
    free(out);
    assert_int_equal(run(&out, "index info --data %s/nope", dir), 3);
    free(out);
    assert_int_equal(run(&out, "failures list --data %s/nope --json", dir), 3);
    j = parse(out);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "NOTFOUND");
    json_decref(j);
    free(out);

    /* The synthetic bench. */
    assert_int_equal(run(&out, "index bench --vectors 2000 --dim 16 --spec 'flat;ivf;auto' --queries 20 --json"), 0);
    j = parse(out);
    json_t *res = json_object_get(j, "results");
    assert_int_equal(json_array_size(res), 3);
    /* auto says what it chose and why (a scan of 2000 x 16 is cheap) */
    assert_string_equal(json_string_value(json_object_get(json_array_get(res, 2), "auto_choice")), "flat");
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(res, 2), "why")), "exact scan"));
    assert_null(json_object_get(json_array_get(res, 0), "auto_choice"));
    json_decref(j);
    free(out);

    free(dp);
    free(scp);
    free(x);
    cdx_contract_close(c);
    free(data);
    cdx_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(data_dir_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
