/* Storage basics: the exact index equals brute force; specs parse and
 * round-trip; a store writes, finds, replaces, deletes, records failures,
 * checkpoints and reopens to the same answers; a foreign contract is refused;
 * bad vectors are refused with nothing written; a version-1 catalog migrates. */
#include "testutil.h"

#include "store_fixture.h"

#include "index/catalog.h"
#include "index/flat.h"
#include "index/plan.h"
#include "index/sidecar.h"
#include "index/spec.h"
#include "index/store_internal.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* Exact top-k in double precision, the slow obvious way. */
static void brute_force(const float *x, int64_t n, int32_t dim, const float *q, int32_t k, int64_t *ids, double *sc)
{
    for (int32_t e = 0; e < k; e++) {
        ids[e] = -1;
        sc[e] = -1e30;
    }
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int32_t j = 0; j < dim; j++)
            s += (double)q[j] * x[i * dim + j];
        int32_t pos = k;
        while (pos > 0 && s > sc[pos - 1])
            pos--;
        if (pos == k)
            continue;
        memmove(ids + pos + 1, ids + pos, sizeof(int64_t) * (size_t)(k - pos - 1));
        memmove(sc + pos + 1, sc + pos, sizeof(double) * (size_t)(k - pos - 1));
        ids[pos] = i;
        sc[pos] = s;
    }
}

static void flat_equals_brute_force(void **state)
{
    (void)state;
    const int32_t dims[] = {8, 61, 512}; /* 61: the kernels' scalar tails */
    for (size_t di = 0; di < 3; di++) {
        int32_t dim = dims[di], k = 10, nq = 33;
        int64_t n = dim == 512 ? 3000 : 5003;
        float *x = cdx_test_unit_vectors(n, dim, 1 + di), *q = cdx_test_unit_vectors(nq, dim, 100 + di);
        int64_t *xid = malloc(sizeof(int64_t) * (size_t)n);
        for (int64_t i = 0; i < n; i++)
            xid[i] = 1000000 + i * 7;
        cdx_flat *f;
        assert_int_equal(cdx_flat_create(dim, &f), CDX_OK);
        assert_int_equal(cdx_flat_add(f, n, x, xid), CDX_OK);
        assert_int_equal(cdx_flat_count(f), n);
        int64_t ids1[33 * 10], ids2[33 * 10], bid[10];
        float s1[33 * 10], s2[33 * 10];
        double bsc[10];
        assert_int_equal(cdx_flat_search(f, nq, q, k, 1, ids1, s1), CDX_OK);   /* one batch */
        for (int32_t i = 0; i < nq; i++)                                        /* one at a time, 2 threads */
            assert_int_equal(cdx_flat_search(f, 1, q + i * dim, k, 2, ids2 + i * k, s2 + i * k), CDX_OK);
        for (int32_t i = 0; i < nq; i++) {
            brute_force(x, n, dim, q + i * dim, k, bid, bsc);
            for (int32_t e = 0; e < k; e++) {
                assert_true(fabs(s1[i * k + e] - bsc[e]) < 1e-5);
                assert_true(fabs(s2[i * k + e] - bsc[e]) < 1e-5);
                /* ids agree unless two scores are within rounding of each other */
                int near_tie = (e > 0 && bsc[e - 1] - bsc[e] < 1e-5) || (e + 1 < k && bsc[e] - bsc[e + 1] < 1e-5);
                if (!near_tie) {
                    assert_int_equal(ids1[i * k + e], xid[bid[e]]);
                    assert_int_equal(ids2[i * k + e], xid[bid[e]]);
                }
            }
        }
        /* Removing the best hit of query 0 promotes the second. */
        int64_t gone = ids1[0];
        assert_int_equal(cdx_flat_remove(f, 1, &gone), 1);
        assert_int_equal(cdx_flat_remove(f, 1, &gone), 0);
        assert_false(cdx_flat_contains(f, gone));
        assert_int_equal(cdx_flat_search(f, 1, q, k, 1, ids2, s2), CDX_OK);
        assert_int_equal(ids2[0], ids1[1]);
        /* k larger than the index: -1 padding. */
        cdx_flat *small;
        assert_int_equal(cdx_flat_create(dim, &small), CDX_OK);
        assert_int_equal(cdx_flat_add(small, 3, x, xid), CDX_OK);
        assert_int_equal(cdx_flat_search(small, 1, q, k, 1, ids2, s2), CDX_OK);
        assert_true(ids2[2] >= 0);
        assert_int_equal(ids2[3], -1);
        cdx_flat_free(small);
        cdx_flat_free(f);
        free(xid);
        free(x);
        free(q);
    }
}

