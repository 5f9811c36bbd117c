/* Inside the sources: each kind (directory, manifest, tar shard, one file)
 * is an object behind the same two functions, which source.c walks through
 * for the expanded list of specs. Items are made with the helpers here. */
#ifndef CDX_INGEST_SOURCE_INTERNAL_H
#define CDX_INGEST_SOURCE_INTERNAL_H

#include "ingest/source.h"

#include <stdint.h>

typedef struct cdx_source_kind {
    const char *name;
    /* 1 and an item, 0 at the end, < 0 when the source cannot go on. */
    int (*next)(void *impl, cdx_source_item **out, cdx_errbuf *eb);
    void (*close)(void *impl);
} cdx_source_kind;

/* Each opener validates and returns its object; spec is the expanded spec. */
int cdx_source_dir_open(const char *spec, const cdx_source_params *p, void **impl, cdx_errbuf *eb);
int cdx_source_manifest_open(const char *spec, const cdx_source_params *p, void **impl, cdx_errbuf *eb);
int cdx_source_tar_open(const char *spec, const cdx_source_params *p, void **impl, cdx_errbuf *eb);
extern const cdx_source_kind cdx_source_dir_kind, cdx_source_manifest_kind, cdx_source_tar_kind;

/* Bytes of the shard consumed so far (compressed), for progress. */
int64_t cdx_source_tar_consumed(void *impl);

/* A new item; uri and path are copied (path may be NULL). NULL when out of memory. */
cdx_source_item *cdx_source_item_new(const char *uri, const char *path);
/* The same, with error set and a formatted message. */
cdx_source_item *cdx_source_item_failed(const char *uri, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 when path names a tar shard / a manifest by its extension. */
int cdx_source_is_tar_name(const char *path);
int cdx_source_is_manifest_name(const char *path);

#endif
