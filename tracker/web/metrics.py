"""Operations endpoints: /metrics (prometheus_client's exposition), /readyz (readiness).

/metrics always answers 200: this process's counters (polls by carrier and outcome, pushes by source and
outcome), the process's own metrics (CPU, memory, open files, start time), `tracker_build_info`, and the
database-backed gauges of tracker.gauges as last read, with `tracker_database_up` and
`tracker_gauges_age_seconds` (0 when read for this scrape): during an outage a scrape shows the last known
values and how old they are instead of failing. /readyz answers 200 only while the database answers and
its schema is the one this daemon runs on; 503 otherwise, with the reason and the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import time
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.utils import floatToGoString

from tracker import freshness, gauges, version
from tracker.db import schema_status
from tracker.db_health import is_outage
from tracker.web.common import DAEMON
from tracker.web.pushes import PUSHES

log = logging.getLogger("tracker.web")
READ_TIMEOUT_SECONDS = 5.0  # a scrape or a probe never waits longer on the database
# The classic text format generate_latest writes for these names, as every Prometheus version reads it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class LastGauges:
    families: list[gauges.Family] = field(default_factory=list)
    read_at: float | None = None  # monotonic
    read_seconds: float = 0.0  # how long the last read took
    database_up: bool = True
    error: str = ""  # the last failure that was not an outage, logged once
    large: bool = False  # past server.metrics_cache_above_rows: read in the background, served from here
    refresh: asyncio.Task | None = None
    freshness: freshness.Tally | None = None  # messages sent since this process started


LAST = web.AppKey("last_gauges", LastGauges)
REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


class _TrackerCollector:
    """Yields the families of one scrape from what the handler gathered just before."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self):
        daemon, last = self.app[DAEMON], self.app[LAST]
        build = GaugeMetricFamily("tracker_build_info", "This build: version, commit (where known), Python.",
                                  labels=["version", "commit", "python"])
        build.add_metric([version.VERSION, version.commit() or "unknown", platform.python_version()], 1)
        yield build
        polls = getattr(getattr(daemon, "poller", None), "polls", {})
        family = CounterMetricFamily("tracker_polls", "Shipment checks by this process, by carrier and outcome.",
                                     labels=["carrier", "outcome"])
        for carrier in sorted(getattr(daemon, "carriers", {})):
            if not any(c == carrier for c, _ in polls):
                family.add_metric([carrier, "ok"], 0)
        for (carrier, outcome), n in sorted(polls.items()):
            family.add_metric([carrier, outcome], n)
        yield family
        family = CounterMetricFamily("tracker_pushes", "Pushed webhooks received by this process, by source and "
                                     "outcome (stored, duplicate, unavailable, refused, replayed, malformed, too_large; then, as they are applied: "
                                     "applied, unmatched, ambiguous, failed).",
                                     labels=["source", "outcome"])
        counts = self.app[PUSHES] + getattr(getattr(daemon, "inbox", None), "counts", Counter())
        for name in _pushing(daemon):
            if not any(s == name for s, _ in counts):
                family.add_metric([name, "applied"], 0)
        for (name, outcome), n in sorted(counts.items()):
            family.add_metric([name, outcome], n)
        yield family
        cap = getattr(daemon, "connections", None)
        if cap is not None:
            family = GaugeMetricFamily("tracker_http_connections_open", "Connections open to this process's web server.")
            family.add_metric([], len(cap.server.connections))
            yield family
            family = CounterMetricFamily("tracker_http_connections_refused", "Connections refused (503) by this "
                                         "process because server.max_connections were open.")
            family.add_metric([], cap.refused)
            yield family
        up = GaugeMetricFamily("tracker_database_up", "1 while the database answers (as this process last saw it).")
        up.add_metric([], 1 if last.database_up and daemon.db_health.up else 0)
        yield up
        age = GaugeMetricFamily("tracker_gauges_age_seconds", "Age of the database-backed values below: 0 when "
                                "read for this scrape, more while the database is away (-1: never read).")
        age.add_metric([], -1 if last.read_at is None else round(time.monotonic() - last.read_at, 3))
        yield age
        took = GaugeMetricFamily("tracker_gauges_read_seconds", "How long the last read of the database-backed "
                                 "values took (past server.metrics_cache_above_rows it is done in the background).")
        took.add_metric([], round(last.read_seconds, 4))
        yield took
        yield from _freshness(last.freshness)
        for f in last.families:
            cls = CounterMetricFamily if f.kind == "counter" else GaugeMetricFamily
            names = sorted({k for labels, _ in f.samples for k in labels})
            family = cls(f.name, f.help, labels=names)
            for labels, value in f.samples:
                family.add_metric([labels.get(k, "") for k in names], value)
            yield family


