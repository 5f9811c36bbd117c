/* Opening a contract checks what it points at: every artifact's sha256 and
 * each tower file's own opset, IR version, inputs and outputs. Each
 * difference is reported with the contract field, the contract's value and
 * the file's value; all differences are found, not only the first. */
#include "contract_fixture.h"

#include "contracts/contract_internal.h"
#include "contracts/onnx_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *scratch;

static int setup(void **state)
{
    (void)state;
    scratch = cdx_test_mkdtemp("contract-open");
    return scratch ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cdx_test_rmtree(scratch);
    free(scratch);
    return 0;
}

/* Opens a fixture with edits; checks the code and that each expected piece
 * is in the full problem report (the first also in the errbuf message), with
 * <file> replaced by the contract's path and <vision>/<text> by the tower
 * files'. */
static void expect_open(const char *name, const cdx_test_edit *e, size_t n, int code, const char *const *expect)
{
    cdx_contract *c = (cdx_contract *)1;
    cdx_errbuf eb = {0};
    char *file = NULL, *report = NULL;
    int rc = cdx_test_open_edited(scratch, name, e, n, NULL, &c, &eb, &file, &report);
    const char *msg = report;
    if (rc != code)
        fail_msg("%s: expected %s, got %s: %s", e[0].path, cdx_errname(code), cdx_errname(rc), cdx_errbuf_msg(&eb));
    assert_null(c);
    assert_non_null(report);
    int first = 1;
    char *rel = cdx_test_fmt("models/%s", name);
    char *mdir = cdx_test_fixture(rel);
    for (; *expect; expect++) {
        char *want = cdx_test_fmt("%s", *expect);
        static const char *const keys[] = {"<file>", "<vision>", "<text>"};
        for (int k = 0; k < 3; k++) {
            char *at = strstr(want, keys[k]);
            if (!at)
                continue;
            const char *by = k == 0 ? file : NULL;
            char *tower = k ? cdx_test_fmt("%s/onnx/%s_model.onnx", mdir, k == 1 ? "vision" : "text") : NULL;
            char *next = cdx_test_fmt("%.*s%s%s", (int)(at - want), want, by ? by : tower, at + strlen(keys[k]));
            free(tower);
            free(want);
            want = next;
            k--; /* the same key may appear again */
        }
        if (!strstr(msg, want))
            fail_msg("report lacks \"%s\":\n%s", want, msg);
        if (first && !strstr(cdx_errbuf_msg(&eb), want))
            fail_msg("message lacks \"%s\":\n%s", want, cdx_errbuf_msg(&eb));
        first = 0;
        free(want);
    }
    free(report);
    free(mdir);
    free(rel);
    free(file);
}

#define EXPECT(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ZERO_SHA "\"0000000000000000000000000000000000000000000000000000000000000000\""

static void sha256_mismatch(void **state)
{
    (void)state;
    char *tok = cdx_test_fixture("models/fixture-clip/tokenizer.json");
    char hex[65];
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_sha256_file_hex(tok, hex, &eb), CDX_OK);
    char *line = cdx_test_fmt("<file>: artifacts[2].sha256: contract says %.64s, %s has %s", &ZERO_SHA[1], tok, hex);
    cdx_test_edit e[] = {{"artifacts[2].sha256", ZERO_SHA}};
    expect_open("fixture-clip", e, 1, CDX_ERR_MISMATCH, EXPECT(line));
    free(line);
    free(tok);

    /* Two bad hashes: both reported, in one message. */
    cdx_test_edit two[] = {{"artifacts[2].sha256", ZERO_SHA}, {"artifacts[5].sha256", ZERO_SHA}};
    expect_open("fixture-clip", two, 2, CDX_ERR_MISMATCH,
                EXPECT("<file>: artifacts[2].sha256: contract says 0000", "\n<file>: artifacts[5].sha256"));
}

static void missing_artifact(void **state)
{
    (void)state;
    cdx_test_edit e[] = {{"artifacts[4].path", "\"no/merges.txt\""}};
    expect_open("fixture-clip", e, 1, CDX_ERR_NOTFOUND,
                EXPECT("<file>: artifacts[4].path: the merges file ", "/models/fixture-clip/no/merges.txt does not exist"));

    /* A missing tower is reported once (not again as an unreadable ONNX file). */
    cdx_test_edit t[] = {{"artifacts[1].path", "\"onnx/nope.onnx\""}};
    cdx_contract *c = NULL;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_test_open_edited(scratch, "fixture-clip", t, 1, NULL, &c, &eb, NULL, NULL), CDX_ERR_NOTFOUND);
    assert_null(strchr(cdx_errbuf_msg(&eb), '\n'));

    /* With hashing off, the ONNX read still finds it missing. */
    cdx_contract_params p = {.verify_artifacts = 0, .check_onnx = 1};
    assert_int_equal(cdx_test_open_edited(scratch, "fixture-clip", t, 1, &p, &c, &eb, NULL, NULL), CDX_ERR_NOTFOUND);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "artifacts[1].path: "));
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "onnx/nope.onnx: cannot open"));
}

