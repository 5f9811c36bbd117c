/* Bounded multi-producer/multi-consumer queue of pointers.
 *
 * Every pipeline stage and server admission queue is joined by one of these:
 * a full queue blocks (or refuses) its producers, so a slow stage slows the
 * stage before it and memory stays flat. The queue does not own the items;
 * whoever pops an item owns it.
 *
 * Closing is end-of-stream: after cdx_queue_close, pushes fail with
 * CDX_ERR_CLOSED, and pops drain what is left and then return CDX_ERR_CLOSED.
 * Blocked producers and consumers are woken by close. */
#ifndef CDX_COMMON_QUEUE_H
#define CDX_COMMON_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_queue cdx_queue;

typedef struct cdx_queue_stats {
    uint64_t pushed;        /* items accepted */
    uint64_t popped;        /* items handed out */
    uint64_t refused;       /* try_push calls refused because full */
    uint32_t capacity;
    uint32_t depth;         /* items queued now */
    uint32_t max_depth;     /* high-water mark */
    int64_t push_wait_ns;   /* total time producers spent blocked on a full queue */
    int64_t pop_wait_ns;    /* total time consumers spent blocked on an empty queue */
    int64_t item_wait_ns;   /* total time items spent queued (push to pop) */
} cdx_queue_stats;

/* capacity >= 1. On success *out owns the queue; free it with cdx_queue_free. */
int cdx_queue_init(size_t capacity, cdx_queue **out);
/* Frees the queue (not the items still in it). NULL is a no-op. No thread may
 * be blocked on the queue when it is freed. */
void cdx_queue_free(cdx_queue *q);

/* Blocks while the queue is full. CDX_ERR_CLOSED once closed. */
int cdx_queue_push(cdx_queue *q, void *item);
/* Never blocks: CDX_ERR_FULL when full, CDX_ERR_CLOSED once closed. */
int cdx_queue_try_push(cdx_queue *q, void *item);
/* Blocks while empty. CDX_ERR_CLOSED when closed and drained. */
int cdx_queue_pop(cdx_queue *q, void **item);
/* Never blocks: CDX_ERR_AGAIN when empty, CDX_ERR_CLOSED when closed and drained. */
int cdx_queue_try_pop(cdx_queue *q, void **item);
/* Blocks until an item arrives or the monotonic clock reaches deadline_ns
 * (cdx_clock_ns time base): CDX_ERR_TIMEOUT then. */
int cdx_queue_pop_until(cdx_queue *q, void **item, int64_t deadline_ns);

/* End of stream; idempotent. */
void cdx_queue_close(cdx_queue *q);
int cdx_queue_is_closed(cdx_queue *q);
size_t cdx_queue_depth(cdx_queue *q);
void cdx_queue_get_stats(cdx_queue *q, cdx_queue_stats *out);

#ifdef __cplusplus
}
#endif
#endif
