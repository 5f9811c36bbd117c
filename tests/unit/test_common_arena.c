/* Arena: alignment, large allocations, reset reuse, strdup, overflow guards. */
#include "testutil.h"

#include "common/arena.h"
#include "common/error.h"

#include <stdint.h>
#include <string.h>

static void alloc_align_and_reset(void **state)
{
    (void)state;
    cdx_arena *a;
    assert_int_equal(cdx_arena_init(256, &a), CDX_OK);
    for (int i = 1; i < 200; i++) {
        unsigned char *p = cdx_arena_alloc(a, (size_t)i);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)i); /* ASan catches overruns */
    }
    char *big = cdx_arena_alloc(a, 100000); /* larger than a block */
    assert_non_null(big);
    memset(big, 1, 100000);
    assert_true(cdx_arena_used(a) >= 100000);
    char *s = cdx_arena_strdup(a, "hello");
    assert_string_equal(s, "hello");
    assert_string_equal(cdx_arena_strndup(a, "hello", 3), "hel");
    int *z = cdx_arena_calloc(a, 10, sizeof(int));
    for (int i = 0; i < 10; i++)
        assert_int_equal(z[i], 0);
    assert_null(cdx_arena_calloc(a, SIZE_MAX / 2, 4));
    assert_null(cdx_arena_alloc(a, SIZE_MAX - 4));
    cdx_arena_reset(a);
    assert_int_equal(cdx_arena_used(a), 0);
    assert_non_null(cdx_arena_alloc(a, 10));
    cdx_arena_free(a);
    cdx_arena_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alloc_align_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
