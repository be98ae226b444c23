/* stats.h - per-method request counts and latency histograms.
 *
 * Touched only by the loop thread. Latencies go into log-linear buckets
 * (8 per power of two, so a percentile is within ~6% of the true value);
 * recording is a few instructions and never allocates.
 */
#ifndef NOORMME_STATS_H
#define NOORMME_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_BUCKETS 512

typedef struct {
    uint64_t count;               /* requests answered */
    uint64_t errors;              /* ... of which with an error */
    uint64_t hist[STATS_BUCKETS]; /* latency histogram, nanoseconds */
} stats_method_t;

/* Records one answered request of latency `ns`. */
void stats_record(stats_method_t *m, uint64_t ns, bool error);

/* The latency at quantile `q` (0..1) in nanoseconds; 0 when empty. */
uint64_t stats_quantile_ns(const stats_method_t *m, double q);

/* Monotonic clock in nanoseconds. */
uint64_t stats_now_ns(void);

#endif
