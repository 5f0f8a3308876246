"""Pages that let the customer act (issue 23): after a failed attempt, at a pickup point, once delivered
("report a problem" -> a support case through tracker/problems.py), over real HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.helpers import add, walk
from tracker.db import sessionmaker
from tracker.models import Alert, Case
from tracker.wording import details


def test_carrier_links_are_templated_with_the_tracking_number_and_maps_are_plain_links():
    assert details.reschedule_url("ups", "1Z 999") == "https://www.ups.com/track?loc=en_US&tracknum=1Z%20999"
    assert details.reschedule_url("sandbox", "SBX-1") is None  # a carrier without one: the page says whom to call
    assert details.map_url("ParcelShop, 12 Oak St") == \
        "https://www.openstreetmap.org/search?query=ParcelShop%2C%2012%20Oak%20St"


async def test_failed_attempt_page_says_what_happened_and_how_to_change_the_delivery(site, clock):
    daemon, c = site
    ship = await add(daemon, "A-1", "SBX-FAILED-1", locale="es")
    await walk(daemon, clock, 35)
    status, html, _ = await c.request("GET", f"/t/{ship.public_token}")
    assert status == 200 and 'data-kind="nobody_home"' in html and "No había nadie para recibirlo." in html
    # no rescheduling page known for this carrier: whom to contact instead, in Spanish
    assert "Para cambiar la entrega, contacta con Sandbox Express" in html
    assert "<details class=\"carrier-words\">" in html  # the carrier's English, folded away


async def test_pickup_page_puts_the_deadline_first_then_place_address_and_map(site, clock):
    daemon, c = site
    ship = await add(daemon, "A-2", "SBX-PICKUP-1", locale="pt-BR")
    await walk(daemon, clock, 37)
    status, html, _ = await c.request("GET", f"/t/{ship.public_token}")
    assert status == 200
    pickup = html[html.index('class="card pickup"'):]
    assert pickup.index("Retire até") < pickup.index("Ponto de retirada: ParcelShop")
    assert "<strong>Endereço:</strong> 12 Oak St, Portland, OR" in pickup
    assert 'href="https://www.openstreetmap.org/search?query=ParcelShop%2C%2012%20Oak%20St%2C%20Portland%2C%20OR"' in pickup
    assert "<script" not in html
    # the progress bar's third step is the pickup, not "out for delivery"; no stale expected date
    assert 'aria-current="step">Disponível para retirada</li>' in html and "Previsão de entrega" not in html


async def test_delivered_page_shows_proof_and_a_problem_report_reaches_support(site, clock):
    daemon, c = site
    ship = await add(daemon, "A-3", "SBX-DELIVER-3", locale="el")
    await walk(daemon, clock, 35)
    status, html, _ = await c.request("GET", f"/t/{ship.public_token}")
    assert status == 200 and "Παραλήφθηκε από:</strong> J. DOE" in html
    assert 'data-kind="left_front_door"' in html and "Αφέθηκε στην εξώπορτά σας." in html
    assert f'action="/t/{ship.public_token}/problem"' in html
    status, html, resp = await c.request("POST", f"/t/{ship.public_token}/problem",
                                         data={"kind": "damaged", "message": "Box crushed, call me +30 691 234 5678"})
    assert status == 200 and "Λάβαμε την αναφορά σας" in html  # followed the 303 back to the page
    async with sessionmaker(daemon.engine)() as session:
        [alert] = (await session.execute(select(Alert).where(Alert.cause == "customer_case"))).scalars().all()
        [case] = (await session.execute(select(Case))).scalars().all()
    assert "A-3" in alert.message and "arrived damaged" in alert.message and "Box crushed" in alert.message
    assert "691 234 5678" not in alert.message and alert.shipment_id == ship.id  # the phone is masked
    assert (case.state, case.source, case.reason, case.shipment_id) == ("open", "page", "damaged", ship.id)
    status, html, _ = await c.request("POST", f"/t/{ship.public_token}/problem", data={"kind": "damaged"})
    async with sessionmaker(daemon.engine)() as session:  # sent twice: still one case, one alert
        assert len((await session.execute(select(Case))).scalars().all()) == 1
        assert len((await session.execute(select(Alert).where(Alert.cause == "customer_case"))).scalars().all()) == 1
    status, _, _ = await c.request("POST", f"/t/{ship.public_token}/problem", data={"kind": "<script>"})
    assert status == 400
    status, _, _ = await c.request("POST", "/t/not-a-real-token-at-all/problem", data={"kind": "damaged"})
    assert status == 404


async def test_a_delivered_parcel_of_an_incomplete_order_says_the_order_is_not_complete(site, clock):
    daemon, c = site
    start = int(clock.now().timestamp())
    first = await add(daemon, "A-4", f"SBX-DELIVER-1-{start}", locale="en")
    await add(daemon, "A-4", f"SBX-DELIVER-2-{start + 10 * 3600}", locale="en")
    await walk(daemon, clock, 36)
    _, html, _ = await c.request("GET", f"/t/{first.public_token}")
    assert "Your order: 1 of 2 parcels delivered" in html
