"""Benchmarks of the app: ratios measured in one run, server on one core, load on the other.

Run: app/.venv/bin/python bench/app/run.py [--seconds 10] [--write docs/benchmarks.md]
Needs Docker with the hearth/{postgres,redis,nats,s3}:local images, `wrk` and `taskset`.
Traffic goes only to 127.0.0.1.
"""

# The benchmark starts only our own tools (docker, taskset, wrk, hearth-app) with fixed arguments.
# ruff: noqa: S603, S607

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
sys.path.insert(0, str(APP))

from tests.containers import Services  # noqa: E402

SERVER_CPU = "0"
LOAD_CPU = "1"
PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway account in throwaway containers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def container_ip(name: str) -> str:
    out = subprocess.run(
        [
            "docker",
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            name,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def env_for(svc: Services) -> dict[str, str]:
    # The server reaches the data services at their container addresses, as the app does on the
    # backend network in a deployment; published ports would add Docker's userland proxy.
    ip = {n.rsplit("-", 1)[1]: container_ip(n) for n in svc.names}
    return {
        **os.environ,
        "HEARTH_ENV": "test",
        "HEARTH_LOG_LEVEL": "WARNING",
        "HEARTH_DB_HOST": ip["postgres"],
        "HEARTH_DB_PORT": "5432",
        "HEARTH_DB_PASSWORD": svc.pg_password,
        "HEARTH_REDIS_HOST": ip["redis"],
        "HEARTH_REDIS_PORT": "6379",
        "HEARTH_REDIS_PASSWORD": svc.redis_password,
        "HEARTH_NATS_URL": f"nats://{ip['nats']}:4222",
        "HEARTH_NATS_USER": "hearth",
        "HEARTH_NATS_PASSWORD": svc.nats_password,
        "HEARTH_S3_ENDPOINT": f"http://{ip['s3']}:7070",
        "HEARTH_S3_ACCESS_KEY": svc.s3_user,
        "HEARTH_S3_SECRET_KEY": svc.s3_password,
        "HEARTH_AUTH_KEY_ENCRYPTION_SECRET": "bench-key-encryption-secret-0123456789abcdef",
        # Production argon2id parameters (the defaults). Limits high enough not to throttle
        # the benchmark: the limiter still runs its script on every request.
        "HEARTH_RATELIMIT_IP_PER_MINUTE": "6000000",
        "HEARTH_RATELIMIT_IP_BURST": "1000000",
        "HEARTH_RATELIMIT_USER_PER_MINUTE": "6000000",
        "HEARTH_RATELIMIT_USER_BURST": "1000000",
        # The benchmark's own logins (one account, many at once) must not trip the backoff.
        "HEARTH_AUTH_BACKOFF_IP_THRESHOLD": "1000000",
        "HEARTH_AUTH_BACKOFF_PAIR_THRESHOLD": "1000000",
        "HEARTH_AUTH_BACKOFF_ACCOUNT_THRESHOLD": "1000000",
    }


def wrk(
    url: str,
    seconds: int,
    conns: int,
    *,
    headers: dict[str, str] | None = None,
    script: str | None = None,
) -> dict[str, float]:
    cmd = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    return {
        "rps": rps,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


def argon2_ceiling(seconds: float) -> float:
    """Hash verifications per second on the server's core, with the service's own parameters."""
    code = (
        "import time;from hearth_app.auth.passwords import Passwords;"
        "from hearth_app.core.settings import AuthSettings;"
        "p=Passwords(AuthSettings());h=p.hash_sync('x'*20);n=0;t=time.perf_counter();"
        f"\nwhile time.perf_counter()-t<{seconds}:\n p._ph.verify(h,'x'*20);n+=1\n"
        "print(n/(time.perf_counter()-t))"
    )
    out = subprocess.run(
        ["taskset", "-c", SERVER_CPU, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def refresh_rate(base: str, seconds: float, sessions: int) -> float:
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        tokens = []
        for i in range(sessions):
            email = f"refresh{i}@example.com"
            await c.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
            r = await c.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            tokens.append(r.json()["refresh_token"])
        done = 0
        deadline = time.perf_counter() + seconds

        async def chain(tok: str) -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                r = await c.post("/api/v1/auth/refresh", json={"refresh_token": tok})
                r.raise_for_status()
                tok = r.json()["refresh_token"]
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(chain(t) for t in tokens))
        return done / (time.perf_counter() - start)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--write", type=Path, default=None, help="write the table into this markdown file"
    )
    args = ap.parse_args()
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            if tool == "wrk" and os.geteuid() == 0:
                subprocess.run(
                    ["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True
                )
            else:
                sys.exit(f"{tool} is needed: apt-get install {tool}")
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs two cores: one for the server, one for the load generator")

    svc = Services(prefix=f"hearth-appbench-{os.getpid()}")
    server = None
    errors = 0.0
    try:
        sys.stderr.write("starting PostgreSQL, Redis, NATS, S3 ...\n")
        svc.start()
        env = env_for(svc)
        exe = Path(sys.executable).parent
        subprocess.run(
            [str(exe / "hearth-app"), "migrate"], env=env, check=True, capture_output=True
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # The server logs only warnings and errors (HEARTH_LOG_LEVEL); kept for a failed run.
        server_log = Path(tempfile.gettempdir()) / f"hearth-bench-server-{os.getpid()}.log"
        with server_log.open("w") as log:
            server = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    SERVER_CPU,
                    str(exe / "hearth-app"),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        httpx.post(
            f"{base}/api/v1/auth/register",
            json={"email": "bench@example.com", "password": PASSWORD},
        )
        r = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": "bench@example.com", "password": PASSWORD}
        )
        if r.status_code != 200:
            sys.exit(f"the benchmark's login failed: {r.status_code} {r.text}; log: {server_log}")
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        time.sleep(2)
        idle_rss = rss_kib(server.pid)

        s = args.seconds
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            body = json.dumps({"email": "bench@example.com", "password": PASSWORD})
            f.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n')
            f.write('wrk.headers["Content-Type"] = "application/json"\n')
            login_script = f.name
        load_before = os.getloadavg()[0]
        # Each pair is measured back to back, round after round, and the ratio of each round
        # kept: on a shared machine the load drifts, and only a same-round ratio means much.
        r1s, r2s, r3s = [], [], []
        bares, mes, ceilings, logins_l, idles, storms = [], [], [], [], [], []
        for rnd in range(args.rounds):
            sys.stderr.write(f"round {rnd + 1}/{args.rounds} ...\n")
            bare = wrk(f"{base}/healthz", s, 16)
            me = wrk(f"{base}/api/v1/me", s, 16, headers=auth)
            ceiling = argon2_ceiling(s)
            logins = wrk(f"{base}/api/v1/auth/login", s, 8, script=login_script)
            idle = wrk(f"{base}/api/v1/me", s, 2, headers=auth)
            storm = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    LOAD_CPU,
                    "wrk",
                    "-t1",
                    "-c16",
                    f"-d{s + 3}s",
                    "-s",
                    login_script,
                    f"{base}/api/v1/auth/login",
                ],
                stdout=subprocess.DEVNULL,
            )
            time.sleep(2)
            during = wrk(f"{base}/api/v1/me", s, 2, headers=auth)
            storm.wait(timeout=s + 30)
            for run in (bare, me, logins, idle, during):
                errors += run["errors"]
            bares.append(bare["rps"])
            mes.append(me["rps"])
            ceilings.append(ceiling)
            logins_l.append(logins["rps"])
            idles.append(idle["p99_ms"])
            storms.append(during["p99_ms"])
            r1s.append(me["rps"] / bare["rps"])
            r2s.append(logins["rps"] / ceiling)
            r3s.append(during["p99_ms"] / idle["p99_ms"])
        refreshes = asyncio.run(refresh_rate(base, s, 8))
        load_after = os.getloadavg()[0]
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        svc.stop()
    server_log.unlink()  # a successful run needs no log

    md = statistics.median
    r1, r2, r3 = md(r1s), md(r2s), md(r3s)
    rows = [
        (
            "GET /api/v1/me (JWT + session check + rate limit + cached profile)",
            f"{md(mes):.0f} req/s",
            "",
        ),
        ("GET /healthz (bare endpoint, same server)", f"{md(bares):.0f} req/s", ""),
        ("ratio /me ÷ bare", f"{r1:.3f}", "≥ 0.5 " + ("✅" if r1 >= 0.5 else "❌")),
        (
            "argon2id ceiling (m=19 MiB, t=2, p=1, one thread on the server's core)",
            f"{md(ceilings):.1f} /s",
            "",
        ),
        ("POST /api/v1/auth/login (8 connections)", f"{md(logins_l):.1f} req/s", ""),
        ("ratio login ÷ argon2 ceiling", f"{r2:.3f}", "≥ 0.8 " + ("✅" if r2 >= 0.8 else "❌")),
        ("GET /api/v1/me p99, idle (2 connections)", f"{md(idles):.1f} ms", ""),
        ("GET /api/v1/me p99, during a login storm (16 connections)", f"{md(storms):.1f} ms", ""),
        ("ratio storm p99 ÷ idle p99", f"{r3:.3f}", "≤ 2 " + ("✅" if r3 <= 2 else "❌")),
        ("refresh rotations (8 concurrent sessions)", f"{refreshes:.0f} /s", ""),
        ("idle RSS of one worker (after startup)", f"{idle_rss / 1024:.1f} MiB", ""),
    ]
    per_round = ", ".join(f"{a:.2f}/{b:.2f}/{c:.2f}" for a, b, c in zip(r1s, r2s, r3s, strict=True))
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by "
        f"`bench/app/run.py --seconds {s} --rounds {args.rounds}`: "
        f"server pinned to CPU {SERVER_CPU} "
        f"(`taskset`, one uvicorn worker), wrk and the Python client pinned to CPU {LOAD_CPU}; "
        "PostgreSQL, Redis, NATS and the S3 server in containers (unpinned), reached at their "
        "container addresses. Ratios are medians of per-round ratios "
        "(each pair measured back to back). "
        f"Non-2xx responses: {errors:.0f}. "
        f"1-minute load average {load_before:.1f} before, {load_after:.1f} after (2 cores).",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        f"Per round (me÷bare / login÷ceiling / storm÷idle p99): {per_round}.",
    ]
    table = "\n".join(lines)
    sys.stdout.write(table + "\n")
    if args.write:
        start, end = "<!-- bench/app:start -->", "<!-- bench/app:end -->"
        text = args.write.read_text() if args.write.exists() else "# Benchmarks\n"
        block = f"{start}\n## The app\n\n{table}\n{end}"
        if start in text:
            text = re.sub(
                re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S
            )
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
