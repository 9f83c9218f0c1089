"""Screenshots of the monitoring UIs and the admin console of a running stack, for
docs/monitoring.md and docs/console.md (`make screenshots`; the e2e takes the same pictures of
its own stack into .state/screenshots/).

    .venv/bin/python tools/screenshots.py [--stack local] [--out docs/images]
    HEARTH_ADMIN_PASSWORD=… .venv/bin/python tools/screenshots.py --stack e2e-1a2b3c \
        --endpoint https://localhost:18443 --email admin@hearth.localhost --out /tmp/shots

Signs in as the stack's admin (its outputs, or the options given), sends a little traffic
and one request with a known request id, then pictures the overview dashboard in vmui and
the log search for that request id in VictoriaLogs, in headless Chromium
(tests/e2e/browser.py); then every console page in both themes and at phone width
(console/e2e/pages.test.mjs).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hearth.settings import PROJECT  # noqa: E402 - after the path
from hearth.workspace import select_stack  # noqa: E402
from tests.e2e import browser  # noqa: E402


def edge_ca(stack: str) -> str | None:
    """The edge's own CA (PEM), which issued its certificate on a stack without ACME; None
    with ACME, whose certificates the system trusts."""
    pem = "/data/caddy/pki/authorities/local/root.crt"
    proc = subprocess.run(  # noqa: S603 - docker, arguments from this script
        [shutil.which("docker") or "docker", "exec", f"{PROJECT}-{stack}-edge", "cat", pem],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout if proc.returncode == 0 else None


def request(
    tls: ssl.SSLContext, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json", **(headers or {})} if data else dict(headers or {})
    req = urllib.request.Request(url, data=data, headers=hdrs)  # noqa: S310 - https only
    try:
        with urllib.request.urlopen(req, timeout=15, context=tls) as r:  # noqa: S310
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="local")
    parser.add_argument("--endpoint", help="the platform's URL (default: the stack's output)")
    parser.add_argument("--email", help="with --endpoint; the password in HEARTH_ADMIN_PASSWORD")
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    args = parser.parse_args()

    if args.endpoint:
        # A stack without a committed stack file (the e2e's): no workspace.
        base, email = args.endpoint.rstrip("/"), args.email
        password = os.environ["HEARTH_ADMIN_PASSWORD"]
    else:
        outputs = select_stack(args.stack).outputs()
        base = outputs["endpoint"].value.rstrip("/")
        email, password = outputs["adminEmail"].value, outputs["adminPassword"].value
    ca = edge_ca(args.stack)
    tls = ssl.create_default_context(cadata=ca) if ca else ssl.create_default_context()
    # A platform still starting answers 5xx for a while: retry.
    for _ in range(60):
        status, body = request(
            tls, f"{base}/api/v1/auth/login", {"email": email, "password": password}
        )
        if status < 500:
            break
        time.sleep(3)
    if status != 200:
        sys.exit(f"login failed: {status} {body[:200]!r}")
    token = json.loads(body)["access_token"]
    # A request to find in the logs, and some traffic for the graphs.
    rid = f"docs-{secrets.token_hex(6)}"
    me = f"{base}/api/v1/me"
    request(tls, me, headers={"Authorization": f"Bearer {token}", "X-Request-Id": rid})
    for _ in range(30):
        request(tls, me, headers={"Authorization": f"Bearer {token}"})

    out = Path(args.out)
    with browser.chromium(base, ca) as page:
        browser.sign_in(page, base, token)
        panels = browser.overview(page, base, out / "monitoring-overview.png")
        lines = browser.log_search(page, base, f'"{rid}"', out / "monitoring-logs.png")
    empty = [title for title, last in panels.items() if not last]
    print(f"wrote {out}/monitoring-overview.png, {out}/monitoring-logs.png")  # noqa: T201
    if empty or not lines:
        print(f"without data: panels {empty}, log lines {len(lines)}", file=sys.stderr)  # noqa: T201
        return 1
    console = subprocess.run(  # noqa: S603 - Node.js on the console's own page suite
        [shutil.which("node") or "node", "--test", "e2e/pages.test.mjs"],
        cwd=ROOT / "console",
        env={
            **os.environ,
            "HEARTH_URL": base,
            "HEARTH_ADMIN_EMAIL": email,
            "HEARTH_ADMIN_PASSWORD": password,
            "HEARTH_SCREENSHOTS": str(out),
        },
        check=False,
    )
    print(f"wrote {out}/console-*.png")  # noqa: T201
    return console.returncode


if __name__ == "__main__":
    sys.exit(main())
