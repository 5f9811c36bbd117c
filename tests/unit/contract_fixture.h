/* Test helpers for the contract loader's suites: the committed fixture
 * contracts (tests/fixtures/, written by make_contract_fixtures.py) with
 * edits applied, parsed from memory or written to a scratch directory and
 * opened from there. Header-only (static inline) so each suite takes what it
 * uses. */
#ifndef CDX_TEST_CONTRACT_FIXTURE_H
#define CDX_TEST_CONTRACT_FIXTURE_H

#include "testutil.h"

#include "common/hash.h"
#include "common/util.h"
#include "contracts/contract.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Sets the value at a JSON path ("image.mean[2]", "artifacts[0].sha256") to
 * value (JSON text), adding the key if absent, or deletes it (value NULL). */
typedef struct cdx_test_edit {
    const char *path;
    const char *value;
} cdx_test_edit;

static inline void cdx_test_apply_edit(json_t *root, const char *path, const char *value)
{
    json_t *cur = root;
    const char *p = path;
    for (;;) {
        char key[64] = "";
        long idx = -1;
        if (*p == '[') {
            char *end;
            idx = strtol(p + 1, &end, 10);
            p = end + 1;
        } else {
            size_t n = strcspn(p, ".[");
            assert_true(n < sizeof key);
            memcpy(key, p, n);
            key[n] = '\0';
            p += n;
        }
        if (*p == '.')
            p++;
        if (*p) {
            cur = idx >= 0 ? json_array_get(cur, (size_t)idx) : json_object_get(cur, key);
            assert_non_null(cur);
            continue;
        }
        json_t *v = NULL;
        if (value) {
            json_error_t e;
            v = json_loads(value, JSON_DECODE_ANY, &e);
            assert_non_null(v);
        }
        if (idx >= 0 && v)
            assert_int_equal(json_array_set_new(cur, (size_t)idx, v), 0);
        else if (idx >= 0)
            assert_int_equal(json_array_remove(cur, (size_t)idx), 0);
        else if (v)
            assert_int_equal(json_object_set_new(cur, key, v), 0);
        else
            assert_int_equal(json_object_del(cur, key), 0);
        return;
    }
}

/* tests/fixtures/<rel>; caller frees. */
static inline char *cdx_test_fixture(const char *rel) { return cdx_test_fmt("%s/tests/fixtures/%s", CDX_SOURCE_DIR, rel); }

/* The fixture contract `name` ("fixture-clip", "fixture-siglip") with edits
 * applied, as JSON text; caller frees. */
static inline char *cdx_test_contract_text(const char *name, const cdx_test_edit *edits, size_t n)
{
    char *rel = cdx_test_fmt("contracts/%s.json", name);
    char *path = cdx_test_fixture(rel);
    json_error_t e;
    json_t *root = json_load_file(path, 0, &e);
    assert_non_null(root);
    for (size_t i = 0; i < n; i++)
        cdx_test_apply_edit(root, edits[i].path, edits[i].value);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    free(path);
    free(rel);
    return s;
}

/* Parses the edited fixture from memory, paths anchored at tests/fixtures/contracts. */
static inline int cdx_test_parse_edited(const char *name, const cdx_test_edit *edits, size_t n, cdx_contract **out,
                                        cdx_errbuf *eb)
{
    char *text = cdx_test_contract_text(name, edits, n);
    char *base = cdx_test_fixture("contracts");
    int rc = cdx_contract_parse(text, strlen(text), base, out, eb);
    free(base);
    free(text);
    return rc;
}

/* Writes the edited fixture to dir/<name>.json with model_dir pointing at the
 * committed fixture model (absolute), and opens it. *file gets the contract
 * path and *report the full problem list (see cdx_contract_open_report)
 * when they are not NULL; caller frees both. */
static inline int cdx_test_open_edited(const char *dir, const char *name, const cdx_test_edit *edits, size_t n,
                                       const cdx_contract_params *params, cdx_contract **out, cdx_errbuf *eb,
                                       char **file, char **report)
{
    char *rel = cdx_test_fmt("models/%s", name);
    char *model_dir = cdx_test_fixture(rel);
    char *md_json = cdx_test_fmt("\"%s\"", model_dir);
    cdx_test_edit *all = calloc(n + 1, sizeof *all);
    all[0] = (cdx_test_edit){"model_dir", md_json};
    memcpy(all + 1, edits, n * sizeof *edits);
    char *text = cdx_test_contract_text(name, all, n + 1);
    char *path = cdx_test_fmt("%s/%s.json", dir, name);
    assert_int_equal(cdx_test_write_file(path, text, strlen(text)), 0);
    int rc = cdx_contract_open_report(path, params, out, report, eb);
    if (file)
        *file = path;
    else
        free(path);
    free(text);
    free(all);
    free(md_json);
    free(model_dir);
    free(rel);
    return rc;
}

/* "\"<sha256 of path>\"" as JSON text for an edit; caller frees. */
static inline char *cdx_test_sha_json(const char *path)
{
    char hex[CDX_SHA256_HEX_LEN + 1];
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_sha256_file_hex(path, hex, &eb), CDX_OK);
    return cdx_test_fmt("\"%s\"", hex);
}

#endif
