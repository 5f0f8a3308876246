"""Push -> provider call: latency from a 17TRACK webhook leaving the pusher to the Twilio/SendGrid request
at the fakes, at a steady rate of pushes. The real daemon loop (Daemon.serve: its web server, the push
route, the push inbox and its drain, Poller.persist, wake_dispatcher, dispatcher, Twilio SDK and SendGrid
client) in this process; the fake Twilio and SendGrid (20 ms simulated latency) in a child process
(bench/fakeproviders.py) so they do not share the daemon's event loop; the pusher in its own process, signing each push
like 17TRACK and sending at --rate pushes a second. Each push carries a parcel's first "in transit" scan:
one SMS and one email ("shipped"). Quiet hours off.

    .venv/bin/python bench/push.py --pushes 3000 --rate 50          # SQLite
    .venv/bin/python bench/push.py --pushes 3000 --rate 50 --pg     # PostgreSQL

Start: the monotonic time (system-wide on Linux) just before the pusher sends the request; end: the fake
provider received the request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.checks import pg_database  # noqa: E402
from bench.fakeproviders import fake_providers_process  # noqa: E402
from bench.latency import WARM_UP, pct, stamp_commits  # noqa: E402
from bench.seed import seed  # noqa: E402
from tests.fakes.seventeentrack import API_KEY  # noqa: E402
from tests.messaging_env import messaging_settings  # noqa: E402
from tracker.app import Daemon  # noqa: E402
from tracker.db import make_engine, upgrade  # noqa: E402

NUMBER = "JD{i:012d}"


def body(i: int, when: datetime) -> bytes:
    event = {"time_iso": when.isoformat(), "time_utc": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "description": "Objeto em trânsito", "location": "SAO PAULO, BR", "stage": "PickedUp",
             "sub_status": "InTransit_PickedUp"}
    return json.dumps({"event": "TRACKING_UPDATED", "data": {"number": NUMBER.format(i=i), "carrier": 0,
                       "track_info": {"latest_status": {"status": "InTransit", "sub_status": "InTransit_PickedUp"},
                                      "latest_event": event,
                                      "tracking": {"providers": [{"provider": {"key": 0}, "events": [event]}]}}}}
                      ).encode()


async def pusher(url: str, count: int, rate: float) -> None:
    """The subprocess: push `count` signed webhooks at `rate` a second; print the send stamps as JSON."""
    import hashlib

    import aiohttp

    sent: dict[str, float] = {}
    answered: list[tuple[float, float]] = []  # (s since the first push, ms from sending it to the answer)
    statuses: dict[int, int] = {}
    when = datetime.now(timezone.utc) - timedelta(minutes=5)
    bodies = [body(i, when) for i in range(count)]
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def one(i: int) -> None:
            b = bodies[i]
            headers = {"Content-Type": "application/json",
                       "sign": hashlib.sha256(b + b"/" + API_KEY.encode()).hexdigest()}
            sent[NUMBER.format(i=i)] = t0 = time.monotonic()
            async with http.post(url, data=b, headers=headers) as resp:
                await resp.read()
                answered.append((t0 - start, (time.monotonic() - t0) * 1000))
                statuses[resp.status] = statuses.get(resp.status, 0) + 1

        start = time.monotonic()
        tasks = []
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    print(json.dumps({"sent": sent, "statuses": statuses, "answered": answered}))


async def run(args, url: str | None, tmp: Path):
    with fake_providers_process(args.latency, stamped=True) as (tw, sg, counts):
        settings = messaging_settings(
            tmp, tw, sg, database={"url": url or f"sqlite:///{tmp / 'tracker.db'}"},
            server={"enabled": True, "host": "127.0.0.1", "port": 0}, logging={"level": "WARNING"},
            carriers={"17track": {"api_key": API_KEY, "base_url": "http://127.0.0.1:9"}},
            sources={"default": "17track", **({"inbox": {"claim_batch": args.drain_batch}} if args.drain_batch else {})},
            api={"max_body_bytes": 1024 * 1024},
            # the tests' 0.5 s provider timeout puts sends in doubt on a loaded machine: production's default
            providers={"twilio": {"timeout_seconds": 10}, "sendgrid": {"timeout_seconds": 10}},
            **batches(args))
        engine = make_engine(settings.async_database_url)
        await upgrade(engine)
        later = datetime.now(timezone.utc) + timedelta(days=2)  # pushed: no poll due during the run
        await seed(engine, settings.async_database_url, args.pushes, carrier="jadlog", source="17track",
                   tracking=NUMBER, now=later, channels="sms,email", phone=True, chunk=args.pushes)
        await engine.dispose()
        daemon = Daemon(settings)
        await daemon.start(web_server=True)
        daemon.subscriber.sources = {}  # registration is bench/register.py's subject, not this one's
        committed = stamp_commits(daemon.poller)
        stop = asyncio.Event()
        serving = asyncio.create_task(daemon.serve(stop))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--pusher", f"http://127.0.0.1:{daemon.port}/webhooks/sources/17track",
            "--pushes", str(args.pushes), "--rate", str(args.rate), stdout=subprocess.PIPE)
        cpu0 = time.process_time()
        out, _ = await proc.communicate()
        ended = time.monotonic()
        backlog = await left(daemon, args.pushes)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (await left(daemon, args.pushes))["messages"]:
            await asyncio.sleep(0.2)
        drained = time.monotonic() - ended
        cpu = time.process_time() - cpu0
        stop.set()
        await serving
    tw.arrived, sg.arrived = counts["sms_arrived"], counts["emails_arrived"]
    report = json.loads(out)
    sent = report["sent"]
    first = min(sent.values())
    lat, steady, to_commit = [], [], []
    for i in range(args.pushes):
        start = sent.get(NUMBER.format(i=i))
        if start is not None and NUMBER.format(i=i) in committed:
            to_commit.append((committed[NUMBER.format(i=i)] - start) * 1000)
        for end in (tw.arrived.get(f"+1415{i:07d}"), sg.arrived.get(f"c{i}@example.com")):
            if start is not None and end is not None:
                lat.append((end - start) * 1000)
                if start - first > WARM_UP:
                    steady.append((end - start) * 1000)
    extra = dict(answered=report["answered"], backlog=backlog, drained=drained, cpu=cpu)
    return lat, steady, report["statuses"], 2 * args.pushes - len(lat), to_commit, extra


def batches(args) -> dict:
    """--dispatch-batch: the dispatcher's claim_batch (default: the shipped one)."""
    return {"dispatcher": {"claim_batch": args.dispatch_batch}} if args.dispatch_batch else {}


