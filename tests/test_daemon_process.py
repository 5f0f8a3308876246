"""The daemon as a real process: killed between milestones it resumes without sending anything twice;
SIGTERM gives its work back; a second daemon on the same SQLite file is refused."""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, port: int = 0) -> Path:
    cfg = {
        "database": {"url": "sqlite:///tracker.db"},
        "server": {"port": port},
        # four simulated hours per real second: shipped after ~0.5 s, out for delivery ~7.5 s, delivered ~8.5 s
        "carriers": {"sandbox": {"time_scale": 14400}},
        "poller": {"tick_seconds": 0.2, "lease_seconds": 2, "jitter": 0,
                   "intervals": {k: 0.2 for k in ("pending", "info_received", "in_transit", "out_for_delivery",
                                                  "available_for_pickup", "failed_attempt", "exception")}},
        "dispatcher": {"tick_seconds": 0.2, "lease_seconds": 2},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def tracker(tmp_path: Path, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tracker.cli", "--config", str(tmp_path / "config.yaml"), *args],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def query(tmp_path: Path, sql: str) -> list[tuple]:
    if not (tmp_path / "tracker.db").exists():
        return []
    with sqlite3.connect(f"file:{tmp_path / 'tracker.db'}?mode=ro", uri=True, timeout=10) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []


def wait_for(predicate, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def register(tmp_path: Path, order: str, journey: str) -> None:
    start = str(int(time.time()))
    done = tracker(tmp_path, "add", "--order", order, "--carrier", "sandbox", "--tracking",
                   f"SBX-{journey}-{start}", "--email", "ana@example.com", "--phone", "+14155550101")
    out, err = done.communicate(timeout=60)
    assert done.returncode == 0, err


def test_killed_between_milestones_resumes_and_sends_each_once(tmp_path):
    write_config(tmp_path)
    register(tmp_path, "ORDER-1001", "DELIVER")
    first = tracker(tmp_path, "run")
    try:
        wait_for(lambda: query(tmp_path, "select count(*) from notifications where milestone='shipped' "
                                         "and state='sent'") == [(2,)], what="shipped sent on both channels")
        assert query(tmp_path, "select count(*) from notifications where milestone='delivered'") == [(0,)]
    finally:
        first.send_signal(signal.SIGKILL)
    out1, _ = first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL

    second = tracker(tmp_path, "run")
    try:
        wait_for(lambda: query(tmp_path, "select count(*) from notifications where milestone='delivered' "
                                         "and state='sent'") == [(2,)], what="delivered sent after restart")
    finally:
        second.send_signal(signal.SIGTERM)
    out2, err2 = second.communicate(timeout=30)
    assert second.returncode == 0, err2
    printed = out1 + out2
    for milestone in ("shipped", "out_for_delivery", "delivered"):
        for channel in ("SMS", "EMAIL"):
            head = f"── {channel} to "
            lines = [ln for ln in printed.splitlines() if ln.startswith(head) and f"· ORDER-1001 · {milestone} " in ln]
            assert len(lines) == 1, (milestone, channel, lines)
    rows = query(tmp_path, "select milestone, channel, state from notifications order by id")
    assert sorted(rows) == sorted((m, c, "sent") for m in ("shipped", "out_for_delivery", "delivered")
                                  for c in ("sms", "email"))


def test_sigterm_returns_leases_and_exits_cleanly(tmp_path):
    write_config(tmp_path)
    register(tmp_path, "ORDER-2001", "SILENT")
    proc = tracker(tmp_path, "run")
    try:
        wait_for(lambda: query(tmp_path, "select count(*) from tracking_events") >= [(1,)], what="a first poll")
    finally:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "in-flight work returned to the queue" in err
    assert query(tmp_path, "select count(*) from shipments where lease_owner is not null") == [(0,)]
    assert query(tmp_path, "select count(*) from notifications where state='sending'") == [(0,)]


def test_second_daemon_on_the_same_sqlite_file_is_refused(tmp_path):
    write_config(tmp_path)
    first = tracker(tmp_path, "run")
    try:
        wait_for(lambda: (tmp_path / "tracker.db.lock").exists() and query(tmp_path, "select 1"), what="first daemon")
        time.sleep(0.5)
        second = tracker(tmp_path, "run")
        _, err = second.communicate(timeout=30)
        assert second.returncode == 2
        assert f"another tracker daemon (pid {first.pid}) is already running" in err
        assert "PostgreSQL" in err
        assert first.poll() is None  # the first one is unharmed
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)


async def test_healthz(settings, start_daemon):
    daemon = await start_daemon(settings, web_server=True)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{daemon.port}/healthz") as resp:
            assert resp.status == 200
            body = await resp.json()
    assert body["status"] == "ok" and body["database"] == "ok"
