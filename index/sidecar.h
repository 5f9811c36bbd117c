/* The sidecar of an index file (DIR/index-<space>.json): what the file holds
 * and which catalog state it reflects. It is the commit point of a
 * checkpoint: the data file is written under a new generation name first,
 * and only a sidecar naming it (renamed into place atomically) publishes it.
 * The parser is strict (every field present, typed and in range; the file
 * name must be one of ours) because it reads a file from disk. */
#ifndef CDX_INDEX_SIDECAR_H
#define CDX_INDEX_SIDECAR_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "index/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CDX_SIDECAR_FORMAT 1

typedef struct cdx_sidecar {
    int32_t format;
    char space[16];              /* "image" | "caption" */
    char file[96];               /* data file in the same directory: index-<space>.<generation>.faiss */
    char spec[CDX_INDEX_SPEC_MAX];
    int32_t auto_spec;           /* 1 when "auto" chose the spec */
    char contract_id[64];
    char space_hash[65];
    int32_t dim;
    int64_t count;               /* entries in the index */
    char sha256[65];             /* of the data file */
    int64_t bytes;               /* size of the data file */
    int64_t watermark;           /* last vector row (seq) included */
    int64_t tomb_watermark;      /* last tombstone (seq) applied */
    int64_t generation;
    int64_t planned_n;           /* catalog size the spec was chosen for */
    int64_t written_ms;
} cdx_sidecar;

/* CDX_ERR_CORRUPT naming the field when text is not a valid sidecar. */
int cdx_sidecar_parse(const char *text, size_t len, cdx_sidecar *out, cdx_errbuf *eb);
/* JSON text; caller frees. NULL when out of memory. */
char *cdx_sidecar_format(const cdx_sidecar *s);
/* The data file name for a space and generation. */
void cdx_sidecar_file_name(const char *space, int64_t generation, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
