/* http_static.c: the wallboard page (web/wallboard.html, issue 15), embedded in the binary at build
 * time (web/embed.cmake), served at "/" and "/wallboard" by every node.
 *
 * The "/" route is the shortest prefix, so it also receives every path no other module claims: those
 * get the core's own answer, 404 UNKNOWN_OPERATION, for any method, as before the page existed.
 * The page reads the API of other members when its own node dies: the core adds
 * Access-Control-Allow-Origin to GET answers under /v1/ (node/http.c, cors_headers). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "http_routes.h"

extern const unsigned char web_wallboard_html[];
extern const size_t web_wallboard_html_len;

static void static_handler(struct http_req *r, void *data)
{
	const char *path = http_req_path(r);
	enum http_method m = http_req_method(r);
	(void)data;

	if (strcmp(path, "/") != 0 && strcmp(path, "/wallboard") != 0 &&
	    strcmp(path, "/wallboard/") != 0) {
		char msg[64 + 32];
		size_t n = strlen(path);
		snprintf(msg, sizeof msg, "no route for '%.*s%s'", (int)(n > 64 ? 64 : n), path,
			 n > 64 ? "..." : "");
		http_respond_error(r, 404, "UNKNOWN_OPERATION", msg, NULL);
		return;
	}
	if (m != HTTP_GET && m != HTTP_HEAD) {
		http_respond_error(r, 405, "UNKNOWN_OPERATION", "the wallboard is read with GET", NULL);
		return;
	}
	http_respond(r, 200, "text/html; charset=utf-8", web_wallboard_html, web_wallboard_html_len,
		     "Cache-Control: no-cache\r\n"
		     "Content-Security-Policy: default-src 'self'; connect-src *; "
		     "script-src 'unsafe-inline'; style-src 'unsafe-inline'\r\n");
}

int http_static_register(struct http *h, struct node *n)
{
	(void)n;
	return http_route_add(h, HTTP_GET | HTTP_POST | HTTP_PUT | HTTP_DELETE | HTTP_PATCH |
				      HTTP_OPTIONS | HTTP_HEAD,
			      "/", static_handler, NULL);
}
