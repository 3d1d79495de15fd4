/* config.h: callraftd's configuration file (INI, parsed with libinih).
 *
 *   [node]
 *   id = 1                            ; > 0, never reused
 *   site = tehran                     ; [A-Za-z0-9._-]
 *   raft_address = 10.0.1.11:7001     ; peers connect here
 *   client_address = 10.0.1.11:8001   ; clients (PBX, desktops, CLI) connect here
 *   http_address = 10.0.1.11:8080     ; optional: the HTTP/JSON API (node/http.h); absent: none
 *   data_dir = /var/lib/callraft      ; raft/ and state/ live below
 *   witness = false                   ; true: a full replica that hands leadership away when elected
 *
 *   [raft]                            ; all optional
 *   heartbeat_timeout_ms = 100
 *   election_timeout_ms = 1000
 *   site_rtt_ms = 20                  ; longest round trip between voters' sites: the two timeouts
 *                                     ; above, unless given, derive from it (callraft_timing.h)
 *   home_site = tehran                ; leadership returns to this site when it is healthy (home.c)
 *   snapshot_threshold = 4096         ; entries between snapshots
 *   snapshot_trailing = 8192          ; entries kept after a snapshot (>= threshold)
 *   install_snapshot_timeout_ms = 60000
 *
 *   [state]
 *   map_size_mb = 8192
 *   quota_mb = 2048                   ; logical bytes the state may hold (quota.c); default
 *                                     ; map_size_mb / 4, at most map_size_mb / 4
 *   sync = false                      ; LMDB fsync per apply; false relies on the Raft log
 *                                     ; (docs/design.md, "MDB_NOSYNC and the boot-id rebuild")
 *
 *   [client]                          ; all optional (limits: proto/callraft_limits.h)
 *   idle_timeout_ms = 300000          ; close connections idle this long
 *   frame_timeout_ms = 10000          ; a frame must arrive whole within this long
 *   connections_per_source = 1024     ; client connections from one address
 *
 *   [log]
 *   level = info
 *   format = text                     ; text (key=value lines) or json (node/log.h)
 *
 *   [tls]                             ; required unless insecure = true (docs/security.md)
 *   ca = certs/ca.crt                 ; the cluster CA; relative paths are from the config's directory
 *   cert = certs/node1.crt            ; this node's certificate (callraft:node:<id>, its hosts' SANs)
 *   key = certs/node1.key
 *   insecure = false                  ; true: plain TCP for peers and clients, no identities or roles
 *
 *   [member 1]                        ; the initial members, one section each (ids > 0)
 *   site = tehran
 *   raft_address = 10.0.1.11:7001
 *   client_address = 10.0.1.11:8001
 *   http_address = 10.0.1.11:8080     ; optional; recorded in the members table for clients
 *
 * Every error names the file, line or key and what is wrong; nothing starts on a bad config. */
#ifndef CALLRAFT_CONFIG_H
#define CALLRAFT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "callraft_limits.h"
#include "callraft_timing.h"

struct config_member {
	uint64_t id;
	char site[CALLRAFT_SITE_BYTES_MAX + 1];
	char raft_address[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	char client_address[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	char http_address[CALLRAFT_ADDRESS_BYTES_MAX + 1]; /* "" if the member serves no HTTP */
};

struct config {
	uint64_t id;
	char site[CALLRAFT_SITE_BYTES_MAX + 1];
	char raft_address[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	char client_address[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	char http_address[CALLRAFT_ADDRESS_BYTES_MAX + 1]; /* "": no HTTP listener */
	char data_dir[512];
	bool witness;
	unsigned heartbeat_timeout_ms;
	unsigned election_timeout_ms;
	unsigned site_rtt_ms;            /* 0: not given; else the timeouts derive from it */
	char home_site[CALLRAFT_SITE_BYTES_MAX + 1]; /* "": leadership stays where it is (home.c) */
	bool heartbeat_set, election_set; /* given in the file: site_rtt_ms does not override them */
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	unsigned install_snapshot_timeout_ms;
	uint64_t map_size_mb;
	uint64_t quota_mb;            /* 0 in the file means the default: map_size_mb / 4 */
	bool state_sync;
	unsigned client_idle_timeout_ms;
	unsigned client_frame_timeout_ms;
	unsigned client_connections_per_source;
	char log_level[16];
	char log_format[8];      /* [log] format: "text" (key=value) or "json" (node/log.h) */
	char tls_ca[512];   /* absolute paths once loaded */
	char tls_cert[512];
	char tls_key[512];
	bool insecure;      /* [tls] insecure = true: no TLS at all (tests, labs that say so) */
	struct config_member members[CALLRAFT_MEMBERS_MAX];
	unsigned n_members;
};

/* Loads and validates `path`. Returns 0, or -1 with errmsg like
 * "config 'node.ini': line 4: [node] id: 'abc' is not a positive integer". */
int config_load(const char *path, struct config *cfg, char *errmsg, size_t errmsg_len);

/* Validates a "host:port" string (port 1..65535, host non-empty). */
bool config_address_valid(const char *address);

#endif
