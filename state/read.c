/* read.c: state_read, the answers to read requests, from one LMDB read transaction (so a reply is
 * a consistent view at one applied index, which it reports in applied_index).
 *
 * Lists are bounded: `limit` 0 means CALLRAFT_LIST_LIMIT_DEFAULT and anything above
 * CALLRAFT_LIST_LIMIT_MAX is lowered to it (a wallboard asking for "everything" gets the most a
 * frame may carry, not an error); `total` always says how many matched. A page also ends before
 * its rows would pass CALLRAFT_REPLY_LIST_BYTES_MAX encoded (tickets with many notes), so a list
 * reply never exceeds the frame limit. ticket_list and customer_history then return next_cursor
 * (the key of the first row left out), which a request passes back as `cursor` for the next page;
 * total then counts from the cursor on. Orders:
 *   queue_show   service order (the order `call next` takes them), total = calls waiting
 *   ticket_list  a customer's tickets, oldest first
 *   agent_list   by agent id (optionally only one site's agents)
 *   members_list by member id
 *   customer_history  a customer's calls, callbacks, voicemails and tickets, oldest first
 *   site_list    by site name
 *   campaign_show  the campaign, and its released calls in list order (paged by cursor)
 *   campaign_list  by campaign id
 *   stats_get    see stats.c */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

struct read {
	struct state *s;
	MDB_txn *txn;
	Callraft__Reply *reply;
	char msg[STATE_MSG_BYTES_MAX];
	bool failed_alloc;
	char code[24]; /* ticket_show: the code in canonical form (ticket_code.c) */
};

/* A list: a walk over `db` from `prefix`, optionally through an index (values are keys of
 * `target`), optionally filtered. */
struct list_spec {
	enum state_db db;
	const void *prefix;
	size_t prefix_len;
	enum state_db target;         /* == db: values are the records themselves */
	const ProtobufCMessageDescriptor *desc;
	bool (*keep)(const ProtobufCMessage *m, const void *arg);
	const void *keep_arg;
	uint32_t limit;
	bool stop_at_limit; /* stop walking at `limit` (the caller sets total some other way) */
	const ProtobufCBinaryData *cursor; /* start here (a key under prefix), or NULL / empty */
	ProtobufCBinaryData *next_cursor;  /* set to the first key left out, or NULL: no paging */
};

static void read_fail(struct read *r, Callraft__Code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void free_items(ProtobufCMessage **items, size_t n);

static void read_fail(struct read *r, Callraft__Code code, const char *fmt, ...)
{
	va_list ap;

	r->reply->code = code;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof r->msg, fmt, ap);
	va_end(ap);
	r->reply->message = r->msg;
}

static uint32_t list_limit(uint32_t asked)
{
	if (asked == 0)
		return CALLRAFT_LIST_LIMIT_DEFAULT;
	return asked > CALLRAFT_LIST_LIMIT_MAX ? CALLRAFT_LIST_LIMIT_MAX : asked;
}

/* Unpacks the record a list entry stands for (NULL if missing or unreadable, noted in r->msg). */
static ProtobufCMessage *list_record(struct read *r, const struct list_spec *ls, MDB_val *v)
{
	ProtobufCMessage *m = NULL;
	char errmsg[256];

	if (ls->target == ls->db)
		m = protobuf_c_message_unpack(ls->desc, NULL, v->mv_size, v->mv_data);
	else if (store_get(r->s, r->txn, ls->target, v->mv_data, v->mv_size, ls->desc, &m,
			   state_db_names[ls->target], "", errmsg, sizeof errmsg) != 0)
		m = NULL;
	if (m == NULL)
		read_fail(r, CALLRAFT__CODE__INTERNAL, "state: %s: an entry does not resolve to a record",
			  state_db_names[ls->db]);
	return m;
}

/* Notes the first key a page leaves out (once), for the reply's next_cursor. */
static void list_note_next(struct read *r, const struct list_spec *ls, const MDB_val *k)
{
	if (ls->next_cursor == NULL || ls->next_cursor->len != 0)
		return;
	ls->next_cursor->data = malloc(k->mv_size);
	if (ls->next_cursor->data == NULL) {
		r->failed_alloc = true;
		return;
	}
	memcpy(ls->next_cursor->data, k->mv_data, k->mv_size);
	ls->next_cursor->len = k->mv_size;
}

/* Walks the list from its cursor (or its start); fills items (malloc'd array of unpacked records,
 * at most limit, at most CALLRAFT_REPLY_LIST_BYTES_MAX encoded) and total. */
