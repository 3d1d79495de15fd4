/* config.c: see config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parse_ctx {
	struct config *cfg;
	char *errmsg;
	size_t errmsg_len;
	int failed;
};

static bool name_valid(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

bool config_address_valid(const char *address)
{
	const char *colon = strrchr(address, ':');
	char *end;
	long port;

	if (colon == NULL || colon == address || strlen(address) > CALLRAFT_ADDRESS_BYTES_MAX)
		return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return errno == 0 && *end == '\0' && end != colon + 1 && port > 0 && port <= 65535;
}

static int parse_u64(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long x;
	if (*v == '\0' || *v == '-')
		return -1;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = x;
	return 0;
}

static int parse_uint(const char *v, unsigned *out)
{
	uint64_t x;
	if (parse_u64(v, &x) != 0 || x > CALLRAFT_CONFIG_NUMBER_MAX)
		return -1;
	*out = (unsigned)x;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "on"))
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "off"))
		*out = false;
	else
		return -1;
	return 0;
}

static int copy_str(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		return -1;
	strcpy(dst, v);
	return 0;
}

static struct config_member *member_for(struct parse_ctx *ctx, const char *section, int *bad)
{
	struct config *cfg = ctx->cfg;
	uint64_t id;
	*bad = 0;
	if (parse_u64(section + strlen("member "), &id) != 0 || id == 0) {
		*bad = 1;
		return NULL;
	}
	for (unsigned i = 0; i < cfg->n_members; i++)
		if (cfg->members[i].id == id)
			return &cfg->members[i];
	if (cfg->n_members == CALLRAFT_MEMBERS_MAX) {
		*bad = 2;
		return NULL;
	}
	cfg->members[cfg->n_members].id = id;
	return &cfg->members[cfg->n_members++];
}

/* The keys [node] and [member N] share: where a node is (site) and how to reach it. Returns -2 if
 * `name` is not one of them. */
static int set_place_key(const char *name, const char *value, char site[CALLRAFT_SITE_BYTES_MAX + 1],
			 char raft[CALLRAFT_ADDRESS_BYTES_MAX + 1], char client[CALLRAFT_ADDRESS_BYTES_MAX + 1],
			 char http[CALLRAFT_ADDRESS_BYTES_MAX + 1])
{
	char *address = !strcmp(name, "raft_address")	? raft
			: !strcmp(name, "client_address") ? client
			: !strcmp(name, "http_address")	? http
							: NULL;
	if (!strcmp(name, "site"))
		return name_valid(value, CALLRAFT_SITE_BYTES_MAX) ? copy_str(site, CALLRAFT_SITE_BYTES_MAX + 1, value) : -1;
	if (address == NULL)
		return -2;
	return config_address_valid(value) ? copy_str(address, CALLRAFT_ADDRESS_BYTES_MAX + 1, value) : -1;
}

static int set_node_key(struct config *cfg, const char *name, const char *value)
{
	int rv = set_place_key(name, value, cfg->site, cfg->raft_address, cfg->client_address,
			       cfg->http_address);
	if (rv != -2)
		return rv;
	if (!strcmp(name, "id"))
		return parse_u64(value, &cfg->id) != 0 || cfg->id == 0 ? -1 : 0;
	if (!strcmp(name, "witness"))
		return parse_bool(value, &cfg->witness);
	if (!strcmp(name, "data_dir"))
		return value[0] ? copy_str(cfg->data_dir, sizeof cfg->data_dir, value) : -1;
	return -2;
}

