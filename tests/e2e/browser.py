"""Headless Chromium over the Chrome DevTools protocol: pictures of the monitoring UIs of a
deployed platform, and what those pages show. Used by test_observability.py (into
.state/screenshots/) and by tools/screenshots.py (`make screenshots`, into docs/images/).

Debian's `chromium`, which `make setup` installs; no test tool downloads a browser here.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from hearth.catalog import monitoring

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",  # run as root in CI; the pages are our own
    "--disable-gpu",
    # No connection of the browser's own: this machine's network refuses them.
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",  # any free port, written to DevToolsActivePort
)
WIDTH, HEIGHT = 1440, 1000
OVERVIEW = "Platform overview"
"""The title of templates/monitoring/dashboards/overview.json.j2."""

# vmui's markup (v1.151): a dashboard is tabs; each row an accordion, closed but the first;
# a panel's legend lists its series, each with its last value.
_PANELS = """(() => [...document.querySelectorAll('.vm-predefined-panel')].map(p => [
  p.querySelector('.vm-predefined-panel-header__title')?.textContent ?? '',
  [...p.querySelectorAll('.vm-legend-item')]
    .map(i => (i.innerText.match(/last:\\s*(\\S+)/) ?? [])[1])
    .find(v => v !== undefined && v !== 'NaN') ?? '']))()"""
_EXPAND_ROWS = """(() => {
  const closed = [...document.querySelectorAll(
    '.vm-predefined-dashboard > .vm-accordion-header:not(.vm-accordion-header_open)')];
  closed.forEach(h => h.click());
  return closed.length;
})()"""
# Decodes a PNG in the browser, independent of the page that was shot.
_IMAGE_STATS = """new Promise((resolve, reject) => {
  const img = new Image();
  img.onerror = () => reject(new Error('not a PNG the browser decodes'));
  img.onload = () => {
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const px = new Uint32Array(ctx.getImageData(0, 0, c.width, c.height).data.buffer);
    const counts = new Map();
    for (const p of px) counts.set(p, (counts.get(p) ?? 0) + 1);
    resolve({width: img.width, height: img.height, colors: counts.size,
             dominant: Math.max(...counts.values()) / px.length});
  };
  img.src = 'data:image/png;base64,' + %s;
})"""


class Page:
    """One browser tab, driven by DevTools commands."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        n = next(self.ids)
        self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        r = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression[:80]}…: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float) -> Any:
        """Evaluate `expression` until it is truthy; its last value either way."""
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)) and time.monotonic() < deadline:
            time.sleep(0.2)
        return value

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def resize(self, height: int = HEIGHT) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def fit(self) -> None:
        """The viewport as tall as the page: vmui loads a panel's data only once it is in
        view, and the picture is of the whole page."""
        self.resize(self.evaluate("document.documentElement.scrollHeight"))

    def screenshot(self, out: Path) -> bytes:
        """A PNG of the viewport, written to `out`."""
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(png)
        return png


def presented_spki(base: str, ca_pem: str) -> str:
    """The base64 SHA-256 of the public key (SubjectPublicKeyInfo) of the certificate the
    platform at `base` presents, verified against the CA `ca_pem` first: what Chromium's
    --ignore-certificate-errors-spki-list takes. (The edge sends its leaf and intermediate,
    not its root: the root's key would match nothing Chromium sees.)"""
    url = urllib.parse.urlsplit(base)
    host, port = url.hostname or "localhost", url.port or 443
    tls = ssl.create_default_context(cadata=ca_pem)
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        tls.wrap_socket(raw, server_hostname=host) as conn,
    ):
        der = conn.getpeercert(binary_form=True)
    assert der is not None

    def element(i: int) -> tuple[int, int]:
        """Where the DER element at `i` has its content, and where it ends."""
        if der[i + 1] < 0x80:
            return i + 2, i + 2 + der[i + 1]
        k = der[i + 1] & 0x7F
        start = i + 2 + k
        return start, start + int.from_bytes(der[i + 2 : start], "big")

    i = element(element(0)[0])[0]  # into Certificate, into TBSCertificate
    if der[i] == 0xA0:  # [0] version
        i = element(i)[1]
    for _ in range(5):  # serialNumber, signature, issuer, validity, subject
        i = element(i)[1]
    return base64.b64encode(hashlib.sha256(der[i : element(i)[1]]).digest()).decode()


