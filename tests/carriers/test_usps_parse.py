from datetime import date, datetime, timezone

import pytest

from tests.carriers.fixtures import load
from tracker.carriers.base import AuthFailed, NotFoundYet, Status
from tracker.carriers.usps import parse, status_of

N = "9400111899223100001113"


def test_in_transit_uses_gmt_timestamps_and_keeps_offsets():
    result = parse(load("usps", "in_transit"))[N]
    events = sorted(result.events, key=lambda e: e.occurred_at)
    assert [e.status for e in events] == [Status.INFO_RECEIVED, Status.IN_TRANSIT, Status.IN_TRANSIT,
                                         Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY]
    assert events[-1].occurred_at == datetime(2026, 3, 5, 13, 20, 12, tzinfo=timezone.utc)
    assert events[-1].utc_offset_minutes == -360 and events[0].utc_offset_minutes == -300
    assert events[-1].location == "AUSTIN, TX, 78701"
    assert result.expected_delivery == date(2026, 3, 5)
    assert result.carrier_status is Status.OUT_FOR_DELIVERY


def test_delivered_with_proof():
    result = parse(load("usps", "delivered"))[N]
    assert result.latest.status is Status.DELIVERED and result.signed_by == "R OKAFOR"


def test_exception_failed_attempt_and_pickup():
    result = parse(load("usps", "exception"))[N]
    assert {e.raw_code: e.status for e in result.events} == {
        "09": Status.EXCEPTION, "02": Status.FAILED_ATTEMPT, "16": Status.AVAILABLE_FOR_PICKUP}
    assert result.pickup_location == "AUSTIN, TX, 78701"


def test_not_found_is_pending():
    assert isinstance(parse(load("usps", "not_found"), N, 404)[N], NotFoundYet)


def test_auth_error_raises():
    with pytest.raises(AuthFailed):
        parse(load("usps", "auth_error"), N, 401)


def test_unknown_code_without_gmt_uses_local_time_and_offset():
    result = parse(load("usps", "unknown_code"))[N]
    (event,) = result.events
    assert event.status is Status.UNKNOWN
    assert event.occurred_at == datetime(2026, 3, 5, 13, 20, tzinfo=timezone.utc) and event.utc_offset_minutes == -360


@pytest.mark.parametrize("code,text,status", [
    ("GX", "Shipping Label Created, USPS Awaiting Item", Status.INFO_RECEIVED),
    ("MA", "Pre-Shipment Info Sent to USPS", Status.INFO_RECEIVED),
    ("03", "USPS in possession of item", Status.IN_TRANSIT),
    ("10", "Arrived at USPS Regional Origin Facility", Status.IN_TRANSIT),
    ("TL", "In Transit to Next Facility", Status.IN_TRANSIT),
    ("SF", "Departed Post Office", Status.IN_TRANSIT),
    ("OF", "Out for Delivery", Status.OUT_FOR_DELIVERY),
    ("01", "Delivered", Status.DELIVERED),
    ("17", "Picked Up by Agent", Status.DELIVERED),
    ("43", "Picked Up", Status.DELIVERED),
    ("16", "Available for Pickup", Status.AVAILABLE_FOR_PICKUP),
    ("55", "Delivery Attempted - No Access to Delivery Location", Status.FAILED_ATTEMPT),
    ("04", "Refused", Status.EXCEPTION),
    ("21", "No Such Number", Status.EXCEPTION),
    ("9Z", "Delivered, In/At Mailbox", Status.DELIVERED),       # a code we do not list: its words decide
    ("8Q", "Held at Post Office, At Customer Request", Status.AVAILABLE_FOR_PICKUP),
    ("7X", "Seen by a raccoon", Status.UNKNOWN),
])
def test_status_vocabulary(code, text, status):
    assert status_of(code, text) is status


def test_delivered_category_without_scans_is_kept():
    result = parse(load("usps", "status_without_scans"), "9400111899223100001113")["9400111899223100001113"]
    assert result.events == [] and result.carrier_status is Status.DELIVERED