/* A build that reserves its count holds no growth slack; adding past the
 * reservation still works (grown by half) and finds every row. */
static void flat_reserve_is_exact(void **state)
{
    (void)state;
    const int32_t dim = 16;
    const int64_t n = 100000;
    float *x = cdx_test_unit_vectors(n + 10, dim, 7);
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)(n + 10));
    for (int64_t i = 0; i < n + 10; i++)
        ids[i] = 5 + i * 3;
    cdx_flat *grown, *exact;
    assert_int_equal(cdx_flat_create(dim, &grown), CDX_OK);
    assert_int_equal(cdx_flat_create(dim, &exact), CDX_OK);
    assert_int_equal(cdx_flat_reserve(exact, n), CDX_OK);
    for (int64_t i = 0; i < n; i += 65536) {
        assert_int_equal(cdx_flat_add(grown, CDX_MIN(65536, n - i), x + i * dim, ids + i), CDX_OK);
        assert_int_equal(cdx_flat_add(exact, CDX_MIN(65536, n - i), x + i * dim, ids + i), CDX_OK);
    }
    uint64_t row = (uint64_t)dim * 4 + 8, hash = (uint64_t)1 << 18; /* slots: a power of two >= 2n, 8 bytes */
    assert_int_equal(cdx_flat_memory(exact), (uint64_t)n * row + hash * 8);
    assert_true(cdx_flat_memory(grown) > cdx_flat_memory(exact) + (uint64_t)n / 4 * row); /* 1.5x steps overshoot */
    assert_int_equal(cdx_flat_add(exact, 10, x + n * dim, ids + n), CDX_OK);
    assert_int_equal(cdx_flat_count(exact), n + 10);
    for (int64_t i = 0; i < n + 10; i += 997) {
        int64_t got;
        float sc;
        assert_int_equal(cdx_flat_search(exact, 1, x + i * dim, 1, 1, &got, &sc), CDX_OK);
        assert_int_equal(got, ids[i]);
    }
    cdx_flat_free(grown);
    cdx_flat_free(exact);
    free(ids);
    free(x);
}

static void flat_remove_many_keeps_hash_consistent(void **state)
{
    (void)state;
    int32_t dim = 4;
    int64_t n = 20000;
    float *x = cdx_test_unit_vectors(n, dim, 5);
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        ids[i] = i * 1024; /* clustered hash inputs */
    cdx_flat *f;
    assert_int_equal(cdx_flat_create(dim, &f), CDX_OK);
    assert_int_equal(cdx_flat_add(f, n, x, ids), CDX_OK);
    for (int64_t i = 0; i < n; i += 2)
        assert_int_equal(cdx_flat_remove(f, 1, &ids[i]), 1);
    assert_int_equal(cdx_flat_count(f), n / 2);
    for (int64_t i = 0; i < n; i++)
        assert_int_equal(cdx_flat_contains(f, ids[i]), i % 2);
    /* Re-adding an id present replaces, never duplicates. */
    assert_int_equal(cdx_flat_add(f, 1, x, &ids[1]), CDX_OK);
    assert_int_equal(cdx_flat_count(f), n / 2);
    cdx_flat_free(f);
    free(ids);
    free(x);
}

