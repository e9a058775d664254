"""Open an HTML file in headless Chromium and report what a reader would hit: missing images, console errors,
failed or outside requests, links to nowhere.

Chromium is driven through the Chrome DevTools Protocol over ``--remote-debugging-pipe`` (JSON messages
ended by NUL on file descriptors 3 and 4), so nothing beyond the standard library is needed. The page is
loaded with a fresh profile and the flags that keep Chromium off the network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--remote-debugging-pipe"]

CHECK = """JSON.stringify({
  images: Array.from(document.images).map(i => ({data: i.src.startsWith('data:image/'), complete: i.complete,
                                                  width: i.naturalWidth, height: i.naturalHeight})),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => {
    const href = a.getAttribute('href');
    return {href: href, ok: href.startsWith('#') && document.getElementById(decodeURIComponent(href.slice(1))) !== null};
  }),
  tables: Array.from(document.querySelectorAll('table[id]')).map(t => t.id),
  title: document.title
})"""


def chromium_path() -> str | None:
    """The Chromium binary (Debian's ``chromium``), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@dataclass
class PageCheck:
    """What loading the page showed."""

    images: list[dict[str, Any]]
    links: list[dict[str, Any]]
    tables: list[str]
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)

    @property
    def broken_images(self) -> list[dict[str, Any]]:
        return [i for i in self.images if not (i["data"] and i["complete"] and i["width"] > 0 and i["height"] > 0)]

    @property
    def broken_links(self) -> list[str]:
        return [link["href"] for link in self.links if not link["ok"]]


class _Pipe:
    def __init__(self, binary: str, profile: str):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:  # in the child: Chromium reads commands on fd 3 and writes replies on fd 4
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.process = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(3, 4),
                                        preexec_fn=wire)  # noqa: PLW1509 (tests run it single-threaded)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.receive(timeout)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def receive(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message = json.loads(raw)
        if "method" in message:
            self.events.append(message)
        return message

    def wait_for(self, method: str, timeout: float = 30.0) -> None:
        if any(e["method"] == method for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.receive(deadline - time.monotonic()).get("method") == method:
                return
        raise TimeoutError(f"no {method} from Chromium")

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass


def check_page(path: Path, binary: str | None = None) -> PageCheck:
    """Load ``path`` (an HTML file) in headless Chromium and collect what went wrong.

    Raises:
        RuntimeError: no Chromium, or the protocol failed.
    """
    binary = binary or chromium_path()
    if binary is None:
        raise RuntimeError("chromium not found")
    with tempfile.TemporaryDirectory(prefix="xprobe-chromium-") as profile:
        pipe = _Pipe(binary, profile)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime", "Log", "Page", "Network"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.events.clear()
            pipe.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
            pipe.wait_for("Page.loadEventFired")
            result = pipe.send("Runtime.evaluate", {"expression": CHECK, "returnByValue": True}, session=session)
            data = json.loads(result["result"]["value"])
        finally:
            pipe.close()
    check = PageCheck(data["images"], data["links"], data["tables"])
    for event in pipe.events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            check.console_errors.append(json.dumps(params.get("args")))
        elif method == "Runtime.exceptionThrown":
            check.console_errors.append(json.dumps(params.get("exceptionDetails")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            check.console_errors.append(params["entry"].get("text", ""))
        elif method == "Network.loadingFailed":
            check.failed_requests.append(params.get("errorText", ""))
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if not url.startswith(("file:", "data:", "about:")):
                check.outside_requests.append(url)
    return check
