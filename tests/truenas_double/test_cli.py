"""`python -m tests.truenas_double`: starts, reports where it listens, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import rpc

REPO = Path(__file__).resolve().parents[2]


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    state = tmp_path / "state.json"
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "tests.truenas_double",
            "--port",
            "0",
            "--pool",
            "tank",
            "--pool",
            "fast",
            "--api-key",
            "admin=1-clikey",
            "--ready-file",
            str(ready),
            "--state-file",
            str(state),
            "--rate-limit-sleep",
            "0",
            "0",
        ],
        cwd=REPO,
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        assert info["pid"] == proc.pid
        with rpc.TrueNASClient(info["url"]) as c:
            c.login_api_key("1-clikey", username="admin")
            pools = [p["name"] for p in c.call("pool.query")]
        assert pools == ["tank", "fast"]
        assert json.loads(state.read_text())["calls"][0]["method"] == "auth.login_ex"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert json.loads(out.decode().splitlines()[0])["url"] == info["url"]
