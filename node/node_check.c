/* node_check.c: node_check, the full check of struct node's invariants N1-N4 (node_internal.h),
 * with the site-contact table's and the forward links' own checks. The housekeeping timer runs it
 * every CALLRAFT_HOUSEKEEPING_INTERVAL_MS (assertions stay on in release builds); N5 is asserted on
 * the live path instead, where an applied entry reaches the node (write.c). */
#include <assert.h>

#include "node_internal.h"

void node_check(const struct node *n)
{
	unsigned conns = 0, reserved = 0;
	for (const struct conn *c = n->conns; c != NULL; c = c->next) {
		assert(!c->closing && c->refs >= 0); /* N1 */
		assert(c->next == NULL || c->next->prev == c);
		conns++;
		reserved += c->reserved;
	}
	assert(conns == n->n_conns && reserved == n->n_reserved);
	for (const struct batch *b = n->inflight_head; b != NULL; b = b->next) {
		assert(b->next == NULL || b->index < b->next->index); /* N2 */
		assert(b->next != NULL || b == n->inflight_tail);
	}
	assert(n->open == NULL || n->open->n <= CALLRAFT_BATCH_COMMANDS_MAX); /* N3 */
	struct read_wait *const *tail = &n->reads; /* N4 */
	while (*tail != NULL)
		tail = &(*tail)->next;
	assert(n->reads == NULL || tail == n->reads_tail);
	site_contacts_verify(&n->contacts, uv_now(&n->loop));
	fwd_check(n);
}