static void specs_parse_and_round_trip(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } good[] = {
        {"flat", "flat"},
        {"auto", "auto"},
        {"sq8", "sq8:rerank=0"},
        {"sq8:rerank=3", "sq8:rerank=3"},
        {"hnsw", "hnsw:m=32,efc=200,efs=64"},
        {"hnsw:m=16,efs=40", "hnsw:m=16,efc=200,efs=40"},
        {"ivf:nlist=4096,nprobe=16", "ivf:nlist=4096,nprobe=16"},
        {"ivfpq:nlist=1024,m=64,nprobe=8", "ivfpq:nlist=1024,m=64,nbits=8,nprobe=8,rerank=10"},
    };
    for (size_t i = 0; i < CDX_ARRAY_LEN(good); i++) {
        cdx_index_spec s;
        cdx_errbuf eb = {0};
        assert_int_equal(cdx_index_spec_parse(good[i].in, &s, &eb), CDX_OK);
        char buf[CDX_INDEX_SPEC_MAX];
        cdx_index_spec_format(&s, buf, sizeof buf);
        assert_string_equal(buf, good[i].out);
    }
    static const struct {
        const char *in, *says;
    } bad[] = {
        {"", "empty"},          {"lsh", "unknown kind"}, {"hnsw:", "key=value"},
        {"hnsw:m=2", "m must"}, {"hnsw:q=3", "no key 'q'"}, {"hnsw:m=8,m=9", "twice"},
        {"flat:x=1", "takes no"}, {"ivf:nlist=x", "nlist must"}, {"hnswx", "unknown kind"},
    };
    for (size_t i = 0; i < CDX_ARRAY_LEN(bad); i++) {
        cdx_index_spec s;
        cdx_errbuf eb = {0};
        assert_int_equal(cdx_index_spec_parse(bad[i].in, &s, &eb), CDX_ERR_PARSE);
        if (!strstr(eb.msg, bad[i].says))
            fail_msg("spec '%s': message '%s' lacks '%s'", bad[i].in, eb.msg, bad[i].says);
    }
    cdx_index_spec pq = cdx_index_spec_default(CDX_INDEX_IVFPQ);
    cdx_index_spec_resolve(&pq, 1000000, 512);
    assert_int_equal(pq.nlist, 4000);
    assert_int_equal(pq.pq_m, 64);
}

/* auto's plan by count and budget, and its last step: exact search kept when
 * the tuned approximate index misses the target or is no faster. */
static void auto_plan_and_exact_rule(void **state)
{
    (void)state;
    const uint64_t big = (uint64_t)64 << 30;
    assert_int_equal(cdx_plan_auto(50000, 512, big, NULL, 0).kind, CDX_INDEX_FLAT);
    assert_int_equal(cdx_plan_auto(100000, 512, big, NULL, 0).kind, CDX_INDEX_HNSW);
    char why[256];
    /* 1M x 512: HNSW needs ~2.3 GiB, exact 2 GiB; a 2 GiB budget takes IVF-PQ */
    cdx_index_spec s = cdx_plan_auto(1000000, 512, (uint64_t)2 << 30, why, sizeof why);
    assert_int_equal(s.kind, CDX_INDEX_IVFPQ);
    assert_non_null(strstr(why, "IVF-PQ"));
    cdx_index_spec fs = cdx_index_spec_default(CDX_INDEX_FLAT);
    assert_true(cdx_plan_memory(&fs, 1000000, 512) <= (uint64_t)2 << 30);
    /* too small even for 64-byte codes: the codes shrink */
    s = cdx_plan_auto(1000000, 512, (uint64_t)40 << 20, NULL, 0);
    assert_int_equal(s.kind, CDX_INDEX_IVFPQ);
    assert_true(s.pq_m < 64);

    cdx_tune_result approx = {.n_points = 2, .chosen = 1}, exact = {.n_points = 1, .chosen = 0};
    approx.points[0] = (cdx_tune_point){.effort = 64, .recall_at_10 = 0.90, .p50_ms = 1.0};
    approx.points[1] = (cdx_tune_point){.effort = 128, .recall_at_10 = 0.96, .p50_ms = 2.0};
    exact.points[0] = (cdx_tune_point){.recall_at_10 = 1.0, .p50_ms = 5.0};
    assert_false(cdx_plan_prefer_exact(&approx, &exact)); /* 2 ms at the target beats a 5 ms scan */
    exact.points[0].p50_ms = 2.0;
    assert_true(cdx_plan_prefer_exact(&approx, &exact)); /* a tie keeps exact */
    exact.points[0].p50_ms = 50.0;
    approx.chosen = -1;
    assert_true(cdx_plan_prefer_exact(&approx, &exact)); /* the target missed: exact however slow */
    assert_false(cdx_plan_prefer_exact(&approx, NULL));  /* nothing measured: keep the plan */
}

