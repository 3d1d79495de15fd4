/* http_auth.c: bearer tokens on the HTTP listener (issue 13), for browsers that hold no client
 * certificate (the wallboard, agent desktops).
 *
 * The core (http.c) asks for a client certificate in the TLS handshake but does not require one;
 * a request without one must carry a token (`Authorization: Bearer crt_...`, or `?access_token=`
 * on a GET: EventSource cannot set headers). This module checks it: its shape, then its SHA-256 in
 * this node's replicated state (state/tokens.c; a revoke takes effect on a node once it applied
 * the revoking entry), then its expiry by this node's clock. The token's roles and site then act
 * as a certificate's would (authz.h), its actor being "token:<id>" (sessions and idempotency
 * keys are bound to it). Every refusal is a 401 naming the reason, and logged. */
#include <stdio.h>
#include <string.h>

#include "http_routes.h"
#include "log.h"
#include "node_internal.h"
#include "token.h"

static unsigned role_bit(const char *role)
{
	if (strcmp(role, "agent") == 0)
		return TLS_ROLE_AGENT;
	if (strcmp(role, "pbx") == 0)
		return TLS_ROLE_PBX;
	if (strcmp(role, "supervisor") == 0)
		return TLS_ROLE_SUPERVISOR;
	if (strcmp(role, "admin") == 0)
		return TLS_ROLE_ADMIN;
	return 0;
}

static int token_check(void *data, const char *token, struct tls_identity *id, char *why,
		       size_t why_len)
{
	struct node *n = data;
	uint8_t hash[TOKEN_HASH_BYTES];
	Callraft__Token *t;
	char err[256];
	int rc;

	if (token_hash(token, hash) != 0) {
		snprintf(why, why_len, "bearer token malformed (crt_ and 64 hex digits)");
		return -1;
	}
	rc = state_token_find(n->state, hash, &t, err, sizeof err);
	if (rc != 0) {
		snprintf(why, why_len, "%s", rc > 0 ? "bearer token unknown or revoked" : err);
		return -1;
	}
	if (t->expires_ms <= node_now_ms()) {
		snprintf(why, why_len, "bearer token %llu ('%s') expired", (unsigned long long)t->id,
			 t->name);
		callraft__token__free_unpacked(t, NULL);
		return -1;
	}
	memset(id, 0, sizeof *id);
	snprintf(id->name, sizeof id->name, "%s", t->name);
	snprintf(id->principal, sizeof id->principal, "token:%llu", (unsigned long long)t->id);
	snprintf(id->site, sizeof id->site, "%s", t->site);
	for (size_t i = 0; i < t->n_roles; i++)
		id->roles |= role_bit(t->roles[i]);
	id->not_after_s = t->expires_ms / 1000;
	callraft__token__free_unpacked(t, NULL);
	return 0;
}

int http_auth_register(struct http *h, struct node *n)
{
	http_set_authenticator(h, token_check, n);
	/* The wallboard page is code, no data: a browser loads it, then authenticates its calls. */
	return http_route_set_public(h, "/");
}
