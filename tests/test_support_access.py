"""The support console's login throttle and logout hold: counted atomically in the database, per user name
and source address, across daemons; no reset by floods under other names; a logout ends the session."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import insert

from tests.helpers import make_settings
from tests.web_helpers import (
    PASSWORD,
    SUPPORT,
    Client,
    csrf_of,
    support_login,
    web_daemon,
)
from tracker import support_access
from tracker.db import sessionmaker
from tracker.models import SupportLoginThrottle


class ClientFrom(Client):
    """A client whose connections come from another loopback address (another "place")."""

    def __init__(self, daemon, address: str) -> None:
        self.base, self.key = f"http://127.0.0.1:{daemon.port}", None
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             connector=aiohttp.TCPConnector(local_addr=(address, 0)))


@pytest.fixture
async def console(start_daemon, tmp_path):
    return await web_daemon(start_daemon, tmp_path, **SUPPORT)


async def test_thirty_in_flight_wrong_passwords_are_each_counted(console):
    clients = [Client(console) for _ in range(30)]
    try:
        async def two_guesses(c):
            return [(await support_login(c, password=f"guess {i}"))[0] for i in range(2)]

        statuses = [s for pair in await asyncio.gather(*(two_guesses(c) for c in clients)) for s in pair]
    finally:
        for c in clients:
            await c.close()
    assert statuses.count(401) == support_access.MAX_PER_PLACE  # only 10 of 60 passwords were checked
    assert statuses.count(429) == 60 - support_access.MAX_PER_PLACE


async def test_floods_under_other_names_do_not_lift_a_lock(console):
    c = Client(console)
    try:
        for _ in range(10):
            assert (await support_login(c, password="guess"))[0] == 401
        now = console.clock.now()
        # 10,002 failed attempts under other names (written at once: one by one takes a minute) ...
        async with sessionmaker(console.engine)() as s, s.begin():
            await s.execute(insert(SupportLoginThrottle), [
                dict(user=f"user{i}", source="127.0.0.1", attempts=1, window_start=now) for i in range(10_002)])
        # ... and more through the login form, each pruning what has expired
        for i in range(3):
            assert (await support_login(c, user=f"other{i}", password="guess"))[0] == 401
        assert await support_access.reserve_attempt(console.engine, "user10003", "127.0.0.1", now)
        status, html = await support_login(c)
        assert status == 429 and "Too many failed attempts" in html
    finally:
        await c.close()


async def test_a_locked_out_user_still_logs_in_from_their_usual_place(console, clock):
    usual = ClientFrom(console, "127.0.0.2")
    attacker = Client(console)
    elsewhere = ClientFrom(console, "127.0.0.3")
    try:
        assert (await support_login(usual))[0] == 200  # maria's desk
        for _ in range(11):
            await support_login(attacker, password="guess")
        assert (await support_login(attacker))[0] == 429  # that place is locked for maria
        # guesses spread over many addresses lock maria out of every place but her usual ones
        for i in range(support_access.MAX_PER_USER):
            await support_access.reserve_attempt(console.engine, "maria", f"10.0.0.{i}", clock.now())
        assert (await support_login(elsewhere))[0] == 429
        usual2 = ClientFrom(console, "127.0.0.2")
        try:
            status, html = await support_login(usual2)
            assert status == 200 and "Find an order" in html
        finally:
            await usual2.close()
        clock.advance(timedelta(minutes=16))  # the window passes: the lock lifts by itself
        assert (await support_login(attacker))[0] == 200
    finally:
        for c in (usual, attacker, elsewhere):
            await c.close()


async def test_logout_ends_the_session_on_the_server(console):
    c = Client(console)
    try:
        await support_login(c)
        cookie = next(m for m in c.session.cookie_jar if m.key == "tracker_support").value
        _, html, _ = await c.request("GET", "/support")
        status, _, resp = await c.request("POST", "/support/logout", data={"csrf": csrf_of(html)})
        assert status == 200 and resp.url.path == "/support/login"
    finally:
        await c.close()
    replay = Client(console)
    try:
        replay.session.cookie_jar.update_cookies({"tracker_support": cookie})
        status, html, resp = await replay.request("GET", "/support")
        assert resp.url.path == "/support/login" and "Find an order" not in html
    finally:
        await replay.close()


@pytest.mark.postgres
async def test_two_daemons_on_postgresql_share_the_throttle(pg_url, start_daemon, tmp_path):
    daemons = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        daemons.append(await start_daemon(make_settings(
            tmp_path / name, database_url=pg_url, server={"enabled": False, "port": 0, "host": "127.0.0.1"},
            **SUPPORT), web_server=True))
    a, b = (Client(d) for d in daemons)
    try:
        statuses = [(await support_login(a, password="guess"))[0] for _ in range(6)]
        statuses += [(await support_login(b, password="guess"))[0] for _ in range(4)]
        assert statuses == [401] * 10
        assert (await support_login(b, password=PASSWORD))[0] == 429
        assert (await support_login(a, password=PASSWORD))[0] == 429
    finally:
        await a.close()
        await b.close()


async def test_api_key_logins_are_throttled_per_key(console):
    """Wrong keys from one address use up their own attempts, not the real key's: it still logs in; the
    same wrong key is refused once it has used up its attempts."""
    from tests.web_helpers import api_key

    key = await api_key(console, "shop")
    client = Client(console)
    try:
        for i in range(support_access.MAX_PER_PLACE + 5):  # a different wrong key each time
            status, _ = await support_login(client, "", f"trk_{'x' * 40}{i:03d}")
            assert status == 401
        wrong = "trk_" + "y" * 43
        codes = [(await support_login(client, "", wrong))[0] for _ in range(support_access.MAX_PER_PLACE + 1)]
        assert codes == [401] * support_access.MAX_PER_PLACE + [429]
        status, page = await support_login(client, "", key)
        assert status == 200, page[:300]
    finally:
        await client.close()
