"""The deployed platform watches itself: every scrape target up, the operator UIs only for
signed-in users holding `dashboards:view`, the dashboards' queries answered with data, a
request's id in the logs within seconds, both seen in headless Chromium (the screenshots of
docs/monitoring.md), and PostgreSQL stopped → its alert delivered to a webhook → started
again → resolved.

Named to sort before test_platform.py, whose last tests destroy the stack.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from hearth.catalog import monitoring, postgres
from hearth.catalog.spec import ServiceSpec

from . import browser
from .conftest import HOOK, ROOT, Edge, Platform, header, run

T = TypeVar("T")
UIS = tuple(monitoring.UI_PATHS.values())
SCREENSHOTS = ROOT / ".state" / "screenshots"
"""Where the e2e's pictures go (ignored by git); `make screenshots` refreshes docs/images/."""
RECEIVED = "/tmp/received"  # noqa: S108 - inside the receiver's container, a private tmpfs
"""Where the test webhook receiver appends what it is sent, one JSON body a line."""


def poll(what: str, check: Callable[[], T | None], timeout: float, every: float = 2) -> T:
    """`check()` until it returns something truthy; fails naming `what` and the last answer."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


def login(edge: Edge, email: str, password: str) -> str:
    r = edge.request("POST", "/api/v1/auth/login", body={"email": email, "password": password})
    assert r.status == 200, r.body
    token: str = r.json()["access_token"]
    # The browser's way: the edge's forward auth reads the cookie the login sets.
    assert "hearth_access=" in header(r.headers, "Set-Cookie"), r.headers
    return token


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"hearth_access={token}"}


@pytest.fixture(scope="module")
def admin_token(platform: Platform, edge: Edge) -> str:
    outputs = platform.stack.outputs()
    return login(edge, outputs["adminEmail"].value, outputs["adminPassword"].value)


@pytest.fixture(scope="module")
def admin(admin_token: str) -> dict[str, str]:
    return cookie(admin_token)


class Metrics:
    """VictoriaMetrics' query API, through the edge, as the admin."""

    def __init__(self, edge: Edge, admin: dict[str, str]) -> None:
        self.edge, self.admin = edge, admin

    def query(self, expr: str) -> list[dict[str, Any]]:
        path = f"{monitoring.PREFIXES[monitoring.METRICS]}/api/v1/query?"
        r = self.edge.request(
            "GET", path + urllib.parse.urlencode({"query": expr}), headers=self.admin
        )
        assert r.status == 200, (expr, r.status, r.body[:500])
        result: list[dict[str, Any]] = r.json()["data"]["result"]
        return result


@pytest.fixture(scope="module")
def metrics(edge: Edge, admin: dict[str, str]) -> Metrics:
    return Metrics(edge, admin)


def spec(platform: Platform, name: str) -> ServiceSpec:
    (found,) = [s for s in platform.specs if s.name == name]
    return found


def dashboards(platform: Platform) -> dict[str, dict[str, Any]]:
    """The dashboards `metrics` serves, by title."""
    boards = [
        json.loads(f.content)
        for f in spec(platform, monitoring.METRICS).files
        if f.target.startswith(f"{monitoring.ETC}/dashboards/")
    ]
    return {b["title"]: b for b in boards}


# ---- the scrape targets -----------------------------------------------------------------------


def test_every_scrape_target_of_the_catalog_is_up(platform: Platform, metrics: Metrics) -> None:
    expected = {t["job"] for t in monitoring.scrape_targets(platform.specs)}
    expected |= {f"probe-{p.name}" for p in monitoring.probes(platform.settings)}
    assert {"app-1", "edge", "postgres-exporter", "node-exporter", "probe-edge-tls"} <= expected

    def all_up() -> dict[str, str] | None:
        seen = {r["metric"]["job"]: r["value"][1] for r in metrics.query("up")}
        return None if seen.keys() != expected or set(seen.values()) != {"1"} else seen

    poll("every target scraped and up", all_up, timeout=90)
    # The probes succeed too: the edge's certificate and S3's health.
    probes = {r["metric"]["job"]: r["value"][1] for r in metrics.query("probe_success")}
    assert probes == {f"probe-{p.name}": "1" for p in monitoring.probes(platform.settings)}
    # The data services answer their exporters.
    for expr in ("pg_up", "redis_up", "nats_up"):
        assert [r["value"][1] for r in metrics.query(expr)] == ["1"], expr


