/* Arena: a singly linked list of blocks, newest first; allocation bumps a
 * pointer in the newest block. */
#include "common/arena.h"

#include "common/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_DEFAULT_BLOCK (64 * 1024)

struct block {
    struct block *next;
    size_t cap, used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct cdx_arena {
    struct block *head;
    size_t block_size;
    size_t total_used;
};

int cdx_arena_init(size_t block_size, cdx_arena **out)
{
    *out = NULL;
    cdx_arena *a = calloc(1, sizeof *a);
    if (!a)
        return CDX_ERR_NOMEM;
    a->block_size = block_size ? block_size : ARENA_DEFAULT_BLOCK;
    *out = a;
    return CDX_OK;
}

static void free_blocks(struct block *b)
{
    while (b) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
}

void cdx_arena_free(cdx_arena *a)
{
    if (!a)
        return;
    free_blocks(a->head);
    free(a);
}

void *cdx_arena_alloc(cdx_arena *a, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - ARENA_ALIGN)
        return NULL;
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct block *b = a->head;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > a->block_size ? need : a->block_size;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total_used += need;
    return p;
}

void *cdx_arena_calloc(cdx_arena *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = cdx_arena_alloc(a, count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

char *cdx_arena_strndup(cdx_arena *a, const char *s, size_t n)
{
    char *p = cdx_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cdx_arena_strdup(cdx_arena *a, const char *s) { return cdx_arena_strndup(a, s, strlen(s)); }

void cdx_arena_reset(cdx_arena *a)
{
    if (!a->head)
        return;
    /* Keep the oldest block (the normal-sized one) and drop the rest. */
    struct block *b = a->head, *keep = NULL;
    while (b) {
        struct block *next = b->next;
        if (!next)
            keep = b;
        else
            free(b);
        b = next;
    }
    keep->used = 0;
    keep->next = NULL;
    a->head = keep;
    a->total_used = 0;
}

size_t cdx_arena_used(const cdx_arena *a) { return a->total_used; }
