"""A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe`, standard library only.

Chromium reads commands from its fd 3 and writes replies and events to its fd 4, each a JSON
message ended by a NUL byte. `Browser` starts a headless Chromium with a fresh profile, opens one
page and offers `navigate`, `evaluate`, mouse strokes and screenshots: enough to test a page
without Playwright or a downloaded browser.
"""

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    """The Chromium executable, or None: Debian's package, else `chromium` on the PATH."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


def _above_nine(fd: int) -> int:
    """A copy of `fd` numbered 10 or more (and `fd` closed), so that putting one pipe end on
    fd 3 or 4 in the child cannot overwrite the other before it is used."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, executable: str, *, width: int = 900, height: int = 480) -> None:
        self.profile = tempfile.TemporaryDirectory(prefix="purenet-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        to_browser_r, from_browser_w = _above_nine(to_browser_r), _above_nine(from_browser_w)
        # A small Python launcher puts the pipe ends on fds 3 and 4, where
        # --remote-debugging-pipe wants them, then becomes Chromium.
        launcher = (
            "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
            "os.execv(sys.argv[3], sys.argv[3:])"
        )
        command = [
            sys.executable,
            "-c",
            launcher,
            str(to_browser_r),
            str(from_browser_w),
            executable,
            *FLAGS,
            f"--user-data-dir={self.profile.name}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self.log = Path(self.profile.name) / "chromium.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                pass_fds=(to_browser_r, from_browser_w),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        self.page("Page.enable")
        self.page(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (OSError, TimeoutError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self.profile.cleanup()

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(remaining, 0))
            if not ready:
                raise TimeoutError("no reply from Chromium")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe: {self._log_tail()}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        result: dict[str, Any] = json.loads(message)
        return result

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        """Send one command and wait for its reply; events in between are dropped."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise RuntimeError(f"Chromium is gone: {self._log_tail()}") from None
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def page(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A command to the page's session."""
        return self.send(method, params, session=self.session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        reply = self.page(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression[:60]}...: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def navigate(self, url: str, *, ready: str = "true", timeout: float = 30) -> None:
        """Open `url` and wait until the page is loaded and `ready` is true."""
        self.page("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        check = f"document.readyState === 'complete' && Boolean({ready})"
        while not self.evaluate(check):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}: not ready after {timeout} s")
            time.sleep(0.05)

    def stroke(self, points: Sequence[tuple[float, float]]) -> None:
        """Drag the mouse with the left button down through `points` (page pixels)."""
        x, y = points[0]
        press = {"x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1}
        self.page("Input.dispatchMouseEvent", {"type": "mousePressed", **press})
        for x, y in points[1:]:
            move = {"x": x, "y": y, "button": "left", "buttons": 1}
            self.page("Input.dispatchMouseEvent", {"type": "mouseMoved", **move})
        release = {"x": x, "y": y, "button": "left", "buttons": 0, "clickCount": 1}
        self.page("Input.dispatchMouseEvent", {"type": "mouseReleased", **release})

    def screenshot(self, path: Path) -> None:
        """Save the page as a PNG."""
        data = self.page("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
