/* test_state_tokens.c: bearer tokens in the state (state/tokens.c, issue 13): issue, find by hash,
 * list without hashes, revoke, refusals (duplicate, past expiry, bad roles, a hash that is not
 * one), expired tokens dropped at the next issue, the live-token limit. The fixture is
 * test_state_routing.c's (state_check after every command). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "state.h"
#include "state_internal.h"

#define STATE_FIXTURE_NAME "test_state_tokens"
#include "state_fixture.h"

static char *ROLES_SUP[] = {"supervisor"};

/* A token issue of hash byte `h`, expiring `ttl_ms` after the fixture's time. */
static Callraft__Reply *issue(struct fx *f, uint8_t h, int64_t ttl_ms, char **roles, size_t n_roles)
{
	Callraft__TokenIssue op = CALLRAFT__TOKEN_ISSUE__INIT;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	uint8_t hash[CALLRAFT_TOKEN_HASH_BYTES];

	memset(hash, h, sizeof hash);
	op.name = "wallboard";
	op.roles = roles;
	op.n_roles = n_roles;
	op.expires_ms = f->time_ms + ttl_ms;
	op.hash.data = hash;
	op.hash.len = sizeof hash;
	cmd.op_case = CALLRAFT__COMMAND__OP_TOKEN_ISSUE;
	cmd.token_issue = &op;
	cmd.actor = "cert:admin";
	return run(f, &cmd);
}

static Callraft__Code issue_code(struct fx *f, uint8_t h, int64_t ttl_ms)
{
	Callraft__Reply *r = issue(f, h, ttl_ms, ROLES_SUP, 1);
	Callraft__Code code = r->code;
	callraft__reply__free_unpacked(r, NULL);
	return code;
}

static int find(struct fx *f, uint8_t h, uint64_t *id)
{
	uint8_t hash[CALLRAFT_TOKEN_HASH_BYTES];
	Callraft__Token *t;
	char err[256];

	memset(hash, h, sizeof hash);
	int rc = state_token_find(f->s, hash, &t, err, sizeof err);
	if (rc == 0) {
		*id = t->id;
		assert_string_equal(t->issued_by, "cert:admin");
		callraft__token__free_unpacked(t, NULL);
	}
	return rc;
}

static Callraft__Code revoke(struct fx *f, uint64_t id)
{
	Callraft__TokenRevoke op = CALLRAFT__TOKEN_REVOKE__INIT;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;

	op.id = id;
	cmd.op_case = CALLRAFT__COMMAND__OP_TOKEN_REVOKE;
	cmd.token_revoke = &op;
	Callraft__Reply *r = run(f, &cmd);
	Callraft__Code code = r->code;
	callraft__reply__free_unpacked(r, NULL);
	return code;
}

static void issue_find_list_revoke(void **state)
{
	struct fx *f = *state;
	uint64_t id = 0;

	Callraft__Reply *r = issue(f, 0xA1, 3600000, ROLES_SUP, 1);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_non_null(r->token);
	assert_int_equal(r->token->id, 1);
	assert_int_equal(r->token->hash.len, 0); /* a reply never carries the hash */
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(find(f, 0xA1, &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(find(f, 0xB2, &id), 1);
	/* The same hash again: refused. */
	assert_int_equal(issue_code(f, 0xA1, 3600000), CALLRAFT__CODE__ALREADY_EXISTS);

	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__TokenList tl = CALLRAFT__TOKEN_LIST__INIT;
	q.op_case = CALLRAFT__REQUEST__OP_TOKEN_LIST;
	q.token_list = &tl;
	r = read_req(f, &q);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->n_tokens, 1);
	assert_string_equal(r->tokens[0]->name, "wallboard");
	assert_int_equal(r->tokens[0]->hash.len, 0);
	callraft__reply__free_unpacked(r, NULL);

	assert_int_equal(revoke(f, 1), CALLRAFT__CODE__OK);
	assert_int_equal(find(f, 0xA1, &id), 1);
	assert_int_equal(revoke(f, 1), CALLRAFT__CODE__NOT_FOUND);
}

static void bad_issues_are_refused(void **state)
{
	struct fx *f = *state;
	char *bad_roles[] = {"root"};

	assert_int_equal(issue_code(f, 1, 0), CALLRAFT__CODE__INVALID_ARGUMENT); /* expires now */
	Callraft__Reply *r = issue(f, 2, 1000, bad_roles, 1);
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(r->message, "'root' is not agent"));
	callraft__reply__free_unpacked(r, NULL);
	r = issue(f, 3, 1000, NULL, 0);
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	callraft__reply__free_unpacked(r, NULL);
	/* A hash of another length. */
	Callraft__TokenIssue op = CALLRAFT__TOKEN_ISSUE__INIT;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	char msg[256];
	op.name = "x";
	op.roles = ROLES_SUP;
	op.n_roles = 1;
	op.expires_ms = 1;
	op.hash.data = (uint8_t *)"short";
	op.hash.len = 5;
	cmd.op_case = CALLRAFT__COMMAND__OP_TOKEN_ISSUE;
	cmd.token_issue = &op;
	assert_int_equal(state_validate(&cmd, msg, sizeof msg), CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "hash"));
	uint64_t id;
	for (uint8_t h = 1; h <= 3; h++)
		assert_int_equal(find(f, h, &id), 1); /* nothing stored */
}

/* Tokens past their expiry (FSM time) are dropped when another is issued; at most
 * CALLRAFT_TOKENS_MAX live ones. */
static void expired_tokens_are_dropped_and_live_ones_bounded(void **state)
{
	struct fx *f = *state;
	uint64_t id;

	assert_int_equal(issue_code(f, 1, 1000), CALLRAFT__CODE__OK);
	f->time_ms += 2000;
	assert_int_equal(issue_code(f, 2, 3600000), CALLRAFT__CODE__OK);
	assert_int_equal(find(f, 1, &id), 1); /* expired: gone */
	assert_int_equal(find(f, 2, &id), 0);
	for (unsigned h = 3; h < 2 + CALLRAFT_TOKENS_MAX; h++) {
		uint8_t hash_byte = (uint8_t)h;
		assert_int_equal(issue_code(f, hash_byte, 3600000), CALLRAFT__CODE__OK);
	}
	Callraft__Reply *r = issue(f, 0xFF, 3600000, ROLES_SUP, 1);
	assert_int_equal(r->code, CALLRAFT__CODE__RESOURCE_EXHAUSTED);
	assert_non_null(strstr(r->message, "revoke some"));
	callraft__reply__free_unpacked(r, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(issue_find_list_revoke),
		FX_TEST(bad_issues_are_refused),
		FX_TEST(expired_tokens_are_dropped_and_live_ones_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
