"""Exactly once, with the provider as ground truth: a send interrupted at the worst moment (the provider
took the message, the daemon never heard) is recorded in doubt, looked up at Twilio by whichever daemon
takes the row next, and never sent twice; an email in doubt waits for SendGrid's own `processed` event;
an outcome the database refuses is kept and written later, never handed back for sending.

Each daemon here is in-process on a pinned clock; "killing" one cancels its dispatcher while the
provider's reply is on its way, which loses everything the process held in memory, as SIGKILL would.
tests/test_chaos.py does the same with real processes and SIGKILL."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta

import pytest

from tests.fakes._base import Fault
from tests.fakes.tcp_proxy import TcpProxy
from tests.helpers import add, metric, notifications
from tests.messaging_env import messaging_settings, point_public_url
from tracker.components import load as load_config
from tracker.config import ConfigError
from tracker.dispatcher import Dispatcher

PHONE, EMAIL = "+14155550101", "ana@example.com"


async def queue(daemon, order: str, milestone: str = "shipped", channel: str = "sms"):
    """One shipment with one due notification, as the poller would have written it."""
    from tracker.db import sessionmaker
    from tracker.models import Notification

    ship = await add(daemon, order, f"SBX-SILENT-{order}", email=EMAIL, phone=PHONE)
    now = daemon.clock.now()
    async with sessionmaker(daemon.engine)() as session, session.begin():
        session.add(Notification(shipment_id=ship.id, order_id=ship.order_id, milestone=milestone, channel=channel,
                                 state="queued", next_attempt_at=now, created_at=now, updated_at=now))
    return ship


def other_daemon(daemon, owner: str) -> Dispatcher:
    """A second daemon's dispatcher on the same database and providers (nothing shared in memory)."""
    d = daemon.dispatcher
    return Dispatcher(engine=daemon.engine, settings=daemon.settings, channels=d.channels, renderer=d.renderer,
                      carrier_names=d.carrier_names, clock=daemon.clock, owner=owner)


async def killed_in_flight(dispatcher: Dispatcher, provider) -> None:
    """Run a tick and kill it the moment the provider has taken the message, before its reply arrives."""
    task = asyncio.ensure_future(dispatcher.tick())
    provider.on_accept = lambda message: task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    provider.on_accept = None


@pytest.fixture
async def env(tmp_path, fakes, start_daemon):
    tw, sg = fakes

    async def start(database_url: str | None = None, **extra):
        settings = messaging_settings(tmp_path, tw, sg, **extra)
        if database_url:
            settings.database.url = database_url
        daemon = await start_daemon(settings, web_server=True)
        point_public_url(daemon)
        return daemon

    return start


async def test_sms_in_flight_when_its_daemon_dies_is_looked_up_by_the_next_not_sent_again(env, fakes, clock):
    tw, _ = fakes
    daemon = await env()
    ship = await queue(daemon, "O-1")
    await killed_in_flight(daemon.dispatcher, tw)
    assert len(tw.to(PHONE)) == 1
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.handed_at is not None) == ("sending", True)

    clock.advance(daemon.settings.dispatcher.lease_seconds + 1)
    second = other_daemon(daemon, "second")
    assert await second.tick() == 1
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.doubt, note.provider_id) == ("sent", "found", tw.to(PHONE)[0]["sid"])
    assert len(tw.to(PHONE)) == 1 and tw.lookups == 1
    clock.advance(3600)
    assert await second.tick() == 0 and len(tw.to(PHONE)) == 1


async def test_sms_whose_daemon_died_before_twilio_took_it_is_sent_once(env, fakes, clock):
    tw, _ = fakes
    daemon = await env()
    ship = await queue(daemon, "O-2")
    tw.latency = 30  # the request is on its way and never arrives before the "kill"
    task = asyncio.ensure_future(daemon.dispatcher.tick())
    while tw.hits == 0:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    tw.latency = 0
    assert tw.to(PHONE) == []

    clock.advance(daemon.settings.dispatcher.lease_seconds + 1)
    assert await other_daemon(daemon, "second").tick() == 1
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.doubt) == ("sent", "absent")
    assert len(tw.to(PHONE)) == 1


async def test_twilio_5xx_after_taking_the_sms_is_looked_up_and_its_retry_after_honoured(env, fakes, clock):
    tw, _ = fakes
    daemon = await env()
    ship = await queue(daemon, "O-3")
    tw.inject(Fault(503, "<html>busy</html>", {"Retry-After": "120"}, accept=True))  # took it, then failed
    await daemon.dispatcher.tick()
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.doubt) == ("queued", "in_doubt")
    assert note.next_attempt_at == clock.now() + timedelta(seconds=120)
    clock.advance(119)
    assert await other_daemon(daemon, "second").tick() == 0  # Retry-After is honoured on 5xx too
    clock.advance(2)
    assert await other_daemon(daemon, "third").tick() == 1
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.doubt) == ("sent", "found")
    assert len(tw.to(PHONE)) == 1


