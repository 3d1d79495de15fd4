/* test_config.c: callraftd's config file: valid files load with defaults, every kind of wrong file
 * is refused with a message naming the file, line or key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define GOOD_NO_TLS                                                                                \
	"[node]\n"                                                                                  \
	"id = 2\n"                                                                                  \
	"site = shiraz\n"                                                                           \
	"raft_address = 127.0.0.1:7002\n"                                                           \
	"client_address = 127.0.0.1:8002\n"                                                         \
	"data_dir = /tmp/x\n"                                                                       \
	"[member 1]\nsite = tehran\nraft_address = 127.0.0.1:7001\nclient_address = 127.0.0.1:8001\n" \
	"[member 2]\nsite = shiraz\nraft_address = 127.0.0.1:7002\nclient_address = 127.0.0.1:8002\n"


static const char *GOOD = GOOD_NO_TLS "[tls]\nca = certs/ca.crt\ncert = /etc/callraft/node2.crt\nkey = node2.key\n";

static char path[64];

static void write_file(const char *text)
{
	strcpy(path, "/tmp/callraft-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Loads `text` and expects failure with `needle` in the message. */
static void expect_error(const char *text, const char *needle)
{
	struct config cfg;
	char err[512] = "";
	write_file(text);
	assert_int_equal(config_load(path, &cfg, err, sizeof err), -1);
	unlink(path);
	if (strstr(err, needle) == NULL)
		fail_msg("error '%s' does not mention '%s'", err, needle);
	assert_non_null(strstr(err, "config '"));
}

static void good_config_loads_with_defaults(void **s)
{
	struct config cfg;
	char err[512] = "";
	(void)s;
	write_file(GOOD);
	assert_int_equal(config_load(path, &cfg, err, sizeof err), 0);
	unlink(path);
	assert_int_equal(cfg.id, 2);
	assert_string_equal(cfg.site, "shiraz");
	assert_int_equal(cfg.n_members, 2);
	assert_int_equal(cfg.members[0].id, 1);
	assert_string_equal(cfg.members[0].client_address, "127.0.0.1:8001");
	assert_int_equal(cfg.heartbeat_timeout_ms, 100);
	assert_int_equal(cfg.election_timeout_ms, 1000);
	assert_false(cfg.state_sync);
	assert_false(cfg.witness);
	/* Relative [tls] paths are taken from the config file's directory (mkstemp put it in /tmp). */
	assert_string_equal(cfg.tls_ca, "/tmp/certs/ca.crt");
	assert_string_equal(cfg.tls_cert, "/etc/callraft/node2.crt");
	assert_string_equal(cfg.tls_key, "/tmp/node2.key");
	assert_false(cfg.insecure);
}

static void tls_is_required_unless_insecure_is_said(void **s)
{
	struct config cfg;
	char err[512] = "";
	(void)s;
	expect_error(GOOD_NO_TLS, "[tls]: ca, cert and key are required");
	expect_error(GOOD_NO_TLS "[tls]\nca = a\ncert = b\n", "[tls]: ca, cert and key are required");
	expect_error(GOOD_NO_TLS "[tls]\ninsecure = false\n", "insecure = true");
	expect_error(GOOD_NO_TLS "[tls]\ninsecure = maybe\n", "[tls] insecure: invalid value");
	expect_error(GOOD_NO_TLS "[tls]\ninsecure = true\nca = a\n", "choose one");
	write_file(GOOD_NO_TLS "[tls]\ninsecure = true\n");
	assert_int_equal(config_load(path, &cfg, err, sizeof err), 0);
	unlink(path);
	assert_true(cfg.insecure);
	assert_string_equal(cfg.tls_ca, "");
}

