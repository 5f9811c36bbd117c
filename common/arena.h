/* Arena: bump allocation for memory that dies together (one request, one
 * batch). Allocations are 16-byte aligned; nothing is freed individually;
 * cdx_arena_reset keeps the first block for reuse. Not thread-safe: an arena
 * belongs to one worker or one request. */
#ifndef CDX_COMMON_ARENA_H
#define CDX_COMMON_ARENA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_arena cdx_arena;

/* block_size is the default block size (0 picks 64 KiB); larger requests get a
 * block of their own. */
int cdx_arena_init(size_t block_size, cdx_arena **out);
void cdx_arena_free(cdx_arena *a);
/* NULL when out of memory. Memory is not zeroed. */
void *cdx_arena_alloc(cdx_arena *a, size_t n);
void *cdx_arena_calloc(cdx_arena *a, size_t count, size_t size);
char *cdx_arena_strdup(cdx_arena *a, const char *s);
char *cdx_arena_strndup(cdx_arena *a, const char *s, size_t n);
/* Releases every allocation; keeps one block for the next use. */
void cdx_arena_reset(cdx_arena *a);
/* Bytes handed out since the last reset. */
size_t cdx_arena_used(const cdx_arena *a);

#ifdef __cplusplus
}
#endif
#endif
