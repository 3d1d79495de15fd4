#!/usr/bin/env bash
# Every operation of the HTTP/JSON API against a real 1+1+1 cluster (and a fourth node for the
# membership operations), with Python's http.client, each answer validated against
# docs/openapi.yaml: its status must be documented for the operation and its body match the
# documented schema; every documented operation must have answered 200 at least once. Also checks
# that docs/openapi.yaml documents exactly the routes of node/http_*.c (gen_openapi.py fails on a
# registered route it does not document). The SSE routes are opened, their first events read within
# a bound and checked (status, content type, id INDEX.POS, data against the schema), then closed.
# Plain HTTP: this checks the API and its documentation, not TLS (test_http_api and
# test_tls_hostile run HTTP over mutual TLS).
export CALLRAFT_INSECURE=1
source "$(dirname "$0")/lib.sh"

step "docs/openapi.yaml documents exactly the server's routes"
# The operations must match the route table (a route without its document fails); other drift
# (a field added to the proto) is reported: regenerate with python3 docs/gen_openapi.py.
python3 "$ROOT/docs/gen_openapi.py" > "$CALLRAFT_LAB/openapi.yaml"
ops() { grep -E '^  /|^    (get|head|post|put|delete|patch):' "$1"; }
diff <(ops "$ROOT/docs/openapi.yaml") <(ops "$CALLRAFT_LAB/openapi.yaml") ||
  fail "docs/openapi.yaml does not list the routes of node/http_*.c: regenerate it"
diff -q "$ROOT/docs/openapi.yaml" "$CALLRAFT_LAB/openapi.yaml" >/dev/null ||
  echo "NOTE: docs/openapi.yaml differs from docs/gen_openapi.py's output (proto changed?): regenerate it"

step "start a 1+1+1 cluster"
"$CLUSTER_SH" up 1+1+1 >/dev/null
wait_leader >/dev/null
export HTTP_ADDRS=$("$CLUSTER_SH" http-addresses) OPENAPI=$ROOT/docs/openapi.yaml CLUSTER_SH

step "every operation, validated against docs/openapi.yaml"
PYTHONPATH="$(dirname "$0")" python3 - <<'PY'
import http.client, itertools, json, os, subprocess, time
from http_lib import call, wait_http
from openapi_check import Checker, load

addrs = os.environ["HTTP_ADDRS"].split(",")
base = int(os.environ["CALLRAFT_PORT_BASE"])
wait_http(addrs)
chk = Checker(load(os.environ["OPENAPI"]))
rr = itertools.cycle(addrs)   # requests go round the nodes: followers forward
keys = itertools.count(1)

def req(method, template, params=None, body=None, want=200, query="", node=None, write=None):
    path = template
    for k, v in (params or {}).items():
        path = path.replace("{%s}" % k, str(v))
    chk.check_request(method, template, body)
    if write is None:
        write = method != "GET" and not template.startswith("/v1/members") and template != "/v1/snapshot"
    key = "it-%d-%d" % (os.getpid(), next(keys)) if write else None
    deadline = time.time() + 20
    while True:
        a = node or next(rr)
        st, hdrs, doc = call(a, method, path + query, body=body, key=key)
        chk.check(method, template, st, doc)
        if st == 503 and time.time() < deadline:  # election after a transfer: retry, same key
            assert "retry-after" in hdrs, hdrs
            time.sleep(0.3)
            continue
        break
    assert st == want, "%s %s%s: %d %r (want %d)" % (method, path, query, st, doc, want)
    return doc

for a in addrs:
    req("GET", "/v1/status", node=a)
req("GET", "/v1/members")
req("GET", "/v1/members", query="?stale=true")

# sites and queues
req("POST", "/v1/sites/{site}/configure", {"site": "tehran"},
    {"opens_at_minute": 480, "closes_at_minute": 1200, "utc_offset_minutes": 210})
d = req("GET", "/v1/sites")
assert any(s["site"] == "tehran" and s["opens_at_minute"] == 480 for s in d["sites"]), d
req("POST", "/v1/queues/{queue}/configure", {"queue": "sales"}, {"offer_timeout_ms": 20000, "top_tier": 3})
d = req("GET", "/v1/queues/{queue}", {"queue": "sales"})
assert d["calls"] == [] and d["queue_config"]["offer_timeout_ms"] == 20000, d

# an agent and a call's whole life
req("POST", "/v1/agents/{agent_id}/login", {"agent_id": "ag-1"},
    {"name": "Sara", "site": "tehran", "skills": ["sales"]})
