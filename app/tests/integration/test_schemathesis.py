"""Schemathesis against the published OpenAPI document of a real server process: no 5xx."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.containers import Services


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_env(services: Services) -> dict[str, str]:
    """The app's environment, tuned for a fast test server (cheap argon2, no rate limit)."""
    return {
        **services.app_env(),
        "HEARTH_LOG_LEVEL": "WARNING",
        "HEARTH_AUTH_COOKIE_SECURE": "false",
        "HEARTH_AUTH_ARGON2_MEMORY_KIB": "1024",
        "HEARTH_AUTH_ARGON2_TIME_COST": "1",
        "HEARTH_RATELIMIT_ENABLED": "false",
    }


def test_schemathesis_finds_no_server_errors(services: Services, migrated: object, tmp_path: Path) -> None:
    port = _free_port()
    exe = Path(sys.executable).parent
    server = subprocess.Popen(
        [str(exe / "hearth-app"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env(services),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("server did not start")
        email = "fuzz@example.com"
        httpx.post(f"{base}/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        # An administrator reaches every operation (and this exercises `grant-role`).
        subprocess.run(
            [str(exe / "hearth-app"), "grant-role", email, "admin"],
            env=server_env(services),
            check=True,
            capture_output=True,
            timeout=60,
        )
        token = httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()[
            "access_token"
        ]
        out = subprocess.run(
            [
                str(exe / "schemathesis"),
                "run",
                f"{base}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "15",
                "--phases",
                "examples,coverage,fuzzing",
                "--workers",
                "1",
                "--seed",
                "1",
                "--no-shrink",
                "--header",
                f"Authorization: Bearer {token}",
                # Logging out or ending all sessions mid-run would turn the rest into 401s.
                "--exclude-path-regex",
                "logout",
                "--report-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=540,
            # Schemathesis keeps a cache in its working directory: not in the repository.
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
        assert "Server error" not in out.stdout
        generated = re.search(r"(\d+) generated", out.stdout)
        assert generated, out.stdout[-2000:]
        assert int(generated.group(1)) > 500
    finally:
        server.terminate()
        server.wait(timeout=20)
