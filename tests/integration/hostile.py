#!/usr/bin/env python3
"""hostile.py: hostile clients against running callraftd nodes (issue 13), for test_hostile.sh.

Speaks the wire protocol by hand (a 4-byte big-endian length, then a protobuf Request; only the few
fields used here are encoded), so that it can also send what no honest client would.

  hostile.py CASE LEADER_ADDR [FOLLOWER_ADDR] [PID]

Each case prints what it did and measured, and exits non-zero on a failed expectation."""
import os
import socket
import ssl
import struct
import sys
import time

# ---- protobuf by hand ------------------------------------------------------------------------


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint((num << 3) | 2) + varint(len(b)) + b


def request(request_id, op_field, op_body=b"", client_id=0, seq=0, forwarded=False, secret=b""):
    msg = field_varint(1, 1) + field_varint(2, request_id)
    if client_id:
        msg += field_varint(3, client_id) + field_varint(4, seq)
    if secret:
        msg += field_bytes(8, secret)
    if forwarded:
        msg += field_varint(6, 1)
    return msg + field_bytes(op_field, op_body)


def frame(msg):
    return struct.pack(">I", len(msg)) + msg


OP_REGISTER, OP_CALL_ENQUEUE, OP_TICKET_OPEN, OP_QUEUE_CONFIGURE, OP_TICKET_SHOW, OP_TICKET_LIST, OP_STATUS = 10, 11, 19, 23, 44, 45, 46
CODES = {0: "OK", 1: "NOT_FOUND", 10: "INVALID_ARGUMENT", 11: "BAD_FRAME", 14: "SESSION_UNKNOWN",
         15: "SEQ_TOO_OLD", 16: "COMPACTED", 18: "RESOURCE_EXHAUSTED", 19: "PERMISSION_DENIED", 20: "NOT_LEADER", 21: "NO_LEADER",
         22: "UNAVAILABLE"}


