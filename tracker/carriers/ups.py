"""UPS Tracking API v1 (OAuth client credentials).

Docs: https://developer.ups.com/api/reference/tracking/product-info
      https://developer.ups.com/api/reference/oauth/client-credentials

`GET /api/track/v1/details/{inquiryNumber}` with a bearer token from `POST /security/v1/oauth/token`
(HTTP Basic client_id:client_secret, form `grant_type=client_credentials`). One number per call.

Track Alert (push): https://developer.ups.com/api/reference/trackalert/product-info
`POST /api/track/v1/subscription/standard/package` subscribes up to 100 numbers for 14 days, naming our
webhook and the credential UPS must present; UPS then POSTs each scan as one JSON event
`{trackingNumber, localActivityDate, localActivityTime, gmtActivityDate, gmtActivityTime, activityStatus
{type, code, description}, activityLocation, scheduledDeliveryDate, actualDeliveryDate, ...}` with that
credential in the `credential` header. A subscribed shipment is polled only as a safety check.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
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
    time_window,
    with_offset,
)
from tracker.carriers.oauth import TokenCarrier, authorized, bearer_token, call
from tracker.carriers.pushing import json_object, verify_header
from tracker.status import PROGRESS

PRODUCTION_URL = "https://onlinetools.ups.com"

# status.type: the activity family (Track Alert spec: D, I, M, MV, U, X; older docs also P, O, RS).
STATUS_MAP: dict[str, Status] = {
    "M": Status.INFO_RECEIVED,     # manifest: label created, not handed over yet
    "MV": Status.EXCEPTION,        # manifest voided: the label was cancelled
    "P": Status.IN_TRANSIT,        # pickup
    "I": Status.IN_TRANSIT,        # in progress
    "U": Status.IN_TRANSIT,        # updated delivery date/time
    "W": Status.IN_TRANSIT,        # warehousing
    "O": Status.OUT_FOR_DELIVERY,
    "D": Status.DELIVERED,         # quirk: D also covers "loaded on delivery vehicle" (refined below)
    "DO": Status.DELIVERED,        # delivered to origin CFS (freight)
    "DD": Status.DELIVERED,        # delivered to destination CFS (freight)
    "X": Status.EXCEPTION,         # exceptions, including failed attempts (refined below)
    "RS": Status.EXCEPTION,        # returned to shipper
    "NA": Status.IN_TRANSIT,       # not available (status hidden); the parcel is still moving
}

# status.code: two-character activity codes whose meaning is sharper than their type.
ACTIVITY_CODES: dict[str, Status] = {
    "MP": Status.INFO_RECEIVED,
    "OT": Status.OUT_FOR_DELIVERY, "OF": Status.OUT_FOR_DELIVERY, "OD": Status.OUT_FOR_DELIVERY,
    "F4": Status.DELIVERED, "KB": Status.DELIVERED, "FS": Status.DELIVERED, "KM": Status.DELIVERED,
    "9E": Status.DELIVERED,
    "ZP": Status.AVAILABLE_FOR_PICKUP, "2W": Status.AVAILABLE_FOR_PICKUP,
    "48": Status.FAILED_ATTEMPT, "49": Status.FAILED_ATTEMPT, "FC": Status.FAILED_ATTEMPT,
    "SR": Status.IN_TRANSIT,       # released by customs
    "OR": Status.IN_TRANSIT, "AR": Status.IN_TRANSIT, "DP": Status.IN_TRANSIT, "YP": Status.IN_TRANSIT,
    "PU": Status.IN_TRANSIT,
    "RS": Status.EXCEPTION, "RT": Status.EXCEPTION,
}

# status.statusCode: UPS's three-digit package status ("API Codes" table).
STATUS_CODES: dict[str, Status] = {
    "003": Status.INFO_RECEIVED, "045": Status.INFO_RECEIVED, "071": Status.INFO_RECEIVED,
    "005": Status.IN_TRANSIT, "012": Status.IN_TRANSIT, "014": Status.IN_TRANSIT, "025": Status.IN_TRANSIT,
    "044": Status.IN_TRANSIT, "057": Status.IN_TRANSIT, "058": Status.IN_TRANSIT, "061": Status.IN_TRANSIT,
    "070": Status.IN_TRANSIT,
    "020": Status.OUT_FOR_DELIVERY, "021": Status.OUT_FOR_DELIVERY, "072": Status.OUT_FOR_DELIVERY,
    "011": Status.DELIVERED, "026": Status.DELIVERED, "059": Status.DELIVERED, "060": Status.DELIVERED,
    "062": Status.DELIVERED,
    "017": Status.AVAILABLE_FOR_PICKUP, "040": Status.AVAILABLE_FOR_PICKUP,
    "022": Status.FAILED_ATTEMPT, "023": Status.FAILED_ATTEMPT, "024": Status.FAILED_ATTEMPT,
    "007": Status.EXCEPTION, "013": Status.EXCEPTION, "016": Status.EXCEPTION, "029": Status.EXCEPTION,
    "030": Status.EXCEPTION, "033": Status.EXCEPTION, "034": Status.EXCEPTION, "035": Status.EXCEPTION,
    "036": Status.EXCEPTION, "037": Status.EXCEPTION, "038": Status.EXCEPTION, "049": Status.EXCEPTION,
    "050": Status.EXCEPTION,
}

NOT_FOUND_CODES = {"TW0001", "TV1002", "151044", "151018"}
AUTH_CODES = {"250002", "250003", "250004", "251004", "UJ0001", "250001"}


class UPSSettings(CarrierSettings):
    client_id: str = ""
    client_secret: str = ""
    merchant_id: str | None = None
    locale: str = "en_US"
    transaction_source: str = "tracker"
    # Track Alert: UPS pushes every scan of subscribed numbers to /webhooks/sources/ups.
    track_alert: bool = False
    track_alert_credential: str = Field("", description="the secret UPS sends back in the credential header")
    track_alert_country: str = "US"


def status_of(raw: dict[str, Any]) -> Status:
    kind = str(raw.get("type") or "").strip().upper()
    code = str(raw.get("code") or "").strip().upper()
    number = str(raw.get("statusCode") or "").strip()
    desc = str(raw.get("description") or raw.get("simplifiedTextDescription") or "").lower()
    if code in ACTIVITY_CODES:
        return ACTIVITY_CODES[code]
    if number in STATUS_CODES:
        return STATUS_CODES[number]
    if kind in ("D", "I", "O") and ("out for delivery" in desc or "delivery vehicle" in desc):
        return Status.OUT_FOR_DELIVERY
    if "access point" in desc:
        picked = "picked up by" in desc or "collected by" in desc or "picked up from" in desc
        return Status.DELIVERED if picked else Status.AVAILABLE_FOR_PICKUP
    if kind == "X" and ("attempt" in desc or "not available" in desc or "not home" in desc):
        return Status.FAILED_ATTEMPT
    return STATUS_MAP.get(kind, Status.UNKNOWN)


def _event_time(act: dict[str, Any]) -> tuple[datetime, int | None]:
    """UPS gives local date/time plus, usually, GMT date/time and the offset."""
    local_d, local_t = str(act.get("date") or ""), str(act.get("time") or "000000").zfill(6)
    gmt_d, gmt_t = act.get("gmtDate"), act.get("gmtTime")
    off = offset_minutes(act.get("gmtOffset"))
    if gmt_d and gmt_t is not None:
        utc = datetime.strptime(f"{gmt_d}{str(gmt_t).zfill(6)}", "%Y%m%d%H%M%S")
        if off is None and local_d:
            local = datetime.strptime(f"{local_d}{local_t}", "%Y%m%d%H%M%S")
            off = round((local - utc).total_seconds() / 900) * 15
        return from_iso(utc.isoformat() + "+00:00")[0], off
    local = datetime.strptime(f"{local_d}{local_t}", "%Y%m%d%H%M%S")
    if off is not None:
        return with_offset(local, off), off
    return from_iso(local.isoformat())  # no zone given: read as UTC, offset unknown


def _errors(payload: dict[str, Any]) -> list[dict[str, Any]]:
    resp = payload.get("response")
    return list(resp.get("errors") or []) if isinstance(resp, dict) else []


def request_error(payload: Any, number: str = "") -> CarrierError | None:
    """An error body ({"response":{"errors":[...]}}) -> its typed error; None if the body is not one."""
    if not isinstance(payload, dict):
        return None
    errors = _errors(payload)
    if not errors:
        return None
    code, message = str(errors[0].get("code", "")), text(errors[0].get("message"))
    if code in NOT_FOUND_CODES:
        return NotFoundYet(f"{number} is not known to UPS yet ({code} {message})".strip())
    if code in AUTH_CODES:
        return AuthFailed(f"UPS refused the credentials ({code} {message})")
    if code.startswith("TV") or code.startswith("TW"):
        return Invalid(f"UPS: {code} {message}")
    return Temporary(f"UPS error {code} {message}")


def parse(payload: dict[str, Any], number: str | None = None) -> dict[str, TrackingResult | CarrierError]:
    """Pure: one UPS reply -> normalized results by tracking number.

    Per-number outcomes (not found yet, invalid) are returned; whole-request ones (bad credentials,
    unexpected bodies) are raised. `number` names the result when UPS omits it (TW0001 warnings)."""
    if not isinstance(payload, dict):
        raise Temporary("UPS: reply is not a JSON object")
    err = request_error(payload, number or "")
    if err is not None:
        if isinstance(err, (NotFoundYet, Invalid)):
            return {number or "": err}
        raise err
    shipments = (payload.get("trackResponse") or {}).get("shipment")
    if not isinstance(shipments, list):
        raise Temporary("UPS: reply has no trackResponse.shipment")
    out: dict[str, TrackingResult | CarrierError] = {}
    for ship in shipments:
        packages = ship.get("package") or []
        if not packages:
            key = ship.get("inquiryNumber") or number or ""
            warnings = ship.get("warnings") or []
            codes = " ".join(f"{w.get('code')} {text(w.get('message'))}" for w in warnings)
            out[key] = NotFoundYet(f"{key} is not known to UPS yet ({codes or 'no package'})")
            continue
        found = {}
        for pkg in packages:
            key = pkg.get("trackingNumber") or ship.get("inquiryNumber") or number or ""
            found[key] = _package(key, pkg)
        out.update(found)
        asked = _compact(number or "")
        if asked and asked not in {_compact(k) for k in found} and \
                (_compact(ship.get("inquiryNumber") or "") == asked or len(shipments) == 1):
            # a multi-package shipment answers by package numbers: the number asked (the shipment's)
            # stands where its least advanced package stands, so it is delivered when every package is
            lagging = min(found.values(), key=_progress)
            out[number] = replace(lagging, number=number)
    return out


def _compact(number: str) -> str:
    return "".join(str(number).split()).upper()


def _progress(result: TrackingResult) -> int:
    latest = result.latest
    return PROGRESS.get(latest.status, 0) if latest else 0


def _package(key: str, pkg: dict[str, Any]) -> TrackingResult:
    events = []
    for act in pkg.get("activity") or []:
        if not act.get("date") and not act.get("gmtDate"):
            continue
        st = act.get("status") or {}
        try:
            when, off = _event_time(act)
        except (ValueError, TypeError):
            continue  # an unreadable time: keep the readable scans rather than fail the whole number
        addr = (act.get("location") or {}).get("address") or {}
        code = "/".join(x for x in (text(st.get("type")), text(st.get("code"))) if x)
        events.append(TrackingEvent(
            occurred_at=when, status=status_of(st), raw_code=code or text(st.get("statusCode")),
            raw_text=text(st.get("description") or st.get("simplifiedTextDescription")),
            location=place(addr.get("city"), addr.get("stateProvince"), addr.get("countryCode") or addr.get("country")),
            utc_offset_minutes=off))
    expected = None
    for d in pkg.get("deliveryDate") or []:
        if d.get("type") in ("SDD", "RDD"):
            expected = date_of(d.get("date")) or expected
    info = pkg.get("deliveryInformation") or {}
    signed = text(info.get("receivedBy")) or None
    window = None
    times = pkg.get("deliveryTime") if isinstance(pkg.get("deliveryTime"), dict) else {}
    if times.get("type") in ("EDW", "CDW", "IDW"):  # estimated / confirmed / imminent delivery window
        window = time_window(text(times.get("startTime")), text(times.get("endTime")))
    pickup = None
    ap = [e for e in events if e.status is Status.AVAILABLE_FOR_PICKUP]
    if ap:
        pickup = max(ap, key=lambda e: e.occurred_at).location or None
    return TrackingResult(number=key, events=events, expected_delivery=expected, signed_by=signed,
                          pickup_location=pickup, delivery_window=window,
                          carrier_status=status_of(pkg["currentStatus"]) if pkg.get("currentStatus") else None)


class UPSCarrier(TokenCarrier, SingleNumberCarrier):
    name = "ups"
    display_name = "UPS"
    production_url = PRODUCTION_URL
    Settings = UPSSettings
    batch_size = 1
    rate_per_second = 5.0      # UPS publishes no tracking quota; stay polite
    daily_budget = None

    async def _fetch_token(self) -> tuple[str, float]:
        s: UPSSettings = self.settings
        self.require("client_id", "client_secret")
        basic = base64.b64encode(f"{s.client_id}:{s.client_secret}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}
        if s.merchant_id:
            headers["x-merchant-id"] = s.merchant_id
        status, body = await call(self.session, "POST", f"{self.base}/security/v1/oauth/token", carrier="UPS",
                                  timeout=s.timeout_seconds, now=self.clock.now(), headers=headers,
                                  data="grant_type=client_credentials")
        return bearer_token("UPS", status, body, 14399)

    async def track_one(self, number: str) -> dict[str, TrackingResult | CarrierError]:
        s: UPSSettings = self.settings

        async def send(token: str):
            return await call(
                self.session, "GET", f"{self.base}/api/track/v1/details/{number}", carrier="UPS",
                timeout=s.timeout_seconds, now=self.clock.now(),
                params={"locale": s.locale, "returnSignature": "false", "returnMilestones": "false",
                        "returnPOD": "false"},
                headers={"Authorization": f"Bearer {token}", "transId": uuid.uuid4().hex,
                         "transactionSrc": s.transaction_source, "Accept": "application/json"})

        status, body = await authorized(self.tokens, send, carrier="UPS")
        return self._answer(number, status, body)

    def _answer(self, number: str, status: int, body: Any) -> dict[str, TrackingResult | CarrierError]:
        if status == 403:
            raise AuthFailed(f"UPS refused access (HTTP 403){_first_error(body)}")
        if status not in (200, 400, 404) or body is None:
            raise Temporary(f"UPS: unexpected HTTP {status}")
        result = parse(body, number)
        # the key UPS echoes may differ in case/spaces from what we asked: answer for what we asked
        if number not in result and len(result) == 1:
            result = {number: next(iter(result.values()))}
        return result

    # --- Track Alert ---------------------------------------------------------------------------
    subscribe_batch = 100
    subscription_days = 14.0

    @property
    def pushes(self) -> bool:
        return self.settings.track_alert

    async def subscribe(self, items: Sequence[tuple[str, str | None]]) -> dict[str, str | CarrierError]:
        s: UPSSettings = self.settings
        self.require("track_alert_credential")
        numbers = [n for n, _ in items[:100]]
        payload = {"locale": s.locale, "countryCode": s.track_alert_country, "trackingNumberList": numbers,
                   "destination": {"url": self.webhook_url, "credentialType": "Bearer",
                                   "credential": s.track_alert_credential}}

        async def send(token: str):
            return await call(
                self.session, "POST", f"{self.base}/api/track/v1/subscription/standard/package", carrier="UPS",
                timeout=s.timeout_seconds, now=self.clock.now(), data=json.dumps(payload),
                headers={"Authorization": f"Bearer {token}", "transId": uuid.uuid4().hex,
                         "transactionSrc": s.transaction_source, "Content-Type": "application/json"})

        status, body = await authorized(self.tokens, send, carrier="UPS")
        if status == 403:
            raise AuthFailed(f"UPS refused the Track Alert subscription (HTTP 403){_first_error(body)}")
        if status != 200 or not isinstance(body, dict):
            raise Temporary(f"UPS Track Alert: unexpected HTTP {status}{_first_error(body)}")
        valid = {text(n).upper() for n in body.get("validTrackingNumbers") or []}
        out: dict[str, str | CarrierError] = {}
        for n in numbers:
            out[n] = "" if n in valid else Invalid(f"UPS Track Alert refused {n} (invalidTrackingNumbers)")
        return out

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        expected = self.settings.track_alert_credential
        return verify_header(headers, "credential", expected, "carriers.ups.track_alert_credential",
                             lambda: expected)

    def parse_push(self, body: bytes) -> Push:
        return parse_webhook(body)



def parse_webhook(body: bytes) -> Push:
    """Pure: one Track Alert event -> its news. UPS sends no event id: the body's hash stands in."""
    data = json_object(body, "UPS Track Alert")
    number = text(data.get("trackingNumber")).upper()
    status = data.get("activityStatus")
    if not number or not isinstance(status, dict) or not (data.get("gmtActivityDate") or data.get("localActivityDate")):
        raise ValueError("UPS Track Alert: expected {trackingNumber, activityStatus, localActivityDate, ...}")
    act = {"date": data.get("localActivityDate"), "time": data.get("localActivityTime"),
           "gmtDate": data.get("gmtActivityDate"), "gmtTime": data.get("gmtActivityTime"), "status": status,
           "location": {"address": data.get("activityLocation") or {}}}
    pkg: dict[str, Any] = {"activity": [act], "deliveryInformation": {"receivedBy": data.get("receivedBy")}}
    if data.get("scheduledDeliveryDate"):
        pkg["deliveryDate"] = [{"type": "SDD", "date": data["scheduledDeliveryDate"]}]
    return Push(event_id=hashlib.sha256(body).hexdigest(), news=[PushNews(number, _package(number, pkg))])


def _first_error(body: Any) -> str:
    errs = _errors(body) if isinstance(body, dict) else []
    return f": {errs[0].get('code')} {text(errs[0].get('message'))}" if errs else ""