static cdx_store *open_store(const char *dir, const cdx_contract *c, const char *spec)
{
    cdx_store_params p = cdx_store_default_params();
    p.index_spec = spec;
    p.threads = 1;
    cdx_store *s = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_store_open(dir, c, &p, &s, &eb);
    if (rc != CDX_OK)
        fail_msg("open %s: %s", dir, eb.msg);
    return s;
}

typedef struct fail_seen {
    int n;
    char uri[8][64];
    int attempts[8];
    char code[8][32];
} fail_seen;

static int collect_failure(void *ctx, const cdx_failure_row *r)
{
    fail_seen *f = ctx;
    if (f->n < 8) {
        snprintf(f->uri[f->n], 64, "%s", r->uri);
        snprintf(f->code[f->n], 32, "%s", r->code);
        f->attempts[f->n] = r->attempts;
    }
    f->n++;
    return 0;
}

static void store_round_trip(void **state)
{
    (void)state;
    const int32_t dim = 32, n = 300;
    char *dir = cdx_test_mkdtemp("store");
    cdx_contract *c = cdx_test_store_contract("fixture-clip", dim);
    cdx_store *s = open_store(dir, c, "flat");
    cdx_errbuf eb = {0};

    /* Empty store: searches return nothing. */
    float *x = cdx_test_unit_vectors(n, dim, 11), *cap = cdx_test_unit_vectors(n, dim, 12);
    int64_t ids[10];
    float sc[10];
    assert_int_equal(cdx_store_search(s, CDX_SPACE_IMAGE, x, 1, 10, 0, ids, sc, &eb), CDX_OK);
    assert_int_equal(ids[0], -1);

    cdx_item items[300];
    char uris[300 * 32];
    cdx_test_items(items, uris, n, 0);
    for (int32_t i = 0; i < n; i += 3)
        items[i].caption = "a caption";
    items[1].meta_json = "{\"album\": \"summer\"}";
    for (int32_t b = 0; b < n; b += 100)
        assert_int_equal(cdx_store_put_batch(s, items + b, x + b * dim, cap + b * dim, 100, &eb), CDX_OK);

    /* Every vector finds itself first, with cosine 1. */
    for (int32_t i = 0; i < n; i += 17) {
        assert_int_equal(cdx_store_search(s, CDX_SPACE_IMAGE, x + i * dim, 1, 10, 0, ids, sc, &eb), CDX_OK);
        assert_int_equal(ids[0], items[i].id);
        assert_true(fabsf(sc[0] - 1.0f) < 1e-5f);
        assert_true(sc[1] <= sc[0]);
    }
    /* Captions only where there was one. */
    assert_int_equal(cdx_store_search(s, CDX_SPACE_CAPTION, cap + 3 * dim, 1, 10, 0, ids, sc, &eb), CDX_OK);
    assert_int_equal(ids[0], items[3].id);
    float v[32];
    assert_int_equal(cdx_store_get_vector(s, items[4].id, CDX_SPACE_CAPTION, v, &eb), CDX_ERR_NOTFOUND);
    assert_int_equal(cdx_store_get_vector(s, items[4].id, CDX_SPACE_IMAGE, v, &eb), CDX_OK);
    assert_memory_equal(v, x + 4 * dim, sizeof v);

    cdx_item_row row;
    assert_int_equal(cdx_store_get_item(s, items[1].id, &row, &eb), CDX_OK);
    assert_string_equal(row.uri, "img/1.jpg");
    assert_string_equal(row.meta_json, "{\"album\": \"summer\"}");
    assert_null(row.caption);
    assert_int_equal(row.width, 640);
    char hex[33];
    cdx_hash128_to_hex(items[1].content_hash, hex);
    assert_string_equal(row.content_hash, hex);
    cdx_item_row_clear(&row);
    cdx_item_row_clear(&row);
    assert_int_equal(cdx_store_get_item(s, 999999, &row, &eb), CDX_ERR_NOTFOUND);

    cdx_item_state st;
    assert_int_equal(cdx_store_lookup_uri(s, "img/7.jpg", &st, &eb), CDX_OK);
    assert_true(st.found && st.has_vector && st.id == items[7].id && st.bytes == 1007);
    assert_int_equal(cdx_store_lookup_uri(s, "img/none.jpg", &st, &eb), CDX_OK);
    assert_false(st.found);
    int64_t hid;
    assert_int_equal(cdx_store_lookup_hash(s, items[9].content_hash, &hid, &eb), CDX_OK);
    assert_int_equal(hid, items[9].id);
    assert_int_equal(cdx_store_lookup_hash(s, cdx_hash128_bytes("zz", 2), &hid, &eb), CDX_OK);
    assert_int_equal(hid, 0);

    /* Failures: a repeat bumps attempts; a later successful put clears it. */
    cdx_failure f = {.uri = "img/bad.jpg", .stage = "decode", .code = CDX_ERR_DECODE, .message = "truncated JPEG"};
    assert_int_equal(cdx_store_put_failure(s, &f, &eb), CDX_OK);
    assert_int_equal(cdx_store_put_failure(s, &f, &eb), CDX_OK);
    f.uri = "img/5.jpg";
    assert_int_equal(cdx_store_put_failure(s, &f, &eb), CDX_OK);
    fail_seen seen = {0};
    assert_int_equal(cdx_store_list_failures(s, collect_failure, &seen, &eb), CDX_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.uri[0], "img/bad.jpg");
    assert_int_equal(seen.attempts[0], 2);
    assert_string_equal(seen.code[0], "DECODE");

    /* Replacing an item by uri keeps its id, swaps its vector, clears its failure. */
    int64_t old_id = items[5].id;
    float *nv = cdx_test_unit_vectors(1, dim, 77);
    assert_int_equal(cdx_store_put_batch(s, &items[5], nv, NULL, 1, &eb), CDX_OK);
    assert_int_equal(items[5].id, old_id);
    assert_int_equal(cdx_store_search(s, CDX_SPACE_IMAGE, nv, 1, 1, 0, ids, sc, &eb), CDX_OK);
    assert_int_equal(ids[0], old_id);
    assert_int_equal(cdx_store_search(s, CDX_SPACE_IMAGE, x + 5 * dim, 1, 1, 0, ids, sc, &eb), CDX_OK);
    assert_true(ids[0] != old_id);
    seen = (fail_seen){0};
    assert_int_equal(cdx_store_list_failures(s, collect_failure, &seen, &eb), CDX_OK);
    assert_int_equal(seen.n, 1);

    /* Delete. */
    assert_int_equal(cdx_store_delete_item(s, items[6].id, &eb), CDX_OK);
    assert_int_equal(cdx_store_delete_item(s, items[6].id, &eb), CDX_ERR_NOTFOUND);
    assert_int_equal(cdx_store_search(s, CDX_SPACE_IMAGE, x + 6 * dim, 1, 1, 0, ids, sc, &eb), CDX_OK);
    assert_true(ids[0] != items[6].id);

    cdx_store_info info;
    assert_int_equal(cdx_store_get_info(s, &info, &eb), CDX_OK);
    assert_int_equal(info.items, n - 1);
    assert_int_equal(info.space[CDX_SPACE_IMAGE].vectors, n - 1);
    assert_int_equal(info.space[CDX_SPACE_IMAGE].indexed, n - 1);
    assert_int_equal(info.space[CDX_SPACE_CAPTION].vectors, 99); /* 100 captions, item 6 deleted */
    assert_string_equal(info.space[CDX_SPACE_IMAGE].spec, "flat");
    assert_int_equal(info.schema_version, CDX_CATALOG_SCHEMA_VERSION);
    assert_string_equal(info.contract_id, "fixture-clip");

    /* Checkpoint, then more writes that only the catalog has at close time... */
    assert_int_equal(cdx_store_checkpoint(s, &eb), CDX_OK);
    assert_int_equal(cdx_store_get_info(s, &info, &eb), CDX_OK);
    int64_t wm = info.space[CDX_SPACE_IMAGE].watermark;
    assert_true(wm > 0);
    assert_int_equal(cdx_store_delete_item(s, items[8].id, &eb), CDX_OK);
    cdx_store_close(s);

    /* ...and after reopening, everything is found as before. */
    s = open_store(dir, c, "auto");
    assert_int_equal(cdx_store_get_info(s, &info, &eb), CDX_OK);
    assert_int_equal(info.space[CDX_SPACE_IMAGE].indexed, n - 2);
    assert_int_equal(info.space[CDX_SPACE_CAPTION].indexed, info.space[CDX_SPACE_CAPTION].vectors);
    assert_int_equal(cdx_store_search(s, CDX_SPACE_IMAGE, nv, 1, 1, 0, ids, sc, &eb), CDX_OK);
    assert_int_equal(ids[0], old_id);
    assert_int_equal(cdx_store_search(s, CDX_SPACE_IMAGE, x + 8 * dim, 1, 1, 0, ids, sc, &eb), CDX_OK);
    assert_true(ids[0] != items[8].id);
    assert_int_equal(cdx_store_search(s, CDX_SPACE_IMAGE, x + 10 * dim, 1, 1, 0, ids, sc, &eb), CDX_OK);
    assert_int_equal(ids[0], items[10].id);
    /* Bad search arguments. */
    assert_int_equal(cdx_store_search(s, CDX_SPACE_IMAGE, x, 1, 0, 0, ids, sc, &eb), CDX_ERR_INVAL);
    assert_int_equal(cdx_store_search(s, (enum cdx_space)7, x, 1, 1, 0, ids, sc, &eb), CDX_ERR_INVAL);
    cdx_store_close(s);

    /* Read-only without a contract: the stamp says what the data is. */
    cdx_store_params p = cdx_store_default_params();
    p.read_only = 1;
    assert_int_equal(cdx_store_open(dir, NULL, &p, &s, &eb), CDX_OK);
    assert_int_equal(cdx_store_get_info(s, &info, &eb), CDX_OK);
    assert_int_equal(info.dim, dim);
    assert_int_equal(cdx_store_search(s, CDX_SPACE_IMAGE, x + 10 * dim, 1, 1, 0, ids, sc, &eb), CDX_OK);
    assert_int_equal(ids[0], items[10].id);
    assert_int_equal(cdx_store_put_batch(s, items, x, NULL, 1, &eb), CDX_ERR_INVAL);
    cdx_store_close(s);
    cdx_store_close(NULL);

    free(nv);
    free(x);
    free(cap);
    cdx_contract_close(c);
    cdx_test_rmtree(dir);
    free(dir);
}

