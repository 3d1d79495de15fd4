#!/usr/bin/env bash
# The HTTP/JSON API (node/http_api.c) against a real 1+1+1 cluster, with Python's http.client:
# every node serves /v1/status; reads and writes through a follower are forwarded; a write without
# an Idempotency-Key (header or ?idempotency_key=) is refused; a retried key returns the first reply (to another node too) and a
# reused key for another request is refused; bad requests (unknown paths and methods, malformed
# JSON, wrong types, unknown fields, bad keys and query arguments, oversized bodies and headers,
# chunked bodies, slow and half requests) get 4xx with the CLI's codes or are closed within the
# receive timeout, change nothing, and the node keeps serving.
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

# status: node-local, on every node; the members' HTTP addresses once the leader recorded them
import time
for i, a in enumerate(addrs, 1):
    deadline = time.time() + 20
    while True:
        st, h, d = call(a, "GET", "/v1/status")
        assert st == 200 and d["code"] == "OK", (st, d)
        assert d["status"]["id"] == i, d
        assert h["content-type"].startswith("application/json"), h
        assert {m["id"] for m in d["status"]["members"]} == {1, 2, 3}, d
        if all(m["http_address"] == addrs[m["id"] - 1] for m in d["status"]["members"]):
            break
        assert time.time() < deadline, d
        time.sleep(0.2)

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
# the key as ?idempotency_key= (a client that cannot set headers on a kept-alive connection):
# the same key, the same first reply; a bad or contradicting one is refused, nothing changes
for a in addrs:
    st, _, again = call(a, "POST", "/v1/calls?idempotency_key=k-h-1", body)
    assert st == 200 and again == first, (a, st, again, first)
st, _, d = call(addrs[0], "POST", "/v1/calls?idempotency_key=k-h-1", dict(body, call_id="h-2"))
assert st == 422 and d["code"] == "IDEMPOTENCY_KEY_REUSED", (st, d)
st, _, d = call(addrs[0], "POST", "/v1/calls?idempotency_key=k-h-2", dict(body, call_id="h-2"), key="k-h-3")
assert st == 400 and d["code"] == "INVALID_ARGUMENT" and "differ" in d["message"], (st, d)
st, _, d = call(addrs[0], "POST", "/v1/calls?idempotency_key=", dict(body, call_id="h-2"))
assert st == 400 and d["code"] == "INVALID_ARGUMENT" and "idempotency_key" in d["message"], (st, d)
st, _, d = call(addrs[2], "GET", "/v1/queues/sales")
assert st == 200 and [c["call_id"] for c in d["calls"]] == ["h-1"], d

# bad requests: each gets its status and a JSON body with the CLI's code; nothing changes
a = addrs[0]
def bad(method, path, want, code, raw=None, body=None, key="k-bad", headers=None):
    st, _, d = call(a, method, path, body=body, raw=raw, key=key, headers=headers)
    assert st == want and d["code"] == code, (method, path, st, d, want, code)
    return d
bad("GET", "/v1/nothing-here", 404, "UNKNOWN_OPERATION")
bad("GET", "/nothing", 404, "UNKNOWN_OPERATION")
bad("DELETE", "/v1/calls", 405, "UNKNOWN_OPERATION")
bad("POST", "/v1/calls", 400, "INVALID_ARGUMENT", raw=b'{"call_id": ')          # malformed JSON
bad("POST", "/v1/calls", 400, "INVALID_ARGUMENT", raw=b'{"a":1} trailing')
bad("POST", "/v1/calls", 400, "INVALID_ARGUMENT", raw=b'[1, 2]')                # not an object
bad("POST", "/v1/calls", 400, "INVALID_ARGUMENT", raw=b'\xff\xfe not json')
d = bad("POST", "/v1/calls", 400, "INVALID_ARGUMENT", body=dict(body, tier="gold"))  # wrong types
assert "tier" in d["message"], d
bad("POST", "/v1/calls", 400, "INVALID_ARGUMENT", body=dict(body, tier=-1))
bad("POST", "/v1/calls", 400, "INVALID_ARGUMENT", body=dict(body, tier=1.5))
bad("POST", "/v1/calls", 400, "INVALID_ARGUMENT", body=dict(body, call_id=7))
bad("POST", "/v1/calls", 400, "INVALID_ARGUMENT", body=dict(body, surprise=1))   # unknown field
bad("POST", "/v1/calls", 400, "INVALID_ARGUMENT", body=dict(body, call_id=""))   # node validation
bad("POST", "/v1/calls", 400, "INVALID_ARGUMENT", body=body, key="two words")
bad("POST", "/v1/calls", 400, "INVALID_ARGUMENT", body=body, key="k" * 129)
bad("GET", "/v1/queues/sales?limit=ten", 400, "INVALID_ARGUMENT")
bad("GET", "/v1/queues/sales?stale=maybe", 400, "INVALID_ARGUMENT")
bad("GET", "/v1/queues/sales?timeout_ms=5", 400, "INVALID_ARGUMENT")
bad("POST", "/v1/calls/h-1/answer", 400, "INVALID_ARGUMENT", body={"offer_term": "x"})
d = bad("POST", "/v1/calls", 413, "INVALID_ARGUMENT", raw=b"{" + b" " * 70000 + b"}")  # oversized
assert "limit" in d["message"], d

