"""Process wiring: database, shared HTTP session, carriers, channels, poller, dispatcher, web server and
the APScheduler ticks that drive them. One stop path: stop claiming, let in-flight work finish (bounded),
give back every lease this process holds, close everything."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid

import aiohttp
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from tracker import files, reroute, version
from tracker.alerts import AlertSender
from tracker.branding import brand, with_sender
from tracker.carriers import CARRIERS
from tracker.carriers.catalog import CATALOG
from tracker.clock import SYSTEM, Clock
from tracker.config import Settings, shown_database
from tracker.conversations.replies import DirectSender
from tracker.db import SqliteLock, describe, make_engine, schema_status, upgrade
from tracker.db_health import DatabaseHealth, is_outage
from tracker.dispatcher import Dispatcher
from tracker.inbox.drain import InboxDrain
from tracker.notify import CHANNELS
from tracker.notify.render import Renderer
from tracker.poller import CarrierRuntime, Poller
from tracker.rate import SharedRate
from tracker.subscriber import Subscriber
from tracker.watch import Watcher
from tracker.web import build_app, serving

log = logging.getLogger("tracker.app")


class DaemonError(Exception):
    """The daemon cannot start; the message names the setting and the fix."""


EXIT_SCHEMA_MOVED = 75  # EX_TEMPFAIL: the service manager restarts the daemon, now the new release


class Daemon:
    version = version.describe()

    def __init__(self, settings: Settings, *, clock: Clock = SYSTEM, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.started_at = clock.now()  # /metrics' freshness histograms count the messages sent from here on
        self.rng = rng or random.Random()
        self.owner = f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.engine = None
        self.http: aiohttp.ClientSession | None = None
        self.runner: web.AppRunner | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.lock: SqliteLock | None = None
        self.port: int | None = None
        self._inflight: set[asyncio.Task] = set()
        self._loops: dict[str, asyncio.Future] = {}  # "dispatch", "inbox": the loop running now, if any
        self._again: dict[str, bool] = {}
        self._closing = False
        self.db_health = DatabaseHealth()
        self.schema_revisions: tuple[str, ...] = ()
        self.exit_code = 0
        self._stop: asyncio.Event | None = None

    # --- start ---------------------------------------------------------------------------------
    async def start(self, *, web_server: bool | None = None) -> None:
        s = self.settings
        url = s.async_database_url
        if url.startswith("sqlite") and ":memory:" not in url:
            self.lock = SqliteLock(url)
            self.lock.acquire()
        try:
            self.engine = make_engine(url)
            log.info("tracker %s starting on %s", self.version, describe(self.engine))
            if s.database.auto_upgrade:
                for line in await upgrade(self.engine):
                    log.info("database %s", line)
            status = await schema_status(self.engine)
            if status.state == "newer":
                raise status.newer_error()
            if status.state != "current":
                raise status.behind_error()
            self.schema_revisions = status.revisions
            if changed := files.make_owner_only(files.sqlite_files(url)):
                log.warning("%s could be read by other users of this machine; now by its owner only (0600)",
                            ", ".join(p.name for p in changed))
            self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                              headers={"User-Agent": f"tracker/{version.VERSION}"})
            self.carriers = self._build_carriers()
            self.providers = {name: CHANNELS[name](CHANNELS[name].Settings.model_validate(with_sender(name, raw, s)),
                                                   self.http, self.clock)
                              for name, raw in s.providers.items()}
            for provider in self.providers.values():
                provider.public_url = s.server.public_url  # for delivery-report callback URLs
            self.channels = {kind: self.providers[getattr(s.channels, kind).provider]
                             for kind in ("sms", "email", "whatsapp") if getattr(s.channels, kind) is not None}
            self.poller = Poller(engine=self.engine, settings=s.poller, carriers=self.carriers, clock=self.clock,
                                 owner=self.owner, rng=self.rng, sources=s.sources)
            self.subscriber = Subscriber(engine=self.engine, settings=s, sources=self.carriers, clock=self.clock,
                                         rng=self.rng)
            await self.poller.load_budgets()
            await reroute.apply(self.engine, s, set(self.carriers),
                                {n for n, rt in self.carriers.items() if rt.carrier.pushes}, self.clock.now())
            self.link_secret = s.preferences.secret or await self._database_secret()
            self.dispatcher = Dispatcher(
                engine=self.engine, settings=s, channels=self.channels,
                renderer=Renderer(s.templates.override_dir, brand=brand(s), default_locale=s.shop.default_locale),
                carrier_names=self.carrier_names(),
                clock=self.clock, owner=self.owner, rng=self.rng, link_secret=self.link_secret)
            self.inbox = InboxDrain(engine=self.engine, carriers=self.carriers, poller=self.poller,
                                    settings=s.sources.inbox, clock=self.clock, owner=self.owner, rng=self.rng)
            self.direct = DirectSender(engine=self.engine, settings=s, channels=self.channels, clock=self.clock,
                                       rng=self.rng)
            self.watcher = Watcher(engine=self.engine, settings=s, clock=self.clock)
            self.support = AlertSender(engine=self.engine, settings=s, email=self.channels["email"], http=self.http,
                                       clock=self.clock, rng=self.rng)
            if web_server if web_server is not None else s.server.enabled:
                await self._start_web()
        except BaseException:
            await self.close()
            raise

    async def _database_secret(self) -> str:
        from tracker.db import sessionmaker
        from tracker.preferences import database_secret

        async with sessionmaker(self.engine)() as session, session.begin():
            return await database_secret(session, self.engine, self.clock.now())

    def _build_carriers(self) -> dict[str, CarrierRuntime]:
        runtimes = {}
        for name, raw in self.settings.carriers.items():
            cls = CARRIERS[name]
            cfg = cls.Settings.model_validate(raw or {})
            if not cfg.enabled:
                continue
            carrier = cls(cfg, self.http, self.clock)
            carrier.public_url = self.settings.server.public_url  # the webhook address given at subscription
            runtimes[name] = CarrierRuntime(carrier, SharedRate(self.engine, name, carrier.requests_per_second))
        return runtimes

    def carrier_names(self) -> dict[str, str]:
        """What customers read: the company carrying the parcel (never the aggregator telling us about it)."""
        names = {name: info.display for name, info in CATALOG.items()}
        names.update({n: rt.carrier.display_name for n, rt in self.carriers.items() if not rt.carrier.aggregator})
        return names

    async def _start_web(self) -> None:
        server = self.settings.server
        cap, files = serving.file_limit_for(server.max_connections)
        if cap < server.max_connections:
            log.warning("server.max_connections (%d) does not fit under this process's open-file limit (%d): at most "
                        "%d connections. Fix: raise the limit (LimitNOFILE= in the systemd unit, ulimit -n) or lower "
                        "server.max_connections", server.max_connections, files, cap)
        serving.quiet_accept_floods()
        # aiohttp's keep-alive timer also runs before a connection's first request: the header timeout
        self.runner = web.AppRunner(build_app(self), access_log=None, handle_signals=False,
                                    keepalive_timeout=server.header_timeout_seconds)
        await self.runner.setup()
        self.connections = serving.ConnectionCap(self.runner.server, cap)
        try:
            await serving.CappedSite(self.runner, server.host, server.port, self.connections).start()
        except OSError as exc:
            raise DaemonError(
                f"server.port: cannot listen on {self.settings.server.host}:{self.settings.server.port} ({exc.strerror}). "
                "Fix: stop what uses that port or choose another server.port."
            ) from None
        self.port = self.runner.addresses[0][1]
        log.info("web server on http://%s:%s (healthz at /healthz)", self.settings.server.host, self.port)

    # --- work ----------------------------------------------------------------------------------
    async def run_once(self) -> dict[str, int]:
        """Do everything due right now, then return: deterministic tests and cron-style runs."""
        totals = {"checked": 0, "sent": 0}
        while not self._closing:
            subscribed = await self.subscriber.tick()
            drained = await self.inbox.tick()
            stats = await self.poller.tick()
            watched = await self.watcher.tick()
            sent = await self._dispatch_tick()
            alerted = await self.support.tick()
            totals["checked"] += stats.checked
            totals["sent"] += sent
            if (stats.claimed == 0 and sent == 0 and watched.total == 0 and alerted == 0 and drained == 0
                    and subscribed.calls == 0 and subscribed.enrolled == 0):
                break
        return totals

    async def _watch_job(self) -> None:
        async def sweep() -> None:
            if (await self.watcher.tick()).queued:
                self.wake_dispatcher()
        await self._tracked(sweep())

    async def _support_job(self) -> None:
        await self._tracked(self.support.tick())

    async def _subscribe_job(self) -> None:
        await self._tracked(self.subscriber.tick())

    async def _poll_job(self) -> None:
        await self._tracked(self._poll_loop())

    async def _poll_loop(self) -> None:
        while not self._closing:
            stats = await self.poller.tick()
            if stats.claimed < self.settings.poller.claim_batch:
                return

    async def _dispatch_job(self) -> None:
        self.wake_dispatcher()

    async def _inbox_job(self) -> None:
        self.wake_inbox()

    async def _tracked(self, coro) -> None:
        """Run one tick of a loop. While the database is away the loops wait out its backoff (one log line
        when it goes, one when it is back: tracker.db_health); other failures are logged with their
        traceback and the tick runs again next time."""
        if self.db_health.waiting():
            coro.close()
            return
        task = asyncio.ensure_future(coro)
        self._inflight.add(task)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not self._closing:
                raise
            return  # cut at the end of the shutdown grace: the stop is the news, not this tick
        except Exception as exc:
            if is_outage(exc):
                self.db_health.failed(exc)
            else:
                log.exception("a periodic job failed; it will run again at the next tick")
        else:
            self.db_health.ok()
        finally:
            self._inflight.discard(task)

    async def _schema_job(self) -> None:
        await self._tracked(self._check_schema())

    async def _check_schema(self) -> None:
        """Another release moved the schema under this daemon (a newer one upgraded, or a backup was
        restored): stop claiming work and exit, so that the service manager starts the matching release."""
        status = await schema_status(self.engine)
        if status.revisions == self.schema_revisions or self._closing:
            return
        by = f" by tracker {status.upgraded_by}" if status.upgraded_by else ""
        log.warning("database schema moved from %s to %s%s under this daemon (tracker %s): it stops claiming "
                    "work and exits (code %d) so that the service manager starts the release that matches",
                    ", ".join(self.schema_revisions), status.current, by, self.version, EXIT_SCHEMA_MOVED)
        self.exit_code = EXIT_SCHEMA_MOVED
        for part in ("poller", "dispatcher", "direct", "watcher", "support", "subscriber", "inbox"):
            if hasattr(self, part):
                getattr(self, part).stopping = True
        if self._stop is not None:
            self._stop.set()

    def wake_dispatcher(self) -> None:
        """Send news now: start the dispatch loop, or tell the running one to look again before it stops
        (a wake that lands while it finishes is never lost). The periodic tick comes through here too."""
        self._wake("dispatch", self._dispatch_tick)

    async def _dispatch_tick(self) -> int:
        """The outbox, then answers to customers matched to no order (tracker/conversations/replies.py)."""
        return await self.dispatcher.tick() + await self.direct.tick()

    def wake_inbox(self) -> None:
        """Apply stored pushes now (a push was just stored), the same way."""
        self._wake("inbox", self.inbox.tick)

    def _wake(self, loop: str, tick) -> None:
        if self._closing or not (self.scheduler and self.scheduler.running):
            return  # not serving (run_once, tests): the caller runs the loop itself
        self._again[loop] = True
        task = self._loops.get(loop)
        if task is None or task.done():
            self._loops[loop] = asyncio.ensure_future(self._tracked(self._loop(loop, tick)))

    async def _loop(self, loop: str, tick) -> None:
        while not self._closing:
            self._again[loop] = False
            if not await tick() and not self._again[loop]:
                return

    def _sched_now(self):
        from datetime import datetime, timezone
        return datetime.now(timezone.utc)

    async def serve(self, stop: asyncio.Event) -> None:
        """Run the periodic ticks until `stop` is set, then shut down cleanly."""
        self._stop = stop
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        common = dict(trigger="interval", max_instances=1, coalesce=True, misfire_grace_time=None,
                      next_run_time=self._sched_now())
        self.scheduler.add_job(self._poll_job, id="poll", seconds=self.settings.poller.tick_seconds, **common)
        self.scheduler.add_job(self._dispatch_job, id="dispatch", seconds=self.settings.dispatcher.tick_seconds,
                               **common)
        self.scheduler.add_job(self._inbox_job, id="inbox", seconds=self.settings.sources.inbox.tick_seconds,
                               **common)
        self.scheduler.add_job(self._watch_job, id="watch", seconds=self.settings.watch.tick_seconds, **common)
        self.scheduler.add_job(self._support_job, id="support_alerts",
                               seconds=self.settings.support_alerts.tick_seconds, **common)
        self.scheduler.add_job(self._schema_job, id="schema", seconds=self.settings.database.schema_check_seconds,
                               **common)
        if self.subscriber.sources:
            self.scheduler.add_job(self._subscribe_job, id="subscribe", seconds=self.settings.sources.tick_seconds,
                                   **common)
        self.scheduler.start()
        self.poller.on_news = self.wake_dispatcher  # each batch's news goes out as soon as it is committed
        self.inbox.on_news = self.wake_dispatcher
        log.info("tracker %s running: database %s; carriers %s; sms via %s, email via %s", self.version,
                 shown_database(self.settings), ", ".join(self.carriers) or "none", self.settings.channels.sms.provider,
                 self.settings.channels.email.provider)
        from tracker.components import colour_warnings, public_url_warnings, whatsapp_template_gaps

        for gap in whatsapp_template_gaps(self.settings) + colour_warnings(self.settings):
            log.warning("%s", gap)
        for warning in public_url_warnings(self.settings):
            log.warning("%s", warning)
        try:
            await stop.wait()
        finally:
            await self.close()

    # --- stop ----------------------------------------------------------------------------------
    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self.scheduler and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for part in ("poller", "dispatcher", "direct", "watcher", "support", "subscriber", "inbox"):
            if hasattr(self, part):
                getattr(self, part).stopping = True
        if self._inflight:
            grace = self.settings.dispatcher.shutdown_grace_seconds
            done, pending = await asyncio.wait(list(self._inflight), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.engine is not None:
            try:
                if hasattr(self, "poller"):
                    await self.poller.release_all()
                if hasattr(self, "dispatcher"):
                    await self.dispatcher.release_all()
                if hasattr(self, "inbox"):
                    await self.inbox.release_all()
            except Exception:
                log.exception("could not give leases back; they expire on their own")
        if self.runner is not None:
            await self.runner.cleanup()
        for obj in list(getattr(self, "providers", {}).values()) + [rt.carrier for rt in getattr(self, "carriers", {}).values()]:
            try:
                await obj.aclose()
            except Exception:
                log.exception("closing %s failed", obj)
        for rt in getattr(self, "carriers", {}).values():
            rt.limiter.close()
        if self.http is not None:
            await self.http.close()
        if self.engine is not None:
            await self.engine.dispose()
        if self.lock is not None:
            self.lock.release()
        log.info("tracker stopped; in-flight work returned to the queue")
