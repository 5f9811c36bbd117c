/* Fuzz target: the server's request parsers (server/request.c) — JSON and
 * protobuf bodies of search, rerank and embed into request structs, base64
 * image fields, filters — and the metadata filter over arbitrary JSON. The
 * first byte picks the parser and format. Nothing may crash, leak or read out
 * of bounds; every failure must come with a reason code. */
#include "server/request.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    cdx_request_limits lim = cdx_request_default_limits();
    lim.dim = 8;
    lim.k_max = 100;
    lim.max_inputs = 16;
    lim.max_image_bytes = 1 << 16;
    cdx_arena *a = NULL;
    if (cdx_arena_init(0, &a) != CDX_OK)
        return 0;
    const char *reason = NULL;
    cdx_errbuf eb = {0};
    int pb = sel & 1, rc;
    switch ((sel >> 1) % 5) {
    case 0: {
        cdx_search_request r;
        rc = cdx_request_parse_search(body, len, pb, &lim, a, &r, &reason, &eb);
        if (rc == CDX_OK && r.n_conds) /* the filter against the input itself as metadata */
        {
            char *meta = strndup(body, len);
            cdx_filter_match(r.conds, r.n_conds, meta);
            free(meta);
        }
        break;
    }
    case 1: {
        cdx_rerank_request r;
        rc = cdx_request_parse_rerank(body, len, pb, &lim, a, &r, &reason, &eb);
        break;
    }
    case 2: {
        cdx_embed_request r;
        rc = cdx_request_parse_embed(body, len, pb, &lim, a, &r, &reason, &eb);
        break;
    }
    case 3: {
        uint8_t *out;
        size_t n;
        rc = cdx_base64_decode(body, len, a, &out, &n);
        if (rc == CDX_OK) {
            char *again = cdx_base64_encode(out, n);
            free(again);
        }
        reason = "base64";
        break;
    }
    default: {
        cdx_cond c = {.key = "a", .op = CDX_COND_RANGE, .has_lo = 1, .lo = 1};
        char *meta = strndup(body, len);
        cdx_filter_match(&c, 1, meta);
        free(meta);
        rc = CDX_OK;
        reason = "filter";
        break;
    }
    }
    if (rc != CDX_OK && !reason)
        abort(); /* an error without a reason code */
    cdx_arena_free(a);
    return 0;
}
