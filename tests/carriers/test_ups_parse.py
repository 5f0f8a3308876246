from datetime import date, datetime, timezone

import pytest

from tests.carriers.fixtures import load
from tracker.carriers.base import AuthFailed, NotFoundYet, Status
from tracker.carriers.ups import parse, status_of

N = "1Z4W8E1Y0369451279"


def test_in_transit_keeps_utc_and_offset_and_expected_date():
    result = parse(load("ups", "in_transit"))[N]
    events = sorted(result.events, key=lambda e: e.occurred_at)
    assert [e.status for e in events] == [Status.INFO_RECEIVED, Status.IN_TRANSIT, Status.IN_TRANSIT,
                                         Status.OUT_FOR_DELIVERY]
    first, last = events[0], events[-1]
    assert first.occurred_at == datetime(2026, 3, 3, 14, 12, tzinfo=timezone.utc) and first.utc_offset_minutes == -300
    assert last.occurred_at == datetime(2026, 3, 5, 15, 15, tzinfo=timezone.utc) and last.utc_offset_minutes == -420
    # gmtTime comes without its leading zero ("60100" is 06:01:00)
    assert events[2].occurred_at == datetime(2026, 3, 5, 6, 1, tzinfo=timezone.utc)
    assert last.location == "DENVER, CO, US" and last.raw_code == "I/OT"
    assert result.expected_delivery == date(2026, 3, 5)
    assert result.latest.status is Status.OUT_FOR_DELIVERY


def test_delivered_with_proof():
    result = parse(load("ups", "delivered"))[N]
    assert result.latest.status is Status.DELIVERED
    assert result.signed_by == "MARTINEZ"
    # "D" also covers "loaded on delivery vehicle": that one is out for delivery, not delivered
    assert sorted(result.events, key=lambda e: e.occurred_at)[0].status is Status.OUT_FOR_DELIVERY


def test_failed_attempt_then_return_is_an_exception():
    result = parse(load("ups", "exception"))[N]
    assert [e.status for e in sorted(result.events, key=lambda e: e.occurred_at)] == [
        Status.FAILED_ATTEMPT, Status.EXCEPTION]


def test_access_point_is_available_for_pickup_with_location():
    result = parse(load("ups", "access_point"))[N]
    assert result.latest.status is Status.AVAILABLE_FOR_PICKUP
    assert result.pickup_location == "LAKEWOOD, CO, US"


@pytest.mark.parametrize("name", ["not_found", "invalid_inquiry"])
def test_unknown_number_is_not_found_yet(name):
    result = parse(load("ups", name), N)
    assert isinstance(result[N], NotFoundYet)


def test_auth_error_raises():
    with pytest.raises(AuthFailed):
        parse(load("ups", "auth_error"), N)


def test_unknown_code_is_unknown_not_in_transit():
    result = parse(load("ups", "unknown_code"))[N]
    assert [e.status for e in result.events] == [Status.UNKNOWN]
    assert result.latest is None


@pytest.mark.parametrize("raw,status", [
    ({"type": "M", "code": "MP"}, Status.INFO_RECEIVED),
    ({"type": "MV", "code": "MV", "description": "Shipment voided"}, Status.EXCEPTION),
    ({"type": "I", "code": "OR", "description": "Origin Scan"}, Status.IN_TRANSIT),
    ({"type": "I", "code": "DP", "description": "Departed from Facility"}, Status.IN_TRANSIT),
    ({"type": "U", "code": "UD", "description": "Updated delivery date"}, Status.IN_TRANSIT),
    ({"type": "D", "code": "F4", "description": "DELIVERED"}, Status.DELIVERED),
    ({"type": "D", "code": "FS", "description": "Delivered"}, Status.DELIVERED),
    ({"type": "I", "code": "OT", "description": "Out for Delivery"}, Status.OUT_FOR_DELIVERY),
    ({"type": "D", "code": "X1", "description": "Out For Delivery Today"}, Status.OUT_FOR_DELIVERY),
    ({"type": "X", "code": "X9", "description": "Weather delay"}, Status.EXCEPTION),
    ({"type": "X", "code": "SR", "description": "Your package was released by the customs agency."},
     Status.IN_TRANSIT),
    ({"type": "RS", "code": "R1", "description": "Returned to shipper"}, Status.EXCEPTION),
])
def test_status_vocabulary(raw, status):
    assert status_of(raw) is status


@pytest.mark.parametrize("desc,status", [
    ("DELIVERED TO UPS ACCESS POINT", Status.AVAILABLE_FOR_PICKUP),
    ("The package was picked up from the UPS Access Point by the receiver", Status.DELIVERED),
])
def test_access_point_wording(desc, status):
    assert status_of({"type": "D", "code": "A7", "description": desc}) is status


def test_current_status_without_activity_is_kept():
    result = parse(load("ups", "status_without_scans"), "1Z4W8E1Y0369451279")["1Z4W8E1Y0369451279"]
    assert result.events == [] and result.carrier_status is Status.IN_TRANSIT


def test_multi_package_answer_gives_the_number_asked_its_least_advanced_package():
    asked = "1Z4W8E1Y0369451279"
    result = parse(load("ups", "multi_package"), asked)
    assert set(result) == {asked, "1Z4W8E1Y0369451280", "1Z4W8E1Y0369451291"}
    assert result[asked].number == asked
    assert result[asked].latest.status is Status.IN_TRANSIT      # one of the two boxes is still on its way
    assert result["1Z4W8E1Y0369451291"].latest.status is Status.DELIVERED
