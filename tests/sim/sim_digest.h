/* sim_digest.h: the crash simulation's state digest, kept up to date from LMDB's write calls.
 *
 * The simulation checks that replicas at the same applied index hold the same state, and that a
 * node re-applying an index after a rebuild reaches the state it reached the first time (I1, I2 in
 * tests/sim/README.md). state_digest walks every record of every table for that, which made two
 * thirds of a seed's CPU time (the state grows through the seed; each entry paid for all of it).
 *
 * This digest covers the same bytes, differently combined: the sum (mod 2^64) over every record
 * of every given database of H(dbi, key, value), H a 64-bit hash. A sum can be updated per record:
 * the test executable defines mdb_txn_begin, mdb_txn_commit, mdb_txn_abort, mdb_put, mdb_del,
 * mdb_cursor_put, mdb_cursor_del, mdb_drop and mdb_env_close (the dynamic linker binds the state
 * code's calls to them; they call liblmdb's through dlsym(RTLD_NEXT)). For each environment:
 *   - a top-level write transaction starts with an empty list of touched keys;
 *   - a put or delete (in it or in a nested transaction) records the key and its value as of the
 *     top-level transaction's start, the first time the key is touched (a key first touched in a
 *     nested transaction that aborted keeps its record: it is then looked up again and unchanged);
 *   - at the top-level commit each touched key's value is looked up in the committing
 *     transaction (so values written later through MDB_RESERVE count) and the sum moves by
 *     H(new) - H(old); an abort forgets the list;
 *   - mdb_drop, a transaction touching more than SIMDIGEST_TOUCHED_MAX keys (a snapshot restore
 *     opens a new environment anyway) or a write outside a tracked transaction invalidates the
 *     sum, and the next simdigest_get walks every record; mdb_env_close forgets the environment.
 * Whatever the tracking misses would make the sum differ from a full walk: the simulation compares
 * the two (simdigest_full) periodically and at the end of every seed, as a harness check.
 *
 * Single-threaded: only the simulation's loop writes (snapshots read on a worker thread, which
 * begins read-only transactions only). */
#ifndef CALLRAFT_SIM_DIGEST_H
#define CALLRAFT_SIM_DIGEST_H

#include <lmdb.h>
#include <stdint.h>

#define SIMDIGEST_TOUCHED_MAX 1024

/* The digest of the committed records of the n databases dbis of env (the incremental sum, or a
 * full walk when it is not valid). Returns 0 or an LMDB error. */
int simdigest_get(MDB_env *env, const MDB_dbi *dbis, unsigned n, uint64_t *out);

/* The same digest by a full walk of every record, ignoring the incremental sum. */
int simdigest_full(MDB_env *env, const MDB_dbi *dbis, unsigned n, uint64_t *out);

/* How many digests were served incrementally and by a full walk so far (for the test's report). */
void simdigest_stats(uint64_t *incremental, uint64_t *walks);

#endif
