"""The admin console as the edge serves it: its policy and its weight on the wire, then the
browser suite (console/e2e, Node's test runner driving headless Chromium with playwright-core)
against this deployment: sign-in, projects and files, roles taking effect, refusals, sign-out,
keyboard use, axe-core on every page in both themes, and the pictures of docs/console.md.

Named to sort before test_platform.py, whose last tests destroy the stack.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import shutil
import ssl
import subprocess
import time

from hearth.catalog.edge import CONSOLE_CSP

from .conftest import HTTPS_PORT, ROOT, Edge, Platform, header

SCREENSHOTS = ROOT / ".state" / "screenshots"
"""Where the e2e's pictures go (ignored by git); `make screenshots` refreshes docs/images/."""
FIRST_LOAD_BUDGET = 150 * 1024
"""The sign-in page's JavaScript, gzipped (issue 13)."""


def test_the_site_root_leads_to_the_console(edge: Edge) -> None:
    r = edge.request("GET", "/")
    # urllib follows the redirect: the console's sign-in shell is what the browser gets.
    assert r.status == 200, r.body[:300]
    assert b"<html" in r.body
    assert header(r.headers, "Content-Security-Policy") == CONSOLE_CSP


def test_another_name_of_the_site_sends_the_console_to_the_platforms_own(edge: Edge) -> None:
    # Presigned upload URLs name the platform's host: a page under another name could not use them.
    # A client sends no SNI to an address, so the edge answers with its own name's certificate.
    tls = ssl.create_default_context(cadata=edge.ca_pem)
    tls.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", HTTPS_PORT, context=tls, timeout=15)
    try:
        conn.request("GET", "/console/projects/")
        r = conn.getresponse()
        assert r.status == 308, r.status
        assert r.getheader("Location") == f"{edge.base}/console/projects/"
    finally:
        conn.close()


def test_every_console_page_is_served_under_a_policy_without_inline_script(edge: Edge) -> None:
    for page in ("sign-in", "register", "account", "projects", "admin/users", "status"):
        r = edge.request("GET", f"/console/{page}/")
        assert r.status == 200, (page, r.status)
        assert header(r.headers, "Content-Security-Policy") == CONSOLE_CSP, page
        assert header(r.headers, "Cache-Control") == "no-cache", page
        html = r.body.decode()
        # Any executable inline script would be refused by the policy: none may be there.
        inline = [
            m.group(0)[:80]
            for m in re.finditer(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
            if "application/json" not in m.group(1)
        ]
        assert not inline, (page, inline)
        assert " style=" not in html, page
    # The API keeps its own answers and headers: the console's policy is the console's.
    api = edge.request("GET", "/api/v1/auth/options")
    assert api.status == 200, api.body
    assert header(api.headers, "Content-Security-Policy") == "frame-ancestors 'none'"


def test_the_sign_in_pages_first_load_javascript_is_within_budget(
    platform: Platform, edge: Edge
) -> None:
    html = edge.request("GET", "/console/sign-in/").body.decode()
    # What a current browser loads: `nomodule` polyfills are for browsers without modules.
    scripts = [
        m.group(2)
        for m in re.finditer(r'<script([^>]*)\bsrc="([^"]+)"', html)
        if "nomodule" not in m.group(1).lower()
    ]
    assert scripts, html[:500]
    total = 0
    for src in scripts:
        r = edge.request("GET", src)
        assert r.status == 200, src
        assert "immutable" in header(r.headers, "Cache-Control"), src
        total += len(gzip.compress(r.body, compresslevel=9))
    platform.figures["console_sign_in_js_gzip_kb"] = round(total / 1024, 1)
    assert total <= FIRST_LOAD_BUDGET, f"{total / 1024:.1f} KiB gzipped in {scripts}"


NETWORK_CHANGED = "net::ERR_NETWORK_CHANGED"


def run_suite(node: str, files: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The console's browser suite (these files of console/e2e), one file at a time."""
    return subprocess.run(  # noqa: S603 - Node.js on our own suite
        [node, "--test", "--test-concurrency=1", "--test-reporter=spec", *files],
        cwd=ROOT / "console",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_browser_suite_passes_against_this_deployment(platform: Platform, edge: Edge) -> None:
    node = shutil.which("node")
    assert node, "Node.js is missing; run: make setup"
    outputs = platform.stack.outputs()
    shots = SCREENSHOTS / "console"
    shutil.rmtree(shots, ignore_errors=True)  # only this run's pictures count below
    shots.mkdir(parents=True)
    # Files, not a directory: Node 22 reads a directory argument as a pattern.
    suite = sorted(
        str(p.relative_to(ROOT / "console")) for p in (ROOT / "console/e2e").glob("*.test.mjs")
    )
    env = {
        **os.environ,
        "HEARTH_URL": edge.base,
        "HEARTH_ADMIN_EMAIL": outputs["adminEmail"].value,
        "HEARTH_ADMIN_PASSWORD": outputs["adminPassword"].value,
        "HEARTH_SCREENSHOTS": str(shots),
    }
    started = time.monotonic()
    proc = run_suite(node, suite, env)
    failed = sorted(set(re.findall(r"test at (e2e/\S+?\.test\.mjs):", proc.stdout)))
    if proc.returncode != 0 and NETWORK_CHANGED in proc.stdout + proc.stderr and failed:
        # Chromium aborts what is in flight when the host's interfaces change, as they do
        # when other suites start containers (console/e2e/lib.mjs says so for any request):
        # the machine's doing, not the console's. The files that failed run once more; any
        # other failure stands.
        proc = run_suite(node, failed, env)
    platform.figures["console_browser_suite_s"] = round(time.monotonic() - started, 1)
    assert proc.returncode == 0, proc.stdout[-12000:] + proc.stderr[-4000:]
    pages = {p.name.removesuffix("-dark.png") for p in shots.glob("console-*-dark.png")}
    assert len(pages) >= 9, f"dark screenshots of {sorted(pages)} only"
