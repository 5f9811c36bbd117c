/* Sources: where an ingest job's items come from.
 *
 * A source spec is one command-line SOURCE:
 *   DIR                      a directory tree, walked recursively in name order; files
 *                            whose extension is in the filter; symlinks followed only
 *                            when they resolve inside the root; each directory visited
 *                            once (loops are safe)
 *   FILE.tar[.gz|.zst|...]   a webdataset shard read as a stream (libarchive):
 *                            key.jpg with key.txt (caption) / key.json (metadata)
 *   FILE.txt|.csv|.jsonl|... a manifest (ingest/manifest.h): one path per line, CSV
 *                            with a header, or JSON lines
 *   -                        a manifest read from standard input
 *   IMAGE                    any other file: that one image
 * Brace ranges and lists expand first, as the shell would:
 * "shards/{00000..00099}.tar", "photos/{a,b}".
 *
 * Items are keyed by uri: an absolute, lexically normalized path for files
 * (symlinks inside the root keep their own name), "SHARD#member" for tar
 * members, and a manifest's uri resolved against the manifest's directory.
 * A problem with one item (a symlink loop, an unreadable directory, a bad
 * manifest row, a member over the size limit) comes back as an item with
 * error set, so the job can record it and go on; only a source that cannot
 * be opened at all is an error of the whole source. */
#ifndef CDX_INGEST_SOURCE_H
#define CDX_INGEST_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_source cdx_source;

/* The extensions clipdex decodes (encoder/vips_env.h's allowlist). */
#define CDX_SOURCE_DEFAULT_EXTENSIONS "jpg,jpeg,jpe,jfif,png,webp,tif,tiff,gif,heic,heif,avif,jxl"

typedef struct cdx_source_params {
    const char *extensions;  /* comma-separated, case-insensitive; NULL = CDX_SOURCE_DEFAULT_EXTENSIONS */
    int64_t max_bytes;       /* tar members larger than this fail without being read (default 128 MiB) */
    size_t max_expansions;   /* brace expansion limit (default 1,000,000) */
    int32_t stat_files;      /* directories: stat every file for size and mtime (default 1) */
    int32_t quiet;           /* log nothing (the pre-scan walks the same tree again) */
    int32_t literal;         /* specs are names as they are: no brace expansion (uris from the catalog) */
} cdx_source_params;

cdx_source_params cdx_source_default_params(void);

/* One item. Owned by whoever holds it: cdx_source_item_free. */
typedef struct cdx_source_item {
    char *uri;           /* the catalog key (may hold any bytes but NUL) */
    char *path;          /* the file to read; NULL when data holds the bytes */
    uint8_t *data;       /* tar members: the bytes, len of them */
    size_t len;
    int64_t size;        /* bytes, -1 when unknown (manifest rows are not stat'ed) */
    int64_t mtime_ns;    /* 0 when unknown */
    char *caption;       /* NULL: none */
    char *meta_json;     /* NULL or a JSON object */
    int32_t error;       /* CDX_OK, or why the source could not produce this item */
    char *message;       /* with error: what failed and what to do */
} cdx_source_item;

void cdx_source_item_free(cdx_source_item *it);

/* Expands braces in every spec and checks each expanded source exists, so a
 * typo fails before any work. specs are copied. */
int cdx_source_open(const char *const *specs, int32_t n, const cdx_source_params *p, cdx_source **out,
                    cdx_errbuf *eb);
void cdx_source_close(cdx_source *s);

/* Next item: 1 and *out (owned by the caller), 0 at the end, or a negative
 * code when a source cannot be read at all (eb names it). Not thread-safe:
 * one reader. */
int cdx_source_next(cdx_source *s, cdx_source_item **out, cdx_errbuf *eb);

/* A fast pre-scan of the same specs for the progress total: directories are
 * walked without stat'ing files, manifests' rows counted; tar shards are not
 * read and add an estimate (*estimated = 1) from their compressed size and
 * bytes_per_item (0: unknown, and tar shards make the total unknown: -1).
 * Cancelled (returns what it has) when *stop becomes non-zero. */
int64_t cdx_source_count(const char *const *specs, int32_t n, const cdx_source_params *p, double bytes_per_item,
                         int32_t *estimated, const volatile int *stop);

/* Progress of a tar stream: bytes of shards consumed so far and in all.
 * Both 0 when the sources hold no shards. */
void cdx_source_tar_progress(cdx_source *s, int64_t *done_bytes, int64_t *total_bytes);

/* Brace expansion: "{a,b}" lists and "{N..M}" integer ranges (zero-padded
 * when either end is: "{007..100}"), any number of groups (the product), no
 * nesting; braces that form neither stay literal. *out is a NULL-terminated
 * array of *n strings; free with cdx_brace_free. CDX_ERR_TOOBIG past max. */
int cdx_brace_expand(const char *pattern, size_t max, char ***out, size_t *n, cdx_errbuf *eb);
void cdx_brace_free(char **list);

/* Lexical normalization of a path made absolute against base (NULL: the
 * working directory): "//", "/./" and "x/../" removed, no filesystem
 * access, so symlink names survive. Caller frees. NULL when out of memory. */
char *cdx_path_absolute(const char *path, const char *base);

/* 1 when name's extension (after the last '.') is in the comma-separated list, case-insensitive. */
int cdx_source_ext_match(const char *name, const char *extensions);

#ifdef __cplusplus
}
#endif
#endif
