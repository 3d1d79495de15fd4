/* fuzz_entry.c: libFuzzer target for the log-entry decoder with the FSM behind it.
 *
 * The input is a Raft log entry's payload (an encoded Entry), as a leader, a forged AppendEntries
 * or a corrupt log could deliver it. Two replicas (scratch LMDB environments, seeded alike) apply
 * it at the same index. Oracles: the sanitizers; state_apply never fails (an LMDB failure would
 * stop a node: a poison pill) but for an entry this binary has no rules for (STATE_APPLY_RULES,
 * which every replica of the same binary answers alike); both replicas answer byte for byte alike; every 256 entries both
 * pass state_check (every cross-table invariant, the logical sizes of quota.c included) and hold
 * the same digest. The environments are recreated every CALLRAFT_FUZZ_RESET entries so that the
 * map never fills: state carries over between inputs within that window, which lets the fuzzer
 * build sequences (a crash then reproduces from the window's inputs, see tests/fuzz/README.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLICAS 2
#define CALLRAFT_FUZZ_RESET 4096
#define CHECK_EVERY 256

static struct fuzz_state fx[REPLICAS];
static unsigned runs;

static void cleanup(void)
{
	for (int i = 0; i < REPLICAS; i++)
		if (fx[i].s != NULL)
			fuzz_state_close(&fx[i]);
}

static void check(void)
{
	char msg[256];

	for (int i = 0; i < REPLICAS; i++) {
		if (state_check(fx[i].s, msg, sizeof msg) != 0) {
			fprintf(stderr, "fuzz_entry: replica %d: %s\n", i, msg);
			abort();
		}
	}
	if (state_digest(fx[0].s) != state_digest(fx[1].s)) {
		fprintf(stderr, "fuzz_entry: replicas diverged at index %llu\n",
			(unsigned long long)fx[0].index);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state_replies out[REPLICAS];
	uint8_t *first[CALLRAFT_BATCH_COMMANDS_MAX];
	char err[256];

	if (fx[0].s == NULL || runs % CALLRAFT_FUZZ_RESET == 0) {
		cleanup();
		for (int i = 0; i < REPLICAS; i++)
			fuzz_state_open(&fx[i]);
		if (runs == 0)
			atexit(cleanup);
	}
	runs++;
	int rc[REPLICAS];
	for (int i = 0; i < REPLICAS; i++) {
		rc[i] = state_apply(fx[i].s, ++fx[i].index, data, size, &out[i], err, sizeof err);
		if (rc[i] != 0 && rc[i] != STATE_APPLY_RULES) {
			fprintf(stderr, "fuzz_entry: replica %d: apply %llu: %s\n", i,
				(unsigned long long)fx[i].index, err);
			abort();
		}
		if (i == 0) {
			/* Replica 0's replies are overwritten by its next apply only. */
			for (size_t j = 0; j < out[0].n; j++)
				first[j] = (uint8_t *)out[0].bytes[j];
		}
	}
	/* An entry this binary has no rules for (an operation it does not know: state/rules.c R3)
	 * stops both replicas alike, with nothing changed. */
	if (rc[0] != rc[1] || out[0].n != out[1].n)
		abort();
	for (size_t j = 0; j < out[0].n; j++)
		if (out[0].len[j] != out[1].len[j] || memcmp(first[j], out[1].bytes[j], out[1].len[j]))
			abort();
	if (runs % CHECK_EVERY == 0)
		check();
	return 0;
}
