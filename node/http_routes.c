/* http_routes.c: the list of modules that serve HTTP (see http_routes.h). */
#include "http_routes.h"

int http_routes_register(struct http *h, struct node *n)
{
	if (http_api_register(h, n) != 0 || http_events_register(h, n) != 0 ||
	    http_callwait_register(h, n) != 0 ||
	    http_metrics_register(h, n) != 0 || http_static_register(h, n) != 0 ||
	    http_auth_register(h, n) != 0)
		return -1;
	return 0;
}