static int set_key(struct parse_ctx *ctx, const char *section, const char *name, const char *value)
{
	struct config *cfg = ctx->cfg;
	if (!strcmp(section, "node"))
		return set_node_key(cfg, name, value);
	if (!strcmp(section, "raft")) {
		if (!strcmp(name, "heartbeat_timeout_ms"))
			return cfg->heartbeat_set = true, parse_uint(value, &cfg->heartbeat_timeout_ms);
		if (!strcmp(name, "election_timeout_ms"))
			return cfg->election_set = true, parse_uint(value, &cfg->election_timeout_ms);
		if (!strcmp(name, "site_rtt_ms"))
			return parse_uint(value, &cfg->site_rtt_ms);
		if (!strcmp(name, "home_site"))
			return value[0] ? copy_str(cfg->home_site, sizeof cfg->home_site, value) : -1;
		if (!strcmp(name, "snapshot_threshold"))
			return parse_uint(value, &cfg->snapshot_threshold);
		if (!strcmp(name, "snapshot_trailing"))
			return parse_uint(value, &cfg->snapshot_trailing);
		if (!strcmp(name, "install_snapshot_timeout_ms"))
			return parse_uint(value, &cfg->install_snapshot_timeout_ms);
		return -2;
	}
	if (!strcmp(section, "state")) {
		if (!strcmp(name, "map_size_mb"))
			return parse_u64(value, &cfg->map_size_mb) != 0 || cfg->map_size_mb < CALLRAFT_MAP_SIZE_MB_MIN ? -1 : 0;
		if (!strcmp(name, "quota_mb"))
			return parse_u64(value, &cfg->quota_mb) != 0 || cfg->quota_mb == 0 ? -1 : 0;
		if (!strcmp(name, "sync"))
			return parse_bool(value, &cfg->state_sync);
		return -2;
	}
	if (!strcmp(section, "client")) {
		unsigned *v = !strcmp(name, "idle_timeout_ms")	      ? &cfg->client_idle_timeout_ms
			      : !strcmp(name, "frame_timeout_ms")	      ? &cfg->client_frame_timeout_ms
			      : !strcmp(name, "connections_per_source") ? &cfg->client_connections_per_source
								      : NULL;
		if (v == NULL)
			return -2;
		if (parse_uint(value, v) != 0)
			return -1;
		if (v == &cfg->client_connections_per_source)
			return *v >= 1 && *v <= CALLRAFT_CONNECTIONS_MAX ? 0 : -1;
		return *v >= CALLRAFT_CONN_TIMEOUT_MS_MIN ? 0 : -1;
	}
	if (!strcmp(section, "log")) {
		if (!strcmp(name, "level"))
			return copy_str(cfg->log_level, sizeof cfg->log_level, value);
		if (!strcmp(name, "format")) {
			if (strcmp(value, "text") && strcmp(value, "json"))
				return -1;
			return copy_str(cfg->log_format, sizeof cfg->log_format, value);
		}
		return -2;
	}
	if (!strcmp(section, "tls")) {
		if (!strcmp(name, "ca"))
			return value[0] ? copy_str(cfg->tls_ca, sizeof cfg->tls_ca, value) : -1;
		if (!strcmp(name, "cert"))
			return value[0] ? copy_str(cfg->tls_cert, sizeof cfg->tls_cert, value) : -1;
		if (!strcmp(name, "key"))
			return value[0] ? copy_str(cfg->tls_key, sizeof cfg->tls_key, value) : -1;
		if (!strcmp(name, "insecure"))
			return parse_bool(value, &cfg->insecure);
		return -2;
	}
	if (!strncmp(section, "member ", 7)) {
		int bad;
		struct config_member *m = member_for(ctx, section, &bad);
		if (m == NULL)
			return bad == 1 ? -3 : -4;
		return set_place_key(name, value, m->site, m->raft_address, m->client_address,
				     m->http_address);
	}
	return -5;
}

static int config_ini_cb(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *ctx = user;
	int rv;
	if (ctx->failed)
		return 0;
	rv = set_key(ctx, section, name, value);
	if (rv == 0)
		return 1;
	ctx->failed = 1;
	if (rv == -2)
		snprintf(ctx->errmsg, ctx->errmsg_len, "[%s] %s: unknown key", section, name);
	else if (rv == -3 || rv == -5)
		snprintf(ctx->errmsg, ctx->errmsg_len, "[%s]: %s", section,
			 rv == -3 ? "member id must be a positive integer" : "unknown section");
	else if (rv == -4)
		snprintf(ctx->errmsg, ctx->errmsg_len, "[%s]: more than %d members", section, CALLRAFT_MEMBERS_MAX);
	else
		snprintf(ctx->errmsg, ctx->errmsg_len, "[%s] %s: invalid value '%s'", section, name, value);
	return 0;
}

static void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->heartbeat_timeout_ms = CALLRAFT_HEARTBEAT_TIMEOUT_MS_DEFAULT;
	cfg->election_timeout_ms = CALLRAFT_ELECTION_TIMEOUT_MS_DEFAULT;
	cfg->snapshot_threshold = CALLRAFT_SNAPSHOT_THRESHOLD_DEFAULT;
	cfg->snapshot_trailing = CALLRAFT_SNAPSHOT_TRAILING_DEFAULT;
	cfg->install_snapshot_timeout_ms = CALLRAFT_INSTALL_SNAPSHOT_TIMEOUT_MS_DEFAULT;
	cfg->map_size_mb = CALLRAFT_MAP_SIZE_MB_DEFAULT;
	cfg->state_sync = false;
	cfg->client_idle_timeout_ms = CALLRAFT_CONN_IDLE_MS_DEFAULT;
	cfg->client_frame_timeout_ms = CALLRAFT_CONN_FRAME_MS_DEFAULT;
	cfg->client_connections_per_source = CALLRAFT_CONNECTIONS_PER_SOURCE_DEFAULT;
	strcpy(cfg->log_level, "info");
	strcpy(cfg->log_format, "text");
}

