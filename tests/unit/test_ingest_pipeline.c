/* The ingest pipeline and the single-item path, in process (so the sanitizer
 * builds watch the threads): counts by outcome on a generated tree with a
 * copy and a bad file; a re-run that decodes nothing; cdx_ingest_item_buffer
 * embedding, reusing the same bytes, returning an unchanged uri's id, and
 * recording a dead letter; a stop request before the start. */
#include "testutil.h"

#include "common/threads.h"
#include "ingest/ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct fixture {
    char *tmp, *src, *data;
    cdx_contract *contract;
    cdx_encoder *enc;
    cdx_store *store;
} fixture;

static int setup(void **state)
{
    const char *mk = getenv("CDX_MKIMAGES");
    if (!mk) {
        fprintf(stderr, "CDX_MKIMAGES not set: run through ctest\n");
        return -1;
    }
    fixture *f = calloc(1, sizeof *f);
    f->tmp = cdx_test_mkdtemp("pipeline");
    f->src = cdx_test_fmt("%s/src", f->tmp);
    f->data = cdx_test_fmt("%s/data", f->tmp);
    char *cmd = cdx_test_fmt("'%s' --out '%s/sub' --count 20 --seed 9 --mp-min 0.01 --mp-max 0.03 && "
                             "cp '%s/sub/img000004.jpg' '%s/copy.jpg' && echo text > '%s/bad.jpg'",
                             mk, f->src, f->src, f->src, f->src);
    int rc = system(cmd);
    free(cmd);
    if (rc != 0)
        return -1;
    char *path = cdx_test_src_path("tests/fixtures/contracts/fixture-clip.json");
    cdx_contract_params cp = cdx_contract_default_params();
    cdx_errbuf eb = {0};
    cdx_encoder_params ep = cdx_encoder_default_params();
    ep.load_text = 0;
    ep.report_placement = 0;
    cdx_store_params sp = cdx_store_default_params();
    if (cdx_contract_open(path, &cp, &f->contract, &eb) != CDX_OK ||
        cdx_encoder_open(f->contract, &ep, &f->enc, &eb) != CDX_OK ||
        cdx_store_open(f->data, f->contract, &sp, &f->store, &eb) != CDX_OK) {
        fprintf(stderr, "setup: %s\n", eb.msg);
        free(path);
        return -1;
    }
    free(path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cdx_store_close(f->store);
    cdx_encoder_close(f->enc);
    cdx_contract_close(f->contract);
    cdx_test_rmtree(f->tmp);
    free(f->tmp);
    free(f->src);
    free(f->data);
    free(f);
    return 0;
}

static void bulk_and_rerun(void **state)
{
    fixture *f = *state;
    cdx_ingest_params p = cdx_ingest_default_params();
    p.progress = CDX_INGEST_PROGRESS_NONE;
    p.batch = 4;
    cdx_ingest_summary s;
    cdx_errbuf eb = {0};
    const char *src[] = {f->src};
    assert_int_equal(cdx_ingest_run(f->store, f->enc, src, 1, &p, &s, &eb), CDX_OK);
    assert_int_equal(s.seen, 22);
    assert_int_equal(s.outcome[CDX_INGEST_OUTCOME_EMBEDDED], 20);
    assert_int_equal(s.outcome[CDX_INGEST_OUTCOME_REUSED], 1);
    assert_int_equal(s.outcome[CDX_INGEST_OUTCOME_FAILED], 1);
    assert_int_equal(s.failed_decode, 1);
    assert_int_equal(s.total, 22);
    assert_false(s.interrupted);
    assert_int_equal(s.n_stages, 5);
    assert_true(s.stages[1].busy_ns > 0);
    cdx_store_info info;
    assert_int_equal(cdx_store_get_info(f->store, &info, &eb), CDX_OK);
    assert_int_equal(info.items, 21);
    assert_int_equal(info.failures, 1);

    assert_int_equal(cdx_ingest_run(f->store, f->enc, src, 1, &p, &s, &eb), CDX_OK);
    assert_int_equal(s.outcome[CDX_INGEST_OUTCOME_UNCHANGED], 21);
    assert_int_equal(s.outcome[CDX_INGEST_OUTCOME_KNOWN_FAILURE], 1);
    assert_int_equal(s.batches, 0);
    assert_int_equal(s.stages[1].items, 22); /* read and hashed, none decoded */

    /* --force embeds again (with niced decode workers: only they are reniced,
     * not the thread that runs the job). */
    p.force = 1;
    p.decode_nice = 5;
    errno = 0;
    int nice_before = getpriority(PRIO_PROCESS, 0);
    assert_int_equal(errno, 0);
    assert_int_equal(cdx_ingest_run(f->store, f->enc, src, 1, &p, &s, &eb), CDX_OK);
    assert_int_equal(getpriority(PRIO_PROCESS, 0), nice_before);
    p.decode_nice = 0;
    /* (the copy rides on its twin while that is in flight, else it is embedded too) */
    assert_true(s.outcome[CDX_INGEST_OUTCOME_EMBEDDED] >= 20);
    assert_int_equal(s.outcome[CDX_INGEST_OUTCOME_EMBEDDED] + s.outcome[CDX_INGEST_OUTCOME_REUSED], 21);
    assert_int_equal(cdx_store_get_info(f->store, &info, &eb), CDX_OK);
    assert_int_equal(info.items, 21);

    /* A stop request before the start still runs (run clears it)... */
    cdx_ingest_request_stop();
    p.force = 0;
    assert_int_equal(cdx_ingest_run(f->store, f->enc, src, 1, &p, &s, &eb), CDX_OK);
    assert_false(s.interrupted);
    /* ...and a source that does not exist is an error of the job. */
    const char *missing[] = {"/nonexistent/x"};
    assert_int_equal(cdx_ingest_run(f->store, f->enc, missing, 1, &p, &s, &eb), CDX_ERR_NOTFOUND);
    assert_non_null(strstr(eb.msg, "/nonexistent/x"));
}

static void single_items(void **state)
{
    fixture *f = *state;
    char *path = cdx_test_fmt("%s/sub/img000007.jpg", f->src);
    size_t len;
    unsigned char *bytes = cdx_test_read_file(path, &len);
    assert_non_null(bytes);
    cdx_errbuf eb = {0};
    int64_t id1 = 0, id2 = 0, id3 = 0, id4 = 0;
    /* Already ingested from the tree: the same bytes under a new uri reuse the vector. */
    assert_int_equal(cdx_ingest_item_buffer(f->store, f->enc, bytes, len, "upload:one", "a caption", "{\"k\":1}", &id1,
                                            &eb),
                     CDX_OK);
    assert_true(id1 > 0);
    float v1[64], v2[64];
    cdx_item_state st;
    assert_int_equal(cdx_store_lookup_uri(f->store, path, &st, &eb), CDX_OK);
    assert_true(st.found);
    assert_int_equal(cdx_store_get_vector(f->store, id1, CDX_SPACE_IMAGE, v1, &eb), CDX_OK);
    assert_int_equal(cdx_store_get_vector(f->store, st.id, CDX_SPACE_IMAGE, v2, &eb), CDX_OK);
    assert_memory_equal(v1, v2, sizeof(float) * (size_t)cdx_contract_get(f->contract)->dim);
    /* The same uri and bytes again: the same item. */
    assert_int_equal(cdx_ingest_item_buffer(f->store, f->enc, bytes, len, "upload:one", NULL, NULL, &id2, &eb), CDX_OK);
    assert_int_equal(id2, id1);
    /* No uri: named by content. */
    bytes[len / 2] ^= 0x55; /* other bytes, still a decodable JPEG (or a failure: both are fine here) */
    int rc = cdx_ingest_item_buffer(f->store, f->enc, bytes, len, NULL, NULL, NULL, &id3, &eb);
    if (rc == CDX_OK) {
        cdx_item_row row = {0};
        assert_int_equal(cdx_store_get_item(f->store, id3, &row, &eb), CDX_OK);
        assert_memory_equal(row.uri, "sha128:", 7);
        cdx_item_row_clear(&row);
    }
    /* Not an image: an error naming it, and a dead letter. */
    static const char text[] = "not an image at all";
    assert_int_equal(cdx_ingest_item_buffer(f->store, f->enc, text, sizeof text - 1, "upload:bad", NULL, NULL, &id4,
                                            &eb),
                     CDX_ERR_UNSUPPORTED);
    assert_int_equal(id4, 0);
    assert_non_null(strstr(eb.msg, "upload:bad"));
    cdx_store_info info;
    assert_int_equal(cdx_store_get_info(f->store, &info, &eb), CDX_OK);
    assert_true(info.failures >= 2);
    free(bytes);
    free(path);
}

int main(void)
{
    cdx_threads_params tp = cdx_threads_default_params();
    tp.role = CDX_THREADS_ROLE_INGEST;
    cdx_threads_budget b;
    cdx_threads_plan(&tp, &b);
    cdx_threads_apply(&b);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bulk_and_rerun),
        cmocka_unit_test(single_items),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