static int list_walk(struct read *r, const struct list_spec *ls, ProtobufCMessage ***items,
		     size_t *n, uint64_t *total)
{
	MDB_cursor *cur;
	MDB_val k = {ls->prefix_len, (void *)ls->prefix}, v;
	size_t bytes = 0;
	bool full = false; /* the page is complete (limit or byte budget): count only */
	int rc = mdb_cursor_open(r->txn, r->s->dbi[ls->db], &cur);

	*items = NULL;
	*n = 0;
	*total = 0;
	if (rc != 0) {
		read_fail(r, CALLRAFT__CODE__INTERNAL, "state: list %s: %s", state_db_names[ls->db],
			  mdb_strerror(rc));
		return -1;
	}
	*items = malloc(ls->limit * sizeof **items);
	if (*items == NULL) {
		r->failed_alloc = true;
		mdb_cursor_close(cur);
		return -1;
	}
	if (ls->cursor != NULL && ls->cursor->len > 0)
		k = (MDB_val){ls->cursor->len, ls->cursor->data};
	for (rc = mdb_cursor_get(cur, &k, &v, k.mv_size > 0 ? MDB_SET_RANGE : MDB_FIRST);
	     rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < ls->prefix_len || memcmp(k.mv_data, ls->prefix, ls->prefix_len) != 0)
			break;
		if (ls->keep == NULL && (*n >= ls->limit || full)) {
			list_note_next(r, ls, &k);
			if (ls->stop_at_limit)
				break;
			(*total)++; /* counting only */
			continue;
		}
		ProtobufCMessage *m = list_record(r, ls, &v);
		if (m == NULL)
			break;
		if (ls->keep != NULL && !ls->keep(m, ls->keep_arg)) {
			protobuf_c_message_free_unpacked(m, NULL);
			continue;
		}
		(*total)++;
		/* A row's share of the reply: its encoding and its tag and length (<= 10 bytes). */
		size_t row = protobuf_c_message_get_packed_size(m) + 10;
		if (*n < ls->limit && !full && (*n == 0 || bytes + row <= CALLRAFT_REPLY_LIST_BYTES_MAX)) {
			(*items)[(*n)++] = m;
			bytes += row;
			continue;
		}
		full = true;
		list_note_next(r, ls, &k);
		protobuf_c_message_free_unpacked(m, NULL);
		if (ls->stop_at_limit)
			break;
	}
	mdb_cursor_close(cur);
	return r->reply->code == CALLRAFT__CODE__OK ? 0 : -1;
}

static bool agent_at_site(const ProtobufCMessage *m, const void *site)
{
	return strcmp(((const Callraft__Agent *)m)->site, site) == 0;
}

/* ---- per request ------------------------------------------------------------------------ */

static void r_show(struct read *r, enum state_db db, const char *what, const char *id,
		   const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
	char errmsg[256];
	int rc = store_get(r->s, r->txn, db, id, strlen(id), desc, out, what, id, errmsg,
			   sizeof errmsg);

	if (rc == 1)
		read_fail(r, CALLRAFT__CODE__NOT_FOUND, "%s '%s': not found", what, id);
	else if (rc < 0)
		read_fail(r, CALLRAFT__CODE__INTERNAL, "%s", errmsg);
}

/* A waiting call's place in its queue's routing order, at FSM time (queue_rank.c). */
static void r_call_position(struct read *r, const Callraft__Call *call)
{
	struct apply_ctx c;
	Callraft__QueueConfig cfg;
	uint64_t now = 0;
	char errmsg[256];
	int rc;

	memset(&c, 0, sizeof c);
	c.s = r->s;
	c.txn = r->txn;
	c.errmsg = errmsg;
	c.errmsg_len = sizeof errmsg;
	if (store_meta_get(r->s, r->txn, META_TIME, &now, errmsg, sizeof errmsg) != 0 ||
	    route_queue_config(&c, call->queue, &cfg) != 0) {
		read_fail(r, CALLRAFT__CODE__INTERNAL, "%s", errmsg);
		return;
	}
	rc = queue_position(r->s, r->txn, (int64_t)now, call, &cfg,
			    route_effective_priority(call, &cfg, (int64_t)now),
			    &r->reply->queue_position);
	if (rc == 0)
		rc = queue_wait_expected(r->s, r->txn, call->queue, r->reply->queue_position,
					 &r->reply->expected_wait_ms);
	if (rc != 0)
		read_fail(r, CALLRAFT__CODE__INTERNAL, "call '%s': position: %s", call->call_id,
			  mdb_strerror(rc));
}

/* The queue's effective routing config (defaults where never configured). */
static void r_queue_config(struct read *r, const char *queue)
{
	Callraft__QueueConfig *q = NULL;
	char errmsg[256];
	int rc = store_get(r->s, r->txn, DB_QUEUES, queue, strlen(queue),
			   &callraft__queue_config__descriptor, (ProtobufCMessage **)&q, "queue",
			   queue, errmsg, sizeof errmsg);

	if (rc == 1) { /* never configured: the defaults, as if unpacked */
		q = callraft__queue_config__unpack(NULL, 0, (const uint8_t *)"");
		char *name = strdup(queue);
		if (q == NULL || name == NULL) {
			free(name);
			if (q != NULL)
				callraft__queue_config__free_unpacked(q, NULL);
			r->failed_alloc = true;
			return;
		}
		route_queue_defaults(q, name); /* the same defaults routing applies */
	} else if (rc < 0) {
		read_fail(r, CALLRAFT__CODE__INTERNAL, "%s", errmsg);
		return;
	}
	r->reply->queue_config = q;
}

