/* The ONNX signature reader: the fixture towers read back; initializers
 * listed as inputs are dropped; the wire-format walker refuses truncated,
 * overlong and mistyped fields with a message naming the input and the byte;
 * every prefix and every one-byte corruption of a real model either fails
 * cleanly or reads the same signature. Messages are built by hand with a
 * small protobuf writer so each rule is exercised on its own. */
#include "testutil.h"

#include "common/util.h"
#include "contracts/onnx_scan.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --- a minimal protobuf writer --- */

typedef struct pb {
    uint8_t d[2048];
    size_t n;
} pb;

static void put_raw(pb *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof b->d);
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_varint(pb *b, uint64_t v)
{
    do {
        uint8_t byte = (uint8_t)(v & 0x7f) | (v > 0x7f ? 0x80 : 0);
        put_raw(b, &byte, 1);
        v >>= 7;
    } while (v);
}

static void put_uint(pb *b, uint32_t field, uint64_t v)
{
    put_varint(b, (uint64_t)field << 3);
    put_varint(b, v);
}

static void put_bytes(pb *b, uint32_t field, const void *p, size_t n)
{
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, n);
    put_raw(b, p, n);
}

static void put_str(pb *b, uint32_t field, const char *s) { put_bytes(b, field, s, strlen(s)); }
static void put_msg(pb *b, uint32_t field, const pb *m) { put_bytes(b, field, m->d, m->n); }

/* ValueInfoProto{name, type{tensor_type{elem_type, shape{dim...}}}}; dims as
 * strings: a number is dim_value, "?" is a dim with neither, else dim_param. */
static pb value_info(const char *name, int elem, const char *const *dims, int rank)
{
    pb shape = {.n = 0}, tensor = {.n = 0}, type = {.n = 0}, vi = {.n = 0};
    for (int i = 0; i < rank; i++) {
        pb dim = {.n = 0};
        if (dims[i][0] >= '0' && dims[i][0] <= '9')
            put_uint(&dim, 1, strtoull(dims[i], NULL, 10));
        else if (strcmp(dims[i], "?") != 0)
            put_str(&dim, 2, dims[i]);
        put_msg(&shape, 1, &dim);
    }
    put_uint(&tensor, 1, (uint64_t)elem);
    if (rank >= 0)
        put_msg(&tensor, 2, &shape);
    put_msg(&type, 1, &tensor);
    put_str(&vi, 1, name);
    put_msg(&vi, 2, &type);
    return vi;
}

static pb opset(const char *domain, uint64_t version)
{
    pb m = {.n = 0};
    if (domain)
        put_str(&m, 1, domain);
    put_uint(&m, 2, version);
    return m;
}

/* ModelProto{ir_version 8, producer_name, graph, opset_import ai.onnx 17}. */
static pb model_with(const pb *graph)
{
    pb m = {.n = 0}, op = opset("", 17);
    put_uint(&m, 1, 8);
    put_str(&m, 2, "test");
    put_msg(&m, 7, graph);
    put_msg(&m, 8, &op);
    return m;
}

static int parse(const pb *m, cdx_onnx_info *info, cdx_errbuf *eb)
{
    return cdx_onnx_parse(m->d, m->n, "m.onnx", info, eb);
}

/* --- fixtures --- */

static void read_fixture(const char *rel, cdx_onnx_info *info)
{
    char *path = cdx_test_fmt("%s/tests/fixtures/%s", CDX_SOURCE_DIR, rel);
    cdx_errbuf eb = {0};
    int rc = cdx_onnx_read(path, info, &eb);
    if (rc != CDX_OK)
        fail_msg("%s", cdx_errbuf_msg(&eb));
    free(path);
}