req("POST", "/v1/agents/{agent_id}/state", {"agent_id": "ag-1"}, {"state": "AVAILABLE"})
req("POST", "/v1/agents/{agent_id}/heartbeat", {"agent_id": "ag-1"})
d = req("GET", "/v1/agents/{agent_id}", {"agent_id": "ag-1"})
assert d["agent"]["state"] == "AVAILABLE" and d["agent"]["skills"] == ["sales"], d
d = req("GET", "/v1/agents", query="?site=tehran")
assert [x["agent_id"] for x in d["agents"]] == ["ag-1"], d
d = req("GET", "/v1/agents", query="?site=nowhere&stale=true")
assert d["agents"] == [], d

enq = {"call_id": "it-1", "queue": "sales", "caller_number": "+982155501001",
       "customer_id": "cust-1", "tier": 2, "arrival_site": "tehran"}
d = req("POST", "/v1/calls", body=enq)
assert d["call"]["state"] == "WAITING", d
d = req("GET", "/v1/queues/{queue}", {"queue": "sales"}, query="?limit=10")
assert [c["call_id"] for c in d["calls"]] == ["it-1"], d
d = req("GET", "/v1/calls/{call_id}", {"call_id": "it-1"})
assert int(d["queue_position"]) == 1, d  # its place in the routing order (docs/routing.md)
assert int(d["expected_wait_ms"]) == -1, d  # the queue has answered nobody yet: no rate to go by
d = req("POST", "/v1/calls/next", body={"agent_id": "ag-1"})
tok = {"agent_id": "ag-1", "offer_term": d["call"]["offer_term"], "offer_index": d["call"]["offer_index"]}
assert d["call"]["state"] == "OFFERED", d
req("POST", "/v1/calls/{call_id}/reject", {"call_id": "it-1"}, tok)
d = req("POST", "/v1/calls/{call_id}/answer", {"call_id": "it-1"}, tok, want=409)
assert d["code"] == "STALE_TOKEN", d
d = req("POST", "/v1/calls/next", body={"agent_id": "ag-1"})
tok = {"agent_id": "ag-1", "offer_term": d["call"]["offer_term"], "offer_index": d["call"]["offer_index"]}
a = req("POST", "/v1/calls/{call_id}/answer", {"call_id": "it-1"}, tok)
d = req("GET", "/v1/calls/{call_id}", {"call_id": "it-1"})
assert d["call"]["state"] == "ANSWERED" and d["call"]["agent_id"] == "ag-1", d
# the long poll of SIP servers: on any node, once it applied the answer, at once (not WAITING)
for n in addrs:
    w = req("GET", "/v1/calls/{call_id}/wait", {"call_id": "it-1"}, node=n,
            query="?wait_ms=5000&min_index=%d" % a["applied_index"])
    assert w["call"]["state"] == "ANSWERED" and w["applied_index"] >= a["applied_index"], w
req("GET", "/v1/calls/{call_id}/wait", {"call_id": "no-such-call"}, query="?wait_ms=100", want=404)
req("GET", "/v1/calls/{call_id}/wait", {"call_id": "it-1"}, query="?wait_ms=-1", want=400)
# a call nobody can take: held the whole wait_ms (longer than any libwebsockets timeout), then WAITING
e = req("POST", "/v1/calls", body={"call_id": "it-wait", "queue": "nobody-here", "caller_number": "+98",
                                   "arrival_site": "tehran"})
t0 = time.time()
w = req("GET", "/v1/calls/{call_id}/wait", {"call_id": "it-wait"},
        query="?wait_ms=6500&min_index=%d" % e["applied_index"])
assert w["call"]["state"] == "WAITING" and time.time() - t0 >= 6.4, ("held %.2f s" % (time.time() - t0), w)
req("POST", "/v1/calls/{call_id}/abandon", {"call_id": "it-wait"}, {})
assert int(d.get("queue_position", 0)) == 0, d  # not waiting: no place in line
req("POST", "/v1/calls", body=dict(enq, call_id="it-w", caller_number="+982155501099"))
d = req("GET", "/v1/calls/{call_id}", {"call_id": "it-w"})
assert int(d["queue_position"]) == 1 and int(d.get("expected_wait_ms", 0)) >= 0, d  # one answer: a rate
req("POST", "/v1/calls/{call_id}/abandon", {"call_id": "it-w"})