def _freshness(tally: freshness.Tally | None):
    families = {name: HistogramMetricFamily(name, text, labels=["source", "via", "milestone"])
                for name, text in freshness.MEASURES.items()}
    for (name, *labels), hist in sorted((tally.hists if tally else {}).items()):
        buckets = [(floatToGoString(le), n) for le, n in zip(freshness.BUCKETS, hist.counts)]
        families[name].add_metric(labels, buckets, hist.total)
    yield from families.values()


def _pushing(daemon) -> list[str]:
    return sorted(n for n, rt in getattr(daemon, "carriers", {}).items() if rt.carrier.pushes)


async def _read_gauges(app: web.Application) -> None:
    daemon, last = app[DAEMON], app[LAST]
    if daemon.db_health.waiting():
        last.database_up = False
        return  # the loops found the database away: the last values stand, no scrape waits on a timeout
    if last.large and last.read_at is not None:
        # a large database: serve the last values (their age is shown) and read again behind, one read at a time
        stale = time.monotonic() - last.read_at >= daemon.settings.server.metrics_cache_seconds
        if stale and (last.refresh is None or last.refresh.done()):
            last.refresh = asyncio.ensure_future(_refresh(app, timeout=None))
        return
    await _refresh(app, timeout=READ_TIMEOUT_SECONDS)


async def _refresh(app: web.Application, *, timeout: float | None) -> None:
    daemon, last = app[DAEMON], app[LAST]
    runtimes = getattr(daemon, "carriers", {})
    started = time.monotonic()
    try:
        last.families = await asyncio.wait_for(gauges.collect(
            daemon.engine, carriers=sorted(runtimes), pushing=_pushing(daemon), now=daemon.clock.now(),
            budgets={n: rt.budget for n, rt in runtimes.items() if rt.budget is not None}), timeout)
        last.large = await gauges.size(daemon.engine) >= daemon.settings.server.metrics_cache_above_rows
        if last.freshness is None:
            last.freshness = freshness.Tally(mark=getattr(daemon, "started_at", None) or daemon.clock.now())
        await last.freshness.update(daemon.engine)
    except Exception as exc:  # /metrics answers anyway, with the last values and their age
        if is_outage(exc):
            last.database_up = False
        elif type(exc).__name__ != last.error:
            log.exception("reading the database gauges for /metrics failed; serving the last values")
        last.error = type(exc).__name__
        return
    last.read_at, last.database_up, last.error = time.monotonic(), True, ""
    last.read_seconds = last.read_at - started


async def _stop_refresh(app: web.Application) -> None:
    task = app[LAST].refresh
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def metrics(request: web.Request) -> web.Response:
    await _read_gauges(request.app)
    return web.Response(body=generate_latest(request.app[REGISTRY]), headers={
        "Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


async def readyz(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    if getattr(daemon, "_closing", False) or daemon.exit_code:
        return web.json_response({"status": "stopping"}, status=503)
    try:
        status = await asyncio.wait_for(schema_status(daemon.engine), READ_TIMEOUT_SECONDS)
    except Exception as exc:  # the probe answers whatever the database does
        return web.json_response({"status": "database unavailable" if is_outage(exc) else "database error",
                                  "error": type(exc).__name__,
                                  "fix": "start the database or restore its network; the daemon goes on by itself"},
                                 status=503)
    if status.state == "newer":
        return web.json_response({"status": "schema newer than this tracker", "schema": status.current,
                                  "fix": str(status.newer_error()).split("Fix: ", 1)[1]}, status=503)
    if status.state != "current":
        return web.json_response({"status": "migrations pending", "schema": status.current, "expected": status.head,
                                  "fix": "back the database up, then run `tracker db upgrade`"}, status=503)
    if status.revisions != daemon.schema_revisions:
        return web.json_response({"status": "schema moved under this daemon", "schema": status.current,
                                  "fix": "restart it (it stops by itself)"}, status=503)
    return web.json_response({"status": "ready", "schema": status.current, "version": daemon.version})


def setup(app: web.Application) -> None:
    app[LAST] = LastGauges()
    registry = CollectorRegistry(auto_describe=False)  # one per daemon: tests run several in a process
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(_TrackerCollector(app))
    app[REGISTRY] = registry
    app.on_cleanup.append(_stop_refresh)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/readyz", readyz)
