/* node_tls.c: the node's TLS context: loaded from [tls] at start, reloaded on SIGHUP.
 *
 * One SSL_CTX serves the three kinds of connection (client listener, forward link, Raft peers).
 * On SIGHUP the files are read again into a new context; only if that succeeds does it replace
 * the old one, which OpenSSL keeps alive for as long as connections made from it exist (each SSL
 * holds a reference). Established connections, Raft links included, are untouched: the cluster
 * does not drop anything; new connections present the new certificate. A failed reload (missing
 * file, key not matching) is logged and changes nothing. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "log.h"
#include "node_internal.h"

static void tls_log_to_node_log(int level, const char *msg)
{
	static const enum log_level map[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR};
	enum log_level l = level >= 0 && level <= 3 ? map[level] : LOG_ERROR;
	if (l == LOG_WARN)
		LOG_RATELIMITED(LOG_WARN, "%s", msg);
	else
		LOG(l, "%s", msg);
}

/* Loads the files into a context and checks the certificate is this node's. */
static SSL_CTX *load(struct node *n, struct tls_identity *self, char *errmsg, size_t len)
{
	struct tls_files f;
	SSL_CTX *ctx;
	snprintf(f.ca, sizeof f.ca, "%s", n->cfg.tls_ca);
	snprintf(f.cert, sizeof f.cert, "%s", n->cfg.tls_cert);
	snprintf(f.key, sizeof f.key, "%s", n->cfg.tls_key);
	if (tls_cert_file_identity(f.cert, self, errmsg, len) != 0)
		return NULL;
	if (self->node_id != n->cfg.id) {
		snprintf(errmsg, len,
			 "tls: certificate '%s' is for member %llu (callraft:node URI), this node is %llu",
			 f.cert, (unsigned long long)self->node_id, (unsigned long long)n->cfg.id);
		return NULL;
	}
	ctx = tls_ctx_new(&f, errmsg, len);
	if (ctx != NULL && self->not_after_s <= (int64_t)time(NULL))
		LOG_WARN_("tls: certificate '%s' expired: peers and clients will refuse this node until "
			  "it is reissued (deploy/certs.sh) and reloaded (SIGHUP)", f.cert);
	return ctx;
}

int node_tls_init(struct node *n, char *errmsg, size_t len)
{
	tls_log_hook = tls_log_to_node_log;
	if (n->cfg.insecure) {
		LOG_WARN_("tls: insecure = true: peers and clients on plain TCP, no identities or roles "
			  "(anyone who reaches the ports can change the state)");
		return 0;
	}
	n->tls_ctx = load(n, &n->tls_self, errmsg, len);
	if (n->tls_ctx == NULL)
		return -1;
	LOG_INFO_("tls: certificate '%s' ('%s') valid until %lld", n->cfg.tls_cert, n->tls_self.name,
		  (long long)n->tls_self.not_after_s);
	return 0;
}

static void sighup_cb(uv_signal_t *s, int signum)
{
	struct node *n = s->data;
	struct tls_identity self;
	char err[600];
	SSL_CTX *ctx;
	(void)signum;
	if (n->tls_ctx == NULL) {
		LOG_INFO_("SIGHUP: insecure = true: no certificates to reload");
		return;
	}
	ctx = load(n, &self, err, sizeof err);
	if (ctx == NULL) {
		LOG_ERROR_("SIGHUP: certificates not reloaded, keeping the current ones: %s", err);
		return;
	}
	if (http_tls_reload(n->http, &n->cfg, err, sizeof err) != 0)
		LOG_WARN_("SIGHUP: %s (the HTTP listener keeps its certificate)", err);
	repl_set_tls(n->repl, ctx);
	SSL_CTX_free(n->tls_ctx); /* live connections hold their own reference */
	n->tls_ctx = ctx;
	n->tls_self = self;
	LOG_INFO_("SIGHUP: certificates reloaded: '%s' ('%s') valid until %lld", n->cfg.tls_cert,
		  self.name, (long long)self.not_after_s);
}

void node_tls_start(struct node *n)
{
	uv_signal_init(&n->loop, &n->sighup);
	n->sighup.data = n;
	uv_signal_start(&n->sighup, sighup_cb, SIGHUP);
}

void node_tls_close(struct node *n)
{
	if (!uv_is_closing((uv_handle_t *)&n->sighup))
		uv_close((uv_handle_t *)&n->sighup, NULL);
}