static void fixture_towers(void **state)
{
    (void)state;
    cdx_onnx_info v;
    read_fixture("models/fixture-clip/onnx/vision_model.onnx", &v);
    assert_int_equal(v.ir_version, 8);
    assert_int_equal(v.opset, 17);
    assert_int_equal(v.n_inputs, 1);
    assert_int_equal(v.n_initializer_inputs, 0);
    assert_string_equal(v.inputs[0].name, "pixel_values");
    assert_int_equal(v.inputs[0].is_tensor, 1);
    assert_int_equal(v.inputs[0].elem_type, 1);
    assert_int_equal(v.inputs[0].rank, 4);
    const int64_t dims[4] = {-1, 3, 16, 16};
    for (int i = 0; i < 4; i++)
        assert_int_equal(v.inputs[0].dims[i], dims[i]);
    assert_string_equal(v.inputs[0].dim_params[0], "batch");
    assert_null(v.inputs[0].dim_params[1]);
    assert_int_equal(v.n_outputs, 1);
    assert_string_equal(v.outputs[0].name, "image_embeds");
    assert_int_equal(v.outputs[0].rank, 2);
    assert_int_equal(v.outputs[0].dims[1], 8);
    cdx_onnx_info_free(&v);
    assert_int_equal(v.n_inputs, 0);
    cdx_onnx_info_free(&v); /* an emptied info frees again harmlessly */
    cdx_onnx_info_free(NULL);

    cdx_onnx_info t;
    read_fixture("models/fixture-clip/onnx/text_model.onnx", &t);
    assert_int_equal(t.n_inputs, 2);
    assert_string_equal(t.inputs[0].name, "input_ids");
    assert_string_equal(t.inputs[1].name, "attention_mask");
    assert_int_equal(t.inputs[1].elem_type, 7);
    assert_string_equal(t.inputs[1].dim_params[1], "sequence");
    cdx_onnx_info_free(&t);

    /* Weights listed as graph inputs are not model inputs. */
    cdx_onnx_info w;
    read_fixture("onnx/vision_initializer_inputs.onnx", &w);
    assert_int_equal(w.n_inputs, 1);
    assert_string_equal(w.inputs[0].name, "pixel_values");
    assert_int_equal(w.n_initializer_inputs, 1);
    cdx_onnx_info_free(&w);

    cdx_onnx_info d;
    read_fixture("onnx/vision_everything_differs.onnx", &d);
    assert_int_equal(d.ir_version, 7);
    assert_int_equal(d.opset, 13);
    assert_string_equal(d.inputs[0].name, "input");
    assert_string_equal(cdx_onnx_elem_type_name(d.inputs[0].elem_type), "float64");
    assert_int_equal(d.inputs[0].rank, 3);
    assert_string_equal(d.inputs[0].dim_params[2], "height");
    cdx_onnx_info_free(&d);
}

/* A cut just after the graph loses the opset import: read as 0, which the
 * contract check reports, so it counts as the same here. */
static int same_signature(const cdx_onnx_info *a, const cdx_onnx_info *b)
{
    if (a->ir_version != b->ir_version || (a->opset != b->opset && a->opset != 0) || a->n_inputs != b->n_inputs ||
        a->n_outputs != b->n_outputs)
        return 0;
    for (int32_t i = 0; i < a->n_inputs; i++)
        if (strcmp(a->inputs[i].name, b->inputs[i].name) != 0 || a->inputs[i].rank != b->inputs[i].rank)
            return 0;
    return 1;
}

/* Every prefix of a real model and every one-byte corruption: a clean error
 * or a signature, never a crash (ASan runs this too). A prefix that parses
 * must read the same signature as the whole file, or it is missing parts the
 * reader would notice. */
