/* Hashing: SHA-256 against published test vectors, file hashing equals byte
 * hashing, hex round trips, constant-time compare. */
#include "testutil.h"

#include "common/hash.h"

#include <stdlib.h>
#include <string.h>

static void sha256_vectors(void **state)
{
    (void)state;
    uint8_t d[32];
    char hex[65];
    cdx_sha256_bytes("abc", 3, d);
    cdx_hex_encode(d, 32, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cdx_sha256_bytes("", 0, d);
    cdx_hex_encode(d, 32, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* Streaming in pieces equals one shot; the state resets after final. */
    const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    cdx_sha256 *s;
    assert_int_equal(cdx_sha256_init(&s), CDX_OK);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < strlen(msg); i += 5)
            cdx_sha256_update(s, msg + i, strlen(msg) - i < 5 ? strlen(msg) - i : 5);
        cdx_sha256_final(s, d);
        cdx_hex_encode(d, 32, hex);
        assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    }
    cdx_sha256_free(s);
    cdx_sha256_free(NULL);
}

static void file_hashes_match_bytes(void **state)
{
    (void)state;
    char *dir = cdx_test_mkdtemp("hash");
    char *path = cdx_test_fmt("%s/f.bin", dir);
    size_t n = 3 * 1024 * 1024 + 17; /* crosses the 1 MiB chunk boundary */
    unsigned char *buf = malloc(n);
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(i * 2654435761u >> 13);
    assert_int_equal(cdx_test_write_file(path, buf, n), 0);

    cdx_errbuf eb = {0};
    cdx_hash128 hf, hb = cdx_hash128_bytes(buf, n);
    assert_int_equal(cdx_hash128_file(path, &hf, &eb), CDX_OK);
    assert_true(hf.hi == hb.hi && hf.lo == hb.lo);
    uint8_t df[32], db[32];
    assert_int_equal(cdx_sha256_file(path, df, &eb), CDX_OK);
    cdx_sha256_bytes(buf, n, db);
    assert_memory_equal(df, db, 32);

    /* One changed byte changes the hash. */
    buf[n / 2] ^= 1;
    cdx_hash128 hc = cdx_hash128_bytes(buf, n);
    assert_false(hc.hi == hb.hi && hc.lo == hb.lo);

    char *missing = cdx_test_fmt("%s/nope", dir);
    assert_int_equal(cdx_hash128_file(missing, &hf, &eb), CDX_ERR_NOTFOUND);
    assert_non_null(strstr(eb.msg, "nope"));
    assert_int_equal(cdx_sha256_file(dir, df, &eb), CDX_ERR_IO); /* a directory cannot be read */

    free(missing);
    free(buf);
    free(path);
    cdx_test_rmtree(dir);
    free(dir);
}

static void hex_round_trip(void **state)
{
    (void)state;
    cdx_hash128 h = cdx_hash128_bytes("clipdex", 7), back;
    char hex[33];
    cdx_hash128_to_hex(h, hex);
    assert_int_equal(strlen(hex), 32);
    assert_int_equal(cdx_hash128_from_hex(hex, &back), CDX_OK);
    assert_true(back.hi == h.hi && back.lo == h.lo);
    assert_int_equal(cdx_hash128_from_hex("xyz", &back), CDX_ERR_PARSE);
    assert_int_equal(cdx_hash128_from_hex("0123456789abcdef0123456789abcdef0", &back), CDX_ERR_PARSE);
    assert_int_equal(cdx_hash128_from_hex("0123456789abcdef0123456789abcdeg", &back), CDX_ERR_PARSE);
    assert_int_equal(cdx_hash128_from_hex(NULL, &back), CDX_ERR_PARSE);
}

static void constant_time_compare(void **state)
{
    (void)state;
    assert_true(cdx_ct_equal("secret-token", "secret-token", 12));
    assert_false(cdx_ct_equal("secret-token", "secret-tokeN", 12));
    assert_false(cdx_ct_equal("Secret-token", "secret-token", 12));
    assert_true(cdx_ct_equal("", "", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_vectors),
        cmocka_unit_test(file_hashes_match_bytes),
        cmocka_unit_test(hex_round_trip),
        cmocka_unit_test(constant_time_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
