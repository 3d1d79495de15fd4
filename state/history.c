/* history.c: a customer's contact history (DB_CUST_HIST), the log of their calls, callbacks,
 * voicemails and tickets that `customer history` reads (read.c) oldest first.
 *
 * Key: customer_id '\0' be64(at_ms) be64(enqueue-style seq (index << 8 | position)), so a
 * customer's lines sort by FSM time and then by log position, identically on every replica. */
#include <assert.h>
#include <string.h>

#include "state_internal.h"

int history_add(struct apply_ctx *c, const char *customer_id, const char *kind, const char *id)
{
	return history_add_detail(c, customer_id, kind, id, "");
}

int history_add_detail(struct apply_ctx *c, const char *customer_id, const char *kind,
		       const char *id, const char *detail)
{
	Callraft__HistoryItem h = CALLRAFT__HISTORY_ITEM__INIT;
	uint8_t key[HIST_KEY_BYTES_MAX];
	size_t n = customer_id != NULL ? strlen(customer_id) : 0;

	if (n == 0)
		return 0;
	assert(n <= CALLRAFT_ID_BYTES_MAX);
	memcpy(key, customer_id, n);
	key[n] = '\0';
	be64_put(key + n + 1, (uint64_t)c->now_ms);
	be64_put(key + n + 9, (c->index << CALLRAFT_BATCH_POSITION_BITS) | c->position);
	h.at_ms = c->now_ms;
	h.kind = (char *)kind;
	h.id = (char *)id;
	h.detail = (char *)detail;
	return store_put(c->s, c->txn, DB_CUST_HIST, key, n + 17, &h.base, "history", customer_id,
			 c->errmsg, c->errmsg_len);
}
