"""The daemon as a real process: killed between milestones it resumes without sending anything twice;
SIGTERM gives its work back; a second daemon on the same SQLite file is refused."""

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.sandbox_server import SandboxServer
from tests.procs import Daemons, daemon_config, quick_polling

pytestmark = pytest.mark.slow

# The sandbox server holds each journey at the hour the test pins: shipped from hour 2, out for delivery
# from hour 30, delivered from hour 34. The test moves it on, so no milestone can be skipped however slow
# the machine is, and nothing depends on the hour of the day.
SHIPPED, OUT_FOR_DELIVERY, DELIVERED = 2, 30, 34


def query(tmp_path: Path, sql: str) -> list[tuple]:
    if not (tmp_path / "tracker.db").exists():
        return []
    with sqlite3.connect(f"file:{tmp_path / 'tracker.db'}?mode=ro", uri=True, timeout=10) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []


async def wait_for(predicate, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def sent_count(tmp_path: Path, milestone: str) -> int:
    return query(tmp_path, f"select count(*) from notifications where milestone='{milestone}' "
                           "and state='sent'")[0][0] if (tmp_path / "tracker.db").exists() else 0


async def register(daemons: Daemons, order: str, journey: str) -> None:
    await daemons.run("add", "--order", order, "--carrier", "sandbox", "--tracking",
                      f"SBX-{journey}-{int(time.time())}", "--email", "ana@example.com", "--phone", "+14155550101")


async def test_killed_between_milestones_resumes_and_sends_each_once(tmp_path):
    server = SandboxServer(time_scale=3600)
    server.pinned_hours = 0  # label created: nothing to announce yet
    base_url = await server.start()
    try:
        daemon_config(tmp_path, carriers={"sandbox": {"base_url": base_url, "time_scale": 3600}},
                      **quick_polling(0.2, lease=2))
        async with Daemons(tmp_path) as daemons:
            await register(daemons, "ORDER-1001", "DELIVER")
            first = await daemons.start("run", name="first")
            server.pinned_hours = SHIPPED
            await wait_for(lambda: sent_count(tmp_path, "shipped") == 2, what="shipped sent on both channels")
            assert query(tmp_path, "select count(*) from notifications where milestone='delivered'") == [(0,)]
            first.kill()
            assert await first.wait() == -signal.SIGKILL

            second = await daemons.start("run", name="second")
            server.pinned_hours = OUT_FOR_DELIVERY
            await wait_for(lambda: sent_count(tmp_path, "out_for_delivery") == 2,
                           what="out for delivery sent after restart")
            server.pinned_hours = DELIVERED
            await wait_for(lambda: sent_count(tmp_path, "delivered") == 2, what="delivered sent after restart")
            second.terminate()
            assert await second.wait() == 0, second.stderr()
            printed = daemons.stdout()
            for milestone in ("shipped", "out_for_delivery", "delivered"):
                for channel in ("SMS", "EMAIL"):
                    head = f"── {channel} to "
                    lines = [ln for ln in printed.splitlines()
                             if ln.startswith(head) and f"· ORDER-1001 · {milestone} " in ln]
                    assert len(lines) == 1, (milestone, channel, lines)
            rows = query(tmp_path, "select milestone, channel, state from notifications order by id")
            assert sorted(rows) == sorted((m, c, "sent") for m in ("shipped", "out_for_delivery", "delivered")
                                          for c in ("sms", "email"))
    finally:
        await server.close()


async def test_sigterm_returns_leases_and_exits_cleanly(tmp_path):
    daemon_config(tmp_path, **quick_polling(0.2, lease=2))
    async with Daemons(tmp_path) as daemons:
        await register(daemons, "ORDER-2001", "SILENT")
        proc = await daemons.start("run")
        await wait_for(lambda: query(tmp_path, "select count(*) from tracking_events") >= [(1,)], what="a first poll")
        proc.terminate()
        assert await proc.wait() == 0, proc.stderr()
        assert "in-flight work returned to the queue" in proc.stderr()
        assert query(tmp_path, "select count(*) from shipments where lease_owner is not null") == [(0,)]
        assert query(tmp_path, "select count(*) from notifications where state='sending'") == [(0,)]


async def test_second_daemon_on_the_same_sqlite_file_is_refused(tmp_path):
    daemon_config(tmp_path, **quick_polling(0.2, lease=2))
    async with Daemons(tmp_path) as daemons:
        first = await daemons.start("run", name="first")
        await wait_for(lambda: (tmp_path / "tracker.db.lock").exists() and query(tmp_path, "select 1"),
                       what="first daemon")
        second = await daemons.start("run", name="second")
        assert await second.wait() == 2
        err = second.stderr()
        assert f"another tracker daemon (pid {first.pid}) is already running" in err
        assert "PostgreSQL" in err
        assert first.returncode is None  # the first one is unharmed
        first.terminate()
        assert await first.wait() == 0, first.stderr()


async def test_healthz(settings, start_daemon):
    daemon = await start_daemon(settings, web_server=True)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{daemon.port}/healthz") as resp:
            assert resp.status == 200
            body = await resp.json()
    assert body["status"] == "ok" and body["database"] == "ok"


def catches_sigterm(pid: int) -> bool:
    """The process has its own SIGTERM handler installed (Linux: SigCgt in /proc/<pid>/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(caught & (1 << (signal.SIGTERM - 1)))


async def test_sigterm_while_starting_up_stops_cleanly(tmp_path):
    """A stop asked while the daemon is still connecting to its database is a clean exit, not a kill."""
    held: list[asyncio.StreamWriter] = []

    async def black_hole(reader, writer):  # a database host that takes the connection and never answers
        held.append(writer)

    hole = await asyncio.start_server(black_hole, "127.0.0.1", 0)
    port = hole.sockets[0].getsockname()[1]
    try:
        daemon_config(tmp_path, database={"url": f"postgresql://tracker@127.0.0.1:{port}/tracker"})
        async with Daemons(tmp_path) as daemons:
            proc = await daemons.start("run")
            await wait_for(lambda: catches_sigterm(proc.pid), timeout=30, what="the SIGTERM handler")
            await wait_for(lambda: held, timeout=30, what="the daemon connecting to its database")
            proc.terminate()
            assert await proc.wait() == 0, proc.stderr()
            assert "stopped during start-up" in proc.stderr()
    finally:
        for w in held:
            w.close()
        hole.close()
        await hole.wait_closed()
