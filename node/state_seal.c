/* state_seal.c: a checksum of the state across a clean stop, so that a corrupted data.mdb (a bit
 * flip, a zeroed page, a truncation while the node was down) is detected instead of served. LMDB
 * keeps no checksum of its pages; the Raft log and snapshots are the durable truth, so a state
 * found damaged is discarded and rebuilt from them, as after an unclean reboot (boot.h).
 *
 *   clean stop: state_seal_write records "<applied index> <state_digest>" in <data_dir>/state-seal
 *               (fsynced), while the state is still open and nothing applies any more;
 *   start:      state_seal_open removes the seal (an unclean stop that follows must find none),
 *               opens the state, and compares; a state LMDB refuses as corrupt (truncated), a
 *               walk that meets a damaged page, or a digest that differs at the same index is
 *               logged at level=error with the file, discarded and rebuilt from the raft log.
 * After an unclean stop there is no seal: a process crash leaves the page cache intact (nothing to
 * check), and after a machine crash the boot-id rule already discards the state.
 * Cost: one walk of the state at each clean stop and each start after one. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <lmdb.h>
#include <unistd.h>

#include "boot.h"
#include "log.h"
#include "node_internal.h"

#define SEAL_FILE "state-seal"

void state_seal_write(struct node *n)
{
	char path[600], line[64];
	uint64_t digest;
	int fd, len;

	if (state_digest_checked(n->state, &digest) != 0)
		return; /* no seal: the next start checks nothing rather than something wrong */
	len = snprintf(line, sizeof line, "%" PRIu64 " %016" PRIx64 "\n", state_applied_index(n->state),
		       digest);
	snprintf(path, sizeof path, "%s/" SEAL_FILE, n->cfg.data_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || write(fd, line, (size_t)len) != len || fsync(fd) != 0) {
		LOG_WARN_("state seal '%s': %s (the next start cannot check the state)", path,
			  strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(path);
		return;
	}
	close(fd);
}

/* Reads and removes the seal: 1 with *index and *digest, 0 if there was none. */
static int seal_take(struct node *n, uint64_t *index, uint64_t *digest)
{
	char path[600];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/" SEAL_FILE, n->cfg.data_dir);
	if ((f = fopen(path, "re")) != NULL) {
		found = fscanf(f, "%" SCNu64 " %" SCNx64, index, digest) == 2;
		fclose(f);
		unlink(path);
	}
	return found;
}

/* The state in `state_dir` fails its seal: why in `why` (empty if it passes). Checked in a child
 * process: LMDB asserts (abort) or faults on some damaged pages, which must end the check, not
 * the node. */
static void seal_check(const char *state_dir, const struct state_options *so, uint64_t index,
		       uint64_t digest, char *why, size_t len)
{
	int fds[2], status = 0;
	ssize_t got = 0;
	pid_t pid;

	why[0] = '\0';
	if (pipe(fds) != 0 || (pid = fork()) < 0) {
		snprintf(why, len, "cannot check it: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		struct state *s;
		char msg[700] = "";
		uint64_t applied, now;
		int rc;

		close(fds[0]);
		if (state_open(state_dir, so, &s, msg, sizeof msg) == 0) {
			applied = state_applied_index(s);
			if ((rc = state_digest_checked(s, &now)) != 0)
				snprintf(msg, sizeof msg, "reading it: %s", mdb_strerror(rc));
			else if (applied != index || now != digest)
				snprintf(msg, sizeof msg, "digest %016" PRIx64 " at index %" PRIu64
					 ", %016" PRIx64 " at index %" PRIu64 " sealed at the last clean stop",
					 now, applied, digest, index);
		}
		if (write(fds[1], msg, strlen(msg)) < 0)
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	while (got >= 0 && (size_t)got < len - 1) {
		ssize_t r = read(fds[0], why + got, len - 1 - (size_t)got);
		if (r <= 0)
			break;
		got += r;
	}
	why[got > 0 ? got : 0] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status))
		snprintf(why, len, "reading it killed the check with signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
}

int state_seal_open(struct node *n, const char *state_dir, const struct state_options *so,
		    char *err, size_t len)
{
	char why[700] = "", file[620];
	uint64_t index = 0, digest = 0;
	int sealed = seal_take(n, &index, &digest);

	snprintf(file, sizeof file, "%s/data.mdb", state_dir);
	if (sealed)
		seal_check(state_dir, so, index, digest, why, sizeof why);
	if (why[0] == '\0' && state_open(state_dir, so, &n->state, why, sizeof why) != 0 &&
	    strstr(why, "corrupt") == NULL)
		return snprintf(err, len, "%s", why), -1; /* not a damaged file: report it as it is */
	if (n->state != NULL)
		return 0;
	LOG_EVENT(LOG_ERROR, "state_corrupt", LOG_FIELDS(LOG_S("file", file)),
		  "state '%s' is corrupt (%s): discarded to rebuild it from the raft log", file, why);
	if (boot_discard_state(state_dir) != 0)
		return snprintf(err, len, "state '%s' is corrupt and cannot be removed: %s", state_dir,
				strerror(errno)), -1;
	if (mkdir(state_dir, 0750) != 0)
		return snprintf(err, len, "state dir '%s': %s", state_dir, strerror(errno)), -1;
	return state_open(state_dir, so, &n->state, err, len);
}
