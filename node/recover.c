/* recover.c: `callraftd --config FILE --recover ID=HOST:PORT[,...] --accept-data-loss`, the last
 * resort when a majority of the voters is gone for good (two of three sites lost). It forces the
 * given members as the whole configuration into this node's raft log (repl_recover, raft's
 * raft_recover) and exits; the node is then started as usual and elects itself among them.
 *
 * What it costs: whatever the lost members had committed that this node had not received is gone;
 * and if a lost member comes back with its old data it must never rejoin (it would hold a
 * different history): wipe it and add it with a new id. docs/operations.md, "Majority loss".
 * Refused, changing nothing: without --accept-data-loss, on a running node (its data dir lock),
 * when this node is not among the members, on a bad or repeated member, on a node with no log. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "node.h"
#include "repl.h"

/* Parses "ID=HOST:PORT[,ID=HOST:PORT...]" into m (addresses point into `buf`, which is modified). */
static int parse_members(char *buf, struct repl_member *m, unsigned *n, char *err, size_t len)
{
	char *save = NULL;

	*n = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		unsigned long long id;

		if (*n == CALLRAFT_MEMBERS_MAX)
			return snprintf(err, len, "more than %d members", CALLRAFT_MEMBERS_MAX), -1;
		errno = 0;
		id = eq != NULL ? strtoull(tok, &end, 10) : 0;
		if (eq == NULL || errno != 0 || end != eq || id == 0 || strchr(eq + 1, ':') == NULL ||
		    strlen(eq + 1) > CALLRAFT_ADDRESS_BYTES_MAX)
			return snprintf(err, len, "member '%s': expected ID=HOST:PORT", tok), -1;
		for (unsigned i = 0; i < *n; i++)
			if (m[i].id == id)
				return snprintf(err, len, "member %llu given twice", id), -1;
		m[(*n)++] = (struct repl_member){.id = id, .raft_address = eq + 1};
	}
	if (*n == 0)
		return snprintf(err, len, "no member given"), -1;
	return 0;
}

int node_recover(const struct config *cfg, const char *spec, bool accept_data_loss)
{
	struct repl_member m[CALLRAFT_MEMBERS_MAX];
	char buf[2048], err[700], path[600];
	unsigned n;
	bool self = false;
	int fd, rc = 1;

	if (strlen(spec) >= sizeof buf) {
		fprintf(stderr, "callraftd: --recover: the member list is too long\n");
		return 1;
	}
	strcpy(buf, spec);
	if (parse_members(buf, m, &n, err, sizeof err) != 0) {
		fprintf(stderr, "callraftd: --recover: %s\n", err);
		return 1;
	}
	for (unsigned i = 0; i < n; i++)
		self = self || m[i].id == cfg->id;
	if (!self) {
		fprintf(stderr, "callraftd: --recover: this node (id %" PRIu64 ") is not among the "
				"members given; run it on a survivor and list that survivor\n", cfg->id);
		return 1;
	}
	fprintf(stderr,
		"callraftd: WARNING: DATA LOSS POSSIBLE. --recover forces members {%s} as the whole\n"
		"  configuration of node %" PRIu64 "'s raft log. Writes the lost members acknowledged\n"
		"  that this node never received are LOST for good. Run it on ONE survivor, the one\n"
		"  with the highest last index, with every node stopped; never let a lost member\n"
		"  rejoin with its old data (wipe it, add it with a new id). docs/operations.md,\n"
		"  \"Majority loss\".\n", spec, cfg->id);
	if (!accept_data_loss) {
		fprintf(stderr, "callraftd: --recover: refused without --accept-data-loss; nothing "
				"changed\n");
		return 1;
	}
	snprintf(path, sizeof path, "%s/LOCK", cfg->data_dir);
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		fprintf(stderr, "callraftd: --recover: data dir '%s': %s\n", cfg->data_dir, strerror(errno));
		return 1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "callraftd: --recover: data dir '%s' is in use by a running callraftd: "
				"stop it first; nothing changed\n", cfg->data_dir);
		goto out;
	}
	snprintf(path, sizeof path, "%s/raft", cfg->data_dir);
	if (repl_recover(path, cfg->id, cfg->raft_address, m, n, err, sizeof err) != 0) {
		fprintf(stderr, "callraftd: --recover: %s\n", err);
		goto out;
	}
	fprintf(stderr, "callraftd: recovered: node %" PRIu64 "'s log now ends with the configuration "
			"{%s}; start the node as usual (once), then add new members with new ids\n",
		cfg->id, spec);
	rc = 0;
out:
	close(fd);
	return rc;
}
