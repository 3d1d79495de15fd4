/* test_state_site_scope.c: a site-limited actor acts on its own site's calls and agents only
 * (state/site_scope.c, issue 13). An agent or pbx certificate of Tehran (Command.actor_site
 * "tehran", stamped by the node) cannot move a Shiraz agent or a call that arrived at Shiraz; the
 * refusal is PERMISSION_DENIED naming the object, its site and the limit, and changes nothing.
 * Reads (call show, agent show) are limited the same way. The fixture is test_state_routing.c's. */
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

#define STATE_FIXTURE_NAME "test_state_site_scope"
#include "state_fixture.h"

#define TEHRAN_DESK "cert:desk-tehran"

/* Runs `cmd` as the Tehran-limited actor; checks the code and, for a refusal, the message. */
static void as_tehran(struct fx *f, Callraft__Command *cmd, Callraft__Code want, const char *says)
{
	cmd->actor = TEHRAN_DESK;
	cmd->actor_site = "tehran";
	Callraft__Reply *r = run(f, cmd);
	if (r->code != want)
		fail_msg("%s: code %d, want %d: %s", validate_op_name(cmd), r->code, want, r->message);
	if (says != NULL && strstr(r->message, says) == NULL)
		fail_msg("%s: message '%s' does not say '%s'", validate_op_name(cmd), r->message, says);
	callraft__reply__free_unpacked(r, NULL);
}

/* A Tehran and a Shiraz agent, a call waiting at each site (set up by an unlimited actor). */
static void two_sites(struct fx *f)
{
	struct cb b;

	register_client(f);
	OK(f, c_login(&b, "a-teh", "tehran"));
	OK(f, c_login(&b, "a-shz", "shiraz"));
	OK(f, c_enqueue(&b, "c-shz", "shiraz", 0, "+987100000001", "cust-1"));
	OK(f, c_enqueue(&b, "c-teh", "tehran", 0, "+982100000001", "cust-2"));
}

static Callraft__Reply *show(struct fx *f, bool call, const char *id, const char *site)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__CallShow cs = CALLRAFT__CALL_SHOW__INIT;
	Callraft__AgentShow as = CALLRAFT__AGENT_SHOW__INIT;

	if (call) {
		cs.call_id = (char *)id;
		q.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
		q.call_show = &cs;
	} else {
		as.agent_id = (char *)id;
		q.op_case = CALLRAFT__REQUEST__OP_AGENT_SHOW;
		q.agent_show = &as;
	}
	q.actor = TEHRAN_DESK;
	q.actor_site = (char *)site;
	return read_req(f, &q);
}

/* Commands naming another site's agent are refused and change nothing. */
static void another_sites_agent_is_out_of_reach(void **state)
{
	struct fx *f = *state;
	struct cb b;

	two_sites(f);
	as_tehran(f, c_heartbeat(&b, "a-shz"), CALLRAFT__CODE__PERMISSION_DENIED,
		  "agent_heartbeat: agent 'a-shz' is of site 'shiraz'; 'cert:desk-tehran' is limited "
		  "to site 'tehran'");
	as_tehran(f, c_logout(&b, "a-shz"), CALLRAFT__CODE__PERMISSION_DENIED, "limited to site");
	as_tehran(f, c_next(&b, "a-shz"), CALLRAFT__CODE__PERMISSION_DENIED, "agent 'a-shz'");
	SET_OP(&b, AGENT_SET_STATE, agent_set_state, ss, CALLRAFT__AGENT_SET_STATE__INIT);
	b.op.ss.agent_id = "a-shz";
	b.op.ss.state = CALLRAFT__AGENT_STATE__BREAK;
	as_tehran(f, &b.cmd, CALLRAFT__CODE__PERMISSION_DENIED, "agent 'a-shz'");
	/* Nothing changed: the agent is still available, both calls still wait. */
	assert_int_equal(agent_state(f, "a-shz"), CALLRAFT__AGENT_STATE__AVAILABLE);
	assert_int_equal(call_state(f, "c-shz"), CALLRAFT__CALL_STATE__WAITING);
	assert_int_equal(call_state(f, "c-teh"), CALLRAFT__CALL_STATE__WAITING);
	/* Its own site's agent: allowed. */
	as_tehran(f, c_heartbeat(&b, "a-teh"), CALLRAFT__CODE__OK, NULL);
	SET_OP(&b, AGENT_SET_STATE, agent_set_state, ss, CALLRAFT__AGENT_SET_STATE__INIT);
	b.op.ss.agent_id = "a-teh";
	b.op.ss.state = CALLRAFT__AGENT_STATE__BREAK;
	as_tehran(f, &b.cmd, CALLRAFT__CODE__OK, NULL);
	/* An agent that does not exist: the operation's own answer, as for anyone. */
	as_tehran(f, c_heartbeat(&b, "a-nobody"), CALLRAFT__CODE__NOT_FOUND, NULL);
	/* An unlimited actor (supervisor, admin: no actor_site) reaches every site. */
	OK(f, c_heartbeat(&b, "a-shz"));
}

