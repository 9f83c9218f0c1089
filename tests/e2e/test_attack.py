"""The attack that found the weaknesses of issue #10, run again through the deployed edge.

Two clients with addresses of their own — an attacker and the account's owner — sit on the
stack's edge network (where the LAN's clients would come from) and talk HTTPS to the edge,
as a browser would. Runs before test_platform.py's destroy tests (alphabetical order).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import secrets
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hearth.catalog import app, edge
from tests.e2e.conftest import HTTP_PORT, HTTPS_PORT, Edge, Platform, inspect, run

CLIENT_SCRIPT = """
import http.client, json, socket, ssl, sys
from concurrent.futures import ThreadPoolExecutor

ca, target, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
batch = json.load(sys.stdin)
tls = ssl.create_default_context(cadata=ca)
tls.check_hostname = False  # by address (no SNI: the edge's default name); the CA is checked
address = socket.gethostbyname(target)

def one(r):
    conn = http.client.HTTPSConnection(address, port, context=tls, timeout=30)
    headers = {"Host": "localhost", **r.get("headers", {})}
    body = None
    if "json" in r:
        body = json.dumps(r["json"]).encode()
        headers["Content-Type"] = "application/json"
    conn.request(r["method"], r["path"], body=body, headers=headers)
    resp = conn.getresponse()
    out = {"status": resp.status, "headers": dict(resp.getheaders()),
           "body": resp.read().decode(errors="replace")}
    conn.close()
    return out

with ThreadPoolExecutor(batch["parallel"]) as pool:
    print(json.dumps(list(pool.map(one, batch["requests"]))))
"""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Client:
    """A machine of its own on the edge network, sending HTTPS to the edge."""

    container: str
    address: str
    ca: str

    def send(self, *requests: dict[str, Any], parallel: int = 1) -> list[Answer]:
        batch = json.dumps({"parallel": parallel, "requests": list(requests)})
        out = run(
            [
                "docker",
                "exec",
                "-i",
                self.container,
                "python3",
                "-c",
                CLIENT_SCRIPT,
                self.ca,
                edge.NAME,
                str(edge.HTTPS_PORT),
            ],
            input=batch,
            timeout=120,
        )
        return [Answer(a["status"], a["headers"], a["body"]) for a in json.loads(out)]

    def one(self, method: str, path: str, **kw: Any) -> Answer:
        return self.send({"method": method, "path": path, **kw})[0]


@pytest.fixture(scope="module")
def clients(platform: Platform, edge: Edge) -> Iterator[tuple[Client, Client]]:
    """(attacker, owner): two containers of the app's image, idle, on the edge network."""
    network = f"{platform.project}-edge"
    made: list[Client] = []
    try:
        for role in ("attacker", "owner"):
            name = f"{platform.project}-e2e-{role}"
            run(
                [
                    "docker",
                    "run",
                    "-d",
                    "--rm",
                    "--name",
                    name,
                    "--network",
                    network,
                    "--read-only",
                    "--cap-drop",
                    "ALL",
                    "--entrypoint",
                    "sleep",
                    f"hearth/{app.IMAGE}:local",
                    "600",
                ]
            )
            address = inspect(name)["NetworkSettings"]["Networks"][network]["IPAddress"]
            made.append(Client(name, address, edge.ca_pem))
        yield made[0], made[1]
    finally:
        for c in made:
            run(["docker", "rm", "-f", c.container], check=False)


@pytest.fixture(scope="module")
def admin_token(platform: Platform, edge: Edge) -> str:
    outputs = platform.stack.outputs()
    r = edge.request(
        "POST",
        "/api/v1/auth/login",
        body={"email": outputs["adminEmail"].value, "password": outputs["adminPassword"].value},
    )
    assert r.status == 200, r.body
    token: str = r.json()["access_token"]
    return token


def failed_logins(edge: Edge, admin_token: str, email: str) -> list[dict[str, Any]]:
    r = edge.request("GET", "/api/v1/admin/audit?outcome=failed&limit=100", token=admin_token)
    assert r.status == 200, r.body
    return [e for e in r.json()["items"] if (e.get("detail") or {}).get("email") == email]


# ---- 1. each client has its own address ---------------------------------------------------


def test_one_client_exhausting_its_rate_limit_leaves_the_others_alone(
    clients: tuple[Client, Client],
) -> None:
    attacker, owner = clients
    # Twice the app's default per-address burst (100), faster than it refills (10/s).
    answers = attacker.send(
        *[{"method": "GET", "path": "/api/v1/auth/oidc/providers"}] * 200, parallel=8
    )
    assert 429 in [a.status for a in answers], "the attacker was never rate limited"
    # The owner, on another address, is not charged for the attacker's requests: more than
    # the shared budget could have refilled since (10/s) all pass.
    owner_answers = owner.send(
        *[{"method": "GET", "path": "/api/v1/auth/oidc/providers"}] * 40, parallel=8
    )
    assert [a.status for a in owner_answers] == [200] * 40


