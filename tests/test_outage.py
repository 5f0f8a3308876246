"""A database blip as an operator lives it: PostgreSQL cut for 12 s through a TCP proxy under a running
daemon. The liveness probe stays 200 (no orchestrator restarts every daemon at once), readiness says 503
while the database is away, /metrics keeps answering with the last known gauges and their age, the
daemon writes one line when the database goes and one when it is back, and it goes on by itself."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest

from tests.fakes.tcp_proxy import TcpProxy
from tests.helpers import metric
from tests.procs import Daemons, daemon_config, quick_polling

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
        return resp.status, await resp.text()


async def _port(proc, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"web server on http://127\.0\.0\.1:(\d+)", proc.stderr())
        if found:
            return int(found.group(1))
        assert proc.returncode is None, proc.stderr()
        await asyncio.sleep(0.2)
    raise AssertionError("the daemon never served")


async def _until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_twelve_second_database_cut_keeps_the_daemon_alive_and_quiet(pg_url, tmp_path):
    async with TcpProxy("127.0.0.1", 5432) as proxy, Daemons(tmp_path) as daemons, aiohttp.ClientSession() as http:
        url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        daemon_config(tmp_path, database={"url": url}, server={"enabled": True, "port": 0},
                      carriers={"sandbox": {"time_scale": 3600}}, **quick_polling(seconds=1, lease=30, tick=0.3))
        await daemons.run("db", "upgrade")
        await daemons.run("add", "--order", "BLIP-1", "--carrier", "sandbox", "--tracking", "SBX-DELIVER-1",
                          "--email", "ana@example.com", "--channels", "email")
        run = await daemons.start("run")
        base = f"http://127.0.0.1:{await _port(run)}"
        await _until(lambda: _ok(http, base + "/readyz"), 60, "readiness")
        status, text = await _get(http, base + "/metrics")
        assert status == 200 and metric(text, "tracker_database_up") == 1
        known = metric(text, "tracker_shipments_tracked")
        assert known == 1

        lines_before = len(run.stderr().splitlines())
        proxy.cut()
        cut_at = time.monotonic()
        seen = {"healthz": set(), "readyz": set(), "metrics": set()}
        while time.monotonic() - cut_at < 12:
            for path in seen:
                status, text = await _get(http, base + "/" + path)
                seen[path].add(status)
                if path == "metrics":
                    assert metric(text, "tracker_shipments_tracked") == known  # the last known value
                    last_metrics = text
            await asyncio.sleep(0.5)
        assert seen == {"healthz": {200}, "readyz": {503}, "metrics": {200}}, seen
        assert metric(last_metrics, "tracker_database_up") == 0
        assert metric(last_metrics, "tracker_gauges_age_seconds") >= 5
        assert metric(last_metrics, "process_cpu_seconds_total") > 0
        status, body = await _get(http, base + "/healthz")
        assert '"database": "unavailable for' in body

        proxy.restore()
        await _until(lambda: _ok(http, base + "/readyz"), 60, "readiness after the cut")
        await daemons.run("add", "--order", "BLIP-2", "--carrier", "sandbox", "--tracking", "SBX-DELIVER-2",
                          "--email", "ben@example.com", "--channels", "email")
        await _until(lambda: _said(run, "BLIP-2"), 60, "the daemon to work on after the cut")
        assert run.returncode is None
        after = run.stderr().splitlines()[lines_before:]
        back = next(i for i, ln in enumerate(after) if "database back after" in ln)
        outage = "\n".join(after[:back + 1])
        assert "Traceback" not in outage and "ERROR" not in outage, outage
        assert len([ln for ln in after[:back + 1] if "BLIP-" not in ln]) <= 3, outage
        assert "database unavailable (" in outage
        status, text = await _get(http, base + "/metrics")
        assert metric(text, "tracker_database_up") == 1 and metric(text, "tracker_gauges_age_seconds") < 5


async def _ok(http, url) -> bool:
    try:
        return (await _get(http, url))[0] == 200
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False


async def _said(proc, text: str) -> bool:
    return text in proc.stdout()  # the console channel prints the message the customer gets