static void foreign_contract_refused(void **state)
{
    (void)state;
    char *dir = cdx_test_mkdtemp("store-foreign");
    cdx_contract *a = cdx_test_store_contract("fixture-clip", 8);
    cdx_test_edit edit[] = {{"image.mean[0]", "0.5"}}; /* same id, another vector space */
    cdx_contract *b = NULL;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_test_parse_edited("fixture-clip", edit, 1, &b, &eb), CDX_OK);
    cdx_contract *other = cdx_test_store_contract("fixture-siglip", 8);
    cdx_store *s = open_store(dir, a, "flat");
    float *x = cdx_test_unit_vectors(1, 8, 3);
    cdx_item it;
    char uri[32];
    cdx_test_items(&it, uri, 1, 0);
    assert_int_equal(cdx_store_put_batch(s, &it, x, NULL, 1, &eb), CDX_OK);
    cdx_store_close(s);

    cdx_store_params p = cdx_store_default_params();
    assert_int_equal(cdx_store_open(dir, other, &p, &s, &eb), CDX_ERR_MISMATCH);
    assert_null(s);
    assert_non_null(strstr(eb.msg, "fixture-clip"));
    assert_non_null(strstr(eb.msg, "fixture-siglip"));
    assert_int_equal(cdx_store_open(dir, b, &p, &s, &eb), CDX_ERR_MISMATCH);
    assert_non_null(strstr(eb.msg, "space hash"));
    /* The stamp is intact: the right contract still opens. */
    s = open_store(dir, a, "flat");
    cdx_store_close(s);

    free(x);
    cdx_contract_close(a);
    cdx_contract_close(b);
    cdx_contract_close(other);
    cdx_test_rmtree(dir);
    free(dir);
}

