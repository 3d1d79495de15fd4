/* callraft_client.h: libcallraft, the C client library of callraft.
 *
 * A client knows several node addresses ("host:port,host:port,..."), needs only one of them to be
 * reachable (followers forward to the leader), and makes every write idempotent: it registers a
 * session once (client_id, through the log) and stamps each write with the next sequence number.
 * A write whose outcome is unknown (connection lost, timeout, OUTCOME_UNKNOWN, NOT_LEADER, NO_LEADER,
 * UNAVAILABLE) is retried through the other nodes with the *same* (client_id, seq) until it succeeds
 * or the request deadline passes; the cluster applies it at most once and returns the stored reply.
 *
 * Threading: a struct callraft_client is used by one thread at a time; open one per thread (a
 * session has one write outstanding at a time). Blocking I/O with poll() deadlines; no signals.
 */
#ifndef CALLRAFT_CLIENT_H
#define CALLRAFT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "callraft.pb-c.h"
#include "callraft_limits.h"
#include "callraft_request.h"

struct callraft_client;

/* A good size for errmsg buffers: the library's messages (an address, a reason, at most a node's
 * reply message) fit; every message is cut to the buffer given, never overflows it. */
#define CALLRAFT_ERRMSG_BYTES 512

struct callraft_client_options {
	const char *cluster;      /* "host:port[,host:port...]"; required */
	const char *name;         /* session name shown by the node; may be NULL */
	int request_timeout_ms;   /* deadline for one request including retries; 0: 15000 */
	int attempt_timeout_ms;   /* deadline of one attempt on one node; 0: adaptive (srtt + 4 rttvar
				   * of the answers seen, 300..5000 ms, 500 before any): a hung
				   * node is left for the next within a few hundred ms */
	/* TLS (docs/security.md): the cluster CA, this client's certificate and key (PEM files). When
	 * all three are NULL the environment's CALLRAFT_TLS_CA, CALLRAFT_TLS_CERT and CALLRAFT_TLS_KEY
	 * are used; when those are unset too, connections are plain TCP (nodes with insecure = true). */
	const char *tls_ca;
	const char *tls_cert;
	const char *tls_key;
};

/* Parses the options and returns a client (no connection yet). -1 with errmsg on bad options
 * (e.g. "cluster: 'x': expected host:port"). */
int callraft_client_open(const struct callraft_client_options *opts, struct callraft_client **out,
			 char *errmsg, size_t errmsg_len);

/* Closes connections and frees. NULL allowed. */
void callraft_client_close(struct callraft_client *c);

/* True if the request's op is a write (goes through the log and needs a session). */
bool callraft_request_is_write(const Callraft__Request *req);

/* Sends `req` (the caller sets the op and `stale`; version, request_id, client_id and seq are set
 * here) and waits for its reply, retrying as described above. Returns the decoded reply (free with
 * callraft__reply__free_unpacked) whose code may be a business error (NOT_FOUND, ...), or NULL with
 * errmsg when no node answered in time or the cluster refused for a non-retryable reason.
 * The reply's applied_index tells the log index. A write that needed a session whose RegisterClient
 * was refused (a non-retryable code) gets that RegisterClient reply. After NULL,
 * callraft_client_last_error says whether the request was invalid or the cluster unavailable. */
Callraft__Reply *callraft_client_call(struct callraft_client *c, Callraft__Request *req, char *errmsg,
				      size_t errmsg_len);

/* Sends a read-only request to one node at `address` only (no retry, no forwarding assumptions):
 * used by `callraft status` to probe each member. NULL with errmsg if it is unreachable. TLS as
 * configured by CALLRAFT_TLS_CA/CERT/KEY. */
Callraft__Reply *callraft_client_call_node(const char *address, Callraft__Request *req, int timeout_ms,
					   char *errmsg, size_t errmsg_len);

/* The session of this client (0 until the first write registered it) and the last seq used. */
uint64_t callraft_client_id(const struct callraft_client *c);
uint64_t callraft_client_seq(const struct callraft_client *c);

/* Counts of retries made so far (for benchmarks and drills). */
uint64_t callraft_client_retries(const struct callraft_client *c);

/* Why the last callraft_client_call returned NULL (addition: lets the CLI tell "fix your request"
 * from "the cluster is unavailable"). CALLRAFT_CLIENT_OK after a call that returned a reply. */
enum callraft_client_error {
	CALLRAFT_CLIENT_OK = 0,
	CALLRAFT_CLIENT_INVALID,     /* the request cannot be sent: no op, or larger than the limit */
	CALLRAFT_CLIENT_UNAVAILABLE, /* no node gave a final reply before the request deadline */
};
enum callraft_client_error callraft_client_last_error(const struct callraft_client *c);

