"""Run the double: `python -m tests.truenas_double --port 8765 [--state-file PATH]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

from .server import DEFAULT_API_KEY, DEFAULT_USERNAME, DoubleConfig, TrueNASDouble


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.truenas_double",
        description="A test double of the TrueNAS JSON-RPC 2.0 API.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    p.add_argument("--pool", action="append", dest="pools", help="a pool that exists (repeat)")
    p.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="USER=KEY",
        help=f"an accepted API key (repeat); default {DEFAULT_USERNAME}=<built-in>",
    )
    p.add_argument(
        "--legacy-auth",
        action="store_true",
        help="behave like a server older than 25.04: no auth.login_ex",
    )
    p.add_argument("--rate-limit-calls", type=int, default=20)
    p.add_argument("--rate-limit-period", type=float, default=60.0)
    p.add_argument("--rate-limit-lockout", type=float, default=600.0)
    p.add_argument(
        "--rate-limit-sleep", type=float, nargs=2, default=(1.0, 10.0), metavar=("MIN", "MAX")
    )
    p.add_argument("--job-delay", type=float, default=0.01)
    p.add_argument("--state-file", help="write the whole state as JSON here after every change")
    p.add_argument("--ready-file", help="write {url, port, pid} here once listening")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keys = {DEFAULT_API_KEY: DEFAULT_USERNAME}
    if args.api_keys:
        keys = {}
        for item in args.api_keys:
            user, _, key = item.partition("=")
            keys[key] = user
    config = DoubleConfig(
        api_keys=keys,
        pools=args.pools or ["tank"],
        legacy_auth=args.legacy_auth,
        rate_limit_calls=args.rate_limit_calls,
        rate_limit_period=args.rate_limit_period,
        rate_limit_lockout=args.rate_limit_lockout,
        rate_limit_sleep=tuple(args.rate_limit_sleep),
        job_delay=args.job_delay,
        state_file=args.state_file,
    )
    double = TrueNASDouble(config, host=args.host, port=args.port)

    def ready() -> None:
        import os

        info = {"url": double.url, "port": double.port, "pid": os.getpid()}
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        if args.ready_file:
            # Whole or not at all: a reader polling for the file never sees it half-written.
            partial = f"{args.ready_file}.partial"
            with open(partial, "w", encoding="utf-8") as fh:
                json.dump(info, fh)
            os.replace(partial, args.ready_file)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(double.serve(ready))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
