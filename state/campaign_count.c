/* campaign_count.c: the outcome counters of outbound campaigns, kept by every write of a campaign's
 * call, and the debug check of the campaign tables (campaigns.c has the rules and the design).
 *
 * Low in the layers (ctx.c calls campaign_call_changed from ctx_put_call, like the event stream):
 * it reads and writes only the campaign tables, through store.c, so every path that changes a
 * campaign call (answer, end, unreached, a redial merging it, a site loss) is counted, whichever
 * file made it.
 *
 * Counted, for a call whose campaign_id is set, on the write that makes the change:
 *   reached   answered_ms becomes non-zero (the customer was reached);
 *   unreached state becomes UNREACHED from a state that was not final;
 *   ended     state becomes ENDED from a state that was not final, never answered.
 * Each call is counted at most once: ENDED and UNREACHED are final, and an answered call ends. */
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

static bool final(Callraft__CallState st)
{
	return st == CALLRAFT__CALL_STATE__ENDED || st == CALLRAFT__CALL_STATE__UNREACHED ||
	       st == CALLRAFT__CALL_STATE__ABANDONED;
}

int campaign_get(struct state *s, MDB_txn *txn, const char *campaign_id, Callraft__Campaign **out,
		 char *errmsg, size_t errmsg_len)
{
	return store_get(s, txn, DB_CAMPAIGNS, campaign_id, strlen(campaign_id),
			 &callraft__campaign__descriptor, (ProtobufCMessage **)out, "campaign",
			 campaign_id, errmsg, errmsg_len);
}

int campaign_put(struct apply_ctx *c, const Callraft__Campaign *cp)
{
	return store_put(c->s, c->txn, DB_CAMPAIGNS, cp->campaign_id, strlen(cp->campaign_id),
			 &cp->base, "campaign", cp->campaign_id, c->errmsg, c->errmsg_len);
}

int campaign_call_changed(struct apply_ctx *c, const Callraft__Call *old, const Callraft__Call *now)
{
	Callraft__Campaign *cp;
	bool was_final = old != NULL && final(old->state);
	bool reached = (old == NULL || old->answered_ms == 0) && now->answered_ms != 0;
	bool unreached = !was_final && now->state == CALLRAFT__CALL_STATE__UNREACHED;
	bool ended = !was_final && now->state == CALLRAFT__CALL_STATE__ENDED && now->answered_ms == 0;

	if (now->campaign_id == NULL || now->campaign_id[0] == '\0' || !(reached || unreached || ended))
		return 0;
	int rc = campaign_get(c->s, c->txn, now->campaign_id, &cp, c->errmsg, c->errmsg_len);
	if (rc != 0) /* a campaign call names its campaign (invariant C3): absent is corruption */
		return rc < 0 ? -1
			      : store_err(c->errmsg, c->errmsg_len, MDB_NOTFOUND,
					  "campaign '%s' of call '%s'", now->campaign_id,
					  now->call_id);
	cp->reached += reached;
	cp->unreached += unreached;
	cp->ended += ended;
	rc = campaign_put(c, cp);
	protobuf_c_message_free_unpacked(&cp->base, NULL);
	return rc;
}

size_t campaign_target_key(uint8_t out[CAMPAIGN_KEY_BYTES_MAX], const char *campaign_id, char kind,
			   uint32_t n, const char *number)
{
	size_t len = strlen(campaign_id);

	memcpy(out, campaign_id, len);
	out[len++] = '\0';
	out[len++] = (uint8_t)kind;
	if (kind == CAMPAIGN_KEY_TARGET) {
		out[len++] = (uint8_t)(n >> 24);
		out[len++] = (uint8_t)(n >> 16);
		out[len++] = (uint8_t)(n >> 8);
		out[len++] = (uint8_t)n;
		return len;
	}
	size_t nlen = strlen(number);
	memcpy(out + len, number, nlen);
	return len + nlen;
}

uint32_t campaign_be32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

void campaign_call_id(char out[CALLRAFT_ID_BYTES_MAX + 1], const char *campaign_id, uint32_t n)
{
	snprintf(out, CALLRAFT_ID_BYTES_MAX + 1, "%s.%06u", campaign_id, n);
}

/* ---- check --------------------------------------------------------------------------------- */

