/* http_routes.h: the modules that serve HTTP on a node, each registering its routes and WebSocket
 * protocols with the server core (node/http.h) before it starts.
 *
 * To add one: write node/http_<job>.c with `int http_<job>_register(struct http *, struct node *)`
 * (http_route_add / http_ws_add calls only), declare it here and add one line to
 * http_routes_register in http_routes.c. The core (http.c) does not change. */
#ifndef CALLRAFT_HTTP_ROUTES_H
#define CALLRAFT_HTTP_ROUTES_H

#include "http.h"

struct node;

/* Registers every module's routes. Returns 0, or -1 (a table is full: a bug). */
int http_routes_register(struct http *h, struct node *n);

/* /v1/...: every operation of the CLI as JSON requests and replies (http_api.c). */
int http_api_register(struct http *h, struct node *n);

/* GET /v1/events and /v1/agents/{id}/offers: the event stream and the offer push channel as
 * Server-Sent Events (http_events.c, issue #14). */
int http_events_register(struct http *h, struct node *n);

/* GET /v1/calls/{id}/wait: a bounded long poll until a call leaves WAITING (http_callwait.c,
 * issue 17: SIP servers that hold a caller until an agent is offered the call). */
int http_callwait_register(struct http *h, struct node *n);

/* GET /metrics: the node's Prometheus metrics (http_metrics.c, issue #15). */
int http_metrics_register(struct http *h, struct node *n);

/* GET / and /wallboard: the live wallboard page (http_static.c, issue #15). */
int http_static_register(struct http *h, struct node *n);

/* Bearer tokens for requests without a client certificate; the wallboard page public
 * (http_auth.c, issue 13). After the others: it marks their routes. */
int http_auth_register(struct http *h, struct node *n);

#endif
