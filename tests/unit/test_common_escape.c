/* cdx_escape_name: any bytes in, one printable line out, never overflowing. */
#include "testutil.h"

#include "common/escape.h"

#include <string.h>

static void escapes(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"photos/a.jpg", "photos/a.jpg"},
        {"bad\nname\xff.jpg", "bad\\nname\\xFF.jpg"},
        {"tab\there\rcr", "tab\\there\\rcr"},
        {"back\\slash", "back\\\\slash"},
        {"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"},
        {"\xc0\xaf overlong", "\\xC0\\xAF overlong"},
        {"\xed\xa0\x80 surrogate", "\\xED\\xA0\\x80 surrogate"},
        {"\xe6\x97 cut", "\\xE6\\x97 cut"},
        {"bell\x07 del\x7f", "bell\\x07 del\\x7F"},
        {"c1\xc2\x85 ls\xe2\x80\xa8", "c1\\xC2\\x85 ls\\xE2\\x80\\xA8"},
        {"", ""},
    };
    char buf[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(cdx_escape_name(cases[i].in, buf, sizeof buf), cases[i].out);
    assert_string_equal(cdx_escape_name(NULL, buf, sizeof buf), "");
}

static void truncates_safely(void **state)
{
    (void)state;
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    char buf[16];
    cdx_escape_name(big, buf, sizeof buf);
    assert_true(strlen(buf) < sizeof buf);
    assert_non_null(strstr(buf, "..."));
    /* An escape never splits: a name of newlines in a small buffer. */
    cdx_escape_name("\n\n\n\n\n\n\n\n\n\n", buf, sizeof buf);
    assert_true(strlen(buf) < sizeof buf);
    assert_int_equal(strncmp(buf, "\\n\\n\\n\\n\\n\\n", 12), 0);
    /* A name that fits exactly is not cut. */
    char fit[16];
    assert_string_equal(cdx_escape_name("abcdefghijklmno", fit, sizeof fit), "abcdefghijklmno");
    /* Every small capacity stays in bounds. */
    for (size_t cap = 1; cap < 12; cap++) {
        char b[12];
        memset(b, 'Z', sizeof b);
        cdx_escape_name("\xff\xfe\n0123456789", b, cap);
        assert_true(strlen(b) < cap);
        for (size_t k = cap; k < sizeof b; k++)
            assert_int_equal(b[k], 'Z');
    }
    assert_null(cdx_escape_name("x", NULL, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escapes),
        cmocka_unit_test(truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
