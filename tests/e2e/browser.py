#!/usr/bin/env python3
"""tests/e2e/browser.py - drive headless Chromium over the DevTools protocol
(--remote-debugging-pipe: NUL-separated JSON on file descriptors 3 and 4),
standard library only. Used by the browser end-to-end tests.

  browser.py [--cookie URL NAME=VALUE]... STEP...

Steps run in order in one tab:
  --goto URL         navigate and wait for the load event
  --wait EXPR        poll the JavaScript expression until truthy (--timeout s)
  --eval EXPR        evaluate it; its JSON value is recorded in "values"
  --scroll Y         window.scrollTo(0, Y)
  --tab N            press the Tab key N times (real key events)
  --sleep S          wait S seconds
  --shot FILE        save a PNG screenshot of the viewport
  --fullshot FILE    save a PNG screenshot of the whole page

Prints one JSON object: {"waits": [true|false...], "values": [...],
"console": [{"type", "text"}...] (console.* calls), "exceptions": [text...]
(uncaught), "log": [{"source", "level", "text", "url"}...] (the browser's
own messages, e.g. failed network requests)}. Exit 0 when every step ran
(a --wait that timed out is recorded as false, not an error), 77 when
Chromium is missing or cannot start (the reason on stderr), 1 otherwise.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
START_TIMEOUT_S = 30


class Skip(Exception):
    pass


class Chromium:
    def __init__(self, width=1280, height=900):
        exe = os.environ.get("CHROMIUM") or next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)
        if not exe:
            raise Skip("no chromium in PATH (ops/setup.sh installs Debian's chromium)")
        self.profile = tempfile.mkdtemp(prefix="edgerec-chromium-")
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        fds = [to_child_r, from_child_w]

        def wire():  # in the child: the protocol wants fds 3 (in) and 4 (out)
            a, b = os.dup(fds[0]), os.dup(fds[1])
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                "--user-data-dir=" + self.profile, "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--mute-audio", "--hide-scrollbars", "--disable-dev-shm-usage",
                "--window-size=%d,%d" % (width, height), "about:blank"]
        self.stderr = open(os.path.join(self.profile, "stderr.log"), "w+")
        try:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=self.stderr, preexec_fn=wire, close_fds=False)
        except OSError as e:
            raise Skip("cannot run %s: %s" % (exe, e))
        os.close(to_child_r)
        os.close(from_child_w)
        self.next_id = 0
        self.pending = {}
        self.events = []
        self.lock = threading.Condition()
        self.closed = False
        threading.Thread(target=self.reader, daemon=True).start()
        try:
            self.call("Browser.getVersion", timeout=START_TIMEOUT_S)
        except Exception as e:
            self.stderr.seek(0)
            tail = self.stderr.read()[-600:]
            self.close()
            raise Skip("chromium did not start: %s; stderr: %s" % (e, tail.strip()))

    def reader(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.from_child, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self.lock:
                    self.closed = True
                    self.lock.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self.lock:
                    if "id" in msg:
                        self.pending[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self.lock.notify_all()

    def call(self, method, params=None, session=None, timeout=15):
        with self.lock:
            self.next_id += 1
            mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self.lock:
            while mid not in self.pending:
                left = deadline - time.monotonic()
                if self.closed:
                    raise RuntimeError("chromium closed the pipe during %s" % method)
                if left <= 0:
                    raise RuntimeError("no answer to %s in %ss" % (method, timeout))
                self.lock.wait(left)
            res = self.pending.pop(mid)
        if "error" in res:
            raise RuntimeError("%s: %s" % (method, res["error"].get("message")))
        return res.get("result", {})

    def wait_event(self, method, session, since, timeout):
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for ev in self.events[since:]:
                    if ev.get("method") == method and ev.get("sessionId") == session:
                        return True
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return False
                self.lock.wait(left)

    def close(self):
        try:
            if getattr(self, "proc", None) and self.proc.poll() is None:
                try:
                    self.call("Browser.close", timeout=5)
                except Exception:
                    pass
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def run(argv):
    timeout = 10.0
    cookies, steps = [], []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--timeout":
            timeout = float(argv[i + 1])
            i += 2
        elif a == "--cookie":
            name, _, value = argv[i + 2].partition("=")
            cookies.append({"url": argv[i + 1], "name": name, "value": value})
            i += 3
        elif a in ("--goto", "--wait", "--eval", "--scroll", "--tab", "--sleep", "--shot", "--fullshot"):
            steps.append((a, argv[i + 1], timeout))
            i += 2
        else:
            sys.exit("browser.py: unknown argument %r" % a)

    b = Chromium()
    out = {"waits": [], "values": [], "console": [], "exceptions": [], "log": []}
    try:
        target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for m in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            b.call(m, session=s)
        if cookies:
            b.call("Network.setCookies", {"cookies": cookies}, session=s)

        def evaluate(expr):
            r = b.call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True},
                       session=s)
            if "exceptionDetails" in r:
                return {"error": r["exceptionDetails"].get("text", "exception")}
            return r.get("result", {}).get("value")

        for kind, arg, limit in steps:
            if kind == "--goto":
                since = len(b.events)
                b.call("Page.navigate", {"url": arg}, session=s)
                b.wait_event("Page.loadEventFired", s, since, limit)
            elif kind == "--wait":
                deadline = time.monotonic() + limit
                ok = False
                while True:
                    v = evaluate(arg)
                    if v and not (isinstance(v, dict) and "error" in v):
                        ok = True
                        break
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.05)
                out["waits"].append(ok)
            elif kind == "--eval":
                out["values"].append(evaluate(arg))
            elif kind == "--scroll":
                evaluate("window.scrollTo(0, %d)" % int(arg))
            elif kind == "--tab":
                for _ in range(int(arg)):
                    for t in ("rawKeyDown", "keyUp"):
                        b.call("Input.dispatchKeyEvent", {"type": t, "key": "Tab", "code": "Tab",
                                                          "windowsVirtualKeyCode": 9, "nativeVirtualKeyCode": 9},
                               session=s)
            elif kind == "--sleep":
                time.sleep(float(arg))
            elif kind in ("--shot", "--fullshot"):
                shot = {"format": "png"}
                if kind == "--fullshot":
                    size = b.call("Page.getLayoutMetrics", session=s)["cssContentSize"]
                    shot.update(captureBeyondViewport=True,
                                clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
                png = b.call("Page.captureScreenshot", shot, session=s)["data"]
                with open(arg, "wb") as f:
                    f.write(base64.b64decode(png))
        time.sleep(0.2)  # let late console events arrive
        with b.lock:
            events = list(b.events)
        for ev in events:
            p = ev.get("params", {})
            if ev.get("method") == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                out["console"].append({"type": p.get("type"), "text": text})
            elif ev.get("method") == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out["exceptions"].append(d.get("exception", {}).get("description") or d.get("text"))
            elif ev.get("method") == "Log.entryAdded":
                e = p.get("entry", {})
                out["log"].append({"source": e.get("source"), "level": e.get("level"), "text": e.get("text"),
                                   "url": e.get("url")})
    finally:
        b.close()
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    try:
        run(sys.argv[1:])
    except Skip as e:
        print("browser.py: skipped: %s" % e, file=sys.stderr)
        sys.exit(77)