def test_the_postgres_exporter_reads_everything_as_a_role_that_is_no_superuser(
    platform: Platform, metrics: Metrics
) -> None:
    """Its own role, pg_monitor only: the figures the rules and dashboards use still come."""
    psql = ["docker", "exec", "-i", platform.container("postgres"), "psql", "-XAtq", "-U"]
    psql += ["postgres", "-v", f"role={postgres.MONITOR}"]
    role = run(
        psql,
        input="SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,"
        " pg_has_role(rolname, 'pg_monitor', 'member') FROM pg_roles WHERE rolname = :'role'",
    )
    assert role.split() == ["f|f|f|f|f|t"], role

    # The exporter's connection is the one logged in as that role.
    def connected() -> bool:
        sql = "SELECT count(*) > 0 FROM pg_stat_activity WHERE usename = :'role'"
        return run(psql, input=sql).split() == ["t"]

    poll("the exporter connected as its role", connected, timeout=30)
    for expr in ('pg_stat_database_xact_commit{datname="app"}', "pg_settings_max_connections"):
        assert metrics.query(expr), expr


def test_every_long_running_service_has_its_memory_measured(
    platform: Platform, metrics: Metrics
) -> None:
    """hearth:memory_used_bytes (rules/services.yml), which ServiceNearMemoryLimit holds
    against each limit: PostgreSQL's is its container's working set, read by its exporter;
    S3's and the NATS exporter's their own (docs/monitoring.md#memory)."""
    long_running = {s.name for s in platform.long_running}
    missing: set[str] = set()

    def measured() -> dict[str, float] | None:
        nonlocal missing
        found = {
            r["metric"]["service"]: float(r["value"][1])
            for r in metrics.query("hearth:memory_used_bytes")
        }
        missing = long_running - found.keys()
        return None if missing else found

    try:
        found = poll("a memory figure for each service", measured, timeout=90, every=5)
    except AssertionError as e:
        raise AssertionError(f"{e}; without one: {sorted(missing)}") from None
    for name in ("postgres", "redis", "nats", "s3", "nats-exporter"):
        limit = spec(platform, name).memory_mb * 2**20
        assert 0 < found[name] < limit, (name, found[name], limit)


# ---- the UIs, under the platform's login -------------------------------------------------------


@pytest.mark.parametrize("path", UIS)
def test_monitoring_uis_refuse_requests_without_a_session(edge: Edge, path: str) -> None:
    r = edge.request("GET", path)
    assert r.status == 401, (path, r.status)
    assert b"vmui" not in r.body.lower() and b"<html" not in r.body.lower()


def test_monitoring_uis_refuse_a_user_without_the_permission(edge: Edge) -> None:
    email, password = f"obs-{secrets.token_hex(4)}@example.org", secrets.token_urlsafe(18)
    r = edge.request("POST", "/api/v1/auth/register", body={"email": email, "password": password})
    assert r.status == 201, r.body
    user = cookie(login(edge, email, password))
    for path in UIS:
        r = edge.request("GET", path, headers=user)
        assert r.status == 403, (path, r.status)


@pytest.mark.parametrize("path", UIS)
def test_monitoring_uis_answer_the_admin(edge: Edge, admin: dict[str, str], path: str) -> None:
    r = edge.request("GET", path, headers=admin)
    assert r.status == 200, (path, r.status, r.body[:300])
    assert b"<html" in r.body.lower()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/dashboards/api/v1/admin/tsdb/delete_series?match[]=up"),
        ("POST", "/dashboards/api/v1/admin/tsdb/delete_series?match[]=up"),
        ("POST", "/dashboards/api/v1/import"),
        ("GET", "/dashboards/flags"),
        ("GET", "/dashboards/metrics"),
        ("POST", "/logs/insert/jsonline"),
        ("GET", "/logs/internal/force_flush"),
        ("GET", "/alerts/-/reload"),
    ],
)
def test_viewing_never_reaches_what_writes_deletes_or_administers(
    edge: Edge, admin: dict[str, str], method: str, path: str
) -> None:
    r = edge.request(method, path, headers=admin, raw=b"{}" if method == "POST" else None)
    assert r.status == 403, (method, path, r.status, r.body[:200])
    assert r.body == b"not through the edge"


