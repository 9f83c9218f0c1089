"""The attack that found the weaknesses of issue #10, run again through the deployed edge.

Two clients with addresses of their own — an attacker and the account's owner — sit on the
stack's edge network (where the LAN's clients would come from) and talk HTTPS to the edge,
as a browser would. Runs before test_platform.py's destroy tests (alphabetical order).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import secrets
import socket
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from hearth.catalog import app, edge
from tests.e2e.conftest import HTTP_PORT, HTTPS_PORT, Edge, Platform, inspect, login, run

pytestmark = pytest.mark.e2e

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


# ---- accounts for the tests below ------------------------------------------------------------


@dataclass
class User:
    id: str
    email: str
    password: str
    token: str


def new_user(edge: Edge) -> User:
    email = f"u-{secrets.token_hex(4)}@example.org"
    password = secrets.token_urlsafe(18)
    r = edge.request("POST", "/api/v1/auth/register", body={"email": email, "password": password})
    assert r.status in (201, 202), r.body
    token = login(edge, email, password)
    me = edge.request("GET", "/api/v1/me", token=token)
    assert me.status == 200, me.body
    return User(me.json()["id"], email, password, token)


def relogin(edge: Edge, user: User) -> User:
    return User(user.id, user.email, user.password, login(edge, user.email, user.password))


def audit_entries(edge: Edge, admin_token: str, outcome: str) -> list[dict[str, Any]]:
    r = edge.request("GET", f"/api/v1/admin/audit?outcome={outcome}&limit=100", token=admin_token)
    assert r.status == 200, r.body
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def user_with_new_role(
    edge: Edge, admin_token: str, prefix: str, permissions: list[str]
) -> tuple[str, User]:
    """A new role with `permissions`, granted by the admin to a new user, signed in anew."""
    role = f"{prefix}-{secrets.token_hex(3)}"
    r = edge.request(
        "POST",
        "/api/v1/admin/roles",
        body={"name": role, "permissions": permissions},
        token=admin_token,
    )
    assert r.status == 201, r.body
    user = new_user(edge)
    r = edge.request(
        "PUT", f"/api/v1/admin/users/{user.id}/roles", body={"roles": [role]}, token=admin_token
    )
    assert r.status == 200, r.body
    return role, relogin(edge, user)


# ---- 3. nobody grants what they do not hold --------------------------------------------------


def test_a_user_manager_cannot_make_anyone_admin_and_each_refusal_is_audited(
    edge: Edge, admin_token: str
) -> None:
    _, mallory = user_with_new_role(edge, admin_token, "helpdesk", ["users:read", "users:manage"])
    other = new_user(edge)

    for target in (mallory, other):
        r = edge.request(
            "PUT",
            f"/api/v1/admin/users/{target.id}/roles",
            body={"roles": ["admin"]},
            token=mallory.token,
        )
        assert r.status == 403, (target.email, r.status, r.body)
        assert r.headers.get("Content-Type") == "application/problem+json"
    me = edge.request("GET", "/api/v1/me", token=mallory.token).json()
    assert "admin" not in me["roles"], me
    denied = [e for e in audit_entries(edge, admin_token, "denied") if e["actor_id"] == mallory.id]
    assert len(denied) >= 2, denied


def test_a_role_manager_cannot_widen_a_role_past_what_they_hold(
    edge: Edge, admin_token: str
) -> None:
    editors, mallory = user_with_new_role(edge, admin_token, "editors", ["roles:manage"])
    r = edge.request(
        "PATCH",
        f"/api/v1/admin/roles/{editors}",
        body={"permissions": ["roles:manage", "users:manage", "keys:rotate"]},
        token=mallory.token,
    )
    assert r.status == 403, r.body
    me = edge.request("GET", "/api/v1/me", token=relogin(edge, mallory).token).json()
    assert me["permissions"] == ["roles:manage"], me


# ---- 4. a revocation takes effect at once, on every replica ------------------------------------


def call(method: str, path: str, token: str, body: Any = None) -> dict[str, Any]:
    """One request for Client.send, as `token`'s user."""
    request: dict[str, Any] = {
        "method": method,
        "path": path,
        "headers": {"Authorization": f"Bearer {token}"},
    }
    if body is not None:
        request["json"] = body
    return request


def stale_reads_after_revocations(
    client: Client, grant: dict[str, Any], revoke: dict[str, Any], read: dict[str, Any]
) -> int:
    """Rounds of: grant; reads racing the revocation across both replicas; reads after it.
    Returns how many reads after a revocation were still allowed. Sent from a client of its
    own (its own rate limit); the deterministic race is proven in the app's
    test_cache_races.py. Three rounds send 42 requests: the two tests using it back to back
    stay within the address's burst of 100 however fast they run."""
    stale = 0
    for _ in range(3):
        assert client.send(grant)[0].status == 200
        *_, revoked = client.send(*[read] * 8, revoke, parallel=6)
        assert revoked.status in (200, 204), revoked.body
        stale += sum(a.status == 200 for a in client.send(*[read] * 4, parallel=4))
    return stale


def test_a_removed_member_is_refused_by_every_replica_at_once(
    edge: Edge, clients: tuple[Client, Client]
) -> None:
    _, client = clients
    owner, member = new_user(edge), new_user(edge)
    r = edge.request("POST", "/api/v1/projects", body={"name": "revocation"}, token=owner.token)
    assert r.status == 201, r.body
    project = f"/api/v1/projects/{r.json()['id']}"
    membership = f"{project}/members/{member.id}"
    stale = stale_reads_after_revocations(
        client,
        grant=call("PUT", membership, owner.token, {"role": "viewer"}),
        revoke=call("DELETE", membership, owner.token),
        read=call("GET", project, member.token),
    )
    assert stale == 0, f"{stale} reads after a removal still saw the project"


