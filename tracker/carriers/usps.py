"""USPS Tracking API v3 (apis.usps.com, OAuth client credentials).

Docs: https://developer.usps.com/trackingv3
      https://developer.usps.com/oauth

`GET /tracking/v3/tracking/{trackingNumber}?expand=DETAIL` with a bearer token from
`POST /oauth2/v3/token` (form grant_type, client_id, client_secret, scope). One number per call; the default
quota is about 60 requests an hour, token calls included, so this carrier is paced to one a minute.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tracker.carriers.base import (
    AuthFailed,
    CarrierError,
    CarrierSettings,
    Invalid,
    NotFoundYet,
    SingleNumberCarrier,
    Status,
    Temporary,
    TrackingEvent,
    TrackingResult,
)
from tracker.carriers.common import (
    date_of,
    from_iso,
    offset_minutes,
    place,
    text,
    with_offset,
)
from tracker.carriers.oauth import TokenCarrier, authorized, bearer_token, call

PRODUCTION_URL = "https://apis.usps.com"

# eventCode -> status. Letter codes from the v3 API, two-digit codes shared with the IMpb/Web Tools tables.
STATUS_MAP: dict[str, Status] = {
    "GX": Status.INFO_RECEIVED, "MA": Status.INFO_RECEIVED, "GC": Status.INFO_RECEIVED,
    "03": Status.IN_TRANSIT, "OA": Status.IN_TRANSIT, "80": Status.IN_TRANSIT, "81": Status.IN_TRANSIT,
    "82": Status.IN_TRANSIT, "06": Status.IN_TRANSIT, "07": Status.IN_TRANSIT, "08": Status.IN_TRANSIT,
    "10": Status.IN_TRANSIT, "15": Status.IN_TRANSIT, "42": Status.IN_TRANSIT, "A1": Status.IN_TRANSIT,
    "T1": Status.IN_TRANSIT, "L1": Status.IN_TRANSIT, "U1": Status.IN_TRANSIT, "SF": Status.IN_TRANSIT,
    "TL": Status.IN_TRANSIT, "PC": Status.IN_TRANSIT, "NT": Status.IN_TRANSIT, "EF": Status.IN_TRANSIT,
    "OF": Status.OUT_FOR_DELIVERY, "59": Status.OUT_FOR_DELIVERY,
    "16": Status.AVAILABLE_FOR_PICKUP, "14": Status.AVAILABLE_FOR_PICKUP, "57": Status.AVAILABLE_FOR_PICKUP,
    "02": Status.FAILED_ATTEMPT, "51": Status.FAILED_ATTEMPT, "52": Status.FAILED_ATTEMPT,
    "53": Status.FAILED_ATTEMPT, "54": Status.FAILED_ATTEMPT, "55": Status.FAILED_ATTEMPT,
    "56": Status.FAILED_ATTEMPT,
    "01": Status.DELIVERED, "17": Status.DELIVERED, "43": Status.DELIVERED,
    "04": Status.EXCEPTION, "05": Status.EXCEPTION, "09": Status.EXCEPTION, "11": Status.EXCEPTION,
    "21": Status.EXCEPTION, "22": Status.EXCEPTION, "23": Status.EXCEPTION, "24": Status.EXCEPTION,
    "25": Status.EXCEPTION, "26": Status.EXCEPTION, "27": Status.EXCEPTION, "28": Status.EXCEPTION,
    "29": Status.EXCEPTION, "31": Status.EXCEPTION, "44": Status.EXCEPTION,
}

# statusCategory: the package-level summary.
CATEGORY_MAP: dict[str, Status] = {
    "pre-shipment": Status.INFO_RECEIVED, "pre-transit": Status.INFO_RECEIVED,
    "accepted": Status.IN_TRANSIT, "in transit": Status.IN_TRANSIT, "in-transit": Status.IN_TRANSIT,
    "out for delivery": Status.OUT_FOR_DELIVERY,
    "available for pickup": Status.AVAILABLE_FOR_PICKUP,
    "delivery attempt": Status.FAILED_ATTEMPT,
    "delivered": Status.DELIVERED,
    "alert": Status.EXCEPTION, "return to sender": Status.EXCEPTION,
}

# eventType wording for codes the tables above do not list (USPS has a few hundred).
_WORDS: list[tuple[tuple[str, ...], Status]] = [
    (("out for delivery",), Status.OUT_FOR_DELIVERY),
    (("available for pickup", "held at post office", "ready for pickup"), Status.AVAILABLE_FOR_PICKUP),
    (("notice left", "delivery attempt", "no access", "receptacle"), Status.FAILED_ATTEMPT),
    (("return to sender", "refused", "undeliverable", "damaged", "no such number", "insufficient address",
      "unclaimed", "seized", "alert"), Status.EXCEPTION),
    (("delivered",), Status.DELIVERED),
    (("label created", "electronic shipping info", "pre-shipment"), Status.INFO_RECEIVED),
    (("arrived", "departed", "in transit", "accepted", "processed", "usps in possession", "picked up by shipping partner",
      "forwarded"), Status.IN_TRANSIT),
]


class USPSSettings(CarrierSettings):
    client_id: str = ""
    client_secret: str = ""
    scope: str = "tracking"


def status_of(code: str | None, event_type: str | None) -> Status:
    code = (code or "").strip().upper()
    if code in STATUS_MAP:
        return STATUS_MAP[code]
    words = (event_type or "").lower()
    for keys, status in _WORDS:
        if any(k in words for k in keys):
            return status
    return Status.UNKNOWN


def _event_time(ev: dict[str, Any]) -> tuple[datetime, int | None]:
    off = offset_minutes(ev.get("GMTOffset"))
    if ev.get("GMTTimestamp"):
        when, _ = from_iso(ev["GMTTimestamp"])
        return when, off
    local = ev.get("eventTimestamp") or ""
    if off is not None:
        return with_offset(datetime.fromisoformat(local[:19]), off), off
    return from_iso(local)


def request_error(status: int, payload: Any, number: str) -> CarrierError | None:
    """USPS error bodies: {"apiVersion","error":{"code","message","errors":[...]}} or OAuth's {"error": "..."}."""
    if not isinstance(payload, dict) or "error" not in payload:
        return None
    err = payload["error"]
    if isinstance(err, str):  # OAuth-style body
        return AuthFailed(f"USPS refused the credentials ({err})")
    message = text((err or {}).get("message"))
    details = " ".join(text(e.get("detail") or e.get("title")) for e in (err or {}).get("errors") or [])
    words = f"{message} {details}".lower()
    if status == 404 or str((err or {}).get("code")) == "404" or "not found" in words or "not available" in words:
        return NotFoundYet(f"{number} is not known to USPS yet ({message or 'not found'})")
    if status in (401, 403):
        return AuthFailed(f"USPS refused access (HTTP {status}: {message})")
    if status == 400:
        return Invalid(f"USPS: {message or 'invalid tracking number'} {details}".strip())
    return Temporary(f"USPS error HTTP {status}: {message}")


