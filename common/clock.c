/* Clocks: thin wrappers over clock_gettime so every module measures time the
 * same way. */
#include "common/clock.h"

#include <time.h>

static int64_t clock_read(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cdx_clock_ns(void) { return clock_read(CLOCK_MONOTONIC); }
int64_t cdx_clock_wall_ms(void) { return clock_read(CLOCK_REALTIME) / 1000000; }
int64_t cdx_clock_thread_cpu_ns(void) { return clock_read(CLOCK_THREAD_CPUTIME_ID); }