/* Contract edits that make the (unchanged) tower files disagree with it. */
static void onnx_signature_differs(void **state)
{
    (void)state;
    cdx_test_edit name[] = {{"onnx.vision.inputs[0].name", "\"pixels\""}};
    expect_open("fixture-clip", name, 1, CDX_ERR_MISMATCH,
                EXPECT("<file>: onnx.vision.inputs[0].name: contract says \"pixels\", <vision> has \"pixel_values\""));

    cdx_test_edit dtype[] = {{"onnx.text.inputs[1].dtype", "\"int32\""}};
    expect_open("fixture-clip", dtype, 1, CDX_ERR_MISMATCH,
                EXPECT("<file>: onnx.text.inputs[1].dtype: contract says \"int32\", <text> has \"int64\""));

    cdx_test_edit odtype[] = {{"onnx.text.outputs[0].dtype", "\"float16\""}};
    expect_open("fixture-clip", odtype, 1, CDX_ERR_MISMATCH,
                EXPECT("<file>: onnx.text.outputs[0].dtype: contract says \"float16\", <text> has \"float32\""));

    cdx_test_edit rank[] = {{"onnx.vision.inputs[0].shape", "[\"batch\", 3, 16]"}};
    expect_open("fixture-clip", rank, 1, CDX_ERR_MISMATCH,
                EXPECT("<file>: onnx.vision.inputs[0].shape: contract says rank 3 [\"batch\", 3, 16], <vision> has "
                       "rank 4 [\"batch\", 3, 16, 16]"));

    /* A fixed dim in the contract where the file's is symbolic. */
    cdx_test_edit fixed[] = {{"onnx.vision.inputs[0].shape[0]", "4"}};
    expect_open("fixture-clip", fixed, 1, CDX_ERR_MISMATCH,
                EXPECT("<file>: onnx.vision.inputs[0].shape[0]: contract says 4, <vision> has symbolic \"batch\""));

    /* Fixed in both, different values (image.size moves with it to pass the schema). */
    cdx_test_edit dim[] = {{"image.size", "[8, 8]"},
                           {"image.resize_to", "8"},
                           {"onnx.vision.inputs[0].shape", "[\"batch\", 3, 8, 8]"}};
    expect_open("fixture-clip", dim, 3, CDX_ERR_MISMATCH,
                EXPECT("<file>: onnx.vision.inputs[0].shape[2]: contract says 8, <vision> has fixed 16",
                       "<file>: onnx.vision.inputs[0].shape[3]: contract says 8, <vision> has fixed 16"));

    cdx_test_edit count[] = {{"onnx.text.inputs[1]", NULL}};
    expect_open("fixture-clip", count, 1, CDX_ERR_MISMATCH,
                EXPECT("<file>: onnx.text.inputs: contract lists 1, <text> has 2 (\"input_ids\", \"attention_mask\")"));

    cdx_test_edit order[] = {{"onnx.text.inputs[0].name", "\"attention_mask\""},
                             {"onnx.text.inputs[1].name", "\"input_ids\""}};
    expect_open("fixture-clip", order, 2, CDX_ERR_MISMATCH,
                EXPECT("onnx.text.inputs[0].name: contract says \"attention_mask\", <text> has \"input_ids\"",
                       "onnx.text.inputs[1].name: contract says \"input_ids\", <text> has \"attention_mask\""));

    cdx_test_edit opset[] = {{"onnx.opset", "13"}};
    expect_open("fixture-clip", opset, 1, CDX_ERR_MISMATCH,
                EXPECT("<file>: onnx.opset: contract says 13, <vision> has 17",
                       "<file>: onnx.opset: contract says 13, <text> has 17"));

    cdx_test_edit ir[] = {{"onnx.ir_version", "9"}};
    expect_open("fixture-clip", ir, 1, CDX_ERR_MISMATCH, EXPECT("<file>: onnx.ir_version: contract says 9, <vision> has 8"));

    cdx_test_edit sig[] = {{"onnx.text.inputs[0].shape[1]", "\"batch\""}};
    expect_open("fixture-siglip", sig, 1, CDX_ERR_MISMATCH,
                EXPECT("<file>: onnx.text.inputs[0].shape[1]: contract says symbolic \"batch\", <text> has fixed 8"));
}

/* Points the vision_model artifact at another file (with its true sha256, so
 * only the ONNX check can object). */