static void missing_file_is_refused(void **s)
{
	struct config cfg;
	char err[512] = "";
	(void)s;
	assert_int_equal(config_load("/nonexistent/callraft.ini", &cfg, err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot open"));
}

static void unknown_key_names_section_and_key(void **s)
{
	char text[2048];
	(void)s;
	snprintf(text, sizeof text, "%s[raft]\nheartbeat_ms = 5\n", GOOD);
	expect_error(text, "[raft] heartbeat_ms: unknown key");
}

static void bad_values_are_refused(void **s)
{
	(void)s;
	expect_error("[node]\nid = abc\n", "[node] id: invalid value 'abc'");
	expect_error("[node]\nid = 0\n", "[node] id: invalid value '0'");
	expect_error("[node]\nraft_address = nohost\n", "raft_address: invalid value");
	expect_error("[node]\nclient_address = 1.2.3.4:99999\n", "client_address: invalid value");
	expect_error("[node]\nsite = two words\n", "site: invalid value");
	expect_error("[bogus]\nx = 1\n", "[bogus]: unknown section");
	expect_error("[member x]\nsite = a\n", "member id must be a positive integer");
	expect_error("this is not ini\n", "line 1");
}

static void missing_required_keys_are_named(void **s)
{
	(void)s;
	expect_error("[node]\nid = 1\n", "[node] site: missing");
	expect_error("[node]\nid = 1\nsite = a\nraft_address = h:1\nclient_address = h:2\ndata_dir = /x\n",
		     "no [member N] sections");
}

static void inconsistent_timeouts_are_refused(void **s)
{
	char text[2048];
	(void)s;
	snprintf(text, sizeof text, "%s[raft]\nheartbeat_timeout_ms = 1000\nelection_timeout_ms = 500\n", GOOD);
	expect_error(text, "heartbeat_timeout_ms (1000) must be >= 10 and below election_timeout_ms (500)");
	snprintf(text, sizeof text, "%s[raft]\nsnapshot_threshold = 100\nsnapshot_trailing = 10\n", GOOD);
	expect_error(text, "snapshot_trailing (10) must be >= snapshot_threshold (100)");
}

/* Loads GOOD with `raft` as its [raft] section; returns the timeouts. */
static void load_raft(const char *raft, unsigned *hb, unsigned *et)
{
	struct config cfg;
	char text[2048], err[512] = "";
	snprintf(text, sizeof text, "%s[raft]\n%s", GOOD, raft);
	write_file(text);
	if (config_load(path, &cfg, err, sizeof err) != 0)
		fail_msg("%s", err);
	unlink(path);
	*hb = cfg.heartbeat_timeout_ms;
	*et = cfg.election_timeout_ms;
}

static void timeouts_derive_from_the_site_round_trip_unless_given(void **s)
{
	unsigned hb, et;
	(void)s;
	load_raft("site_rtt_ms = 20\n", &hb, &et);
	assert_int_equal(hb, 50); /* 2.5 round trips */
	assert_int_equal(et, 300); /* six heartbeats */
	load_raft("site_rtt_ms = 80\n", &hb, &et);
	assert_int_equal(hb, 200);
	assert_int_equal(et, 1200);
	load_raft("site_rtt_ms = 2\n", &hb, &et); /* the floors */
	assert_int_equal(hb, 10);
	assert_int_equal(et, 300);
	load_raft("site_rtt_ms = 20\nelection_timeout_ms = 700\n", &hb, &et); /* given: kept */
	assert_int_equal(hb, 50);
	assert_int_equal(et, 700);
	load_raft("", &hb, &et); /* no round trip: the defaults */
	assert_int_equal(hb, 100);
	assert_int_equal(et, 1000);
	/* The witness waits twice as long before it campaigns, whether its timeout was derived,
	 * defaulted or set (one file template for every node). */
	load_raft("site_rtt_ms = 20\n[node]\nwitness = true\n", &hb, &et);
	assert_int_equal(hb, 50);
	assert_int_equal(et, 600);
	load_raft("[node]\nwitness = true\n", &hb, &et);
	assert_int_equal(hb, 100);
	assert_int_equal(et, 2000);
	load_raft("site_rtt_ms = 20\nelection_timeout_ms = 700\n[node]\nwitness = true\n", &hb, &et);
	assert_int_equal(et, 1400);
	char text[2048];
	snprintf(text, sizeof text, "%s[raft]\nsite_rtt_ms = 5000\n", GOOD);
	expect_error(text, "site_rtt_ms");
}

static void home_site_is_read(void **s)
{
	struct config cfg;
	char text[2048], err[512] = "";
	(void)s;
	snprintf(text, sizeof text, "%s[raft]\nhome_site = tehran\n", GOOD);
	write_file(text);
	assert_int_equal(config_load(path, &cfg, err, sizeof err), 0);
	unlink(path);
	assert_string_equal(cfg.home_site, "tehran");
	write_file(GOOD);
	assert_int_equal(config_load(path, &cfg, err, sizeof err), 0);
	unlink(path);
	assert_string_equal(cfg.home_site, "");
}

static void member_disagreeing_with_node_is_refused(void **s)
{
	(void)s;
	expect_error("[node]\nid = 1\nsite = a\nraft_address = h:1\nclient_address = h:2\ndata_dir = /x\n"
		     "[member 1]\nsite = b\nraft_address = h:1\nclient_address = h:2\n",
		     "differs from [node]");
	expect_error("[node]\nid = 1\nsite = a\nraft_address = h:1\nclient_address = h:2\ndata_dir = /x\n"
		     "[member 1]\nsite = a\nraft_address = h:1\nclient_address = h:2\n"
		     "[member 2]\nsite = a\nraft_address = h:1\nclient_address = h:3\n",
		     "raft_address 'h:1' used twice");
}

static void bad_log_level_is_refused(void **s)
{
	char text[2048];
	(void)s;
	snprintf(text, sizeof text, "%s[log]\nlevel = loud\n", GOOD);
	expect_error(text, "[log] level: 'loud'");
}

static void log_format_is_text_or_json(void **s)
{
	struct config cfg;
	char text[2048], err[512] = "";
	(void)s;
	write_file(GOOD);
	assert_int_equal(config_load(path, &cfg, err, sizeof err), 0);
	unlink(path);
	assert_string_equal(cfg.log_format, "text");
	snprintf(text, sizeof text, "%s[log]\nformat = json\n", GOOD);
	write_file(text);
	assert_int_equal(config_load(path, &cfg, err, sizeof err), 0);
	unlink(path);
	assert_string_equal(cfg.log_format, "json");
	snprintf(text, sizeof text, "%s[log]\nformat = xml\n", GOOD);
	expect_error(text, "[log] format: invalid value 'xml'");
}

/* Quotas and client limits (issue 13): defaults, the map margin, bounds. */
static void quota_and_client_limits(void **s)
{
	struct config cfg;
	char err[512] = "", text[1024];
	(void)s;
	write_file(GOOD);
	assert_int_equal(config_load(path, &cfg, err, sizeof err), 0);
	unlink(path);
	assert_int_equal(cfg.quota_mb, cfg.map_size_mb / CALLRAFT_QUOTA_MAP_FACTOR);
	assert_int_equal(cfg.client_idle_timeout_ms, CALLRAFT_CONN_IDLE_MS_DEFAULT);
	assert_int_equal(cfg.client_frame_timeout_ms, CALLRAFT_CONN_FRAME_MS_DEFAULT);
	assert_int_equal(cfg.client_connections_per_source, CALLRAFT_CONNECTIONS_PER_SOURCE_DEFAULT);
	snprintf(text, sizeof text, "%s[state]\nmap_size_mb = 64\nquota_mb = 17\n", GOOD);
	expect_error(text, "quota_mb (17) must be at most map_size_mb / 4 (16)");
	snprintf(text, sizeof text, "%s[state]\nmap_size_mb = 64\nquota_mb = 16\n[client]\n"
		 "idle_timeout_ms = 1000\nframe_timeout_ms = 500\nconnections_per_source = 8\n", GOOD);
	write_file(text);
	assert_int_equal(config_load(path, &cfg, err, sizeof err), 0);
	unlink(path);
	assert_int_equal(cfg.quota_mb, 16);
	assert_int_equal(cfg.client_idle_timeout_ms, 1000);
	assert_int_equal(cfg.client_frame_timeout_ms, 500);
	assert_int_equal(cfg.client_connections_per_source, 8);
	snprintf(text, sizeof text, "%s[client]\nframe_timeout_ms = 5\n", GOOD);
	expect_error(text, "frame_timeout_ms");
	snprintf(text, sizeof text, "%s[client]\nconnections_per_source = 0\n", GOOD);
	expect_error(text, "connections_per_source");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_config_loads_with_defaults),
		cmocka_unit_test(tls_is_required_unless_insecure_is_said),
		cmocka_unit_test(missing_file_is_refused),
		cmocka_unit_test(unknown_key_names_section_and_key),
		cmocka_unit_test(bad_values_are_refused),
		cmocka_unit_test(missing_required_keys_are_named),
		cmocka_unit_test(inconsistent_timeouts_are_refused),
		cmocka_unit_test(timeouts_derive_from_the_site_round_trip_unless_given),
		cmocka_unit_test(home_site_is_read),
		cmocka_unit_test(member_disagreeing_with_node_is_refused),
		cmocka_unit_test(bad_log_level_is_refused),
		cmocka_unit_test(log_format_is_text_or_json),
		cmocka_unit_test(quota_and_client_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
