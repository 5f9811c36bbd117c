/* Crash loop (see crash_loop.h): 50 SIGKILLs into a writer on the exact index,
 * 10 on HNSW. After each: every acknowledged write present exactly once, the
 * index count equals the vector rows, integrity_check ok.
 * ctest-timeout: 900 */
#include "testutil.h"

#include "crash_loop.h"

static void crash_loop_flat(void **state)
{
    (void)state;
    int64_t calls = cl_run("flat", 50, 1, 42);
    assert_true(calls > 50); /* the loop did write: not only killed during open */
}

static void crash_loop_hnsw(void **state)
{
    (void)state;
    cl_run("hnsw:m=8,efc=32,efs=32", 10, 0, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crash_loop_flat),
        cmocka_unit_test(crash_loop_hnsw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