static int open_with_vision(const char *onnx_path, const cdx_contract_params *p, cdx_contract **c, cdx_errbuf *eb,
                            char **report)
{
    char *path_json = cdx_test_fmt("\"%s\"", onnx_path);
    char *sha = cdx_test_sha_json(onnx_path);
    cdx_test_edit e[] = {{"artifacts[0].path", path_json}, {"artifacts[0].sha256", sha}};
    int rc = cdx_test_open_edited(scratch, "fixture-clip", e, 2, p, c, eb, NULL, report);
    free(sha);
    free(path_json);
    return rc;
}

/* Tower files that differ themselves (tests/fixtures/onnx/). */
static void onnx_file_differs(void **state)
{
    (void)state;
    cdx_contract *c = NULL;
    cdx_errbuf eb = {0};
    char *fixed = cdx_test_fixture("onnx/vision_fixed_batch.onnx");
    assert_int_equal(open_with_vision(fixed, NULL, &c, &eb, NULL), CDX_ERR_MISMATCH);
    char *want = cdx_test_fmt("onnx.vision.inputs[0].shape[0]: contract says symbolic \"batch\", %s has fixed 1", fixed);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), want));
    free(want);

    /* Weights listed as graph inputs (old exporters) are not inputs. */
    char *inits = cdx_test_fixture("onnx/vision_initializer_inputs.onnx");
    int rc = open_with_vision(inits, NULL, &c, &eb, NULL);
    if (rc != CDX_OK)
        fail_msg("%s", cdx_errbuf_msg(&eb));
    cdx_contract_close(c);

    /* Everything differs: opset, IR, name, dtype, rank all reported. The
     * message holds what fits; the report and the comparison have all five. */
    char *odd = cdx_test_fixture("onnx/vision_everything_differs.onnx");
    char *report = NULL;
    assert_int_equal(open_with_vision(odd, NULL, &c, &eb, &report), CDX_ERR_MISMATCH);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "onnx.opset: contract says 17, "));
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "onnx.ir_version: contract says 8, "));
    static const char *const all_five[] = {
        "onnx.opset: contract says 17, ", "onnx.ir_version: contract says 8, ",
        "onnx.vision.inputs[0].name: contract says \"pixel_values\", ", "has \"input\"",
        "onnx.vision.inputs[0].dtype: contract says \"float32\", ", "has \"float64\"",
        "onnx.vision.inputs[0].shape: contract says rank 4 [\"batch\", 3, 16, 16], ",
        "has rank 3 [\"batch\", 3, \"height\"]"};
    for (size_t i = 0; i < CDX_ARRAY_LEN(all_five); i++)
        if (!strstr(report, all_five[i]))
            fail_msg("report lacks \"%s\":\n%s", all_five[i], report);
    free(report);

    char *good = cdx_test_fixture("contracts/fixture-clip.json");
    assert_int_equal(cdx_contract_open(good, NULL, &c, &eb), CDX_OK);
    cdx_onnx_info info;
    assert_int_equal(cdx_onnx_read(odd, &info, &eb), CDX_OK);
    cdx_problems p = {0};
    cdx_contract_compare_onnx(cdx_contract_get(c), CDX_TOWER_VISION, odd, &info, &p);
    assert_int_equal(p.count, 5);
    assert_int_equal(p.code, CDX_ERR_MISMATCH);
    for (size_t i = 0; i < CDX_ARRAY_LEN(all_five); i++)
        assert_non_null(strstr(p.all, all_five[i]));
    /* The errbuf message starts with the first and counts what did not fit. */
    cdx_errbuf first = {0};
    assert_int_equal(cdx_problems_finish(&p, &first), CDX_ERR_MISMATCH);
    assert_non_null(strstr(cdx_errbuf_msg(&first), all_five[0]));
    if (p.dropped)
        assert_non_null(strstr(cdx_errbuf_msg(&first), "more; `clipdex contract check` lists them all)"));
    cdx_onnx_info_free(&info);
    cdx_problems_free(&p);

    /* The same file is compared as the text tower: different names, counts. */
    assert_int_equal(cdx_onnx_read(fixed, &info, &eb), CDX_OK);
    cdx_problems q = {0};
    cdx_contract_compare_onnx(cdx_contract_get(c), CDX_TOWER_TEXT, fixed, &info, &q);
    assert_true(q.count >= 3);
    assert_non_null(strstr(q.msg, "onnx.text.inputs: contract lists 2, "));
    cdx_problems_free(&q);
    cdx_onnx_info_free(&info);
    cdx_contract_close(c);
    free(good);
    free(odd);
    free(inits);
    free(fixed);
}

/* Garbage, truncated and empty tower files: a parse error naming the file,
 * never a crash, never "matches". */
