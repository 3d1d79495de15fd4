/* dlist.h: the intrusive doubly linked lists of the node (connections, held long polls, event
 * subscribers, HTTP requests and streams) and of replication (outgoing connects, TLS peers). An element has `prev` and `next` pointers; a list is a
 * pointer to its first element (NULL when empty). Type-generic, as libuv's queue.h: macros.
 * Loop thread only, like everything that uses them. */
#ifndef CALLRAFT_DLIST_H
#define CALLRAFT_DLIST_H

#include <stddef.h>

/* Puts `x` first in the list `head`. */
#define DLIST_PUSH(head, x)                                                                        \
	do {                                                                                       \
		(x)->prev = NULL;                                                                  \
		(x)->next = (head);                                                                \
		if ((head) != NULL)                                                                \
			(head)->prev = (x);                                                        \
		(head) = (x);                                                                      \
	} while (0)

/* Takes `x`, which must be in the list `head`, out of it. x's own pointers are left as they were,
 * so a walk that is at x can still step to its next. */
#define DLIST_UNLINK(head, x)                                                                      \
	do {                                                                                       \
		if ((x)->prev != NULL)                                                             \
			(x)->prev->next = (x)->next;                                               \
		else                                                                               \
			(head) = (x)->next;                                                        \
		if ((x)->next != NULL)                                                             \
			(x)->next->prev = (x)->prev;                                               \
	} while (0)

/* Walks the list `head` with `x`, `tmp` holding the element after x, so the body may unlink or
 * free x (and x may leave the list from a callback). The caller declares both pointers. */
#define DLIST_FOREACH_SAFE(x, head, tmp)                                                           \
	for ((x) = (head); (x) != NULL && ((tmp) = (x)->next, 1); (x) = (tmp))

#endif
