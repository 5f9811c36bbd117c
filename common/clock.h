/* Monotonic and wall clocks. Durations are always measured with the monotonic
 * clock; wall time is only for timestamps people read. */
#ifndef CDX_COMMON_CLOCK_H
#define CDX_COMMON_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Nanoseconds on CLOCK_MONOTONIC; only differences are meaningful. */
int64_t cdx_clock_ns(void);
/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t cdx_clock_wall_ms(void);
/* CPU time consumed by the calling thread, in nanoseconds. */
int64_t cdx_clock_thread_cpu_ns(void);

static inline double cdx_ns_to_ms(int64_t ns) { return (double)ns / 1e6; }

#ifdef __cplusplus
}
#endif
#endif
