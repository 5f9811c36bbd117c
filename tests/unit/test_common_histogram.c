/* Histogram: percentiles within the bucket resolution (~19%), exact counts,
 * min/max clamping, merge, cumulative counts for Prometheus. */
#include "testutil.h"

#include "common/histogram.h"

#include <math.h>

static void percentiles_within_resolution(void **state)
{
    (void)state;
    cdx_histogram *h;
    assert_int_equal(cdx_histogram_init(&h), 0);
    cdx_histogram_summary s;
    cdx_histogram_summarize(h, &s);
    assert_int_equal(s.count, 0);
    assert_true(s.p99_ms == 0);
    /* 1..1000 ms uniformly */
    for (int i = 1; i <= 1000; i++)
        cdx_histogram_record_ns(h, (int64_t)i * 1000000);
    cdx_histogram_summarize(h, &s);
    assert_int_equal(s.count, 1000);
    assert_true(fabs(s.mean_ms - 500.5) < 1e-6);
    assert_true(fabs(s.min_ms - 1) < 1e-9 && fabs(s.max_ms - 1000) < 1e-9);
    struct { double got, want; } q[] = {{s.p50_ms, 500}, {s.p90_ms, 900}, {s.p95_ms, 950}, {s.p99_ms, 990}};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        if (fabs(q[i].got - q[i].want) / q[i].want > 0.19)
            fail_msg("quantile %zu: %g, want %g +- 19%%", i, q[i].got, q[i].want);
    /* a single sample is reported exactly (clamped to min/max) */
    cdx_histogram_reset(h);
    cdx_histogram_record_ns(h, 7300000);
    assert_true(fabs(cdx_histogram_quantile_ms(h, 0.5) - 7.3) < 1e-9);
    assert_true(fabs(cdx_histogram_quantile_ms(h, 0.99) - 7.3) < 1e-9);
    /* sub-microsecond and huge samples land in the end buckets without harm */
    cdx_histogram_record_ns(h, 10);
    cdx_histogram_record_ns(h, (int64_t)1 << 62);
    cdx_histogram_record_ns(h, -5);
    cdx_histogram_summarize(h, &s);
    assert_int_equal(s.count, 4);
    cdx_histogram_free(h);
    cdx_histogram_free(NULL);
}

static void merge_and_cumulative(void **state)
{
    (void)state;
    cdx_histogram *a, *b;
    cdx_histogram_init(&a);
    cdx_histogram_init(&b);
    for (int i = 0; i < 100; i++)
        cdx_histogram_record_ns(a, 1000000);  /* 1 ms */
    for (int i = 0; i < 50; i++)
        cdx_histogram_record_ns(b, 100000000); /* 100 ms */
    cdx_histogram_merge(a, b);
    cdx_histogram_summary s;
    cdx_histogram_summarize(a, &s);
    assert_int_equal(s.count, 150);
    assert_true(fabs(s.max_ms - 100) < 1e-9);
    assert_int_equal(cdx_histogram_count_le(a, 0.5), 0);
    assert_int_equal(cdx_histogram_count_le(a, 5), 100);
    assert_int_equal(cdx_histogram_count_le(a, 50), 100);
    assert_int_equal(cdx_histogram_count_le(a, 1000), 150);
    cdx_histogram_free(a);
    cdx_histogram_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(percentiles_within_resolution),
        cmocka_unit_test(merge_and_cumulative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
