/* repl_install.c: at most one InstallSnapshot in flight per member.
 *
 * Each InstallSnapshot carries the whole state (1.6 GB with a million calls and a million
 * tickets), loaded from disk for that one message. If raft decides to send another before the
 * last one has left (its install_snapshot_timeout is shorter than a transfer across cities, or an
 * abort), a second copy would be loaded and queued behind the first on the same connection: the
 * memory of a copy per retry. A duplicate is therefore completed at once without being sent: the
 * copy in flight is as new or newer than what raft knows the member has, and raft's own timeout
 * sends again if that one is lost. */
#include <stddef.h>
#include <stdlib.h>

#include "repl_internal.h"


struct install_send {
	struct raft_io_send inner;
	struct raft_io_send *outer;
	raft_io_send_cb cb;
	struct repl *r;
	size_t slot;
};

static void install_sent_cb(struct raft_io_send *inner, int status)
{
	struct install_send *is = inner->data;
	struct raft_io_send *outer = is->outer;
	raft_io_send_cb cb = is->cb;

	is->r->installs_in_flight[is->slot] = 0;
	free(is);
	cb(outer, status);
}

static int install_send(struct raft_io *io, struct raft_io_send *req,
			const struct raft_message *message, raft_io_send_cb cb)
{
	struct repl *r = (struct repl *)((char *)io - offsetof(struct repl, io));
	const size_t n = sizeof r->installs_in_flight / sizeof r->installs_in_flight[0];
	size_t free_slot = n;
	struct install_send *is;
	int rv;

	if (message->type != RAFT_INSTALL_SNAPSHOT)
		return r->uv_send(io, req, message, cb);
	for (size_t i = 0; i < n; i++) {
		if (r->installs_in_flight[i] == message->server_id) {
			r->installs_dropped++;
			cb(req, 0); /* raft's callback only frees the message (legacy.c) */
			return 0;
		}
		if (r->installs_in_flight[i] == 0 && free_slot == n)
			free_slot = i;
	}
	if (free_slot == n || (is = calloc(1, sizeof *is)) == NULL)
		return r->uv_send(io, req, message, cb); /* untracked: still correct */
	is->outer = req;
	is->cb = cb;
	is->r = r;
	is->slot = free_slot;
	is->inner.data = is;
	r->installs_in_flight[free_slot] = message->server_id;
	rv = r->uv_send(io, &is->inner, message, install_sent_cb);
	if (rv != 0) {
		r->installs_in_flight[free_slot] = 0;
		free(is);
	}
	return rv;
}


void repl_install_interpose(struct repl *r)
{
	r->uv_send = r->io.send;
	r->io.send = install_send;
}