static int check_fail(char *msg, size_t len, const char *what, const char *id)
{
	snprintf(msg, len, "invariant: campaign %s '%s'", what, id);
	return -1;
}

/* Invariants C2 and C3 of one campaign (campaigns.c). */
static int check_one(struct state *s, MDB_txn *txn, const Callraft__Campaign *cp, char *msg,
		     size_t len)
{
	uint32_t reached = 0, unreached = 0, ended = 0;
	char id[CALLRAFT_ID_BYTES_MAX + 1], err[256];

	if (cp->released > cp->targets || cp->targets > CALLRAFT_CAMPAIGN_TARGETS_MAX ||
	    (uint64_t)cp->reached + cp->unreached + cp->ended > cp->released)
		return check_fail(msg, len, "counters out of order", cp->campaign_id);
	for (uint32_t n = 1; n <= cp->targets; n++) {
		uint8_t key[CAMPAIGN_KEY_BYTES_MAX];
		Callraft__CampaignTarget *t;
		Callraft__Call *call;
		MDB_val k = {campaign_target_key(key, cp->campaign_id, CAMPAIGN_KEY_TARGET, n, NULL),
			     key},
			v;
		if (store_get(s, txn, DB_CAMPAIGN_TARGETS, k.mv_data, k.mv_size,
			      &callraft__campaign_target__descriptor, (ProtobufCMessage **)&t, "target",
			      cp->campaign_id, err, sizeof err) != 0)
			return check_fail(msg, len, "target missing", cp->campaign_id);
		k.mv_size = campaign_target_key(key, cp->campaign_id, CAMPAIGN_KEY_NUMBER, 0, t->number);
		bool indexed = mdb_get(txn, s->dbi[DB_CAMPAIGN_TARGETS], &k, &v) == 0 &&
			       v.mv_size == 4 && campaign_be32(v.mv_data) == n;
		campaign_call_id(id, cp->campaign_id, n);
		int rc = store_get(s, txn, DB_CALLS, id, strlen(id), &callraft__call__descriptor,
				   (ProtobufCMessage **)&call, "call", id, err, sizeof err);
		bool ok = indexed && (rc == 0) == (n <= cp->released) &&
			  (rc != 0 || (strcmp(call->campaign_id, cp->campaign_id) == 0 &&
				       strcmp(call->callback_number, t->number) == 0));
		if (rc == 0) {
			reached += call->answered_ms != 0;
			unreached += call->state == CALLRAFT__CALL_STATE__UNREACHED;
			ended += call->state == CALLRAFT__CALL_STATE__ENDED && call->answered_ms == 0;
			protobuf_c_message_free_unpacked(&call->base, NULL);
		}
		protobuf_c_message_free_unpacked(&t->base, NULL);
		if (!ok)
			return check_fail(msg, len, "target, its number index or its call", id);
	}
	if (reached != cp->reached || unreached != cp->unreached || ended != cp->ended)
		return check_fail(msg, len, "counters differ from its calls", cp->campaign_id);
	return 0;
}

int campaigns_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len)
{
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_stat st;
	uint64_t rows = 0;
	int rc = mdb_cursor_open(txn, s->dbi[DB_CAMPAIGNS], &cur);

	if (rc != 0)
		return check_fail(msg, msg_len, "cursor", mdb_strerror(rc));
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Callraft__Campaign *cp = callraft__campaign__unpack(NULL, v.mv_size, v.mv_data);
		if (cp == NULL || k.mv_size != strlen(cp->campaign_id) ||
		    memcmp(k.mv_data, cp->campaign_id, k.mv_size) != 0) {
			if (cp != NULL)
				callraft__campaign__free_unpacked(cp, NULL);
			mdb_cursor_close(cur);
			return check_fail(msg, msg_len, "record does not match its key", "");
		}
		rows += 2ull * cp->targets;
		rc = check_one(s, txn, cp, msg, msg_len);
		callraft__campaign__free_unpacked(cp, NULL);
		if (rc != 0) {
			mdb_cursor_close(cur);
			return -1;
		}
	}
	mdb_cursor_close(cur);
	/* C2: nothing in the targets table but each campaign's targets and their number index */
	if (mdb_stat(txn, s->dbi[DB_CAMPAIGN_TARGETS], &st) != 0 || st.ms_entries != rows)
		return check_fail(msg, msg_len, "target rows without a campaign", "");
	return 0;
}