static void bad_vectors_write_nothing(void **state)
{
    (void)state;
    char *dir = cdx_test_mkdtemp("store-bad");
    cdx_contract *c = cdx_test_store_contract("fixture-clip", 8);
    cdx_store *s = open_store(dir, c, "flat");
    float *x = cdx_test_unit_vectors(3, 8, 9);
    cdx_item items[3];
    char uris[3 * 32];
    cdx_test_items(items, uris, 3, 0);
    cdx_errbuf eb = {0};
    x[2 * 8] *= 2; /* item 2 is not normalized */
    assert_int_equal(cdx_store_put_batch(s, items, x, NULL, 3, &eb), CDX_ERR_INVAL);
    assert_non_null(strstr(eb.msg, "img/2.jpg"));
    assert_non_null(strstr(eb.msg, "norm"));
    x[2 * 8] = NAN;
    assert_int_equal(cdx_store_put_batch(s, items, x, NULL, 3, &eb), CDX_ERR_INVAL);
    items[1].meta_json = "[1,2]";
    x[2 * 8] = 0;
    assert_int_equal(cdx_store_put_batch(s, items, x, NULL, 2, &eb), CDX_ERR_INVAL);
    assert_non_null(strstr(eb.msg, "meta_json"));
    cdx_store_info info;
    assert_int_equal(cdx_store_get_info(s, &info, &eb), CDX_OK);
    assert_int_equal(info.items, 0);
    assert_int_equal(info.space[0].vectors, 0);
    cdx_store_close(s);
    free(x);
    cdx_contract_close(c);
    cdx_test_rmtree(dir);
    free(dir);
}

