/* no_snapcheck.c: callraftd-nosnapcheck, the daemon without replication/repl_snapcheck.c, for the
 * negative controls of test_snapshot_damage.sh (a damaged snapshot image on a running node).
 *
 * This file defines the two functions repl_snapcheck.c gives the rest of the daemon, doing nothing:
 * the linker then never takes repl_snapcheck.o from the replication library, and raft_uv's load,
 * snapshot_get and install path run unchecked, as before the image had a checksum. The FSM's own
 * check in state_restore stays. Built only under tests/, never installed: a node running it ships
 * and writes damaged images, which is what the controls must see. */
#include "repl_internal.h"

void repl_snapcheck_interpose(struct repl *r)
{
	(void)r;
}

void repl_snapcheck_install(struct repl *r, const struct raft_snapshot *snapshot)
{
	(void)r;
	(void)snapshot;
}
