from datetime import date, datetime, timezone

import pytest

from tests.carriers.fixtures import load
from tracker.carriers.base import AuthFailed, NotFoundYet, RateLimited, Status
from tracker.carriers.dhl import parse, status_of

N = "1234567806"


def test_in_transit_with_offsets_and_expected_date():
    result = parse(load("dhl", "in_transit"), N)[N]
    events = sorted(result.events, key=lambda e: e.occurred_at)
    assert [e.status for e in events] == [Status.INFO_RECEIVED, Status.IN_TRANSIT, Status.IN_TRANSIT,
                                         Status.OUT_FOR_DELIVERY]
    assert events[1].occurred_at == datetime(2026, 3, 4, 9, 5, tzinfo=timezone.utc)
    assert events[1].utc_offset_minutes == 60
    # DHL sent a local time with no zone: read at the offset of the nearest scan that states one (Berlin)
    assert events[0].utc_offset_minutes == 60
    assert events[0].occurred_at == datetime(2026, 3, 4, 7, 0, tzinfo=timezone.utc)
    assert result.expected_delivery == date(2026, 3, 5)


def test_delivered_with_proof():
    result = parse(load("dhl", "delivered"), N)[N]
    assert result.latest.status is Status.DELIVERED and result.signed_by == "Ines Pereira"


def test_failure_attempt_pickup_and_refusal():
    number = "JJD000390007801234567"
    result = parse(load("dhl", "exception"), number)[number]
    events = sorted(result.events, key=lambda e: e.occurred_at)
    assert [e.status for e in events] == [Status.FAILED_ATTEMPT, Status.AVAILABLE_FOR_PICKUP, Status.EXCEPTION]
    assert result.pickup_location == "Bonn, 53113, DE"


def test_404_is_not_found_yet():
    assert isinstance(parse(load("dhl", "not_found"), N, 404)[N], NotFoundYet)


def test_401_raises_auth_failed():
    with pytest.raises(AuthFailed):
        parse(load("dhl", "auth_error"), N, 401)


def test_429_raises_rate_limited():
    with pytest.raises(RateLimited):
        parse(load("dhl", "rate_limit"), N, 429)


def test_unknown_codes_are_unknown():
    result = parse(load("dhl", "unknown_code"), N)[N]
    assert [e.status for e in result.events] == [Status.UNKNOWN, Status.UNKNOWN]


@pytest.mark.parametrize("code,text,status", [
    ("pre-transit", "The instruction data for this shipment have been provided by the sender", Status.INFO_RECEIVED),
    ("transit", "Arrived at Sort Facility HONG KONG - HONG KONG", Status.IN_TRANSIT),
    ("transit", "The shipment has been loaded onto the delivery vehicle", Status.OUT_FOR_DELIVERY),
    ("transit", "Out for delivery", Status.OUT_FOR_DELIVERY),
    ("delivered", "Delivered", Status.DELIVERED),
    ("failure", "Clearance delay", Status.EXCEPTION),
    ("Failure", "Delivery attempted; recipient not home", Status.FAILED_ATTEMPT),
    ("Unknown", "", Status.UNKNOWN),
])
def test_status_vocabulary(code, text, status):
    assert status_of(code, text) is status


def test_status_word_stands_in_for_a_missing_status_code():
    assert status_of(None, "delivered", "Delivered") is Status.DELIVERED


def test_times_without_offset_are_local_to_the_events_country():
    result = parse(load("dhl", "local_times"), "00340434161094042557")["00340434161094042557"]
    by_text = {e.location: e for e in result.events}
    hamburg = by_text["Hamburg, DE"]
    assert hamburg.occurred_at == datetime(2026, 7, 17, 7, 12, tzinfo=timezone.utc)   # 09:12 in Germany (CEST)
    assert hamburg.utc_offset_minutes == 120
    # no country on the scan: the shipment runs inside Germany
    assert by_text["Obertshausen"].occurred_at == datetime(2026, 7, 16, 18, 5, tzinfo=timezone.utc)
    assert by_text["Bonn, DE"].occurred_at == datetime(2026, 7, 16, 6, 30, tzinfo=timezone.utc)  # had its offset


def test_time_without_offset_in_a_country_of_several_zones_borrows_a_nearby_scans_offset():
    result = parse(load("dhl", "local_times_multizone"), "1234567806")["1234567806"]
    latest = result.latest
    assert latest.occurred_at == datetime(2026, 3, 5, 14, 45, tzinfo=timezone.utc)   # 07:45 in Denver (-07:00)
    assert latest.utc_offset_minutes == -420