import re, socket
import http_lib
def raw_exchange(data, wait_s=15):
    """Sends raw bytes; returns what comes back until the node closes the connection."""
    host, port = a.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=wait_s)
    if http_lib._TLS is not None:  # mutual TLS (the default): the raw bytes go inside it
        s = http_lib._TLS.wrap_socket(s, server_hostname=host)
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        raise AssertionError("connection still open after %d s: %r" % (wait_s, out[:200]))
    finally:
        s.close()
    return out

# Bad framing (a chunked body, a negative or malformed Content-Length): a JSON error, then the
# connection is closed at once (what follows is not a request), well before any idle timeout.
def framing(data, status):
    t0 = time.time()
    r = raw_exchange(data, wait_s=5)
    assert r.startswith(b"HTTP/1.1 %d" % status), r[:100]
    assert b"content-type: application/json" in r.lower(), r[:200]
    d = json.loads(r.split(b"\r\n\r\n", 1)[1])
    assert d["code"] == "INVALID_ARGUMENT" and d["message"], d
    assert time.time() - t0 < 4, "closed after %.1f s" % (time.time() - t0)
    return d
import json
framing(b"POST /v1/calls HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\n{}{}{\r\n0\r\n\r\n", 411)
for cl in (b"-5", b"-1", b"-0", b"-99999999999999999999", b"12abc"):
    d = framing(b"POST /v1/calls HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\r\nContent-Length: " + cl +
                b"\r\n\r\n", 400)
    assert "Content-Length" in d["message"], d
framing(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400)
r = raw_exchange(b"GARBAGE\r\n\r\n")
assert r == b"" or re.match(rb"HTTP/1.[01] 4", r), r[:100]
# Headers beyond CALLRAFT_HTTP_HEADER_BYTES_MAX: libwebsockets closes the connection.
r = raw_exchange(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n")
assert not r.startswith(b"HTTP/1.1 200"), r[:100]

# Slow and half requests are closed within the receive timeout (10 s) while the node serves others.
import threading, time
results = {}
def slow(name, data):
    t0 = time.time()
    results[name] = (raw_exchange(data, wait_s=25), time.time() - t0)
threads = [threading.Thread(target=slow, args=("half-headers", b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")),
           threading.Thread(target=slow, args=("half-body", b"POST /v1/calls HTTP/1.1\r\nHost: x\r\n"
                                               b"Idempotency-Key: k-half\r\nContent-Length: 100\r\n\r\n{\"call_id\"")),
           threading.Thread(target=slow, args=("nothing", b""))]
for t in threads:
    t.start()
for _ in range(20):
    st, _, _ = call(a, "GET", "/v1/status")
    assert st == 200, st
    time.sleep(0.05)
for t in threads:
    t.join(30)
for name, (r, took) in sorted(results.items()):
    print("%s: closed after %.1f s (%d bytes answered)" % (name, took, len(r)))
    assert took < 22, (name, took)
    assert b" 200 " not in r[:20], (name, r[:100])

# Idle connections that never send a request do not hold new clients up (each parsing connection
# holds a header buffer: with a pool smaller than the connection limit, 300 idle sockets made new
# clients wait and be reset).
idle = [socket.create_connection((a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])), timeout=5)
        for _ in range(300)]
time.sleep(0.3)
t0 = time.time()
st, _, _ = call(a, "GET", "/v1/status", timeout=5)
assert st == 200 and time.time() - t0 < 3, (st, time.time() - t0)
for x in idle:
    x.close()

# Nothing of all that changed the state, and the node keeps serving.
st, _, d = call(addrs[2], "GET", "/v1/queues/sales")
assert st == 200 and [c["call_id"] for c in d["calls"]] == ["h-1"], d
for x in addrs:
    st, _, _ = call(x, "GET", "/v1/status")
    assert st == 200, (x, st)
print("ok")
PY
echo "PASS"
