/* Provider specs: the grammar, canonical form, every kind of bad spec named in
 * its error, CoreML/CUDA option translation to ORT's keys, session settings,
 * and applying specs to real ORT session options (providers this ORT build
 * lacks are skipped only when a later entry takes over). */
#include "testutil.h"

#include "encoder/ort_env.h"
#include "encoder/ort_util.h"
#include "encoder/providers.h"

#include <string.h>

static void parses_and_formats(void **state)
{
    (void)state;
    cdx_provider_spec s;
    cdx_errbuf eb = {0};
    char buf[512];
    const char *cases[][2] = {
        {"cpu", "cpu"},
        {" cpu : threads = 2 , opt=all ", "cpu:threads=2,opt=all"},
        {"coreml:format=mlprogram,units=cpuonly;cpu", "coreml:format=mlprogram,units=cpuonly;cpu"},
        {"cuda:device=0;cpu:threads=1", "cuda:device=0;cpu:threads=1"},
        {"cuda;coreml:static_shapes=on,cache=/tmp/c;cpu", "cuda;coreml:static_shapes=on,cache=/tmp/c;cpu"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(cdx_provider_spec_parse(cases[i][0], &s, &eb), CDX_OK);
        cdx_provider_spec_format(&s, buf, sizeof buf);
        assert_string_equal(buf, cases[i][1]);
        cdx_provider_spec again;
        assert_int_equal(cdx_provider_spec_parse(buf, &again, &eb), CDX_OK);
        assert_int_equal(again.n_entries, s.n_entries);
    }
    assert_int_equal(cdx_provider_spec_parse("coreml:format=mlprogram;cpu", &s, &eb), CDX_OK);
    assert_int_equal(s.n_entries, 2);
    assert_int_equal(s.entries[0].provider, CDX_PROVIDER_COREML);
    assert_string_equal(cdx_provider_entry_get(&s.entries[0], "format"), "mlprogram");
    assert_null(cdx_provider_entry_get(&s.entries[0], "units"));
    assert_non_null(cdx_provider_spec_cpu(&s));
    assert_int_equal(cdx_provider_from_name("cuda", 4), CDX_PROVIDER_CUDA);
    assert_int_equal(cdx_provider_from_name("cudax", 5), -1);
    assert_int_equal(cdx_provider_from_ort_name("CoreMLExecutionProvider"), CDX_PROVIDER_COREML);
    assert_int_equal(cdx_provider_from_ort_name("TensorrtExecutionProvider"), -1);
}

static void bad_specs_name_the_problem(void **state)
{
    (void)state;
    struct {
        const char *spec, *needle;
    } cases[] = {
        {"", "empty"},
        {"gpu", "unknown provider 'gpu'"},
        {"cpu:threads=0", "cpu:threads=0: expected an integer in [1, 1024]"},
        {"cpu:threads=two", "expected an integer"},
        {"cpu:opt=max", "expected one of disabled|basic|extended|layout|all"},
        {"cpu:bogus=1", "has no option 'bogus' (it has: threads, inter_threads, opt, arena, spin, cache)"},
        {"cpu:threads", "is not key=value"},
        {"cpu:threads=1,threads=2", "cpu:threads given twice"},
        {"cpu;cpu", "cpu appears twice"},
        {"cpu;coreml", "cpu must be the last entry"},
        {"coreml:units=gpu", "expected one of cpuonly|cpuandgpu|cpuandne|all"},
        {"coreml:static_shapes=maybe", "expected on|off"},
        {"cuda:device=-1", "cuda:device=-1: expected an integer in [0, 64]"},
        {";", "empty or overlong provider name"},
        {"cpu:cache=", "expected a path"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdx_provider_spec s;
        cdx_errbuf eb = {0};
        assert_int_equal(cdx_provider_spec_parse(cases[i].spec, &s, &eb), CDX_ERR_INVAL);
        if (!strstr(eb.msg, cases[i].needle))
            fail_msg("spec '%s': message '%s' lacks '%s'", cases[i].spec, eb.msg, cases[i].needle);
    }
}

static void translates_options_for_ort(void **state)
{
    (void)state;
    cdx_provider_spec s;
    cdx_errbuf eb = {0};
    const char *k[16], *v[16];
    assert_int_equal(cdx_provider_spec_parse("coreml:format=mlprogram,units=cpuandne,static_shapes=on,"
                                             "subgraphs=0,cache=/var/cache/x,strategy=fastprediction;cpu",
                                             &s, &eb),
                     CDX_OK);
    int n = cdx_provider_entry_ort_options(&s.entries[0], k, v, 16);
    assert_int_equal(n, 6);
    const char *want[][2] = {{"ModelFormat", "MLProgram"},
                             {"MLComputeUnits", "CPUAndNeuralEngine"},
                             {"RequireStaticInputShapes", "1"},
                             {"EnableOnSubgraphs", "0"},
                             {"ModelCacheDirectory", "/var/cache/x"},
                             {"SpecializationStrategy", "FastPrediction"}};
    for (int i = 0; i < n; i++) {
        assert_string_equal(k[i], want[i][0]);
        assert_string_equal(v[i], want[i][1]);
    }
    assert_int_equal(cdx_provider_spec_parse("cuda:device=1,mem_limit=2147483648,cudnn_search=heuristic,tf32=off",
                                             &s, &eb),
                     CDX_OK);
    n = cdx_provider_entry_ort_options(&s.entries[0], k, v, 16);
    assert_int_equal(n, 4);
    assert_string_equal(k[0], "device_id");
    assert_string_equal(v[0], "1");
    assert_string_equal(k[1], "gpu_mem_limit");
    assert_string_equal(v[1], "2147483648");
    assert_string_equal(v[2], "HEURISTIC");
    assert_string_equal(k[3], "use_tf32");
    assert_string_equal(v[3], "0");
    /* cpu options are session-wide, never provider options */
    assert_int_equal(cdx_provider_spec_parse("cpu:threads=3", &s, &eb), CDX_OK);
    assert_int_equal(cdx_provider_entry_ort_options(&s.entries[0], k, v, 16), 0);
}

static void session_settings(void **state)
{
    (void)state;
    cdx_provider_spec s;
    cdx_session_settings ss;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_provider_spec_parse("coreml", &s, &eb), CDX_OK);
    assert_int_equal(cdx_provider_session_settings(&s, &ss, &eb), CDX_OK);
    assert_int_equal(ss.intra_threads, 0);
    assert_int_equal(ss.inter_threads, 1);
    assert_int_equal(ss.opt_level, 99);
    assert_int_equal(ss.arena, 1);
    assert_int_equal(ss.spinning, -1);
    assert_int_equal(cdx_provider_spec_parse("cpu:threads=2,inter_threads=3,opt=basic,arena=off,spin=off,cache=/c",
                                             &s, &eb),
                     CDX_OK);
    assert_int_equal(cdx_provider_session_settings(&s, &ss, &eb), CDX_OK);
    assert_int_equal(ss.intra_threads, 2);
    assert_int_equal(ss.inter_threads, 3);
    assert_int_equal(ss.opt_level, 1);
    assert_string_equal(cdx_opt_level_name(ss.opt_level), "basic");
    assert_int_equal(ss.arena, 0);
    assert_int_equal(ss.spinning, 0);
    assert_string_equal(ss.cache_dir, "/c");
}

static void apply_to_ort(void **state)
{
    (void)state;
    cdx_ort_info oi;
    cdx_errbuf eb = {0};
    assert_int_equal(cdx_ort_info_read(&oi, &eb), CDX_OK);
    const OrtApi *api = cdx_ort();
    struct {
        const char *spec;
        int rc;
        const char *used;
    } cases[] = {
        {"cpu", CDX_OK, "cpu"},
        {"coreml:format=mlprogram;cpu", CDX_OK, "cpu"}, /* skipped: this build has no CoreML */
        {"cuda:device=0;cpu", CDX_OK, "cpu"},
        {"cuda;coreml;cpu", CDX_OK, "cpu"},
        {"coreml", CDX_ERR_PROVIDER, ""},
        {"cuda", CDX_ERR_PROVIDER, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdx_provider_spec s;
        OrtSessionOptions *so;
        assert_int_equal(cdx_provider_spec_parse(cases[i].spec, &s, &eb), CDX_OK);
        assert_null(api->CreateSessionOptions(&so));
        char used[64];
        int rc = cdx_provider_spec_apply(&s, so, oi.providers, oi.n_providers, used, sizeof used, &eb);
        assert_int_equal(rc, cases[i].rc);
        if (rc == CDX_OK)
            assert_string_equal(used, cases[i].used);
        else
            assert_non_null(strstr(eb.msg, "is not in this ONNX Runtime build"));
        api->ReleaseSessionOptions(so);
    }
    /* Pretend ORT reports CoreML and CUDA: the real append APIs run and this
     * build's refusal comes back as an error, or is skipped when cpu follows. */
    const char fake[3][48] = {"CoreMLExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"};
    const char *specs[] = {"coreml:format=mlprogram,units=cpuonly", "cuda:device=0,tf32=on"};
    for (size_t i = 0; i < 2; i++) {
        cdx_provider_spec s;
        OrtSessionOptions *so;
        char used[64];
        assert_int_equal(cdx_provider_spec_parse(specs[i], &s, &eb), CDX_OK);
        assert_null(api->CreateSessionOptions(&so));
        assert_int_equal(cdx_provider_spec_apply(&s, so, fake, 3, used, sizeof used, &eb), CDX_ERR_PROVIDER);
        assert_non_null(strstr(eb.msg, "not"));
        api->ReleaseSessionOptions(so);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_and_formats),
        cmocka_unit_test(bad_specs_name_the_problem),
        cmocka_unit_test(translates_options_for_ort),
        cmocka_unit_test(session_settings),
        cmocka_unit_test(apply_to_ort),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cdx_ort_env_shutdown();
    return rc;
}
