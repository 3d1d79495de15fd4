/* main.c: callraftd, one node of a callraft cluster.
 *
 *   callraftd --config /etc/callraft/node.ini      run until SIGTERM/SIGINT
 *   callraftd --check-config /etc/callraft/node.ini validate the file and exit
 *   callraftd --config FILE --recover ID=HOST:PORT[,...] --accept-data-loss
 *                                                  majority lost: force the survivors as the
 *                                                  configuration (node/recover.c) and exit
 *
 * Exit codes: 0 clean shutdown; 1 bad usage, bad config or start failure; 70 fatal I/O error. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "node.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: callraftd --config FILE\n"
		   "       callraftd --check-config FILE\n"
		   "       callraftd --config FILE --recover ID=HOST:PORT[,...] --accept-data-loss\n"
		   "       callraftd --version\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"check-config", required_argument, NULL, 'k'},
					     {"version", no_argument, NULL, 'V'},
					     {"help", no_argument, NULL, 'h'},
					     {"recover", required_argument, NULL, 'R'},
					     {"accept-data-loss", no_argument, NULL, 'A'},
					     {NULL, 0, NULL, 0}};
	const char *path = NULL, *recover = NULL;
	int check = 0, accept_loss = 0, c;
	struct config cfg;
	char err[700];

	while ((c = getopt_long(argc, argv, "c:k:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			path = optarg;
			check = 1;
			break;
		case 'V':
			printf("callraftd %s\n", CALLRAFT_VERSION_STRING);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'R':
			recover = optarg;
			break;
		case 'A':
			accept_loss = 1;
			break;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (path == NULL || optind != argc || (recover != NULL && check) ||
	    (accept_loss && recover == NULL)) {
		usage(stderr);
		return 1;
	}
	if (config_load(path, &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "callraftd: %s\n", err);
		return 1;
	}
	if (check) {
		printf("callraftd: config '%s' is valid (node %llu, site %s, %u initial members)\n", path,
		       (unsigned long long)cfg.id, cfg.site, cfg.n_members);
		return 0;
	}
	if (recover != NULL)
		return node_recover(&cfg, recover, accept_loss);
	return node_run(&cfg);
}
