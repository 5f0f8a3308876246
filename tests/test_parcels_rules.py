"""The pure rules of several parcels, the wait before shipping and moved dates (no IO)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from tracker.carriers.common import time_window
from tracker.carriers.fedex import parse as fedex_parse
from tracker.carriers.ups import parse as ups_parse
from tracker.config import SmsSettings, WatchSettings
from tracker.parcels import Parcel, template_for, view_of
from tracker.watch import View, apology_due, date_moved_due, moved_date, preparing_due

T0 = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.mark.parametrize("parcels,ship,milestone,template", [
    # one parcel: the plain templates
    ([Parcel(1, "delivered", at(1))], 1, "delivered", "delivered"),
    ([Parcel(1, "in_transit")], 1, "shipped", "shipped"),
    # two parcels: which one, and "delivered" for the order only once every parcel is
    ([Parcel(1, "in_transit"), Parcel(2, "pending")], 1, "shipped", "parcel_shipped"),
    ([Parcel(1, "delivered", at(1)), Parcel(2, "in_transit")], 1, "delivered", "parcel_delivered"),
    ([Parcel(1, "delivered", at(1)), Parcel(2, "delivered", at(5))], 2, "delivered", "order_delivered"),
    # delivered together, or this one's note still waiting when the last arrived: the order's message covers it
    ([Parcel(1, "delivered", at(1)), Parcel(2, "delivered", at(5))], 1, "delivered", None),
    ([Parcel(1, "delivered", at(5)), Parcel(2, "delivered", at(5))], 2, "delivered", "order_delivered"),
    # a stopped parcel (cancelled fulfillment) is not waited for
    ([Parcel(1, "delivered", at(1)), Parcel(2, "in_transit", stopped=True)], 1, "delivered", "delivered"),
    # every other piece of news is named with its parcel; the follow-up is about the order
    ([Parcel(1, "exception"), Parcel(2, "in_transit")], 1, "exception", "parcel_exception"),
    ([Parcel(1, "exception"), Parcel(2, "in_transit")], 1, "follow_up", "follow_up"),
])
def test_which_template_a_parcel_message_uses(parcels, ship, milestone, template):
    assert template_for(milestone, view_of(parcels, ship)) == template


def test_parcels_are_numbered_in_registration_order():
    view = view_of([Parcel(7, "in_transit"), Parcel(3, "delivered", at(1)), Parcel(9, "pending")], 7)
    assert (view.index, view.count, view.delivered, view.remaining) == (2, 3, 1, 2)


CFG = WatchSettings(handling_hours=48, preparing_repeat_hours=48, date_moved_repeat_hours=12)


def test_preparing_is_due_after_the_handling_time_and_once_per_period():
    assert not preparing_due(T0, at(47.9), CFG, None)
    assert preparing_due(T0, at(48), CFG, None)
    assert not preparing_due(T0, at(90), CFG, at(48))
    assert preparing_due(T0, at(96), CFG, at(48))
    assert not preparing_due(T0, at(500), WatchSettings(handling_hours=None), None)
    # an order that never ships stops hearing it after watch.expire_after_days (support has the alert)
    assert preparing_due(T0, at(29 * 24), CFG, at(27 * 24))
    assert not preparing_due(T0, at(30 * 24), CFG, at(27 * 24))


def view(**kw) -> View:
    base = dict(id=1, status="in_transit", created_at=T0, first_expected_delivery=date(2026, 3, 4),
                expected_delivery=date(2026, 3, 4))
    return View(**{**base, **kw})


TODAY = date(2026, 3, 3)


def test_a_date_moved_by_a_day_or_more_is_news_once_per_change():
    assert moved_date(view(), TODAY) is None  # unchanged
    assert moved_date(view(expected_delivery=date(2026, 3, 5)), TODAY) == date(2026, 3, 5)  # later
    assert moved_date(view(expected_delivery=date(2026, 3, 3)), TODAY) == date(2026, 3, 3)  # earlier: today
    # already told that date: nothing new
    assert moved_date(view(expected_delivery=date(2026, 3, 5), announced_delivery=date(2026, 3, 5)), TODAY) is None
    # moved back to the first date after the customer heard another: that is a change again
    assert moved_date(view(announced_delivery=date(2026, 3, 5)), TODAY) == date(2026, 3, 4)
    # a date already gone, an out for delivery (it says "today" itself), or no first date: no message
    assert moved_date(view(expected_delivery=date(2026, 3, 1)), TODAY) is None
    assert moved_date(view(status="out_for_delivery", expected_delivery=date(2026, 3, 5)), TODAY) is None
    assert moved_date(view(first_expected_delivery=None, expected_delivery=date(2026, 3, 5)), TODAY) is None


def test_new_dates_are_throttled():
    moved = view(expected_delivery=date(2026, 3, 6), announced_delivery=date(2026, 3, 5))
    assert date_moved_due(moved, TODAY, at(20), CFG, None)
    assert not date_moved_due(moved, TODAY, at(20), CFG, at(9))  # told 11 hours ago: waits
    assert date_moved_due(moved, TODAY, at(21), CFG, at(9))
    assert not date_moved_due(moved, TODAY, at(21), WatchSettings(date_moved=False), None)


def test_no_apology_while_the_customer_knows_a_new_date_still_to_come():
    late = view(expected_delivery=date(2026, 3, 6), announced_delivery=date(2026, 3, 6))
    assert not apology_due(late, date(2026, 3, 5))
    assert apology_due(late, date(2026, 3, 7))
    assert apology_due(view(), date(2026, 3, 5))


@pytest.mark.parametrize("start,end,window", [
    ("140000", "160000", "14:00-16:00"), ("09:30", "11:00", "09:30-11:00"),
    ("2026-03-04T08:00:00", "2026-03-04T12:00:00-06:00", "08:00-12:00"),
    ("160000", "140000", None), ("", "160000", None), ("250000", "260000", None), (None, None, None),
])
def test_time_windows_are_read_from_carrier_times(start, end, window):
    assert time_window(start, end) == window


def ups_reply(delivery_time: dict) -> dict:
    return {"trackResponse": {"shipment": [{"package": [{
        "trackingNumber": "1Z999AA10123456784", "deliveryTime": delivery_time,
        "activity": [{"date": "20260304", "time": "071500", "gmtOffset": "-05:00",
                      "status": {"type": "I", "code": "OF", "description": "Out For Delivery Today"},
                      "location": {"address": {"city": "Atlanta", "countryCode": "US"}}}]}]}]}}


def test_ups_gives_a_window_only_for_window_types():
    [result] = ups_parse(ups_reply({"type": "EDW", "startTime": "140000", "endTime": "160000"})).values()
    assert result.delivery_window == "14:00-16:00"
    [result] = ups_parse(ups_reply({"type": "CMT", "endTime": "103000"})).values()
    assert result.delivery_window is None


def test_fedex_window_within_one_day_is_a_delivery_window():
    reply = {"output": {"completeTrackResults": [{"trackingNumber": "794843185271", "trackResults": [{
        "trackingNumberInfo": {"trackingNumber": "794843185271"},
        "estimatedDeliveryTimeWindow": {"window": {"begins": "2026-03-04T13:00:00-05:00",
                                                   "ends": "2026-03-04T17:00:00-05:00"}},
        "scanEvents": [{"date": "2026-03-04T07:00:00-05:00", "eventType": "OD", "eventDescription": "On FedEx vehicle",
                        "scanLocation": {"city": "ATLANTA", "countryCode": "US"}}]}]}]}}
    [result] = fedex_parse(reply).values()
    assert result.delivery_window == "13:00-17:00"
    several_days = json_copy(reply)
    several_days["output"]["completeTrackResults"][0]["trackResults"][0]["estimatedDeliveryTimeWindow"]["window"][
        "ends"] = "2026-03-06T17:00:00-05:00"
    [result] = fedex_parse(several_days).values()
    assert result.delivery_window is None


def json_copy(data):
    import json
    return json.loads(json.dumps(data))


NEW_TEMPLATES = ["preparing", "order_delivered", "date_moved", "arriving_today",
                 *[f"parcel_{m}" for m in ("shipped", "out_for_delivery", "delivered", "failed_attempt",
                                           "available_for_pickup", "exception", "delayed", "silent")]]


def parcel_context(locale: str, **over) -> dict:
    from tests.test_templates import context

    return context(locale_tag=locale, parcel_index=1, parcel_count=2, parcels_delivered=1, parcels_remaining=1,
                   window_from="14:00", window_to="16:00", later_than_promised=True, **over)


@pytest.mark.parametrize("name", NEW_TEMPLATES)
def test_new_templates_use_the_same_variables_in_every_language(name):
    from jinja2 import meta

    from tracker.notify.render import TEMPLATES, Renderer

    env = Renderer().env
    used = {loc: meta.find_undeclared_variables(env.parse((TEMPLATES / loc / f"{name}.txt.j2").read_text()))
            for loc in ("en", "pt-BR", "es", "el")}
    for loc in ("pt-BR", "es", "el"):
        # Greek SMS of the generic parcel_* templates are their base template's, unnamed (no room in UCS-2)
        expected = used["en"] - {"shop_name"} if loc == "el" and (TEMPLATES / loc / f"{name}.txt.j2").read_text(
            ).count("{% block sms %}") == 0 else used["en"]
        assert used[loc] == expected, (loc, used[loc] ^ expected)


@pytest.mark.parametrize("locale", ["en", "pt-BR", "es", "el"])
@pytest.mark.parametrize("name", NEW_TEMPLATES)
def test_new_templates_render_in_every_language_and_keep_the_link(locale, name):
    from tracker.notify import segments
    from tracker.notify.render import Renderer

    ctx = parcel_context(locale)
    if name == "preparing":
        ctx["tracking_url"] = ""
    out = Renderer().render(name, locale, ctx)
    assert out.locale == locale
    for part in (out.subject, out.sms, out.text, out.html):
        assert "PA-2026-000123" in part and "{{" not in part and "{%" not in part
    assert "\n" not in out.subject
    link = ctx["tracking_url"] or None
    budget = SmsSettings().budget(locale)
    sms = segments.pick([out.sms, out.sms_short], budget)  # as the dispatcher sends it: never cut
    assert segments.info(sms).segments <= budget or sms == out.sms_short, (locale, name, segments.info(sms))
    if link and name not in ("order_delivered",):
        assert link in sms
    if name.startswith("parcel_"):
        assert "2" in out.subject and ("1" in out.subject)  # "parcel 1 of 2", in its language
    if name == "preparing":
        assert 'href=""' not in out.html
