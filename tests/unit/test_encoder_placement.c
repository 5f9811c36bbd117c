/* Placement report over recorded ORT output: a real CPU profile from this
 * machine, and traces/logs as ORT writes them on machines with CUDA (all on the
 * GPU; shape math and a TopK on the CPU) and CoreML (two compiled partitions
 * with CPU nodes between). Node counts, partitions, time shares and the CPU
 * fallback ratios are checked against hand-counted values. */
#include "testutil.h"

#include "encoder/placement.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void feed_file(cdx_placement_report *r, const char *name)
{
    char *rel = cdx_test_fmt("tests/fixtures/runtime/profiles/%s", name);
    char *path = cdx_test_src_path(rel);
    size_t len;
    char *text = (char *)cdx_test_read_file(path, &len);
    assert_non_null(text);
    if (strstr(name, ".json")) {
        cdx_errbuf eb = {0};
        assert_int_equal(cdx_placement_feed_profile(r, text, len, &eb), CDX_OK);
    } else {
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
            cdx_placement_feed_log(r, line);
    }
    free(text);
    free(path);
    free(rel);
}

static const cdx_ep_share *ep(const cdx_placement_report *r, const char *name)
{
    for (int i = 0; i < r->n_eps; i++)
        if (strcmp(r->eps[i].provider, name) == 0)
            return &r->eps[i];
    fail_msg("no provider %s in report", name);
    return NULL;
}

static void cpu_profile_from_this_machine(void **state)
{
    (void)state;
    cdx_placement_report r;
    cdx_placement_init(&r);
    feed_file(&r, "placement_cpu.log");
    feed_file(&r, "cpu_vision_tiny.json");
    cdx_placement_finish(&r, "CPUExecutionProvider");
    assert_int_equal(r.n_eps, 1);
    assert_int_equal(r.nodes_from_log, 1);
    const cdx_ep_share *c = ep(&r, "CPUExecutionProvider");
    assert_int_equal(c->nodes, 2);
    assert_int_equal(c->partitions, 1);
    assert_int_equal(c->time_us, 26 + 354); /* flatten + the fused MatMul+Add, as recorded */
    assert_true(fabs(c->time_share - 1.0) < 1e-9);
    assert_int_equal(r.profiled_runs, 1);
    assert_true(r.fallback_by_nodes == 0 && r.fallback_by_time == 0);
}

static void cuda_all_on_gpu(void **state)
{
    (void)state;
    cdx_placement_report r;
    cdx_placement_init(&r);
    feed_file(&r, "cuda_mnist.json"); /* no log: node counts from the profile */
    cdx_placement_finish(&r, "CUDAExecutionProvider");
    assert_int_equal(r.nodes_from_log, 0);
    assert_int_equal(r.profiled_runs, 2);
    const cdx_ep_share *g = ep(&r, "CUDAExecutionProvider");
    assert_int_equal(g->nodes, 8);
    assert_int_equal(g->partitions, 1);
    assert_int_equal(g->time_us, 66055 + 775 + 8818 + 1120 + 23 + 21 + 16 + 32264 + 87 + 23 + 31 + 35 + 15 + 22 + 12 + 40);
    assert_true(r.fallback_by_nodes == 0 && r.fallback_by_time == 0);
}

static void cuda_with_cpu_fallback(void **state)
{
    (void)state;
    cdx_placement_report r;
    cdx_placement_init(&r);
    feed_file(&r, "placement_cuda_mixed.log");
    feed_file(&r, "cuda_mixed.json");
    cdx_placement_finish(&r, "CUDAExecutionProvider");
    const cdx_ep_share *g = ep(&r, "CUDAExecutionProvider"), *c = ep(&r, "CPUExecutionProvider");
    assert_int_equal(g->nodes, 7);
    assert_int_equal(c->nodes, 3);
    /* order: cuda | cpu cpu | cuda cuda cuda cuda | cpu | cuda cuda */
    assert_int_equal(g->partitions, 3);
    assert_int_equal(c->partitions, 2);
    int64_t cpu_us = 10 + 20 + 300 + 5 + 10 + 280;
    int64_t all_us = 1351 + 762;
    assert_int_equal(c->time_us, cpu_us);
    assert_int_equal(r.total_time_us, all_us);
    assert_true(fabs(r.fallback_by_nodes - 0.3) < 1e-9);
    assert_true(fabs(r.fallback_by_time - (double)cpu_us / (double)all_us) < 1e-9);
    char line[512];
    cdx_placement_format(&r, line, sizeof line);
    assert_non_null(strstr(line, "CPUExecutionProvider nodes=3 partitions=2"));
}

static void coreml_partitions(void **state)
{
    (void)state;
    cdx_placement_report r;
    cdx_placement_init(&r);
    feed_file(&r, "placement_coreml.log");
    feed_file(&r, "coreml_partial.json");
    cdx_placement_finish(&r, "CoreMLExecutionProvider");
    const cdx_ep_share *m = ep(&r, "CoreMLExecutionProvider"), *c = ep(&r, "CPUExecutionProvider");
    assert_int_equal(m->from_capability, 1);
    assert_int_equal(m->nodes, 412); /* original nodes, not the 2 fused ones */
    assert_int_equal(m->partitions, 2);
    assert_int_equal(r.graph_nodes, 415);
    assert_int_equal(c->nodes, 3);
    assert_int_equal(c->partitions, 2); /* between and after the partitions */
    assert_int_equal(r.profiled_runs, 3);
    assert_true(fabs(r.fallback_by_nodes - 3.0 / 415.0) < 1e-9);
    int64_t cpu_us = 100 + 50 + 200 + 90 + 40 + 150 + 95 + 45 + 160;
    int64_t coreml_us = 5000 + 9000 + 3000 + 7000 + 2900 + 7100;
    assert_true(fabs(r.fallback_by_time - (double)cpu_us / (double)(cpu_us + coreml_us)) < 1e-9);
}

static void bad_profiles(void **state)
{
    (void)state;
    cdx_placement_report r;
    cdx_errbuf eb = {0};
    cdx_placement_init(&r);
    assert_int_equal(cdx_placement_feed_profile(&r, "{\"not\":\"an array\"}", 18, &eb), CDX_ERR_PARSE);
    assert_int_equal(cdx_placement_feed_profile(&r, "[{\"cat\":", 8, &eb), CDX_ERR_PARSE);
    assert_non_null(strstr(eb.msg, "ORT profile"));
    /* Events with missing or ill-typed fields are ignored, not trusted. */
    const char *odd = "[{\"cat\":\"Node\",\"name\":\"x_kernel_time\"},{\"cat\":1},{\"cat\":\"Node\",\"name\":\"_kernel_time\","
                      "\"args\":{\"provider\":\"CPUExecutionProvider\"}},7]";
    assert_int_equal(cdx_placement_feed_profile(&r, odd, strlen(odd), &eb), CDX_OK);
    cdx_placement_finish(&r, "CPUExecutionProvider");
    assert_int_equal(r.total_nodes, 0);
    assert_int_equal(cdx_placement_feed_log(&r, "Node(s) placed on [CPUExecutionProvider"), 0);
    assert_int_equal(cdx_placement_feed_log(&r, "Session successfully initialized."), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cpu_profile_from_this_machine),
        cmocka_unit_test(cuda_all_on_gpu),
        cmocka_unit_test(cuda_with_cpu_fallback),
        cmocka_unit_test(coreml_partitions),
        cmocka_unit_test(bad_profiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
