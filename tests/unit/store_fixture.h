/* Helpers for the storage suites: a fixture contract of any dimension, seeded
 * random unit vectors, items with generated uris. Header-only (static inline). */
#ifndef CDX_TEST_STORE_FIXTURE_H
#define CDX_TEST_STORE_FIXTURE_H

#include "contract_fixture.h"

#include "index/store.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

/* fixture-clip with embedding.dim = dim (and the tower outputs to match). */
static inline cdx_contract *cdx_test_store_contract(const char *name, int32_t dim)
{
    char d[16], shape[32];
    snprintf(d, sizeof d, "%d", dim);
    snprintf(shape, sizeof shape, "[\"batch\", %d]", dim);
    cdx_test_edit edits[] = {{"embedding.dim", d},
                             {"onnx.vision.outputs[0].shape", shape},
                             {"onnx.text.outputs[0].shape", shape}};
    cdx_contract *c = NULL;
    cdx_errbuf eb = {0};
    int rc = cdx_test_parse_edited(name, edits, 3, &c, &eb);
    if (rc != CDX_OK)
        fprintf(stderr, "fixture contract: %s\n", eb.msg);
    assert_int_equal(rc, CDX_OK);
    return c;
}

static inline uint64_t cdx_test_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Standard normal by Box-Muller; good enough for test vectors. */
static inline float cdx_test_gauss(uint64_t *s)
{
    double u = ((double)(cdx_test_rng(s) >> 11) + 0.5) / 9007199254740992.0;
    double v = ((double)(cdx_test_rng(s) >> 11) + 0.5) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* n random unit vectors of dim; caller frees. */
static inline float *cdx_test_unit_vectors(int64_t n, int32_t dim, uint64_t seed)
{
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)dim);
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (int64_t i = 0; i < n; i++) {
        double ss = 0;
        for (int32_t j = 0; j < dim; j++) {
            float g = cdx_test_gauss(&s);
            x[i * dim + j] = g;
            ss += (double)g * g;
        }
        float inv = (float)(1.0 / sqrt(ss));
        for (int32_t j = 0; j < dim; j++)
            x[i * dim + j] *= inv;
    }
    return x;
}

/* Items "img/<base+i>.jpg" with content hashes derived from the uri. uris are
 * written into the caller's buffer (n * 32 bytes). */
static inline void cdx_test_items(cdx_item *items, char *uris, int32_t n, int64_t base)
{
    for (int32_t i = 0; i < n; i++) {
        char *u = uris + (size_t)i * 32;
        snprintf(u, 32, "img/%lld.jpg", (long long)(base + i));
        items[i] = (cdx_item){.uri = u, .content_hash = cdx_hash128_bytes(u, strlen(u)), .bytes = 1000 + i,
                              .mtime_ns = 1, .width = 640, .height = 480};
    }
}

#endif
