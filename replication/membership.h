/* membership.h: who is in the cluster, end to end: adding, removing and assigning a member's role,
 * handing leadership over, and the MemberUpsert/MemberDelete entries that record a member's site
 * and client address next to raft's configuration (docs/design.md, "Membership").
 *
 * A change runs in two steps on the leader: the raft configuration change (raft_add / raft_remove /
 * raft_assign / raft_transfer), then, for add and remove, a member entry through the log, batched
 * by the node like any write; the client's reply is that entry's. Retries are answered as
 * successes: an add of an id already in the configuration records the entry again, an assign to the
 * role the member has and a transfer that reaches the new leader are done already.
 *
 * The node hands a validated request in and gets a callraft code back through its hooks; raft's
 * codes are translated here (repl_code). */
#ifndef CALLRAFT_MEMBERSHIP_H
#define CALLRAFT_MEMBERSHIP_H

#include <stdbool.h>
#include <stdint.h>

#include "callraft.pb-c.h"
#include "repl.h"
#include "state.h"

struct membership_hooks {
	/* Appends `cmd` (heap, freed with callraft__command__free_unpacked; ownership passes in every
	 * case) to the log as the node batches writes. Its entry's reply goes to the client of `op`,
	 * or nowhere if op is NULL. Returns 0, or -1 if it could not (out of memory). */
	int (*append)(void *data, Callraft__Command *cmd, void *op);
	/* The change `op` ended without an entry of its own: code OK or an error, `message` saying
	 * what failed (NULL on OK). */
	void (*finish)(void *data, void *op, Callraft__Code code, const char *message);
	void *data;
};

/* A member the configuration file lists: recorded once the first leader is ready. */
struct membership_initial {
	uint64_t id;
	const char *site;
	const char *raft_address;
	const char *client_address;
	const char *http_address; /* "" or NULL: none */
};

struct membership;

/* Borrows r, s and the initial members' strings (all must outlive it). NULL if out of memory. */
struct membership *membership_new(struct repl *r, struct state *s, uint64_t self_id,
				  const struct membership_hooks *hooks,
				  const struct membership_initial *initial, unsigned n_initial);
void membership_free(struct membership *m);

/* Starts the change `req` asks for: MEMBER_ADD, MEMBER_REMOVE, MEMBER_ASSIGN or LEADER_TRANSFER,
 * checked by the caller (fields present and in range). `req` is borrowed until the change ends.
 * Exactly one of hooks.finish(op) or a successful hooks.append(cmd, op) follows, possibly before
 * this returns. */
void membership_change(struct membership *m, const Callraft__Request *req, void *op);

/* This node became a ready leader in `term`: records the initial members' sites and client
 * addresses (once per term; the members table wins over the file). */
void membership_leader_ready(struct membership *m, uint64_t term);

/* Hands leadership to the most up-to-date voter (a witness, which should not lead). Returns 0 or
 * -1 with the reason in `why` (static). */
int membership_transfer_away(struct membership *m, const char **why);
/* Hands leadership to voter `id` (node/home.c: back to the home site). Same returns. */
int membership_transfer_to(struct membership *m, uint64_t id, const char **why);

#endif