async def test_email_in_doubt_is_settled_by_sendgrids_processed_event_not_sent_again(env, fakes, clock):
    _, sg = fakes
    daemon = await env()
    ship = await queue(daemon, "O-4", channel="email")
    sg.lose_reply_next(500)
    await daemon.dispatcher.tick()
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.doubt) == ("queued", "in_doubt")
    assert len(sg.to(EMAIL)) == 1

    clock.advance(60)
    assert await daemon.dispatcher.tick() == 1  # retried: waits for SendGrid's word, sends nothing
    assert len(sg.to(EMAIL)) == 1
    r = await sg.send_events(f"{daemon.settings.server.public_url}/webhooks/sendgrid/events",
                             [sg.event(sg.mails[0], "processed")])
    assert r.status == 204
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.doubt) == ("sent", "found")
    clock.advance(3600)
    await daemon.dispatcher.tick()
    assert len(sg.to(EMAIL)) == 1


async def test_email_in_doubt_without_an_event_is_sent_again_and_counted(env, fakes, clock):
    _, sg = fakes
    daemon = await env()
    ship = await queue(daemon, "O-5", channel="email")
    sg.lose_reply_next(502)
    await daemon.dispatcher.tick()
    clock.advance(daemon.settings.dispatcher.email_doubt_wait_seconds + 1)
    while await daemon.dispatcher.tick() == 0:
        clock.advance(60)
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.doubt) == ("sent", "resent")
    assert len(sg.to(EMAIL)) == 2  # the one duplicate the README admits: SendGrid offers no lookup
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{daemon.settings.server.public_url}/metrics") as r:
            text = await r.text()
    assert metric(text, "tracker_notifications_resent_in_doubt", channel="email") == 1


async def test_outcome_refused_by_sqlite_is_kept_and_written_later_never_resent(env, fakes, clock, tmp_path):
    tw, _ = fakes
    daemon = await env()
    ship = await queue(daemon, "O-6")
    db = tmp_path / "tracker.db"

    def refuse_writes(message):  # the database breaks the instant Twilio has the SMS
        with sqlite3.connect(db, timeout=30) as conn:
            conn.execute("CREATE TRIGGER full BEFORE UPDATE ON notifications WHEN NEW.state = 'sent' "
                         "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")

    tw.on_accept = refuse_writes
    await daemon.dispatcher.tick()
    tw.on_accept = None
    [note] = await notifications(daemon.engine, ship.id)
    assert note.state == "sending" and len(tw.to(PHONE)) == 1
    clock.advance(daemon.settings.dispatcher.lease_seconds + 1)
    assert await daemon.dispatcher.tick() == 0  # claims nothing while its outcome is unwritten
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute("DROP TRIGGER full")
    await daemon.dispatcher.tick()
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.provider_id) == ("sent", tw.to(PHONE)[0]["sid"])
    clock.advance(3600)
    await daemon.dispatcher.tick()
    assert len(tw.to(PHONE)) == 1 and tw.lookups == 0


async def test_outcome_lost_with_the_postgres_connection_is_written_when_it_is_back(env, fakes, clock, pg_url):
    tw, _ = fakes
    host, rest = pg_url.split("@", 1)[1].split(":", 1)
    port, name = rest.split("/", 1)
    async with TcpProxy(host, int(port)) as proxy:
        daemon = await env(database_url=f"{pg_url.split('@')[0]}@127.0.0.1:{proxy.port}/{name}")
        ship = await queue(daemon, "O-7")
        tw.on_accept = lambda message: proxy.cut()
        await daemon.dispatcher.tick()
        tw.on_accept = None
        assert proxy.cuts == 1 and len(tw.to(PHONE)) == 1
        assert await daemon.dispatcher.tick() == 0  # the database is still away: nothing claimed, nothing sent
        proxy.restore()
        clock.advance(8)
        await daemon.dispatcher.tick()
        [note] = await notifications(daemon.engine, ship.id)
        assert (note.state, note.provider_id) == ("sent", tw.to(PHONE)[0]["sid"])
        clock.advance(3600)
        await daemon.dispatcher.tick()
        assert len(tw.to(PHONE)) == 1