/* Frame helpers shared with the node: 4-byte big-endian length prefix. */
void callraft_frame_put_len(uint8_t hdr[4], uint32_t len);
uint32_t callraft_frame_get_len(const uint8_t hdr[4]);

/* Readable name of a reply code ("NOT_FOUND"), and whether a client should retry it with the same
 * seq. */
const char *callraft_code_name(Callraft__Code code);
bool callraft_code_is_retryable(Callraft__Code code);

/* ---- Typed calls: the common operations without building a request by hand. -----------------
 * Each builds its request with the builder (callraft_request.h) and sends it with
 * callraft_client_call: same retries, same exactly-once writes, same return contract (a reply to
 * free with callraft_reply_free, whose code may be a business refusal, or NULL with errmsg).
 * Strings are borrowed for the call only; NULL optional strings are sent empty. Reads are
 * linearizable. */

/* A PBX puts a caller in a queue. call_id is the PBX's id of the call and the idempotency key:
 * enqueueing it again answers OK with the existing call. tier: 0 regular .. CALLRAFT_TIER_MAX.
 * customer_id and arrival_site may be NULL. The reply's call carries the queued call. */
Callraft__Reply *callraft_call_enqueue(struct callraft_client *c, const char *call_id,
				       const char *queue, const char *caller_number,
				       const char *customer_id, uint32_t tier,
				       const char *arrival_site, char *errmsg, size_t errmsg_len);
/* The caller hung up while waiting. */
Callraft__Reply *callraft_call_abandon(struct callraft_client *c, const char *call_id,
				       char *errmsg, size_t errmsg_len);
/* Offers the best waiting call to an AVAILABLE agent: the reply's call (NULL with code
 * QUEUE_EMPTY when none waits) carries the offer token (offer_term, offer_index). */
Callraft__Reply *callraft_call_next(struct callraft_client *c, const char *agent_id, char *errmsg,
				    size_t errmsg_len);
/* Answers an offer with its token; a withdrawn or expired offer is STALE_TOKEN. */
Callraft__Reply *callraft_call_answer(struct callraft_client *c, const char *call_id,
				      const char *agent_id, uint64_t offer_term, uint64_t offer_index,
				      char *errmsg, size_t errmsg_len);
/* Ends a call the agent holds. */
Callraft__Reply *callraft_call_end(struct callraft_client *c, const char *call_id,
				   const char *agent_id, char *errmsg, size_t errmsg_len);
/* Reads one call. */
Callraft__Reply *callraft_call_show(struct callraft_client *c, const char *call_id, char *errmsg,
				    size_t errmsg_len);
/* Logs an agent in at `site` with skills (queue names; borrowed), AVAILABLE. name may be NULL. */
Callraft__Reply *callraft_agent_login(struct callraft_client *c, const char *agent_id,
				      const char *name, const char *site, char *const *skills,
				      size_t n_skills, char *errmsg, size_t errmsg_len);
/* The agent is ready: AVAILABLE, and the cluster offers it calls by itself as they come (no
 * polling with callraft_call_next; its desktop follows the CALL_OFFERED events of the stream). */
Callraft__Reply *callraft_agent_ready(struct callraft_client *c, const char *agent_id,
				      char *errmsg, size_t errmsg_len);
/* Sets AVAILABLE, BREAK or WRAP_UP with an optional reason (NULL). */
Callraft__Reply *callraft_agent_set_state(struct callraft_client *c, const char *agent_id,
					  Callraft__AgentState state, const char *reason,
					  char *errmsg, size_t errmsg_len);
Callraft__Reply *callraft_agent_logout(struct callraft_client *c, const char *agent_id,
				       char *errmsg, size_t errmsg_len);
/* Reads one agent. */
Callraft__Reply *callraft_agent_show(struct callraft_client *c, const char *agent_id, char *errmsg,
				     size_t errmsg_len);
/* Opens a ticket for a customer; the reply's ticket carries its tracking code. call_id, subject,
 * note and author may be NULL. */
Callraft__Reply *callraft_ticket_open(struct callraft_client *c, const char *customer_id,
				      const char *category, const char *call_id,
				      const char *subject, const char *note, const char *author,
				      char *errmsg, size_t errmsg_len);
/* A customer's tickets, newest first, at most `limit` (0: the default). */
Callraft__Reply *callraft_ticket_list(struct callraft_client *c, const char *customer_id,
				      uint32_t limit, char *errmsg, size_t errmsg_len);
/* The waiting calls of a queue in the order they will be served, at most `limit` (0: default). */
Callraft__Reply *callraft_queue_show(struct callraft_client *c, const char *queue, uint32_t limit,
				     char *errmsg, size_t errmsg_len);

/* Frees a reply returned by any call of this library. NULL allowed. */
void callraft_reply_free(Callraft__Reply *reply);

#endif
