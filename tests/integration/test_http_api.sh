#!/usr/bin/env bash
# The HTTP/JSON API (node/http_api.c) against a real 1+1+1 cluster, with Python's http.client:
# every node serves /v1/status; reads and writes through a follower are forwarded; a write without
# an Idempotency-Key is refused; a retried key returns the first reply (to another node too) and a
# reused key for another request is refused; unknown paths and malformed bodies get 4xx with the
# CLI's codes and the node keeps serving.
source "$(dirname "$0")/lib.sh"

step "start a 1+1+1 cluster"
"$CLUSTER_SH" up 1+1+1 >/dev/null
wait_leader >/dev/null
export HTTP_ADDRS=$("$CLUSTER_SH" http-addresses)

step "HTTP API checks"
PYTHONPATH="$(dirname "$0")" python3 - <<'PY'
import os
from http_lib import call, retry, wait_http

addrs = os.environ["HTTP_ADDRS"].split(",")
wait_http(addrs)

# status: node-local, on every node
for i, a in enumerate(addrs, 1):
    st, h, d = call(a, "GET", "/v1/status")
    assert st == 200 and d["code"] == "OK", (st, d)
    assert d["status"]["id"] == i, d
    assert h["content-type"].startswith("application/json"), h
    assert {m["id"] for m in d["status"]["members"]} == {1, 2, 3}, d
    assert all(m["http_address"] for m in d["status"]["members"]), d

st, d, _ = retry(addrs, "GET", "/v1/members")
assert st == 200 and len(d["members"]) == 3, d

# a write needs an Idempotency-Key
body = {"call_id": "h-1", "queue": "sales", "caller_number": "+982155500001", "arrival_site": "tehran"}
st, _, d = call(addrs[0], "POST", "/v1/calls", body)
assert st == 400 and d["code"] == "INVALID_ARGUMENT" and "Idempotency-Key" in d["message"], (st, d)

# the first reply, on every node, for the same key
st, first, _ = retry(addrs, "POST", "/v1/calls", body, key="k-h-1")
assert st == 200 and first["call"]["state"] == "WAITING", first
for a in addrs:
    st, _, again = call(a, "POST", "/v1/calls", body, key="k-h-1")
    assert st == 200 and again == first, (a, st, again, first)
# the key for another request
st, _, d = call(addrs[1], "POST", "/v1/calls", dict(body, call_id="h-2"), key="k-h-1")
assert st == 422 and d["code"] == "IDEMPOTENCY_KEY_REUSED", (st, d)
st, _, d = call(addrs[2], "GET", "/v1/queues/sales")
assert st == 200 and [c["call_id"] for c in d["calls"]] == ["h-1"], d

# bad requests, and the node keeps serving
st, _, d = call(addrs[0], "GET", "/v1/nothing-here")
assert st == 404 and d["code"] == "UNKNOWN_OPERATION", (st, d)
st, _, d = call(addrs[0], "POST", "/v1/calls", raw=b'{"call_id": ', key="k-bad-1")
assert st == 400 and d["code"] == "INVALID_ARGUMENT", (st, d)
st, _, d = call(addrs[0], "GET", "/v1/status")
assert st == 200, st
print("ok")
PY
echo "PASS"
