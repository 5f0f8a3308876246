"""Scaling on PostgreSQL: total checks per second of 1, 2 and 4 daemon processes (`tracker run`) sharing one
database, polling FedEx-format shipments through the fake carrier server (own process, 20 ms latency).

    .venv/bin/python bench/scaling.py --daemons 1 2 4

Per daemon count: a fresh database with --shipments shipments all due, the daemons started together, and
checks counted (shipments with last_checked_at set) between --warmup and --warmup + --window seconds.
Shipped poller settings (claim batch 500, concurrency 8); FedEx's rate limit and daily budget raised so
they are not what is measured. Note: everything (daemons, fake carrier, PostgreSQL) shares the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from bench.checks import UNLIMITED, pg_database  # noqa: E402
from bench.fakeproc import fake_carrier_process  # noqa: E402
from bench.seed import seed  # noqa: E402
from tests.helpers import make_settings  # noqa: E402
from tracker.db import make_engine, upgrade  # noqa: E402
from tracker.models import Shipment  # noqa: E402


async def checked(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(Shipment)
                                   .where(Shipment.last_checked_at.is_not(None)))).scalar()


async def one(args, n: int, carrier_cfg: dict) -> float:
    async with pg_database() as url:
        with tempfile.TemporaryDirectory() as tmp:
            settings = make_settings(Path(tmp), database_url=url, carriers={"fedex": carrier_cfg},
                                     logging={"level": "WARNING"})
            engine = make_engine(settings.async_database_url)
            await upgrade(engine)
            await seed(engine, settings.async_database_url, args.shipments, carrier="fedex", tracking="7{i:011d}",
                       now=datetime.now(timezone.utc))
            exe = str(Path(sys.executable).with_name("tracker"))
            procs = [subprocess.Popen([exe, "--config", str(Path(tmp) / "config.yaml"), "run"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]
            try:
                await asyncio.sleep(args.warmup)
                a = await checked(engine)
                await asyncio.sleep(args.window)
                b = await checked(engine)
                if b >= args.shipments:
                    raise RuntimeError("ran out of due shipments inside the window: raise --shipments")
            finally:
                for p in procs:
                    p.send_signal(signal.SIGTERM)
                for p in procs:
                    try:
                        p.wait(30)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                await engine.dispose()
    return (b - a) / args.window


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--daemons", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--shipments", type=int, default=120_000)
    ap.add_argument("--warmup", type=float, default=8)
    ap.add_argument("--window", type=float, default=20)
    ap.add_argument("--latency", type=float, default=0.02)
    args = ap.parse_args()
    with fake_carrier_process(args.latency) as (_, settings_for):
        cfg = settings_for("fedex", **UNLIMITED["fedex"])
        for n in args.daemons:
            rate = await one(args, n, cfg)
            print(f"PostgreSQL, {n} daemon process(es): {rate:,.0f} checks/s total (FedEx format, 30 a request, "
                  f"{args.latency * 1000:.0f} ms fake latency, {os.cpu_count()} CPUs)", flush=True)
    print("command: .venv/bin/python bench/scaling.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
