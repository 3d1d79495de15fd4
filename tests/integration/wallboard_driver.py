#!/usr/bin/python3
"""wallboard_driver.py: drives the wallboard page in Debian's headless Chromium for
test_wallboard.sh over the Chrome DevTools Protocol, with Debian's python3-websocket (no npm, no
downloaded browser: everything comes from deploy/install-deps.sh).

  /usr/bin/python3 wallboard_driver.py URL

Then one command per line on stdin, one answer line per command on stdout ("ok ..." or "fail ..."):
  wait MS JS-EXPRESSION   until the expression, evaluated in the page, is truthy (or MS pass)
  eval JS-EXPRESSION      its value as JSON
  shot PATH               a full-page PNG screenshot
  goto URL                load another page
  quit
Errors thrown in the page are copied to stderr ("page error: ...").
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # Debian's python3-websocket (websocket-client)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
VIEWPORT = (1400, 900)


class Browser:
    """One headless Chromium with one page, spoken to over its DevTools websocket."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="callraft-chromium.")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--remote-debugging-port=0", "--remote-allow-origins=*",
             "--user-data-dir=" + self.profile, "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = self._devtools_port(30)
        page_ws = None
        for _ in range(100):
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5) as r:
                targets = json.load(r)
            page_ws = next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)
            if page_ws:
                break
            time.sleep(0.1)
        if not page_ws:
            raise RuntimeError("Chromium has no page target")
        self.ws = websocket.create_connection(page_ws, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.loaded = False
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=VIEWPORT[0], height=VIEWPORT[1],
                  deviceScaleFactor=1, mobile=False)

    def _devtools_port(self, seconds):
        path = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("Chromium exited with %d" % self.proc.returncode)
            try:
                with open(path) as f:
                    first = f.readline().strip()
                if first:
                    return int(first)
            except FileNotFoundError:
                pass
            time.sleep(0.1)
        raise RuntimeError("Chromium did not open its DevTools port within %d s" % seconds)

    def _event(self, msg):
        method = msg.get("method")
        if method == "Runtime.exceptionThrown":
            d = msg["params"]["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text", "")
            sys.stderr.write("page error: %s\n" % text)
        elif method == "Page.loadEventFired":
            self.loaded = True

    def call(self, method, **params):
        """Sends one command and returns its result; events that arrive meanwhile are handled."""
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"].get("message")))
                return msg.get("result", {})
            self._event(msg)

    def goto(self, url, seconds=30):
        self.loaded = False
        res = self.call("Page.navigate", url=url)
        if res.get("errorText"):
            raise RuntimeError("navigate %s: %s" % (url, res["errorText"]))
        deadline = time.time() + seconds
        while not self.loaded:
            if time.time() > deadline:
                raise RuntimeError("%s did not load within %d s" % (url, seconds))
            self.ws.settimeout(max(0.1, deadline - time.time()))
            try:
                self._event(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                pass
            finally:
                self.ws.settimeout(60)

    def evaluate(self, expr):
        """The expression's value (JSON-able); raises on an exception in the page."""
        res = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            d = res["exceptionDetails"]
            raise RuntimeError(d.get("exception", {}).get("description") or d.get("text", "error"))
        return res.get("result", {}).get("value")

    def screenshot(self, path):
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        width, height = max(VIEWPORT[0], int(size["width"])), max(VIEWPORT[1], int(size["height"]))
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        try:
            png = self.call("Page.captureScreenshot", format="png")["data"]
        finally:
            self.call("Emulation.setDeviceMetricsOverride", width=VIEWPORT[0], height=VIEWPORT[1],
                      deviceScaleFactor=1, mobile=False)
        with open(path, "wb") as f:
            f.write(base64.b64decode(png))

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def truthy(v):
    return bool(v)


def answer(ok, value):
    print(("ok " if ok else "fail ") + value, flush=True)


def main():
    browser = Browser()
    try:
        browser.goto(sys.argv[1])
        answer(True, "loaded")
        for line in sys.stdin:
            cmd, _, rest = line.rstrip("\n").partition(" ")
            try:
                if cmd == "wait":
                    ms, _, expr = rest.partition(" ")
                    deadline = time.time() + int(ms) / 1000.0
                    while True:
                        try:
                            v, err = browser.evaluate(expr), None
                        except RuntimeError as e:
                            v, err = None, "error: %s" % e
                        if truthy(v) or time.time() > deadline:
                            break
                        time.sleep(0.2)
                    answer(truthy(v), json.dumps(v if err is None else err))
                elif cmd == "eval":
                    answer(True, json.dumps(browser.evaluate(rest)))
                elif cmd == "shot":
                    browser.screenshot(rest)
                    answer(True, rest)
                elif cmd == "goto":
                    browser.goto(rest)
                    answer(True, rest)
                elif cmd == "quit":
                    break
                else:
                    answer(False, "unknown command " + cmd)
            except (RuntimeError, OSError, websocket.WebSocketException) as e:
                answer(False, json.dumps(str(e)))
    finally:
        browser.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the test reads one line: say why instead of a traceback only
        answer(False, json.dumps("%s: %s" % (type(e).__name__, e)))
        sys.exit(1)