# a ticket from the call
d = req("POST", "/v1/tickets", body={"customer_id": "cust-1", "call_id": "it-1",
                                     "category": "complaint-passenger", "subject": "late delivery",
                                     "ticket_class": "urgent"})
code = d["ticket"]["code"]
req("POST", "/v1/tickets/{code}/update", {"code": code},
    {"status": "IN_PROGRESS", "note": "called the dealer", "author": "ag-1"})
d = req("GET", "/v1/tickets/{code}", {"code": code})
assert d["ticket"]["status"] == "IN_PROGRESS" and len(d["ticket"]["notes"]) >= 1, d
assert d["ticket"]["ticket_class"] == "urgent", d
assert int(d["ticket"]["target_ms"]) == int(d["ticket"]["created_ms"]) + 30 * 60 * 1000, d
# read back over the phone: lower case, O for 0, I/L for 1
typed = code.lower().replace("0", "o").replace("1", "l")
d2 = req("GET", "/v1/tickets/{code}", {"code": typed})
assert d2["ticket"]["code"] == code, (typed, d2)
d = req("GET", "/v1/tickets", query="?customer_id=cust-1&limit=5")
assert [t["code"] for t in d["tickets"]] == [code], d
# ticket classes (issue 16 item 6): a new class with its target, read back, bad input refused
req("POST", "/v1/ticket-classes/{ticket_class}", {"ticket_class": "vip-complaint"},
    {"target_ms": 2 * 3600 * 1000, "due_soon_ms": 20 * 60 * 1000})
d = req("GET", "/v1/ticket-classes", query="?ticket_class=vip-complaint")
tc = d["ticket_classes"]
assert len(tc) == 1 and tc[0]["ticket_class"] == "vip-complaint" and tc[0]["configured"], d
assert int(tc[0]["target_ms"]) == 2 * 3600 * 1000 and int(tc[0]["due_soon_ms"]) == 20 * 60 * 1000, d
d = req("GET", "/v1/ticket-classes")
assert [c["ticket_class"] for c in d["ticket_classes"]] == ["urgent", "follow-up", "vip-complaint"], d
d = req("POST", "/v1/ticket-classes/{ticket_class}", {"ticket_class": "vip-complaint"},
        {"due_soon_ms": 3 * 3600 * 1000}, want=400)
assert "due_soon_ms" in d["message"], d
req("GET", "/v1/ticket-classes", query="?ticket_class=nope", want=404)
d = req("POST", "/v1/tickets", body={"customer_id": "cust-1", "category": "complaint-commercial",
                                     "subject": "overcharged", "ticket_class": "vip-complaint"})
assert int(d["ticket"]["target_ms"]) == int(d["ticket"]["created_ms"]) + 2 * 3600 * 1000, d
code_vip = d["ticket"]["code"]
d = req("GET", "/v1/tickets", query="?customer_id=cust-1&limit=5")
assert [t["code"] for t in d["tickets"]] == [code, code_vip], d
# paging past the first page: a reply's next_cursor (hex) back as ?cursor=
d = req("GET", "/v1/tickets", query="?customer_id=cust-1&limit=1")
assert [t["code"] for t in d["tickets"]] == [code] and d["next_cursor"], d
d2 = req("GET", "/v1/tickets", query="?customer_id=cust-1&limit=1&cursor=" + d["next_cursor"])
assert [t["code"] for t in d2["tickets"]] == [code_vip] and "next_cursor" not in d2, d2
d2 = req("GET", "/v1/tickets", query="?customer_id=cust-1&cursor=zz", want=400)
assert "next_cursor" in d2["message"], d2
req("GET", "/v1/tickets", query="?customer_id=cust-9&cursor=" + d["next_cursor"], want=400)
# neither is past its target (30 min, 2 h) nor due soon (10 min, 20 min before) yet
d = req("GET", "/v1/tickets-due", query="?ticket_class=urgent")
assert d["tickets"] == [], d
d = req("GET", "/v1/tickets-due", query="?due_soon=true&limit=5")
assert d["tickets"] == [], d
req("GET", "/v1/tickets-due", query="?site=no%20such", want=400)
req("POST", "/v1/calls/{call_id}/end", {"call_id": "it-1"}, {"agent_id": "ag-1"})

