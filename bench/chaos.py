"""Crashes and faults at the worst moment, messages counted where the customer would see them: at the fake
Twilio and the fake SendGrid, never in tracker's own tables.

    .venv/bin/python bench/chaos.py                          # every scenario, 200 shipments each
    .venv/bin/python bench/chaos.py --shipments 50 --scenarios sqlite-kill,faults

Each shipment goes shipped -> out for delivery -> delivered (the sandbox server holds every journey at
the step the bench pins, and moves on once every message of the step reached the providers), on SMS and
email: 6 messages per shipment. Scenarios:

  sqlite-kill   one `tracker run` on SQLite, SIGKILLed at the instant a provider has taken one of its
                messages and before the reply leaves (a send in flight), restarted 0.5 s later, and killed
                again 2-8 s after its first send
  pg-kill       three daemons on PostgreSQL, the one whose send is in flight killed, 2-6 s after the
                first send that followed the last restart
  faults        one daemon; 25 % of provider requests fail: 5xx, 5xx after taking the message, 429 with
                Retry-After, timeouts, timeouts after taking the message
  db-cut        one daemon on PostgreSQL through a TCP proxy cut for 8 s right after a provider took a
                message, every 5-10 s
  no-events     as sqlite-kill, with SendGrid's Event Webhook not configured: the one case where an email
                can go out twice, counted
  whatsapp      as sqlite-kill, on WhatsApp (approved Content templates, outside the 24-hour session) and
                email: the daemon is SIGKILLed the instant Twilio took a WhatsApp template message; the next
                one finds it in Twilio's list by the template's own text (read from the Content API)

Printed per scenario: shipments, kills (or faults, or cuts), messages expected, sent once, lost,
duplicated (SMS / WhatsApp / email), and the rows tracker sent again in doubt (its own count of possible duplicates).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench.checks import pg_database  # noqa: E402
from bench.seed import seed  # noqa: E402
from tests.fakes._base import Fault  # noqa: E402
from tests.fakes.sandbox_server import SandboxServer  # noqa: E402
from tests.fakes.sendgrid import API_KEY, FakeSendGrid  # noqa: E402
from tests.fakes.tcp_proxy import TcpProxy  # noqa: E402
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio  # noqa: E402
from tests.procs import Daemons, daemon_config, quick_polling  # noqa: E402
from tracker.db import make_engine, upgrade  # noqa: E402
from tracker.models import Notification  # noqa: E402

STEPS = (("shipped", 2), ("out_for_delivery", 30), ("delivered", 34))
SCENARIOS = ("sqlite-kill", "pg-kill", "faults", "db-cut", "no-events", "whatsapp")
KILLS = ("sqlite-kill", "pg-kill", "no-events", "whatsapp")


@dataclass
class Result:
    scenario: str
    shipments: int
    disruptions: int
    what: str
    expected: int
    once: int
    lost: int
    dup_sms: int
    dup_email: int
    resent_in_doubt: int
    seconds: float
    dup_whatsapp: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def random_fault(rng: random.Random, share: float, timeout: float, served: list[int]):
    """A fault for `share` of the requests, each kind equally likely; `served[0]` counts them."""
    kinds = [
        lambda: Fault(500, "<html>internal error</html>"),
        lambda: Fault(503, "<html>busy</html>", accept=True),  # took it, then failed
        lambda: Fault(429, {"code": 20429, "message": "Too Many Requests", "status": 429}, {"Retry-After": "1"}),
        lambda: Fault(504, "gateway timeout", hang=timeout * 1.5),  # slower than the client waits
        lambda: Fault(504, "gateway timeout", hang=timeout * 1.5, accept=True),  # took it, answer too late
    ]

    def draw() -> Fault | None:
        if rng.random() >= share:
            return None
        served[0] += 1
        return rng.choice(kinds)()
    return draw


class Chaos:
    def __init__(self, scenario: str, shipments: int, work: Path, *, seed_: int = 7,
                 step_timeout: float = 300, kill_on: set[int] | None = None,
                 check: Callable[[Result], None] | None = None) -> None:
        self.scenario, self.n, self.work = scenario, shipments, work
        self.rng = random.Random(seed_)
        self.step_timeout = step_timeout
        self.kills = 0
        self.cuts = 0
        self.faults = [0]
        self.procs: dict[str, object] = {}  # daemon name -> Proc
        self.killed: set[int] = set()  # pids this run SIGKILLed
        self.check = check
        self.daemons: dict[str, Daemons] = {}
        self.next_at = 0.0
        self.events_on = scenario != "no-events"
        self.timeout = 2.0
        self.pending_events: list[dict] = []
        self.urls: dict[str, str] = {}
        self.tasks: set[asyncio.Task] = set()
        # disrupt at these accepted messages (1-based) instead of by the clock: the test suite's short run
        self.kill_on = kill_on
        self.owed = 0  # kills due by kill_on that found no live daemon to kill yet: the next send takes them
        self.accepts = 0
        self.arming = False
        self.channels = ("whatsapp", "email") if scenario == "whatsapp" else ("sms", "email")

    # --- wiring ------------------------------------------------------------------------------------
    def config(self, name: str, database_url: str, port: int) -> Path:
        public = f"http://127.0.0.1:{port}"
        self.urls[name] = public
        sendgrid = {"api_key": API_KEY, "from_email": "orders@shop.example", "base_url": f"{self.sg.url}/{name}",
                    "timeout_seconds": self.timeout}
        if self.events_on:
            sendgrid["webhook_public_key"] = self.sg.public_key_b64
        timing = quick_polling(0.5, lease=6, tick=0.2)
        timing["dispatcher"].update(max_attempts=100, backoff_base_seconds=0.5, backoff_max_seconds=3,
                                    email_doubt_wait_seconds=20)
        path = daemon_config(
            self.work, **timing,
            database={"url": database_url},
            server={"enabled": True, "host": "127.0.0.1", "port": port, "public_url": public},
            carriers={"sandbox": {"base_url": self.sandbox_url, "time_scale": 3600}},
            channels={"sms": {"provider": "twilio"}, "email": {"provider": "sendgrid"},
                      **({"whatsapp": {"provider": "twilio_whatsapp"}} if "whatsapp" in self.channels else {})},
            providers={"twilio": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                                  "from_number": "+15005550006", "base_url": f"{self.tw.url}/{name}",
                                  "timeout_seconds": self.timeout},
                       "sendgrid": sendgrid,
                       **({"twilio_whatsapp": self.whatsapp(name)} if "whatsapp" in self.channels else {})},
            logging={"level": "WARNING"},
        )
        own = self.work / f"{name}.yaml"
        path.rename(own)
        return own

    def whatsapp(self, name: str) -> dict:
        """The WhatsApp sender on the fake Twilio, an approved template per step, each in its Content API."""
        templates = {}
        for i, (milestone, _) in enumerate(STEPS):
            sid = f"HX{i + 1:032x}"
            self.tw.add_template(sid, f"Your order {{{{1}}}} from {{{{5}}}}: {milestone.replace('_', ' ')} "
                                      f"with {{{{2}}}}. Follow it at {{{{4}}}}")
            templates[milestone] = {"en": sid}
        return {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": "+15005550007",
                "base_url": f"{self.tw.url}/{name}", "content_base_url": f"{self.tw.url}/{name}",
                "timeout_seconds": self.timeout, "templates": templates}

    async def start(self, name: str) -> None:
        self.procs[name] = await self.daemons[name].start("run", name=f"{name}-{self.kills}")

    def on_accept(self, message: dict) -> None:
        if message.get("custom_args") is not None and self.events_on:
            self.pending_events.append(message)  # SendGrid will report it processed
        if self.scenario == "whatsapp" and not message.get("ContentSid"):
            return  # the worst moment for WhatsApp is a template message just taken: only those count
        now = time.monotonic()
        self.accepts += 1
        if self.kill_on is not None:
            # a provider can take a message the killed daemon sent just before it died (its request was on
            # the wire): that sender cannot be killed, so the kill goes to the next send of a live daemon
            self.owed += self.accepts in self.kill_on
            if not self.owed:
                return
        elif self.next_at == float("inf") and self.arming:
            lo, hi = (2, 6) if self.scenario == "pg-kill" else (2, 8)
            self.next_at = now + self.rng.uniform(lo, hi)  # counted from the first send after a restart
            self.arming = False
            return
        elif now < self.next_at:
            return
        if self.scenario == "db-cut":
            if not self.proxy.is_cut:
                self.proxy.cut()
                self.cuts += 1
                asyncio.get_running_loop().call_later(8, self.proxy.restore)
                self.next_at = now + 8 + self.rng.uniform(5, 10)
            return
        if self.scenario not in KILLS:
            return
        proc = self.procs.get(message.get("_via", ""))
        if proc is None or proc.returncode is not None or proc.pid in self.killed:
            return
        os.kill(proc.pid, signal.SIGKILL)  # the provider has the message; the daemon never hears back
        self.killed.add(proc.pid)
        self.kills += 1
        self.owed = max(0, self.owed - 1)
        self.next_at = float("inf")  # the next kill is counted from the restart
        task = asyncio.ensure_future(self._restart(message["_via"]))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _restart(self, name: str) -> None:
        await self.procs[name].wait(30)
        await asyncio.sleep(0.5)
        await self.start(name)
        self.arming = True
        # a start can fail on a busy machine (say PostgreSQL's connection slots are still held by the killed
        # process's sessions): start again until the daemon stays up. A daemon this run killed did not fail
        # to start: that kill's own restart follows, and a second one here would race it for the same name
        while True:
            proc = self.procs[name]
            try:
                await proc.wait(5)
            except asyncio.TimeoutError:
                return
            if proc.pid in self.killed or self.procs[name] is not proc:
                return
            await asyncio.sleep(1)
            await self.start(name)

    async def _post_events(self) -> None:
        """SendGrid's Event Webhook: each accepted mail reported `processed` about a second later, retried
        (as SendGrid does) while no daemon answers."""
        while True:
            await asyncio.sleep(1)
            batch, self.pending_events = self.pending_events, []
            if not batch:
                continue
            events = [self.sg.event(m, "processed") for m in batch]
            for url in self.rng.sample(list(self.urls.values()), len(self.urls)):
                try:
                    r = await self.sg.send_events(f"{url}/webhooks/sendgrid/events", events)
                    if r.status < 300:
                        break
                except (OSError, aiohttp.ClientError, asyncio.TimeoutError):  # that daemon is down: the next
                    continue
            else:
                self.pending_events.extend(batch)

    # --- the run -----------------------------------------------------------------------------------
    async def run(self) -> Result:
        started = time.monotonic()
        async with AsyncExitStack() as stack:
            self.sandbox = SandboxServer(time_scale=3600)
            self.sandbox.pinned_hours = 0
            self.sandbox_url = await self.sandbox.start()
            stack.push_async_callback(self.sandbox.close)
            self.tw = await stack.enter_async_context(FakeTwilio())
            self.sg = await stack.enter_async_context(FakeSendGrid())
            self.tw.on_accept = self.sg.on_accept = self.on_accept
            if self.scenario == "faults":
                self.tw.random_fault = random_fault(self.rng, 0.25, self.timeout, self.faults)
                self.sg.random_fault = random_fault(self.rng, 0.25, self.timeout, self.faults)
            if self.scenario in ("pg-kill", "db-cut"):
                url = await stack.enter_async_context(pg_database("tracker_chaos"))
            else:
                url = f"sqlite:///{self.work / 'tracker.db'}"
            engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://")
                                 if url.startswith("postgresql://") else url.replace("sqlite://", "sqlite+aiosqlite://"))
            stack.push_async_callback(engine.dispose)
            await upgrade(engine)
            epoch = int(time.time())
            await seed(engine, str(engine.url.render_as_string(hide_password=False)), self.n, carrier="sandbox",
                       tracking=f"SBX-DELIVER-{{i}}-{epoch}", now=datetime.now(timezone.utc),
                       channels=",".join(self.channels), phone=True)
            daemon_url = url
            if self.scenario == "db-cut":
                host_port, name = url.split("@", 1)[1].split("/", 1)
                host, port = host_port.split(":")
                self.proxy = await stack.enter_async_context(TcpProxy(host, int(port)))
                daemon_url = f"{url.split('@')[0]}@127.0.0.1:{self.proxy.port}/{name}"
            names = ["d0", "d1", "d2"] if self.scenario == "pg-kill" else ["d0"]
            for name in names:
                cfg = self.config(name, daemon_url, free_port())
                self.daemons[name] = await stack.enter_async_context(Daemons(self.work, cfg))
            for name in names:
                await self.start(name)
            poster = asyncio.ensure_future(self._post_events())
            try:
                self.next_at = time.monotonic() + self.rng.uniform(2, 4)
                for milestone, hours in STEPS:
                    self.sandbox.pinned_hours = hours
                    await self._wait_step(engine, milestone)
                # let in-doubt rows settle, then stop disrupting and wait for quiet
                self.next_at = float("inf")
                await self._settle(engine)
            finally:
                poster.cancel()
                for t in list(self.tasks):
                    t.cancel()
                await asyncio.gather(poster, *self.tasks, return_exceptions=True)
            result = await self._count(engine)
            result.seconds = time.monotonic() - started
            if self.check is not None:  # inside the block: a failed check prints what every daemon said
                self.check(result)
        return result

    def _received(self) -> Counter:
        """Messages at the providers, per notification id (SMS: the status callback's n=; email: custom_args)."""
        got: Counter = Counter()
        for m in self.tw.messages:
            n = parse_qs(urlparse(m.get("StatusCallback", "")).query).get("n", [""])[0]
            got[("whatsapp" if m.get("To", "").startswith("whatsapp:") else "sms", n)] += 1
        for mail in self.sg.mails:
            got[("email", mail.get("custom_args", {}).get("notification_id", ""))] += 1
        return got

    async def _rows(self, engine) -> list[tuple]:
        async with engine.connect() as conn:
            return list((await conn.execute(select(
                Notification.id, Notification.shipment_id, Notification.milestone, Notification.channel,
                Notification.state, Notification.resent_in_doubt))).all())

    async def _wait_step(self, engine, milestone: str) -> None:
        deadline = time.monotonic() + self.step_timeout
        while time.monotonic() < deadline:
            got = self._received()
            rows = [r for r in await self._rows(engine) if r[2] == milestone]
            if len(rows) == 2 * self.n and all(got[(r[3], str(r[0]))] for r in rows):
                return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"{self.scenario}: {milestone} did not reach every customer within "
                           f"{self.step_timeout:.0f} s")

    async def _settle(self, engine) -> None:
        deadline = time.monotonic() + self.step_timeout
        while time.monotonic() < deadline:
            rows = await self._rows(engine)
            if all(r[4] in ("sent", "delivered", "failed", "suppressed") for r in rows):
                await asyncio.sleep(2)  # a last resend would show here
                return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"{self.scenario}: some messages were still being sent {self.step_timeout:.0f} s after "
                           "the last step")

    async def _count(self, engine) -> Result:
        got = self._received()
        rows = await self._rows(engine)
        by_key = {(r[1], r[2], r[3]): r for r in rows}
        once = lost = dup_sms = dup_email = dup_whatsapp = 0
        for ship in range(1, self.n + 1):
            for milestone, _ in STEPS:
                for channel in self.channels:
                    row = by_key.get((ship, milestone, channel))
                    count = got[(channel, str(row[0]))] if row else 0
                    if count == 0:
                        lost += 1
                    elif count == 1:
                        once += 1
                    elif channel == "sms":
                        dup_sms += count - 1
                    elif channel == "whatsapp":
                        dup_whatsapp += count - 1
                    else:
                        dup_email += count - 1
        resent = sum(r[5] for r in rows)
        disruptions, what = {"db-cut": (self.cuts, "cuts"),
                             "faults": (self.faults[0], "faults")}.get(self.scenario, (self.kills, "kills"))
        return Result(self.scenario, self.n, disruptions, what, 6 * self.n, once, lost, dup_sms, dup_email,
                      resent, 0.0, dup_whatsapp)


