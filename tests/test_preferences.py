"""The customer chooses: a signed preferences form reached from the tracking page (channels, language,
opt out, opt back in) and a one-click unsubscribe (RFC 8058) on every email, both without a login,
both recorded in the history support sees; forged or expired links get 403 and change nothing.
Real SDKs against the fake Twilio and SendGrid, the daemon's real web server."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import add, notifications, walk
from tests.messaging_env import (
    LOCALES,
    messaging_settings,
    point_public_url,
)
from tests.web_helpers import fetch, hidden, preferences_link
from tracker.db import sessionmaker
from tracker.models import Order, PreferenceChange, Suppression

PHONE, EMAIL = "+14155550101", "ana@example.com"


@pytest.fixture
async def daemon(tmp_path, fakes, start_daemon):
    tw, sg = fakes
    d = await start_daemon(messaging_settings(tmp_path, tw, sg), web_server=True)
    point_public_url(d)
    return d


async def state(daemon, number: str):
    async with sessionmaker(daemon.engine)() as session:
        from sqlalchemy import select

        order = (await session.execute(select(Order).where(Order.number == number))).scalar_one()
        suppressed = set((await session.execute(select(Suppression.channel, Suppression.address))).all())
        changes = [c.change for c in (await session.execute(
            select(PreferenceChange).where(PreferenceChange.order_id == order.id)
            .order_by(PreferenceChange.id))).scalars()]
    return order, suppressed, changes


async def test_every_email_has_a_one_click_unsubscribe_that_works_without_login(daemon, fakes, clock):
    from tracker.story import order_story

    tw, sg = fakes
    ship = await add(daemon, "ORDER-U1", "SBX-DELIVER-1")
    await daemon.run_once()
    clock.advance(timedelta(hours=3))
    await daemon.run_once()
    mail = sg.to(EMAIL)[0]
    headers = mail["headers"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(.+)>", headers["List-Unsubscribe"]).group(1)
    assert url.startswith(f"{daemon.settings.server.public_url}/u/{ship.public_token}/email?")
    # a GET (a mail scanner, a preview) shows a button and changes nothing
    status, page, _ = await fetch("GET", url)
    assert status == 200 and "Unsubscribe" in page
    assert (await state(daemon, "ORDER-U1"))[1] == set()
    # the mailbox's one-click POST, exactly as RFC 8058 describes it
    status, page, _ = await fetch("POST", url, data="List-Unsubscribe=One-Click", allow_redirects=False,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and "you will not receive any more emails" in page
    await walk(daemon, clock, 40)
    assert len(sg.to(EMAIL)) == 1  # no more email...
    assert len(tw.to(PHONE)) == 3  # ...while SMS carries on
    notes = {(n.milestone, n.channel): n.state for n in await notifications(daemon.engine, ship.id)}
    assert notes[("delivered", "email")] == "suppressed"
    story = await order_story(daemon.engine, "ORDER-U1", daemon.settings)
    assert "unsubscribe link: opted out of email" in story


@pytest.mark.parametrize("tamper", ["signature", "expired", "channel", "token"])
async def test_a_forged_or_expired_link_gets_403_and_changes_nothing(daemon, fakes, clock, tamper):
    _tw, sg = fakes
    ship = await add(daemon, "ORDER-U2", "SBX-DELIVER-2")
    other = await add(daemon, "ORDER-U3", "SBX-DELIVER-3", email="bob@example.com")
    await daemon.run_once()
    clock.advance(timedelta(hours=3))
    await daemon.run_once()
    unsub = re.fullmatch(r"<(.+)>", sg.to(EMAIL)[0]["headers"]["List-Unsubscribe"]).group(1)
    prefs = await preferences_link(daemon, ship)
    if tamper == "signature":
        unsub, prefs = unsub[:-3] + "AAA", prefs[:-3] + "AAA"
    elif tamper == "expired":
        clock.advance(timedelta(days=400))
    elif tamper == "channel":  # or, for the form, a later expiry than the one signed
        unsub = unsub.replace("/email?", "/sms?")
        prefs = re.sub(r"x=(\d+)", lambda m: f"x={int(m.group(1)) + 86400}", prefs)
    else:  # someone else's parcel with this link's signature
        unsub = unsub.replace(ship.public_token, other.public_token)
        prefs = prefs.replace(ship.public_token, other.public_token)
    status, page, _ = await fetch("POST", unsub, data="List-Unsubscribe=One-Click",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403 and "not valid or has expired" in page
    query = parse_qs(urlsplit(prefs).query)
    assert (await fetch("GET", prefs))[0] == 403
    status, _, _ = await fetch("POST", prefs.split("?")[0], data={
        "x": query["x"][0], "s": query["s"][0], "channel": ["email"], "language": "es"}, allow_redirects=False)
    assert status == 403
    for number in ("ORDER-U2", "ORDER-U3"):
        order, suppressed, changes = await state(daemon, number)
        assert (order.channels, order.locale, suppressed, changes) == ("sms,email", "en", set(), [])


@pytest.mark.parametrize("locale", LOCALES)
async def test_the_customer_changes_channels_and_language_and_hears_exactly_that(daemon, fakes, clock, locale):
    tw, sg = fakes
    ship = await add(daemon, f"ORDER-P-{locale}", "SBX-DELIVER-4", locale=locale)
    link = await preferences_link(daemon, ship)
    status, page, _ = await fetch("GET", link)
    assert status == 200 and f'lang="{locale}"' in page
    title = {"en": "Your messages", "pt-BR": "Suas mensagens", "es": "Tus mensajes", "el": "Τα μηνύματά σας"}
    assert title[locale] in page
    assert 'value="sms" checked' in page and 'value="email" checked' in page
    new_language = "es" if locale != "es" else "pt-BR"
    status, page, _ = await fetch("POST", link.split("?")[0], data={**hidden(page), "channel": "sms",
                                                                     "language": new_language})
    assert status == 200 and 'role="status"' in page  # saved, back on the form in the new language
    assert f'lang="{new_language}"' in page and 'value="email" checked' not in page
    order, suppressed, changes = await state(daemon, f"ORDER-P-{locale}")
    assert order.channels == "sms" and order.locale == new_language
    assert suppressed == {("email", EMAIL)}
    assert changes == [f"opted out of email; channels sms,email -> sms; language {locale} -> {new_language}"]
    await walk(daemon, clock, 40)
    assert sg.to(EMAIL) == []
    bodies = [m["Body"] for m in tw.to(PHONE)]
    assert len(bodies) == 3
    marker = {"es": "pedido", "pt-BR": "pedido"}[new_language]
    assert all(marker in b.lower() for b in bodies)


async def test_opting_back_in_resumes_a_channel_and_support_sees_every_change(daemon, fakes, clock):
    from tracker.story import order_story

    tw, sg = fakes
    ship = await add(daemon, "ORDER-P5", "SBX-DELIVER-5")
    link = await preferences_link(daemon, ship)
    _, page, _ = await fetch("GET", link)
    await fetch("POST", link.split("?")[0], data={**hidden(page), "channel": "email", "language": "en"})
    await daemon.run_once()
    clock.advance(timedelta(hours=3))
    await daemon.run_once()
    assert tw.to(PHONE) == [] and len(sg.to(EMAIL)) == 1
    _, page, _ = await fetch("GET", link)
    assert 'value="sms" checked' not in page
    await fetch("POST", link.split("?")[0], data={**hidden(page), "channel": ["sms", "email"], "language": "en"})
    await walk(daemon, clock, 40)
    assert len(tw.to(PHONE)) == 2  # out for delivery and delivered: news after the opt-in
    story = await order_story(daemon.engine, "ORDER-P5", daemon.settings)
    assert "preferences page: opted out of SMS; channels sms,email -> email" in story
    assert "preferences page: opted back in to SMS; channels email -> sms,email" in story


async def test_an_unknown_language_is_refused_naming_the_field(daemon, fakes, clock):
    ship = await add(daemon, "ORDER-P6", "SBX-DELIVER-6")
    link = await preferences_link(daemon, ship)
    _, page, _ = await fetch("GET", link)
    status, text, _ = await fetch("POST", link.split("?")[0], data={**hidden(page), "channel": "sms",
                                                                     "language": "xx"})
    assert status == 400 and text.startswith("language:") and "Fix:" in text
    order, suppressed, changes = await state(daemon, "ORDER-P6")
    assert (order.channels, order.locale, suppressed, changes) == ("sms,email", "en", set(), [])


async def test_support_sees_the_customers_choices_on_the_order_page(tmp_path, fakes, start_daemon, clock):
    from tests.web_helpers import SUPPORT, Client, support_login

    tw, sg = fakes
    d = await start_daemon(messaging_settings(tmp_path, tw, sg, **SUPPORT), web_server=True)
    point_public_url(d)
    ship = await add(d, "ORDER-P7", "SBX-DELIVER-7")
    link = await preferences_link(d, ship)
    _, page, _ = await fetch("GET", link)
    await fetch("POST", link.split("?")[0], data={**hidden(page), "channel": "sms", "language": "el"})
    client = Client(d)
    try:
        status, _ = await support_login(client)
        status, page, _ = await client.request("GET", "/support/order?number=ORDER-P7")
    finally:
        await client.close()
    assert status == 200
    choices = re.search(r'<ul class="preference-changes">(.*?)</ul>', page, re.S).group(1)
    assert "preferences page: opted out of email; channels sms,email -&gt; sms; language en -&gt; el" in choices


async def _suppress(daemon, channel: str, address: str, reason: str) -> None:
    """A suppression as the SendGrid Event Webhook, a STOP reply or a dead number leaves it."""
    async with sessionmaker(daemon.engine)() as session, session.begin():
        session.add(Suppression(channel=channel, address=address, reason=reason, created_at=daemon.clock.now()))


@pytest.mark.parametrize("channel, address, reason, note", [
    ("email", EMAIL, "sendgrid bounce", "could not be delivered"),
    ("email", EMAIL, "sendgrid spamreport", "could not be delivered"),
    ("email", EMAIL, "sendgrid unsubscribe", "could not be delivered"),
    ("sms", PHONE, "replied STOP", "reply START"),
    ("sms", PHONE, "Twilio 21211: invalid 'To' phone number", "could not be delivered"),
])
async def test_ticking_a_channel_again_never_lifts_a_bounce_a_spam_report_or_a_stop(daemon, fakes, channel, address,
                                                                                     reason, note):
    ship = await add(daemon, "ORDER-L1", "SBX-DELIVER-1")
    await _suppress(daemon, channel, address, reason)
    link = await preferences_link(daemon, ship)
    _, page, _ = await fetch("GET", link)
    assert re.search(rf'value="{channel}"[^>]* disabled', page) and note in page
    # a crafted POST ticking it anyway (the browser would not send a disabled box)
    status, page, _ = await fetch("POST", link.split("?")[0], data={**hidden(page), "channel": ["sms", "email"],
                                                                     "language": "en"})
    assert status == 200
    order, suppressed, changes = await state(daemon, "ORDER-L1")
    assert (channel, address) in suppressed and order.channels == "sms,email"
    assert not any("opted back in" in c for c in changes)


async def test_the_customers_own_opt_out_is_lifted_and_a_bounce_on_the_other_channel_kept(daemon, fakes):
    ship = await add(daemon, "ORDER-L2", "SBX-DELIVER-2")
    await _suppress(daemon, "email", EMAIL, "sendgrid bounce")
    link = await preferences_link(daemon, ship)
    _, page, _ = await fetch("GET", link)
    await fetch("POST", link.split("?")[0], data={**hidden(page), "language": "en"})  # SMS unticked: opted out
    assert (await state(daemon, "ORDER-L2"))[1] == {("sms", PHONE), ("email", EMAIL)}
    _, page, _ = await fetch("GET", link)
    await fetch("POST", link.split("?")[0], data={**hidden(page), "channel": ["sms", "email"], "language": "en"})
    order, suppressed, changes = await state(daemon, "ORDER-L2")
    assert suppressed == {("email", EMAIL)}
    assert changes[-1].startswith("opted back in to SMS")