static void prefixes_and_corruptions(void **state)
{
    (void)state;
    char *path = cdx_test_fmt("%s/tests/fixtures/models/fixture-clip/onnx/text_model.onnx", CDX_SOURCE_DIR);
    size_t len = 0;
    unsigned char *bytes = cdx_test_read_file(path, &len);
    assert_non_null(bytes);
    cdx_onnx_info full, info;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_onnx_parse(bytes, len, "t", &full, &eb), CDX_OK);
    int ok_prefixes = 0;
    for (size_t n = 0; n < len; n++) {
        int rc = cdx_onnx_parse(bytes, n, "t", &info, &eb);
        if (rc == CDX_OK) {
            ok_prefixes++;
            if (!same_signature(&info, &full))
                fail_msg("prefix of %zu bytes parsed to a different signature", n);
            cdx_onnx_info_free(&info);
        } else {
            assert_int_equal(rc, CDX_ERR_PARSE);
            assert_non_null(strstr(cdx_errbuf_msg(&eb), "t: not a valid ONNX model: "));
            assert_int_equal(info.n_inputs, 0);
        }
    }
    /* Only cuts after the graph and opset (trailing metadata) can parse. */
    assert_true(ok_prefixes < 8);
    for (size_t i = 0; i < len; i++) {
        for (int flip = 0; flip < 2; flip++) {
            unsigned char saved = bytes[i];
            bytes[i] = flip ? (unsigned char)(saved ^ 0xff) : 0x80;
            int rc = cdx_onnx_parse(bytes, len, "t", &info, &eb);
            assert_true(rc == CDX_OK || rc == CDX_ERR_PARSE);
            cdx_onnx_info_free(&info);
            bytes[i] = saved;
        }
    }
    cdx_onnx_info_free(&full);
    free(bytes);
    free(path);
}

/* --- hand-built messages --- */

static void inputs_outputs_and_initializers(void **state)
{
    (void)state;
    pb g = {.n = 0}, init = {.n = 0}, sparse = {.n = 0}, sparse_values = {.n = 0};
    pb x = value_info("x", 1, (const char *const[]){"n", "4", "?"}, 3);
    pb w = value_info("w", 1, (const char *const[]){"4"}, 1);
    pb s = value_info("s", 1, (const char *const[]){"4"}, 1);
    pb noshape = value_info("noshape", 10, NULL, -1);
    pb y = value_info("y", 7, (const char *const[]){"n"}, 1);
    /* An initializer "w" with raw data that must be skipped, not read. */
    put_uint(&init, 1, 4);
    put_uint(&init, 2, 1);
    put_str(&init, 8, "w");
    static const uint8_t raw[16] = {1, 2, 3};
    put_bytes(&init, 9, raw, sizeof raw);
    put_str(&sparse_values, 8, "s");
    put_msg(&sparse, 1, &sparse_values);
    put_str(&g, 2, "graph");
    put_msg(&g, 5, &init);
    put_msg(&g, 11, &x);
    put_msg(&g, 11, &w);
    put_msg(&g, 11, &s);
    put_msg(&g, 11, &noshape);
    put_msg(&g, 15, &sparse);
    put_msg(&g, 12, &y);
    pb m = model_with(&g);
    cdx_onnx_info info;
    cdx_errbuf eb = {0};
    assert_int_equal(parse(&m, &info, &eb), CDX_OK);
    assert_int_equal(info.ir_version, 8);
    assert_int_equal(info.opset, 17);
    assert_int_equal(info.n_inputs, 2);
    assert_int_equal(info.n_initializer_inputs, 2);
    assert_string_equal(info.inputs[0].name, "x");
    assert_int_equal(info.inputs[0].rank, 3);
    assert_int_equal(info.inputs[0].dims[0], -1);
    assert_string_equal(info.inputs[0].dim_params[0], "n");
    assert_int_equal(info.inputs[0].dims[1], 4);
    assert_int_equal(info.inputs[0].dims[2], -1);
    assert_null(info.inputs[0].dim_params[2]);
    assert_string_equal(info.inputs[1].name, "noshape");
    assert_int_equal(info.inputs[1].is_tensor, 1);
    assert_int_equal(info.inputs[1].elem_type, 10);
    assert_int_equal(info.inputs[1].rank, -1);
    assert_int_equal(info.n_outputs, 1);
    assert_string_equal(cdx_onnx_elem_type_name(info.outputs[0].elem_type), "int64");
    cdx_onnx_info_free(&info);

    /* A second graph field merges: its inputs append. */
    pb g2 = {.n = 0}, z = value_info("z", 1, NULL, -1);
    put_msg(&g2, 11, &z);
    pb op = opset("", 17), two = {.n = 0};
    put_uint(&two, 1, 8);
    put_msg(&two, 7, &g);
    put_msg(&two, 7, &g2);
    put_msg(&two, 8, &op);
    assert_int_equal(parse(&two, &info, &eb), CDX_OK);
    assert_int_equal(info.n_inputs, 3);
    assert_string_equal(info.inputs[2].name, "z");
    cdx_onnx_info_free(&info);
}

