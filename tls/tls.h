/* tls.h: callraft's TLS: contexts, identities and roles (OpenSSL 3).
 *
 * Trust model (docs/security.md). One cluster CA signs every certificate. Every connection, peer
 * (Raft), forward link and client, is TLS 1.3 with a certificate on both ends, verified against
 * that CA. What a certificate may do is written in its subjectAltName URIs:
 *
 *   callraft:node:<id>        a member: may join Raft as member <id> (its DNS/IP SANs must also name
 *                             the host of the raft address it claims) and forward client requests
 *   callraft:role:<role>      a client role: agent, pbx, supervisor or admin (several allowed)
 *   callraft:site:<site>      limits agent and pbx certificates to one site's calls and agents
 *
 * Roles nest: admin > supervisor > agent; pbx is agent's peer for the PBX (same operations).
 * The subject's CN names the holder in logs.
 *
 * OpenSSL is used through memory BIOs on the node (tls_stream.h) and directly on a socket in the
 * client library; nothing here blocks. */
#ifndef CALLRAFT_TLS_H
#define CALLRAFT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#define TLS_PATH_BYTES_MAX 512
#define TLS_NAME_BYTES_MAX 64
#define TLS_SITE_BYTES_MAX 32
#define TLS_PRINCIPAL_BYTES_MAX 80 /* CALLRAFT_ACTOR_BYTES_MAX */

enum tls_role {
	TLS_ROLE_AGENT = 1u << 0,
	TLS_ROLE_PBX = 1u << 1,
	TLS_ROLE_SUPERVISOR = 1u << 2,
	TLS_ROLE_ADMIN = 1u << 3,
};

/* What a verified certificate says about its holder. */
struct tls_identity {
	char name[TLS_NAME_BYTES_MAX + 1]; /* subject CN ("" if none) */
	/* Who the holder is, for binding sessions (Request.actor): "cert:<CN>" when the CN is
	 * printable ASCII, else "cert-sha256:<first 16 bytes of the certificate's SHA-256, hex>". A
	 * renewed certificate with the same CN is the same holder. */
	char principal[TLS_PRINCIPAL_BYTES_MAX + 1];
	uint64_t node_id;                  /* > 0: a node certificate (callraft:node:<id>) */
	unsigned roles;                    /* enum tls_role bits */
	char site[TLS_SITE_BYTES_MAX + 1]; /* callraft:site:<site>, "" if unrestricted */
	int64_t not_after_s;               /* expiry, seconds since the epoch */
};

/* The three PEM files of one end. */
struct tls_files {
	char ca[TLS_PATH_BYTES_MAX];   /* the cluster CA certificate */
	char cert[TLS_PATH_BYTES_MAX]; /* this end's certificate (chain) */
	char key[TLS_PATH_BYTES_MAX];  /* its private key */
};

/* Builds a context for both directions (SSL_set_accept_state / SSL_set_connect_state per
 * connection): TLS 1.3 only, peer certificate required and verified against `f->ca`. The caller
 * owns the result (SSL_CTX_free). NULL with errmsg naming the file and OpenSSL's reason. */
SSL_CTX *tls_ctx_new(const struct tls_files *f, char *errmsg, size_t errmsg_len);

/* Reads the identity from a certificate (verified by the caller). 0, or -1 if the SAN URIs are
 * malformed (an unknown role, a bad node id): such a certificate gets no rights at all. */
int tls_identity_from_cert(X509 *cert, struct tls_identity *id);

/* The verified peer's identity of a completed handshake. -1 if there is no verified peer
 * certificate (which the context's verify mode makes impossible) or it is malformed. */
int tls_identity_from_ssl(SSL *ssl, struct tls_identity *id);

/* True if `cert` has a DNS or IP subjectAltName equal to `host` (a name, an IPv4 or an IPv6
 * literal, without brackets). */
bool tls_cert_matches_host(X509 *cert, const char *host);

/* Splits "host:port" or "[v6]:port" into its host (brackets removed). -1 if malformed. */
int tls_address_host(const char *address, char *host, size_t host_len);

/* Reads the certificate file `path` into `id` (no verification: for `status` and the CLI). */
int tls_cert_file_identity(const char *path, struct tls_identity *id, char *errmsg,
			   size_t errmsg_len);

/* "agent,supervisor" for a role set (writes "none" for 0). */
void tls_roles_format(unsigned roles, char *buf, size_t len);

/* Copies OpenSSL's queued error reasons (and clears the queue) into buf; returns buf. */
const char *tls_error_string(char *buf, size_t len);

/* Where the TLS layer's own log lines go (the node sets it; NULL: stderr). level: 0 debug,
 * 1 info, 2 warn, 3 error. */
extern void (*tls_log_hook)(int level, const char *msg);
void tls_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
