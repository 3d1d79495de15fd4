#!/usr/bin/env python3
"""desktops.py: the agents' desktops of one site in the SIP lab (deploy/lab/sip/sip.sh up): they
keep each logged-in agent's presence lease (the site's presence_timeout, 30 s; docs/routing.md
section 2), as a deployed desktop does with its heartbeats, so an agent whose phone is registered
and idle stays ready (before, an idle agent became UNREACHABLE after 30 s and `sip.sh register`
had to bring it back).

Every --interval s: one read of the agents (GET /v1/agents?stale=true, from the site's own node),
then POST /v1/agents/ID/heartbeat for each agent of --site whose lease ends within --renew-ms
(an agent on a call or just answered was renewed by that command: no heartbeat). The heartbeats
go out from --threads connections at once, so a slow cluster delays a round, not each lease by
the number of agents. Each request tries the site's nodes in turn (--url, own node first).
Bounded: exits after --for s. Runs inside the site's namespace (sip.sh starts it in its own
process group, and kill-site takes it with the site).
"""
import argparse
import json
import queue
import ssl
import sys
import threading
import time
import http.client
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--site", required=True)
    ap.add_argument("--url", action="append", required=True, help="a node's https base URL (own node first)")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--renew-ms", type=int, default=15000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--for", dest="duration", type=float, default=7200.0)
    a = ap.parse_args()

    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.load_cert_chain(a.cert, a.key)
    nodes = [urllib.parse.urlsplit(u) for u in a.url]

    class Client:
        def __init__(self):
            self.conns = {}

        def request(self, method, path, body=None):
            for u in nodes:
                try:
                    c = self.conns.get(u.netloc)
                    if c is None:
                        c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=10)
                        self.conns[u.netloc] = c
                    c.request(method, path, body=body,
                              headers={"Content-Type": "application/json"} if body is not None else {})
                    r = c.getresponse()
                    data = r.read()
                    if r.status in (503, 504):
                        continue
                    return r.status, data
                except (OSError, http.client.HTTPException):
                    c = self.conns.pop(u.netloc, None)
                    if c is not None:
                        c.close()
            return -1, b""

    work = queue.Queue()
    stats = {"sent": 0, "failed": 0}
    lock = threading.Lock()

    def worker():
        cl = Client()
        while True:
            agent = work.get()
            if agent is None:
                return
            key = "%s-desktop-hb-%d" % (agent, time.time_ns())
            st, _ = cl.request("POST", "/v1/agents/%s/heartbeat?idempotency_key=%s"
                               % (urllib.parse.quote(agent), key), "{}")
            with lock:
                stats["sent" if st == 200 else "failed"] += 1
            work.task_done()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.threads)]
    for t in threads:
        t.start()
    reader = Client()
    end = time.monotonic() + a.duration
    rounds = 0
    while time.monotonic() < end:
        t0 = time.monotonic()
        st, data = reader.request("GET", "/v1/agents?stale=true")
        if st == 200:
            now_ms = time.time() * 1000
            try:
                agents = json.loads(data)["agents"]
            except (ValueError, KeyError):
                agents = []
            due = [g["agent_id"] for g in agents
                   if g.get("site") == a.site and g.get("state") not in ("LOGGED_OUT", "OFFLINE")
                   and g.get("presence_due_ms", 0) - now_ms < a.renew_ms]
            for g in due:
                work.put(g)
            work.join()
        rounds += 1
        if rounds % 60 == 0:
            print("desktops %s: %d rounds, %d heartbeats, %d failed" % (a.site, rounds, stats["sent"], stats["failed"]),
                  flush=True)
        time.sleep(max(0.0, a.interval - (time.monotonic() - t0)))
    for _ in threads:
        work.put(None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