static void r_stats(struct read *r, const Callraft__StatsGet *q)
{
	uint64_t now = 0;
	char errmsg[256];

	if (q->ticket_class[0] != '\0') {
		Callraft__TicketClassConfig tc;
		int rc = ticket_class_get(r->s, r->txn, q->ticket_class, &tc, errmsg, sizeof errmsg);

		if (rc != 0) {
			read_fail(r, rc < 0 ? CALLRAFT__CODE__INTERNAL : CALLRAFT__CODE__INVALID_ARGUMENT,
				  "stats: ticket_class: '%s' is not urgent, follow-up or a configured "
				  "class", q->ticket_class);
			return;
		}
	}
	if (store_meta_get(r->s, r->txn, META_TIME, &now, errmsg, sizeof errmsg) != 0 ||
	    stats_read(r->s, r->txn, (int64_t)now, q, &r->reply->stats, &r->reply->n_stats) != 0)
		read_fail(r, CALLRAFT__CODE__INTERNAL, "state: stats: cannot read");
	r->reply->total = r->reply->n_stats;
}

static void r_customer_history(struct read *r, const Callraft__CustomerHistory *h)
{
	char key[CALLRAFT_ID_BYTES_MAX + 1];
	size_t len = strlen(h->customer_id);
	struct list_spec ls = {DB_CUST_HIST, key, len + 1, DB_CUST_HIST,
			       &callraft__history_item__descriptor, NULL, NULL, list_limit(h->limit), false,
			       &h->cursor, &r->reply->next_cursor};

	memcpy(key, h->customer_id, len + 1);
	list_walk(r, &ls, (ProtobufCMessage ***)&r->reply->history, &r->reply->n_history,
		  &r->reply->total);
	if (r->reply->code == CALLRAFT__CODE__OK) {
		char errmsg[256];
		if (store_get(r->s, r->txn, DB_CUSTOMERS, h->customer_id, len,
			      &callraft__customer__descriptor, (ProtobufCMessage **)&r->reply->customer,
			      "customer", h->customer_id, errmsg, sizeof errmsg) < 0)
			read_fail(r, CALLRAFT__CODE__INTERNAL, "%s", errmsg);
	}
}

static bool call_of_campaign(const ProtobufCMessage *m, const void *campaign_id)
{
	const char *c = ((const Callraft__Call *)m)->campaign_id;
	return c != NULL && strcmp(c, campaign_id) == 0;
}

/* The campaign and a page of its released calls, in list order: the calls "<campaign>.NNNNNN"
 * (campaigns.c) whose campaign_id is this campaign's (under the prefix "c1." also sit campaign
 * "c1.x"'s calls and a client's "c1.any"); total is the number released. */
static void r_campaign_show(struct read *r, const Callraft__CampaignShow *q)
{
	char prefix[CALLRAFT_CAMPAIGN_ID_BYTES_MAX + 2];
	size_t len = strlen(q->campaign_id);
	struct list_spec ls = {DB_CALLS, prefix, len + 1, DB_CALLS, &callraft__call__descriptor,
			       call_of_campaign, q->campaign_id, list_limit(q->limit), true,
			       &q->cursor, &r->reply->next_cursor};
	uint64_t walked;

	r_show(r, DB_CAMPAIGNS, "campaign", q->campaign_id, &callraft__campaign__descriptor,
	       (ProtobufCMessage **)&r->reply->campaign);
	if (r->reply->campaign == NULL)
		return;
	memcpy(prefix, q->campaign_id, len);
	prefix[len] = '.';
	list_walk(r, &ls, (ProtobufCMessage ***)&r->reply->calls, &r->reply->n_calls, &walked);
	r->reply->total = r->reply->campaign->released;
}

static void r_campaign_list(struct read *r)
{
	struct list_spec ls = {DB_CAMPAIGNS, "", 0, DB_CAMPAIGNS, &callraft__campaign__descriptor,
			       NULL, NULL, CALLRAFT_CAMPAIGNS_MAX, false, NULL, NULL};

	list_walk(r, &ls, (ProtobufCMessage ***)&r->reply->campaigns, &r->reply->n_campaigns,
		  &r->reply->total);
}

static void r_site_list(struct read *r)
{
	struct list_spec ls = {DB_SITES, "", 0, DB_SITES, &callraft__site__descriptor, NULL, NULL,
			       CALLRAFT_LIST_LIMIT_MAX, false, NULL, NULL};

	list_walk(r, &ls, (ProtobufCMessage ***)&r->reply->sites, &r->reply->n_sites,
		  &r->reply->total);
}

/* Every stored token, without its hash (tokens.c). */
static void r_token_list(struct read *r)
{
	struct list_spec ls = {DB_TOKENS, "", 0, DB_TOKENS, &callraft__token__descriptor, NULL, NULL,
			       CALLRAFT_LIST_LIMIT_MAX, false, NULL, NULL};

	list_walk(r, &ls, (ProtobufCMessage ***)&r->reply->tokens, &r->reply->n_tokens,
		  &r->reply->total);
	for (size_t i = 0; i < r->reply->n_tokens; i++)
		r->reply->tokens[i]->hash.len = 0; /* still freed with the record */
}