static void onnx_file_broken(void **state)
{
    (void)state;
    char *src = cdx_test_fixture("models/fixture-clip/onnx/vision_model.onnx");
    size_t len = 0;
    unsigned char *bytes = cdx_test_read_file(src, &len);
    assert_non_null(bytes);
    char *path = cdx_test_fmt("%s/broken.onnx", scratch);
    struct {
        const void *data;
        size_t len;
        const char *expect;
    } cases[] = {
        {bytes, len / 2, "not a valid ONNX model: "},
        {bytes, len - 1, "not a valid ONNX model: "},
        {"hello, I am not a model\n", 24, "not a valid ONNX model: "},
        {"", 0, "not a valid ONNX model: the file is empty"},
    };
    for (size_t i = 0; i < CDX_ARRAY_LEN(cases); i++) {
        assert_int_equal(cdx_test_write_file(path, cases[i].data, cases[i].len), 0);
        cdx_contract *c = NULL;
        cdx_errbuf eb = {0};
        int rc = open_with_vision(path, NULL, &c, &eb, NULL);
        if (rc != CDX_ERR_PARSE)
            fail_msg("case %zu: %s: %s", i, cdx_errname(rc), cdx_errbuf_msg(&eb));
        char *want = cdx_test_fmt("artifacts[0].path: %s: %s", path, cases[i].expect);
        if (!strstr(cdx_errbuf_msg(&eb), want))
            fail_msg("case %zu: message lacks \"%s\": %s", i, want, cdx_errbuf_msg(&eb));
        free(want);
    }
    free(path);
    free(bytes);
    free(src);
}

/* Checks can be turned off; the spec says which were done. */
static void params_skip_checks(void **state)
{
    (void)state;
    cdx_contract *c = NULL;
    cdx_errbuf eb = {0};
    cdx_test_edit e[] = {{"artifacts[2].sha256", ZERO_SHA}, {"onnx.opset", "13"}};
    cdx_contract_params none = {.verify_artifacts = 0, .check_onnx = 0};
    assert_int_equal(cdx_test_open_edited(scratch, "fixture-clip", e, 2, &none, &c, &eb, NULL, NULL), CDX_OK);
    assert_int_equal(cdx_contract_get(c)->artifacts_verified, 0);
    assert_int_equal(cdx_contract_get(c)->onnx_checked, 0);
    cdx_contract_close(c);

    cdx_contract_params onnx_only = {.verify_artifacts = 0, .check_onnx = 1};
    assert_int_equal(cdx_test_open_edited(scratch, "fixture-clip", e, 2, &onnx_only, &c, &eb, NULL, NULL), CDX_ERR_MISMATCH);
    assert_null(strstr(cdx_errbuf_msg(&eb), "sha256"));
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "onnx.opset"));

    cdx_contract_params hash_only = {.verify_artifacts = 1, .check_onnx = 0};
    assert_int_equal(cdx_test_open_edited(scratch, "fixture-clip", e, 1, &hash_only, &c, &eb, NULL, NULL), CDX_ERR_MISMATCH);
    assert_int_equal(cdx_test_open_edited(scratch, "fixture-clip", e + 1, 1, &hash_only, &c, &eb, NULL, NULL), CDX_OK);
    assert_int_equal(cdx_contract_get(c)->artifacts_verified, 1);
    assert_int_equal(cdx_contract_get(c)->onnx_checked, 0);
    cdx_contract_close(c);
}

/* The problem list: first code wins, lines that do not fit are counted. */
static void problems_overflow(void **state)
{
    (void)state;
    cdx_problems p = {0};
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_problems_finish(&p, &eb), CDX_OK);
    for (int i = 0; i < 40; i++)
        cdx_problems_add(&p, i ? CDX_ERR_MISMATCH : CDX_ERR_NOTFOUND, "problem %02d with some words to take room", i);
    assert_int_equal(p.count, 40);
    assert_true(p.dropped > 0);
    assert_int_equal(cdx_problems_finish(&p, &eb), CDX_ERR_NOTFOUND);
    assert_true(strlen(eb.msg) < sizeof eb.msg);
    char *tail = cdx_test_fmt("(and %d more; `clipdex contract check` lists them all)", p.dropped);
    assert_non_null(strstr(eb.msg, tail));
    assert_non_null(strstr(eb.msg, "problem 00"));
    /* The full list has every line, in order. */
    assert_non_null(p.all);
    assert_non_null(strstr(p.all, "problem 00 with"));
    assert_non_null(strstr(p.all, "room\nproblem 39 with"));
    free(tail);
    cdx_problems_free(&p);
    cdx_problems_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_mismatch),    cmocka_unit_test(missing_artifact),
        cmocka_unit_test(onnx_signature_differs), cmocka_unit_test(onnx_file_differs),
        cmocka_unit_test(onnx_file_broken),   cmocka_unit_test(params_skip_checks),
        cmocka_unit_test(problems_overflow),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
