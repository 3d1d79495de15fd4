/* authz.h: which certificate may run which request (roles in docs/security.md).
 *
 * Operation classes and the roles that may run them (admin > supervisor > agent; pbx = agent):
 *   any verified certificate     status, register_client (a session)
 *   CALLS     agent, pbx, supervisor, admin
 *             calls (enqueue, next, answer, end, abandon, reject, dial attempt, callbacks, show),
 *             agents (login, state, logout, heartbeat, show), events (offers pushed to agents),
 *             the PBX's site heartbeat
 *   SUPERVISE supervisor, admin
 *             queues (configure, show), tickets (open, update, show, list), stats, agent list,
 *             customer history, members list, site list
 *   ADMIN     admin
 *             members (add, remove, assign), leader transfer, snapshots, sites (configure, down, up)
 *   node certificates (callraft:node:<id>) may send anything, and only they may send a request
 *   marked `forwarded` (the forwarding node checked the client's role before forwarding).
 *
 * An agent or pbx certificate that names a site (callraft:site:<site>) may only enqueue calls
 * arriving at that site, log agents into it, leave voicemail callbacks for it, read its events
 * and send its site heartbeat. Operations that name a call or agent by id are limited by the FSM
 * (state/site_scope.c), from the site authz_stamp puts on the request.
 *
 * Without TLS (insecure = true) every request is allowed: there is no identity to check. */
#ifndef CALLRAFT_AUTHZ_H
#define CALLRAFT_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>

#include "callraft.pb-c.h"
#include "tls.h"

/* 0 if `id` may run `req`; else -1 with `why` naming the missing role or site, e.g.
 * "member_add needs role admin; certificate 'ops-desk' has roles supervisor". */
int authz_check(const struct tls_identity *id, const Callraft__Request *req, char *why, size_t len);

/* Stamps the request with its sender (Request.actor, Request.actor_site; see callraft.proto),
 * replacing whatever the client put there: the identity's principal, and its site when it is an
 * agent or pbx limited to one (supervisors and admins span sites). `id` NULL (no TLS): both
 * emptied. Not for a member's requests (they carry the stamp of the node that received them).
 * 0, or -1 out of memory (the request is unchanged). */
int authz_stamp(const struct tls_identity *id, Callraft__Request *req);

/* The operation's name ("call_enqueue"), from the protobuf descriptor. */
const char *authz_op_name(Callraft__Request__OpCase op);

#endif