/* Appends a copy of *tc (allocated like an unpacked record) to the reply's ticket_classes. */
static int add_ticket_class(struct read *r, const Callraft__TicketClassConfig *tc)
{
	size_t len = callraft__ticket_class_config__get_packed_size(tc);
	uint8_t buf[CALLRAFT_CATEGORY_BYTES_MAX + 64];
	Callraft__TicketClassConfig **grown, *copy;

	if (len > sizeof buf)
		return -1;
	callraft__ticket_class_config__pack(tc, buf);
	copy = callraft__ticket_class_config__unpack(NULL, len, buf);
	grown = realloc(r->reply->ticket_classes,
			(r->reply->n_ticket_classes + 1) * sizeof *grown);
	if (copy == NULL || grown == NULL) {
		if (copy != NULL)
			callraft__ticket_class_config__free_unpacked(copy, NULL);
		if (grown != NULL)
			r->reply->ticket_classes = grown;
		r->failed_alloc = true;
		return -1;
	}
	r->reply->ticket_classes = grown;
	r->reply->ticket_classes[r->reply->n_ticket_classes++] = copy;
	return 0;
}

/* One class's effective targets, or urgent and follow-up (defaults unless configured) then every
 * configured class, in name order (at most CALLRAFT_TICKET_CLASSES_MAX + 2 rows). */
static void r_ticket_class_show(struct read *r, const Callraft__TicketClassShow *q)
{
	static const char *const builtins[] = {"urgent", "follow-up"};
	Callraft__TicketClassConfig tc;
	char err[256];
	int rc;

	if (q->ticket_class[0] != '\0') {
		rc = ticket_class_get(r->s, r->txn, q->ticket_class, &tc, err, sizeof err);
		if (rc < 0)
			read_fail(r, CALLRAFT__CODE__INTERNAL, "%s", err);
		else if (rc == 1)
			read_fail(r, CALLRAFT__CODE__NOT_FOUND, "ticket class '%s': not found",
				  q->ticket_class);
		else if (add_ticket_class(r, &tc) != 0)
			read_fail(r, CALLRAFT__CODE__INTERNAL, "ticket class: out of memory");
		r->reply->total = r->reply->n_ticket_classes;
		return;
	}
	for (size_t i = 0; i < 2; i++) {
		rc = ticket_class_get(r->s, r->txn, builtins[i], &tc, err, sizeof err);
		if (rc != 0) {
			read_fail(r, CALLRAFT__CODE__INTERNAL, "%s", err);
			return;
		}
		if (!tc.configured && add_ticket_class(r, &tc) != 0) {
			read_fail(r, CALLRAFT__CODE__INTERNAL, "ticket class: out of memory");
			return;
		}
	}
	size_t n_builtin = r->reply->n_ticket_classes;
	Callraft__TicketClassConfig **items = NULL;
	size_t n_items = 0;
	uint64_t total = 0;
	struct list_spec ls = {DB_TICKET_CLASSES, "", 0, DB_TICKET_CLASSES,
			       &callraft__ticket_class_config__descriptor, NULL, NULL,
			       CALLRAFT_TICKET_CLASSES_MAX, false, NULL, NULL};

	if (list_walk(r, &ls, (ProtobufCMessage ***)&items, &n_items, &total) != 0)
		return;
	Callraft__TicketClassConfig **all =
	    realloc(r->reply->ticket_classes, (n_builtin + n_items) * sizeof *all + 1);
	if (all == NULL) {
		free_items((ProtobufCMessage **)items, n_items);
		r->failed_alloc = true;
		return;
	}
	for (size_t i = 0; i < n_items; i++)
		all[n_builtin + i] = items[i];
	free(items);
	r->reply->ticket_classes = all;
	r->reply->n_ticket_classes = n_builtin + n_items;
	r->reply->total = r->reply->n_ticket_classes;
}

/* Overdue or due-soon tickets of one scope (ticket_classes.c's due index), in due order. Overdue
 * walks the scope from its start (or the cursor) to now: only overdue rows. Due soon walks from
 * now on and stops past now + the largest due-soon time of the scope's classes; rows not yet
 * due soon (their class's due-soon time is shorter) are skipped, at most
 * CALLRAFT_TICKET_DUE_SCAN_MAX of them per page (then next_cursor resumes). total: the rows of
 * this page. */
