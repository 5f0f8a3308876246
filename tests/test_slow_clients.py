"""The web server holds against slow and numerous clients, as a port left open to the internet meets them:
1,100 connections that never finish their headers (more than the 1,024 open files a systemd unit inherits)
leave /healthz answering and the log quiet; idle connections are closed after the header timeout; a body
that trickles gets 408; past server.max_connections new connections get 503, counted, with one log line
when refusing starts and one when it ends. The daemon runs as a real process started with a soft limit of
1,024 open files. How fast /healthz answers meanwhile is measured by bench/slow_clients.py, not here."""

from __future__ import annotations

import asyncio
import re
import resource
import socket
import time

import aiohttp
import pytest

from tests.procs import Daemons, daemon_config

pytestmark = pytest.mark.slow
IDLE = 1100


@pytest.fixture(autouse=True)
def enough_files_for_the_test_itself():
    """This test process holds the idle clients' ends: it needs more than 1,100 descriptors too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * IDLE + 512
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"the hard open-file limit ({hard}) is below the {want} this test needs for its own sockets")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def started(daemons: Daemons, open_files: int = 1024):
    """`tracker run` with the soft open-file limit a systemd unit inherits; (process, web server port)."""
    proc = await daemons.start("run", open_files=open_files)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = re.search(r"web server on http://127\.0\.0\.1:(\d+)", proc.stderr())
        if m:
            return proc, int(m.group(1))
        assert proc.returncode is None, proc.stderr()
        await asyncio.sleep(0.1)
    raise AssertionError(f"the daemon did not start its web server: {proc.stderr()}")


def idle_clients(port: int, n: int) -> list[socket.socket]:
    """n connections that send the start of a request and never finish its headers."""
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        out.append(s)
    return out


async def get(port: int, path: str = "/healthz") -> tuple[int, str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http, \
            http.get(f"http://127.0.0.1:{port}{path}") as resp:
        return resp.status, await resp.text()


def config(tmp_path, **server):
    return daemon_config(tmp_path, server={"enabled": True, "host": "127.0.0.1", "port": 0, **server},
                         logging={"level": "INFO"})


async def test_1100_idle_connections_leave_healthz_answering_without_a_log_flood(tmp_path):
    config(tmp_path, header_timeout_seconds=120)  # the idle clients stay for the whole test
    async with Daemons(tmp_path) as daemons:
        proc, port = await started(daemons)
        before = len(proc.stderr().splitlines())
        clients = idle_clients(port, IDLE)
        try:
            assert (await get(port))[0] == 200
            status, text = await get(port, "/metrics")
            assert status == 200
            open_now = int(re.search(r"^tracker_http_connections_open (\d+)", text, re.M).group(1))
            assert open_now >= IDLE
            assert "tracker_http_connections_refused_total 0" in text
            await asyncio.sleep(1)
        finally:
            for c in clients:
                c.close()
        assert proc.returncode is None
        new_lines = proc.stderr().splitlines()[before:]
        assert len(new_lines) <= 2, new_lines  # no line per connection, no "out of system resource"
        assert not any("out of system resource" in line for line in new_lines)


async def test_idle_connections_are_closed_after_the_header_timeout_and_slow_bodies_get_408(tmp_path):
    config(tmp_path, header_timeout_seconds=1, body_timeout_seconds=1)
    async with Daemons(tmp_path) as daemons:
        proc, port = await started(daemons)
        (idle,) = idle_clients(port, 1)
        idle.settimeout(30)
        assert idle.recv(1024) == b""  # closed by the server, no answer
        idle.close()

        slow = socket.create_connection(("127.0.0.1", port), timeout=30)
        slow.sendall(b"POST /support/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-"
                     b"urlencoded\r\nContent-Length: 100\r\n\r\nusername=a")
        answer = b""
        while chunk := slow.recv(4096):
            answer += chunk
        slow.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"server.body_timeout_seconds" in answer
        assert (await get(port))[0] == 200
        assert proc.returncode is None


async def test_past_the_cap_connections_are_refused_counted_and_logged_once(tmp_path):
    config(tmp_path, max_connections=40, header_timeout_seconds=3)
    async with Daemons(tmp_path) as daemons:
        proc, port = await started(daemons)
        clients = idle_clients(port, 40)
        refused = []
        try:
            await asyncio.sleep(0.5)
            for _ in range(25):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                refused.append(s.recv(4096))
                s.close()
            assert all(r.startswith(b"HTTP/1.1 503") for r in refused), refused[:2]
        finally:
            for c in clients:
                c.close()
        extra, deadline = 0, time.monotonic() + 30  # until the server has noticed the closed clients
        while time.monotonic() < deadline:
            status, text = await get(port, "/metrics")
            if status == 200:
                break
            extra += 1  # refused too, and counted
            await asyncio.sleep(0.2)
        assert status == 200
        assert f"tracker_http_connections_refused_total {25 + extra}" in text
        log = proc.stderr()
        assert log.count("new ones are refused") == 1
        assert log.count(f"accepting connections again; {25 + extra} refused meanwhile") == 1