def test_a_demoted_admin_is_refused_at_once(
    edge: Edge, admin_token: str, clients: tuple[Client, Client]
) -> None:
    _, client = clients
    deputy = new_user(edge)
    roles = f"/api/v1/admin/users/{deputy.id}/roles"
    r = edge.request("PUT", roles, body={"roles": ["admin"]}, token=admin_token)
    assert r.status == 200, r.body
    deputy = relogin(edge, deputy)
    stale = stale_reads_after_revocations(
        client,
        grant=call("PUT", roles, admin_token, {"roles": ["admin"]}),
        revoke=call("PUT", roles, admin_token, {"roles": []}),
        read=call("GET", "/api/v1/admin/users", deputy.token),
    )
    assert stale == 0, f"{stale} admin reads after the demotion were still allowed"


# ---- 5. every replica sees a new signing key at once --------------------------------------------


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return kid


def test_after_a_key_rotation_every_replica_verifies_and_signs_with_the_new_key(
    edge: Edge, admin_token: str
) -> None:
    user = new_user(edge)
    r = edge.request("POST", "/api/v1/admin/keys/rotate", token=admin_token)
    assert r.status == 200, r.body
    kid = r.json()["kid"]
    # Logins alternate between the replicas (round robin): each must sign with the new key.
    tokens = [login(edge, user.email, user.password) for _ in range(4)]
    assert {kid_of(t) for t in tokens} == {kid}
    # And each replica verifies a token the other one just signed.
    statuses = [edge.request("GET", "/api/v1/me", token=t).status for t in tokens for _ in range(2)]
    assert statuses == [200] * len(statuses)


# ---- 2. parallel guesses cannot outrun the backoff, nor keep the owner out -------------------


def test_parallel_guesses_reach_the_password_check_at_most_five_times(
    edge: Edge, clients: tuple[Client, Client]
) -> None:
    attacker, owner = clients
    victim = new_user(edge)
    guess = {"email": victim.email, "password": "not-the-password-1"}
    answers = attacker.send(
        *[{"method": "POST", "path": "/api/v1/auth/login", "json": guess}] * 20, parallel=10
    )
    statuses = sorted(a.status for a in answers)
    # 401: the password was checked (and wrong); 429: refused before any check.
    assert statuses.count(401) <= 5 and set(statuses) <= {401, 429}, statuses
    assert all("Retry-After" in a.headers for a in answers if a.status == 429)
    # The owner, elsewhere, is not kept out.
    right = {"email": victim.email, "password": victim.password}
    assert owner.one("POST", "/api/v1/auth/login", json=right).status == 200


# ---- 8. registration and sign-in give nothing away ------------------------------------------


def test_registering_a_taken_email_answers_like_a_new_one(edge: Edge) -> None:
    taken = new_user(edge)
    fresh = {"email": f"new-{secrets.token_hex(4)}@example.org", "password": "x" * 16}
    again = {"email": taken.email, "password": "y" * 16}
    a = edge.request("POST", "/api/v1/auth/register", body=fresh)
    b = edge.request("POST", "/api/v1/auth/register", body=again)
    assert a.status == b.status == 201, (a.body, b.body)
    assert sorted(a.json()) == sorted(b.json())
    # Nothing changed for the account that was there.
    assert login(edge, taken.email, taken.password)


@pytest.mark.parametrize("trick", ["\u202e", "\u200b", "\x00", "\u2028"])
def test_emails_with_invisible_or_control_characters_are_refused(edge: Edge, trick: str) -> None:
    email = f"look{trick}alike-{secrets.token_hex(3)}@example.org"
    r = edge.request("POST", "/api/v1/auth/register", body={"email": email, "password": "z" * 16})
    assert r.status == 422, r.body
    assert f"U+{ord(trick):04X}" in r.body.decode(), r.body


def test_a_disabled_account_answers_exactly_like_a_wrong_password(
    edge: Edge, admin_token: str
) -> None:
    user = new_user(edge)
    r = edge.request(
        "PATCH", f"/api/v1/admin/users/{user.id}", body={"is_disabled": True}, token=admin_token
    )
    assert r.status == 200, r.body
    right = edge.request(
        "POST", "/api/v1/auth/login", body={"email": user.email, "password": user.password}
    )
    wrong = edge.request(
        "POST", "/api/v1/auth/login", body={"email": user.email, "password": "not-it-at-all"}
    )
    assert right.status == wrong.status == 401
    strip = ("request_id", "instance")
    assert {k: v for k, v in right.json().items() if k not in strip} == {
        k: v for k, v in wrong.json().items() if k not in strip
    }


def test_adding_the_same_member_twice_at_once_never_fails(edge: Edge) -> None:
    owner, member = new_user(edge), new_user(edge)
    r = edge.request("POST", "/api/v1/projects", body={"name": "twice"}, token=owner.token)
    assert r.status == 201, r.body
    url = f"/api/v1/projects/{r.json()['id']}/members/{member.id}"
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: edge.request("PUT", url, body={"role": "viewer"}, token=owner.token),
                range(8),
            )
        )
    assert {a.status for a in answers} <= {200, 409}, [a.status for a in answers]
