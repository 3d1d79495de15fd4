/* events_hub.h: the node side of the event stream (issue #14): wakes the readers of the event
 * stream after each applied entry that added events.
 *
 * Two kinds of readers wait here:
 *   - binary-protocol long polls: an EventsRead with wait_ms > 0 that found nothing is held (the
 *     request and a reference on its connection) until an entry adds events that match, or
 *     wait_ms passes; then it is answered like any read (events, next cursor);
 *   - subscribers (the HTTP server-sent event streams, the agent offer push channel): a callback
 *     called after each entry that added events, which reads from its own cursor.
 * Both read the node's own state (state_read): a replica's events are a prefix of the committed
 * log's, so a reader that moves from node to node with its cursor sees every event once.
 *
 * Loop thread only. Bounded: at most CALLRAFT_EVENTS_WAITERS_MAX long polls; one more gets
 * UNAVAILABLE ("too many").
 *
 * Cost: every entry that adds events costs one read from its cursor per held reader, whether or
 * not the entry's events match the reader's filter (a read is one LMDB read transaction and one
 * seek). NEEDSWORK: with hundreds of agent channels under a heavy write load, read the entry's
 * events once and wake only the readers they match; that needs the hub to know it saw every entry
 * since a reader's cursor (a snapshot install applies none), so it was left out of the first
 * version for the sake of exactly-once delivery. */
#ifndef CALLRAFT_EVENTS_HUB_H
#define CALLRAFT_EVENTS_HUB_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "callraft.pb-c.h"

struct node;
struct conn;
struct events_waiter;

/* A subscriber: `wake` is called on the loop thread after an entry at `index` added events. The
 * subscriber's memory is its owner's; it must be removed (events_hub_unsubscribe) before freed. */
struct events_sub {
	struct events_sub *prev, *next;
	void (*wake)(struct events_sub *sub, uint64_t index);
	void *data;
};

struct events_hub {
	struct node *node;
	struct events_waiter *head; /* long polls, oldest first */
	unsigned n_waiters;
	struct events_sub *subs;
	uv_timer_t timer;           /* expires long polls; runs while any is held */
	bool timer_on, open;
	uint64_t woken;             /* entries that woke the hub (status, tests) */
};

void events_hub_init(struct events_hub *h, struct node *n, uv_loop_t *loop);
/* Answers every held long poll (UNAVAILABLE: shutting down) and closes the timer. */
void events_hub_close(struct events_hub *h);

/* Serves an EventsRead from connection `c`: now, or later if it asks to wait and finds nothing.
 * Takes ownership of `req`. */
void events_hub_read(struct events_hub *h, struct conn *c, Callraft__Request *req);

/* Called after each applied entry with the number of events it added. */
void events_hub_applied(struct events_hub *h, uint64_t index, uint32_t events);

void events_hub_subscribe(struct events_hub *h, struct events_sub *sub);
void events_hub_unsubscribe(struct events_hub *h, struct events_sub *sub);

#endif
