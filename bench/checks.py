"""End-to-end checks per second through the real poller: claim, carrier HTTP call, parse, apply, and
events + shipment + outbox rows written in one transaction.

    .venv/bin/python bench/checks.py --carrier fedex --latency 0.02          # FedEx wire format, 30 a request
    .venv/bin/python bench/checks.py --carrier ups --latency 0.02            # UPS wire format, one a request
    .venv/bin/python bench/checks.py --carrier fedex --latency 0.02 --pg     # PostgreSQL on 127.0.0.1:5432
    .venv/bin/python bench/checks.py --carrier sandbox                       # in-process sandbox, no network

fedex/ups talk HTTP to the fake carrier server (tests/fakes/carriers.py) running in its own process
(bench/fakeproc.py) with `--latency` seconds of simulated latency per request. Each check sees three
new scans and queues one email. The carrier's rate limit (and FedEx's daily budget) are raised far above what
the bench can reach (rate_per_second 100000, daily_budget 10^9), so they are not what is measured; FedEx's
per-call budget round trip (Poller.spend) still happens, as in production; UPS has no budget by default.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fakeproc import fake_carrier_process  # noqa: E402
from tests.helpers import make_settings, seed_shipments  # noqa: E402
from tracker.app import Daemon  # noqa: E402
from tracker.clock import SYSTEM, FakeClock  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# Far above what the bench reaches, so neither is what it measures. UPS has no daily budget by default
# (so no per-call budget round trip); FedEx has one (100,000 a day), raised but still spent per call.
UNLIMITED = {"fedex": {"rate_per_second": 100_000, "daily_budget": 1_000_000_000},
             "ups": {"rate_per_second": 100_000}}


@contextlib.asynccontextmanager
async def pg_database(prefix: str = "tracker_bench"):
    """A fresh PostgreSQL database for one run, dropped afterwards. Yields its URL."""
    import asyncpg
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def tracking_format(carrier: str, start: int) -> str:
    if carrier == "fedex":
        return "7{i:011d}"                      # 12 digits, FedEx Express style
    if carrier == "ups":
        return "1ZBENCH{i:011d}"                # 1Z + 16, UPS style
    return f"SBX-DELIVER-{{i}}-{start}"         # sandbox: in transit, 2 events and a milestone


async def run(args, url: str | None, carrier_cfg: dict) -> tuple[int, float]:
    clock = SYSTEM if args.carrier != "sandbox" else FakeClock(datetime.now(timezone.utc))
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp), database_url=url, carriers={args.carrier: carrier_cfg},
                                 poller={"claim_batch": args.claim_batch, "concurrency": args.concurrency},
                                 logging={"level": "WARNING"})
        daemon = Daemon(settings, clock=clock, rng=random.Random(1))
        await daemon.start(web_server=False)
        try:
            start = int((clock.now() - timedelta(hours=3)).timestamp())
            await seed_shipments(daemon.engine, args.shipments, tracking=tracking_format(args.carrier, start),
                                 now=clock.now(), carrier=args.carrier)
            began = time.perf_counter()
            checked = 0
            while True:
                stats = await daemon.poller.tick()
                checked += stats.checked
                if not stats.claimed:
                    break
            elapsed = time.perf_counter() - began
        finally:
            await daemon.close()
    return checked, elapsed


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--carrier", choices=["fedex", "ups", "sandbox"], default="sandbox")
    ap.add_argument("--shipments", type=int, default=10_000)
    ap.add_argument("--latency", type=float, default=0.02, help="seconds the fake carrier waits per request")
    ap.add_argument("--pg", action="store_true", help="use a fresh database on the local PostgreSQL")
    ap.add_argument("--claim-batch", type=int, default=500, help="poller.claim_batch (shipped default 500)")
    ap.add_argument("--concurrency", type=int, default=8, help="poller.concurrency (shipped default 8)")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        carrier_cfg: dict = {"time_scale": 1}
        if args.carrier != "sandbox":
            _, settings_for = stack.enter_context(fake_carrier_process(args.latency))
            carrier_cfg = settings_for(args.carrier, **UNLIMITED[args.carrier])
        if args.pg:
            async with pg_database() as url:
                checked, elapsed = await run(args, url, carrier_cfg)
        else:
            checked, elapsed = await run(args, None, carrier_cfg)
    engine = "PostgreSQL" if args.pg else "SQLite"
    what = ("in-process sandbox carrier, batch 50" if args.carrier == "sandbox" else
            f"{args.carrier} wire format over HTTP, fake latency {args.latency * 1000:.0f} ms, "
            f"batch {30 if args.carrier == 'fedex' else 1}")
    print(f"{engine} {args.carrier}: {checked} checks in {elapsed:.2f} s = {checked / elapsed:,.0f} checks/s "
          f"({what}; claim batch {args.claim_batch}, concurrency {args.concurrency}; {os.cpu_count()} CPUs)")
    print("command: .venv/bin/python bench/checks.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