def test_the_audit_log_records_each_clients_own_address_and_no_forged_one(
    edge: Edge, admin_token: str, clients: tuple[Client, Client]
) -> None:
    attacker, owner = clients
    email = f"nobody-{secrets.token_hex(4)}@example.org"
    wrong = {"email": email, "password": "not-the-password-1"}
    # The forged header is the attacker's own; the edge's is the one to believe.
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}
    assert owner.one("POST", "/api/v1/auth/login", json=wrong).status == 401
    answer = attacker.one("POST", "/api/v1/auth/login", json=wrong, headers=forged)
    assert answer.status in (401, 429), answer.body
    seen = {e["ip"] for e in failed_logins(edge, admin_token, email)}
    assert owner.address in seen, seen
    assert "203.0.113.9" not in seen, seen
    if answer.status == 401:
        assert attacker.address in seen, seen


def test_forwarding_headers_sent_straight_to_a_replica_are_ignored(
    platform: Platform, edge: Edge, admin_token: str, clients: tuple[Client, Client]
) -> None:
    """Only the edge is believed: a client reaching a replica directly cannot pick its address."""
    attacker, _ = clients
    email = f"direct-{secrets.token_hex(4)}@example.org"
    script = (
        "import http.client, json, sys; "
        f"c = http.client.HTTPConnection('app-1', {app.PORT}, timeout=10); "
        "c.request('POST', '/api/v1/auth/login', body=sys.argv[1], "
        "headers={'Content-Type': 'application/json', 'X-Forwarded-For': '203.0.113.7'}); "
        "print(c.getresponse().status)"
    )
    body = json.dumps({"email": email, "password": "not-the-password-1"})
    status = run(["docker", "exec", attacker.container, "python3", "-c", script, body]).strip()
    assert status == "401", status
    seen = {e["ip"] for e in failed_logins(edge, admin_token, email)}
    assert seen == {attacker.address}, seen


# ---- 6. the body limit holds whatever the framing -------------------------------------------


def test_a_chunked_body_past_the_limit_is_refused_through_the_edge(edge: Edge) -> None:
    conn = http.client.HTTPSConnection("localhost", HTTPS_PORT, context=edge.tls, timeout=30)
    chunk = b" " * 65536

    def body() -> Iterator[bytes]:
        for _ in range(128):  # 8 MiB, with no Content-Length
            yield chunk

    # The server may answer and close before the whole body is sent.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
        conn.request(
            "POST",
            "/api/v1/auth/login",
            body=body(),
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
    try:
        resp = conn.getresponse()
        assert resp.status == 413, resp.read()[:500]
        assert resp.getheader("Content-Type") == "application/problem+json"
    finally:
        conn.close()


# ---- 7. the edge's own headers --------------------------------------------------------------


def test_every_answer_carries_the_browser_protection_headers(edge: Edge) -> None:
    for path in ("/api/v1/auth/oidc/providers", "/api/v1/nothing-here", "/hearth/x"):
        h = {k.lower(): v for k, v in edge.request("GET", path).headers.items()}
        assert h.get("strict-transport-security", "").startswith("max-age="), (path, h)
        assert h.get("x-content-type-options") == "nosniff", (path, h)
        assert h.get("x-frame-options") == "DENY", (path, h)
        assert "frame-ancestors 'none'" in h.get("content-security-policy", ""), (path, h)


@pytest.mark.parametrize("host", ["evil.example", "localhost.evil.example", "evil.example:443"])
def test_the_https_redirect_never_names_a_host_the_client_made_up(host: str) -> None:
    request = f"GET /x HTTP/1.0\r\nHost: {host}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", HTTP_PORT), timeout=10) as conn:
        conn.sendall(request.encode())
        out = conn.makefile("rb").read().decode(errors="replace")
    location = [line for line in out.splitlines() if line.lower().startswith("location:")]
    assert location, out
    assert "evil" not in location[0], location[0]
    assert location[0].split()[1].startswith("https://localhost:"), location[0]


@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "/METRICS", "/%6detrics"])
def test_the_apps_metrics_are_not_served_through_the_edge(edge: Edge, path: str) -> None:
    r = edge.request("GET", path)
    assert r.status == 404, (path, r.status)
    assert b"http_requests" not in r.body and b"# TYPE" not in r.body


def test_the_apps_metrics_answer_on_the_internal_network(
    platform: Platform, clients: tuple[Client, Client]
) -> None:
    """What the edge refuses stays scrapeable from inside (where the monitoring will be)."""
    _, owner = clients
    script = (
        "import urllib.request; "
        f"r = urllib.request.urlopen('http://app-1:{app.PORT}/metrics', timeout=10); "
        "print(r.read()[:4000])"
    )
    out = run(["docker", "exec", owner.container, "python3", "-c", script])
    assert "# TYPE" in out, out[:500]
