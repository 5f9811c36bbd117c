/* The server's catalog over a data directory (server.h): each function is
 * the store's own (index/store.h), and uploads are ingest's single-item path
 * (ingest/ingest.h), so an uploaded image is hashed, deduplicated, decoded,
 * embedded and recorded as a dead letter on failure exactly as in
 * `clipdex ingest`. Used by `clipdex serve` and the server's store tests. */
#include "ingest/ingest.h"
#include "server/server.h"

static int store_search(void *ctx, enum cdx_space space, const float *q, int32_t k, int64_t *ids, float *scores,
                        cdx_errbuf *eb)
{
    return cdx_store_search(ctx, space, q, 1, k, 0, ids, scores, eb);
}

static int store_get_item(void *ctx, int64_t id, cdx_item_row *out, cdx_errbuf *eb)
{
    return cdx_store_get_item(ctx, id, out, eb);
}

static int store_get_vector(void *ctx, int64_t id, enum cdx_space space, float *out, cdx_errbuf *eb)
{
    return cdx_store_get_vector(ctx, id, space, out, eb);
}

static int store_delete(void *ctx, int64_t id, cdx_errbuf *eb) { return cdx_store_delete_item(ctx, id, eb); }

static int store_info(void *ctx, cdx_store_info *out, cdx_errbuf *eb) { return cdx_store_get_info(ctx, out, eb); }

static int store_put_image(void *ctx, cdx_encoder *e, const void *data, size_t len, const char *uri,
                           const char *caption, const char *meta_json, int64_t *id_out, cdx_errbuf *eb)
{
    return cdx_ingest_item_buffer(ctx, e, data, len, uri, caption, meta_json, id_out, eb);
}

cdx_server_catalog cdx_server_store_catalog(cdx_store *store)
{
    return (cdx_server_catalog){.ctx = store,
                                .search = store_search,
                                .get_item = store_get_item,
                                .clear_row = cdx_item_row_clear,
                                .get_vector = store_get_vector,
                                .delete_item = store_delete,
                                .get_info = store_info,
                                .put_image = store_put_image};
}
