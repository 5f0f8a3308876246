"""17TRACK Tracking API v2.2: one account tracks thousands of carriers and pushes every change.

Docs: https://api.17track.net/en/doc?version=v2.2 (endpoints, webhook, error codes at
      https://help.17track.net/hc/en-us/articles/ ... "API error codes").

All calls are `POST https://api.17track.net/track/v2.2/<endpoint>` with a JSON array body and the header
`17token: <key>`; at most 40 numbers per request and 3 requests a second per key. Replies are HTTP 200
with `{"code":0,"data":{"accepted":[...],"rejected":[{"number","error":{"code","message"}}]}}`.
- `register` subscribes numbers (with the carrier key when known, else 17TRACK detects it);
- pushes `TRACKING_UPDATED` / `TRACKING_STOPPED` go to the webhook URL set in the 17TRACK console, with
  header `sign` = hex(SHA-256(raw body + "/" + key)): a plain hash of body and key, not an HMAC;
- `gettrackinfo` is the polling fallback (a number must be registered first: -18019902);
- `stoptrack` when the parcel is finished; `getquota` tells what is left of the registration quota.
Quirk: scans often carry no sub-status; such a scan on a parcel already moving counts as in transit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from tracker.carriers.base import (
    AuthFailed,
    CarrierError,
    CarrierSettings,
    Invalid,
    NotFoundYet,
    Push,
    PushNews,
    Quota,
    Status,
    Temporary,
    TrackingEvent,
    TrackingResult,
)
from tracker.carriers.catalog import CATALOG
from tracker.carriers.common import date_of, from_iso, text
from tracker.carriers.pushing import Aggregator, json_call, json_object, verify_header

PRODUCTION_URL = "https://api.17track.net/track/v2.2"

# latest_status.status and the family of every sub-status.
STATUS_MAP: dict[str, Status] = {
    "NotFound": Status.PENDING,
    "InfoReceived": Status.INFO_RECEIVED,
    "InTransit": Status.IN_TRANSIT,
    "Expired": Status.EXPIRED,
    "AvailableForPickup": Status.AVAILABLE_FOR_PICKUP,
    "OutForDelivery": Status.OUT_FOR_DELIVERY,
    "DeliveryFailure": Status.FAILED_ATTEMPT,
    "Delivered": Status.DELIVERED,
    "Exception": Status.EXCEPTION,
}
# Sub-statuses whose meaning differs from their family.
SUB_STATUS_MAP: dict[str, Status] = {
    "InTransit_CustomsRequiringInformation": Status.EXCEPTION,
    "DeliveryFailure_Rejected": Status.EXCEPTION,
    "DeliveryFailure_InvalidAddress": Status.EXCEPTION,
    "NotFound_InvalidCode": Status.PENDING,
}
# milestone key_stage -> status (scans may carry `stage` instead of a sub-status).
STAGE_MAP: dict[str, Status] = {
    "InfoReceived": Status.INFO_RECEIVED, "PickedUp": Status.IN_TRANSIT, "Departure": Status.IN_TRANSIT,
    "Arrival": Status.IN_TRANSIT, "AvailableForPickup": Status.AVAILABLE_FOR_PICKUP,
    "OutForDelivery": Status.OUT_FOR_DELIVERY, "Delivered": Status.DELIVERED, "Returning": Status.EXCEPTION,
    "Returned": Status.EXCEPTION,
}

ALREADY_REGISTERED = -18019901
NOT_REGISTERED = -18019902
CANNOT_DETECT = -18019903
AUTH_CODES = {-18010001, -18010002}
BATCH = 40


class SeventeenTrackSettings(CarrierSettings):
    api_key: str = ""
    push: bool = Field(True, description="false: no webhooks, poll /gettrackinfo only")
    # catalog carrier name -> 17TRACK carrier key, for keys the catalog lacks or a shop knows better
    carrier_codes: dict[str, int] = {}
    lang: str | None = Field(None, description="translate event texts (17TRACK `lang`), e.g. es, pt, el")


def status_of(status: str | None, sub_status: str | None) -> Status:
    if sub_status and sub_status in SUB_STATUS_MAP:
        return SUB_STATUS_MAP[sub_status]
    family = (sub_status or "").split("_", 1)[0] or (status or "")
    return STATUS_MAP.get(family, STATUS_MAP.get(status or "", Status.UNKNOWN))


def _event_status(ev: dict[str, Any], moving: bool) -> tuple[Status, str]:
    sub, stage = text(ev.get("sub_status")), text(ev.get("stage"))
    if sub:
        return status_of(None, sub), sub
    if stage:
        return STAGE_MAP.get(stage, Status.UNKNOWN), stage
    return (Status.IN_TRANSIT if moving else Status.INFO_RECEIVED), ""


def track_info(number: str, info: Any) -> TrackingResult:
    """Pure: one `track_info` object (push or gettrackinfo) -> our result. Raw statuses are kept."""
    if not isinstance(info, dict):
        return TrackingResult(number=number)
    latest = info.get("latest_status") or {}
    overall = status_of(text(latest.get("status")), text(latest.get("sub_status")))
    moving = overall not in (Status.PENDING, Status.INFO_RECEIVED, Status.UNKNOWN)
    raw_events: list[dict[str, Any]] = []
    for provider in ((info.get("tracking") or {}).get("providers") or []):
        raw_events.extend(e for e in (provider.get("events") or []) if isinstance(e, dict))
    if not raw_events and isinstance(info.get("latest_event"), dict):
        raw_events = [info["latest_event"]]
    events: list[TrackingEvent] = []
    newest = max((text(e.get("time_utc")) for e in raw_events), default="")
    for ev in raw_events:
        when_text = ev.get("time_iso") or ev.get("time_utc")
        if not when_text:
            continue
        try:
            when, off = from_iso(when_text)
        except ValueError:
            continue
        status, code = _event_status(ev, moving)
        if not code and text(ev.get("time_utc")) == newest and latest.get("status"):
            status = overall  # the newest scan is what latest_status describes
            code = text(latest.get("sub_status")) or text(latest.get("status"))
        events.append(TrackingEvent(occurred_at=when, status=status, raw_code=code or "-",
                                    raw_text=text(ev.get("description")), location=text(ev.get("location")),
                                    utc_offset_minutes=off))
    eta = ((info.get("time_metrics") or {}).get("estimated_delivery_date") or {})
    return TrackingResult(number=number, events=events, expected_delivery=date_of(eta.get("to") or eta.get("from")),
                          carrier_status=overall if overall is not Status.UNKNOWN else None)


def _check(status: int, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), (dict, list)):
        raise Temporary(f"17TRACK: unexpected reply (HTTP {status})")
    code = body.get("code", 0)
    if code in AUTH_CODES:
        raise AuthFailed(f"17TRACK refused the key ({code}); check carriers.17track.api_key")
    if code not in (0, None):
        raise Temporary(f"17TRACK error {code}: {text((body.get('data') or {}).get('errors') or body.get('message'))}")
    return body["data"] if isinstance(body["data"], dict) else {"accepted": body["data"]}


def parse(body: Any) -> dict[str, TrackingResult | CarrierError]:
    """Pure: a /gettrackinfo reply -> results by number."""
    data = _check(200, body)
    out: dict[str, TrackingResult | CarrierError] = {}
    for item in data.get("accepted") or []:
        number = text(item.get("number"))
        out[number] = track_info(number, item.get("track_info"))
    for item in data.get("rejected") or []:
        number, err = text(item.get("number")), item.get("error") or {}
        out[number] = _rejected(number, err)
    return out


def _rejected(number: str, err: dict[str, Any]) -> CarrierError:
    code, message = err.get("code"), text(err.get("message"))
    if code == NOT_REGISTERED:
        return NotFoundYet(f"{number} is not registered at 17TRACK yet")
    if code == CANNOT_DETECT:
        return Invalid(f"17TRACK cannot tell the carrier of {number}; register it with its carrier")
    return Temporary(f"17TRACK rejected {number}: {code} {message}".strip())


def parse_webhook(body: bytes) -> Push:
    """Pure: a verified 17TRACK push -> its news. The event id is the body's hash (17TRACK sends none)."""
    data = json_object(body, "17TRACK")
    event = data.get("event")
    item = data.get("data")
    if event not in ("TRACKING_UPDATED", "TRACKING_STOPPED") or not isinstance(item, dict) or not item.get("number"):
        raise ValueError("17TRACK: expected {event: TRACKING_UPDATED|TRACKING_STOPPED, data: {number, ...}}")
    number = text(item.get("number")).upper()
    result = track_info(number, item.get("track_info")) if event == "TRACKING_UPDATED" else None
    code = item.get("carrier")
    return Push(event_id=hashlib.sha256(body).hexdigest(),
                news=[PushNews(number, result, carrier_code=str(code) if code not in (None, "") else None,
                               stopped=event == "TRACKING_STOPPED")])


