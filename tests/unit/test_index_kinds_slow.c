/* The measure: each approximate kind on 100k random unit vectors of
 * 512 dims, tuned, meets recall@10 >= 0.95 on held-out queries (3-point
 * allowance for 100 queries' sampling error). Random vectors are the hard
 * case: no clusters, neighbours barely closer than the rest.
 * ctest-labels: slow
 * ctest-timeout: 14400 */
#include "testutil.h"

#include "common/util.h"
#include "index/ibench.h"

#include <stdio.h>

static void approximate_kinds_100k(void **state)
{
    (void)state;
    static const char *const specs[] = {"hnsw:m=32,efc=128", "ivf", "ivfpq", "sq8:rerank=2"};
    cdx_ibench_params p = cdx_ibench_default_params();
    p.queries = 400;
    cdx_ibench_data *d;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_ibench_data_make(&p, &d, &eb), CDX_OK);
    for (size_t i = 0; i < CDX_ARRAY_LEN(specs); i++) {
        cdx_index_spec spec;
        assert_int_equal(cdx_index_spec_parse(specs[i], &spec, &eb), CDX_OK);
        cdx_ibench_result r;
        if (cdx_ibench_run(d, &spec, &r, &eb) != CDX_OK)
            fail_msg("%s: %s", specs[i], eb.msg);
        fprintf(stderr, "%-48s recall@10 %.4f, p50 %.3f ms, %.1f MiB, build %.1f s\n", r.spec, r.recall_at_10, r.p50_ms,
                (double)r.memory_bytes / 1048576.0, r.build_s);
        if (r.tune.chosen < 0 || r.recall_at_10 < 0.92)
            fail_msg("%s tuned as %s: recall@10 %.4f", specs[i], r.spec, r.recall_at_10);
    }
    cdx_ibench_data_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(approximate_kinds_100k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