/* The Raft timeouts a node did not set, from the round trip between its sites (the rule of
 * callraft_timing.h). */
static void config_derive_timeouts(struct config *cfg)
{
	if (cfg->site_rtt_ms > 0 && cfg->site_rtt_ms <= CALLRAFT_SITE_RTT_MS_MAX && !cfg->heartbeat_set) {
		unsigned hb = CALLRAFT_RTT_HEARTBEATS_X2 * cfg->site_rtt_ms / 2;
		cfg->heartbeat_timeout_ms = hb > CALLRAFT_HEARTBEAT_TIMEOUT_MS_MIN
						? hb : CALLRAFT_HEARTBEAT_TIMEOUT_MS_MIN;
	}
	if (cfg->site_rtt_ms > 0 && cfg->site_rtt_ms <= CALLRAFT_SITE_RTT_MS_MAX && !cfg->election_set) {
		unsigned et = CALLRAFT_ELECTION_HEARTBEATS * cfg->heartbeat_timeout_ms;
		cfg->election_timeout_ms = et > CALLRAFT_ELECTION_FROM_RTT_MS_MIN
						   ? et : CALLRAFT_ELECTION_FROM_RTT_MS_MIN;
	}
	/* (config_check refuses a site_rtt_ms above the maximum.) The witness waits longer before it
	 * campaigns (callraft_timing.h), whether the timeout was derived, defaulted or set: one file
	 * template serves every node, and a call-center voter's timer fires first. */
	if (cfg->witness)
		cfg->election_timeout_ms *= CALLRAFT_WITNESS_ELECTION_FACTOR;
}

/* Checks relations between keys once the whole file is read. */
static int config_check(const struct config *cfg, char *err, size_t len)
{
	if (cfg->id == 0)
		return snprintf(err, len, "[node] id: missing"), -1;
	if (!cfg->site[0])
		return snprintf(err, len, "[node] site: missing"), -1;
	if (!cfg->raft_address[0])
		return snprintf(err, len, "[node] raft_address: missing"), -1;
	if (!cfg->client_address[0])
		return snprintf(err, len, "[node] client_address: missing"), -1;
	if (!cfg->data_dir[0])
		return snprintf(err, len, "[node] data_dir: missing"), -1;
	if (cfg->site_rtt_ms > CALLRAFT_SITE_RTT_MS_MAX)
		return snprintf(err, len, "[raft] site_rtt_ms (%u) must be at most %d",
				cfg->site_rtt_ms, CALLRAFT_SITE_RTT_MS_MAX), -1;
	if (cfg->heartbeat_timeout_ms < CALLRAFT_HEARTBEAT_TIMEOUT_MS_MIN ||
	    cfg->heartbeat_timeout_ms >= cfg->election_timeout_ms)
		return snprintf(err, len, "[raft] heartbeat_timeout_ms (%u) must be >= %d and below election_timeout_ms (%u)",
				cfg->heartbeat_timeout_ms, CALLRAFT_HEARTBEAT_TIMEOUT_MS_MIN,
				cfg->election_timeout_ms), -1;
	if (cfg->snapshot_threshold < CALLRAFT_SNAPSHOT_THRESHOLD_MIN ||
	    cfg->snapshot_trailing < cfg->snapshot_threshold)
		return snprintf(err, len, "[raft] snapshot_trailing (%u) must be >= snapshot_threshold (%u) >= %d",
				cfg->snapshot_trailing, cfg->snapshot_threshold,
				CALLRAFT_SNAPSHOT_THRESHOLD_MIN), -1;
	if (cfg->quota_mb > cfg->map_size_mb / CALLRAFT_QUOTA_MAP_FACTOR)
		return snprintf(err, len, "[state] quota_mb (%llu) must be at most map_size_mb / %d (%llu)",
				(unsigned long long)cfg->quota_mb, CALLRAFT_QUOTA_MAP_FACTOR,
				(unsigned long long)(cfg->map_size_mb / CALLRAFT_QUOTA_MAP_FACTOR)), -1;
	if (cfg->n_members == 0)
		return snprintf(err, len, "no [member N] sections: the initial members are required"), -1;
	for (unsigned i = 0; i < cfg->n_members; i++) {
		const struct config_member *m = &cfg->members[i];
		if (!m->site[0] || !m->raft_address[0] || !m->client_address[0])
			return snprintf(err, len, "[member %llu]: site, raft_address and client_address are required",
					(unsigned long long)m->id), -1;
		if (m->id == cfg->id && (strcmp(m->raft_address, cfg->raft_address) || strcmp(m->site, cfg->site)))
			return snprintf(err, len, "[member %llu]: differs from [node] (site or raft_address)",
					(unsigned long long)m->id), -1;
		if (m->id == cfg->id && m->http_address[0] && strcmp(m->http_address, cfg->http_address))
			return snprintf(err, len, "[member %llu]: http_address differs from [node]",
					(unsigned long long)m->id), -1;
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(cfg->members[j].raft_address, m->raft_address))
				return snprintf(err, len, "[member %llu]: raft_address '%s' used twice",
						(unsigned long long)m->id, m->raft_address), -1;
	}
	if (cfg->insecure && (cfg->tls_ca[0] || cfg->tls_cert[0] || cfg->tls_key[0]))
		return snprintf(err, len, "[tls]: insecure = true and ca/cert/key both given: choose one"), -1;
	if (!cfg->insecure && !(cfg->tls_ca[0] && cfg->tls_cert[0] && cfg->tls_key[0]))
		return snprintf(err, len, "[tls]: ca, cert and key are required (TLS is on by default: "
				"deploy/certs.sh makes them, docs/security.md); to run without TLS say "
				"insecure = true"), -1;
	return 0;
}