async def run_scenario(scenario: str, shipments: int, work: Path, **kwargs) -> Result:
    return await Chaos(scenario, shipments, work, **kwargs).run()


def table(results: list[Result]) -> str:
    head = ("scenario", "shipments", "disruptions", "expected", "sent once", "lost", "dup SMS", "dup WhatsApp",
            "dup email", "resent in doubt", "seconds")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        lines.append(f"| {r.scenario} | {r.shipments} | {r.disruptions} {r.what} | {r.expected} | {r.once} | "
                     f"{r.lost} | {r.dup_sms} | {r.dup_whatsapp} | {r.dup_email} | {r.resent_in_doubt} | {r.seconds:.0f} |")
    return "\n".join(lines)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shipments", type=int, default=200)
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = p.parse_args()
    results = []
    for scenario in args.scenarios.split(","):
        with tempfile.TemporaryDirectory(prefix=f"chaos-{scenario}-") as tmp:
            r = await run_scenario(scenario, args.shipments, Path(tmp))
        print(f"{scenario}: {r.disruptions} {r.what}, {r.expected} expected, {r.once} once, {r.lost} lost, "
              f"{r.dup_sms} dup SMS, {r.dup_whatsapp} dup WhatsApp, {r.dup_email} dup email, {r.resent_in_doubt} resent in doubt "
              f"({r.seconds:.0f} s)", flush=True)
        results.append(r)
    print()
    print(table(results))


if __name__ == "__main__":
    asyncio.run(main())