def test_a_lease_too_short_for_the_provider_timeout_is_refused_naming_both_keys(tmp_path):
    text = """
channels: {sms: {provider: twilio}}
dispatcher: {lease_seconds: 20}
providers:
  twilio: {account_sid: AC11111111111111111111111111111111, auth_token: t, from_number: "+15005550006",
           timeout_seconds: 10}
"""
    with pytest.raises(ConfigError) as err:
        load_config(text=text)
    message = str(err.value)
    assert "dispatcher.lease_seconds" in message and "providers.twilio.timeout_seconds" in message
    assert "Fix:" in message


async def test_near_the_end_of_its_lease_a_row_is_handed_over_only_by_its_owner(env, clock):
    from tracker.db import sessionmaker
    from tracker.models import Notification

    daemon = await env()
    ship = await queue(daemon, "O-8")
    [note_id] = await daemon.dispatcher.claim(clock.now(), 10)
    clock.advance(daemon.settings.dispatcher.lease_seconds - 5)  # the shared commit is not safe any more
    async with sessionmaker(daemon.engine)() as session:
        note = await session.get(Notification, note_id)
    assert not await other_daemon(daemon, "second")._hand_over(note, "d" * 64, None)
    assert await daemon.dispatcher._hand_over(note, "d" * 64, None)
    [note] = await notifications(daemon.engine, ship.id)
    assert note.handed_at == clock.now() and note.body_digest == "d" * 64
    assert note.leased_until == clock.now() + timedelta(seconds=daemon.settings.dispatcher.lease_seconds)


def refuse_sent_writes(db):
    """The database breaks the instant the provider has the message (for every daemon)."""
    def refuse(message):
        with sqlite3.connect(db, timeout=30) as conn:
            conn.execute("CREATE TRIGGER IF NOT EXISTS full BEFORE UPDATE ON notifications "
                         "WHEN NEW.state = 'sent' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    return refuse


def comes_back(db):
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute("DROP TRIGGER full")


async def cut_past_the_lease(daemon, sg, clock, db):
    """Daemon A sends an email, the database is cut before A records it and stays away past the lease;
    B re-claims the row (in doubt), waits for SendGrid's event that never comes, and decides to resend."""
    ship = await queue(daemon, "O-9", channel="email")
    first = daemon.dispatcher
    sg.on_accept = refuse_sent_writes(db)
    await first.tick()
    sg.on_accept = None
    assert first._unwritten and len(sg.to(EMAIL)) == 1
    comes_back(db)  # the database answers again, but A has not written yet
    clock.advance(daemon.settings.dispatcher.lease_seconds + 1)
    return ship, first


async def test_database_cut_past_the_lease_the_second_daemon_does_not_send_once_the_first_wrote_sent(
        env, fakes, clock, tmp_path):
    _, sg = fakes
    daemon = await env()
    ship, first = await cut_past_the_lease(daemon, sg, clock, tmp_path / "tracker.db")

    class Second(Dispatcher):
        async def _hand_over(self, note, digest, doubt):
            await first.flush_unwritten()  # A writes "sent" between B's claim and B's hand-over
            return await super()._hand_over(note, digest, doubt)

    d = daemon.dispatcher
    second = Second(engine=daemon.engine, settings=daemon.settings, channels=d.channels, renderer=d.renderer,
                    carrier_names=d.carrier_names, clock=clock, owner="second")
    assert await second.tick() == 1  # in doubt: waits for SendGrid's word
    clock.advance(daemon.settings.dispatcher.email_doubt_wait_seconds + 1)
    assert await second.tick() == 1  # decides to resend, loses the row at its hand-over: sends nothing
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.provider_id, note.resent_in_doubt) == ("sent", sg.mails[0]["_message_id"], 0)
    assert len(sg.to(EMAIL)) == 1
    clock.advance(3600)
    await second.tick()
    await first.tick()
    assert len(sg.to(EMAIL)) == 1


async def test_a_send_outcome_for_a_row_recorded_meanwhile_with_another_message_is_counted(
        env, fakes, clock, tmp_path):
    import aiohttp

    _, sg = fakes
    daemon = await env()
    ship, first = await cut_past_the_lease(daemon, sg, clock, tmp_path / "tracker.db")

    class Second(Dispatcher):
        async def _record_sent(self, note_id, provider, provider_id, doubt=None):
            await first.flush_unwritten()  # A writes "sent" while B's resend is at SendGrid
            return await super()._record_sent(note_id, provider, provider_id, doubt)

    d = daemon.dispatcher
    second = Second(engine=daemon.engine, settings=daemon.settings, channels=d.channels, renderer=d.renderer,
                    carrier_names=d.carrier_names, clock=clock, owner="second")
    await second.tick()
    clock.advance(daemon.settings.dispatcher.email_doubt_wait_seconds + 1)
    assert await second.tick() == 1
    assert len(sg.to(EMAIL)) == 2  # the duplicate this race can still make (SendGrid has no lookup) ...
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.provider_id) == ("sent", sg.mails[0]["_message_id"])
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{daemon.settings.server.public_url}/metrics") as r:
            text = await r.text()
    assert metric(text, "tracker_notifications_duplicates", channel="email") == 1  # ... is counted
    assert metric(text, "tracker_notifications_resent_in_doubt", channel="email") == 1