static void r_ticket_due(struct read *r, const Callraft__TicketDueList *q)
{
	uint8_t key[TICKET_DUE_PREFIX_MAX + 8 + 24], prefix[TICKET_DUE_PREFIX_MAX];
	char scope = q->ticket_class[0] ? (q->site[0] ? 'b' : 'c') : (q->site[0] ? 's' : 'a');
	size_t plen = ticket_due_prefix(prefix, scope, q->ticket_class, q->site);
	uint32_t limit = list_limit(q->limit), scanned = 0;
	uint64_t now = 0;
	int64_t horizon = 0;
	char errmsg[256];
	MDB_cursor *cur;
	MDB_val k, v;
	size_t bytes = 0;
	int rc;

	if (q->cursor.len > 0 && (q->cursor.len < plen + 8 || q->cursor.len > sizeof key ||
				  memcmp(q->cursor.data, prefix, plen) != 0)) {
		read_fail(r, CALLRAFT__CODE__INVALID_ARGUMENT,
			  "ticket_due_list: cursor: not a cursor of this list");
		return;
	}
	if (store_meta_get(r->s, r->txn, META_TIME, &now, errmsg, sizeof errmsg) != 0) {
		read_fail(r, CALLRAFT__CODE__INTERNAL, "%s", errmsg);
		return;
	}
	if (q->due_soon) { /* the largest due-soon time among the classes the scope holds */
		Callraft__TicketClassConfig tc;
		static const char *const builtins[] = {"urgent", "follow-up"};
		for (size_t i = 0; i < 2; i++)
			if (ticket_class_get(r->s, r->txn, builtins[i], &tc, errmsg, sizeof errmsg) == 0 &&
			    tc.due_soon_ms > horizon)
				horizon = tc.due_soon_ms;
		if (mdb_cursor_open(r->txn, r->s->dbi[DB_TICKET_CLASSES], &cur) == 0) {
			for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
			     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
				Callraft__TicketClassConfig *rec =
				    callraft__ticket_class_config__unpack(NULL, v.mv_size, v.mv_data);
				if (rec != NULL && rec->due_soon_ms > horizon)
					horizon = rec->due_soon_ms;
				if (rec != NULL)
					callraft__ticket_class_config__free_unpacked(rec, NULL);
			}
			mdb_cursor_close(cur);
		}
		horizon = (int64_t)now + horizon;
	}
	if ((rc = mdb_cursor_open(r->txn, r->s->dbi[DB_TICKET_DUE], &cur)) != 0) {
		read_fail(r, CALLRAFT__CODE__INTERNAL, "state: ticket due: %s", mdb_strerror(rc));
		return;
	}
	r->reply->tickets = malloc(limit * sizeof *r->reply->tickets);
	if (r->reply->tickets == NULL) {
		r->failed_alloc = true;
		mdb_cursor_close(cur);
		return;
	}
	memcpy(key, prefix, plen);
	if (q->cursor.len > 0) {
		memcpy(key, q->cursor.data, q->cursor.len);
		k = (MDB_val){q->cursor.len, key};
	} else {
		be64_put(key + plen, q->due_soon ? now + 1 : 0);
		k = (MDB_val){plen + 8, key};
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *kd = k.mv_data;
		if (k.mv_size < plen + 8 || memcmp(kd, prefix, plen) != 0)
			break;
		int64_t target = (int64_t)be64_get(kd + plen);
		if (q->due_soon ? target > horizon : target > (int64_t)now)
			break;
		if (r->reply->n_tickets >= limit || scanned >= CALLRAFT_TICKET_DUE_SCAN_MAX) {
			list_note_next(r, &(struct list_spec){.next_cursor = &r->reply->next_cursor}, &k);
			break;
		}
		scanned++;
		if (q->due_soon && (v.mv_size != 8 || (int64_t)be64_get(v.mv_data) > (int64_t)now))
			continue; /* not due soon yet */
		Callraft__Ticket *t = NULL;
		char code[32];
		size_t cl = k.mv_size - plen - 8 < sizeof code ? k.mv_size - plen - 8 : sizeof code - 1;
		memcpy(code, kd + plen + 8, cl);
		code[cl] = '\0';
		if (store_get(r->s, r->txn, DB_TICKETS, code, cl, &callraft__ticket__descriptor,
			      (ProtobufCMessage **)&t, "ticket", code, errmsg, sizeof errmsg) != 0) {
			read_fail(r, CALLRAFT__CODE__INTERNAL, "state: ticket due '%s': no ticket", code);
			break;
		}
		size_t row = callraft__ticket__get_packed_size(t) + 10;
		if (r->reply->n_tickets > 0 && bytes + row > CALLRAFT_REPLY_LIST_BYTES_MAX) {
			callraft__ticket__free_unpacked(t, NULL);
			list_note_next(r, &(struct list_spec){.next_cursor = &r->reply->next_cursor}, &k);
			break;
		}
		bytes += row;
		r->reply->tickets[r->reply->n_tickets++] = t;
	}
	mdb_cursor_close(cur);
	r->reply->total = r->reply->n_tickets;
}

static void r_queue_show(struct read *r, const Callraft__QueueShow *q)
{
	char key[CALLRAFT_QUEUE_BYTES_MAX + 1];
	size_t len = strlen(q->queue);
	struct list_spec ls = {DB_QUEUE, key, len + 1, DB_CALLS, &callraft__call__descriptor, NULL,
			       NULL, list_limit(q->limit), false, NULL, NULL};

	/* The total is the queue's waiting count (kept with the queue index, routing.c): the walk
	 * stops at the page asked for, however deep the queue. */
	ls.stop_at_limit = true;
	memcpy(key, q->queue, len + 1);
	if (list_walk(r, &ls, (ProtobufCMessage ***)&r->reply->calls, &r->reply->n_calls,
		      &r->reply->total) != 0)
		return;
	int rc = waiting_count(r->s, r->txn, 'q', q->queue, &r->reply->total);
	if (rc != 0)
		read_fail(r, CALLRAFT__CODE__INTERNAL, "state: queue '%s': waiting count: %s",
			  q->queue, mdb_strerror(rc));
	if (r->reply->code == CALLRAFT__CODE__OK)
		r_queue_config(r, q->queue);
}