static void value_types(void **state)
{
    (void)state;
    /* type { sequence_type {...} }: not a tensor. No type at all: not a tensor. */
    pb seq = {.n = 0}, seq_type = {.n = 0}, vi = {.n = 0}, bare = {.n = 0}, g = {.n = 0};
    put_uint(&seq_type, 1, 1);
    put_msg(&seq, 4, &seq_type);
    put_str(&vi, 1, "seq");
    put_msg(&vi, 2, &seq);
    put_str(&bare, 1, "bare");
    put_msg(&g, 11, &vi);
    put_msg(&g, 11, &bare);
    pb m = model_with(&g);
    cdx_onnx_info info;
    cdx_errbuf eb = {0};
    assert_int_equal(parse(&m, &info, &eb), CDX_OK);
    assert_int_equal(info.n_inputs, 2);
    assert_int_equal(info.inputs[0].is_tensor, 0);
    assert_int_equal(info.inputs[0].rank, -1);
    assert_int_equal(info.inputs[1].is_tensor, 0);
    cdx_onnx_info_free(&info);

    assert_string_equal(cdx_onnx_elem_type_name(1), "float32");
    assert_string_equal(cdx_onnx_elem_type_name(16), "bfloat16");
    assert_string_equal(cdx_onnx_elem_type_name(999), "unknown");
    assert_string_equal(cdx_onnx_elem_type_name(-1), "unknown");
}

static void opset_imports(void **state)
{
    (void)state;
    pb g = {.n = 0}, m = {.n = 0};
    pb ms = opset("com.microsoft", 1), ai = opset("ai.onnx", 18), ml = opset("ai.onnx.ml", 3);
    put_uint(&m, 1, 9);
    put_msg(&m, 7, &g);
    put_msg(&m, 8, &ms);
    put_msg(&m, 8, &ai);
    put_msg(&m, 8, &ml);
    cdx_onnx_info info;
    cdx_errbuf eb = {0};
    assert_int_equal(parse(&m, &info, &eb), CDX_OK);
    assert_int_equal(info.opset, 18);
    assert_int_equal(info.ir_version, 9);
    cdx_onnx_info_free(&info);

    /* The same version twice is fine; two different ones are ambiguous. */
    pb same = opset(NULL, 18);
    put_msg(&m, 8, &same);
    assert_int_equal(parse(&m, &info, &eb), CDX_OK);
    cdx_onnx_info_free(&info);
    pb other = opset("", 13);
    put_msg(&m, 8, &other);
    assert_int_equal(parse(&m, &info, &eb), CDX_ERR_PARSE);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "default domain is imported twice"));

    /* No default-domain import: read as 0, for the contract check to report. */
    pb none = {.n = 0};
    put_uint(&none, 1, 8);
    put_msg(&none, 7, &g);
    put_msg(&none, 8, &ms);
    assert_int_equal(parse(&none, &info, &eb), CDX_OK);
    assert_int_equal(info.opset, 0);
    cdx_onnx_info_free(&info);
}

typedef struct wire_case {
    const char *what;
    uint8_t bytes[24];
    size_t n;
    const char *expect;
} wire_case;

