"""One real `pulumi up` of a throwaway `local` stack, through the Automation API, shared by
every e2e test: health, hardening, the journey through the edge, faults, drift, changes
that recreate exactly what they should, and destroy/purge at the end.

Opt-in: collected only with HEARTH_E2E=1 (tools/test-e2e.sh sets it after `make setup`),
so `pytest tests` stays fast and offline.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from hearth.catalog import BUCKET, TMP, services
from hearth.catalog.spec import ServiceSpec
from hearth.settings import PROJECT, Settings
from hearth.targets import docker as docker_target
from hearth.workspace import check_settings, select_stack

ROOT = Path(__file__).resolve().parents[2]
HTTP_PORT, HTTPS_PORT = 18080, 18443
"""Published on 127.0.0.1 only; not the defaults, so a running `local` stack is left alone."""
HOOK = "hook"
"""The test webhook receiver's name on the monitoring network (test_observability.py)."""
MONITORING = {
    # Its own syslog intake port, so a running `local` stack keeps its logs.
    "logsPort": 15514,
    # Short timings, so an alert is delivered and resolved within the test's minutes.
    "monitoringIntervalS": 5,
    "alertGroupWaitS": 5,
    "alertGroupIntervalS": 10,
    "alertRepeatIntervalS": 3600,
    "alertWebhookUrl": f"http://{HOOK}:8080/alerts",
}
"""Monitoring settings of the e2e stack (keys of Pulumi.yaml)."""
OFFSITE = "offsite"
"""An S3 server standing in for one off this machine: a container of its own, attached to
the stack's `offbox` network after the first up (test_backup.py)."""
OFFSITE_KEY = "offsite-root"
BACKUPS = {
    # The archive's floor, so the restore-to-latest drill waits seconds, not a minute.
    "walArchiveTimeoutS": 10,
    "backupS3Url": f"http://{OFFSITE}:7070",
    "backupS3Bucket": "copies",
    "backupS3Prefix": "e2e",
}
STACK_CONFIG = {**MONITORING, **BACKUPS}
"""What the e2e stack sets beyond the committed `local` config."""
FIGURES = ROOT / ".state" / "e2e-figures.json"

if os.environ.get("HEARTH_E2E") != "1":
    collect_ignore_glob = ["test_*.py"]


def run(args: Sequence[str], *, timeout: float = 60, check: bool = True, **kw: Any) -> str:
    """Run a command; its output on success, its output in the failure otherwise."""
    proc = subprocess.run(  # noqa: S603 - fixed programs, arguments from this suite
        list(args), capture_output=True, text=True, timeout=timeout, check=False, **kw
    )
    out: str = proc.stdout
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
            f"{proc.stderr[-3000:]}"
        )
    return out


def inspect(container: str) -> dict[str, Any]:
    out: list[dict[str, Any]] = json.loads(run(["docker", "inspect", container]))
    return out[0]


class Log:
    """Pulumi's progress, kept for the failure message and echoed to stderr."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        sys.stderr.write(line + "\n")


@dataclass
class Platform:
    """The deployed throwaway stack: its settings, specs, secrets and containers."""

    stack: auto.Stack
    settings: Settings
    specs: tuple[ServiceSpec, ...]
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.stack.name

    @property
    def project(self) -> str:
        return f"{PROJECT}-{self.name}"

    @property
    def secret_values(self) -> dict[str, str]:
        prefix = f"{PROJECT}:"
        return {
            k.removeprefix(prefix): v.value
            for k, v in self.stack.get_all_config().items()
            if v.secret and k.startswith(prefix)
        }

    @property
    def secrets_dir(self) -> Path:
        return docker_target.files_dir(self.settings, self.name) / "secrets"

    def container(self, service: str) -> str:
        return f"{self.project}-{service}"

    @property
    def long_running(self) -> list[ServiceSpec]:
        return [s for s in self.specs if not s.one_shot]

    def up(self, **kw: Any) -> auto.UpResult:
        started = time.monotonic()
        result = self.stack.up(on_output=Log(), color="never", **kw)
        self.figures.setdefault("up_s", []).append(round(time.monotonic() - started, 1))
        return result

    def wait_healthy(self, service: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = inspect(self.container(service))["State"]
            if state.get("Health", {}).get("Status") == "healthy":
                return
            time.sleep(1)
        raise AssertionError(f"{service} not healthy after {timeout} s: {state}")

    def ids(self) -> dict[str, str]:
        """Service → container id, for every container of the project."""
        out = run(
            [
                "docker",
                "ps",
                "-a",
                "--filter",
                f"label=com.docker.compose.project={self.project}",
                "--format",
                '{{.ID}} {{.Label "com.docker.compose.service"}}',
            ]
        )
        return {svc: cid for cid, svc in (line.split() for line in out.splitlines())}


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    name = f"e2e-{secrets.token_hex(3)}"
    stack = select_stack(name, config_from="local")
    stack.set_config(f"{PROJECT}:httpPort", auto.ConfigValue(str(HTTP_PORT)))
    stack.set_config(f"{PROJECT}:httpsPort", auto.ConfigValue(str(HTTPS_PORT)))
    for key, value in STACK_CONFIG.items():
        stack.set_config(f"{PROJECT}:{key}", auto.ConfigValue(str(value)))
    offsite_secret = secrets.token_urlsafe(24)
    for key, value in (("backupS3AccessKey", OFFSITE_KEY), ("backupS3SecretKey", offsite_secret)):
        stack.set_config(f"{PROJECT}:{key}", auto.ConfigValue(value, secret=True))
    settings = Settings.model_validate(
        {
            **check_settings("local").model_dump(by_alias=True),
            "httpPort": HTTP_PORT,
            "httpsPort": HTTPS_PORT,
            **STACK_CONFIG,
        }
    )
    p = Platform(stack=stack, settings=settings, specs=services(settings))
    offsite = f"{p.project}-{OFFSITE}"
    try:
        started = time.monotonic()
        p.up()
        p.figures["first_up_to_healthy_s"] = round(time.monotonic() - started, 1)
        run(
            [
                "docker", "run", "-d", "--name", offsite, "--network", f"{p.project}-offbox",
                "--network-alias", OFFSITE, "--read-only", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--tmpfs", TMP,
                "-e", f"ROOT_ACCESS_KEY={OFFSITE_KEY}", "-e", f"ROOT_SECRET_KEY={offsite_secret}",
                "hearth/s3:local",
            ]
        )  # fmt: skip
        yield p
    finally:
        run(["docker", "rm", "-f", "-v", offsite], check=False)
        # Whatever the tests left: destroy, purge the data, forget the stack.
        try:
            stack.destroy(on_output=Log(), color="never")
        finally:
            docker_target.purge(stack, settings)
            stack.workspace.remove_stack(name)
            FIGURES.parent.mkdir(exist_ok=True)
            FIGURES.write_text(json.dumps(p.figures, indent=2) + "\n")


# ---- HTTPS through the edge ---------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Edge:
    """HTTPS to the edge on 127.0.0.1, verified against the edge's own internal CA."""

    def __init__(self, base: str, ca_pem: str) -> None:
        self.base = base
        self.ca_pem = ca_pem
        self.tls = ssl.create_default_context(cadata=ca_pem)

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 15,
    ) -> Response:
        full = url if url.startswith("https://") else self.base + url
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(full, data=data, method=method, headers=hdrs)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.tls) as r:  # noqa: S310
                return Response(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers), e.read())


