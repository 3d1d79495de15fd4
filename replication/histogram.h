/* histogram.h: a fixed-bucket histogram for the node's metrics (Prometheus histograms: cumulative
 * buckets by upper bound, a sum and a count).
 *
 * Observing is O(buckets) with no allocation, so it sits on hot paths (every applied entry, every
 * committed batch). The bounds are a static array of the caller's, in increasing order; a value
 * above the last bound counts in the implicit +Inf bucket only. Counters only grow: a scrape reads
 * them without a lock on the loop thread that observes. */
#ifndef CALLRAFT_HISTOGRAM_H
#define CALLRAFT_HISTOGRAM_H

#include <stdint.h>

#define HISTOGRAM_BUCKETS_MAX 16

struct histogram {
	const double *bounds;                    /* borrowed: static, increasing */
	unsigned n_bounds;                       /* <= HISTOGRAM_BUCKETS_MAX */
	uint64_t counts[HISTOGRAM_BUCKETS_MAX];  /* per bucket, NOT cumulative (le bounds[i]) */
	uint64_t count;                          /* every observation (+Inf) */
	double sum;
};

/* Bounds used by the node: seconds of an apply or a commit (100 us .. 10 s), bytes of an entry or a
 * snapshot image. */
extern const double histogram_seconds_bounds[];
extern const unsigned histogram_seconds_n;
extern const double histogram_entry_bytes_bounds[];
extern const unsigned histogram_entry_bytes_n;
extern const double histogram_snapshot_bytes_bounds[];
extern const unsigned histogram_snapshot_bytes_n;

void histogram_init(struct histogram *h, const double *bounds, unsigned n_bounds);
void histogram_observe(struct histogram *h, double value);

#endif