def parse(msg):
    """Top-level fields of a message: {num: [values]} (varints as int, the rest as bytes)."""
    out, i = {}, 0
    while i < len(msg):
        key, i = read_varint(msg, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(msg, i)
        elif wt == 2:
            n, i = read_varint(msg, i)
            v, i = msg[i:i + n], i + n
        elif wt == 1:
            v, i = msg[i:i + 8], i + 8
        elif wt == 5:
            v, i = msg[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def read_varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


class Reply:
    def __init__(self, msg):
        f = parse(msg)
        self.request_id = f.get(1, [0])[-1]
        self.code = f.get(2, [0])[-1]
        self.message = f.get(3, [b""])[-1].decode(errors="replace")
        self.client_id = f.get(6, [0])[-1]
        self.secret = f.get(40, [b""])[-1]
        self.fields = f

    def __repr__(self):
        return "%s %s" % (CODES.get(self.code, self.code), self.message)


# ---- connections -----------------------------------------------------------------------------


def addr(a):
    host, port = a.rsplit(":", 1)
    return host, int(port)


def connect(a, timeout=5.0, cert=None):
    """A connection to a; over TLS with the client certificate cert = (crt, key) if given (the
    node's certificate is checked against $CALLRAFT_TLS_CA)."""
    s = socket.create_connection(addr(a), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if cert is None:
        return s
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(os.environ["CALLRAFT_TLS_CA"])
    ctx.load_cert_chain(cert[0], cert[1])
    return ctx.wrap_socket(s, server_hostname=addr(a)[0])


def recv_exact(s, n):
    b = bytearray()
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(b), n))
        b += chunk
    return bytes(b)


def recv_reply(s):
    n = struct.unpack(">I", recv_exact(s, 4))[0]
    if n > 4 * 1024 * 1024:
        raise ValueError("reply frame of %d bytes above the frame limit" % n)
    return Reply(recv_exact(s, n))


def closed_by_peer(s, within):
    """True if the peer closes s within `within` seconds (replies before the close are drained)."""
    s.settimeout(within)
    deadline = time.time() + within
    try:
        while time.time() < deadline:
            if not s.recv(65536):
                return True
    except (socket.timeout, TimeoutError):
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    return False


def call(a, msg, timeout=10.0, cert=None):
    with connect(a, timeout, cert) as s:
        s.sendall(frame(msg))
        return recv_reply(s)


def status_ok(a):
    r = call(a, request(1, OP_STATUS))
    return r.code == 0


def register(a, name="hostile", cert=None):
    """A new session: (client_id, secret)."""
    for _ in range(50):
        r = call(a, request(1, OP_REGISTER, field_bytes(1, name)), cert=cert)
        if r.code == 0:
            return r.client_id, r.secret
        time.sleep(0.2)
    raise SystemExit("register: %r" % r)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def expect(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)
    print("ok: " + what)


# ---- cases -----------------------------------------------------------------------------------


def case_frames(leader, _follower, _pid):
    # Oversized: a length far above the request limit gets BAD_FRAME and the connection closes.
    s = connect(leader)
    s.sendall(struct.pack(">I", 0x7FFFFFFF) + b"x" * 100)
    r = recv_reply(s)
    expect(r.code == 11 and "exceeds the limit" in r.message, "oversized frame: %r" % r)
    expect(closed_by_peer(s, 5), "oversized frame: connection closed")
    s.close()
    # Garbage after a valid frame: the valid request is answered, the garbage frame gets
    # BAD_FRAME, and the connection still serves the next valid request.
    s = connect(leader)
    s.sendall(frame(request(7, OP_STATUS)) + frame(b"\xff\xff\xff\xff\x0f garbage \x00\x01"))
    r1, r2 = recv_reply(s), recv_reply(s)
    expect(r1.code == 0 and r1.request_id == 7, "valid frame before garbage answered: %r" % r1)
    expect(r2.code == 11, "garbage frame refused: %r" % r2)
    s.sendall(frame(request(8, OP_STATUS)))
    r3 = recv_reply(s)
    expect(r3.code == 0 and r3.request_id == 8, "connection still serves after garbage")
    # Garbage with a huge length after a valid frame: answered, then refused and closed.
    s.sendall(frame(request(9, OP_STATUS)) + b"\xde\xad\xbe\xef" + os.urandom(64))
    r4, r5 = recv_reply(s), recv_reply(s)
    expect(r4.code == 0 and r5.code == 11, "valid then oversized garbage: %r / %r" % (r4, r5))
    expect(closed_by_peer(s, 5), "oversized garbage: connection closed")
    s.close()
    # A field numbered 0 with an overlong tag nested in a write (queue configure's Int64Value):
    # protobuf-c decodes it but cannot re-encode it, and validation only looks at the op's own
    # fields, so batched into an entry it made every replica drop the whole entry (the other
    # clients' writes with it). Refused at the door; the connection keeps serving.
    s = connect(leader)
    poison = field_bytes(1, "sales") + field_bytes(2, b"\x08\x01\x82\x00\x00")
    s.sendall(frame(request(11, OP_QUEUE_CONFIGURE, poison, 1, 1)))
    r = recv_reply(s)
    expect(r.code == 11 and "malformed field" in r.message, "field number 0 refused: %r" % r)
    s.sendall(frame(request(12, OP_STATUS)))
    expect(recv_reply(s).code == 0, "connection serves after the malformed field")
    s.close()
    # Truncated: half a frame, then the client goes away; the node does not care.
    s = connect(leader)
    s.sendall(frame(request(10, OP_STATUS))[:7])
    s.close()
    expect(status_ok(leader), "node serves after a truncated frame")


def case_slowloris(leader, _follower, _pid):
    # A frame of 1000 bytes announced, then one byte every 0.3 s: the frame must arrive whole
    # within frame_timeout_ms, however steadily the bytes trickle.
    s = connect(leader)
    s.sendall(struct.pack(">I", 1000))
    start, closed = time.time(), False
    for _ in range(200):
        try:
            s.sendall(b"\x08")
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if closed_by_peer(s, 0.3):
            closed = True
            break
    took = time.time() - start
    s.close()
    expect(closed and took < 30, "slowloris closed after %.1f s" % took)
    # Idle: a connection that sends nothing is closed after idle_timeout_ms.
    s = connect(leader)
    start = time.time()
    expect(closed_by_peer(s, 30), "idle connection closed after %.1f s" % (time.time() - start))
    s.close()
    expect(status_ok(leader), "node serves after slowloris and idle connections")


def case_flood(leader, follower, pid, limit=None):
    limit = int(os.environ.get("HOSTILE_PER_SOURCE", "64"))
    rss0 = rss_kb(pid)
    socks = []
    for _ in range(limit + 200):
        try:
            socks.append(connect(leader, 2))
        except OSError:
            break
    # Every flood connection asks for the status: those in ordinary slots are served, those
    # beyond the per-source limit are refused (UNAVAILABLE in a reserved slot, else closed).
    served = refused = dropped = 0
    for s in socks:
        try:
            s.sendall(frame(request(1, OP_STATUS)))
            r = recv_reply(s)
            served += r.code == 0
            refused += r.code == 22
        except (EOFError, OSError):
            dropped += 1
    print("flood: %d connections: %d served, %d refused (UNAVAILABLE), %d closed unanswered "
          "(limit %d per source)" % (len(socks), served, refused, dropped, limit))
    expect(served <= limit and served >= limit - 4, "flood: the per-source limit holds")
    expect(refused + dropped == len(socks) - served, "flood: every other connection refused")
    # A write through the follower is forwarded to the leader while the flood holds its slots.
    cid, secret = register(follower, "flooded")
    r = call(follower, request(2, OP_TICKET_OPEN, field_bytes(1, "c-flood") + field_bytes(3, "x") +
                               field_bytes(4, "during the flood"), cid, 1, secret=secret))
    expect(r.code == 0, "forwarded write during the flood: %r" % r)
    direct = connect(leader)
    direct.sendall(frame(request(5, OP_STATUS)))
    try:
        r = recv_reply(direct)
        expect(r.code == 22, "direct client beyond the limit refused: %r" % r)
    except (EOFError, OSError):
        expect(True, "direct client beyond the limit refused (closed)")
    direct.close()
    rss1 = rss_kb(pid)
    print("flood: leader RSS %d kB before, %d kB during" % (rss0, rss1))
    expect(rss1 - rss0 < 64 * 1024, "flood: leader RSS grew less than 64 MB")
    for s in socks:
        s.close()
    time.sleep(0.5)
    expect(status_ok(leader), "leader serves direct clients after the flood")


def case_pipeline(leader, _follower, pid):
    # Pipelined status requests whose replies are never read: the node stops reading the
    # connection (backpressure) instead of queueing replies without bound.
    rss0 = rss_kb(pid)
    one = frame(request(1, OP_STATUS))
    chunk = one * 4096
    s = connect(leader)
    s.setblocking(False)
    sent, deadline = 0, time.time() + 8
    # A send the socket takes only part of goes on from where it stopped: starting the chunk
    # again would cut a frame short, the node would read the next frame's bytes as its rest, and
    # misaligned garbage (a refused frame, a partial one that never completes) is another case.
    view, off = memoryview(chunk), 0
    while time.time() < deadline and sent < 64 * 1024 * 1024:
        try:
            n = s.send(view[off:])
        except BlockingIOError:
            time.sleep(0.05)
            continue
        sent += n
        off = (off + n) % len(chunk)
    time.sleep(1)
    rss1 = rss_kb(pid)
    print("pipeline: sent %d bytes (%d requests) without reading; leader RSS %d kB -> %d kB" %
          (sent, sent // len(one), rss0, rss1))
    # Kernel socket buffers on loopback take a few MB; the node itself stops reading.
    expect(sent < 64 * 1024 * 1024, "pipeline: the node stopped reading (backpressure)")
    expect(rss1 - rss0 < 64 * 1024, "pipeline: leader RSS grew less than 64 MB")
    expect(status_ok(leader), "node serves others while one connection is stalled")
    # Reading again drains the replies: the connection was paused, not broken.
    s.setblocking(True)
    s.settimeout(10)
    got = 0
    try:
        while got < 1000:
            r = recv_reply(s)
            got += 1 if r.code == 0 else 0
    except (EOFError, OSError):
        pass
    expect(got == 1000, "pipeline: replies flow again once read (%d)" % got)
    s.close()


def case_quota(leader, follower, pid):
    # Flood valid writes until the quota refuses them; each session only up to its own share.
    refused, ok, sessions = 0, 0, 0
    cid, seq, first = 0, 0, None
    payload = "n" * 256
    s = connect(leader)
    start = time.time()
    while refused < 20 and time.time() - start < 120:
        if cid == 0 or seq >= 40:
            (cid, secret), seq = register(leader, "quota"), 0
            sessions += 1
        seq += 1
        s.sendall(frame(request(seq, OP_TICKET_OPEN, field_bytes(1, "c-%d-%d" % (cid, seq)) +
                                field_bytes(3, "flood") + field_bytes(4, payload), cid, seq,
                                secret=secret)))
        r = recv_reply(s)
        if r.code == 0:
            ok += 1
            first = first or "c-%d-%d" % (cid, seq)
        elif r.code == 18:
            refused += 1
            last = r
        else:
            raise SystemExit("quota flood: unexpected %r" % r)
    s.close()
    print("quota: %d tickets stored, %d refused, %d sessions, %.1f s" %
          (ok, refused, sessions, time.time() - start))
    expect(refused == 20, "quota: writes refused with RESOURCE_EXHAUSTED: %r" % last)
    expect(status_ok(leader) and status_ok(follower), "quota: every node still serves")
    # Nothing of a refused write was stored: its customer has no ticket (a linearizable read).
    r = call(leader, request(3, OP_TICKET_LIST, field_bytes(1, "c-%d-%d" % (cid, seq))))
    expect(r.code == 0 and 15 not in r.fields, "quota: the refused ticket was not stored")
    r = call(leader, request(4, OP_TICKET_LIST, field_bytes(1, first)))
    expect(r.code == 0 and len(r.fields.get(15, [])) == 1, "quota: reads still served")
    # Then calls, until the whole state reaches its quota.
    refused, ok, cid = 0, 0, 0
    s = connect(leader)
    while refused < 5 and time.time() - start < 240:
        if cid == 0 or seq >= 40:
            (cid, secret), seq = register(leader, "quota-calls"), 0
        seq += 1
        s.sendall(frame(request(seq, OP_CALL_ENQUEUE, field_bytes(1, "q-%d-%d" % (cid, seq)) +
                                field_bytes(2, "flood") + field_bytes(3, "+98215550%04d" % seq) +
                                field_bytes(6, "tehran"), cid, seq, secret=secret)))
        r = recv_reply(s)
        if r.code == 0:
            ok += 1
        elif r.code == 18:
            refused += 1
            last = r
        else:
            raise SystemExit("quota flood (calls): unexpected %r" % r)
    s.close()
    print("quota: then %d calls enqueued, %d refused: %r" % (ok, refused, last))
    expect(refused == 5 and "state would hold" in last.message,
           "quota: the whole state reached its quota")


def case_session(leader, follower, _pid):
    # A client that knows (or guesses: ids are 1, 2, 3, ...) another's session id can neither read
    # its stored reply nor move its seq: without the session's secret it is an unknown session.
    cid, secret = register(follower, "victim")
    expect(len(secret) == 16, "register returns a 16-byte session secret")
    body = field_bytes(1, "c-victim") + field_bytes(3, "complaint") + field_bytes(4, "private")
    r = call(follower, request(1, OP_TICKET_OPEN, body, cid, 1, secret=secret))
    expect(r.code == 0 and 12 in r.fields, "the victim's write: %r" % r)
    stolen = call(leader, request(2, OP_TICKET_OPEN, body, cid, 1))
    expect(stolen.code == 14 and 12 not in stolen.fields,
           "replaying the victim's seq without the secret: %r" % stolen)
    forged = call(leader, request(3, OP_TICKET_OPEN, body, cid, 50, secret=b"x" * 16))
    expect(forged.code == 14, "a forged seq with a wrong secret: %r" % forged)
    again = call(follower, request(4, OP_TICKET_OPEN, body, cid, 1, secret=secret))
    expect(again.code == 0 and again.fields.get(12) == r.fields.get(12),
           "the victim's retry still gets its own reply")
    nxt = call(follower, request(5, OP_TICKET_OPEN, body, cid, 2, secret=secret))
    expect(nxt.code == 0, "the victim's next seq still works: %r" % nxt)


def case_identity(leader, follower, _pid):
    # With mutual TLS a session is its certificate's: another certificate holding the session's
    # id *and* its secret (stolen, say, from a desk's memory) gets the answer an unknown session
    # gets, reads no stored reply and moves no seq. $HOSTILE_CERT_OWNER and $HOSTILE_CERT_THIEF are
    # "crt:key" of two valid certificates (both may enqueue at site tehran).
    owner = tuple(os.environ["HOSTILE_CERT_OWNER"].split(":"))
    thief = tuple(os.environ["HOSTILE_CERT_THIEF"].split(":"))
    cid, secret = register(follower, "pbx", cert=owner)
    body = field_bytes(1, "c-owned") + field_bytes(2, "identity") + field_bytes(3, "+982100000042") + \
        field_bytes(6, "tehran")
    r = call(follower, request(1, OP_CALL_ENQUEUE, body, cid, 1, secret=secret), cert=owner)
    expect(r.code == 0 and 10 in r.fields, "the owner's write: %r" % r)
    for where in (leader, follower):
        stolen = call(where, request(2, OP_CALL_ENQUEUE, body, cid, 1, secret=secret), cert=thief)
        expect(stolen.code == 14 and 10 not in stolen.fields,
               "another certificate replaying the owner's seq with its secret: %r" % stolen)
        body2 = field_bytes(1, "c-thief") + field_bytes(2, "identity") + field_bytes(6, "tehran")
        forged = call(where, request(3, OP_CALL_ENQUEUE, body2, cid, 2, secret=secret), cert=thief)
        expect(forged.code == 14, "another certificate writing the owner's next seq: %r" % forged)
    shown = call(leader, request(4, 40, field_bytes(1, "c-thief")), cert=owner)
    expect(shown.code == 1, "the thief's call was not stored: %r" % shown)
    again = call(follower, request(5, OP_CALL_ENQUEUE, body, cid, 1, secret=secret), cert=owner)
    expect(again.code == 0 and again.fields.get(10) == r.fields.get(10),
           "the owner's retry still gets its own reply")
    body3 = field_bytes(1, "c-owned-2") + field_bytes(2, "identity") + field_bytes(6, "tehran")
    nxt = call(follower, request(6, OP_CALL_ENQUEUE, body3, cid, 2, secret=secret), cert=owner)
    expect(nxt.code == 0, "the owner's next seq still works: %r" % nxt)


CASES = {"identity": case_identity, "frames": case_frames, "slowloris": case_slowloris, "flood": case_flood,
         "pipeline": case_pipeline, "quota": case_quota, "session": case_session}

if __name__ == "__main__":
    case, leader = sys.argv[1], sys.argv[2]
    follower = sys.argv[3] if len(sys.argv) > 3 else leader
    pid = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    CASES[case](leader, follower, pid)