@pytest.fixture(scope="session")
def edge(platform: Platform) -> Edge:
    ca = run(
        [
            "docker",
            "exec",
            platform.container("edge"),
            "cat",
            "/data/caddy/pki/authorities/local/root.crt",
        ]
    )
    return Edge(f"https://localhost:{HTTPS_PORT}", ca)


def header(headers: Mapping[str, str], name: str) -> str:
    """A response header by name, whatever its case on the wire."""
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


def login(edge: Edge, email: str, password: str) -> str:
    r = edge.request("POST", "/api/v1/auth/login", body={"email": email, "password": password})
    assert r.status == 200, r.body
    token: str = r.json()["access_token"]
    return token


def wait_for(what: str, check: Any, timeout: float = 60, every: float = 1) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, AssertionError) as exc:
            last = exc
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


NATS_SCRIPT = """
import asyncio, json, os, sys
import nats

async def main():
    password = open(os.environ["HEARTH_NATS_PASSWORD_FILE"]).read().strip()
    nc = await nats.connect(os.environ["HEARTH_NATS_URL"], user=os.environ["HEARTH_NATS_USER"],
                            password=password, connect_timeout=5, max_reconnect_attempts=1)
    js = nc.jetstream()
    if sys.argv[1] == "publish":
        acks = [await js.publish("project.e2e", f"m{i}".encode(), timeout=5)
                for i in range(int(sys.argv[2]))]
        print(json.dumps([a.seq for a in acks]))
    elif sys.argv[1] == "last":
        print(json.dumps((await js.stream_info("HEARTH")).state.last_seq))
    else:
        out = []
        for seq in json.loads(sys.argv[2]):
            out.append((await js.get_msg("HEARTH", seq)).data.decode())
        print(json.dumps(out))
    await nc.close()

asyncio.run(main())
"""


def nats_call(platform: Platform, *args: str) -> Any:
    """JetStream from inside an app replica, as the app's NATS user."""
    out = run(["docker", "exec", platform.container("app-2"), "python3", "-c", NATS_SCRIPT, *args])
    return json.loads(out)


def upload_file(
    edge: Edge, token: str, project_id: str, body: bytes, name: str = "note.txt"
) -> str:
    """A file uploaded as a user does: the API's presigned PUT through the edge, then
    `complete`; its id."""
    r = edge.request(
        "POST",
        f"/api/v1/projects/{project_id}/files",
        body={
            "name": name,
            "content_type": "text/plain",
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        },
        token=token,
    )
    assert r.status == 201, r.body
    upload = r.json()
    file_id: str = upload["file"]["id"]
    # The presigned URL names the edge; the edge passes /<bucket>/… on to S3 unchanged.
    assert upload["upload_url"].startswith(f"{edge.base}/{BUCKET}/"), upload["upload_url"]
    r = edge.request("PUT", upload["upload_url"], raw=body, headers=upload["upload_headers"])
    assert r.status == 200, r.body
    r = edge.request("POST", f"/api/v1/projects/{project_id}/files/{file_id}/complete", token=token)
    assert r.status == 202, r.body
    return file_id