async def left(daemon, pushes: int) -> dict:
    """What is still to do: pushes stored and not applied, messages not handed to the providers yet."""
    from sqlalchemy import func, select

    from tracker.db import sessionmaker
    from tracker.models import Notification, PushInbox

    async with sessionmaker(daemon.engine)() as session:
        inbox = (await session.execute(select(func.count()).where(PushInbox.state == "pending"))).scalar_one()
        sent = (await session.execute(select(func.count()).where(
            Notification.state.in_(["sent", "delivered"])))).scalar_one()
    return {"inbox": inbox, "messages": 2 * pushes - sent}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pushes", type=int, default=3000)
    ap.add_argument("--rate", type=float, default=50.0, help="pushes a second")
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--pg", action="store_true")
    ap.add_argument("--drain-batch", type=int, help="sources.inbox.claim_batch (default: the shipped value)")
    ap.add_argument("--dispatch-batch", type=int, help="dispatcher.claim_batch (default: the shipped value)")
    ap.add_argument("--pusher", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pusher:
        await pusher(args.pusher, args.pushes, args.rate)
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.pg:
            async with pg_database() as url:
                lat, steady, statuses, missing, to_commit, extra = await run(args, url, Path(tmp))
        else:
            lat, steady, statuses, missing, to_commit, extra = await run(args, None, Path(tmp))
    engine = "PostgreSQL" if args.pg else "SQLite"
    print(f"{engine}: {args.pushes} pushes at {args.rate:g}/s (answers {statuses}), {len(lat)} messages "
          f"({missing} missing); push -> provider latency p50 {pct(lat, .5):.0f} ms, p90 {pct(lat, .9):.0f} ms, "
          f"p99 {pct(lat, .99):.0f} ms, max {max(lat):.0f} ms (fake provider latency {args.latency * 1000:.0f} ms, "
          f"{os.cpu_count()} CPUs, shared machine)")
    if steady:
        print(f"  steady state (pushes sent more than {WARM_UP:g} s after the first, {len(steady)} messages): "
              f"p50 {pct(steady, .5):.0f} ms, p99 {pct(steady, .99):.0f} ms, max {max(steady):.0f} ms")
    print(f"  of which push -> events and outbox committed: p50 {pct(to_commit, .5):.0f} ms, "
          f"p99 {pct(to_commit, .99):.0f} ms")
    answered = [ms for _, ms in extra["answered"]]
    calm = [ms for at, ms in extra["answered"] if at > WARM_UP]
    print(f"  webhook answer (push sent -> the daemon's answer, at the pusher): p50 {pct(answered, .5):.0f} ms, "
          f"p99 {pct(answered, .99):.0f} ms, max {max(answered):.0f} ms; steady state p50 {pct(calm, .5):.0f} ms, "
          f"p99 {pct(calm, .99):.0f} ms")
    b = extra["backlog"]
    print(f"  backlog when the last push was answered: {b['inbox']} pushes in the inbox, {b['messages']} messages "
          f"not at the providers yet; all done {extra['drained']:.1f} s later")
    print(f"  CPU of the daemon's process over the run (the fake providers and the pusher run in their own "
          f"processes): {extra['cpu']:.1f} s")
    print("command: .venv/bin/python bench/push.py " + " ".join(a for a in sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
