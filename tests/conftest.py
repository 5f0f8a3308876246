from __future__ import annotations

import os
import random
import uuid
from datetime import datetime, timezone

import pytest

from tests.helpers import make_settings
from tracker.clock import FakeClock

PG_ADMIN_DSN = os.environ.get("TRACKER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc))


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture
async def fakes(clock):
    """The fake Twilio and SendGrid on the test's clock: (twilio, sendgrid)."""
    from tests.messaging_env import fake_providers

    async with fake_providers(clock) as both:
        yield both


@pytest.fixture
async def start_daemon(clock):
    """Start daemons on a fake clock (no web server unless asked); all are closed at the end."""
    from tracker.app import Daemon

    started = []

    async def start(settings, *, web_server: bool = False, rng_seed: int = 1):
        daemon = Daemon(settings, clock=clock, rng=random.Random(rng_seed))
        await daemon.start(web_server=web_server)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        await daemon.close()


async def _pg_reachable() -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


@pytest.fixture
async def pg_url():
    """A fresh PostgreSQL database for one test, dropped afterwards. Skips where no server is reachable,
    except in CI (CI=true), where PostgreSQL tests must run."""
    import asyncpg

    problem = await _pg_reachable()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required in CI but unreachable: {problem}")
        pytest.skip(f"no PostgreSQL reachable at 127.0.0.1:5432 ({problem}); set TRACKER_TEST_PG to point at one")
    name = f"tracker_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def site(start_daemon, tmp_path):
    """A daemon with its web server and an HTTP client of it (customer pages, forms)."""
    from tests.web_helpers import Client, web_daemon

    daemon = await web_daemon(start_daemon, tmp_path)
    client = Client(daemon)
    yield daemon, client
    await client.close()