class _Keep(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None  # the redirect itself is the answer under test


def test_the_prefixes_redirect_to_their_ui(edge: Edge) -> None:
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=edge.tls), _Keep)
    for prefix, start in zip(monitoring.PREFIXES.values(), UIS, strict=True):
        for path in (prefix, prefix + "/"):
            with pytest.raises(urllib.error.HTTPError) as answer:
                opener.open(edge.base + path, timeout=15)
            with answer.value as redirect:  # closes its connection
                assert (redirect.code, redirect.headers["Location"]) == (302, start), path


def test_vmui_gets_our_dashboards_and_its_queries_through(
    edge: Edge, admin: dict[str, str]
) -> None:
    """vmui reads the dashboards and POSTs its range queries as forms, both to its server
    URL (`<prefix>/prometheus`): the edge lets these through."""
    server = f"{monitoring.PREFIXES[monitoring.METRICS]}/prometheus"
    r = edge.request("GET", f"{server}/vmui/custom-dashboards", headers=admin)
    assert r.status == 200, r.body[:300]
    titles = {d["title"] for d in r.json()["dashboardsSettings"]}
    assert len(titles) == len(monitoring.DASHBOARDS) and "Platform overview" in titles
    now = int(time.time())
    form = urllib.parse.urlencode({"query": "up", "start": now - 300, "end": now, "step": 15})
    r = edge.request(
        "POST",
        f"{server}/api/v1/query_range",
        raw=form.encode(),
        headers={**admin, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status == 200, r.body[:300]
    assert r.json()["data"]["result"], "no series of `up` in the last five minutes"


# ---- dashboards -------------------------------------------------------------------------------


def test_every_dashboard_query_returns_data(
    platform: Platform, edge: Edge, metrics: Metrics
) -> None:
    # Traffic of our own, so the request-rate and latency panels have something to show.
    for _ in range(20):
        edge.request("GET", "/healthz")
    boards = dashboards(platform)
    assert boards.keys() >= {browser.OVERVIEW, "PostgreSQL", "The host"}
    exprs = [
        e for b in boards.values() for row in b["rows"] for p in row["panels"] for e in p["expr"]
    ]

    def empty() -> list[str]:
        return [e for e in exprs if not metrics.query(e)]

    # Rates need two scrapes, the memory limits a rule evaluation: a minute at most.
    deadline = time.monotonic() + 90
    missing = empty()
    while missing and time.monotonic() < deadline:
        time.sleep(5)
        missing = empty()
    assert missing == [], "dashboard panels without data"


# ---- logs -------------------------------------------------------------------------------------


def test_a_requests_id_is_in_the_logs_of_the_replica_that_served_it_within_30_s(
    platform: Platform, edge: Edge, admin: dict[str, str]
) -> None:
    rid = f"obs-{secrets.token_hex(8)}"
    r = edge.request("GET", "/api/v1/me", headers={"X-Request-Id": rid})
    assert header(r.headers, "X-Request-Id") == rid, r.headers
    logs = monitoring.PREFIXES[monitoring.LOGS]
    query = urllib.parse.urlencode({"query": f'"{rid}"', "limit": "10"})

    def found() -> list[dict[str, Any]]:
        r = edge.request("GET", f"{logs}/select/logsql/query?{query}", headers=admin)
        assert r.status == 200, r.body[:300]
        return [json.loads(line) for line in r.body.decode().splitlines() if line]

    lines = poll("the request id in VictoriaLogs", found, timeout=30, every=1)
    replicas = {platform.container(s.name) for s in platform.specs if s.name.startswith("app-")}
    assert {line["app_name"] for line in lines} <= replicas, lines
    # One replica served it, and `docker logs` of that one has the line too (dual logging).
    (served_by,) = {line["app_name"] for line in lines}
    both_streams = run(["sh", "-c", f"docker logs --since 5m {served_by} 2>&1"], timeout=30)
    assert rid in both_streams


# ---- screenshots ------------------------------------------------------------------------------


def test_chromium_shows_the_overview_with_data_and_a_requests_log_lines(
    platform: Platform, edge: Edge, admin_token: str
) -> None:
    """The pictures of docs/monitoring.md, taken from this platform: the overview dashboard,
    every panel showing a value, and the log search showing the lines of a request."""
    started = time.monotonic()
    rid = f"shot-{secrets.token_hex(6)}"
    r = edge.request("GET", "/api/v1/me", token=admin_token, headers={"X-Request-Id": rid})
    assert r.status == 200, r.body[:300]
    pictures = (SCREENSHOTS / "monitoring-overview.png", SCREENSHOTS / "monitoring-logs.png")
    with browser.chromium(edge.base, edge.ca_pem) as page:
        browser.sign_in(page, edge.base, admin_token)
        # Up to a minute for every panel to show a value: on a loaded machine vmui's
        # queries over the dashboard's range take their time (the wait ends when all do).
        panels = browser.overview(page, edge.base, pictures[0], timeout=60)
        lines = browser.log_search(page, edge.base, f'"{rid}"', pictures[1])
        images = [browser.image_stats(page, p.read_bytes()) for p in pictures]
    platform.figures["screenshots_s"] = round(time.monotonic() - started, 1)

    overview = dashboards(platform)[browser.OVERVIEW]
    assert panels.keys() == {p["title"] for row in overview["rows"] for p in row["panels"]}
    empty = [title for title, last in panels.items() if not last]
    assert not empty, f"panels without data: {empty}; all: {json.dumps(panels)}"
    assert lines and all(rid in line for line in lines), lines
    for picture, image in zip(pictures, images, strict=True):
        assert picture.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), picture
        assert image.width == browser.WIDTH and image.height >= browser.HEIGHT, image
        # Text and graphs: many colours, none covering nearly the whole picture.
        assert image.colors > 100 and image.dominant < 0.95, (picture, image)


# ---- alerts -----------------------------------------------------------------------------------


@pytest.fixture
def hook(platform: Platform) -> Iterator[str]:
    """A webhook receiver on the monitoring network, under the name the stack's
    alertWebhookUrl gives: it appends every body it is sent to /tmp/received."""
    name = platform.container(HOOK)
    server = (
        "import http.server\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_POST(self):\n"
        "        body = self.rfile.read(int(self.headers['Content-Length']))\n"
        f"        with open('{RECEIVED}', 'ab') as f:\n"
        "            f.write(body.replace(b'\\n', b' ') + b'\\n')\n"
        "        self.send_response(200); self.end_headers()\n"
        "http.server.HTTPServer(('', 8080), H).serve_forever()\n"
    )
    run(["docker", "rm", "-f", name], check=False)
    run(
        [
            "docker", "run", "-d", "--name", name,
            "--network", f"{platform.project}-monitoring", "--network-alias", HOOK,
            "--read-only", "--tmpfs", "/tmp",  # noqa: S108 - the container's own
            "--cap-drop", "ALL", "--user", "10001:10001",
            "--memory", "64m", "--entrypoint", "python3", "hearth/app:local", "-c", server,
        ]
    )  # fmt: skip
    try:
        yield name
    finally:
        run(["docker", "rm", "-f", name], check=False)


def received(hook: str) -> list[dict[str, Any]]:
    out = run(["docker", "exec", hook, "cat", RECEIVED], check=False)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def postgres_down(hook: str, status: str) -> dict[str, Any] | None:
    for body in received(hook):
        for alert in body["alerts"]:
            if alert["labels"]["alertname"] == "PostgresDown" and alert["status"] == status:
                found: dict[str, Any] = alert
                return found
    return None


def test_stopping_postgres_fires_its_alert_to_the_webhook_and_starting_it_resolves_it(
    platform: Platform, hook: str
) -> None:
    platform.figures.setdefault("alert", {})
    postgres = platform.container("postgres")
    started = time.monotonic()
    run(["docker", "stop", postgres], timeout=60)
    try:
        alert = poll("PostgresDown at the webhook", lambda: postgres_down(hook, "firing"), 120)
        platform.figures["alert"]["fired_after_s"] = round(time.monotonic() - started, 1)
        assert alert["labels"]["severity"] == "critical", alert
    finally:
        run(["docker", "start", postgres], timeout=60)
    started = time.monotonic()
    platform.wait_healthy("postgres")
    poll("PostgresDown resolved at the webhook", lambda: postgres_down(hook, "resolved"), 120)
    platform.figures["alert"]["resolved_after_s"] = round(time.monotonic() - started, 1)
    for name in ("app-1", "postgres-exporter"):
        platform.wait_healthy(name)
