"""Pure parts of the push sources: status mapping (raw codes kept), webhook parsing and signature checks,
on bodies shaped like shared/reference/carrier-samples (17track_*, aftership_*, easypost_*, ups_trackalert_*)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from tracker.carriers import aftership, easypost, seventeentrack, ups
from tracker.carriers.base import Invalid, NotFoundYet, Status
from tracker.components import load
from tracker.config import ConfigError

TRACK_INFO = {
    "latest_status": {"status": "Delivered", "sub_status": "Delivered_Other", "sub_status_descr": None},
    "latest_event": {"time_iso": "2022-04-04T16:35:22-07:00", "time_utc": "2022-04-04T23:35:22Z",
                     "description": "DELIVERED", "location": "GASQUET, CA, US", "stage": None},
    "time_metrics": {"estimated_delivery_date": {"source": None, "from": None, "to": "2022-04-05T00:00:00-07:00"}},
    "tracking": {"providers": [{"provider": {"key": 100002, "name": "UPS"}, "events": [
        {"time_iso": "2022-04-04T16:35:22-07:00", "time_utc": "2022-04-04T23:35:22Z", "description": "DELIVERED",
         "location": "GASQUET, CA, US", "stage": "Delivered", "sub_status": None},
        {"time_iso": "2022-04-04T08:46:06-07:00", "time_utc": "2022-04-04T15:46:06Z", "description": "Out For Delivery",
         "location": "CRESCENT CITY, CA, US", "stage": "OutForDelivery", "sub_status": "OutForDelivery_Other"},
        {"time_iso": "2022-04-02T01:12:00-07:00", "time_utc": "2022-04-02T08:12:00Z", "description": "Departed",
         "location": "SACRAMENTO, CA, US", "stage": None},
        {"time_iso": "2022-03-28T22:43:08-07:00", "time_utc": "2022-03-29T05:43:08Z", "description": "Label created",
         "location": "", "stage": "InfoReceived"},
    ]}]},
}


def test_17track_push_keeps_raw_statuses_and_offsets():
    body = json.dumps({"event": "TRACKING_UPDATED", "data": {"number": "1z2617v10397725789", "carrier": 100002,
                                                             "track_info": TRACK_INFO}}).encode()
    push = seventeentrack.parse_webhook(body)
    news, = push.news
    assert news.number == "1Z2617V10397725789" and news.carrier_code == "100002" and not news.stopped
    events = sorted(news.result.events, key=lambda e: e.occurred_at)
    assert [(e.status, e.raw_code) for e in events] == [
        (Status.INFO_RECEIVED, "InfoReceived"), (Status.IN_TRANSIT, "-"),
        (Status.OUT_FOR_DELIVERY, "OutForDelivery_Other"), (Status.DELIVERED, "Delivered")]
    assert events[-1].utc_offset_minutes == -420
    assert news.result.expected_delivery.isoformat() == "2022-04-05"
    assert push.event_id == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("status,sub,expected", [
    ("InTransit", "InTransit_CustomsRequiringInformation", Status.EXCEPTION),
    ("DeliveryFailure", "DeliveryFailure_Other", Status.FAILED_ATTEMPT),
    ("Exception", "Exception_Returning", Status.EXCEPTION),
    ("AvailableForPickup", None, Status.AVAILABLE_FOR_PICKUP),
    ("NotFound", "NotFound_Other", Status.PENDING),
    ("Expired", "Expired_Other", Status.EXPIRED),
    ("Sideways", None, Status.UNKNOWN),
])
def test_17track_statuses(status, sub, expected):
    assert seventeentrack.status_of(status, sub) is expected


def test_17track_sign_is_sha256_of_body_slash_key():
    carrier = seventeentrack.SeventeenTrackCarrier(seventeentrack.SeventeenTrackSettings(api_key="KEY"))
    body = b'{"event":"TRACKING_UPDATED"}'
    good = hashlib.sha256(body + b"/KEY").hexdigest()
    assert carrier.verify({"sign": good}, body) is None
    assert "does not match" in carrier.verify({"sign": good}, body + b" ")
    assert carrier.verify({}, body) == "no sign header"


def test_17track_gettrackinfo_rejections_are_typed():
    out = seventeentrack.parse({"code": 0, "data": {"accepted": [], "rejected": [
        {"number": "A1", "error": {"code": -18019902, "message": "does not register"}},
        {"number": "A2", "error": {"code": -18019903, "message": "carrier cannot be detected"}}]}})
    assert isinstance(out["A1"], NotFoundYet) and isinstance(out["A2"], Invalid)


AS_MSG = {"tracking_number": "1234567890", "slug": "acscourier", "tag": "OutForDelivery", "subtag": "OutForDelivery_001",
          "signed_by": None, "latest_estimated_delivery": {"type": "specific", "datetime": "2022-07-06"},
          "checkpoints": [{"checkpoint_time": "2018-07-31T10:33:00-04:00", "message": "Shipment information sent",
                           "tag": "InfoReceived", "subtag": "InfoReceived_001", "location": None, "city": "ATHENS",
                           "country_iso3": "GRC"},
                          {"checkpoint_time": "2018-08-01T08:00:00+03:00", "message": "Out for delivery",
                           "tag": "OutForDelivery", "subtag": "OutForDelivery_001", "location": "ATHENS"}]}


def test_aftership_webhook_and_signature():
    body = json.dumps({"event": "tracking_update", "event_id": "4c5b6a2e-0000-4000-8000-000000000001",
                       "is_tracking_first_tag": True, "ts": 1533800000, "msg": AS_MSG}).encode()
    push = aftership.parse_webhook(body)
    assert push.event_id.startswith("4c5b6a2e") and push.sent_at.timestamp() == 1533800000
    news, = push.news
    assert news.carrier_code == "acscourier"
    assert [(e.status, e.raw_code) for e in news.result.events] == [
        (Status.INFO_RECEIVED, "InfoReceived_001"), (Status.OUT_FOR_DELIVERY, "OutForDelivery_001")]
    assert news.result.events[0].location == "ATHENS, GRC"
    assert news.result.expected_delivery.isoformat() == "2022-07-06"
    carrier = aftership.AfterShipCarrier(aftership.AfterShipSettings(webhook_secret="s3cret"))
    good = base64.b64encode(hmac.new(b"s3cret", body, hashlib.sha256).digest()).decode()
    assert carrier.verify({"aftership-hmac-sha256": good}, body) is None
    assert carrier.verify({"aftership-hmac-sha256": good}, body[:-1]) is not None
    assert aftership.status_of("AttemptFail", "AttemptFail_003") is Status.FAILED_ATTEMPT
    assert aftership.status_of("Teleported") is Status.UNKNOWN


def test_aftership_other_events_carry_no_news():
    body = json.dumps({"event": "edd_revise", "event_id": "e1", "ts": 1, "msg": AS_MSG}).encode()
    assert aftership.parse_webhook(body).news == []
    with pytest.raises(ValueError):
        aftership.parse_webhook(b'{"event": "tracking_update"}')


EP_EVENT = {"description": "tracker.updated", "mode": "production", "created_at": "2024-08-02T19:26:52.000Z",
            "id": "evt_1", "object": "Event", "result": {
                "id": "trk_1", "object": "Tracker", "tracking_code": "1", "status": "in_transit",
                "status_detail": "arrived_at_facility", "carrier": "FedEx", "est_delivery_date": "2024-08-05T00:00:00Z",
                "tracking_details": [
                    {"message": "Shipment information sent to FedEx", "status": "pre_transit",
                     "status_detail": "label_created", "datetime": "2024-07-31T15:00:00Z",
                     "tracking_location": {"city": None, "state": None, "country": "US", "zip": "32837"}},
                    {"message": "Picked up", "status": "in_transit", "status_detail": "arrived_at_facility",
                     "datetime": "2024-07-31T19:27:00Z",
                     "tracking_location": {"city": "ORLANDO", "state": "FL", "country": "US", "zip": "32809"}},
                    {"message": "Delivery attempted", "status": "failure", "status_detail": "failed_attempt",
                     "datetime": "2024-08-02T19:00:00Z", "tracking_location": {}}]}}


def test_easypost_event_and_nfkd_signature():
    body = json.dumps(EP_EVENT).encode()
    push = easypost.parse_webhook(body)
    news, = push.news
    assert push.event_id == "evt_1" and news.carrier_code == "FedEx"
    assert [e.status for e in news.result.events] == [Status.INFO_RECEIVED, Status.IN_TRANSIT, Status.FAILED_ATTEMPT]
    assert news.result.events[1].raw_code == "in_transit/arrived_at_facility"
    secret = "s\ufb01cret"  # "ﬁ" ligature: EasyPost signs with the NFKD form "sficret"
    carrier = easypost.EasyPostCarrier(easypost.EasyPostSettings(webhook_secret=secret))
    good = "hmac-sha256-hex=" + hmac.new(b"sficret", body, hashlib.sha256).hexdigest()
    assert carrier.verify({"X-Hmac-Signature": good}, body) is None
    assert carrier.verify({"x-hmac-signature": good.upper()}, body) is not None


def test_ups_track_alert_events_from_the_reference():
    examples = {
        "1": {"trackingNumber": "1Z204W4R0308071865", "localActivityDate": "20240423", "localActivityTime": "091519",
              "activityLocation": {"city": "Charlotte", "stateProvince": "NC", "postalCode": "30004", "country": "US"},
              "activityStatus": {"type": "I", "code": "OT", "description": "Out for Delivery", "descriptionCode": 17},
              "scheduledDeliveryDate": "20240423", "gmtActivityDate": "20240423", "gmtActivityTime": "131519"},
        "2": {"trackingNumber": "1Z204W4R0308071865", "localActivityDate": "20240423", "localActivityTime": "095004",
              "activityStatus": {"type": "D", "code": "FS", "description": "Delivered", "descriptionCode": 9},
              "gmtActivityDate": "20240423", "gmtActivityTime": "135004", "receivedBy": "John"}}
    ofd = ups.parse_webhook(json.dumps(examples["1"]).encode()).news[0].result
    assert ofd.events[0].status is Status.OUT_FOR_DELIVERY and ofd.events[0].utc_offset_minutes == -240
    assert ofd.expected_delivery.isoformat() == "2024-04-23" and ofd.events[0].location == "Charlotte, NC, US"
    done = ups.parse_webhook(json.dumps(examples["2"]).encode()).news[0].result
    assert done.events[0].status is Status.DELIVERED and done.signed_by == "John"
    carrier = ups.UPSCarrier(ups.UPSSettings(track_alert=True, track_alert_credential="abc"))
    assert carrier.verify({"credential": "abc"}, b"{}") is None
    assert carrier.verify({"credential": "abd"}, b"{}") == "the credential header does not match"


@pytest.mark.parametrize("text,message", [
    ("sources:\n  default: ups\ncarriers:\n  ups: {}\n", "sources.default: 'ups' is not a configured aggregator"),
    ("sources:\n  routes:\n    acs: 17track\n", "sources.routes.acs: source '17track' is not configured"),
    ("carriers:\n  ups: {}\nsources:\n  routes:\n    jadlog: ups\n", "'ups' tracks only its own parcels"),
    ("carriers:\n  17track: {}\nsources:\n  routes:\n    nosuch: 17track\n", "unknown carrier 'nosuch'"),
])
def test_bad_source_config_names_the_key_line_and_fix(text, message):
    with pytest.raises(ConfigError) as err:
        load("config.yaml", text=text)
    assert message in str(err.value) and "config.yaml:" in str(err.value) and "Fix:" in str(err.value)
