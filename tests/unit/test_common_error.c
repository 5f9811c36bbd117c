/* Error vocabulary: every code has a distinct name, a description and an exit
 * code; unknown codes are handled; errbuf formats and falls back. */
#include "testutil.h"

#include "common/error.h"

#include <string.h>

static void every_code_is_described(void **state)
{
    (void)state;
    for (int e = CDX_ERR_FIRST_ + 1; e < CDX_ERR_LAST_; e++) {
        assert_string_not_equal(cdx_strerror(e), "unknown error");
        assert_string_not_equal(cdx_errname(e), "UNKNOWN");
        assert_true(cdx_exit_code(e) >= 2 && cdx_exit_code(e) <= 6);
        for (int f = e + 1; f < CDX_ERR_LAST_; f++)
            assert_string_not_equal(cdx_errname(e), cdx_errname(f));
    }
    assert_true(CDX_ERR_LAST_ < 0);
}

static void ok_and_unknown(void **state)
{
    (void)state;
    assert_string_equal(cdx_strerror(CDX_OK), "ok");
    assert_string_equal(cdx_errname(CDX_OK), "OK");
    assert_int_equal(cdx_exit_code(CDX_OK), 0);
    assert_string_equal(cdx_strerror(12345), "unknown error");
    assert_string_equal(cdx_strerror(-1), "unknown error");
    assert_string_equal(cdx_errname(CDX_ERR_FIRST_), "UNKNOWN");
    assert_string_equal(cdx_errname(CDX_ERR_LAST_), "UNKNOWN");
    assert_int_equal(cdx_exit_code(-999999), 4);
}

static void specific_names(void **state)
{
    (void)state;
    assert_string_equal(cdx_errname(CDX_ERR_NOTFOUND), "NOTFOUND");
    assert_string_equal(cdx_strerror(CDX_ERR_FULL), "queue full");
    assert_int_equal(cdx_exit_code(CDX_ERR_INVAL), 2);
    assert_int_equal(cdx_exit_code(CDX_ERR_CORRUPT), 5);
}

static void errbuf_formats_and_falls_back(void **state)
{
    (void)state;
    cdx_errbuf eb;
    cdx_errbuf_clear(&eb);
    assert_string_equal(cdx_errbuf_msg(&eb), "ok");
    int rc = cdx_errbuf_set(&eb, CDX_ERR_IO, "open %s: %s", "a.jpg", "denied");
    assert_int_equal(rc, CDX_ERR_IO);
    assert_int_equal(eb.code, CDX_ERR_IO);
    assert_string_equal(cdx_errbuf_msg(&eb), "open a.jpg: denied");
    eb.msg[0] = 0;
    assert_string_equal(cdx_errbuf_msg(&eb), "input/output error");
    /* Long messages truncate, never overflow. */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cdx_errbuf_set(&eb, CDX_ERR_PARSE, "%s", big);
    assert_int_equal(strlen(eb.msg), CDX_ERRMSG_MAX - 1);
    assert_int_equal(cdx_errbuf_set(NULL, CDX_ERR_INVAL, "x"), CDX_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_is_described),
        cmocka_unit_test(ok_and_unknown),
        cmocka_unit_test(specific_names),
        cmocka_unit_test(errbuf_formats_and_falls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
