/* tls.c: see tls.h. */
#include "tls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "callraft_limits.h"

void (*tls_log_hook)(int level, const char *msg);

void tls_log(int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (tls_log_hook != NULL)
		tls_log_hook(level, msg);
	else
		fprintf(stderr, "tls: %s\n", msg);
}

const char *tls_error_string(char *buf, size_t len)
{
	unsigned long e;
	size_t off = 0;
	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		char one[256];
		ERR_error_string_n(e, one, sizeof one);
		if (off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "; " : "", one);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "no OpenSSL reason");
	return buf;
}

/* A ticket is taken only while the certificate it was issued for has not expired: the full
 * handshake that verified it is not repeated on resumption. Otherwise (and for a ticket we cannot
 * read: another node's, or one from before a reload) a full handshake, and a fresh ticket. */
static SSL_TICKET_RETURN ticket_decrypted(SSL *ssl, SSL_SESSION *sess, const unsigned char *keyname,
					  size_t keyname_len, SSL_TICKET_STATUS status, void *arg)
{
	X509 *peer;
	(void)ssl;
	(void)keyname;
	(void)keyname_len;
	(void)arg;
	switch (status) {
	case SSL_TICKET_SUCCESS:
	case SSL_TICKET_SUCCESS_RENEW:
		peer = SSL_SESSION_get0_peer(sess);
		if (peer == NULL || X509_cmp_current_time(X509_get0_notAfter(peer)) <= 0)
			return SSL_TICKET_RETURN_IGNORE_RENEW;
		return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE
						    : SSL_TICKET_RETURN_USE_RENEW;
	case SSL_TICKET_EMPTY:
	case SSL_TICKET_NO_DECRYPT:
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	default:
		return SSL_TICKET_RETURN_IGNORE;
	}
}

/* Server side of resumption: one stateless ticket per handshake (encrypted with this context's
 * own random key, so a reload or another node's ticket means a full handshake), valid
 * CALLRAFT_TLS_SESSION_LIFETIME_S. The session id context is required with client certificates:
 * without it OpenSSL refuses to resume. No server-side cache: tickets carry the session. */
static int tls_ctx_tickets(SSL_CTX *ctx)
{
	static const unsigned char sid_ctx[] = "callraft";
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1) != 1 ||
	    SSL_CTX_set_num_tickets(ctx, 1) != 1 ||
	    SSL_CTX_set_session_ticket_cb(ctx, NULL, ticket_decrypted, NULL) != 1)
		return -1;
	SSL_CTX_set_timeout(ctx, CALLRAFT_TLS_SESSION_LIFETIME_S);
	return 0;
}

SSL_CTX *tls_ctx_new(const struct tls_files *f, char *errmsg, size_t errmsg_len)
{
	char why[512];
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());

	if (ctx == NULL) {
		snprintf(errmsg, errmsg_len, "tls: new context: %s", tls_error_string(why, sizeof why));
		return NULL;
	}
	/* TLS 1.3 only: its handshake is one round trip and has no renegotiation to worry about. */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1)
		goto err_openssl;
	if (SSL_CTX_load_verify_locations(ctx, f->ca, NULL) != 1) {
		snprintf(errmsg, errmsg_len, "tls: CA '%s': %s", f->ca, tls_error_string(why, sizeof why));
		goto err_ctx;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1) {
		snprintf(errmsg, errmsg_len, "tls: certificate '%s': %s", f->cert,
			 tls_error_string(why, sizeof why));
		goto err_ctx;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1) {
		snprintf(errmsg, errmsg_len, "tls: key '%s': %s", f->key, tls_error_string(why, sizeof why));
		goto err_ctx;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(errmsg, errmsg_len, "tls: key '%s' does not match certificate '%s'", f->key,
			 f->cert);
		goto err_ctx;
	}
	/* Both ends must present a certificate the cluster CA signed. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	/* Partial writes and moving buffers: memory BIOs and a retrying client both need them. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (tls_ctx_tickets(ctx) != 0)
		goto err_openssl;
	return ctx;

err_openssl:
	snprintf(errmsg, errmsg_len, "tls: context: %s", tls_error_string(why, sizeof why));
err_ctx:
	SSL_CTX_free(ctx);
	return NULL;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return -1;
	*out = v;
	return 0;
}

static int role_parse(const char *s, unsigned *role)
{
	if (!strcmp(s, "agent"))
		*role = TLS_ROLE_AGENT;
	else if (!strcmp(s, "pbx"))
		*role = TLS_ROLE_PBX;
	else if (!strcmp(s, "supervisor"))
		*role = TLS_ROLE_SUPERVISOR;
	else if (!strcmp(s, "admin"))
		*role = TLS_ROLE_ADMIN;
	else
		return -1;
	return 0;
}

/* Applies one "callraft:..." URI. Other URIs are ignored (a certificate may serve other uses). */
static int identity_apply_uri(struct tls_identity *id, const char *uri)
{
	unsigned role;
	if (!strncmp(uri, "callraft:node:", 14))
		return parse_u64(uri + 14, &id->node_id);
	if (!strncmp(uri, "callraft:role:", 14)) {
		if (role_parse(uri + 14, &role) != 0)
			return -1;
		id->roles |= role;
		return 0;
	}
	if (!strncmp(uri, "callraft:site:", 14)) {
		size_t n = strlen(uri + 14);
		if (n == 0 || n > TLS_SITE_BYTES_MAX || id->site[0] != '\0')
			return -1;
		memcpy(id->site, uri + 14, n + 1);
		return 0;
	}
	return strncmp(uri, "callraft:", 9) == 0 ? -1 : 0;
}

