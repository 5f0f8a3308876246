"""Notification dispatch throughput: the real dispatcher and the real Twilio and SendGrid SDKs, against
the local fake provider servers (tests/fakes), on the embedded SQLite database.

    .venv/bin/python bench/dispatch.py [--messages 4000] [--concurrency 16] [--latency 0.0] [--fakes-inside]

The fake providers run in a child process (bench/fakeproviders.py), so the CPU time printed is the
dispatcher's own (SDKs, rendering, SQLite); --fakes-inside runs them in this process as before.

It fills the outbox with queued notifications (half SMS, half email), then times the dispatcher until
the outbox is empty, and prints sends per second. Each send is a full round: claim, render (Jinja2 +
Babel + SMS segment fitting), the SDK's HTTP request, the fake's answer, and the outcome committed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select  # noqa: E402

from bench.fakeproviders import fake_providers_process  # noqa: E402

from tests.fakes.sendgrid import FakeSendGrid  # noqa: E402
from tests.fakes.twilio import FakeTwilio  # noqa: E402
from tests.messaging_env import messaging_settings, point_public_url  # noqa: E402
from tracker.app import Daemon  # noqa: E402
from tracker.clock import FakeClock  # noqa: E402
from tracker.db import sessionmaker  # noqa: E402
from tracker.models import Notification, Order, Shipment  # noqa: E402

LOCALES = ["en", "pt-BR", "es", "el"]
MILESTONES = ["shipped", "out_for_delivery", "delivered"]


async def fill(daemon: Daemon, messages: int) -> None:
    now = daemon.clock.now()
    shipments = max(1, messages // 2)
    async with sessionmaker(daemon.engine)() as session, session.begin():
        await session.execute(insert(Order), [dict(
            number=f"B-{i:07d}", email=f"c{i}@example.com", phone=f"+1415{i % 10_000_000:07d}",
            locale=LOCALES[i % len(LOCALES)], channels="sms,email", created_at=now) for i in range(shipments)])
        ids = [r[0] for r in (await session.execute(select(Order.id).order_by(Order.id))).all()]
        await session.execute(insert(Shipment), [dict(
            order_id=oid, carrier="sandbox", tracking_number=f"SBX-DELIVER-{oid}", status="in_transit",
            expected_delivery=date(2026, 3, 5), public_token=secrets.token_urlsafe(24), created_at=now,
            updated_at=now) for oid in ids])
        ships = (await session.execute(select(Shipment.id, Shipment.order_id))).all()
        await session.execute(insert(Notification), [dict(
            shipment_id=sid, order_id=oid, milestone=MILESTONES[sid % len(MILESTONES)], channel=channel,
            state="queued", attempts=0, next_attempt_at=now, created_at=now, updated_at=now)
            for sid, oid in ships for channel in ("sms", "email")][:messages])


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=16, help="dispatcher.concurrency (shipped default 16)")
    ap.add_argument("--claim-batch", type=int, default=200, help="dispatcher.claim_batch (shipped default 200)")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds each fake provider waits before answering")
    ap.add_argument("--fakes-inside", action="store_true", help="run the fake providers in this process")
    ap.add_argument("--async-commits", action="store_true",
                    help="commit through SQLAlchemy's async engine only, as before the sqlite3 fast path (A/B)")
    args = ap.parse_args()
    if args.fakes_inside:
        async with FakeTwilio(latency=args.latency) as tw, FakeSendGrid(latency=args.latency) as sg:
            states, elapsed, cpu, sent = await measure(args, tw, sg)
        counts = {"sms": len(tw.messages), "emails": len(sg.mails)}
    else:
        with fake_providers_process(args.latency) as (tw, sg, counts):
            states, elapsed, cpu, sent = await measure(args, tw, sg)
    ok = states.get("sent", 0)
    where = "in this process" if args.fakes_inside else "in a child process, not counted"
    print(f"dispatched {sent} notifications ({counts.get('sms')} SMS via Twilio SDK, {counts.get('emails')} emails "
          f"via SendGrid/aiohttp) in {elapsed:.2f}s; outbox states {states}")
    print(f"throughput: {ok / elapsed:.0f} sends/second wall "
          f"(concurrency {args.concurrency}, claim batch {args.claim_batch}, fake latency {args.latency * 1000:.0f} ms, "
          f"SQLite, {os.cpu_count()} CPUs, shared machine)")
    commits = "SQLAlchemy async engine" if args.async_commits else "sqlite3 fast path"
    print(f"CPU: {cpu:.2f} s of this process (fake providers {where}; hot commits through the {commits}): "
          f"{ok / cpu:.0f} sends per CPU-second")
    print("command: .venv/bin/python bench/dispatch.py " + " ".join(sys.argv[1:]))


async def measure(args, tw, sg):
    clock = FakeClock(datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc))
    with tempfile.TemporaryDirectory() as tmp:
        settings = messaging_settings(Path(tmp), tw, sg, dispatcher={
            "concurrency": args.concurrency, "claim_batch": args.claim_batch},
            providers={"twilio": {"timeout_seconds": 10}, "sendgrid": {"timeout_seconds": 10}},
            logging={"level": "WARNING"})
        daemon = Daemon(settings, clock=clock)
        await daemon.start(web_server=True)
        point_public_url(daemon)
        if args.async_commits:
            daemon.dispatcher._fast = None
        try:
            await fill(daemon, args.messages)
            start = time.perf_counter()
            cpu0 = time.process_time()
            sent = 0
            while True:
                n = await daemon.dispatcher.tick()
                if not n:
                    break
                sent += n
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu0
            async with sessionmaker(daemon.engine)() as session:
                states = dict((await session.execute(
                    select(Notification.state, func.count()).group_by(Notification.state))).all())
        finally:
            await daemon.close()
    return states, elapsed, cpu, sent


if __name__ == "__main__":
    asyncio.run(main())