static void r_ticket_list(struct read *r, const Callraft__TicketList *t)
{
	char key[CALLRAFT_ID_BYTES_MAX + 1];
	size_t len = strlen(t->customer_id);
	struct list_spec ls = {DB_CUST_TIX, key, len + 1, DB_TICKETS, &callraft__ticket__descriptor,
			       NULL, NULL, list_limit(t->limit), false, &t->cursor,
			       &r->reply->next_cursor};

	memcpy(key, t->customer_id, len + 1);
	list_walk(r, &ls, (ProtobufCMessage ***)&r->reply->tickets, &r->reply->n_tickets,
		  &r->reply->total);
}

static void r_agent_list(struct read *r, const Callraft__AgentList *a)
{
	struct list_spec ls = {DB_AGENTS, "", 0, DB_AGENTS, &callraft__agent__descriptor,
			       a->site[0] != '\0' ? agent_at_site : NULL, a->site,
			       CALLRAFT_LIST_LIMIT_MAX, false, NULL, NULL};

	list_walk(r, &ls, (ProtobufCMessage ***)&r->reply->agents, &r->reply->n_agents,
		  &r->reply->total);
}

static void r_members_list(struct read *r)
{
	struct list_spec ls = {DB_MEMBERS, "", 0, DB_MEMBERS, &callraft__member__descriptor, NULL,
			       NULL, CALLRAFT_LIST_LIMIT_MAX, false, NULL, NULL};

	char errmsg[128];
	uint32_t active;

	list_walk(r, &ls, (ProtobufCMessage ***)&r->reply->members, &r->reply->n_members,
		  &r->reply->total);
	if (rules_active_get(r->s, r->txn, &active, errmsg, sizeof errmsg) == 0)
		r->reply->rules_active = active; /* rules.c: shown with each member's range */
}

/* A cursor is empty or a key of the customer's list (customer_id '\0' ...), as next_cursor gave. */
static bool cursor_valid(const char *ctx, const char *customer_id, const ProtobufCBinaryData *c,
			 size_t max, char *m, size_t n)
{
	size_t len = strlen(customer_id);

	if (c->len == 0 || (c->len > len + 1 && c->len <= max &&
			    memcmp(c->data, customer_id, len + 1) == 0))
		return true;
	snprintf(m, n, "%s: cursor: not a cursor of this customer's list", ctx);
	return false;
}

/* Field checks of reads; false (with the reply filled) if a field is bad. */
static bool read_valid(struct read *r, const Callraft__Request *q)
{
	char *m = r->msg;
	size_t n = sizeof r->msg;
	bool ok = true;

	switch (q->op_case) {
	case CALLRAFT__REQUEST__OP_CALL_SHOW:
		ok = validate_id("call_show", "call_id", q->call_show->call_id, true, m, n);
		break;
	case CALLRAFT__REQUEST__OP_QUEUE_SHOW:
		ok = validate_name("queue_show", "queue", q->queue_show->queue,
				   CALLRAFT_QUEUE_BYTES_MAX, true, m, n);
		break;
	case CALLRAFT__REQUEST__OP_AGENT_SHOW:
		ok = validate_id("agent_show", "agent_id", q->agent_show->agent_id, true, m, n);
		break;
	case CALLRAFT__REQUEST__OP_AGENT_LIST:
		ok = validate_name("agent_list", "site", q->agent_list->site, CALLRAFT_SITE_BYTES_MAX,
				   false, m, n);
		break;
	case CALLRAFT__REQUEST__OP_TICKET_SHOW:
		ok = validate_id("ticket_show", "code", q->ticket_show->code, true, m, n);
		if (ok && !state_ticket_code_normalize(q->ticket_show->code, r->code)) {
			snprintf(m, n, "ticket_show: code: '%s' is not a ticket code (wrong check symbol?)",
				 q->ticket_show->code);
			ok = false;
		}
		break;
	case CALLRAFT__REQUEST__OP_TICKET_LIST:
		ok = validate_id("ticket_list", "customer_id", q->ticket_list->customer_id, true, m, n) &&
		     cursor_valid("ticket_list", q->ticket_list->customer_id, &q->ticket_list->cursor,
				  CUST_KEY_BYTES_MAX, m, n);
		break;
	case CALLRAFT__REQUEST__OP_STATS_GET:
		ok = validate_name("stats", "queue", q->stats_get->queue, CALLRAFT_QUEUE_BYTES_MAX,
				   false, m, n) &&
		     validate_name("stats", "site", q->stats_get->site, CALLRAFT_SITE_BYTES_MAX, false,
				   m, n) &&
		     stats_get_valid(q->stats_get, m, n);
		break;
	case CALLRAFT__REQUEST__OP_TICKET_DUE_LIST:
		ok = validate_name("ticket_due_list", "ticket_class", q->ticket_due_list->ticket_class,
				   CALLRAFT_CATEGORY_BYTES_MAX, false, m, n) &&
		     validate_name("ticket_due_list", "site", q->ticket_due_list->site,
				   CALLRAFT_SITE_BYTES_MAX, false, m, n);
		break;
	case CALLRAFT__REQUEST__OP_TICKET_CLASS_SHOW:
		ok = validate_name("ticket_class_show", "ticket_class", q->ticket_class_show->ticket_class,
				   CALLRAFT_CATEGORY_BYTES_MAX, false, m, n);
		break;
	case CALLRAFT__REQUEST__OP_CUSTOMER_SHOW:
		ok = validate_id("customer_show", "customer_id", q->customer_show->customer_id, true, m,
				 n);
		break;
	case CALLRAFT__REQUEST__OP_CAMPAIGN_SHOW: {
		const Callraft__CampaignShow *cs = q->campaign_show;
		size_t len = cs->campaign_id != NULL ? strlen(cs->campaign_id) : 0;
		ok = validate_campaign_id("campaign_show", cs->campaign_id, m, n);
		if (ok && cs->cursor.len != 0 &&
		    !(cs->cursor.len > len + 1 && cs->cursor.len <= CALLRAFT_ID_BYTES_MAX &&
		      memcmp(cs->cursor.data, cs->campaign_id, len) == 0 && cs->cursor.data[len] == '.')) {
			snprintf(m, n, "campaign_show: cursor: not a cursor of this campaign's calls");
			ok = false;
		}
		break;
	}
	case CALLRAFT__REQUEST__OP_CUSTOMER_HISTORY:
		ok = validate_id("customer_history", "customer_id", q->customer_history->customer_id,
				 true, m, n) &&
		     cursor_valid("customer_history", q->customer_history->customer_id,
				  &q->customer_history->cursor, HIST_KEY_BYTES_MAX, m, n);
		break;
	default:
		break;
	}
	if (!ok) {
		r->reply->code = CALLRAFT__CODE__INVALID_ARGUMENT;
		r->reply->message = r->msg;
	}
	return ok;
}