/* Makes a relative [tls] path relative to the config file's directory (so a config and its certs/
 * move together). -1 if the result does not fit. */
static int tls_path_resolve(const char *config_path, char *p, size_t cap)
{
	char out[sizeof ((struct config *)0)->tls_ca];
	const char *slash = strrchr(config_path, '/');
	int n;
	if (p[0] == '\0' || p[0] == '/' || slash == NULL)
		return 0;
	n = snprintf(out, sizeof out, "%.*s/%s", (int)(slash - config_path), config_path, p);
	if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof out)
		return -1;
	memcpy(p, out, (size_t)n + 1);
	return 0;
}

int config_load(const char *path, struct config *cfg, char *errmsg, size_t errmsg_len)
{
	struct parse_ctx ctx = {.cfg = cfg, .errmsg = errmsg, .errmsg_len = errmsg_len};
	char detail[400] = "";
	int rv;

	config_defaults(cfg);
	ctx.errmsg = detail;
	ctx.errmsg_len = sizeof detail;
	rv = ini_parse(path, config_ini_cb, &ctx);
	if (rv == -1) {
		snprintf(errmsg, errmsg_len, "config '%s': cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (rv != 0) {
		if (detail[0])
			snprintf(errmsg, errmsg_len, "config '%s': line %d: %s", path, rv, detail);
		else
			snprintf(errmsg, errmsg_len, "config '%s': line %d: syntax error", path, rv);
		return -1;
	}
	if (cfg->quota_mb == 0)
		cfg->quota_mb = cfg->map_size_mb / CALLRAFT_QUOTA_MAP_DIVISOR_DEFAULT;
	config_derive_timeouts(cfg);
	if (config_check(cfg, detail, sizeof detail) != 0) {
		snprintf(errmsg, errmsg_len, "config '%s': %s", path, detail);
		return -1;
	}
	if (tls_path_resolve(path, cfg->tls_ca, sizeof cfg->tls_ca) != 0 ||
	    tls_path_resolve(path, cfg->tls_cert, sizeof cfg->tls_cert) != 0 ||
	    tls_path_resolve(path, cfg->tls_key, sizeof cfg->tls_key) != 0) {
		snprintf(errmsg, errmsg_len, "config '%s': [tls]: a path is too long once made absolute", path);
		return -1;
	}
	if (strcmp(cfg->log_level, "debug") && strcmp(cfg->log_level, "info") &&
	    strcmp(cfg->log_level, "warn") && strcmp(cfg->log_level, "error")) {
		snprintf(errmsg, errmsg_len, "config '%s': [log] level: '%s' is not debug, info, warn or error",
			 path, cfg->log_level);
		return -1;
	}
	return 0;
}
