"""http_lib.py: a small HTTP/JSON client for the integration tests (Python stdlib only).

call(addr, method, path, body=None, key=None, headers=None, timeout=15) -> (status, headers, json)
wait_http(addrs): every address answers GET /v1/status.
"""
import http.client
import json
import os
import ssl
import time

# With TLS (the cluster's default) requests go over HTTPS with the client certificate of
# CALLRAFT_TLS_CERT/KEY, verified against CALLRAFT_TLS_CA.
_TLS = None
if os.environ.get("CALLRAFT_TLS_CA"):
    _TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _TLS.load_verify_locations(os.environ["CALLRAFT_TLS_CA"])
    _TLS.load_cert_chain(os.environ["CALLRAFT_TLS_CERT"], os.environ["CALLRAFT_TLS_KEY"])


def call(addr, method, path, body=None, key=None, headers=None, timeout=15, raw=None):
    host, port = addr.rsplit(":", 1)
    host = host.strip("[]")  # "[::1]:port"
    if _TLS is not None:
        conn = http.client.HTTPSConnection(host, int(port), timeout=timeout, context=_TLS)
    else:
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    h = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if key is not None:
        h["Idempotency-Key"] = key
    try:
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            raise AssertionError("%s %s: %d: body is not JSON: %r" % (method, path, resp.status, text[:200]))
        return resp.status, hdrs, doc
    finally:
        conn.close()


def retry(addrs, method, path, body=None, key=None, deadline_s=30, ok=(200,)):
    """Sends until a status in `ok` (or a non-5xx) comes back, cycling through addrs on 5xx or
    connection errors, like a PBX with several node addresses. Returns (status, doc, addr)."""
    end = time.time() + deadline_s
    i = 0
    last = None
    while time.time() < end:
        a = addrs[i % len(addrs)]
        i += 1
        try:
            st, _, doc = call(a, method, path, body=body, key=key, timeout=5)
        except (OSError, http.client.HTTPException) as e:
            last = repr(e)
            time.sleep(0.1)
            continue
        if st in ok or st < 500:
            return st, doc, a
        last = (st, doc)
        time.sleep(0.1)
    raise AssertionError("%s %s: no answer within %d s (last: %r)" % (method, path, deadline_s, last))


def wait_http(addrs, deadline_s=30):
    end = time.time() + deadline_s
    for a in addrs:
        while True:
            try:
                st, _, _ = call(a, "GET", "/v1/status", timeout=2)
                if st == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            if time.time() > end:
                raise AssertionError("%s: no HTTP status within %d s" % (a, deadline_s))
            time.sleep(0.2)
