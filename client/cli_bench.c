/* cli_bench.c: `callraft bench` runs callraft-bench (tools/bench.c), the load generator, which is a
 * program of its own on the public client API. The CLI finds it beside its own executable (both
 * are built into the build directory and installed into the same bin/), else on $PATH, and hands
 * it the global options it parsed (--cluster, --json, --stale, --timeout) followed by the
 * command's own arguments, so `callraft [opts] bench [args]` behaves as it always did: same
 * options, outputs and exit codes. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLI_BENCH_PROGRAM "callraft-bench"
/* The global options handed on: at most 4 options with their values, the program and a NULL. */
#define CLI_BENCH_FIXED_ARGS 8

/* The path of callraft-bench beside /proc/self/exe, or its bare name (looked up on $PATH). */
static void cli_bench_path(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	char *slash;

	snprintf(out, len, "%s", CLI_BENCH_PROGRAM);
	if (n <= 0)
		return;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL)
		return;
	slash[1] = '\0';
	if ((size_t)snprintf(out, len, "%s%s", self, CLI_BENCH_PROGRAM) >= len ||
	    access(out, X_OK) != 0)
		snprintf(out, len, "%s", CLI_BENCH_PROGRAM);
}

int cli_bench(struct cli *cli, struct cli_args *a)
{
	char path[PATH_MAX], timeout[24];
	char **args = calloc((size_t)a->argc + CLI_BENCH_FIXED_ARGS, sizeof *args);
	int n = 0;

	if (args == NULL)
		return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "INTERNAL", "out of memory");
	cli_bench_path(path, sizeof path);
	args[n++] = path;
	if (cli->cluster != NULL) {
		args[n++] = "--cluster";
		args[n++] = (char *)cli->cluster;
	}
	if (cli->json)
		args[n++] = "--json";
	if (cli->stale)
		args[n++] = "--stale";
	if (cli->timeout_ms > 0) {
		snprintf(timeout, sizeof timeout, "--timeout=%d", cli->timeout_ms);
		args[n++] = timeout;
	}
	for (int i = 1; i < a->argc; i++) /* argv[0] is "bench" */
		args[n++] = a->argv[i];
	args[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	execvp(path, args);
	int err = errno;
	free(args);
	return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "INTERNAL", "cannot run '%s': %s (install it "
			"beside callraft)", path, strerror(err));
}
