/* The bare image tower's throughput, for comparing ingest against: the same
 * encoder (session, providers, threads), the same rows per batch cut into
 * the same bucket chunks, on tensors decoded beforehand, so only the tower
 * is timed. The benchmark runs it before and after an ingest in the same
 * process (docs/ingest.md). */
#include "common/clock.h"
#include "ingest/ingest_internal.h"

#include <stdlib.h>
#include <string.h>

/* One pass over the rows, in the bucket chunks ingest uses. */
static int baseline_pass(cdx_encoder *e, const cdx_contract_spec *spec, const float *pixels, size_t tf, int32_t rows,
                         float *out, cdx_errbuf *eb)
{
    int rc = CDX_OK;
    for (int32_t off = 0; off < rows && rc == CDX_OK;) {
        int32_t k = ingest_chunk_rows(spec, rows - off);
        rc = cdx_encoder_embed_pixels(e, pixels + (size_t)off * tf, k, out, eb);
        off += k;
    }
    return rc;
}

int cdx_ingest_tower_baseline(cdx_encoder *e, const char *const *sources, int32_t n_sources, int32_t batch,
                              double seconds, double *images_per_s, cdx_errbuf *eb)
{
    *images_per_s = 0;
    const cdx_contract_spec *spec = cdx_encoder_spec(e);
    const cdx_preprocess *pp = cdx_encoder_preprocess(e);
    if (!pp)
        return cdx_errbuf_set(eb, CDX_ERR_INVAL, "tower baseline: the encoder has no image tower");
    int32_t rows = batch > 0 ? batch : 1;
    size_t tf = cdx_preprocess_tensor_floats(pp);
    float *pixels = malloc((size_t)rows * tf * sizeof *pixels);
    float *out = malloc((size_t)rows * (size_t)spec->dim * sizeof *out);
    cdx_source *src = NULL;
    int rc = CDX_OK;
    int32_t have = 0;
    if (!pixels || !out) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOMEM, "tower baseline: out of memory");
        goto done;
    }
    cdx_source_params sp = cdx_source_default_params();
    if ((rc = cdx_source_open(sources, n_sources, &sp, &src, eb)) != CDX_OK)
        goto done;
    /* Real images from the sources, decoded once: the tower sees what ingest feeds it. */
    while (have < rows) {
        cdx_source_item *it = NULL;
        int r = cdx_source_next(src, &it, eb);
        if (r < 0) {
            rc = r;
            goto done;
        }
        if (r == 0)
            break;
        cdx_errbuf derr = {0};
        int ok = it->error == CDX_OK &&
                 (it->data ? cdx_preprocess_buffer(pp, it->data, it->len, it->uri, pixels + (size_t)have * tf, tf,
                                                   NULL, &derr)
                           : cdx_preprocess_file(pp, it->path, pixels + (size_t)have * tf, tf, NULL, &derr)) == CDX_OK;
        have += ok;
        cdx_source_item_free(it);
    }
    if (have == 0) {
        rc = cdx_errbuf_set(eb, CDX_ERR_NOTFOUND, "tower baseline: no decodable image in the sources");
        goto done;
    }
    for (int32_t i = have; i < rows; i++) /* fewer images than rows: repeat them */
        memcpy(pixels + (size_t)i * tf, pixels + (size_t)(i % have) * tf, tf * sizeof *pixels);
    /* Untimed passes first, at least two and two seconds: the first runs
     * after a session opens are slower while weights and arenas settle.
     * Then at least three timed passes, and as many more as fit in the time. */
    int64_t warm_start = cdx_clock_ns();
    for (int pass = 0; rc == CDX_OK && (pass < 2 || cdx_clock_ns() - warm_start < 2000000000LL); pass++)
        rc = baseline_pass(e, spec, pixels, tf, rows, out, eb);
    uint64_t images = 0;
    int64_t t0 = cdx_clock_ns(), t = 0;
    for (int pass = 1; rc == CDX_OK; pass++) {
        rc = baseline_pass(e, spec, pixels, tf, rows, out, eb);
        images += (uint64_t)rows;
        t = cdx_clock_ns() - t0;
        if ((double)t / 1e9 >= seconds && pass >= 3)
            break;
    }
    if (rc == CDX_OK)
        *images_per_s = (double)images / ((double)t / 1e9);
done:
    cdx_source_close(src);
    free(pixels);
    free(out);
    return rc;
}
