#!/usr/bin/env bash
# Bearer tokens for browsers (issue 13) against a running 1+1+1 cluster with mutual TLS:
#   1. an admin issues tokens with the CLI and over HTTP; the token string is shown once and is in
#      no node's data directory (only its SHA-256 is replicated);
#   2. HTTPS without a client certificate: no token, a malformed or unknown one -> 401 naming why;
#      a token's roles and site act as a certificate's (403 without the role, or on another site);
#      the wallboard page needs nothing; /metrics needs a token or a certificate;
#   3. an agent certificate cannot issue tokens; a session or idempotency key is the token's own;
#   4. a revoked token is refused by every node; an expired one too.
source "$(dirname "$0")/lib.sh"
http_addr() { echo "127.0.0.1:$((CALLRAFT_PORT_BASE + 200 + $1))"; }
C=$CALLRAFT_LAB/certs

step "start a 1+1+1 cluster with mutual TLS"
"$CLUSTER_SH" up 1+1+1 >/dev/null
leader=$(wait_leader)
H="$(http_addr 1) $(http_addr 2) $(http_addr 3)"

step "1. issue tokens (CLI and HTTP)"
wall=$("$CLI" --cluster "$(cluster)" --json token issue wallboard-1 --roles supervisor --ttl 1h)
echo "  cli: $(echo "$wall" | python3 -c 'import json,sys; d=json.load(sys.stdin); d["bearer"]=d["bearer"][:8]+"..."; print(d)')"
T1=$(echo "$wall" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bearer"])')
T1_ID=$(echo "$wall" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"]["id"])')
T2=$(PYTHONPATH="$(dirname "$0")" python3 - "$(http_addr 2)" <<'PY'
import sys
from http_lib import call
st, _, doc = call(sys.argv[1], "POST", "/v1/tokens", key="tok-1",
                  body={"name": "desk-tehran", "roles": ["agent"], "site": "tehran",
                        "expires_ms": 4102444800000})
assert st == 200 and doc["bearer"].startswith("crt_") and len(doc["bearer"]) == 68, (st, doc)
assert "hash" not in doc["token"], doc
print(doc["bearer"])
PY
)
[[ $T1 == crt_* ]] && [[ $T2 == crt_* ]] || fail "no tokens issued"
list=$("$CLI" --cluster "$(cluster)" --json token list)
echo "$list" | python3 -c 'import json,sys; d=json.load(sys.stdin)["tokens"]; assert [t["name"] for t in d] == ["wallboard-1","desk-tehran"] or sorted(t["name"] for t in d) == ["desk-tehran","wallboard-1"], d; assert all("hash" not in t for t in d), d' ||
  fail "token list: $list"
"$CLI" --cluster "$(cluster)" token list
wait_caught_up 1 2 3 # every node applied the issues (the checks below read each node's own state)
for i in 1 2 3; do
  ! grep -rqa "$T1" "$CALLRAFT_LAB/node$i/data" || fail "token 1's string is stored in node $i's data"
  ! grep -rqa "$T2" "$CALLRAFT_LAB/node$i/data" || fail "token 2's string is stored in node $i's data"
done
echo "  neither token string is in any data directory (log, snapshots, LMDB)"

step "2. HTTPS without a client certificate"
python3 - "$T1" "$T2" $H <<'PY'
import http.client, json, ssl, os, sys, time
t1, t2, addrs = sys.argv[1], sys.argv[2], sys.argv[3:]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(os.environ["CALLRAFT_TLS_CA"])  # the node is checked, we show no certificate

def stream_status(addr, path, token):
    # The status of an event stream (SSE): headers only, then hang up.
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPSConnection(host, int(port), timeout=10, context=ctx)
    c.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    st = r.status
    doc = json.loads(r.read()) if st != 200 else None
    c.close()
    return st, doc

def call(addr, method, path, token=None, body=None, key=None, query_token=False):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPSConnection(host, int(port), timeout=10, context=ctx)
    h = {}
    if token and not query_token:
        h["Authorization"] = "Bearer " + token
    if token and query_token:
        path += ("&" if "?" in path else "?") + "access_token=" + token
    if body is not None:
        h["Content-Type"] = "application/json"
    if key:
        h["Idempotency-Key"] = key
    c.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    doc = json.loads(data) if data and r.getheader("Content-Type", "").startswith("application/json") else data
    return r.status, doc

def expect(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)
    print("  ok: " + what)

a = addrs[0]
st, doc = call(a, "GET", "/v1/status")
expect(st == 401 and "bearer token is required" in doc["message"], "no certificate, no token: 401 %s" % doc)
st, doc = call(a, "GET", "/v1/status", token="crt_nothex")
expect(st == 401 and "malformed" in doc["message"], "a malformed token: 401 %s" % doc["message"])
st, doc = call(a, "GET", "/v1/status", token="crt_" + "0" * 64)
expect(st == 401 and "unknown or revoked" in doc["message"], "an unknown token: 401 %s" % doc["message"])
st, doc = call(a, "GET", "/metrics")
expect(st == 401, "/metrics without a certificate or token: 401")
st, doc = call(a, "GET", "/wallboard")
expect(st == 200 and b"<html" in doc.lower(), "the wallboard page is public: 200")
for addr in addrs:
    st, doc = call(addr, "GET", "/v1/sites", token=t1)
    expect(st == 200 and "sites" in doc, "supervisor token on %s: GET /v1/sites 200" % addr)
st, doc = call(a, "GET", "/metrics", token=t1)
expect(st == 200, "/metrics with a token: 200")
st, doc = call(a, "GET", "/v1/tickets?customer_id=nobody", token=t1, query_token=True)
expect(st == 200, "a GET with ?access_token= (EventSource cannot set headers): 200 %s" % (doc,))
st, doc = call(a, "POST", "/v1/sites/tehran/down", token=t1, body={"reason": "x"}, key="k-down")
expect(st == 403 and "needs role admin" in doc["message"] and "wallboard-1" in doc["message"],
       "supervisor token, site down: 403 %s" % doc["message"])
st, doc = call(a, "POST", "/v1/tokens", token=t1, body={"name": "x", "roles": ["admin"], "expires_ms": 4102444800000}, key="k-esc")
expect(st == 403, "a supervisor token cannot issue tokens: 403")
st, doc = call(a, "POST", "/v1/calls", token=t2, key="k-shz",
               body={"call_id": "web-shz", "queue": "sales", "caller_number": "+987100000001", "arrival_site": "shiraz"})
expect(st == 403 and "limited to site 'tehran'" in doc["message"], "tehran agent token, call at shiraz: 403 %s" % doc["message"])
st, doc = call(a, "POST", "/v1/calls", token=t2, key="k-teh",
               body={"call_id": "web-teh", "queue": "sales", "caller_number": "+982100000001", "arrival_site": "tehran"})
expect(st == 200 and doc["call"]["call_id"] == "web-teh", "tehran agent token, call at tehran: 200")
# What a request names by id must be of the token's site too (state/site_scope.c): a shiraz call
# and agent, set up by the supervisor token, are out of the tehran agent token's reach, and the
# enqueue that reuses the shiraz call's id does not hand back its caller.
st, doc = call(a, "POST", "/v1/calls", token=t1, key="k-shz-sup",
               body={"call_id": "web-shz", "queue": "support", "caller_number": "+987100000007", "arrival_site": "shiraz"})
expect(st == 200 and doc["call"]["arrival_site"] == "shiraz", "supervisor token, a call at shiraz: 200")
st, doc = call(a, "POST", "/v1/agents/web-a-shz/login", token=t1, key="k-a-shz",
               body={"name": "Reza", "site": "shiraz", "skills": ["sales"]})
expect(st == 200, "supervisor token, an agent of shiraz: 200")
def shz_state():
    _, c = call(a, "GET", "/v1/calls/web-shz", token=t1)
    _, g = call(a, "GET", "/v1/agents/web-a-shz", token=t1)
    return c["call"]["state"], c["call"]["caller_number"], g["agent"]["state"]
before = shz_state()
for i, (method, path, body, what) in enumerate([
        ("POST", "/v1/calls", {"call_id": "web-shz", "queue": "support", "caller_number": "+982100000009", "arrival_site": "tehran"}, "call_enqueue: call 'web-shz' arrived at site 'shiraz'"),
        ("POST", "/v1/calls/web-shz/abandon", {}, "call_abandon: call 'web-shz' arrived at site 'shiraz'"),
        ("GET", "/v1/calls/web-shz", None, "call_show: call 'web-shz' arrived at site 'shiraz'"),
        ("POST", "/v1/calls/web-shz/end", {"agent_id": "web-a-shz"}, "call_end: agent 'web-a-shz' is of site 'shiraz'"),
        ("POST", "/v1/agents/web-a-shz/state", {"state": "AVAILABLE"}, "agent_set_state: agent 'web-a-shz' is of site 'shiraz'"),
        ("POST", "/v1/agents/web-a-shz/logout", {}, "agent_logout: agent 'web-a-shz' is of site 'shiraz'")]):
    st, doc = call(a, method, path, token=t2, body=body, key=None if method == "GET" else "k-x-%d" % i)
    expect(st == 403 and doc["code"] == "PERMISSION_DENIED" and what in doc["message"] and
           "limited to site 'tehran'" in doc["message"] and "call" not in doc and "agent" not in doc and
           "+987100000007" not in json.dumps(doc),
           "tehran agent token, %s %s: 403 %s" % (method, path, doc["message"]))
expect(shz_state() == before, "shiraz's call and agent unchanged: %s" % (before,))
st, doc = stream_status(a, "/v1/events?site=shiraz", t2)
expect(st == 403 and "limited to site 'tehran'" in doc["message"], "tehran agent token, shiraz's event stream: 403 %s" % doc["message"])
st, doc = stream_status(a, "/v1/events", t2)
expect(st == 200, "tehran agent token, the event stream (narrowed to tehran): 200")
# The idempotency key is the token's: the supervisor token reusing it gets no reply of it.
st, doc = call(a, "POST", "/v1/calls", token=t1, key="k-teh",
               body={"call_id": "web-teh", "queue": "sales", "caller_number": "+982100000001", "arrival_site": "tehran"})
expect(st == 422 and "call" not in doc, "another token reusing the key: 422, no reply: %s" % doc.get("code"))
st, doc = call(a, "POST", "/v1/calls", token=t2, key="k-teh",
               body={"call_id": "web-teh", "queue": "sales", "caller_number": "+982100000001", "arrival_site": "tehran"})
expect(st == 200 and doc["call"]["call_id"] == "web-teh", "the owner's retry: the first reply")
PY

step "3. an agent certificate cannot issue tokens"
set +e
"$ROOT/deploy/certs.sh" issue "$C" client desk-9 agent >/dev/null
CALLRAFT_TLS_CERT=$C/desk-9.crt CALLRAFT_TLS_KEY=$C/desk-9.key \
  "$CLI" --cluster "$(cluster)" token issue sneaky --roles admin 2>"$CALLRAFT_LAB/e1"; rc=$?
set -e
echo "  $(cat "$CALLRAFT_LAB/e1")"
[ $rc != 0 ] && grep -q "PERMISSION_DENIED: token_issue needs role admin" "$CALLRAFT_LAB/e1" || fail "an agent issued a token"

step "4. revoke and expiry"
"$CLI" --cluster "$(cluster)" token revoke "$T1_ID"
# The short token's clock runs from here: the script below starts at once and waits on each node
# (each judges from its own state and clock) instead of sleeping a fixed time.
short=$("$CLI" --cluster "$(cluster)" --json token issue short --roles supervisor --ttl 20s)
python3 - "$T1" "$short" $H <<'PY'
import http.client, json, ssl, os, sys, time
t1, short, addrs = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
t3, t3_expires_ms = short["bearer"], short["token"]["expires_ms"]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(os.environ["CALLRAFT_TLS_CA"])
def get(addr, token):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPSConnection(host, int(port), timeout=10, context=ctx)
    c.request("GET", "/v1/sites", headers={"Authorization": "Bearer " + token})
    r = c.getresponse(); doc = json.loads(r.read()); c.close()
    return r.status, doc
def until(addr, token, ok, deadline_ms):
    # Asks until ok(status, doc) or the deadline (a node that has not applied the change yet).
    while True:
        st, doc = get(addr, token)
        if ok(st, doc) or time.time() * 1000 >= deadline_ms:
            return st, doc
        time.sleep(0.2)
for a in addrs:
    st, doc = until(a, t3, lambda st, doc: st == 200, t3_expires_ms)
    if st != 200:
        sys.exit("FAIL: the short token was not accepted by %s before it expired: %s %s" % (a, st, doc))
    print("  ok: the short token is accepted by %s" % a)
for a in addrs:
    st, doc = until(a, t1, lambda st, doc: st == 401, time.time() * 1000 + 20000)
    assert st == 401 and "unknown or revoked" in doc["message"], (a, st, doc)
    print("  ok: revoked token refused by %s: %s" % (a, doc["message"]))
# Past its expiry: refused.
time.sleep(max(0, t3_expires_ms / 1000 - time.time()) + 0.5)
for a in addrs:
    st, doc = get(a, t3)
    assert st == 401 and "expired" in doc["message"], (a, st, doc)
    print("  ok: expired token refused by %s: %s" % (a, doc["message"]))
PY
grep -q "http: /v1/sites refused: bearer token unknown or revoked\|refused: bearer token" "$CALLRAFT_LAB"/node*/log || fail "token refusals are not logged"
out=$("$CLI" --cluster "$(cluster)" token revoke "$T1_ID" 2>&1 || true)
echo "$out" | grep -q "NOT_FOUND" || fail "revoking twice: not NOT_FOUND: $out"
echo "PASS"