/* A call named by id alone (abandon) must have arrived at the actor's site, or be held by one
 * of its agents; a call offered to a Shiraz agent cannot be answered by Tehran either. */
static void another_sites_call_is_out_of_reach(void **state)
{
	struct fx *f = *state;
	uint64_t term = 0, index = 0;
	struct cb b;

	two_sites(f);
	as_tehran(f, c_abandon(&b, "c-shz"), CALLRAFT__CODE__PERMISSION_DENIED,
		  "call_abandon: call 'c-shz' arrived at site 'shiraz'; 'cert:desk-tehran' is limited "
		  "to site 'tehran'");
	assert_int_equal(call_state(f, "c-shz"), CALLRAFT__CALL_STATE__WAITING);
	/* Shiraz's agent takes its call; Tehran cannot answer or end it in that agent's name. */
	const char *id = next(f, "a-shz", &term, &index, NULL);
	assert_string_equal(id, "c-shz");
	as_tehran(f, c_answer(&b, "c-shz", "a-shz", term, index), CALLRAFT__CODE__PERMISSION_DENIED,
		  "agent 'a-shz' is of site 'shiraz'");
	as_tehran(f, c_end(&b, "c-shz", "a-shz"), CALLRAFT__CODE__PERMISSION_DENIED, "a-shz");
	as_tehran(f, c_reject(&b, "c-shz", "a-shz", term, index), CALLRAFT__CODE__PERMISSION_DENIED,
		  "a-shz");
	assert_int_equal(call_state(f, "c-shz"), CALLRAFT__CALL_STATE__OFFERED);
	assert_int_equal(agent_state(f, "a-shz"), CALLRAFT__AGENT_STATE__ON_CALL);
	/* Its own site's call: abandoned. */
	as_tehran(f, c_abandon(&b, "c-teh"), CALLRAFT__CODE__OK, NULL);
	assert_int_equal(call_state(f, "c-teh"), CALLRAFT__CALL_STATE__ABANDONED);
}

/* An overflow call (arrived at Shiraz) held by a Tehran agent is Tehran's to act on too. */
static void overflow_call_held_by_own_agent_is_in_reach(void **state)
{
	struct fx *f = *state;
	struct cb b;

	register_client(f);
	OK(f, c_qconf(&b, 0, -1, -1, -1, -1)); /* callers of another site eligible at once */
	OK(f, c_login(&b, "a-teh", "tehran"));
	OK(f, c_enqueue(&b, "c-shz", "shiraz", 0, "+987100000001", "cust-1"));
	f->time_ms += 1000;
	Callraft__Command *cmd = c_next(&b, "a-teh");
	cmd->actor = TEHRAN_DESK;
	cmd->actor_site = "tehran";
	Callraft__Reply *r = run(f, cmd);
	if (r->code != CALLRAFT__CODE__OK)
		fail_msg("call next: %d %s", r->code, r->message);
	assert_string_equal(r->call->call_id, "c-shz");
	callraft__reply__free_unpacked(r, NULL);
	/* Offered to Tehran's agent: Tehran may read it and report the caller gone. */
	Callraft__Reply *s = show(f, true, "c-shz", "tehran");
	assert_int_equal(s->code, CALLRAFT__CODE__OK);
	callraft__reply__free_unpacked(s, NULL);
	as_tehran(f, c_abandon(&b, "c-shz"), CALLRAFT__CODE__OK, NULL);
	assert_int_equal(call_state(f, "c-shz"), CALLRAFT__CALL_STATE__ABANDONED);
}

