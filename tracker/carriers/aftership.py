"""AfterShip Tracking API: trackings created once, every change pushed to our webhook.

Docs: https://www.aftership.com/docs/tracking/2025-07/api/create-a-tracking
      https://www.aftership.com/docs/tracking/2025-07/webhook/webhook-specifications

`POST /tracking/2025-07/trackings` with header `as-api-key` and a flat body `{tracking_number, slug?}`
(no slug: AfterShip detects the courier); meta.code 4003 "already exists" is no error. The polling
fallback lists `GET /trackings?tracking_numbers=a,b`. Replies are `{"meta":{"code"},"data":...}` where
`data` is the tracking, or (older versions) `{"tracking": ...}` / `{"trackings": [...]}`.
Webhooks: `{ts, event, event_id, msg: <tracking>}`, header `aftership-hmac-sha256` =
base64(HMAC-SHA256(webhook secret, raw body)).
"""

from __future__ import annotations

import base64
import json
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
from tracker.carriers.common import date_of, from_epoch, from_iso, place, text
from tracker.carriers.pushing import Aggregator, hmac_sha256, json_call, json_object, verify_header

PRODUCTION_URL = "https://api.aftership.com/tracking/2025-07"

STATUS_MAP: dict[str, Status] = {
    "Pending": Status.PENDING,
    "InfoReceived": Status.INFO_RECEIVED,
    "InTransit": Status.IN_TRANSIT,
    "OutForDelivery": Status.OUT_FOR_DELIVERY,
    "AttemptFail": Status.FAILED_ATTEMPT,
    "Delivered": Status.DELIVERED,
    "AvailableForPickup": Status.AVAILABLE_FOR_PICKUP,
    "Exception": Status.EXCEPTION,
    "Expired": Status.EXPIRED,
}
ALREADY_EXISTS = 4003
NOT_FOUND = 4004
INVALID = {4005, 4010, 4012, 4017}


class AfterShipSettings(CarrierSettings):
    api_key: str = ""
    webhook_secret: str = ""
    push: bool = True
    replay_window_seconds: float = Field(4 * 24 * 3600, gt=0,
                                          description="older webhooks (their ts) are refused; above "
                                                      "AfterShip's retry horizon (14 tries over ~68 h)")


def status_of(tag: str | None, subtag: str | None = None) -> Status:
    family = (subtag or "").split("_", 1)[0] or (tag or "")
    return STATUS_MAP.get(family, STATUS_MAP.get(tag or "", Status.UNKNOWN))


def tracking(number: str, t: dict[str, Any]) -> TrackingResult:
    """Pure: one AfterShip tracking -> our result (raw tag/subtag kept as each event's code)."""
    events = []
    for cp in t.get("checkpoints") or []:
        if not isinstance(cp, dict) or not cp.get("checkpoint_time"):
            continue
        try:
            when, off = from_iso(cp["checkpoint_time"])
        except ValueError:
            continue
        events.append(TrackingEvent(
            occurred_at=when, status=status_of(cp.get("tag"), cp.get("subtag")),
            raw_code=text(cp.get("subtag")) or text(cp.get("tag")) or "-", raw_text=text(cp.get("message")),
            location=text(cp.get("location")) or place(cp.get("city"), cp.get("state"), cp.get("country_iso3")),
            utc_offset_minutes=off))
    eta = None
    for key in ("latest_estimated_delivery", "aftership_estimated_delivery_date"):
        value = t.get(key)
        if isinstance(value, dict):
            eta = date_of(value.get("datetime") or value.get("estimated_delivery_date") or value.get("datetime_max"))
        if eta:
            break
    eta = eta or date_of(t.get("expected_delivery"))
    current = status_of(t.get("tag"), t.get("subtag"))
    return TrackingResult(number=number, events=events, expected_delivery=eta,
                          signed_by=text(t.get("signed_by")) or None,
                          carrier_status=current if current is not Status.UNKNOWN else None)


