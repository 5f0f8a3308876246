"""/metrics in Prometheus text format and /readyz."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.helpers import add, metric
from tests.web_helpers import Client, web_daemon


def value(text: str, name: str, **labels: str) -> float:
    found = metric(text, name, **labels)
    assert found is not None, f"{name} {labels} not in metrics"
    return found


async def test_metrics_show_polls_notifications_queues_and_lag(start_daemon, tmp_path, clock):
    daemon = await web_daemon(start_daemon, tmp_path)
    c = Client(daemon)
    try:
        await add(daemon, "ORDER-1", "SBX-DELIVER-1")
        await add(daemon, "ORDER-2", "SBX-NOTFOUND-2")
        await add(daemon, "ORDER-3", "SBX-DELIVER-3", email=None, channels="sms")
        clock.advance(timedelta(minutes=10))  # three checks due, the oldest waiting 10 minutes
        status, text, resp = await c.request("GET", "/metrics")
        assert status == 200 and resp.headers["Content-Type"].startswith("text/plain")
        assert "# TYPE tracker_polls_total counter" in text
        assert value(text, "tracker_queue_depth", queue="checks") == 3
        assert value(text, "tracker_queue_lag_seconds", queue="checks") == 600
        for _ in range(10):
            await daemon.run_once()
            clock.advance(timedelta(hours=3))
        status, text, _ = await c.request("GET", "/metrics")
        assert value(text, "tracker_polls_total", carrier="sandbox", outcome="ok") > 0
        assert value(text, "tracker_polls_total", carrier="sandbox", outcome="not_found_yet") > 0
        assert value(text, "tracker_notifications", channel="sms", state="sent") >= 2
        assert value(text, "tracker_notifications", channel="email", state="sent") >= 1
        assert value(text, "tracker_queue_depth", queue="notifications") == 0
    finally:
        await c.close()


async def test_readyz_and_healthz(start_daemon, tmp_path):
    daemon = await web_daemon(start_daemon, tmp_path)
    c = Client(daemon)
    try:
        status, body, _ = await c.request("GET", "/readyz")
        assert status == 200 and body["status"] == "ready"
        status, body, _ = await c.request("GET", "/healthz")
        assert status == 200
    finally:
        await c.close()


async def test_metrics_show_how_close_each_carrier_is_to_its_daily_budget(start_daemon, tmp_path, clock):
    daemon = await web_daemon(start_daemon, tmp_path, carriers={"sandbox": {"daily_budget": 40}})
    c = Client(daemon)
    try:
        await add(daemon, "ORDER-1", "SBX-DELIVER-1")
        await daemon.run_once()
        status, text, _ = await c.request("GET", "/metrics")
        assert status == 200
        assert value(text, "tracker_carrier_calls_today", carrier="sandbox") == 1
        assert value(text, "tracker_carrier_daily_budget", carrier="sandbox") == 40
        assert value(text, "tracker_carrier_paused", carrier="sandbox") == 0
    finally:
        await c.close()


async def test_metrics_come_from_prometheus_client_with_build_and_process_metrics(start_daemon, tmp_path):
    from tracker import version
    from tracker.db import head_revision

    daemon = await web_daemon(start_daemon, tmp_path)
    c = Client(daemon)
    try:
        status, text, resp = await c.request("GET", "/metrics")
        assert status == 200 and resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert value(text, "tracker_build_info", version=version.VERSION, commit=version.commit() or "unknown",
                     python=__import__("platform").python_version()) == 1
        assert value(text, "process_resident_memory_bytes") > 0 and value(text, "process_start_time_seconds") > 0
        assert value(text, "tracker_database_up") == 1 and value(text, "tracker_gauges_age_seconds") < 5
        status, body, _ = await c.request("GET", "/healthz")
        assert status == 200 and body["version"] == version.describe() and body["database"] == "ok"
        status, body, _ = await c.request("GET", "/readyz")
        assert status == 200 and body["schema"] == head_revision()
    finally:
        await c.close()


async def test_metrics_on_a_large_database_serve_the_last_values_with_their_age_and_read_behind(
        start_daemon, tmp_path, clock):
    # past server.metrics_cache_above_rows (0 here: every database is "large") a scrape never waits on the
    # database: it serves the last values, shows their age, and one read behind refreshes them
    server = {"enabled": False, "port": 0, "host": "127.0.0.1", "metrics_cache_above_rows": 0,
              "metrics_cache_seconds": 3600}
    daemon = await web_daemon(start_daemon, tmp_path, server=server)
    c = Client(daemon)
    try:
        await add(daemon, "ORDER-1", "SBX-DELIVER-1")
        _, text, _ = await c.request("GET", "/metrics")  # the first scrape reads (nothing to serve yet)
        assert value(text, "tracker_shipments_tracked") == 1
        assert value(text, "tracker_gauges_read_seconds") >= 0
        await add(daemon, "ORDER-2", "SBX-DELIVER-2")
        _, text, _ = await c.request("GET", "/metrics")
        assert value(text, "tracker_shipments_tracked") == 1  # the last values, not read again yet
        assert value(text, "tracker_gauges_age_seconds") >= 0
        daemon.settings.server.metrics_cache_seconds = 0  # now stale: the next scrape starts a read behind
        for _ in range(100):
            _, text, _ = await c.request("GET", "/metrics")
            if value(text, "tracker_shipments_tracked") == 2:
                break
            await asyncio.sleep(0.05)
        assert value(text, "tracker_shipments_tracked") == 2
    finally:
        await c.close()
