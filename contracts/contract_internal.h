/* Pieces shared by the contract loader's files (contract.c parses the schema,
 * contract_open.c opens and checks files, contract_onnx.c compares tower
 * files, contract_describe.c prints). Not for other modules: they use
 * contracts/contract.h. */
#ifndef CDX_CONTRACTS_CONTRACT_INTERNAL_H
#define CDX_CONTRACTS_CONTRACT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "contracts/contract.h"
#include "contracts/onnx_scan.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cdx_contract {
    cdx_contract_spec spec;
};

/* cdx_contract_parse with file naming the contract in messages. */
int cdx_contract_parse_as(const char *json, size_t len, const char *base_dir, const char *file, cdx_contract **out,
                          cdx_errbuf *eb);

/* The schema's names for each enum, indexed by the enum's value, NULL-terminated. */
extern const char *const cdx_contract_family_names[];
extern const char *const cdx_contract_variant_names[];
extern const char *const cdx_contract_resize_names[];
extern const char *const cdx_contract_interp_names[];
extern const char *const cdx_contract_crop_names[];
extern const char *const cdx_contract_tokenizer_names[];
extern const char *const cdx_contract_padding_names[];
extern const char *const cdx_contract_pooling_names[];
extern const char *const cdx_contract_dtype_names[];
extern const char *const cdx_contract_tower_keys[]; /* "vision", "text" */
extern const char *const cdx_contract_tower_roles[]; /* "vision_model", "text_model" */

/* Every problem found while opening a contract, one line each: all of them
 * in `all` (for cdx_contract_open_report), and as many as fit in an errbuf
 * in `msg`, the rest counted. Each is also logged at debug level. The code
 * is the first problem's. */
typedef struct cdx_problems {
    char msg[CDX_ERRMSG_MAX];
    size_t len;
    int count, dropped, code;
    char *all;              /* owned; NULL until a problem is added (or if memory ran out) */
    size_t all_len;
} cdx_problems;

void cdx_problems_add(cdx_problems *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* CDX_OK when nothing was added; otherwise the first code, with the message in eb. */
int cdx_problems_finish(const cdx_problems *p, cdx_errbuf *eb);
void cdx_problems_free(cdx_problems *p);

/* Adds to p every way the tower file's signature (info, read from onnx_path)
 * differs from the contract: opset, IR version, input and output count,
 * names, dtypes, ranks and dims. */
void cdx_contract_compare_onnx(const cdx_contract_spec *s, enum cdx_tower_kind tower, const char *onnx_path,
                               const cdx_onnx_info *info, cdx_problems *p);

/* A short double-quoted rendering of an untrusted string for messages:
 * quotes and control characters escaped, long strings cut with "...". */
void cdx_contract_quote(const char *s, char *buf, size_t cap);

/* Writes a tensor shape as JSON-like text, e.g. ["batch", 3, 224, 224], into buf. */
void cdx_contract_format_shape(const cdx_tensor_spec *t, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
