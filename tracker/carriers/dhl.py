"""DHL Shipment Tracking - Unified (API key).

Docs: https://developer.dhl.com/api-reference/shipment-tracking

`GET /track/shipments?trackingNumber=...` with header `DHL-API-Key`. One number per call; the starter
plan allows 1 call a second and 250 a day (quota resets at 00:00 GMT). Unknown numbers are a 404
problem document, not an empty list.
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
    RateLimited,
    SingleNumberCarrier,
    Status,
    Temporary,
    TrackingEvent,
    TrackingResult,
)
from tracker.carriers.common import (
    country_zone,
    date_of,
    from_iso,
    place,
    text,
    with_offset,
)
from tracker.carriers.oauth import call

PRODUCTION_URL = "https://api-eu.dhl.com"

STATUS_MAP: dict[str, Status] = {
    "pre-transit": Status.INFO_RECEIVED,
    "transit": Status.IN_TRANSIT,
    "delivered": Status.DELIVERED,
    "failure": Status.EXCEPTION,
    "unknown": Status.UNKNOWN,
}

# statusCode is coarse (five values); the business units' wording sharpens "transit" and "failure".
_OUT_FOR_DELIVERY = ("out for delivery", "with delivery courier", "out with courier", "with courier for delivery",
                     "in delivery", "loaded onto the delivery vehicle",
                     "zustellfahrzeug", "in zustellung")
_PICKUP = ("ready for pick", "ready for collection", "available for pick", "awaiting collection", "parcel shop",
           "parcelshop", "packstation", "service point", "servicepoint", "post office for collection", "abholbereit")
_ATTEMPT = ("delivery attempt", "attempted delivery", "not at home", "recipient not home", "could not be delivered",
            "recipient not available", "nicht angetroffen", "zustellversuch")


class DHLSettings(CarrierSettings):
    api_key: str = ""
    service: str | None = None
    language: str = "en"


def status_of(code: str | None, *texts: Any) -> Status:
    key = str(code or "").strip().lower()
    if not key and texts and str(texts[0] or "").strip().lower() in STATUS_MAP:
        key = str(texts[0]).strip().lower()  # some business units only fill `status` with the code word
    status = STATUS_MAP.get(key, Status.UNKNOWN)
    words = " ".join(str(t) for t in texts if t).lower()
    if status is Status.IN_TRANSIT:
        if any(w in words for w in _OUT_FOR_DELIVERY):
            return Status.OUT_FOR_DELIVERY
        if any(w in words for w in _PICKUP):
            return Status.AVAILABLE_FOR_PICKUP
    if status is Status.EXCEPTION and any(w in words for w in _ATTEMPT):
        return Status.FAILED_ATTEMPT
    return status


def _location(loc: dict[str, Any] | None) -> str:
    addr = (loc or {}).get("address") or {}
    return place(addr.get("addressLocality"), addr.get("postalCode"), addr.get("countryCode"))


def _country(loc: dict[str, Any] | None) -> str:
    return text(((loc or {}).get("address") or {}).get("countryCode")).upper()


class _Clock:
    """Reads DHL timestamps. Business units often send local time without an offset: it is read in the
    zone of the event's country (or the shipment's, when both ends are in one country); where that
    country spans zones, the offset of the nearest scan in the same reply that states one is used."""

    def __init__(self, ship: dict[str, Any]) -> None:
        ends = {c for c in (_country(ship.get("origin")), _country(ship.get("destination"))) if c}
        self.home = ends.pop() if len(ends) == 1 else ""
        self.known: list[tuple[datetime, int, str]] = []
        for ev in [*(ship.get("events") or []), ship.get("status") or {}]:
            try:
                when, off = from_iso(ev["timestamp"])
            except (KeyError, ValueError, TypeError):
                continue
            if off is not None and _has_offset(ev["timestamp"]):
                self.known.append((when, off, _country(ev.get("location")) or self.home))

    def read(self, stamp: str, loc: dict[str, Any] | None) -> tuple[datetime, int | None]:
        if _has_offset(stamp):
            return from_iso(stamp)
        local = datetime.fromisoformat(str(stamp).strip())
        country = _country(loc) or self.home
        zone = country_zone(country, local)
        if zone is not None:
            return from_iso(stamp, zone=zone)
        near = [(abs((w.replace(tzinfo=None) - local).total_seconds()), off) for w, off, c in self.known
                if not country or c == country]
        if near:
            off = min(near)[1]
            return with_offset(local, off), off
        return from_iso(stamp)  # nothing tells the zone: read as UTC, offset unknown


def _has_offset(stamp: Any) -> bool:
    try:
        return datetime.fromisoformat(str(stamp).strip()).tzinfo is not None
    except ValueError:
        return False


def problem(status: int, payload: Any, number: str = "") -> CarrierError | None:
    """DHL's RFC 7807 problem documents -> typed errors."""
    if not isinstance(payload, dict) or "shipments" in payload:
        return None
    code = payload.get("status", status)
    try:
        code = int(code)
    except (TypeError, ValueError):
        code = status
    detail = text(payload.get("detail") or payload.get("title"))
    if code == 404:
        return NotFoundYet(f"{number or 'the number'} is not known to DHL yet ({detail or 'no result found'})")
    if code in (401, 403):
        return AuthFailed(f"DHL refused the API key (HTTP {code}: {detail})")
    if code == 429:
        return RateLimited(f"DHL: {detail or 'too many requests'}")
    if code == 400:
        return Invalid(f"DHL: {detail or 'invalid tracking number'}")
    return Temporary(f"DHL error HTTP {code}: {detail}")


