/* Each approximate kind, tuned on the data's own vectors, meets recall@10 >=
 * 0.95 against exact search on queries tuning did not see (index/ibench.h
 * makes random unit vectors, builds, tunes, measures). 10k x 48 here; the
 * 100k x 512 run is test_index_kinds_slow. A 3-point allowance covers the
 * sampling error of 100 held-out queries.
 * ctest-timeout: 1200 */
#include "testutil.h"

#include "common/util.h"
#include "index/ibench.h"

#include <stdio.h>
#include <stdlib.h>

static void kinds_meet_target(int64_t n, int32_t dim, const char *const *specs, size_t n_specs)
{
    cdx_ibench_params p = cdx_ibench_default_params();
    p.n = n;
    p.dim = dim;
    p.queries = 400;
    p.threads = 1;
    cdx_ibench_data *d;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_ibench_data_make(&p, &d, &eb), CDX_OK);
    for (size_t i = 0; i < n_specs; i++) {
        cdx_index_spec spec;
        assert_int_equal(cdx_index_spec_parse(specs[i], &spec, &eb), CDX_OK);
        cdx_ibench_result r;
        if (cdx_ibench_run(d, &spec, &r, &eb) != CDX_OK)
            fail_msg("%s: %s", specs[i], eb.msg);
        fprintf(stderr, "%-48s recall@10 %.4f (tuning reached %s), p50 %.3f ms, %.1f MiB, build %.1f s\n", r.spec,
                r.recall_at_10, r.tune.chosen >= 0 ? "the target" : "NOT the target", r.p50_ms,
                (double)r.memory_bytes / 1048576.0, r.build_s);
        if (r.tune.chosen < 0)
            fail_msg("%s: no effort reached recall@10 0.95 while tuning", specs[i]);
        if (r.recall_at_10 < 0.92)
            fail_msg("%s tuned as %s: recall@10 %.4f on held-out queries", specs[i], r.spec, r.recall_at_10);
    }
    cdx_ibench_data_free(d);
}

static void approximate_kinds_small(void **state)
{
    (void)state;
    static const char *const specs[] = {"hnsw:m=16,efc=64", "ivf", "ivfpq", "sq8:rerank=2"};
    kinds_meet_target(10000, 48, specs, CDX_ARRAY_LEN(specs));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(approximate_kinds_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