static bool is_read(Callraft__Request__OpCase op)
{
	return op == CALLRAFT__REQUEST__OP_CALL_SHOW || op == CALLRAFT__REQUEST__OP_QUEUE_SHOW ||
	       op == CALLRAFT__REQUEST__OP_AGENT_SHOW || op == CALLRAFT__REQUEST__OP_AGENT_LIST ||
	       op == CALLRAFT__REQUEST__OP_TICKET_SHOW || op == CALLRAFT__REQUEST__OP_TICKET_LIST ||
	       op == CALLRAFT__REQUEST__OP_MEMBERS_LIST || op == CALLRAFT__REQUEST__OP_STATS_GET ||
	       op == CALLRAFT__REQUEST__OP_CUSTOMER_HISTORY || op == CALLRAFT__REQUEST__OP_SITE_LIST ||
	       op == CALLRAFT__REQUEST__OP_CUSTOMER_SHOW || op == CALLRAFT__REQUEST__OP_TOKEN_LIST ||
	       op == CALLRAFT__REQUEST__OP_TICKET_CLASS_SHOW || op == CALLRAFT__REQUEST__OP_TICKET_DUE_LIST ||
	       op == CALLRAFT__REQUEST__OP_CAMPAIGN_SHOW || op == CALLRAFT__REQUEST__OP_CAMPAIGN_LIST;
}

static void r_events(struct read *r, const Callraft__EventsRead *q)
{
	Callraft__Code code;

	if (!events_read_valid(q, r->msg, sizeof r->msg)) {
		r->reply->code = CALLRAFT__CODE__INVALID_ARGUMENT;
		r->reply->message = r->msg;
		return;
	}
	code = events_read(r->s, r->txn, q, r->reply->applied_index, r->reply, r->msg,
			   sizeof r->msg);
	if (code != CALLRAFT__CODE__OK) {
		r->reply->code = code;
		r->reply->message = r->msg;
	}
}

/* A site-limited actor (Request.actor_site, stamped by the node) reads its own site's calls and
 * agents only (site_scope.c); false with the reply filled if not. */
static bool read_in_scope(struct read *r, const Callraft__Request *q)
{
	char errmsg[256], why[STATE_MSG_BYTES_MAX];
	int rc = 0;

	if (q->actor_site == NULL || q->actor_site[0] == '\0')
		return true;
	if (q->op_case == CALLRAFT__REQUEST__OP_CALL_SHOW)
		rc = site_scope_call(r->s, r->txn, "call_show", q->call_show->call_id, q->actor,
				     q->actor_site, why, sizeof why, errmsg, sizeof errmsg);
	else if (q->op_case == CALLRAFT__REQUEST__OP_AGENT_SHOW)
		rc = site_scope_agent(r->s, r->txn, "agent_show", q->agent_show->agent_id, q->actor,
				      q->actor_site, why, sizeof why, errmsg, sizeof errmsg);
	if (rc < 0)
		read_fail(r, CALLRAFT__CODE__INTERNAL, "%s", errmsg);
	else if (rc > 0)
		read_fail(r, CALLRAFT__CODE__PERMISSION_DENIED, "%s", why);
	return rc == 0;
}