static void malformed_wire(void **state)
{
    (void)state;
    static const wire_case cases[] = {
        {"graph as a varint", {0x08, 0x08, 0x38, 0x01}, 4, "field ModelProto.graph (7) has wire type 0, expected 2 at byte 2"},
        {"ir_version as bytes", {0x0a, 0x01, 0x08}, 3, "field ModelProto.ir_version (1) has wire type 2, expected 0"},
        {"group start", {0x0b, 0x00}, 2, "unsupported wire type (groups or garbage) at byte 0"},
        {"field number 0", {0x00, 0x01}, 2, "invalid field number at byte 0"},
        {"truncated tag", {0x80}, 1, "truncated or overlong field tag"},
        {"truncated varint", {0x08, 0x80}, 2, "truncated varint at byte 0"},
        {"overlong varint", {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 11, "truncated varint"},
        {"length past the end", {0x08, 0x08, 0x3a, 0x05, 0x00}, 5, "field length runs past the end of its message"},
        {"truncated length", {0x3a, 0x80}, 2, "truncated length"},
        {"truncated fixed64", {0x11, 0x01, 0x02}, 3, "truncated fixed-width field"},
        {"truncated fixed32", {0x15, 0x01}, 2, "truncated fixed-width field"},
        {"no graph", {0x08, 0x08, 0x12, 0x01, 'x'}, 5, "it has no graph (ModelProto field 7)"},
        {"no ir_version", {0x3a, 0x00}, 2, "it has no ir_version (ModelProto field 1)"},
        {"bad graph field", {0x08, 0x08, 0x3a, 0x02, 0x58, 0x01}, 6, "field GraphProto.input (11) has wire type 0"},
        {"bad input bytes", {0x08, 0x08, 0x3a, 0x04, 0x5a, 0x02, 0x0a, 0x05}, 8,
         "malformed ValueInfoProto in graph.input[0] at byte 4"},
        {"bad opset", {0x08, 0x08, 0x3a, 0x00, 0x42, 0x02, 0x10, 0x80}, 8, "truncated varint at byte 6"},
        {"bad initializer", {0x08, 0x08, 0x3a, 0x04, 0x2a, 0x02, 0x42, 0x01}, 8,
         "field length runs past the end of its message"},
        {"text", "hello, world", 12, "not a valid ONNX model: "},
        {"JSON", "{\"ir_version\": 8}", 17, "unsupported wire type"},
    };
    for (size_t i = 0; i < CDX_ARRAY_LEN(cases); i++) {
        cdx_onnx_info info;
        cdx_errbuf eb = {0};
        int rc = cdx_onnx_parse(cases[i].bytes, cases[i].n, "m.onnx", &info, &eb);
        const char *msg = cdx_errbuf_msg(&eb);
        if (rc != CDX_ERR_PARSE || !strstr(msg, cases[i].expect) || strncmp(msg, "m.onnx: not a valid ONNX model: ", 32))
            fail_msg("%s: %s \"%s\", expected \"%s\"", cases[i].what, cdx_errname(rc), msg, cases[i].expect);
        assert_int_equal(info.n_inputs, 0);
        assert_null(info.inputs);
    }
    /* Unknown fields of every wire type are stepped over. */
    static const uint8_t skip[] = {0x08, 0x08, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x15, 1, 2, 3, 4,
                                   0x18, 0x05, 0x3a, 0x00, 0xa2, 0x01, 0x01, 'z'};
    cdx_onnx_info info;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_onnx_parse(skip, sizeof skip, "m", &info, &eb), CDX_OK);
    cdx_onnx_info_free(&info);
}

static void read_files(void **state)
{
    (void)state;
    cdx_onnx_info info;
    cdx_errbuf eb = {0};
    char *dir = cdx_test_mkdtemp("onnx");
    char *missing = cdx_test_fmt("%s/none.onnx", dir);
    assert_int_equal(cdx_onnx_read(missing, &info, &eb), CDX_ERR_NOTFOUND);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), missing));
    assert_int_equal(cdx_onnx_read(dir, &info, &eb), CDX_ERR_IO);
    assert_non_null(strstr(cdx_errbuf_msg(&eb), "not a regular file"));
    char *empty = cdx_test_fmt("%s/empty.onnx", dir);
    assert_int_equal(cdx_test_write_file(empty, "", 0), 0);
    assert_int_equal(cdx_onnx_read(empty, &info, &eb), CDX_ERR_PARSE);
    char *want = cdx_test_fmt("%s: not a valid ONNX model: the file is empty", empty);
    assert_string_equal(cdx_errbuf_msg(&eb), want);
    cdx_test_rmtree(dir);
    free(want);
    free(empty);
    free(missing);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixture_towers),   cmocka_unit_test(prefixes_and_corruptions),
        cmocka_unit_test(inputs_outputs_and_initializers), cmocka_unit_test(value_types),
        cmocka_unit_test(opset_imports),    cmocka_unit_test(malformed_wire),
        cmocka_unit_test(read_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
