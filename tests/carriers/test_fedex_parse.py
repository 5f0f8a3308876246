from datetime import date, datetime, timezone

import pytest

from tests.carriers.fixtures import load
from tracker.carriers.base import AuthFailed, NotFoundYet, RateLimited, Status
from tracker.carriers.fedex import build_request, parse, status_of

N = "123456789012"


def test_in_transit_reads_the_scan_type_before_the_derived_code():
    result = parse(load("fedex", "in_transit"))[N]
    events = sorted(result.events, key=lambda e: e.occurred_at)
    assert [e.status for e in events] == [Status.INFO_RECEIVED, Status.IN_TRANSIT, Status.IN_TRANSIT,
                                         Status.OUT_FOR_DELIVERY]  # OD scan although derived "IT"
    assert events[-1].occurred_at == datetime(2026, 3, 5, 15, 41, tzinfo=timezone.utc)
    assert events[-1].utc_offset_minutes == -480 and events[0].utc_offset_minutes == -300
    assert events[-1].location == "SEATTLE, WA, US"
    assert result.expected_delivery == date(2026, 3, 5)


def test_delivered_with_proof():
    result = parse(load("fedex", "delivered"))[N]
    assert result.latest.status is Status.DELIVERED and result.signed_by == "K.NAKAMURA"


def test_exceptions_failed_attempt_and_pickup():
    result = parse(load("fedex", "exception"))[N]
    by_code = {e.raw_code: e.status for e in result.events}
    assert by_code == {"SE": Status.EXCEPTION, "DE": Status.FAILED_ATTEMPT, "HP": Status.AVAILABLE_FOR_PICKUP}
    assert result.pickup_location == "1500 4TH AVE"
    assert "Package damaged" in next(e.raw_text for e in result.events if e.raw_code == "SE")


def test_not_found_is_per_number_in_a_mixed_reply():
    result = parse(load("fedex", "not_found"))
    assert isinstance(result["612345678905"], NotFoundYet)
    assert result[N].latest.status is Status.IN_TRANSIT


def test_auth_error_raises():
    with pytest.raises(AuthFailed):
        parse(load("fedex", "auth_error"))


def test_rate_limit_body_raises():
    with pytest.raises(RateLimited):
        parse(load("fedex", "rate_limit"))


def test_unknown_code_is_unknown():
    result = parse(load("fedex", "unknown_code"))[N]
    assert [e.status for e in result.events] == [Status.UNKNOWN] and result.events[0].utc_offset_minutes == 540


@pytest.mark.parametrize("code,status", [
    ("OC", Status.INFO_RECEIVED), ("PU", Status.IN_TRANSIT), ("IT", Status.IN_TRANSIT), ("AR", Status.IN_TRANSIT),
    ("DP", Status.IN_TRANSIT), ("AF", Status.IN_TRANSIT), ("AO", Status.IN_TRANSIT), ("RL", Status.IN_TRANSIT),
    ("OD", Status.OUT_FOR_DELIVERY), ("DL", Status.DELIVERED), ("DE", Status.EXCEPTION), ("SE", Status.EXCEPTION),
    ("CA", Status.EXCEPTION), ("RS", Status.EXCEPTION), ("HP", Status.AVAILABLE_FOR_PICKUP),
    ("HL", Status.AVAILABLE_FOR_PICKUP), ("DY", Status.EXCEPTION),
])
def test_status_vocabulary(code, status):
    assert status_of(code, None) is status
    assert status_of(None, code) is status


def test_request_batches_numbers():
    body = build_request(["A1", "B2"])
    assert body["includeDetailedScans"] is True
    assert [i["trackingNumberInfo"]["trackingNumber"] for i in body["trackingInfo"]] == ["A1", "B2"]


def test_a_scan_with_an_unreadable_time_is_skipped_not_fatal():
    payload = load("fedex", "delivered")
    scans = payload["output"]["completeTrackResults"][0]["trackResults"][0]["scanEvents"]
    scans.append(dict(scans[0], date="yesterday-ish", eventType="PU"))
    result = parse(payload)[N]
    assert [e.raw_code for e in result.events] == ["DL"]


def test_delivered_status_without_scans_is_a_delivery_at_its_time():
    result = parse(load("fedex", "status_without_scans"))[N]
    assert result.latest.status is Status.DELIVERED
    assert result.latest.occurred_at == datetime(2026, 3, 6, 18, 15, tzinfo=timezone.utc)
    assert result.latest.utc_offset_minutes == -480 and result.latest.location == "PORTLAND, OR, US"


def test_scans_beside_an_error_object_win():
    result = parse(load("fedex", "scans_with_error"))[N]
    assert not isinstance(result, Exception)
    assert [e.raw_code for e in sorted(result.events, key=lambda e: e.occurred_at)] == ["PU", "IT"]
    assert result.latest.status is Status.IN_TRANSIT
