"""EasyPost Trackers: a tracker per number, every change pushed as an Event.

Docs: https://docs.easypost.com/docs/trackers, https://docs.easypost.com/docs/webhooks
      (signature check as easypost-python's `Util.validate_webhook`).

`POST /v2/trackers` `{"tracker":{"tracking_code","carrier"?}}` with HTTP Basic (API key as user); no
carrier: EasyPost detects it. The polling fallback lists `GET /v2/trackers?tracking_codes[]=...`.
Webhooks: an Event `{"object":"Event","id":"evt_...","description":"tracker.updated","result":<Tracker>}`,
header `X-Hmac-Signature: hmac-sha256-hex=<hex HMAC-SHA256(NFKD(webhook secret), raw body)>`.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from tracker.carriers.base import (
    CarrierError,
    CarrierSettings,
    Invalid,
    NotFoundYet,
    Push,
    PushNews,
    Status,
    Temporary,
    TrackingEvent,
    TrackingResult,
)
from tracker.carriers.catalog import CATALOG
from tracker.carriers.common import date_of, from_iso, place, text
from tracker.carriers.pushing import Aggregator, hmac_sha256, json_call, json_object, verify_header

PRODUCTION_URL = "https://api.easypost.com/v2"

STATUS_MAP: dict[str, Status] = {
    "unknown": Status.PENDING,
    "pre_transit": Status.INFO_RECEIVED,
    "in_transit": Status.IN_TRANSIT,
    "out_for_delivery": Status.OUT_FOR_DELIVERY,
    "delivered": Status.DELIVERED,
    "available_for_pickup": Status.AVAILABLE_FOR_PICKUP,
    "return_to_sender": Status.EXCEPTION,
    "failure": Status.EXCEPTION,
    "cancelled": Status.EXCEPTION,
}
# status_detail values sharper than their status.
DETAIL_MAP: dict[str, Status] = {
    "failed_attempt": Status.FAILED_ATTEMPT,
    "arrived_at_pickup_location": Status.AVAILABLE_FOR_PICKUP,
    "damaged": Status.EXCEPTION, "lost": Status.EXCEPTION, "refused": Status.EXCEPTION,
    "delivery_exception": Status.EXCEPTION, "transit_exception": Status.EXCEPTION,
}


class EasyPostSettings(CarrierSettings):
    api_key: str = ""
    webhook_secret: str = ""
    push: bool = True
    replay_window_seconds: float = Field(4 * 24 * 3600, gt=0,
                                          description="older events (their created_at) are refused; above "
                                                      "EasyPost's retry horizon (24 h)")


def status_of(status: str | None, detail: str | None = None) -> Status:
    if detail and detail in DETAIL_MAP:
        return DETAIL_MAP[detail]
    return STATUS_MAP.get(status or "", Status.UNKNOWN)


def tracker(number: str, t: dict[str, Any]) -> TrackingResult:
    """Pure: one EasyPost Tracker -> our result (raw status/status_detail kept as each event's code)."""
    events = []
    for d in t.get("tracking_details") or []:
        if not isinstance(d, dict) or not d.get("datetime"):
            continue
        try:
            when, off = from_iso(d["datetime"])
        except ValueError:
            continue
        loc = d.get("tracking_location") or {}
        code = "/".join(x for x in (text(d.get("status")), text(d.get("status_detail"))) if x)
        events.append(TrackingEvent(
            occurred_at=when, status=status_of(d.get("status"), d.get("status_detail")), raw_code=code or "-",
            raw_text=text(d.get("message") or d.get("description")),
            location=place(loc.get("city"), loc.get("state"), loc.get("country")), utc_offset_minutes=off))
    current = status_of(t.get("status"), t.get("status_detail"))
    return TrackingResult(number=number, events=events, expected_delivery=date_of(t.get("est_delivery_date")),
                          signed_by=text(t.get("signed_by")) or None,
                          carrier_status=current if current is not Status.UNKNOWN else None)


def parse(body: Any, numbers: Sequence[str] = ()) -> dict[str, TrackingResult | CarrierError]:
    if not isinstance(body, dict):
        raise Temporary("EasyPost: reply is not a JSON object")
    found = body.get("trackers") if isinstance(body.get("trackers"), list) else [body] if body.get("tracking_code") else []
    out: dict[str, TrackingResult | CarrierError] = {}
    for t in found:
        if isinstance(t, dict) and t.get("tracking_code"):
            number = text(t["tracking_code"]).upper()
            out[number] = tracker(number, t)
    for n in numbers:
        out.setdefault(n, NotFoundYet(f"{n} has no EasyPost tracker yet"))
    return out


def parse_webhook(body: bytes) -> Push:
    data = json_object(body, "EasyPost")
    result = data.get("result")
    if data.get("object") != "Event" or not data.get("id") or not isinstance(result, dict):
        raise ValueError("EasyPost: expected an Event {object: Event, id, description, result: <Tracker>}")
    sent = None
    if data.get("created_at"):
        try:
            sent = from_iso(data["created_at"])[0]
        except ValueError as exc:
            raise ValueError(f"EasyPost: created_at {exc}; send the event's ISO 8601 time") from None
    if not str(data.get("description", "")).startswith("tracker.") or not result.get("tracking_code"):
        return Push(event_id=text(data["id"]), sent_at=sent)
    number = text(result["tracking_code"]).upper()
    return Push(event_id=text(data["id"]), sent_at=sent,
                news=[PushNews(number, tracker(number, result), carrier_code=text(result.get("carrier")) or None)])


def signature(body: bytes, secret: str) -> str:
    key = unicodedata.normalize("NFKD", secret)
    return "hmac-sha256-hex=" + hmac_sha256(key, body).hex()


class EasyPostCarrier(Aggregator):
    name = "easypost"
    display_name = "EasyPost"
    production_url = PRODUCTION_URL
    Settings = EasyPostSettings
    batch_size = 20
    subscribe_batch = 1
    rate_per_second = 5.0
    code_field = "easypost"

    async def _call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        self.require("api_key")
        basic = base64.b64encode(f"{self.settings.api_key}:".encode()).decode()
        return await json_call(self, method, path, label="EasyPost",
                               headers={"Authorization": f"Basic {basic}", "Content-Type": "application/json"},
                               **kwargs)

    async def track(self, numbers: Sequence[str]) -> dict[str, TrackingResult | CarrierError]:
        status, body = await self._call("GET", "/trackers", params=[("tracking_codes[]", n) for n in numbers])
        if status != 200:
            raise Temporary(f"EasyPost: unexpected HTTP {status}")
        return parse(body, numbers)

    async def subscribe(self, items: Sequence[tuple[str, str | None]]) -> dict[str, str | CarrierError]:
        out: dict[str, str | CarrierError] = {}
        for number, carrier in items:
            payload: dict[str, Any] = {"tracking_code": number}
            info = CATALOG.get(carrier or "")
            if info and info.easypost:
                payload["carrier"] = info.easypost
            status, body = await self._call("POST", "/trackers", data=json.dumps({"tracker": payload}))
            if status in (200, 201) and isinstance(body, dict):
                out[number] = text(body.get("carrier"))
            elif status in (400, 422) and isinstance(body, dict):
                err = body.get("error") or {}
                out[number] = Invalid(f"EasyPost refused {number}: {text(err.get('code'))} {text(err.get('message'))}")
            else:
                raise Temporary(f"EasyPost: creating a tracker failed (HTTP {status})")
        return out

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        secret = self.settings.webhook_secret
        return verify_header(headers, "X-Hmac-Signature", secret, "carriers.easypost.webhook_secret",
                             lambda: signature(body, secret))

    def parse_push(self, body: bytes) -> Push:
        return parse_webhook(body)
