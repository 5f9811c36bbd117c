/* Benchmark statistics: exact percentiles (numpy's default interpolation),
 * drift between the first and last third of a run, block noise, and the
 * summary's histogram and blocks. */
#include "testutil.h"

#include "bench/stats.h"

#include <math.h>
#include <stdlib.h>

static void quantiles_interpolate_like_numpy(void **state)
{
    (void)state;
    const double v[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    /* numpy.percentile(range(1, 11), [0, 50, 95, 99, 100]) */
    assert_float_equal(cdx_bench_quantile_sorted(v, 10, 0.0), 1.0, 1e-12);
    assert_float_equal(cdx_bench_quantile_sorted(v, 10, 0.5), 5.5, 1e-12);
    assert_float_equal(cdx_bench_quantile_sorted(v, 10, 0.95), 9.55, 1e-12);
    assert_float_equal(cdx_bench_quantile_sorted(v, 10, 0.99), 9.91, 1e-12);
    assert_float_equal(cdx_bench_quantile_sorted(v, 10, 1.0), 10.0, 1e-12);
    assert_float_equal(cdx_bench_quantile_sorted(v, 1, 0.95), 1.0, 1e-12);
    assert_float_equal(cdx_bench_quantile_sorted(v, 0, 0.5), 0.0, 1e-12);
    double m[] = {9, 1, 5, 3};
    assert_float_equal(cdx_bench_median_inplace(m, 4), 4.0, 1e-12);
}

static void drift_compares_last_third_with_first(void **state)
{
    (void)state;
    /* 9 samples: first third median 10, last third median 12 -> +20% */
    const double up[] = {10, 9, 11, 50, 50, 50, 12, 13, 11};
    assert_float_equal(cdx_bench_drift(up, 9), 0.2, 1e-12);
    const double down[] = {10, 10, 10, 10, 10, 10, 5, 5, 5};
    assert_float_equal(cdx_bench_drift(down, 9), -0.5, 1e-12);
    const double flat[] = {3, 3, 3, 3, 3, 3};
    assert_float_equal(cdx_bench_drift(flat, 6), 0.0, 1e-12);
    assert_float_equal(cdx_bench_drift(up, 2), 0.0, 1e-12); /* too few to judge */
}

static void noise_is_half_range_over_median(void **state)
{
    (void)state;
    const double b[] = {9, 10, 11, 10, 10};
    assert_float_equal(cdx_bench_noise(b, 5), 0.1, 1e-12);
    assert_float_equal(cdx_bench_noise(b, 1), 0.0, 1e-12);
}

static void summary_counts_blocks_and_histogram(void **state)
{
    (void)state;
    enum { N = 1000 };
    double *s = malloc(N * sizeof *s);
    for (int i = 0; i < N; i++)
        s[i] = 1.0 + (double)((i * 7919) % 1000) / 1000.0; /* 1.000 .. 1.999, shuffled */
    cdx_bench_summary sum;
    assert_int_equal(cdx_bench_summarize(s, N, 5, &sum), 0);
    assert_int_equal(sum.n, N);
    assert_float_equal(sum.min_ms, 1.0, 1e-12);
    assert_float_equal(sum.max_ms, 1.999, 1e-12);
    assert_float_equal(sum.p50_ms, 1.4995, 1e-9);
    assert_true(sum.p95_ms > 1.94 && sum.p95_ms < 1.95);
    assert_true(fabs(sum.drift) < 0.05);
    assert_int_equal(sum.n_blocks, 5);
    assert_true(sum.noise_p50 < 0.05);
    uint64_t total = 0;
    for (int i = 0; i < sum.hist.n_bins; i++)
        total += sum.hist.bins[i];
    assert_int_equal(total, N);
    assert_true(sum.hist.lo_ms < 1.0 && sum.hist.hi_ms > 1.999);

    /* a step in the middle shows up in the blocks' spread and in drift */
    for (int i = N / 2; i < N; i++)
        s[i] *= 2;
    assert_int_equal(cdx_bench_summarize(s, N, 4, &sum), 0);
    assert_true(sum.noise_p50 > 0.3);
    assert_true(sum.drift > 0.9);

    /* fewer samples than blocks: one sample per block */
    assert_int_equal(cdx_bench_summarize(s, 3, 8, &sum), 0);
    assert_int_equal(sum.n_blocks, 3);
    assert_int_equal(cdx_bench_summarize(s, 0, 8, &sum), 0);
    assert_int_equal(sum.n, 0);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quantiles_interpolate_like_numpy),
        cmocka_unit_test(drift_compares_last_third_with_first),
        cmocka_unit_test(noise_is_half_range_over_median),
        cmocka_unit_test(summary_counts_blocks_and_histogram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