async def test_a_twilio_status_callback_for_a_second_message_of_one_notification_is_counted(env, fakes, clock):
    import aiohttp

    tw, _ = fakes
    daemon = await env()
    ship = await queue(daemon, "O-10")
    await daemon.dispatcher.tick()
    [note] = await notifications(daemon.engine, ship.id)
    [sms] = tw.to(PHONE)
    ghost = {**sms, "sid": "SM" + "f" * 32}  # a second message Twilio took for the same notification
    for message in (sms, ghost, ghost):
        assert (await tw.status_callback(message, "delivered")).status == 204
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{daemon.settings.server.public_url}/metrics") as r:
            text = await r.text()
    assert metric(text, "tracker_notifications_duplicates", channel="sms") == 1
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.provider_id) == ("delivered", sms["sid"])


async def whatsapp_env(env, tw):
    from tests.messaging_env import template_sids, whatsapp_sections

    return await env(**whatsapp_sections(tw, template_sids(["shipped"])))


async def test_whatsapp_template_in_flight_when_its_daemon_dies_is_found_by_its_template_text(env, fakes, clock):
    tw, _ = fakes
    daemon = await whatsapp_env(env, tw)
    ship = await queue(daemon, "O-W1", channel="whatsapp")
    await killed_in_flight(daemon.dispatcher, tw)
    [message] = tw.to(f"whatsapp:{PHONE}")
    assert message["ContentSid"] and "Body" not in message  # a template, listed by Twilio with its own text
    clock.advance(daemon.settings.dispatcher.lease_seconds + 1)
    assert await other_daemon(daemon, "second").tick() == 1
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.doubt, note.provider_id) == ("sent", "found", message["sid"])
    assert len(tw.to(f"whatsapp:{PHONE}")) == 1 and tw.lookups == 1
    assert tw.content_fetches == 1  # the template's body is read once, then kept


async def test_whatsapp_5xx_after_twilio_took_it_is_found_not_sent_again(env, fakes, clock):
    tw, _ = fakes
    daemon = await whatsapp_env(env, tw)
    ship = await queue(daemon, "O-W2", channel="whatsapp")
    tw.lose_reply_next(502)
    await daemon.dispatcher.tick()
    clock.advance(3600)
    await daemon.dispatcher.tick()
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.doubt) == ("sent", "found")
    assert len(tw.to(f"whatsapp:{PHONE}")) == 1


async def test_whatsapp_in_doubt_listed_without_a_body_is_settled_by_twilios_status_callback(env, fakes, clock):
    tw, _ = fakes
    daemon = await whatsapp_env(env, tw)
    tw.list_template_text = False  # Twilio may list a template message with an empty body
    ship = await queue(daemon, "O-W3", channel="whatsapp")
    await killed_in_flight(daemon.dispatcher, tw)
    [message] = tw.to(f"whatsapp:{PHONE}")
    assert (await tw.status_callback(message, "sent")).status == 204  # the callback URL names the notification
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.provider_id) == ("sent", message["sid"])
    clock.advance(3600)
    await other_daemon(daemon, "second").tick()
    assert len(tw.to(f"whatsapp:{PHONE}")) == 1


async def test_whatsapp_template_the_content_api_cannot_serve_now_is_retried_not_sent(env, fakes, clock):
    tw, _ = fakes
    daemon = await whatsapp_env(env, tw)
    ship = await queue(daemon, "O-W4", channel="whatsapp")
    contents, tw.contents = tw.contents, {}
    await daemon.dispatcher.tick()
    [note] = await notifications(daemon.engine, ship.id)
    assert (note.state, note.handed_at) == ("queued", None) and tw.to(f"whatsapp:{PHONE}") == []
    assert "Content API" in note.error
    tw.contents = contents
    clock.advance(3600)
    await daemon.dispatcher.tick()
    [note] = await notifications(daemon.engine, ship.id)
    assert note.state == "sent" and len(tw.to(f"whatsapp:{PHONE}")) == 1