# a callback: requested while waiting, dialled by the agent, answered and ended
req("POST", "/v1/calls", body=dict(enq, call_id="it-2", tier=0))
req("POST", "/v1/calls/{call_id}/callback", {"call_id": "it-2"}, {"number": "+982155501002"})
d = req("POST", "/v1/calls/next", body={"agent_id": "ag-1"})
assert d["call"]["call_id"] == "it-2" and d["call"]["callback"], d
tok = {"agent_id": "ag-1", "offer_term": d["call"]["offer_term"], "offer_index": d["call"]["offer_index"]}
req("POST", "/v1/calls/{call_id}/dial", {"call_id": "it-2"}, {"agent_id": "ag-1"})
req("POST", "/v1/calls/{call_id}/answer", {"call_id": "it-2"}, tok)
req("POST", "/v1/calls/{call_id}/end", {"call_id": "it-2"}, {"agent_id": "ag-1"})

# an abandon, scheduled and voicemail callbacks
req("POST", "/v1/calls", body=dict(enq, call_id="it-3"))
d = req("POST", "/v1/calls/{call_id}/abandon", {"call_id": "it-3"})
d = req("GET", "/v1/calls/{call_id}", {"call_id": "it-3"}, query="?stale=false")
assert d["call"]["state"] == "ABANDONED", d
req("POST", "/v1/callbacks/schedule", body={"callback_id": "cb-1", "customer_id": "cust-1",
                                             "number": "+982155501003", "queue": "sales",
                                             "at_ms": int(time.time() * 1000) + 3600000, "tier": 1})
req("POST", "/v1/callbacks/voicemail", body={"callback_id": "vm-1", "number": "+982155501004",
                                              "queue": "sales", "site": "tehran"})
d = req("GET", "/v1/customers/{customer_id}/history", {"customer_id": "cust-1"}, query="?limit=20")
assert len(d["history"]) >= 2, d
h1 = req("GET", "/v1/customers/{customer_id}/history", {"customer_id": "cust-1"}, query="?limit=1")
h2 = req("GET", "/v1/customers/{customer_id}/history", {"customer_id": "cust-1"},
         query="?limit=1&cursor=" + h1["next_cursor"])
assert h2["history"] == d["history"][1:2], (h1, h2, d)
# the CRM's customer record (issue 16 item 5): set, shown, refused when bad, the tier of a call
req("POST", "/v1/customers/{customer_id}", {"customer_id": "cust-9"},
    {"tier": 3, "phone_numbers": ["+989121234567"], "national_id": "0499370899", "sms_consent": True})
d = req("GET", "/v1/customers/{customer_id}", {"customer_id": "cust-9"})
assert d["customer"]["record"] and d["customer"]["tier"] == 3, d
assert d["customer"]["phone_numbers"] == ["+989121234567"] and d["customer"]["sms_consent"], d
d = req("POST", "/v1/customers/{customer_id}", {"customer_id": "cust-9"},
        {"tier": 0, "national_id": "0499370898"}, want=400)
assert d["code"] == "INVALID_ARGUMENT" and "check digit" in d["message"], d
assert req("GET", "/v1/customers/{customer_id}", {"customer_id": "cust-9"})["customer"]["tier"] == 3
d = req("POST", "/v1/calls", body=dict(enq, call_id="it-c9", customer_id="cust-9", tier=0,
                                       caller_number="+989121234567"))
assert d["call"]["tier"] == 3, d  # the record's tier, not the PBX's
req("POST", "/v1/calls/{call_id}/abandon", {"call_id": "it-c9"})
req("GET", "/v1/customers/{customer_id}", {"customer_id": "nobody"}, want=404)
# outbound campaigns (issue 16 item 4): created, targets added (a duplicate skipped), paused and
# resumed, shown and listed; bad input refused and nothing changed (no agent serves "outbound")
d = req("POST", "/v1/campaigns/{campaign_id}", {"campaign_id": "flt-1"},
        {"queue": "outbound", "site": "tehran", "pacing_percent": 150})
assert d["campaign"]["pacing_percent"] == 150 and d["campaign"]["targets"] == 0, d
req("POST", "/v1/campaigns/{campaign_id}", {"campaign_id": "flt-1"},
    {"queue": "outbound", "site": "tehran"}, want=409)
d = req("POST", "/v1/campaigns/{campaign_id}/targets", {"campaign_id": "flt-1"},
        {"targets": [{"number": "+982155509001", "customer_id": "cust-1"},
                     {"number": "+982155509002"}, {"number": "+982155509001"}]})
assert d["campaign"]["targets"] == 2 and d["campaign"]["duplicates"] == 1, d
d = req("POST", "/v1/campaigns/{campaign_id}/targets", {"campaign_id": "flt-1"},
        {"targets": [{"number": "not a number"}]}, want=400)
