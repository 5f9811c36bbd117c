/* Manifest parsing: a list of images with optional captions and metadata.
 *
 * Three formats, chosen by the file's extension or sniffed from its first line:
 *   lines  one path or URI per line (".txt", ".lst" or anything without a
 *          better guess); empty lines are skipped, a trailing CR dropped
 *   CSV    RFC 4180 (quoted fields may hold commas, quotes and newlines) with
 *          a header row; ".csv", ".tsv" (tab-separated, no quoting), or a
 *          first line whose fields name a uri column
 *   JSONL  one JSON object per line (".jsonl", ".ndjson", or a first line
 *          starting with '{')
 * The uri column is "uri" (or "path", "url", "file", "filepath", "filename",
 * "image", "image_path"), the caption column "caption" (or "text", "title").
 * Every other column, "id" included, is kept in the row's metadata: a JSON
 * object (CSV values as strings; JSONL values as given). Bytes that are not
 * UTF-8 become U+FFFD in metadata and captions (the JSON must stay valid);
 * the uri keeps its bytes.
 *
 * A bad row (unparseable JSON, no uri, too long) is reported for that row
 * and parsing goes on with the next; a CSV header without a uri column is an
 * error of the whole manifest. Limits: a row up to 16 MiB. */
#ifndef CDX_INGEST_MANIFEST_H
#define CDX_INGEST_MANIFEST_H

#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_manifest cdx_manifest;

enum cdx_manifest_format {
    CDX_MANIFEST_FORMAT_AUTO = 0,
    CDX_MANIFEST_FORMAT_LINES = 1,
    CDX_MANIFEST_FORMAT_CSV = 2,
    CDX_MANIFEST_FORMAT_TSV = 3,
    CDX_MANIFEST_FORMAT_JSONL = 4,
};

/* One row; strings borrowed from the manifest until the next call. */
typedef struct cdx_manifest_row {
    const char *uri;
    const char *caption;   /* NULL: none (or empty) */
    const char *meta_json; /* NULL: no other columns */
    int64_t line;          /* 1-based line where the row starts */
} cdx_manifest_row;

/* Reads from f (borrowed; the caller closes it). name labels messages.
 * format AUTO decides from name's extension, then from the first line. */
int cdx_manifest_open(FILE *f, const char *name, enum cdx_manifest_format format, cdx_manifest **out,
                      cdx_errbuf *eb);
void cdx_manifest_close(cdx_manifest *m);

/* 1: a row; 0: the end; CDX_ERR_PARSE / CDX_ERR_TOOBIG: this row is bad
 * (eb names the manifest and line; call again for the next); CDX_ERR_IO:
 * reading failed (stop). */
int cdx_manifest_next(cdx_manifest *m, cdx_manifest_row *row, cdx_errbuf *eb);

/* The line where the last row returned (good or bad) starts. */
int64_t cdx_manifest_row_line(const cdx_manifest *m);
enum cdx_manifest_format cdx_manifest_get_format(const cdx_manifest *m);
const char *cdx_manifest_format_name(enum cdx_manifest_format f);

#ifdef __cplusplus
}
#endif
#endif
