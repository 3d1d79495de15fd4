/* recover.c: repl_recover, raft_recover for the day a majority is gone (see repl.h). raft's
 * recover appends a configuration entry to the stored log (a closed segment after the last entry),
 * synchronously; it needs raft's I/O initialised on the directory but no running raft, so this
 * opens raft_uv on a loop of its own, recovers and closes. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "repl.h"

/* True if `dir` holds a closed segment ("<first>-<last>") or a snapshot: raft's recover asserts
 * on a log without entries, and a node with nothing stored has nothing to recover. */
static bool has_log(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;
	unsigned long long a, b;
	char tail;

	if (d == NULL)
		return false;
	while (!found && (e = readdir(d)) != NULL)
		found = strncmp(e->d_name, "snapshot-", 9) == 0 ||
			sscanf(e->d_name, "%llu-%llu%c", &a, &b, &tail) == 2;
	closedir(d);
	return found;
}

int repl_recover(const char *dir, uint64_t id, const char *raft_address,
		 const struct repl_member *members, unsigned n, char *err, size_t len)
{
	struct raft_configuration conf;
	struct raft_uv_transport transport = {.version = 1}; /* 0.16+: the struct version is set */
	struct raft_io io = {0};
	uv_loop_t loop;
	int rv, ret = -1;

	if (!has_log(dir))
		return snprintf(err, len, "recover: '%s' holds no raft log (no closed segment or "
				"snapshot): nothing to recover on this node", dir), -1;
	raft_configuration_init(&conf);
	for (unsigned i = 0; i < n; i++) {
		rv = raft_configuration_add(&conf, members[i].id, members[i].raft_address, RAFT_VOTER);
		if (rv != 0) {
			snprintf(err, len, "recover: member %llu '%s': %s",
				 (unsigned long long)members[i].id, members[i].raft_address,
				 raft_strerror(rv));
			goto err_conf;
		}
	}
	if (uv_loop_init(&loop) != 0) {
		snprintf(err, len, "recover: uv_loop_init failed");
		goto err_conf;
	}
	if ((rv = raft_uv_tcp_init(&transport, &loop)) != 0) {
		snprintf(err, len, "recover: transport: %s", raft_strerror(rv));
		goto err_loop;
	}
	if ((rv = raft_uv_init(&io, &loop, dir, &transport)) != 0) {
		snprintf(err, len, "recover: io '%s': %s", dir, io.errmsg);
		goto err_transport;
	}
	raft_uv_set_auto_recovery(&io, false); /* as repl.c: a corrupt log is an error, not trimmed */
	if ((rv = io.init(&io, id, raft_address)) != 0) {
		snprintf(err, len, "recover: io '%s': %s", dir, io.errmsg);
		goto err_io;
	}
	if ((rv = io.recover(&io, &conf)) != 0)
		snprintf(err, len, "recover: '%s': %s (%s)", dir, io.errmsg, raft_strerror(rv));
	else
		ret = 0;
	io.close(&io, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
err_io:
	raft_uv_close(&io);
err_transport:
	raft_uv_tcp_close(&transport);
	uv_run(&loop, UV_RUN_DEFAULT);
err_loop:
	uv_loop_close(&loop);
err_conf:
	raft_configuration_close(&conf);
	return ret;
}
