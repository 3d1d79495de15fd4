#!/usr/bin/env python3
"""make_corpus.py: writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/).

Seeds are well-formed messages of every kind a target reads, encoded by hand (protobuf wire format,
field numbers from proto/callraft.proto), so that the fuzzer starts from inputs that reach deep
into the decoders, validation and the FSM. Run it again after adding operations:
  python3 tests/fuzz/make_corpus.py"""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def fv(num, v):
    if v < 0:
        v += 1 << 64
    return varint(num << 3) + varint(v)


def fb(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint((num << 3) | 2) + varint(len(b)) + b


def frame(msg):
    return struct.pack(">I", len(msg)) + msg


# Operations: (field number in Request and Command, body). Field numbers of the op messages.
WRITES = {
    "register": (10, fb(1, "pbx-tehran")),
    "enqueue": (11, fb(1, "pbx-1001") + fb(2, "sales") + fb(3, "+982155501001") + fb(4, "c-42") +
                fv(5, 2) + fb(6, "tehran")),
    "next": (12, fb(1, "ag-1")),
    "answer": (13, fb(1, "pbx-0") + fb(2, "ag-1") + fv(3, 1) + fv(4, 12)),
    "end": (14, fb(1, "pbx-0") + fb(2, "ag-1")),
    "abandon": (15, fb(1, "pbx-1")),
    "login": (16, fb(1, "ag-7") + fb(2, "Sara") + fb(3, "tehran") + fb(4, "sales") + fb(4, "support")),
    "set_state": (17, fb(1, "ag-1") + fv(2, 2) + fb(3, "lunch")),
    "logout": (18, fb(1, "ag-1")),
    "ticket_open": (19, fb(1, "c-42") + fb(2, "pbx-1001") + fb(3, "complaint") +
                    fb(4, "late delivery") + fb(5, "called the dealer") + fb(6, "ag-1") +
                    fb(7, "urgent")),
    "ticket_update": (20, fb(1, "T000011") + fv(2, 2) + fb(3, "in progress") + fb(4, "ag-1")),
    "reject": (21, fb(1, "pbx-0") + fb(2, "ag-1") + fv(3, 1) + fv(4, 12)),
    "heartbeat": (22, fb(1, "ag-1")),
    "queue_configure": (23, fb(1, "sales") + fb(2, fv(1, 30000))),
    "callback_request": (24, fb(1, "pbx-2")),
    "callback_schedule": (25, fb(1, "cb-1") + fb(2, "support") + fb(3, "+982155501002")),
    "voicemail": (26, fb(1, "vm-1") + fb(2, "sales") + fb(3, "+982155501003")),
    "dial_attempt": (27, fb(1, "pbx-2") + fb(2, "ag-1")),
    "site_configure": (28, fb(1, "tehran")),
    "site_down": (29, fb(1, "shiraz") + fb(2, "drill")),
    "site_up": (33, fb(1, "shiraz")),
    "token_issue": (90, fb(1, "wallboard") + fb(2, "supervisor") + fb(3, "tehran") +
                    fv(4, 1700003600000) + fb(5, bytes(range(32)))),
    "token_revoke": (91, fv(1, 1)),
}
READS = {
    "call_show": (40, fb(1, "pbx-0")),
    "queue_show": (41, fb(1, "sales") + fv(2, 10)),
    "agent_show": (42, fb(1, "ag-1")),
    "agent_list": (43, b""),
    "ticket_show": (44, fb(1, "T000011")),
    "ticket_list": (45, fb(1, "c-0") + fv(2, 5)),
    "status": (46, b""),
    "members_list": (47, b""),
    "stats": (48, b""),
    "history": (49, fb(1, "c-1")),
    "site_list": (50, b""),
    "token_list": (92, b""),
}
INTERNAL = {
    "member_upsert": (30, fb(1, fv(1, 4) + fb(2, "shiraz") + fb(3, "10.2.0.13:7001") +
                             fb(4, "10.2.0.13:8001"))),
    "member_delete": (31, fv(1, 4)),
    "tick": (32, b""),
}


def request(rid, op, client_id=0, seq=0):
    num, body = op
    msg = fv(1, 1) + fv(2, rid)
    if client_id:
        msg += fv(3, client_id) + fv(4, seq)
    return msg + fb(num, body)


def command(op, client_id=1, seq=1, actor=None, actor_site=None):
    num, body = op
    msg = b""
    if client_id:
        msg += fv(1, client_id) + fv(2, seq)
    msg += fb(num, body)
    if actor:
        msg += fb(80, actor)  # Command.actor (issue 13: sessions bound to it)
    if actor_site:
        msg += fb(81, actor_site)  # Command.actor_site (state/site_scope.c)
    return msg


def entry(cmds, time_ms=1700000100000, term=1, quota=0):
    msg = fv(1, 1) + fv(2, time_ms) + fv(3, term)
    for c in cmds:
        msg += fb(4, c)
    if quota:
        msg += fv(5, quota)
    return msg


def write(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def request_ops():
    """Request's oneof fields, ordered by number (the order of protobuf-c's descriptor)."""
    import re
    text = open(os.path.join(HERE, "..", "..", "proto", "callraft.proto")).read()
    body = text[text.index("message Request {"):]
    body = body[body.index("oneof op {"):]
    body = body[:body.index("}")]
    ops = [(int(n), name) for _, name, n in re.findall(r"(\w+) (\w+) = (\d+);", body)]
    return [name for _, name in sorted(ops)]


HTTP_BODIES = {
    "call_enqueue": '{"call_id":"pbx-1001","queue":"sales","caller_number":"+982155501001",'
                    '"customer_id":"c-42","tier":2,"arrival_site":"tehran"}',
    "ticket_open": '{"customer_id":"c-42","category":"complaint","subject":"late delivery",'
                   '"note":"called the dealer","ticket_class":"urgent"}',
    "ticket_update": '{"code":"T000011","status":"in-progress","note":"refund"}',
    "agent_login": '{"agent_id":"ag-7","name":"Sara","site":"tehran","skills":["sales","support"]}',
    "agent_set_state": '{"agent_id":"ag-1","state":"AVAILABLE","push":true}',
    "queue_configure": '{"queue":"sales","overflow_after_ms":30000,"offer_timeout_ms":15000}',
    "site_configure": '{"site":"tehran"}',
    "call_answer": '{"call_id":"pbx-0","agent_id":"ag-1","offer_term":1,"offer_index":12}',
    "ticket_list": '{"customer_id":"c-0","limit":5}',
    "queue_show": '{"queue":"sales","limit":10}',
    "customer_history": '{"customer_id":"c-1"}',
    "stats_get": '{}',
    "agent_list": '{"site":"tehran"}',
    "call_show": '{"call_id":"pbx-0"}',
    "token_issue": '{"name":"wallboard","roles":["supervisor"],"site":"tehran",'
                   '"expires_ms":1700003600000}',
}


def main():
    # Requests: every operation, with and without a session.
    for i, (name, op) in enumerate(sorted({**WRITES, **READS}.items())):
        write("fuzz_request", request(i + 1, op, 1 if name in WRITES else 0, i + 100))
        write("fuzz_request", request(i + 1, op))
    write("fuzz_request", fv(1, 1) + fv(2, 9) + fv(5, 1) + fb(45, fb(1, "c-0")))  # stale read
    # Frames: a pipeline of requests, split and whole, an oversized header, garbage after a frame.
    frames = [frame(request(i + 1, op, 1, i + 1)) for i, op in enumerate(WRITES.values())]
    write("fuzz_frame", b"".join(frames[:6]))
    write("fuzz_frame", b"".join(frame(request(i + 1, op)) for i, op in enumerate(READS.values())))
    write("fuzz_frame", frames[0] + frames[1][:7])
    write("fuzz_frame", frames[2] + struct.pack(">I", 0x7FFFFFFF) + b"x" * 16)
    write("fuzz_frame", frames[3] + frame(b"\xff\xff\xff\xff\x0f garbage"))
    # Entries: every command alone, a session's life in one entry, the leader's commands, a quota.
    reg = command(WRITES["register"], 0, 0)
    for seq, (name, op) in enumerate(sorted(WRITES.items())):
        write("fuzz_entry", entry([command(op, 1, 1000 + seq)]))
    for name, op in INTERNAL.items():
        write("fuzz_entry", entry([command(op, 0, 0)]))
    write("fuzz_entry", entry([reg] + [command(WRITES[n], 1, 500 + i) for i, n in enumerate(
        ["login", "set_state", "enqueue", "next", "answer", "end", "ticket_open", "ticket_update",
         "logout"])]))
    write("fuzz_entry", entry([command(WRITES["enqueue"], 1, 900)], quota=4096))
    write("fuzz_entry", entry([command(WRITES["site_down"], 1, 901)], time_ms=1700000900000))
    write("fuzz_entry", entry([command(INTERNAL["tick"], 0, 0)], time_ms=1800000000000))
    # Actors: a session registered by one certificate used by another; a site-limited agent acting
    # on agents and calls of both sites; a token issued, then revoked.
    write("fuzz_entry", entry([command(WRITES["register"], 0, 0, "cert:pbx-tehran"),
                               command(WRITES["enqueue"], 1, 1, "cert:pbx-tehran"),
                               command(WRITES["enqueue"], 1, 2, "cert:desk-7", "tehran")]))
    write("fuzz_entry", entry([reg, command(WRITES["login"], 1, 1),
                               command(WRITES["enqueue"], 1, 2),
                               command(WRITES["heartbeat"], 1, 3, "cert:desk-9", "shiraz"),
                               command(WRITES["abandon"], 1, 4, "cert:desk-9", "shiraz"),
                               command(WRITES["next"], 1, 5, "cert:desk-7", "tehran")]))
    write("fuzz_entry", entry([reg, command(WRITES["token_issue"], 1, 1, "cert:admin"),
                               command(WRITES["token_revoke"], 1, 2, "cert:admin")]))
    # HTTP: the operation's index among Request's oneof fields, then a JSON body.
    ops = request_ops()
    for name, body in HTTP_BODIES.items():
        write("fuzz_http", bytes([ops.index(name)]) + body.encode())


if __name__ == "__main__":
    main()
