#!/usr/bin/env bash
# Exactly once over HTTP through a leader failover, on a real 1+1+1 cluster, with Python's
# http.client as the only client:
#  1. a PBX writes through the leader's HTTP listener (ticket opens: no natural key, so only the
#     Idempotency-Key can make a retry harmless) while the leader is SIGKILLed; every write whose
#     answer did not come back (connection reset, 503, 504) is retried with the same key to the
#     other nodes until it is answered. Afterwards the customer has exactly one ticket per key, and
#     each key's ticket code is the one its answer named.
#  2. every key that was answered before the kill is sent again, to another node: the first reply
#     comes back (same ticket code) and nothing changes.
#  3. an enqueue answered by the old leader, retried to another node after the kill: one call.
#  4. a write whose outcome is unknown (a follower forwards it to a SIGSTOPped leader: 504 at its
#     deadline), retried with the same key to a third node after that leader is SIGKILLed: applied
#     once.
source "$(dirname "$0")/lib.sh"

step "start a 1+1+1 cluster"
"$CLUSTER_SH" up 1+1+1 >/dev/null
leader=$(wait_leader)
echo "leader: $leader"
export HTTP_ADDRS=$("$CLUSTER_SH" http-addresses) CLUSTER_SH LEADER=$leader

PYTHONPATH="$(dirname "$0")" python3 - <<'PY'
import http.client, os, subprocess, threading, time, traceback
from http_lib import call, retry, wait_http

addrs = os.environ["HTTP_ADDRS"].split(",")
wait_http(addrs)
leader = int(os.environ["LEADER"])
lead_addr = addrs[leader - 1]
others = [a for a in addrs if a != lead_addr]
cust = "fo-%d" % os.getpid()
N = 120

def ticket(i):
    return {"customer_id": cust, "category": "complaint-passenger", "subject": "failover %d" % i}

def leader_id(via):
    st, d, _ = retry(via, "GET", "/v1/status")
    return d["status"]["leader_id"]

# ---- 1. writes through the leader while it is SIGKILLed ---------------------------------------
answered = {}        # key -> ticket code
before_kill = set()  # keys answered by the old leader
killed = threading.Event()

def writer():
    for i in range(N):
        key = "%s-k%d" % (cust, i)
        try:
            st, _, d = call(lead_addr, "POST", "/v1/tickets", ticket(i), key=key, timeout=5)
        except (OSError, http.client.HTTPException):  # reset, or killed mid-answer
            st, d = None, None
        if st == 200:
            answered[key] = d["ticket"]["code"]
            if not killed.is_set():
                before_kill.add(key)
            continue
        # No answer, or 503/504: the outcome is unknown. Retry with the same key elsewhere.
        st, d, _ = retry(others, "POST", "/v1/tickets", ticket(i), key=key, deadline_s=40)
        assert st == 200, (key, st, d)
        answered[key] = d["ticket"]["code"]

errors = []
def writer_checked():
    try:
        writer()
    except BaseException as e:  # reported by the main thread
        errors.append(traceback.format_exc())

t = threading.Thread(target=writer_checked)
t.start()
while len(answered) < 20:
    time.sleep(0.01)
subprocess.run([os.environ["CLUSTER_SH"], "kill", str(leader)], check=True, stdout=subprocess.DEVNULL)
killed.set()
t.join(90)
assert not t.is_alive(), "writer stuck"
assert not errors, errors[0]
assert len(answered) == N, len(answered)
print("answered by the old leader before its SIGKILL: %d of %d" % (len(before_kill), N))
assert 0 < len(before_kill) < N, "the kill did not fall among the writes"

st, d, _ = retry(others, "GET", "/v1/tickets?customer_id=%s&limit=1000" % cust)
codes = sorted(t["code"] for t in d["tickets"])
assert len(codes) == N, "%d tickets for %d keys" % (len(codes), N)
assert codes == sorted(answered.values()), "ticket codes differ from the answers"

# ---- 2. every key answered before the kill, again, to another node ----------------------------
for key in sorted(before_kill):
    i = int(key.rsplit("k", 1)[1])
    st, d, _ = retry(others, "POST", "/v1/tickets", ticket(i), key=key)
    assert st == 200 and d["ticket"]["code"] == answered[key], (key, st, d)
st, d, _ = retry(others, "GET", "/v1/tickets?customer_id=%s&limit=1000" % cust)
assert len(d["tickets"]) == N, len(d["tickets"])
print("retries of %d answered keys to other nodes: first replies, nothing changed" % len(before_kill))

# ---- 3. an enqueue answered before the kill is the same call after it --------------------------
# (The old leader is dead: enqueue through the new one, then kill it in step 4's set-up.)
subprocess.run([os.environ["CLUSTER_SH"], "start", str(leader)], check=True, stdout=subprocess.DEVNULL)
wait_http(addrs)
new_leader = leader_id(others)
assert new_leader != leader, new_leader
enq = {"call_id": cust + "-call", "queue": "fo", "caller_number": "+982155509999", "arrival_site": "tehran"}
st, first, _ = retry([addrs[new_leader - 1]], "POST", "/v1/calls", enq, key=cust + "-enq")
assert st == 200, first

# ---- 4. an unknown outcome: forwarded to a paused leader ---------------------------------------
follower = [a for i, a in enumerate(addrs, 1) if i != new_leader][0]
# The follower must know the leader (and its address), so the write is really forwarded to it.
deadline = time.time() + 20
while True:
    st, _, d = call(follower, "GET", "/v1/status")
    if st == 200 and d["status"]["leader_id"] == new_leader and call(follower, "GET", "/v1/members")[0] == 200:
        break
    assert time.time() < deadline, d
    time.sleep(0.2)
subprocess.run([os.environ["CLUSTER_SH"], "kill", str(new_leader), "STOP"], check=True, stdout=subprocess.DEVNULL)
t0 = time.time()
st0, _, d = call(follower, "POST", "/v1/tickets?timeout_ms=1500", ticket(N), key=cust + "-unknown", timeout=10)
took = time.time() - t0
print("forwarded to the paused leader: %d %s" % (st0, d))
assert st0 in (503, 504), (st0, d)
assert took < 5, "answered after %.1f s: the deadline was 1.5 s" % took
subprocess.run([os.environ["CLUSTER_SH"], "kill", str(new_leader)], check=True, stdout=subprocess.DEVNULL)
rest = [a for i, a in enumerate(addrs, 1) if i != new_leader]
st, d, _ = retry(rest, "POST", "/v1/tickets", ticket(N), key=cust + "-unknown", deadline_s=40)
assert st == 200, (st, d)
code = d["ticket"]["code"]
st, again, _ = retry(rest[::-1], "POST", "/v1/tickets", ticket(N), key=cust + "-unknown")
assert again["ticket"]["code"] == code, again
st, d, _ = retry(rest, "GET", "/v1/tickets?customer_id=%s&limit=1000" % cust)
assert len(d["tickets"]) == N + 1, len(d["tickets"])
print("unknown outcome (%d after %.1f s), retried to a third node: one ticket" % (st0, took))

# The enqueue answered by the now-dead leader, retried with its key: the same call, once.
st, again, _ = retry(rest, "POST", "/v1/calls", enq, key=cust + "-enq")
assert st == 200 and again == first, (again, first)
st, d, _ = retry(rest, "GET", "/v1/queues/fo")
assert [c["call_id"] for c in d["calls"]] == [enq["call_id"]], d
print("ok")
PY
echo "PASS"
