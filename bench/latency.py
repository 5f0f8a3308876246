"""Latency from the poll that sees a milestone to the provider call: the real daemon loop (Daemon.serve:
APScheduler ticks, poller, Daemon.wake_dispatcher, dispatcher, Twilio SDK and SendGrid client) in this
process with its web server off, the fake FedEx server in its own process (bench/fakeproc.py) and the fake
Twilio and SendGrid servers here, all with 20 ms simulated latency. Quiet hours off.

    .venv/bin/python bench/latency.py --shipments 3000 --spread 60            # SQLite
    .venv/bin/python bench/latency.py --shipments 3000 --spread 60 --pg       # PostgreSQL

Shipments fall due evenly over --spread seconds; each first poll sees new scans and queues one SMS and one
email. Start: the moment the carrier call that saw the milestone returned to the poller (the daemon's FedEx
client is wrapped to stamp it). End: the moment the fake provider received the request. FedEx's rate limit
and daily budget are raised so they are not what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.checks import UNLIMITED, pg_database  # noqa: E402
from bench.fakeproc import fake_carrier_process  # noqa: E402
from bench.seed import seed  # noqa: E402
from tests.fakes.sendgrid import FakeSendGrid  # noqa: E402
from tests.fakes.twilio import FakeTwilio  # noqa: E402
from tests.messaging_env import messaging_settings  # noqa: E402
from tracker.app import Daemon  # noqa: E402
from tracker.db import make_engine, upgrade  # noqa: E402


class StampedTwilio(FakeTwilio):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.arrived: dict[str, float] = {}

    async def create_message(self, request):
        stamp = time.monotonic()
        response = await super().create_message(request)
        if response.status == 201:
            self.arrived.setdefault(self.messages[-1]["To"], stamp)
        return response


class StampedSendGrid(FakeSendGrid):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.arrived: dict[str, float] = {}

    async def mail_send(self, request):
        stamp = time.monotonic()
        response = await super().mail_send(request)
        if response.status == 202:
            for p in self.mails[-1]["personalizations"]:
                for t in p["to"]:
                    self.arrived.setdefault(t["email"], stamp)
        return response


# The first burst after start pays for cold connection pools, statement preparation and the first
# connections to the providers; it is reported, and steady state is reported apart from it.
WARM_UP = 2.0


def stamp_commits(poller) -> dict[str, float]:
    """Wrap poller.persist (polls and pushes) to record when each number's rows were committed."""
    committed: dict[str, float] = {}
    persist = poller.persist

    async def stamped(carrier, items, results, **kw):
        queued = await persist(carrier, items, results, **kw)
        stamp = time.monotonic()
        for _, n in items:
            committed.setdefault(n, stamp)
        return queued

    poller.persist = stamped
    return committed


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def run(args, url: str | None, carrier_cfg: dict, tmp: Path) -> tuple[list[float], list[float], int]:
    async with StampedTwilio(latency=args.latency) as tw, StampedSendGrid(latency=args.latency) as sg:
        settings = messaging_settings(tmp, tw, sg, database={"url": url or f"sqlite:///{tmp / 'tracker.db'}"},
                                      server={"enabled": False}, carriers={"fedex": carrier_cfg},
                                      logging={"level": "WARNING"},
                                      dispatcher={"concurrency": args.dispatch_concurrency})
        engine = make_engine(settings.async_database_url)
        await upgrade(engine)
        await seed(engine, settings.async_database_url, args.shipments, carrier="fedex", tracking="7{i:011d}",
                   now=datetime.now(timezone.utc), spread=args.spread, channels="sms,email", phone=True,
                   chunk=args.shipments)
        await engine.dispose()
        daemon = Daemon(settings)
        await daemon.start(web_server=False)
        polled: dict[str, float] = {}
        fedex = daemon.carriers["fedex"].carrier
        track = fedex.track

        async def stamped(numbers):
            results = await track(numbers)
            stamp = time.monotonic()
            for n in numbers:
                polled.setdefault(n, stamp)
            return results

        fedex.track = stamped
        committed = stamp_commits(daemon.poller)
        stop = asyncio.Event()
        serving = asyncio.create_task(daemon.serve(stop))
        deadline = time.monotonic() + args.spread + 60
        while time.monotonic() < deadline and (len(tw.arrived) < args.shipments or len(sg.arrived) < args.shipments):
            await asyncio.sleep(0.5)
        stop.set()
        await serving
    lat, to_commit, steady = [], [], []
    first = min(polled.values()) if polled else 0.0
    for i in range(args.shipments):
        start, commit = polled.get(f"7{i:011d}"), committed.get(f"7{i:011d}")
        if start is not None and commit is not None:
            to_commit.append((commit - start) * 1000)
        for end in (tw.arrived.get(f"+1415{i:07d}"), sg.arrived.get(f"c{i}@example.com")):
            if start is not None and end is not None:
                lat.append((end - start) * 1000)
                if start - first > WARM_UP:
                    steady.append((end - start) * 1000)
    return lat, to_commit, 2 * args.shipments - len(lat), steady


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shipments", type=int, default=3000)
    ap.add_argument("--spread", type=float, default=60, help="seconds over which the shipments fall due")
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--pg", action="store_true")
    ap.add_argument("--dispatch-concurrency", type=int, default=32, help="dispatcher.concurrency (32 as shipped)")
    args = ap.parse_args()
    with fake_carrier_process(args.latency) as (_, settings_for), tempfile.TemporaryDirectory() as tmp:
        cfg = settings_for("fedex", **UNLIMITED["fedex"])
        if args.pg:
            async with pg_database() as url:
                lat, to_commit, missing, steady = await run(args, url, cfg, Path(tmp))
        else:
            lat, to_commit, missing, steady = await run(args, None, cfg, Path(tmp))
    engine = "PostgreSQL" if args.pg else "SQLite"
    print(f"{engine}: {len(lat)} messages ({missing} missing), poll -> provider latency p50 {pct(lat, .5):.0f} ms, "
          f"p90 {pct(lat, .9):.0f} ms, p99 {pct(lat, .99):.0f} ms, max {max(lat):.0f} ms, mean "
          f"{statistics.mean(lat):.0f} ms ({args.shipments} shipments due over {args.spread:g} s, SMS + email each, "
          f"fake latency {args.latency * 1000:.0f} ms, {os.cpu_count()} CPUs)")
    if steady:
        print(f"  steady state (polls more than {WARM_UP:g} s after start, {len(steady)} messages): "
              f"p50 {pct(steady, .5):.0f} ms, p90 {pct(steady, .9):.0f} ms, p99 {pct(steady, .99):.0f} ms, "
              f"max {max(steady):.0f} ms")
    print(f"  of which poll -> events and outbox committed: p50 {pct(to_commit, .5):.0f} ms, "
          f"p99 {pct(to_commit, .99):.0f} ms")
    print("command: .venv/bin/python bench/latency.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