static void migrates_from_v1(void **state)
{
    (void)state;
    char *dir = cdx_test_mkdtemp("store-v1");
    char *path = cdx_test_fmt("%s/catalog.sqlite", dir);
    cdx_contract *c = cdx_test_store_contract("fixture-clip", 8);
    const cdx_contract_spec *cs = cdx_contract_get(c);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, cdx_catalog_schema_v1, NULL, NULL, NULL), SQLITE_OK);
    float *x = cdx_test_unit_vectors(2, 8, 4);
    char *sql = cdx_test_fmt("INSERT INTO meta VALUES('contract_id','%s'),('space_hash','%s'),('dim','8');"
                             "INSERT INTO items(id,uri,content_hash,bytes,mtime_ns,width,height,created_ms,updated_ms)"
                             " VALUES(1,'old/a.jpg','00000000000000000000000000000001',1,0,1,1,0,0),"
                             "(2,'old/b.jpg','00000000000000000000000000000002',1,0,1,1,0,0);",
                             cs->id, cs->space_hash);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO vectors(item_id,contract_id,space,dim,vec) VALUES(?,?,0,8,?)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    for (int i = 0; i < 2; i++) {
        sqlite3_bind_int(st, 1, i + 1);
        sqlite3_bind_text(st, 2, cs->id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, x + i * 8, 32, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);

    cdx_store *s = open_store(dir, c, "auto");
    cdx_store_info info;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_store_get_info(s, &info, &eb), CDX_OK);
    assert_int_equal(info.schema_version, 2);
    assert_int_equal(info.items, 2);
    assert_int_equal(info.space[0].indexed, 2);
    int64_t ids[1];
    float sc[1];
    assert_int_equal(cdx_store_search(s, CDX_SPACE_IMAGE, x + 8, 1, 1, 0, ids, sc, &eb), CDX_OK);
    assert_int_equal(ids[0], 2);
    /* v2's tombstones work on migrated rows. */
    assert_int_equal(cdx_store_delete_item(s, 2, &eb), CDX_OK);
    cdx_store_close(s);
    s = open_store(dir, c, "auto");
    assert_int_equal(cdx_store_get_info(s, &info, &eb), CDX_OK);
    assert_int_equal(info.space[0].indexed, 1);
    cdx_store_close(s);

    free(sql);
    free(x);
    free(path);
    cdx_contract_close(c);
    cdx_test_rmtree(dir);
    free(dir);
}

