#!/usr/bin/env python3
"""late_branch.py: a call queued by a site after the carrier's deadline, by hand (docs/telephony.md,
"A site that answers too late"). Run in the carrier's namespace of a SIP lab started with
SIP_LATE_MARGIN_MS=-1000 (the site accepts an INVITE up to 1 s past its deadline, and marks it late)
and a short SIP_ORPHAN_GRACE_MS (e.g. 3000), with no support agent ready (their state BREAK), so the
call stays WAITING:

    ip netns exec NS-carrier python3 deploy/lab/sip/late_branch.py orphan|adopt

Both modes send tehran an INVITE for 2000 (support) whose X-Carrier-Deadline is 400 ms past: tehran
queues it, marked late (100, 182), then gets the CANCEL with which the carrier drops a late branch
(BRANCH-CANCEL: no abandon). `adopt` first sends shiraz the re-sent INVITE (X-Carrier-Resent): shiraz
adopts the call (ADOPTED) and tells tehran (ADOPTED-BY-PEER, then ORPHAN-ADOPTED: tehran leaves the
call alone). `orphan` sends no re-send (as when the carrier's re-send failed): after the grace tehran
makes the call a callback (ORPHAN-CALLBACK). Prints the Call-ID; the outcome is in the sites'
kamailio.log and in callraft (GET /v1/calls/ID: callback true for `orphan`, false for `adopt`).
The shiraz caller of `adopt` is left held; `sip.sh down` ends it.
"""
import random
import socket
import sys
import time

mode = sys.argv[1] if len(sys.argv) > 1 else ""
if mode not in ("orphan", "adopt"):
    sys.exit("usage: late_branch.py orphan|adopt")
A, B, ME, PORT = "10.1.0.20", "10.2.0.20", "10.4.0.10", 5090
cid = "late-%s-%d@%s" % (mode, random.randrange(10**9), ME)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((ME, PORT))
s.settimeout(0.5)


def deadline(offset_ms):  # the carrier's clock format: ms modulo 10^9 (carrier.cfg, branch_route[STAMP])
    t = time.time()
    return int(((int(t) % 1000000) * 1000 + int((t % 1) * 1000) + offset_ms) % 1000000000)


def request(method, host, branch, extra=""):
    return ("%s sip:2000@%s:5060 SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%s-%s\r\n"
            "From: <sip:+98917000111@%s>;tag=lb1\r\nTo: <sip:2000@%s>\r\nCall-ID: %s\r\nCSeq: 1 %s\r\n"
            "Contact: <sip:+98917000111@%s:%d>\r\nMax-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n"
            % (method, host, ME, PORT, cid, branch, ME, host, cid, method, ME, PORT, extra)).encode()


def wait_for(code, seconds):
    end = time.time() + seconds
    while time.time() < end:
        try:
            first = s.recv(65535).decode(errors="replace").split("\r\n")[0]
        except socket.timeout:
            continue
        print("<", first, flush=True)
        if (" %s " % code) in first:
            return True
    return False


print("call", cid, flush=True)
s.sendto(request("INVITE", A, "a", "X-Carrier-Deadline: %d\r\n" % deadline(-400)), (A, 5060))
if not wait_for(182, 15):
    sys.exit("tehran did not queue the call (lab not started with SIP_LATE_MARGIN_MS=-1000?)")
if mode == "adopt":
    s.sendto(request("INVITE", B, "b", "X-Carrier-Deadline: %d\r\nX-Carrier-Resent: 1\r\n" % deadline(1500)),
             (B, 5060))
    if not wait_for(182, 15):
        sys.exit("shiraz did not adopt the call")
s.sendto(request("CANCEL", A, "a"), (A, 5060))
wait_for(487, 10)
print(cid)