static int64_t asn1_time_to_unix(const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

static int identity_principal(X509 *cert, struct tls_identity *id)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	bool printable = id->name[0] != '\0';

	for (const char *p = id->name; *p != '\0'; p++)
		printable = printable && (unsigned char)*p >= 0x20 && (unsigned char)*p <= 0x7e;
	if (printable) {
		snprintf(id->principal, sizeof id->principal, "cert:%s", id->name);
		return 0;
	}
	if (X509_digest(cert, EVP_sha256(), md, &md_len) != 1 || md_len < 16)
		return -1;
	strcpy(id->principal, "cert-sha256:");
	for (unsigned i = 0; i < 16; i++)
		snprintf(id->principal + 12 + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int tls_identity_from_cert(X509 *cert, struct tls_identity *id)
{
	GENERAL_NAMES *sans;
	X509_NAME *subject;
	int rv = 0;

	memset(id, 0, sizeof *id);
	subject = X509_get_subject_name(cert);
	if (subject != NULL &&
	    X509_NAME_get_text_by_NID(subject, NID_commonName, id->name, sizeof id->name) < 0)
		id->name[0] = '\0';
	id->not_after_s = asn1_time_to_unix(X509_get0_notAfter(cert));
	rv = identity_principal(cert, id);
	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans) && rv == 0; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		char uri[256];
		int len;
		if (g->type != GEN_URI)
			continue;
		len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
		if (len <= 0 || (size_t)len >= sizeof uri) {
			rv = -1;
			break;
		}
		memcpy(uri, ASN1_STRING_get0_data(g->d.uniformResourceIdentifier), (size_t)len);
		uri[len] = '\0';
		if (strlen(uri) != (size_t)len) /* an embedded NUL */
			rv = -1;
		else
			rv = identity_apply_uri(id, uri);
	}
	GENERAL_NAMES_free(sans);
	if (rv != 0) {
		memset(id, 0, sizeof *id); /* a malformed certificate gets no rights */
		return -1;
	}
	return 0;
}

int tls_identity_from_ssl(SSL *ssl, struct tls_identity *id)
{
	X509 *cert;
	int rv;
	memset(id, 0, sizeof *id);
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		return -1;
	cert = SSL_get1_peer_certificate(ssl);
	if (cert == NULL)
		return -1;
	rv = tls_identity_from_cert(cert, id);
	X509_free(cert);
	return rv;
}

bool tls_cert_matches_host(X509 *cert, const char *host)
{
	/* X509_check_ip_asc parses IPv4 and IPv6 literals; anything else is a DNS name. */
	int ip = X509_check_ip_asc(cert, host, 0);
	if (ip == 1)
		return true;
	if (ip == 0)
		return false;
	return X509_check_host(cert, host, strlen(host), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
			       NULL) == 1;
}

int tls_address_host(const char *address, char *host, size_t host_len)
{
	const char *colon = strrchr(address, ':');
	const char *start = address;
	size_t n;
	if (colon == NULL || colon == address)
		return -1;
	n = (size_t)(colon - address);
	if (n >= 2 && address[0] == '[' && address[n - 1] == ']') {
		start++;
		n -= 2;
	}
	if (n == 0 || n >= host_len)
		return -1;
	memcpy(host, start, n);
	host[n] = '\0';
	return 0;
}

int tls_cert_file_identity(const char *path, struct tls_identity *id, char *errmsg,
			   size_t errmsg_len)
{
	FILE *f = fopen(path, "r");
	X509 *cert;
	int rv;
	memset(id, 0, sizeof *id);
	if (f == NULL) {
		snprintf(errmsg, errmsg_len, "certificate '%s': %s", path, strerror(errno));
		return -1;
	}
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (cert == NULL) {
		char why[256];
		snprintf(errmsg, errmsg_len, "certificate '%s': %s", path,
			 tls_error_string(why, sizeof why));
		return -1;
	}
	rv = tls_identity_from_cert(cert, id);
	if (rv != 0)
		snprintf(errmsg, errmsg_len, "certificate '%s': malformed callraft: URI", path);
	X509_free(cert);
	return rv;
}

void tls_roles_format(unsigned roles, char *buf, size_t len)
{
	static const char *names[] = {"agent", "pbx", "supervisor", "admin"};
	size_t off = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < 4; i++)
		if ((roles & (1u << i)) && off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "", names[i]);
	if (off == 0)
		snprintf(buf, len, "none");
}
