/* Request bodies of /v1/search, /v1/rerank and /v1/embed, parsed from JSON or
 * protobuf (contracts/clipdex.proto) into one set of plain structs, checked
 * against the limits before any work is queued behind them.
 *
 * Every parser here faces the network: inputs are untrusted, errors name the
 * field and the fix, and tests/fuzz/fuzz_server_request.c drives them. The
 * decoded data (texts, image bytes, vectors) lives in the caller's arena. */
#ifndef CDX_SERVER_REQUEST_H
#define CDX_SERVER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_request_limits {
    int32_t dim;         /* the model's embedding dimension (vectors must match) */
    int32_t k_max;       /* k in 1..k_max */
    int32_t max_inputs;  /* texts/images per embed, candidates per rerank */
    int64_t max_text_bytes;  /* one text (default 4096) */
    int64_t max_image_bytes; /* one decoded image (default 8 MiB) */
} cdx_request_limits;

cdx_request_limits cdx_request_default_limits(void);

enum cdx_query_kind { CDX_QUERY_NONE = 0, CDX_QUERY_TEXT, CDX_QUERY_IMAGE, CDX_QUERY_VECTOR, CDX_QUERY_ITEM };

typedef struct cdx_query {
    enum cdx_query_kind kind;
    const char *text;          /* NUL-terminated */
    size_t text_len;
    const uint8_t *image;      /* decoded bytes */
    size_t image_len;
    const float *vector;       /* limits.dim floats, L2-normalized by the parser */
    int64_t item_id;
} cdx_query;

enum cdx_cond_op { CDX_COND_EQ = 0, CDX_COND_RANGE = 1 };
enum cdx_value_kind { CDX_VALUE_STRING = 0, CDX_VALUE_NUMBER = 1, CDX_VALUE_BOOL = 2 };

/* One metadata condition: key equals a value, or key's number lies in a range. */
typedef struct cdx_cond {
    const char *key;
    enum cdx_cond_op op;
    enum cdx_value_kind kind;  /* CDX_COND_EQ */
    const char *str;
    double num;
    int boolean;
    int has_lo, has_hi, lo_open, hi_open; /* CDX_COND_RANGE: gt/gte, lt/lte */
    double lo, hi;
} cdx_cond;

#define CDX_FILTER_MAX 16

typedef struct cdx_search_request {
    cdx_query query;
    int32_t k;                 /* default 10 */
    int32_t space;             /* enum cdx_space: "image" (default) or "caption" */
    int32_t n_conds;
    cdx_cond conds[CDX_FILTER_MAX];
} cdx_search_request;

enum cdx_input_kind { CDX_INPUT_TEXT = 0, CDX_INPUT_IMAGE = 1, CDX_INPUT_ID = 2 };

typedef struct cdx_input {
    enum cdx_input_kind kind;
    const char *text;
    size_t text_len;
    const uint8_t *image;
    size_t image_len;
    int64_t id;
} cdx_input;

typedef struct cdx_rerank_request {
    cdx_query query;
    int32_t n;                 /* candidates, all of one kind */
    cdx_input *candidates;
} cdx_rerank_request;

typedef struct cdx_embed_request {
    int32_t n;                 /* texts first, then images, in request order within each */
    cdx_input *inputs;
} cdx_embed_request;

/* Each returns CDX_OK, or CDX_ERR_PARSE (not JSON / not protobuf),
 * CDX_ERR_INVAL (a field is wrong), CDX_ERR_TOOBIG (over a limit); *reason
 * gets a stable snake_case code for the error body ("invalid_json",
 * "bad_base64", "dim_mismatch", "k_out_of_range", "missing_query",
 * "invalid_field", "too_many_inputs", "too_large") and eb the message. */
int cdx_request_parse_search(const char *body, size_t len, int is_pb, const cdx_request_limits *lim, cdx_arena *a,
                             cdx_search_request *out, const char **reason, cdx_errbuf *eb);
int cdx_request_parse_rerank(const char *body, size_t len, int is_pb, const cdx_request_limits *lim, cdx_arena *a,
                             cdx_rerank_request *out, const char **reason, cdx_errbuf *eb);
int cdx_request_parse_embed(const char *body, size_t len, int is_pb, const cdx_request_limits *lim, cdx_arena *a,
                            cdx_embed_request *out, const char **reason, cdx_errbuf *eb);

/* Standard base64 (RFC 4648, '=' padding optional, no whitespace) or a
 * "data:<type>;base64," URL. *out is arena memory. CDX_ERR_PARSE when invalid. */
int cdx_base64_decode(const char *in, size_t len, cdx_arena *a, uint8_t **out, size_t *out_len);
/* Encodes into a malloc'd NUL-terminated string; NULL when out of memory. */
char *cdx_base64_encode(const uint8_t *in, size_t len);

/* Does a catalog item's metadata (a JSON object, or NULL) pass every condition? */
int cdx_filter_match(const cdx_cond *conds, int32_t n, const char *meta_json);

#ifdef __cplusplus
}
#endif
#endif
