/* stats.c - latency histograms. */
#include "stats.h"

#include <time.h>

/* Values below 16 get a bucket each; above, 8 buckets per power of two. */
static unsigned bucket_of(uint64_t v)
{
    if (v < 16)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 4 */
    unsigned sub = (unsigned)(v >> (e - 3)) & 7u;
    unsigned b = 16 + (e - 4) * 8 + sub;
    return b < STATS_BUCKETS ? b : STATS_BUCKETS - 1;
}

/* Midpoint of a bucket's range. */
static uint64_t bucket_value(unsigned b)
{
    if (b < 16)
        return b;
    unsigned e = (b - 16) / 8 + 4, sub = (b - 16) % 8;
    uint64_t lo = (1ULL << e) + ((uint64_t)sub << (e - 3));
    return lo + (1ULL << (e - 4));
}

void stats_record(stats_method_t *m, uint64_t ns, bool error)
{
    m->count++;
    if (error)
        m->errors++;
    m->hist[bucket_of(ns)]++;
}

uint64_t stats_quantile_ns(const stats_method_t *m, double q)
{
    if (m->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)m->count);
    if (rank >= m->count)
        rank = m->count - 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < STATS_BUCKETS; b++) {
        seen += m->hist[b];
        if (seen > rank)
            return bucket_value(b);
    }
    return bucket_value(STATS_BUCKETS - 1);
}

uint64_t stats_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
