/* fuzz_state.c: see fuzz_state.h. */
#include "fuzz_state.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

void fuzz_state_apply(struct fuzz_state *f, Callraft__Command **cmds, size_t n)
{
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	struct state_replies out;
	char err[256];
	uint8_t *b;
	size_t len;

	e.format = CALLRAFT_ENTRY_FORMAT;
	e.time_ms = f->time_ms;
	e.term = 1;
	e.n_commands = n;
	e.commands = cmds;
	len = callraft__entry__get_packed_size(&e);
	b = malloc(len + 1);
	callraft__entry__pack(&e, b);
	if (state_apply(f->s, ++f->index, b, len, &out, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_state: seed apply %llu: %s\n", (unsigned long long)f->index, err);
		abort();
	}
	free(b);
	f->time_ms += 1000;
}

/* One command of client 1 with the next seq. */
static Callraft__Command *cmd_of(Callraft__Command *c, uint64_t *seq)
{
	c->client_id = 1;
	c->seq = ++*seq;
	return c;
}

static void seed(struct fuzz_state *f)
{
	Callraft__RegisterClient reg = CALLRAFT__REGISTER_CLIENT__INIT;
	Callraft__AgentLogin login = CALLRAFT__AGENT_LOGIN__INIT;
	Callraft__AgentSetState avail = CALLRAFT__AGENT_SET_STATE__INIT;
	Callraft__CallEnqueue enq = CALLRAFT__CALL_ENQUEUE__INIT;
	Callraft__CallNext next = CALLRAFT__CALL_NEXT__INIT;
	Callraft__TicketOpen topen = CALLRAFT__TICKET_OPEN__INIT;
	Callraft__Command c = CALLRAFT__COMMAND__INIT, *p = &c;
	char *skills[] = {"sales", "support"};
	char call_id[32], customer[32];
	uint64_t seq = 0;

	reg.name = "fuzz";
	c.op_case = CALLRAFT__COMMAND__OP_REGISTER_CLIENT;
	c.register_client = &reg;
	fuzz_state_apply(f, &p, 1); /* client 1 */
	c = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	login.agent_id = "ag-1";
	login.name = "Sara";
	login.site = "tehran";
	login.n_skills = 2;
	login.skills = skills;
	c.op_case = CALLRAFT__COMMAND__OP_AGENT_LOGIN;
	c.agent_login = &login;
	fuzz_state_apply(f, (p = cmd_of(&c, &seq), &p), 1);
	avail.agent_id = "ag-1";
	avail.state = CALLRAFT__AGENT_STATE__AVAILABLE;
	c.op_case = CALLRAFT__COMMAND__OP_AGENT_SET_STATE;
	c.agent_set_state = &avail;
	fuzz_state_apply(f, (p = cmd_of(&c, &seq), &p), 1);
	for (int i = 0; i < 4; i++) {
		snprintf(call_id, sizeof call_id, "pbx-%d", i);
		snprintf(customer, sizeof customer, "c-%d", i % 2);
		enq.call_id = call_id;
		enq.queue = i % 2 ? "support" : "sales";
		enq.caller_number = "+982155501001";
		enq.customer_id = customer;
		enq.tier = (uint32_t)i;
		enq.arrival_site = i % 2 ? "shiraz" : "tehran";
		c.op_case = CALLRAFT__COMMAND__OP_CALL_ENQUEUE;
		c.call_enqueue = &enq;
		fuzz_state_apply(f, (p = cmd_of(&c, &seq), &p), 1);
		topen.customer_id = customer;
		topen.call_id = call_id;
		topen.category = "complaint";
		topen.subject = "late delivery";
		topen.note = "called the dealer";
		c.op_case = CALLRAFT__COMMAND__OP_TICKET_OPEN;
		c.ticket_open = &topen;
		fuzz_state_apply(f, (p = cmd_of(&c, &seq), &p), 1);
	}
	next.agent_id = "ag-1";
	c.op_case = CALLRAFT__COMMAND__OP_CALL_NEXT;
	c.call_next = &next;
	fuzz_state_apply(f, (p = cmd_of(&c, &seq), &p), 1);
}

void fuzz_state_open(struct fuzz_state *f)
{
	struct state_options o = {.map_bytes = (size_t)256 << 20, .no_sync = true};
	const char *tmp = getenv("TMPDIR");
	char err[256];

	memset(f, 0, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "%s/callraft-fuzz.XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL || state_open(f->dir, &o, &f->s, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_state: open '%s': %s\n", f->dir, err);
		abort();
	}
	f->time_ms = 1700000000000ll;
	seed(f);
}

void fuzz_state_close(struct fuzz_state *f)
{
	state_close(f->s);
	f->s = NULL;
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}