/* call show and agent show of another site's objects are refused; its own are served. */
static void reads_are_limited_too(void **state)
{
	struct fx *f = *state;
	Callraft__Reply *r;

	two_sites(f);
	r = show(f, true, "c-shz", "tehran");
	assert_int_equal(r->code, CALLRAFT__CODE__PERMISSION_DENIED);
	assert_null(r->call);
	assert_non_null(strstr(r->message, "call_show: call 'c-shz' arrived at site 'shiraz'"));
	callraft__reply__free_unpacked(r, NULL);
	r = show(f, false, "a-shz", "tehran");
	assert_int_equal(r->code, CALLRAFT__CODE__PERMISSION_DENIED);
	assert_null(r->agent);
	callraft__reply__free_unpacked(r, NULL);
	r = show(f, true, "c-teh", "tehran");
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_non_null(r->call);
	callraft__reply__free_unpacked(r, NULL);
	r = show(f, false, "a-shz", ""); /* unlimited */
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	callraft__reply__free_unpacked(r, NULL);
}

/* The creates whose id the client chooses (call enqueue, callback schedule, callback voicemail)
 * answer an existing id with the existing call: under another site's call id they would hand a
 * Tehran certificate Shiraz's caller number and customer. Refused, no call in the reply, nothing
 * changed; its own site's retry still gets its call back, a new id is created as before. */
static void idempotent_creates_do_not_show_another_sites_call(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;

	two_sites(f);
	c_enqueue(&b, "c-shz", "tehran", 0, "+982100000009", "cust-9");
	b.cmd.actor = TEHRAN_DESK;
	b.cmd.actor_site = "tehran";
	r = run(f, &b.cmd);
	assert_int_equal(r->code, CALLRAFT__CODE__PERMISSION_DENIED);
	assert_null(r->call);
	assert_non_null(strstr(r->message, "call_enqueue: call 'c-shz' arrived at site 'shiraz'; "
					   "'cert:desk-tehran' is limited to site 'tehran'"));
	callraft__reply__free_unpacked(r, NULL);
	SET_OP(&b, CALLBACK_SCHEDULE, callback_schedule, cbs, CALLRAFT__CALLBACK_SCHEDULE__INIT);
	b.op.cbs.callback_id = "c-shz";
	b.op.cbs.customer_id = "cust-9";
	b.op.cbs.number = "+982100000009";
	b.op.cbs.queue = "sales";
	b.op.cbs.at_ms = f->time_ms + 60000;
	b.cmd.actor = TEHRAN_DESK;
	b.cmd.actor_site = "tehran";
	r = run(f, &b.cmd);
	if (r->code != CALLRAFT__CODE__PERMISSION_DENIED)
		fail_msg("callback_schedule: %d %s", r->code, r->message);
	assert_null(r->call);
	callraft__reply__free_unpacked(r, NULL);
	SET_OP(&b, CALLBACK_VOICEMAIL, callback_voicemail, vm, CALLRAFT__CALLBACK_VOICEMAIL__INIT);
	b.op.vm.callback_id = "c-shz";
	b.op.vm.customer_id = "cust-9";
	b.op.vm.number = "+982100000009";
	b.op.vm.queue = "sales";
	b.op.vm.site = "tehran";
	b.cmd.actor = TEHRAN_DESK;
	b.cmd.actor_site = "tehran";
	r = run(f, &b.cmd);
	if (r->code != CALLRAFT__CODE__PERMISSION_DENIED)
		fail_msg("callback_voicemail: %d %s", r->code, r->message);
	assert_null(r->call);
	callraft__reply__free_unpacked(r, NULL);
	/* Shiraz's call as it was: its caller, customer and site. */
	Callraft__Reply *s = show(f, true, "c-shz", "");
	assert_int_equal(s->code, CALLRAFT__CODE__OK);
	assert_string_equal(s->call->caller_number, "+987100000001");
	assert_string_equal(s->call->customer_id, "cust-1");
	assert_string_equal(s->call->arrival_site, "shiraz");
	assert_int_equal(s->call->state, CALLRAFT__CALL_STATE__WAITING);
	callraft__reply__free_unpacked(s, NULL);
	/* Tehran's own call under its id: the existing call, as for anyone; a new id: created. */
	c_enqueue(&b, "c-teh", "tehran", 0, "+982100000001", "cust-2");
	b.cmd.actor = TEHRAN_DESK;
	b.cmd.actor_site = "tehran";
	r = run(f, &b.cmd);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_non_null(r->call);
	assert_string_equal(r->call->call_id, "c-teh");
	callraft__reply__free_unpacked(r, NULL);
	as_tehran(f, c_enqueue(&b, "c-teh-2", "tehran", 0, "+982100000002", "cust-3"),
		  CALLRAFT__CODE__OK, NULL);
	assert_int_equal(call_state(f, "c-teh-2"), CALLRAFT__CALL_STATE__WAITING);
}

