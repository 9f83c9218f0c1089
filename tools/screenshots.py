"""Screenshots of the monitoring UIs of a deployed stack, for docs/monitoring.md.

    .venv/bin/python tools/screenshots.py [--stack local] [--out docs/images]
    HEARTH_ADMIN_PASSWORD=… .venv/bin/python tools/screenshots.py --stack e2e-1a2b3c \
        --endpoint https://localhost:18443/ --email admin@hearth.localhost

Signs in as the stack's admin (its outputs, or the options given), sends a little traffic
and one request with a known request id, then drives headless Chromium (`apt-get install
chromium`) over the Chrome DevTools protocol: the session cookie the app sets, the overview
dashboard in vmui, and the log search for that request id in VictoriaLogs. Run by hand (not
part of `make test`): it needs a running stack and a browser.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hearth.catalog import monitoring  # noqa: E402 - after the path
from hearth.settings import PROJECT  # noqa: E402
from hearth.workspace import select_stack  # noqa: E402

SIZE = (1440, 1000)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    # The platform's own CA (local stacks); the pages are ours, only pictures are taken.
    "--ignore-certificate-errors",
    "--remote-debugging-port=0",
)


def edge_ca(stack: str) -> ssl.SSLContext:
    pem = subprocess.run(  # noqa: S603 - docker, arguments from this script
        [
            shutil.which("docker") or "docker",
            "exec",
            f"{PROJECT}-{stack}-edge",
            "cat",
            "/data/caddy/pki/authorities/local/root.crt",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return ssl.create_default_context(cadata=pem)


def request(
    tls: ssl.SSLContext, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json", **(headers or {})} if data else dict(headers or {})
    req = urllib.request.Request(url, data=data, headers=hdrs)  # noqa: S310 - https only
    try:
        with urllib.request.urlopen(req, timeout=15, context=tls) as r:  # noqa: S310
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Page:
    """One browser tab over the DevTools protocol."""

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

    def shoot(self, url: str, out: Path, settle_s: float, tab: str | None = None) -> None:
        self.call("Page.navigate", url=url)
        time.sleep(settle_s)  # vmui draws after its queries answer; nothing to poll
        if tab:
            # vmui lists its own predefined dashboard first; ours are the next tabs.
            click = (
                "[...document.querySelectorAll('button, a, div, span')]"
                f".find(e => e.children.length === 0 && e.textContent.trim() === {json.dumps(tab)})"
                "?.click() !== undefined"
            )
            self.call("Runtime.evaluate", expression=click)
            time.sleep(settle_s)
        png = self.call("Page.captureScreenshot", format="png")["data"]
        out.write_bytes(base64.b64decode(png))
        print(f"wrote {out.relative_to(ROOT)}")  # noqa: T201 - a command-line tool


def chromium(profile: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("chromium") or sys.exit("no chromium; apt-get install chromium")
    proc = subprocess.Popen(  # noqa: S603 - the browser, flags from this script
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port_file = Path(profile) / "DevToolsActivePort"
    for _ in range(100):
        if port_file.is_file() and port_file.read_text().strip():
            break
        time.sleep(0.2)
    port = port_file.read_text().split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
        tabs = [t for t in json.load(r) if t["type"] == "page"]
    return proc, tabs[0]["webSocketDebuggerUrl"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="local")
    parser.add_argument("--endpoint", help="the platform's URL (default: the stack's output)")
    parser.add_argument("--email", help="with --endpoint; the password in HEARTH_ADMIN_PASSWORD")
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    args = parser.parse_args()

    if args.endpoint:
        # A stack whose config is not a committed file (the e2e's): no workspace sync.
        base, email = args.endpoint, args.email
        password = os.environ["HEARTH_ADMIN_PASSWORD"]
    else:
        outputs = select_stack(args.stack).outputs()
        base = outputs["endpoint"].value
        email, password = outputs["adminEmail"].value, outputs["adminPassword"].value
    base = base.rstrip("/")
    tls = edge_ca(args.stack)
    # A platform still starting (or one whose database is briefly away) answers 5xx: retry.
    for _ in range(60):
        status, _, body = request(
            tls, f"{base}/api/v1/auth/login", {"email": email, "password": password}
        )
        if status != 200 and status >= 500:
            time.sleep(3)
            continue
        break
    if status != 200:
        sys.exit(f"login failed: {status} {body[:200]!r}")
    token = json.loads(body)["access_token"]
    # A request to find in the logs, and some traffic for the graphs.
    rid = f"docs-{secrets.token_hex(6)}"
    request(
        tls,
        f"{base}/api/v1/me",
        headers={"Authorization": f"Bearer {token}", "X-Request-Id": rid},
    )
    for _ in range(30):
        request(tls, f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    time.sleep(3)  # the syslog line and a scrape, both seconds away

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        proc, ws_url = chromium(profile)
        try:
            with connect(ws_url, max_size=None) as ws:
                page = Page(ws)
                page.call("Page.enable")
                page.call("Network.enable")
                page.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=SIZE[0],
                    height=SIZE[1],
                    deviceScaleFactor=1,
                    mobile=False,
                )
                page.call(
                    "Network.setCookie",
                    name="hearth_access",
                    value=token,
                    url=base + "/",
                    httpOnly=True,
                    secure=True,
                )
                dashboards = base + monitoring.UI_PATHS[monitoring.METRICS]
                page.shoot(
                    f"{dashboards}#/dashboards?g0.range_input=5m",
                    out / "monitoring-overview.png",
                    settle_s=10,
                    tab="Platform overview",
                )
                query = urllib.parse.quote(f'"{rid}"')
                logs = base + monitoring.UI_PATHS[monitoring.LOGS]
                page.shoot(
                    f"{logs}#/?query={query}&g0.range_input=15m",
                    out / "monitoring-logs.png",
                    settle_s=10,
                )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
