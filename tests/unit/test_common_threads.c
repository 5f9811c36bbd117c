/* Thread budget: the plan per role, overrides kept and marked, the override
 * grammar (and its errors), the decode/tower balance, and that applying a
 * budget makes it current and reaches OpenMP when it is loaded. */
#include "testutil.h"

#include "common/error.h"
#include "common/threads.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

static void plan_roles(void **state)
{
    (void)state;
    cdx_threads_params p = cdx_threads_default_params();
    cdx_threads_budget b;
    p.cores = 8;
    p.role = CDX_THREADS_ROLE_INGEST;
    cdx_threads_plan(&p, &b);
    assert_int_equal(b.cores, 8);
    assert_int_equal(b.ort_intra, 8);
    assert_int_equal(b.ort_inter, 1);
    assert_int_equal(b.workers, 4);
    assert_int_equal(b.vips, 1);
    assert_int_equal(b.omp, 1);
    assert_int_equal(b.blas, 1);
    assert_int_equal(b.overridden, CDX_THREADS_FIELD_CORES);

    p.role = CDX_THREADS_ROLE_SERVE;
    cdx_threads_plan(&p, &b);
    assert_int_equal(b.workers, 8);
    assert_int_equal(b.ort_intra, 1); /* one core per encoder call, as many calls as cores */
    assert_int_equal(b.omp, 1);

    p.role = CDX_THREADS_ROLE_TOOL;
    cdx_threads_plan(&p, &b);
    assert_int_equal(b.workers, 1);
    assert_int_equal(b.omp, 8);
    assert_int_equal(b.blas, 8);

    /* One core: nothing planned below 1. */
    p.cores = 1;
    p.role = CDX_THREADS_ROLE_INGEST;
    cdx_threads_plan(&p, &b);
    assert_int_equal(b.workers, 1);
    assert_int_equal(b.ort_intra, 1);

    /* Detected cores: at least one, and the source is named. */
    p = cdx_threads_default_params();
    cdx_threads_plan(&p, &b);
    assert_true(b.cores >= 1);
    assert_true(b.cores_source[0] != '\0');
    assert_int_equal(b.overridden, 0);
}

static void parse_overrides(void **state)
{
    (void)state;
    cdx_threads_params p = cdx_threads_default_params();
    cdx_errbuf eb = {0};
    p.role = CDX_THREADS_ROLE_INGEST;
    assert_int_equal(cdx_threads_parse("cores=4,ort=3,decode=2,omp=2", &p, &eb), CDX_OK);
    assert_int_equal(p.cores, 4);
    assert_int_equal(p.ort_intra, 3);
    assert_int_equal(p.workers, 2);
    assert_int_equal(p.omp, 2);
    assert_int_equal(p.blas, 0);
    cdx_threads_budget b;
    cdx_threads_plan(&p, &b);
    assert_int_equal(b.ort_intra, 3);
    assert_int_equal(b.workers, 2);
    assert_int_equal(b.blas, 1);
    assert_true(b.overridden & CDX_THREADS_FIELD_ORT_INTRA);
    assert_true(b.overridden & CDX_THREADS_FIELD_WORKERS);
    assert_false(b.overridden & CDX_THREADS_FIELD_BLAS);
    char line[256];
    cdx_threads_format(&b, line, sizeof line);
    assert_non_null(strstr(line, "ort=3*/1"));
    assert_non_null(strstr(line, "workers=2*"));
    assert_non_null(strstr(line, "blas=1"));
    assert_null(strstr(line, "blas=1*"));
    assert_non_null(strstr(line, "role=ingest"));

    /* Every bad form fails, names the entry and leaves p untouched. */
    static const char *const bad[] = {"ort", "ort=", "ort=0", "ort=-1", "ort=2x", "gpu=1", "ort=2,,omp=1",
                                      "ort=99999", "=2", "ort=1,"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cdx_threads_params q = p;
        int rc = cdx_threads_parse(bad[i], &q, &eb);
        if (strcmp(bad[i], "ort=1,") == 0) { /* a trailing comma is harmless */
            assert_int_equal(rc, CDX_OK);
            continue;
        }
        assert_int_equal(rc, CDX_ERR_PARSE);
        assert_non_null(strstr(eb.msg, "bad entry"));
        assert_memory_equal(&q, &p, sizeof p);
    }
    assert_int_equal(cdx_threads_parse(NULL, &p, &eb), CDX_OK);
    assert_int_equal(cdx_threads_parse("", &p, &eb), CDX_OK);
}

static void balance(void **state)
{
    (void)state;
    /* Decoding 10x cheaper than the tower: one worker. */
    assert_int_equal(cdx_threads_balance_workers(5, 50, 4), 1);
    /* Decoding as costly as the tower: two (one to match, the margin). */
    assert_int_equal(cdx_threads_balance_workers(50, 50, 4), 2);
    /* Three times: four, capped by max. */
    assert_int_equal(cdx_threads_balance_workers(150, 50, 8), 4);
    assert_int_equal(cdx_threads_balance_workers(150, 50, 2), 2);
    /* Unmeasured: one. */
    assert_int_equal(cdx_threads_balance_workers(0, 50, 4), 1);
    assert_int_equal(cdx_threads_balance_workers(10, 0, 4), 1);
}

typedef int (*get_threads_fn)(void);

static void apply_makes_current(void **state)
{
    (void)state;
    cdx_threads_params p = cdx_threads_default_params();
    p.role = CDX_THREADS_ROLE_SERVE;
    p.cores = 3;
    p.omp = 2;
    cdx_threads_budget b, cur;
    cdx_threads_plan(&p, &b);
    cdx_threads_apply(&b);
    cdx_threads_current(&cur);
    assert_memory_equal(&b, &cur, sizeof b);
    cdx_threads_enter_omp();
    void *f = dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    if (f) { /* FAISS brings OpenMP into every test binary that links the index */
        get_threads_fn get;
        memcpy(&get, &f, sizeof get);
        assert_int_equal(get(), 2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plan_roles),
        cmocka_unit_test(parse_overrides),
        cmocka_unit_test(balance),
        cmocka_unit_test(apply_makes_current),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