def _trackings(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        return []
    if isinstance(data.get("trackings"), list):
        return [t for t in data["trackings"] if isinstance(t, dict)]
    if isinstance(data.get("tracking"), dict):
        return [data["tracking"]]
    return [data] if data.get("tracking_number") else []


def parse(body: Any, numbers: Sequence[str] = ()) -> dict[str, TrackingResult | CarrierError]:
    """Pure: a GET /trackings reply -> results by number; numbers asked for but absent are not known yet."""
    if not isinstance(body, dict) or not isinstance(body.get("meta"), dict):
        raise Temporary("AfterShip: reply has no meta")
    out: dict[str, TrackingResult | CarrierError] = {}
    for t in _trackings(body.get("data")):
        number = text(t.get("tracking_number")).upper()
        out[number] = tracking(number, t)
    for n in numbers:
        out.setdefault(n, NotFoundYet(f"{n} is not a tracking at AfterShip yet"))
    return out


def parse_webhook(body: bytes) -> Push:
    data = json_object(body, "AfterShip")
    msg = data.get("msg")
    if not isinstance(msg, dict) or not data.get("event_id"):
        raise ValueError("AfterShip: expected {event, event_id, ts, msg: <tracking>}")
    if isinstance(msg.get("tracking"), dict):
        msg = msg["tracking"]
    sent = None
    if data.get("ts") is not None:
        try:
            sent = from_epoch(data["ts"])
        except ValueError as exc:
            raise ValueError(f"AfterShip: ts {exc}; send the event's Unix time in seconds") from None
    if data.get("event") != "tracking_update" or not msg.get("tracking_number"):
        return Push(event_id=text(data["event_id"]), news=[], sent_at=sent)  # edd_revise etc.: nothing to apply
    number = text(msg["tracking_number"]).upper()
    return Push(event_id=text(data["event_id"]), sent_at=sent,
                news=[PushNews(number, tracking(number, msg), carrier_code=text(msg.get("slug")) or None)])


def signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac_sha256(secret, body)).decode()


class AfterShipCarrier(Aggregator):
    name = "aftership"
    display_name = "AfterShip"
    production_url = PRODUCTION_URL
    Settings = AfterShipSettings
    batch_size = 50
    subscribe_batch = 1
    rate_per_second = 5.0  # GET /trackings is limited to 6 a second
    code_field = "aftership"

    async def _call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        self.require("api_key")
        return await json_call(self, method, path, label="AfterShip",
                               headers={"as-api-key": self.settings.api_key, "Content-Type": "application/json"},
                               **kwargs)

    async def track(self, numbers: Sequence[str]) -> dict[str, TrackingResult | CarrierError]:
        status, body = await self._call("GET", "/trackings", params={"tracking_numbers": ",".join(numbers)})
        if status != 200:
            raise Temporary(f"AfterShip: unexpected HTTP {status}")
        return parse(body, numbers)

    async def subscribe(self, items: Sequence[tuple[str, str | None]]) -> dict[str, str | CarrierError]:
        out: dict[str, str | CarrierError] = {}
        for number, carrier in items:
            payload: dict[str, Any] = {"tracking_number": number}
            info = CATALOG.get(carrier or "")
            if info and info.aftership:
                payload["slug"] = info.aftership
            status, body = await self._call("POST", "/trackings", data=json.dumps(payload))
            meta = body.get("meta") if isinstance(body, dict) else None
            code = meta.get("code") if isinstance(meta, dict) else None
            found = _trackings(body.get("data")) if isinstance(body, dict) else []
            if status in (200, 201) or code == ALREADY_EXISTS:
                out[number] = text(found[0].get("slug")) if found else ""
            elif code in INVALID or status in (400, 422):
                out[number] = Invalid(f"AfterShip refused {number}: {code} {text(meta.get('message') if meta else '')}")
            else:
                raise Temporary(f"AfterShip: creating a tracking failed (HTTP {status}, code {code})")
        return out

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        secret = self.settings.webhook_secret
        return verify_header(headers, "aftership-hmac-sha256", secret, "carriers.aftership.webhook_secret",
                             lambda: signature(body, secret))

    def parse_push(self, body: bytes) -> Push:
        return parse_webhook(body)
