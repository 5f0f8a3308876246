"""Peak memory (RSS high-water mark, VmHWM) of a real daemon process (`tracker run`) with N active shipments
in the database, all due, while it polls them through the fake FedEx server (own process, 20 ms latency).

    .venv/bin/python bench/memory.py --shipments 1000000            # SQLite
    .venv/bin/python bench/memory.py --shipments 10000 --pg         # PostgreSQL on 127.0.0.1:5432

The database is seeded in bulk (bench/seed.py), then `tracker --config ... run` runs for --seconds with the
shipped poller settings (claim batch 500, concurrency 8); FedEx's rate limit and daily budget are raised
so they do not idle the daemon. VmHWM is read from /proc/<pid>/status just before SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import time
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


def vm(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])  # kB
    raise KeyError(key)


async def run(args, url: str | None, carrier_cfg: dict, tmp: Path) -> dict:
    settings = make_settings(tmp, database_url=url, carriers={"fedex": carrier_cfg},
                             poller={"jitter": 0.1, "adaptive": True}, logging={"level": "WARNING"})
    config = tmp / "config.yaml"
    engine = make_engine(settings.async_database_url)
    await upgrade(engine)
    t = time.perf_counter()
    await seed(engine, settings.async_database_url, args.shipments, carrier="fedex", tracking="7{i:011d}",
               now=datetime.now(timezone.utc))
    seeded = time.perf_counter() - t
    await engine.dispose()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("tracker")), "--config", str(config), "run"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        await asyncio.sleep(args.seconds)
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited: {proc.stderr.read()[-2000:]}")
        hwm, rss = vm(proc.pid, "VmHWM"), vm(proc.pid, "VmRSS")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    engine = make_engine(settings.async_database_url)
    async with engine.connect() as conn:
        checked = (await conn.execute(select(func.count()).select_from(Shipment)
                                      .where(Shipment.last_checked_at.is_not(None)))).scalar()
    await engine.dispose()
    return dict(hwm=hwm, rss=rss, checked=checked, seeded=seeded)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shipments", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--pg", action="store_true")
    args = ap.parse_args()
    with fake_carrier_process(args.latency) as (_, settings_for), tempfile.TemporaryDirectory() as tmp:
        cfg = settings_for("fedex", **UNLIMITED["fedex"])
        if args.pg:
            async with pg_database() as url:
                r = await run(args, url, cfg, Path(tmp))
        else:
            r = await run(args, None, cfg, Path(tmp))
    engine = "PostgreSQL" if args.pg else "SQLite"
    print(f"{engine}, {args.shipments:,} active shipments (seeded in {r['seeded']:.0f} s): daemon peak RSS "
          f"(VmHWM) {r['hwm'] / 1024:.1f} MB, RSS at the end {r['rss'] / 1024:.1f} MB, after {args.seconds:g} s of "
          f"`tracker run` that checked {r['checked']:,} shipments (FedEx format, {args.latency * 1000:.0f} ms)")
    print("command: .venv/bin/python bench/memory.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
