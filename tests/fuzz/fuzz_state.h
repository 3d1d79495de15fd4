/* fuzz_state.h: a scratch state for the fuzz targets: a fresh LMDB environment in a temporary
 * directory, seeded with a few clients, agents, calls and tickets by applying real entries, and
 * removed at exit. */
#ifndef CALLRAFT_FUZZ_STATE_H
#define CALLRAFT_FUZZ_STATE_H

#include <stdint.h>

#include "state.h"

struct fuzz_state {
	char dir[256];
	struct state *s;
	uint64_t index;    /* the last applied index */
	int64_t time_ms;   /* FSM time of the next entry */
};

/* Opens a fresh environment (map 256 MiB) and seeds it. Aborts on failure. */
void fuzz_state_open(struct fuzz_state *f);
/* Closes and deletes the environment. */
void fuzz_state_close(struct fuzz_state *f);
/* Applies `n` commands as one entry at the next index (quota 0); aborts on an LMDB failure. */
void fuzz_state_apply(struct fuzz_state *f, Callraft__Command **cmds, size_t n);

#endif