@contextmanager
def chromium(base: str, ca_pem: str | None) -> Iterator[Page]:
    """A headless Chromium with a fresh profile, its first tab at WIDTH by HEIGHT, accepting
    the certificate the platform at `base` presents once it is verified against `ca_pem`
    (the edge's own CA on a stack without ACME; None: only what the system trusts)."""
    if not CHROMIUM.is_file():
        raise FileNotFoundError(f"{CHROMIUM} is missing; `make setup` installs Debian's chromium")
    flags = list(FLAGS)
    if ca_pem is not None:
        flags.append(f"--ignore-certificate-errors-spki-list={presented_spki(base, ca_pem)}")
    with tempfile.TemporaryDirectory(prefix="hearth-chromium-") as profile:
        proc = subprocess.Popen(  # noqa: S603 - the browser, flags of this module
            [str(CHROMIUM), *flags, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not (port_file.is_file() and port_file.read_text().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not start (exit code {proc.poll()})")
                time.sleep(0.05)
            port = port_file.read_text().split()[0]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
                (tab,) = [t for t in json.load(r) if t["type"] == "page"]
            with connect(tab["webSocketDebuggerUrl"], max_size=None) as ws:
                page = Page(ws)
                page.call("Page.enable")
                page.resize()
                yield page
        finally:
            _stop(proc)


def _stop(browser: subprocess.Popen[bytes]) -> None:
    """Chromium and every helper it started, gone before the profile is removed: a helper
    still writing into it fails the removal ("Directory not empty")."""
    group = browser.pid  # its own session: the group is Chromium and its helpers alone
    os.killpg(group, signal.SIGTERM)
    browser.wait(timeout=30)
    deadline = time.monotonic() + 10
    while _alive(group):
        if time.monotonic() > deadline:
            with suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        time.sleep(0.05)


def _alive(group: int) -> bool:
    """Whether a process of `group` still runs (zombies, waiting for init, do not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def sign_in(page: Page, base: str, token: str) -> None:
    """The session cookie the app's login sets, for the edge's forward auth."""
    page.call(
        "Network.setCookie",
        name="hearth_access",
        value=token,
        url=base + "/",
        httpOnly=True,
        secure=True,
    )


def overview(page: Page, base: str, out: Path, timeout: float = 20) -> dict[str, str]:
    """The overview dashboard in vmui, every row open, pictured whole into `out` once each
    panel shows a value (or `timeout` passed): panel title → its legend's last value
    ("" for a panel without data)."""
    page.open(f"{base}{monitoring.UI_PATHS[monitoring.METRICS]}#/dashboards?g0.range_input=15m")
    tab = (
        "[...document.querySelectorAll('.vm-predefined-panels-tabs__tab')]"
        f".find(t => t.textContent.trim() === {json.dumps(OVERVIEW)})"
    )
    if not page.wait_for(f"{tab} !== undefined", timeout):
        raise AssertionError(f"vmui shows no tab {OVERVIEW!r}: {page_text(page)}")
    page.evaluate(f"{tab}.click()")
    page.wait_for(f"{tab}.classList.contains('vm-predefined-panels-tabs__tab_active')", 5)
    deadline = time.monotonic() + timeout
    while True:
        # Again each round: on a loaded machine rows open and panels grow after the first
        # look, and a panel below the viewport never loads its data.
        page.evaluate(_EXPAND_ROWS)
        page.fit()
        panels = page.evaluate(_PANELS)
        if (panels and all(last for _, last in panels)) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    page.fit()  # legends make panels taller
    page.screenshot(out)
    page.resize()
    return dict(panels)


def log_search(page: Page, base: str, query: str, out: Path, timeout: float = 20) -> list[str]:
    """VictoriaLogs' UI searching `query` (LogsQL), pictured into `out` once lines are
    shown (or `timeout` passed): the lines shown."""
    page.open(f"{base}{monitoring.UI_PATHS[monitoring.LOGS]}#/?query={urllib.parse.quote(query)}")
    lines = (
        "[...document.querySelectorAll('.vm-group-logs-row-content__msg')].map(e => e.innerText)"
    )
    shown: list[str] = page.wait_for(f"{lines}.length > 0 && {lines}", timeout) or []
    page.screenshot(out)
    return shown


def page_text(page: Page) -> str:
    text: str = page.evaluate("document.body?.innerText ?? ''")
    return text[:500]


@dataclass(frozen=True)
class ImageStats:
    width: int
    height: int
    colors: int
    dominant: float
    """The share of the pixels that have the most common colour."""


def image_stats(page: Page, png: bytes) -> ImageStats:
    """What a PNG holds, decoded by the browser on a blank page."""
    page.open("about:blank")
    data = json.dumps(base64.b64encode(png).decode())
    return ImageStats(**page.evaluate(_IMAGE_STATS % data))
