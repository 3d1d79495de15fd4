/* histogram.c: see histogram.h. */
#include "histogram.h"

#include <assert.h>
#include <string.h>

const double histogram_seconds_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
					   0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 10};
const unsigned histogram_seconds_n = sizeof histogram_seconds_bounds / sizeof(double);
const double histogram_entry_bytes_bounds[] = {64,    256,    1024,    4096,    16384,
					       65536, 262144, 1048576, 4194304, 16777216};
const unsigned histogram_entry_bytes_n = sizeof histogram_entry_bytes_bounds / sizeof(double);
const double histogram_snapshot_bytes_bounds[] = {1 << 20,   4 << 20,   16 << 20,  64 << 20,
						  256 << 20, 1024.0 * (1 << 20), 4096.0 * (1 << 20)};
const unsigned histogram_snapshot_bytes_n =
	sizeof histogram_snapshot_bytes_bounds / sizeof(double);

void histogram_init(struct histogram *h, const double *bounds, unsigned n_bounds)
{
	assert(n_bounds <= HISTOGRAM_BUCKETS_MAX);
	memset(h, 0, sizeof *h);
	h->bounds = bounds;
	h->n_bounds = n_bounds;
}

void histogram_observe(struct histogram *h, double value)
{
	for (unsigned i = 0; i < h->n_bounds; i++) {
		if (value <= h->bounds[i]) {
			h->counts[i]++;
			break;
		}
	}
	h->count++;
	h->sum += value;
}
