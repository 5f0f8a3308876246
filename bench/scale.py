"""A million shipments: the poller's claim, checks per second, a /metrics scrape and one watchers pass on a
database holding a shop's year (bench/seed.py's mix: 75% delivered over the year, 2% expired, the rest in
flight, each with two events and its "shipped" email), with the query plans of the claim and every sweep.

    .venv/bin/python bench/scale.py --shipments 1000000
    .venv/bin/python bench/scale.py --shipments 1000000 --pg
    .venv/bin/python bench/scale.py --shipments 1000000 --plans docs/plans.txt   # also write the plans

Times are this process's CPU time (time.process_time: the machine is shared) and wall time; on PostgreSQL
the server's own CPU is not in the first. The carrier is the in-process sandbox (no network), so checks/s
is tracker's own cost per check at this size. /metrics is scraped over HTTP from the daemon's web server:
the first scrape reads the gauges (what every scrape cost before), the next ones are served from the
values read in the background (server.metrics_cache_above_rows).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.checks import pg_database  # noqa: E402
from bench.seed import seed_mix  # noqa: E402
from tests.helpers import make_settings  # noqa: E402
from tracker import gauges  # noqa: E402
from tracker.app import Daemon  # noqa: E402
from tracker.clock import FakeClock  # noqa: E402
from tracker.config import async_url  # noqa: E402
from tracker.db import make_engine, upgrade  # noqa: E402
from tracker.plans import explain  # noqa: E402
from tracker.watch import Watcher, WatchStats  # noqa: E402

SWEEPS = ("expired", "silence", "late", "problems", "date_moved", "follow_up", "preparing")
CHORES = ("supersede_silent", "erase_contacts", "forget_whatsapp_sessions")  # the rest of a pass


@contextlib.contextmanager
def timed(into: list):
    cpu, wall = time.process_time(), time.perf_counter()
    yield
    into.append((time.process_time() - cpu, time.perf_counter() - wall))


def ms(pairs: list, i: int) -> str:
    return f"{statistics.median(p[i] for p in pairs) * 1000:,.1f} ms"


async def run(args, url: str) -> list[str]:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    clock = FakeClock(now)
    out: list[str] = []
    engine_url = async_url(url, Path(args.tmp))
    engine = make_engine(engine_url)
    await upgrade(engine)
    began = time.perf_counter()
    start = int((now - timedelta(hours=3)).timestamp())
    await seed_mix(engine, engine_url, args.shipments, now=now, carriers=("sandbox",),
                   tracking="SBX-DELIVER-{i}-" + str(start),
                   progress=lambda n: print(f"  seeded {n:,}", file=sys.stderr, end="\r"))
    await engine.dispose()
    out.append(f"seeded {args.shipments:,} shipments (+ events, notifications) in {time.perf_counter() - began:.0f} s")

    settings = make_settings(Path(args.tmp), database_url=url, server={"enabled": True, "port": 0},
                             follow_up={"enabled": True, "secret": "s" * 32}, logging={"level": "WARNING"},
                             poller={"claim_batch": 500, "concurrency": 8})
    daemon = Daemon(settings, clock=clock, rng=random.Random(1))
    await daemon.start(web_server=True)
    try:
        poller = daemon.poller
        # the claim: what each look costs, holding the write lock on SQLite
        claims: list = []
        for _ in range(args.claims):
            with timed(claims):
                got = await poller.claim(now, ["sandbox"], 500)
            await poller.release([sid for sid, _, _ in got])
        out.append(f"claim of 500 due (of {args.shipments:,}): median {ms(claims, 1)} wall, {ms(claims, 0)} CPU "
                   f"({args.claims} claims)")

        # checks: the real poller, claim -> sandbox -> apply -> one transaction, until `--checks` are done
        checked, cpu, wall = 0, time.process_time(), time.perf_counter()
        while checked < args.checks:
            stats = await poller.tick()
            checked += stats.checked
            if not stats.claimed:
                break
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        out.append(f"checks: {checked:,} in {wall:.1f} s = {checked / wall:,.0f} checks/s wall, "
                   f"{checked / cpu:,.0f} per CPU-second (sandbox carrier, batch 50)")

        # /metrics: the gauges' read itself, then scrapes as Prometheus makes them
        reads: list = []
        with timed(reads):
            await gauges.collect(daemon.engine, carriers=["sandbox"], budgets={}, pushing=[], now=now)
        scrapes: list = []
        async with aiohttp.ClientSession() as http:
            for _ in range(args.scrapes + 1):
                with timed(scrapes):
                    async with http.get(f"http://127.0.0.1:{daemon.port}/metrics") as resp:
                        text = await resp.text()
                        assert resp.status == 200 and "tracker_shipments" in text
            first = scrapes.pop(0)
        out.append(f"/metrics: reading the gauges {reads[0][1] * 1000:,.0f} ms wall ({reads[0][0] * 1000:,.0f} ms "
                   f"CPU; the first scrape, which reads them: {first[1] * 1000:,.0f} ms); each scrape after it "
                   f"(served from the background read): median {ms(scrapes, 1)} wall, {ms(scrapes, 0)} CPU")

        # one watchers pass over everything (all sweeps on, follow-up included), then the next one
        watcher = Watcher(engine=daemon.engine, settings=settings, clock=clock)
        passes: list = []
        results = []
        for n in range(3):
            with timed(passes):
                results.append(await watcher.tick())
            clock.advance(timedelta(minutes=5))
            if n == 0 and url.startswith("sqlite"):
                # the first pass wrote the seed's year of backlog into the WAL: copied back into the database
                # here, not by whichever commit of the next pass crosses the auto-checkpoint threshold
                checkpoint: list = []
                with timed(checkpoint):
                    async with daemon.engine.connect() as conn:
                        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                out.append(f"WAL checkpoint after the first pass: {checkpoint[0][1]:.1f} s wall")
            elif n == 0:
                # the first pass changed a sixth of the rows (next looks, alerts, 165k queued messages): the
                # statistics PostgreSQL's autovacuum would gather now (it analyzes a table once 10 % changed)
                analyze: list = []
                with timed(analyze):
                    async with daemon.engine.connect() as conn:
                        await conn.exec_driver_sql("ANALYZE")
                        await conn.commit()
                out.append(f"ANALYZE after the first pass (as autovacuum would): {analyze[0][1]:.1f} s wall")
        first, second, third = results
        out.append(f"watchers pass: {passes[0][1]:.2f} s wall, {passes[0][0]:.2f} s CPU (it queued {first.queued:,} "
                   f"messages and raised {first.alerts:,} alerts: the backlog the seed leaves); the next passes, "
                   f"5 minutes apart: {passes[1][1] * 1000:,.0f} ms wall, {passes[1][0] * 1000:,.0f} ms CPU "
                   f"({second.queued} queued, {second.alerts} alerts); {passes[2][1] * 1000:,.0f} ms wall, "
                   f"{passes[2][0] * 1000:,.0f} ms CPU ({third.queued} queued, {third.alerts} alerts)")

        # each sweep of that steady pass on its own
        sweeps = []
        for name in SWEEPS + CHORES:
            took: list = []
            with timed(took):
                if name == "forget_whatsapp_sessions":
                    await watcher._forget_whatsapp_sessions(clock.now())
                else:
                    await getattr(watcher, f"_{name}")(clock.now(), WatchStats())
            sweeps.append(f"{name} {took[0][1] * 1000:,.0f} ms")
        out.append("each sweep and chore of a steady pass (wall): " + ", ".join(sweeps))

        if args.plans:
            lines = []
            lines.append("claim (one source)")
            lines += ["    " + line for line in await explain(daemon.engine, poller.claim_statement(now, ["sandbox"], 500))]
            lines.append("claim (two sources)")
            lines += ["    " + line for line in await explain(
                daemon.engine, poller.claim_statement(now, ["sandbox", "fedex"], 500))]
            for sweep in SWEEPS:
                lines.append(f"sweep {sweep}")
                lines += ["    " + line for line in await explain(daemon.engine, watcher.candidates(sweep, now))]
            lines.append("contact erasure")
            lines += ["    " + line for line in await explain(daemon.engine, watcher.erasable(now))]
            Path(args.plans).write_text("\n".join(lines) + "\n")
            out.append(f"plans written to {args.plans}")
    finally:
        await daemon.close()
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shipments", type=int, default=1_000_000)
    ap.add_argument("--pg", action="store_true", help="a fresh database on the local PostgreSQL")
    ap.add_argument("--claims", type=int, default=20)
    ap.add_argument("--checks", type=int, default=10_000)
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--plans", help="write the EXPLAIN plans of the claim and every sweep to this file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        args.tmp = tmp
        if args.pg:
            async with pg_database("tracker_scale") as url:
                lines = await run(args, url)
        else:
            lines = await run(args, f"sqlite:///{tmp}/tracker.db")
    engine = "PostgreSQL" if args.pg else "SQLite"
    for line in lines:
        print(f"{engine}: {line}")
    print("command: .venv/bin/python bench/scale.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
