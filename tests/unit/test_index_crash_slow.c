/* The long crash loop (see crash_loop.h): 1000 SIGKILLs on the exact index,
 * 200 on HNSW and 200 on SQ8.
 * ctest-labels: slow
 * ctest-timeout: 14400 */
#include "testutil.h"

#include "crash_loop.h"

static void crash_loop_flat_long(void **state)
{
    (void)state;
    cl_run("flat", 1000, 1, 4242);
}

static void crash_loop_hnsw_long(void **state)
{
    (void)state;
    cl_run("hnsw:m=8,efc=32,efs=32", 200, 0, 77);
}

static void crash_loop_sq8_long(void **state)
{
    (void)state;
    cl_run("sq8", 200, 0, 99);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crash_loop_flat_long),
        cmocka_unit_test(crash_loop_hnsw_long),
        cmocka_unit_test(crash_loop_sq8_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
