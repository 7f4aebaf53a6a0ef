/* Clocks every layer reads: monotonic nanoseconds for durations and deadlines, wall-clock
 * milliseconds for timestamps people read. */
#ifndef IG_BASE_CLOCK_H
#define IG_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t ig_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline uint64_t ig_wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

#endif