assert "targets.number" in d["message"], d
req("POST", "/v1/campaigns/{campaign_id}/targets", {"campaign_id": "nope"},
    {"targets": [{"number": "+982155509003"}]}, want=404)
req("POST", "/v1/campaigns/{campaign_id}/pause", {"campaign_id": "flt-1"}, {"paused": True})
d = req("GET", "/v1/campaigns/{campaign_id}", {"campaign_id": "flt-1"}, query="?limit=5")
assert d["campaign"]["paused"] and d["campaign"]["targets"] == 2 and d["calls"] == [], d
req("POST", "/v1/campaigns/{campaign_id}/pause", {"campaign_id": "flt-1"}, {"paused": False})
d = req("GET", "/v1/campaigns")
assert [c["campaign_id"] for c in d["campaigns"]] == ["flt-1"] and not d["campaigns"][0]["paused"], d
req("GET", "/v1/campaigns/{campaign_id}", {"campaign_id": "nope"}, want=404)
d = req("DELETE", "/v1/campaigns/{campaign_id}", {"campaign_id": "flt-1"}, want=409)  # running
assert "not over" in d["message"], d
req("POST", "/v1/campaigns/{campaign_id}/pause", {"campaign_id": "flt-1"}, {"paused": True})
req("DELETE", "/v1/campaigns/{campaign_id}", {"campaign_id": "flt-1"})
req("GET", "/v1/campaigns/{campaign_id}", {"campaign_id": "flt-1"}, want=404)
d = req("GET", "/v1/stats")
assert any(s["scope"] == "queue" and s["name"] == "sales" for s in d["stats"]), d
req("GET", "/v1/stats", query="?queue=sales&site=tehran")
# Stats over intervals: the nested day lines and the ticket class scope against the schema too.
d = req("GET", "/v1/stats", query="?interval=days&queue=sales")
assert d["stats"][0]["interval"] == "days" and d["stats"][0]["days"], d
assert all(x["scope"] == "day" for x in d["stats"][0]["days"]), d
req("GET", "/v1/stats", query="?interval=today&ticket_class=urgent")
req("GET", "/v1/stats", query="?interval=15m")
req("GET", "/v1/stats", query="?interval=week", want=400)
req("POST", "/v1/sites/{site}/down", {"site": "shiraz"}, {"reason": "drill"})
req("POST", "/v1/sites/{site}/up", {"site": "shiraz"})
req("POST", "/v1/sites/{site}/heartbeat", {"site": "shiraz"})
req("POST", "/v1/agents/{agent_id}/logout", {"agent_id": "ag-1"})
req("POST", "/v1/snapshot")
# bearer tokens (docs/security.md): the answer carries the token once, never its hash
d = req("POST", "/v1/tokens", body={"name": "wall", "roles": ["supervisor"], "expires_ms": 4102444800000})
assert d["bearer"].startswith("crt_") and "hash" not in d["token"], d
d2 = req("GET", "/v1/tokens")
assert [t["id"] for t in d2["tokens"]] == [d["token"]["id"]], d2
req("DELETE", "/v1/tokens/{id}", {"id": str(d["token"]["id"])})
req("DELETE", "/v1/tokens/{id}", {"id": str(d["token"]["id"])}, want=404)

# errors keep their documented shape
req("GET", "/v1/calls/{call_id}", {"call_id": "no-such-call"}, want=404)
req("GET", "/v1/tickets/{code}", {"code": "T031MZS"}, want=404)  # well formed, no such ticket
req("GET", "/v1/tickets/{code}", {"code": "T00000X"}, want=400)  # wrong check symbol
req("POST", "/v1/calls/next", body={"agent_id": "nobody"}, want=404)
req("POST", "/v1/calls", body=dict(enq, call_id="it-4", tier=99), want=400)

# rules versions (admin): every member of a plain build declares 1..1, so nothing to raise
d = req("GET", "/v1/rules")
assert d["rules_active"] == 1 and d["rules_upgradable"] == 1, d
assert all((m["rules_oldest"], m["rules_newest"]) == (1, 1) for m in d["members"]), d
d = req("POST", "/v1/rules/upgrade", body={}, write=False)
assert d["message"] == "rules version 1 is already active", d
req("POST", "/v1/rules/upgrade", body={"version": 2}, want=409, write=False)