static void read_dispatch(struct read *r, const Callraft__Request *q)
{
	Callraft__Reply *p = r->reply;

	if (q->op_case == CALLRAFT__REQUEST__OP_EVENTS_READ && q->events_read != NULL) {
		r_events(r, q->events_read);
		return;
	}
	if (!is_read(q->op_case) || q->call_show == NULL) {
		read_fail(r, CALLRAFT__CODE__UNKNOWN_OPERATION, "read: not a read operation (%d)",
			  (int)q->op_case);
		return;
	}
	if (!read_valid(r, q) || !read_in_scope(r, q))
		return;
	switch (q->op_case) {
	case CALLRAFT__REQUEST__OP_CALL_SHOW:
		r_show(r, DB_CALLS, "call", q->call_show->call_id, &callraft__call__descriptor,
		       (ProtobufCMessage **)&p->call);
		if (p->call != NULL && p->call->state == CALLRAFT__CALL_STATE__WAITING)
			r_call_position(r, p->call);
		break;
	case CALLRAFT__REQUEST__OP_AGENT_SHOW:
		r_show(r, DB_AGENTS, "agent", q->agent_show->agent_id, &callraft__agent__descriptor,
		       (ProtobufCMessage **)&p->agent);
		break;
	case CALLRAFT__REQUEST__OP_TICKET_SHOW:
		r_show(r, DB_TICKETS, "ticket", r->code, &callraft__ticket__descriptor,
		       (ProtobufCMessage **)&p->ticket);
		break;
	case CALLRAFT__REQUEST__OP_QUEUE_SHOW: r_queue_show(r, q->queue_show); break;
	case CALLRAFT__REQUEST__OP_AGENT_LIST: r_agent_list(r, q->agent_list); break;
	case CALLRAFT__REQUEST__OP_TICKET_LIST: r_ticket_list(r, q->ticket_list); break;
	case CALLRAFT__REQUEST__OP_MEMBERS_LIST: r_members_list(r); break;
	case CALLRAFT__REQUEST__OP_STATS_GET: r_stats(r, q->stats_get); break;
	case CALLRAFT__REQUEST__OP_CUSTOMER_HISTORY: r_customer_history(r, q->customer_history); break;
	case CALLRAFT__REQUEST__OP_SITE_LIST: r_site_list(r); break;
	case CALLRAFT__REQUEST__OP_CUSTOMER_SHOW:
		r_show(r, DB_CUSTOMERS, "customer", q->customer_show->customer_id,
		       &callraft__customer__descriptor, (ProtobufCMessage **)&p->customer);
		break;
	case CALLRAFT__REQUEST__OP_TOKEN_LIST: r_token_list(r); break;
	case CALLRAFT__REQUEST__OP_TICKET_CLASS_SHOW: r_ticket_class_show(r, q->ticket_class_show); break;
	case CALLRAFT__REQUEST__OP_TICKET_DUE_LIST: r_ticket_due(r, q->ticket_due_list); break;
	case CALLRAFT__REQUEST__OP_CAMPAIGN_SHOW: r_campaign_show(r, q->campaign_show); break;
	case CALLRAFT__REQUEST__OP_CAMPAIGN_LIST: r_campaign_list(r); break;
	default: break;
	}
}

static void free_items(ProtobufCMessage **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(items[i], NULL);
	free(items);
}

static void reply_release(Callraft__Reply *p)
{
	if (p->call != NULL)
		callraft__call__free_unpacked(p->call, NULL);
	if (p->agent != NULL)
		callraft__agent__free_unpacked(p->agent, NULL);
	if (p->ticket != NULL)
		callraft__ticket__free_unpacked(p->ticket, NULL);
	free_items((ProtobufCMessage **)p->calls, p->n_calls);
	free_items((ProtobufCMessage **)p->agents, p->n_agents);
	free_items((ProtobufCMessage **)p->tickets, p->n_tickets);
	free_items((ProtobufCMessage **)p->members, p->n_members);
	free_items((ProtobufCMessage **)p->stats, p->n_stats);
	free_items((ProtobufCMessage **)p->history, p->n_history);
	free_items((ProtobufCMessage **)p->sites, p->n_sites);
	free_items((ProtobufCMessage **)p->tokens, p->n_tokens);
	free_items((ProtobufCMessage **)p->events, p->n_events);
	free_items((ProtobufCMessage **)p->ticket_classes, p->n_ticket_classes);
	free_items((ProtobufCMessage **)p->campaigns, p->n_campaigns);
	if (p->campaign != NULL)
		callraft__campaign__free_unpacked(p->campaign, NULL);
	if (p->queue_config != NULL)
		callraft__queue_config__free_unpacked(p->queue_config, NULL);
	if (p->customer != NULL)
		callraft__customer__free_unpacked(p->customer, NULL);
	free(p->next_cursor.data);
}

uint8_t *state_read(struct state *s, const Callraft__Request *req, size_t *len_out)
{
	Callraft__Reply reply = CALLRAFT__REPLY__INIT;
	struct read r = {.s = s, .reply = &reply};
	char errmsg[256];
	uint8_t *buf = NULL;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r.txn);

	reply.request_id = req->request_id;
	if (rc != 0) {
		read_fail(&r, CALLRAFT__CODE__INTERNAL, "state: read: %s", mdb_strerror(rc));
	} else {
		if (store_meta_get(s, r.txn, META_APPLIED, &reply.applied_index, errmsg,
				   sizeof errmsg) != 0)
			read_fail(&r, CALLRAFT__CODE__INTERNAL, "%s", errmsg);
		else
			read_dispatch(&r, req);
		mdb_txn_abort(r.txn);
	}
	if (!r.failed_alloc) {
		*len_out = callraft__reply__get_packed_size(&reply);
		buf = malloc(*len_out > 0 ? *len_out : 1);
		if (buf != NULL)
			callraft__reply__pack(&reply, buf);
	}
	reply_release(&reply);
	return buf;
}
