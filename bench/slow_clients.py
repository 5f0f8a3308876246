"""How fast /healthz answers while many connections sit idle on the web server, never finishing their
headers (the slow-client attack of a port left open to the internet).

    .venv/bin/python bench/slow_clients.py [--idle 1100] [--requests 50] [--open-files 1024]

It starts the real daemon (`tracker run`, SQLite, web server on a free port) with the soft open-file
limit a systemd unit inherits (1,024), opens `--idle` connections that each send the start of a request
and stop, then times `--requests` GET /healthz one after another, each on a new connection (wall clock,
so the load average is printed beside it), and counts the log lines the daemon wrote meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402

from tests.procs import Daemons, daemon_config  # noqa: E402
from tests.test_slow_clients import idle_clients, started  # noqa: E402


async def main(idle: int, requests: int, open_files: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * idle + 512)), hard))
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        daemon_config(directory, server={"enabled": True, "host": "127.0.0.1", "port": 0,
                                         "header_timeout_seconds": 300}, logging={"level": "INFO"})
        async with Daemons(directory) as daemons:
            proc, port = await started(daemons, open_files)
            before = len(proc.stderr().splitlines())
            t0 = time.monotonic()
            clients = idle_clients(port, idle)
            opened = time.monotonic() - t0
            times, statuses = [], []
            try:
                for _ in range(requests):
                    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                        t = time.monotonic()
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                            await resp.read()
                            statuses.append(resp.status)
                        times.append(time.monotonic() - t)
            finally:
                for c in clients:
                    c.close()
            lines = len(proc.stderr().splitlines()) - before
    times.sort()
    load = os.getloadavg()
    print(f"{idle} idle connections opened in {opened:.2f} s; daemon started with {open_files} open files (soft)")
    print(f"/healthz x{requests}: statuses {sorted(set(statuses))}; median {statistics.median(times) * 1000:.1f} ms, "
          f"p95 {times[int(0.95 * (len(times) - 1))] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms (wall clock)")
    print(f"log lines written meanwhile: {lines}")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=1100)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--open-files", type=int, default=1024)
    args = parser.parse_args()
    asyncio.run(main(args.idle, args.requests, args.open_files))