def parse(payload: dict[str, Any] | list[Any], number: str | None = None, status: int = 200
          ) -> dict[str, TrackingResult | CarrierError]:
    """Pure: one USPS reply -> {number: result}. Per-number errors are returned, request-level ones raised.

    Accepts the v3 single-number object and the v3r2 batch array."""
    if isinstance(payload, list):
        # Tracking v3r2 answers a batch with an array (HTTP 200 or 207), one element per number
        out: dict[str, TrackingResult | CarrierError] = {}
        for item in payload:
            item_status = int(str(item.get("statusCode") or 200)) if isinstance(item, dict) else 200
            out.update(parse(item, None, item_status))
        return out
    if not isinstance(payload, dict):
        raise Temporary("USPS: reply is not a JSON object")
    key = payload.get("trackingNumber") or number or ""
    err = request_error(status, payload, key)
    if err is not None:
        if isinstance(err, (NotFoundYet, Invalid)):
            return {key: err}
        raise err
    if "trackingEvents" not in payload and "statusCategory" not in payload:
        raise Temporary("USPS: reply has neither trackingEvents nor statusCategory")
    events, signed, pickup = [], None, None
    for ev in payload.get("trackingEvents") or []:
        if not ev.get("GMTTimestamp") and not ev.get("eventTimestamp"):
            continue
        try:
            when, off = _event_time(ev)
        except (ValueError, TypeError):
            continue  # an unreadable time: keep the readable scans rather than fail the whole number
        st = status_of(ev.get("eventCode"), ev.get("eventType"))
        loc = place(ev.get("eventCity"), ev.get("eventState"), ev.get("eventZIP"), ev.get("eventCountry"))
        events.append(TrackingEvent(occurred_at=when, status=st, raw_code=text(ev.get("eventCode")),
                                    raw_text=text(ev.get("eventType")), location=loc, utc_offset_minutes=off))
        if st is Status.DELIVERED and (ev.get("name") or ev.get("firm")):
            signed = signed or text(ev.get("name") or ev.get("firm"))
    held = [e for e in events if e.status is Status.AVAILABLE_FOR_PICKUP]
    if held:
        pickup = max(held, key=lambda e: e.occurred_at).location or None
    expected = date_of(payload.get("expectedDeliveryDate") or payload.get("expectedDeliveryTimeStamp")
                       or payload.get("expectedDeliveryDateTime") or payload.get("predictedDeliveryDate"))
    category = CATEGORY_MAP.get(text(payload.get("statusCategory")).lower())
    return {key: TrackingResult(number=key, events=events, expected_delivery=expected, signed_by=signed,
                                pickup_location=pickup, carrier_status=category)}


class USPSCarrier(TokenCarrier, SingleNumberCarrier):
    name = "usps"
    display_name = "USPS"
    production_url = PRODUCTION_URL
    Settings = USPSSettings
    batch_size = 1
    rate_per_second = 60 / 3600   # about 60 requests an hour by default
    daily_budget = 1440

    async def _fetch_token(self) -> tuple[str, float]:
        s: USPSSettings = self.settings
        self.require("client_id", "client_secret")
        status, body = await call(
            self.session, "POST", f"{self.base}/oauth2/v3/token", carrier="USPS", timeout=s.timeout_seconds,
            now=self.clock.now(), data={"grant_type": "client_credentials", "client_id": s.client_id,
                                        "client_secret": s.client_secret, "scope": s.scope})
        return bearer_token("USPS", status, body, 28800)

    async def track_one(self, number: str) -> dict[str, TrackingResult | CarrierError]:
        s: USPSSettings = self.settings

        async def send(token: str):
            return await call(self.session, "GET", f"{self.base}/tracking/v3/tracking/{number}", carrier="USPS",
                              timeout=s.timeout_seconds, now=self.clock.now(), params={"expand": "DETAIL"},
                              headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})

        status, body = await authorized(self.tokens, send, carrier="USPS")
        if body is None:
            raise Temporary(f"USPS: empty reply (HTTP {status})")
        result = parse(body, number, status)
        if number not in result and len(result) == 1:
            result = {number: next(iter(result.values()))}
        return result