# membership: a fourth node, added as a spare, made standby, removed; then a leader transfer
subprocess.run([os.environ["CLUSTER_SH"], "new", "4", "shiraz"], check=True, stdout=subprocess.DEVNULL)
req("POST", "/v1/members", body={"id": 4, "site": "shiraz", "raft_address": "127.0.0.1:%d" % (base + 4),
                                 "client_address": "127.0.0.1:%d" % (base + 104),
                                 "http_address": "127.0.0.1:%d" % (base + 204)})
d = req("GET", "/v1/members")
m4 = [m for m in d["members"] if m["id"] == 4]
assert m4 and m4[0]["http_address"] == "127.0.0.1:%d" % (base + 204), d
req("POST", "/v1/members/{id}/assign", {"id": 4}, {"role": "STANDBY"})
req("DELETE", "/v1/members/{id}", {"id": 4})
req("POST", "/v1/members/transfer", body={})
subprocess.run([os.environ["CLUSTER_SH"], "kill", "4"], check=True, stdout=subprocess.DEVNULL)

# the Server-Sent Events routes: open, read the first events within a bound, check, close
def stream(template, params, query, want_events, kinds=None, headers=None):
    path = template
    for k, v in params.items():
        path = path.replace("{%s}" % k, str(v))
    host, port = next(rr).rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path + query, headers=dict({"Accept": "text/event-stream"}, **(headers or {})))
        resp = conn.getresponse()
        ctype = resp.getheader("Content-Type", "")
        if resp.status != 200:
            chk.check("GET", template, resp.status, json.loads(resp.read()))
            return resp.status, []
        events, ev, deadline = [], {}, time.time() + 10
        while len(events) < want_events:
            assert time.time() < deadline, "GET %s%s: %d events in 10 s" % (path, query, len(events))
            line = resp.fp.readline()   # the socket timeout bounds each read
            assert line, "GET %s%s: stream closed after %d events" % (path, query, len(events))
            line = line.decode().rstrip("\n")
            if line == "":
                if "data" in ev:
                    events.append((ev.get("id"), ev.get("event"), json.loads(ev["data"])))
                ev = {}
            elif not line.startswith(":"):
                k, _, v = line.partition(":")
                ev[k] = v[1:] if v.startswith(" ") else v
        chk.check_stream(template, resp.status, ctype, events)
        return resp.status, events
    finally:
        conn.close()

st, evs = stream("/v1/events", {}, "?from=1", 8)
assert st == 200 and len(evs) == 8, evs
st, evs = stream("/v1/events", {}, "?from=1&queue=sales&kind=CALL_ANSWERED,CALL_ENDED", 3)
assert [(e[1], e[2]["call_id"]) for e in evs] == [("CALL_ANSWERED", "it-1"), ("CALL_ENDED", "it-1"),
                                                  ("CALL_ANSWERED", "it-2")], evs
st, evs = stream("/v1/agents/{agent_id}/offers", {"agent_id": "ag-1"}, "?from=1", 3)
assert [e[2]["call_id"] for e in evs] == ["it-1", "it-1", "it-2"], evs
assert all(e[1] == "CALL_OFFERED" and e[2]["agent_id"] == "ag-1" and e[2]["offer_index"] > 0
           for e in evs), evs
# Last-Event-ID resumes right after the event it names
st, again = stream("/v1/agents/{agent_id}/offers", {"agent_id": "ag-1"}, "?from=1", 2,
                   headers={"Last-Event-ID": evs[0][0]})
assert [e[0] for e in again] == [e[0] for e in evs[1:]], (again, evs)
st, _ = stream("/v1/events", {}, "?from=bogus", 0)
assert st == 400, st
st, _ = stream("/v1/events", {}, "?kind=NO_SUCH_KIND", 0)
assert st == 400, st

# the routes that answer text: metrics and the wallboard page
for method, template in (("GET", "/metrics"), ("HEAD", "/metrics"), ("GET", "/"), ("GET", "/wallboard")):
    host, port = next(rr).rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(method, template)
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 200 and (method == "HEAD" or body), (method, template, resp.status)
    chk.check_plain(method, template, resp.status, resp.getheader("Content-Type", ""))
    conn.close()

missing = [op for op in chk.operations() if (op[0], op[1], 200) not in chk.seen]
assert not missing, "operations never answered 200: %s" % missing
print("ok: %d operations, %d (operation, status) pairs validated" %
      (len(list(chk.operations())), len(chk.seen)))
PY
echo "PASS"
