/* The encoder gate: how interactive and batch work share the encoder.
 *
 * On a small CPU the model is the bottleneck, and ORT runs one session call
 * on all the intra-op threads it was given, so two calls at once only slow
 * each other. Every encoder call holds the gate for one bounded chunk of
 * work (batch requests are cut into chunks of a few rows). When the gate
 * frees, a waiting interactive caller always goes first: a batch flood can
 * delay an interactive request by at most one chunk — preemption between
 * batches. With more than one slot, batch callers may hold all but
 * reserve_interactive of them, so interactive work never waits for a slot.
 *
 * Thread-safe. Wait and hold times are recorded per class for /metrics. */
#ifndef CDX_SERVER_GATE_H
#define CDX_SERVER_GATE_H

#include <stdint.h>

#include "common/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cdx_gate cdx_gate;

enum cdx_gate_class { CDX_GATE_INTERACTIVE = 0, CDX_GATE_BATCH = 1 };
#define CDX_GATE_CLASS_COUNT 2

/* slots >= 1 callers may hold the gate at once; batch callers at most
 * slots - reserve_interactive of them, and always at least one. */
int cdx_gate_init(int32_t slots, int32_t reserve_interactive, cdx_gate **out);
void cdx_gate_free(cdx_gate *g);

/* Blocks until this class may run. Returns the time waited (ns). */
int64_t cdx_gate_enter(cdx_gate *g, enum cdx_gate_class c);
void cdx_gate_leave(cdx_gate *g, enum cdx_gate_class c);

typedef struct cdx_gate_stats {
    int32_t slots;
    int32_t holding[CDX_GATE_CLASS_COUNT];
    int32_t waiting[CDX_GATE_CLASS_COUNT];
    uint64_t entries[CDX_GATE_CLASS_COUNT];
    int64_t wait_ns[CDX_GATE_CLASS_COUNT];  /* total time spent waiting */
    int64_t hold_ns[CDX_GATE_CLASS_COUNT];  /* total time holding: encoder busy time by class */
} cdx_gate_stats;

void cdx_gate_get_stats(cdx_gate *g, cdx_gate_stats *out);
const char *cdx_gate_class_name(enum cdx_gate_class c);

#ifdef __cplusplus
}
#endif
#endif
