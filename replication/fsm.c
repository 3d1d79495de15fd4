/* fsm.c: see fsm.h. */
#include "fsm.h"

#include "callraft_ops.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

void *fsm_entry_encode(const Callraft__Entry *entry, size_t *len_out)
{
	size_t pb = callraft__entry__get_packed_size(entry);
	size_t len = (4 + pb + 7) & ~(size_t)7;
	uint8_t *buf = raft_malloc(len);
	if (buf == NULL)
		return NULL;
	memset(buf, 0, len);
	callraft_frame_put_len(buf, (uint32_t)pb);
	callraft__entry__pack(entry, buf + 4);
	*len_out = len;
	return buf;
}

int fsm_entry_payload(const void *buf, size_t len, const void **entry, size_t *entry_len)
{
	const uint8_t *p = buf;
	size_t pb;
	if (len < 4)
		return -1;
	pb = callraft_frame_get_len(p);
	if (pb > len - 4)
		return -1;
	*entry = p + 4;
	*entry_len = pb;
	return 0;
}

static int fsm_apply(struct raft_fsm *base, const struct raft_buffer *buf, void **result)
{
	struct fsm *f = base->data;
	struct state_replies replies;
	uint64_t index;
	int rv;

	assert(f->raft != NULL);
	*result = NULL;
	index = raft_last_applied(f->raft) + 1;
	/* raft applies each index once, in order; a restore only moves last_applied forward. */
	assert(index > f->last_index);
	f->last_index = index;
	const void *payload = NULL;
	size_t payload_len = 0;
	if (fsm_entry_payload(buf->base, buf->len, &payload, &payload_len) != 0) {
		/* Broken framing: state_apply records the index and changes nothing else, as it
		 * does for any undecodable entry; every replica does the same. */
		payload = buf->base;
		payload_len = 0;
	}
	uint64_t started_ns = uv_hrtime();
	rv = state_apply(f->state, index, payload, payload_len, &replies, f->errmsg,
			 sizeof f->errmsg);
	if (rv < 0) {
		char msg[400];
		fsm_fatal_cb stop = rv == STATE_APPLY_RULES && f->on_rules_stop != NULL
					    ? f->on_rules_stop
					    : f->on_fatal;
		snprintf(msg, sizeof msg, "apply %llu: %s", (unsigned long long)index, f->errmsg);
		if (stop != NULL)
			stop(f->cb_data, msg);
		return RAFT_IOERR;
	}
	if (rv == 1) {
		f->entries_skipped++;
		return 0;
	}
	f->entries_applied++;
	f->bytes_applied += buf->len;
	histogram_observe(&f->apply_seconds, (double)(uv_hrtime() - started_ns) / 1e9);
	histogram_observe(&f->entry_bytes, (double)buf->len);
	if (f->on_applied != NULL)
		f->on_applied(f->cb_data, index, &replies);
	return 0;
}

/* The placeholder a deferred snapshot hands raft: magic, then the fsm it came from. */
#define FSM_DEFERRED_MAGIC "CRSNAPDF"
struct fsm_placeholder {
	char magic[8];
	struct fsm *fsm;
};

static int fsm_snapshot(struct raft_fsm *base, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct fsm *f = base->data;
	struct raft_buffer *b;
	void *image;
	size_t len;

	b = raft_malloc(sizeof *b);
	if (b == NULL)
		return RAFT_NOMEM;
	if (f->deferred_snapshots) {
		struct fsm_placeholder *ph = malloc(sizeof *ph);
		if (ph == NULL) {
			raft_free(b);
			return RAFT_NOMEM;
		}
		memcpy(ph->magic, FSM_DEFERRED_MAGIC, 8);
		ph->fsm = f;
		image = ph;
		len = sizeof *ph;
	} else if (state_snapshot(f->state, &image, &len, f->errmsg, sizeof f->errmsg) != 0) {
		raft_free(b);
		return RAFT_IOERR;
	}
	b->base = image;
	b->len = len;
	*bufs = b;
	*n_bufs = 1;
	f->snapshots_taken++;
	return 0;
}

/* Frees what fsm_snapshot allocated: the image (or placeholder) with free(), the array with
 * raft_free(). */
static int fsm_snapshot_finalize(struct raft_fsm *base, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	(void)base;
	if (*bufs != NULL) {
		for (unsigned i = 0; i < *n_bufs; i++)
			free((*bufs)[i].base);
		raft_free(*bufs);
	}
	*bufs = NULL;
	*n_bufs = 0;
	return 0;
}

void fsm_set_rules_stop(struct fsm *f, fsm_fatal_cb rules_stop)
{
	f->on_rules_stop = rules_stop;
}

void fsm_set_deferred_snapshots(struct fsm *f, bool on)
{
	f->deferred_snapshots = on;
}

struct fsm *fsm_deferred_snapshot_of(const struct raft_snapshot *snapshot)
{
	const struct fsm_placeholder *ph;

	if (snapshot->n_bufs != 1 || snapshot->bufs[0].len != sizeof *ph)
		return NULL;
	ph = snapshot->bufs[0].base;
	if (memcmp(ph->magic, FSM_DEFERRED_MAGIC, 8) != 0)
		return NULL;
	return ph->fsm;
}

static int fsm_restore(struct raft_fsm *base, struct raft_buffer *buf)
{
	struct fsm *f = base->data;
	bool replaced = false;

	if (state_restore(f->state, buf->base, buf->len, &replaced, f->errmsg, sizeof f->errmsg) != 0)
		return RAFT_IOERR; /* raft frees buf on error */
	if (replaced)
		f->snapshots_restored++;
	raft_free(buf->base);
	return 0;
}

void fsm_init(struct fsm *f, struct state *state)
{
	memset(f, 0, sizeof *f);
	f->state = state;
	f->base.version = 2;
	f->base.data = f;
	f->base.apply = fsm_apply;
	f->base.snapshot = fsm_snapshot;
	f->base.restore = fsm_restore;
	f->base.snapshot_finalize = fsm_snapshot_finalize;
	f->base.snapshot_async = NULL;
	histogram_init(&f->apply_seconds, histogram_seconds_bounds, histogram_seconds_n);
	histogram_init(&f->entry_bytes, histogram_entry_bytes_bounds, histogram_entry_bytes_n);
}

void fsm_set_raft(struct fsm *f, struct raft *raft)
{
	f->raft = raft;
}

void fsm_set_callbacks(struct fsm *f, fsm_applied_cb applied, fsm_fatal_cb fatal, void *data)
{
	f->on_applied = applied;
	f->on_fatal = fatal;
	f->cb_data = data;
}