def sign(body: bytes, key: str) -> str:
    return hashlib.sha256(body + b"/" + key.encode()).hexdigest()


class SeventeenTrackCarrier(Aggregator):
    name = "17track"
    display_name = "17TRACK"
    env_prefix = "SEVENTEENTRACK"
    production_url = PRODUCTION_URL
    Settings = SeventeenTrackSettings
    batch_size = BATCH
    subscribe_batch = BATCH
    # 3 requests a second per key, counted by 17TRACK on arrival: pace a little under it so network jitter
    # never bunches four requests into one second
    rate_per_second = 2.8
    code_field = "seventeen"

    def code_for(self, carrier: str | None) -> int | None:
        s: SeventeenTrackSettings = self.settings
        if not carrier:
            return None
        if carrier in s.carrier_codes:
            return s.carrier_codes[carrier]
        info = CATALOG.get(carrier)
        return info.seventeen if info else None

    def carrier_of(self, code: str | None) -> str | None:
        s: SeventeenTrackSettings = self.settings
        for name, key in s.carrier_codes.items():
            if str(key) == str(code):
                return name
        return super().carrier_of(code)

    async def _post(self, endpoint: str, payload: Any) -> dict[str, Any]:
        self.require("api_key")
        status, body = await json_call(self, "POST", f"/{endpoint}", label="17TRACK", data=json.dumps(payload),
                                       headers={"17token": self.settings.api_key, "Content-Type": "application/json"})
        return _check(status, body)

    async def track(self, numbers: Sequence[str]) -> dict[str, TrackingResult | CarrierError]:
        data = await self._post("gettrackinfo", [{"number": n} for n in numbers[:BATCH]])
        return parse({"code": 0, "data": data})

    async def subscribe(self, items: Sequence[tuple[str, str | None]]) -> dict[str, str | CarrierError]:
        payload = []
        for number, carrier in items[:BATCH]:
            entry: dict[str, Any] = {"number": number}
            code = self.code_for(carrier)
            if code is not None:
                entry["carrier"] = code
            if self.settings.lang:
                entry["lang"] = self.settings.lang
            payload.append(entry)
        data = await self._post("register", payload)
        out: dict[str, str | CarrierError] = {}
        for item in data.get("accepted") or []:
            out[text(item.get("number"))] = text(item.get("carrier"))
        for item in data.get("rejected") or []:
            number, err = text(item.get("number")), item.get("error") or {}
            out[number] = "" if err.get("code") == ALREADY_REGISTERED else _rejected(number, err)
        return out

    async def unsubscribe(self, numbers: Sequence[str]) -> None:
        await self._post("stoptrack", [{"number": n} for n in numbers[:BATCH]])

    async def quota(self) -> Quota:
        data = await self._post("getquota", [])
        remain, total = data.get("quota_remain"), data.get("quota_total")
        return Quota(remaining=int(remain) if remain is not None else None,
                     total=int(total) if total is not None else None)

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        key = self.settings.api_key
        return verify_header(headers, "sign", key, "carriers.17track.api_key", lambda: sign(body, key))

    def parse_push(self, body: bytes) -> Push:
        return parse_webhook(body)
