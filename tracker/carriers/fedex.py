"""FedEx Track API v1 (OAuth client credentials), up to 30 numbers per request.

Docs: https://developer.fedex.com/api/en-us/catalog/track/v1/docs.html
      https://developer.fedex.com/api/en-us/guides/ratelimits.html

`POST /track/v1/trackingnumbers` with a bearer token from `POST /oauth/token` (form
`grant_type=client_credentials&client_id=..&client_secret=..`). An unknown number is not an HTTP error:
it comes back as a per-number `error` inside a 200 reply, possibly mixed with found numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracker.carriers.base import (
    AuthFailed,
    CarrierError,
    CarrierSettings,
    Invalid,
    NotFoundYet,
    RateLimited,
    Status,
    Temporary,
    TrackingEvent,
    TrackingResult,
)
from tracker.carriers.common import date_of, from_iso, place, text, time_window
from tracker.carriers.oauth import TokenCarrier, authorized, bearer_token, call

PRODUCTION_URL = "https://apis.fedex.com"

# Scan event types (`eventType`, `latestStatusDetail.code`) and derived codes (`derivedStatusCode`,
# `derivedCode`) share one vocabulary. Quirk: FedEx derives "IT" for an "OD" (on vehicle for delivery)
# scan, so the scan's own type is read first and the derived code is the fallback.
STATUS_MAP: dict[str, Status] = {
    "OC": Status.INFO_RECEIVED,   # order / label created
    "IN": Status.INFO_RECEIVED,   # initiated (derived)
    "EP": Status.INFO_RECEIVED,   # enroute to pickup
    "AP": Status.INFO_RECEIVED,   # at pickup
    "RP": Status.INFO_RECEIVED, "LP": Status.INFO_RECEIVED,  # return label link emailed / cancelled
    "RG": Status.INFO_RECEIVED, "RD": Status.INFO_RECEIVED,  # return label link expiring / expired
    "PU": Status.IN_TRANSIT, "PX": Status.IN_TRANSIT,        # picked up
    "IT": Status.IN_TRANSIT, "IX": Status.IN_TRANSIT,        # in transit
    "AR": Status.IN_TRANSIT, "AF": Status.IN_TRANSIT, "AA": Status.IN_TRANSIT, "AC": Status.IN_TRANSIT,
    "AX": Status.IN_TRANSIT, "AD": Status.IN_TRANSIT, "DP": Status.IN_TRANSIT, "DR": Status.IN_TRANSIT,
    "DS": Status.IN_TRANSIT, "EA": Status.IN_TRANSIT, "EO": Status.IN_TRANSIT, "FD": Status.IN_TRANSIT,
    "LO": Status.IN_TRANSIT, "OF": Status.IN_TRANSIT, "OX": Status.IN_TRANSIT, "PF": Status.IN_TRANSIT,
    "PL": Status.IN_TRANSIT, "PM": Status.IN_TRANSIT, "SF": Status.IN_TRANSIT, "SP": Status.IN_TRANSIT,
    "TR": Status.IN_TRANSIT, "TP": Status.IN_TRANSIT, "CH": Status.IN_TRANSIT, "CC": Status.IN_TRANSIT,
    "CP": Status.IN_TRANSIT, "RR": Status.IN_TRANSIT, "RM": Status.IN_TRANSIT, "RC": Status.IN_TRANSIT,
    "AO": Status.IN_TRANSIT, "AE": Status.IN_TRANSIT, "RL": Status.IN_TRANSIT,  # arriving on time / early / running late
    "OD": Status.OUT_FOR_DELIVERY, "ED": Status.OUT_FOR_DELIVERY,
    "HL": Status.AVAILABLE_FOR_PICKUP, "HP": Status.AVAILABLE_FOR_PICKUP,
    "DL": Status.DELIVERED,
    "DE": Status.EXCEPTION, "SE": Status.EXCEPTION, "CA": Status.EXCEPTION, "RS": Status.EXCEPTION,
    "CD": Status.EXCEPTION, "DY": Status.EXCEPTION, "DD": Status.EXCEPTION, "PD": Status.EXCEPTION,
}

NOT_FOUND = {"TRACKING.TRACKINGNUMBER.NOTFOUND", "TRACKING.DATA.NOTFOUND", "TRACKING.REFERENCENUMBER.NOTFOUND"}
AUTH_ERRORS = {"NOT.AUTHORIZED.ERROR", "UNAUTHORIZED", "FORBIDDEN.ERROR", "INVALID.INPUT.EXCEPTION.AUTH"}


class FedExSettings(CarrierSettings):
    client_id: str = ""
    client_secret: str = ""
    locale: str = "en_US"


def status_of(event_type: str | None, derived: str | None, exception_code: str | None = None) -> Status:
    for code in (event_type, derived):
        code = str(code or "").strip().upper()
        if code in STATUS_MAP:
            status = STATUS_MAP[code]
            # a delivery exception whose reason is "nobody home" is a failed attempt
            if status is Status.EXCEPTION and code == "DE" and (exception_code or "").lstrip("0") == "8":
                return Status.FAILED_ATTEMPT
            return status
    return Status.UNKNOWN


def _scan_location(loc: dict[str, Any] | None) -> str:
    loc = loc or {}
    return place(loc.get("city"), loc.get("stateOrProvinceCode"), loc.get("countryCode"))


def _one_result(number: str, res: dict[str, Any]) -> TrackingResult | CarrierError:
    err = res.get("error")
    if err and not res.get("scanEvents"):  # scans beside an error: the scans are what FedEx knows
        code, message = str(err.get("code", "")), text(err.get("message"))
        if code in NOT_FOUND:
            return NotFoundYet(f"{number} is not known to FedEx yet ({code})")
        return Invalid(f"FedEx: {code} {message}".strip())
    events = []
    for scan in res.get("scanEvents") or []:
        if not scan.get("date"):
            continue
        try:
            when, off = from_iso(scan["date"])
        except (ValueError, TypeError):
            continue  # an unreadable time: keep the readable scans rather than fail the whole number
        raw_text = text(scan.get("eventDescription"))
        if scan.get("exceptionDescription"):
            raw_text = f"{raw_text}: {text(scan['exceptionDescription'])}" if raw_text else text(scan["exceptionDescription"])
        events.append(TrackingEvent(
            occurred_at=when,
            status=status_of(scan.get("eventType"), scan.get("derivedStatusCode"), scan.get("exceptionCode")),
            raw_code=text(scan.get("eventType") or scan.get("derivedStatusCode")),
            raw_text=raw_text, location=_scan_location(scan.get("scanLocation")), utc_offset_minutes=off))
    times = {d.get("type"): d.get("dateTime") for d in res.get("dateAndTimes") or [] if d.get("dateTime")}
    expected = date_of(times.get("ESTIMATED_DELIVERY") or times.get("APPOINTMENT_DELIVERY"))
    if expected is None:
        window = (res.get("estimatedDeliveryTimeWindow") or {}).get("window") or {}
        expected = date_of(window.get("ends") or window.get("begins"))
    if expected is None:
        window = (res.get("standardTransitTimeWindow") or {}).get("window") or {}
        expected = date_of(window.get("ends"))
    timed = (res.get("estimatedDeliveryTimeWindow") or {}).get("window") or {}
    day_window = None
    if timed.get("begins") and date_of(timed.get("begins")) == date_of(timed.get("ends")):  # a window within one day
        day_window = time_window(timed.get("begins"), timed.get("ends"))
    delivery = res.get("deliveryDetails") or {}
    signed = text(delivery.get("signedByName") or delivery.get("receivedByName")) or None
    latest = res.get("latestStatusDetail") or {}
    pickup = None
    held = [e for e in events if e.status is Status.AVAILABLE_FOR_PICKUP]
    if held:
        last = max(held, key=lambda e: e.occurred_at)
        # quirk: the hold address comes as text, "Package available for pickup at: 2420 N MAIN ST"
        _, found, address = last.raw_text.rpartition("pickup at:")
        pickup = (text(address) if found else "") or text(delivery.get("locationDescription")) or last.location or None
    current = status_of(latest.get("code"), latest.get("derivedCode")) if latest else None
    if not events and current is Status.DELIVERED and times.get("ACTUAL_DELIVERY"):
        # a delivery FedEx reports without its scan: the delivery time stands in for it
        when, off = from_iso(times["ACTUAL_DELIVERY"])
        events.append(TrackingEvent(
            occurred_at=when, status=current, raw_code=text(latest.get("code") or latest.get("derivedCode")),
            raw_text=text(latest.get("description") or latest.get("statusByLocale")),
            location=_scan_location(latest.get("scanLocation")), utc_offset_minutes=off))
    return TrackingResult(number=number, events=events, expected_delivery=expected, signed_by=signed,
                          pickup_location=pickup, carrier_status=current, delivery_window=day_window)


def request_error(payload: Any) -> CarrierError | None:
    if not isinstance(payload, dict) or not payload.get("errors"):
        return None
    first = payload["errors"][0] or {}
    code, message = str(first.get("code", "")), text(first.get("message"))
    if code in AUTH_ERRORS or "AUTH" in code:
        return AuthFailed(f"FedEx refused the credentials ({code})")
    if "TOO.MANY" in code or "RATE" in code or "QUOTA" in message.upper():
        return RateLimited(f"FedEx: {message or code}")
    if code in NOT_FOUND:
        return NotFoundYet(f"FedEx: {code}")
    return Temporary(f"FedEx error {code} {message}".strip())


def parse(payload: dict[str, Any]) -> dict[str, TrackingResult | CarrierError]:
    """Pure: one FedEx reply -> normalized results by tracking number. Request-level errors are raised."""
    if not isinstance(payload, dict):
        raise Temporary("FedEx: reply is not a JSON object")
    err = request_error(payload)
    if err is not None:
        raise err
    complete = (payload.get("output") or {}).get("completeTrackResults")
    if not isinstance(complete, list):
        raise Temporary("FedEx: reply has no output.completeTrackResults")
    out: dict[str, TrackingResult | CarrierError] = {}
    for entry in complete:
        number = entry.get("trackingNumber") or ""
        candidates = [_one_result(number, r) for r in entry.get("trackResults") or []]
        if not candidates:
            out[number] = NotFoundYet(f"{number} is not known to FedEx yet")
            continue
        found = [c for c in candidates if isinstance(c, TrackingResult)]
        if found:
            # a reused number can carry several shipments: the one that moved last is ours
            out[number] = max(found, key=lambda r: (r.latest.occurred_at.timestamp() if r.latest else 0))
        else:
            out[number] = candidates[0]
    return out


def build_request(numbers: Sequence[str]) -> dict[str, Any]:
    return {"includeDetailedScans": True,
            "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": n}} for n in numbers]}


class FedExCarrier(TokenCarrier):
    name = "fedex"
    display_name = "FedEx"
    production_url = PRODUCTION_URL
    Settings = FedExSettings
    batch_size = 30
    rate_per_second = 140.0     # 1,400 transactions per 10 s per project
    daily_budget = 100_000      # Track capability default per project

    async def _fetch_token(self) -> tuple[str, float]:
        s: FedExSettings = self.settings
        self.require("client_id", "client_secret")
        status, body = await call(
            self.session, "POST", f"{self.base}/oauth/token", carrier="FedEx", timeout=s.timeout_seconds,
            now=self.clock.now(), headers={"Content-Type": "application/x-www-form-urlencoded"},
            data={"grant_type": "client_credentials", "client_id": s.client_id, "client_secret": s.client_secret})
        return bearer_token("FedEx", status, body, 3599)

    async def track(self, numbers: Sequence[str]) -> dict[str, TrackingResult | CarrierError]:
        s: FedExSettings = self.settings

        async def send(token: str):
            return await call(
                self.session, "POST", f"{self.base}/track/v1/trackingnumbers", carrier="FedEx",
                timeout=s.timeout_seconds, now=self.clock.now(), json=build_request(numbers),
                headers={"Authorization": f"Bearer {token}", "x-locale": s.locale, "Accept": "application/json"})

        status, body = await authorized(self.tokens, send, carrier="FedEx")
        if status == 403:
            raise AuthFailed("FedEx refused access to the Track API (HTTP 403); check the project's APIs")
        if body is None:
            raise Temporary(f"FedEx: empty reply (HTTP {status})")
        if status not in (200, 400, 404):
            raise Temporary(f"FedEx: unexpected HTTP {status}")
        return parse(body)