static void sidecar_round_trip(void **state)
{
    (void)state;
    cdx_sidecar a = {.format = 1, .auto_spec = 1, .dim = 512, .count = 7, .bytes = 99, .watermark = 5,
                     .tomb_watermark = 2, .generation = 3, .planned_n = 7, .written_ms = 1};
    strcpy(a.space, "image");
    cdx_sidecar_file_name("image", 3, a.file, sizeof a.file);
    strcpy(a.spec, "hnsw:m=32,efc=200,efs=64");
    strcpy(a.contract_id, "tiny-clip");
    memset(a.space_hash, 'a', 64);
    memset(a.sha256, '0', 64);
    char *text = cdx_sidecar_format(&a);
    cdx_sidecar b;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_sidecar_parse(text, strlen(text), &b, &eb), CDX_OK);
    assert_memory_equal(&a, &b, sizeof a);
    /* A file name that is not ours is refused. */
    char *evil = cdx_test_fmt("%s", text);
    char *p = strstr(evil, "index-image.3.faiss");
    memcpy(p, "../../etc/passwd...", 19);
    assert_int_equal(cdx_sidecar_parse(evil, strlen(evil), &b, &eb), CDX_ERR_CORRUPT);
    assert_non_null(strstr(eb.msg, "file"));
    free(evil);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flat_equals_brute_force),
        cmocka_unit_test(flat_reserve_is_exact),
        cmocka_unit_test(flat_remove_many_keeps_hash_consistent),
        cmocka_unit_test(specs_parse_and_round_trip),
        cmocka_unit_test(auto_plan_and_exact_rule),
        cmocka_unit_test(store_round_trip),
        cmocka_unit_test(foreign_contract_refused),
        cmocka_unit_test(bad_vectors_write_nothing),
        cmocka_unit_test(migrates_from_v1),
        cmocka_unit_test(sidecar_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