def parse(payload: dict[str, Any], number: str | None = None, status: int = 200
          ) -> dict[str, TrackingResult | CarrierError]:
    """Pure: one DHL reply -> {number: result}. Per-number errors are returned, request-level ones raised."""
    if not isinstance(payload, dict):
        raise Temporary("DHL: reply is not a JSON object")
    err = problem(status, payload, number or "")
    if err is not None:
        if isinstance(err, (NotFoundYet, Invalid)):
            return {number or "": err}
        raise err
    shipments = payload.get("shipments") or []
    if not shipments:
        return {number or "": NotFoundYet(f"{number} is not known to DHL yet")}
    # one number can match several services: keep the one with the most history
    ship = max(shipments, key=lambda s: len(s.get("events") or []))
    key = str(ship.get("id") or number or "")
    clock = _Clock(ship)
    events = []
    for ev in ship.get("events") or []:
        if not ev.get("timestamp"):
            continue
        try:
            when, off = clock.read(ev["timestamp"], ev.get("location"))
        except (ValueError, TypeError):
            continue  # an unreadable time: keep the readable scans rather than fail the whole number
        desc = text(ev.get("description") or ev.get("status"))
        events.append(TrackingEvent(
            occurred_at=when, status=status_of(ev.get("statusCode"), ev.get("status"), ev.get("description")),
            raw_code=text(ev.get("statusCode")) or "-", raw_text=desc, location=_location(ev.get("location")),
            utc_offset_minutes=off))
    current = ship.get("status") or {}
    if not events and current.get("timestamp"):
        when, off = clock.read(current["timestamp"], current.get("location"))
        events.append(TrackingEvent(
            occurred_at=when, status=status_of(current.get("statusCode"), current.get("status"),
                                               current.get("description")),
            raw_code=text(current.get("statusCode")) or "-", raw_text=text(current.get("description")
                                                                            or current.get("status")),
            location=_location(current.get("location")), utc_offset_minutes=off))
    expected = date_of(ship.get("estimatedTimeOfDelivery")
                       or (ship.get("estimatedDeliveryTimeFrame") or {}).get("estimatedThrough"))
    pod = (ship.get("details") or {}).get("proofOfDelivery") or {}
    signed_obj = pod.get("signed") or {}
    signed = text(signed_obj.get("name") or " ".join(
        x for x in (signed_obj.get("givenName"), signed_obj.get("familyName")) if x)) or None
    held = [e for e in events if e.status is Status.AVAILABLE_FOR_PICKUP]
    pickup = max(held, key=lambda e: e.occurred_at).location or None if held else None
    carrier_status = status_of(current.get("statusCode"), current.get("status"), current.get("description")) \
        if current else None
    return {key: TrackingResult(number=key, events=events, expected_delivery=expected, signed_by=signed,
                                pickup_location=pickup, carrier_status=carrier_status)}


class DHLCarrier(SingleNumberCarrier):
    name = "dhl"
    display_name = "DHL"
    production_url = PRODUCTION_URL
    Settings = DHLSettings
    batch_size = 1
    rate_per_second = 1.0
    daily_budget = 250

    async def track_one(self, number: str) -> dict[str, TrackingResult | CarrierError]:
        s: DHLSettings = self.settings
        self.require("api_key")
        params = {"trackingNumber": number, "language": s.language}
        if s.service:
            params["service"] = s.service
        status, body = await call(self.session, "GET", f"{self.base}/track/shipments", carrier="DHL",
                                  timeout=s.timeout_seconds, now=self.clock.now(), params=params,
                                  headers={"DHL-API-Key": s.api_key, "Accept": "application/json"})
        if status in (401, 403):
            raise AuthFailed(f"DHL refused the API key (HTTP {status})")
        if body is None:
            raise Temporary(f"DHL: empty reply (HTTP {status})")
        result = parse(body, number, status)
        if number not in result and len(result) == 1:
            result = {number: next(iter(result.values()))}
        return result
