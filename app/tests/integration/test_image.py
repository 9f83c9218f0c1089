"""The hearth/app:local image (images/app/Dockerfile): migrate, serve, healthy, ready."""

from __future__ import annotations

import json
import os
import subprocess
import time

import httpx

from tests.containers import Services
from tests.integration.test_schemathesis import _free_port, server_env

IMAGE = os.environ.get("HEARTH_TEST_APP_IMAGE", "hearth/app:local")


def _docker(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_image_runs_non_root_read_only_migrates_and_becomes_healthy(
    services: Services, migrated: object
) -> None:
    cfg = json.loads(_docker("image", "inspect", IMAGE).stdout)[0]["Config"]
    assert cfg["User"] == "10001:10001"
    assert cfg["Entrypoint"] == ["/app/.venv/bin/hearth-app"]
    assert cfg["Healthcheck"]["Test"][0] == "CMD"
    port = _free_port()
    env = {k: v for k, v in server_env(services).items() if k.startswith("HEARTH_")}
    env["HEARTH_ENV"] = "production"
    env["HEARTH_PORT"] = str(port)
    env["HEARTH_HOST"] = "127.0.0.1"
    env["HEARTH_LOG_LEVEL"] = "INFO"
    env_args = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
    hardening = [
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--network",
        "host",
    ]
    # The one-shot migration, twice: safe to re-run.
    for _ in range(2):
        out = _docker("run", "--rm", *hardening, *env_args, IMAGE, "migrate")
        assert out.returncode == 0, out.stderr[-2000:] + out.stdout[-2000:]
    name = f"hearth-apptest-app-{os.getpid()}"
    out = _docker("run", "-d", "--name", name, *hardening, *env_args, IMAGE)
    assert out.returncode == 0, out.stderr
    try:
        deadline = time.monotonic() + 60
        health = ""
        while time.monotonic() < deadline:
            health = json.loads(_docker("inspect", "--format", "{{json .State.Health}}", name).stdout)[
                "Status"
            ]
            if health == "healthy":
                break
            time.sleep(1)
        assert health == "healthy", _docker("logs", name).stdout[-3000:]
        r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert r.status_code == 200, r.text
        assert _docker("exec", name, "id", "-u").stdout.strip() == "10001"
        logs = _docker("logs", name).stdout.splitlines()
        assert logs
        assert all(json.loads(line)["level"] for line in logs if line.startswith("{"))
    finally:
        _docker("rm", "-f", name)


def test_image_refuses_placeholder_secrets_in_production(services: Services) -> None:
    out = _docker(
        "run",
        "--rm",
        "--read-only",
        "-e",
        "HEARTH_ENV=production",
        "-e",
        "HEARTH_DB_PASSWORD=changeme",
        IMAGE,
        "migrate",
    )
    assert out.returncode != 0
    assert "HEARTH_DB_PASSWORD" in out.stderr
