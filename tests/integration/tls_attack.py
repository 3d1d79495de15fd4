"""tls_attack.py: what an attacker on the network sends to a node's Raft and client ports
(tests/integration/test_tls_hostile.sh). Python stdlib only.

  raft ADDR CLAIM_ID CLAIM_ADDR TERM [--ca F --cert F --key F]
      raft's connection handshake (protocol 1, CLAIM_ID, CLAIM_ADDR: canonical raft's
      src/uv_tcp_connect.c) then, over TLS if a certificate is given, a RequestVote for TERM with
      the disrupt-leader flag, repeated 5 times 0.1 s apart. Prints what the node did
      (closed / nothing).
  client ADDR FRAME_HEX [--ca F --cert F --key F]
      one binary-protocol frame over TLS (or plain TCP), prints the reply's bytes or "closed".
"""
import socket
import ssl
import struct
import sys
import time


def tls_wrap(sock, args, host):
    if "--cert" not in args:
        return sock
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # the attacker does not care who the node is
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(args[args.index("--cert") + 1], args[args.index("--key") + 1])
    return ctx.wrap_socket(sock, server_hostname=host)


def raft_handshake(claim_id, claim_addr):
    addr = claim_addr.encode() + b"\0"
    addr += b"\0" * ((8 - len(addr) % 8) % 8)
    return struct.pack("<QQQ", 1, claim_id, len(addr)) + addr


def request_vote(term, candidate):
    body = struct.pack("<QQQQQ", term, candidate, 1 << 40, term, 1)  # disrupt_leader
    return struct.pack("<QQ", 3, len(body)) + body


def attack_raft(argv):
    host, port = argv[0].rsplit(":", 1)
    host = host.strip("[]")  # "[::1]:port"
    claim_id, claim_addr, term = int(argv[1]), argv[2], int(argv[3])
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(raft_handshake(claim_id, claim_addr))
    try:
        s = tls_wrap(s, argv, host)
        for _ in range(5):
            s.sendall(request_vote(term, claim_id))
            time.sleep(0.1)
        s.settimeout(1.0)
        data = s.recv(4096)
        print("closed" if not data else "answered %d bytes" % len(data))
    except (OSError, ssl.SSLError) as e:
        print("closed (%s)" % e.__class__.__name__)


def attack_client(argv):
    host, port = argv[0].rsplit(":", 1)
    host = host.strip("[]")  # "[::1]:port"
    frame = bytes.fromhex(argv[1])
    s = socket.create_connection((host, int(port)), timeout=5)
    try:
        s = tls_wrap(s, argv, host)
        s.sendall(struct.pack(">I", len(frame)) + frame)
        s.settimeout(3.0)
        hdr = s.recv(4)
        if len(hdr) < 4:
            print("closed")
            return
        n = struct.unpack(">I", hdr)[0]
        body = b""
        while len(body) < n:
            chunk = s.recv(n - len(body))
            if not chunk:
                break
            body += chunk
        print("reply %s" % body.decode("latin-1"))
    except (OSError, ssl.SSLError) as e:
        print("closed (%s)" % e.__class__.__name__)


if __name__ == "__main__":
    {"raft": attack_raft, "client": attack_client}[sys.argv[1]](sys.argv[2:])
