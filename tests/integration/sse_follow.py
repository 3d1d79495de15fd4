#!/usr/bin/env python3
"""sse_follow.py NODES PATH OUT: a Server-Sent Events subscriber that behaves like a browser's
EventSource, for the event-stream tests (issue #14). Follows PATH (e.g. /v1/events?from=1) on the
first of NODES (host:port,...); when the connection fails or closes it moves to the next node and
sends the id of the last event it received as Last-Event-ID. Writes each event's data (one JSON
object) as a line to OUT, flushed. Runs until killed. Only the standard library."""
import http.client, os, ssl, sys, time

# Mutual TLS (the cluster's default): the client certificate of CALLRAFT_TLS_CERT/KEY.
tls = None
if os.environ.get("CALLRAFT_TLS_CA"):
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls.load_verify_locations(os.environ["CALLRAFT_TLS_CA"])
    tls.load_cert_chain(os.environ["CALLRAFT_TLS_CERT"], os.environ["CALLRAFT_TLS_KEY"])

nodes, path, out_path = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
last_id, k = None, 0
out = open(out_path, "w")
while True:
    node = nodes[k % len(nodes)]
    host, port = node.rsplit(":", 1)
    try:
        # loopback: a dead node refuses at once
        conn = (http.client.HTTPSConnection(host, int(port), context=tls) if tls is not None
                else http.client.HTTPConnection(host, int(port)))
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            sys.exit("FAIL: %s %s: %d %s" % (node, path, resp.status, resp.read()))
        ev_id, data = None, None
        while True:
            line = resp.fp.readline()
            if not line:
                raise ConnectionError("stream closed")
            line = line.decode().rstrip("\n")
            if line.startswith("id: "):
                ev_id = line[4:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data is not None:
                out.write(data + "\n")
                out.flush()
                last_id, data = ev_id, None
    except Exception as e:
        k += 1
        print("sse: %s: %s; reconnecting to %s with Last-Event-ID %s"
              % (node, e, nodes[k % len(nodes)], last_id), file=sys.stderr, flush=True)
        time.sleep(0.2)