/* A login of an agent logged in at another site is refused without that agent's record (the
 * operation's ALREADY_EXISTS carries it); once the agent is OFFLINE, Tehran may log it in. */
static void login_of_another_sites_agent(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;

	two_sites(f);
	c_login(&b, "a-shz", "tehran");
	b.cmd.actor = TEHRAN_DESK;
	b.cmd.actor_site = "tehran";
	r = run(f, &b.cmd);
	if (r->code != CALLRAFT__CODE__PERMISSION_DENIED)
		fail_msg("agent_login: %d %s", r->code, r->message);
	assert_null(r->agent);
	assert_non_null(strstr(r->message, "agent_login: agent 'a-shz' is logged in at site "
					   "'shiraz'; 'cert:desk-tehran' is limited to site 'tehran'"));
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(agent_state(f, "a-shz"), CALLRAFT__AGENT_STATE__AVAILABLE);
	Callraft__Reply *s = show(f, false, "a-shz", "");
	assert_string_equal(s->agent->site, "shiraz");
	callraft__reply__free_unpacked(s, NULL);
	/* Logged out (by an unlimited actor): Tehran may log it in at Tehran. */
	OK(f, c_logout(&b, "a-shz"));
	as_tehran(f, c_login(&b, "a-shz", "tehran"), CALLRAFT__CODE__OK, NULL);
	s = show(f, false, "a-shz", "tehran");
	assert_int_equal(s->code, CALLRAFT__CODE__OK);
	assert_string_equal(s->agent->site, "tehran");
	callraft__reply__free_unpacked(s, NULL);
}

/* actor and actor_site are validated like every field (they come from a node, still checked). */
static void actor_fields_are_validated(void **state)
{
	(void)state;
	struct cb b;
	char msg[256], longer[CALLRAFT_ACTOR_BYTES_MAX + 2];

	c_heartbeat(&b, "a-teh");
	b.cmd.actor = "cert:desk\x01";
	assert_int_equal(state_validate(&b.cmd, msg, sizeof msg), CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "actor"));
	memset(longer, 'a', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	b.cmd.actor = longer;
	assert_int_equal(state_validate(&b.cmd, msg, sizeof msg), CALLRAFT__CODE__INVALID_ARGUMENT);
	b.cmd.actor = "cert:Desk 7 (Tehran)";
	b.cmd.actor_site = "teh ran";
	assert_int_equal(state_validate(&b.cmd, msg, sizeof msg), CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "actor_site"));
	b.cmd.actor_site = "tehran";
	assert_int_equal(state_validate(&b.cmd, msg, sizeof msg), CALLRAFT__CODE__OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(another_sites_agent_is_out_of_reach, setup, teardown),
		cmocka_unit_test_setup_teardown(another_sites_call_is_out_of_reach, setup, teardown),
		cmocka_unit_test_setup_teardown(overflow_call_held_by_own_agent_is_in_reach, setup,
						teardown),
		cmocka_unit_test_setup_teardown(reads_are_limited_too, setup, teardown),
		cmocka_unit_test_setup_teardown(idempotent_creates_do_not_show_another_sites_call,
						setup, teardown),
		cmocka_unit_test_setup_teardown(login_of_another_sites_agent, setup, teardown),
		cmocka_unit_test(actor_fields_are_validated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
