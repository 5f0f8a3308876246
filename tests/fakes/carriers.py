"""A fake of five carrier APIs on 127.0.0.1: UPS, FedEx, USPS, DHL Unified and Correios SRO Rastro.

One aiohttp server, one path prefix per carrier (`/ups`, `/fedex`, `/usps`, `/dhl`, `/correios`), each
speaking that carrier's wire format, token endpoints included (tokens expire on the fake's clock).
Tracking numbers play scripted journeys: a journey is a list of steps, each revealed once the clock
passes its time (or, for a manual journey, when the test calls `journey.advance()`). Faults are queued
per carrier and consumed one per API call: 429 with Retry-After, 5xx, a timeout, garbage, an HTML page,
a 401; `revoke()` makes the credentials wrong for good; `latency` delays every answer.

    async with fake_carriers(clock) as fake:
        fake.add("ups", "1Z...", deliver_journey())
        settings = {"ups": fake.settings("ups")}   # base_url, credentials, generous rate limit

Used by tests/carriers and bench/.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from tracker.clock import SYSTEM, Clock

CARRIERS = ("ups", "fedex", "usps", "dhl", "correios")

# Step kinds a journey is written in; each carrier renders them in its own codes.
KINDS = ("label", "picked_up", "in_transit", "out_for_delivery", "failed_attempt", "ready_for_pickup", "delivered",
         "exception", "unknown")


@dataclass
class Step:
    hours: float
    kind: str
    city: str = "Springfield"
    state: str = "IL"
    country: str = "US"
    note: str = ""                          # appended to the carrier's event text (what real carriers add)


@dataclass
class Journey:
    steps: list[Step]
    start: datetime | None = None           # set by FakeCarriers.add() when omitted
    manual: bool = False                    # True: steps appear only through advance()
    revealed: int = 0
    signed_by: str | None = "J. DOE"
    expected_days: float | None = 2.0
    utc_offset_minutes: int = -300          # local time of the scans (Correios is always Brasília)
    pickup_place: str = "Parcel shop, 12 Oak St"
    scans: bool = True                      # False: only the current status, no scan (UPS, FedEx, USPS)

    def advance(self, steps: int = 1) -> None:
        self.revealed = min(len(self.steps), self.revealed + steps)

    def visible(self, now: datetime) -> list[tuple[datetime, Step]]:
        assert self.start is not None
        shown = self.steps[:self.revealed] if self.manual else [
            s for s in self.steps if self.start + timedelta(hours=s.hours) <= now]
        return [(self.start + timedelta(hours=s.hours), s) for s in shown]

    def expected(self) -> datetime | None:
        return self.start + timedelta(days=self.expected_days) if self.expected_days is not None and self.start else None


def journey(*kinds: str, every_hours: float = 6.0, **options: Any) -> Journey:
    """A journey of `kinds`, one step every `every_hours` hours from the start."""
    return Journey([Step(i * every_hours, k) for i, k in enumerate(kinds)], **options)


def deliver_journey(**options: Any) -> Journey:
    """Label, pickup, hub, out for delivery, delivered: the steps land at 0, 2, 14, 30 and 34 hours."""
    return Journey([Step(0, "label"), Step(2, "picked_up"), Step(14, "in_transit", "Chicago"),
                    Step(30, "out_for_delivery", "Portland", "OR"), Step(34, "delivered", "Portland", "OR")], **options)


@dataclass
class Fault:
    kind: str            # "429", "500", "503", "timeout", "garbage", "html", "401"
    retry_after: str | None = None
    seconds: float = 5.0


@dataclass
class CarrierFake:
    name: str
    credentials: dict[str, str]
    token_ttl: float = 3600.0
    latency: float = 0.0
    revoked: bool = False
    not_found_as_404: bool = False           # UPS: answer unknown numbers with 404 + TW0001 instead of 200
    faults: deque[Fault] = field(default_factory=deque)
    tokens: dict[str, datetime] = field(default_factory=dict)
    calls: int = 0
    token_calls: int = 0
    requested: list[str] = field(default_factory=list)


DEFAULT_CREDENTIALS = {
    "ups": {"client_id": "ups-test-id", "client_secret": "ups-test-secret"},
    "fedex": {"client_id": "fedex-test-id", "client_secret": "fedex-test-secret"},
    "usps": {"client_id": "usps-test-id", "client_secret": "usps-test-secret"},
    "dhl": {"api_key": "dhl-test-key"},
    "correios": {"username": "correios-user", "access_code": "correios-code", "posting_card": "0067599079"},
}


class FakeCarriers:
    def __init__(self, clock: Clock = SYSTEM) -> None:
        self.clock = clock
        self.carriers = {n: CarrierFake(n, dict(DEFAULT_CREDENTIALS[n])) for n in CARRIERS}
        self.journeys: dict[str, dict[str, Journey]] = defaultdict(dict)
        self.runner: web.AppRunner | None = None
        self.root = ""

    # --- control ---------------------------------------------------------------------------------
    def add(self, carrier: str, number: str, j: Journey | None = None) -> Journey:
        j = j or deliver_journey()
        if j.start is None:
            j.start = self.clock.now()
        self.journeys[carrier][number.upper()] = j
        return j

    def fail(self, carrier: str, kind: str, times: int = 1, *, retry_after: str | None = None,
             seconds: float = 5.0) -> None:
        for _ in range(times):
            self.carriers[carrier].faults.append(Fault(kind, retry_after, seconds))

    def revoke(self, carrier: str, revoked: bool = True) -> None:
        self.carriers[carrier].revoked = revoked
        if revoked:
            self.carriers[carrier].tokens.clear()

    def url(self, carrier: str) -> str:
        return f"{self.root}/{carrier}"

    def settings(self, carrier: str, **extra: Any) -> dict[str, Any]:
        """A config.yaml entry for `carrier` pointing at this fake."""
        return {"base_url": self.url(carrier), "rate_per_second": 1000, "timeout_seconds": 2,
                **self.carriers[carrier].credentials, **extra}

    # --- server ----------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        r = app.router
        r.add_post("/ups/security/v1/oauth/token", self._ups_token)
        r.add_get("/ups/api/track/v1/details/{number}", self._ups_track)
        r.add_post("/fedex/oauth/token", self._fedex_token)
        r.add_post("/fedex/track/v1/trackingnumbers", self._fedex_track)
        r.add_post("/usps/oauth2/v3/token", self._usps_token)
        r.add_get("/usps/tracking/v3/tracking/{number}", self._usps_track)
        r.add_get("/dhl/track/shipments", self._dhl_track)
        r.add_post("/correios/token/v1/autentica/cartaopostagem", self._correios_token)
        r.add_get("/correios/srorastro/v1/objetos", self._correios_track)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        host, port = self.runner.addresses[0][:2]
        self.root = f"http://{host}:{port}"

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    # --- shared plumbing -------------------------------------------------------------------------
    def _issue(self, fake: CarrierFake) -> tuple[str, int]:
        fake.token_calls += 1
        token = secrets.token_urlsafe(16)
        fake.tokens[token] = self.clock.now() + timedelta(seconds=fake.token_ttl)
        return token, int(fake.token_ttl)

    def _bearer_ok(self, fake: CarrierFake, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        if fake.revoked or not auth.startswith("Bearer "):
            return False
        expiry = fake.tokens.get(auth[7:])
        return expiry is not None and self.clock.now() < expiry

    def _basic(self, request: web.Request) -> tuple[str, str] | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return user, password

    async def _pre(self, fake: CarrierFake) -> web.Response | None:
        """Latency and the next queued fault, for API calls."""
        fake.calls += 1
        if fake.latency:
            await asyncio.sleep(fake.latency)
        if not fake.faults:
            return None
        f = fake.faults.popleft()
        if f.kind == "429":
            headers = {"Retry-After": f.retry_after} if f.retry_after is not None else {}
            return web.json_response({"errors": [{"code": "TOO.MANY.REQUESTS", "message": "Too many requests"}]},
                                     status=429, headers=headers)
        if f.kind in ("500", "502", "503"):
            return web.json_response({"message": "internal error"}, status=int(f.kind))
        if f.kind == "timeout":
            await asyncio.sleep(f.seconds)
            return web.json_response({})
        if f.kind == "garbage":
            return web.Response(text='{"trackResponse": {"shipm', content_type="application/json")
        if f.kind == "html":
            return web.Response(text="<html><body><h1>Service Unavailable</h1></body></html>",
                                content_type="text/html")
        if f.kind == "401":
            return web.json_response({"response": {"errors": [{"code": "250002", "message": "Invalid token"}]}},
                                     status=401)
        raise ValueError(f"unknown fault {f.kind!r}")

    def _seen(self, carrier: str, number: str) -> list[tuple[datetime, Step]]:
        j = self.journeys[carrier].get(number.upper())
        return j.visible(self.clock.now()) if j else []

    # --- UPS -------------------------------------------------------------------------------------
    UPS_CODES = {
        "label": ("M", "MP", "003", "Shipper created a label, UPS has not received the package yet."),
        "picked_up": ("P", "PU", "061", "Pickup Scan"),
        "in_transit": ("I", "AR", "005", "Arrived at Facility"),
        "out_for_delivery": ("I", "OT", "021", "Out For Delivery Today"),
        "failed_attempt": ("X", "48", "022", "The receiver was not available for delivery. We'll make a second "
                                             "attempt the next business day."),
        "ready_for_pickup": ("D", "ZP", "040", "Delivered to UPS Access Point. Awaiting customer pickup"),
        "delivered": ("D", "FS", "011", "DELIVERED"),
        "exception": ("X", "BF", "013", "Held by customs; the receiver must provide documents"),
        "unknown": ("Q", "Q9", "999", "Mystery scan"),
    }

    async def _ups_token(self, request: web.Request) -> web.Response:
        fake = self.carriers["ups"]
        creds = self._basic(request)
        form = await request.post()
        if (fake.revoked or creds != (fake.credentials["client_id"], fake.credentials["client_secret"])
                or form.get("grant_type") != "client_credentials"):
            return web.json_response({"response": {"errors": [{"code": "10401", "message": "ClientId is Invalid"}]}},
                                     status=401)
        token, ttl = self._issue(fake)
        return web.json_response({"token_type": "Bearer", "issued_at": str(int(self.clock.now().timestamp() * 1000)),
                                  "client_id": fake.credentials["client_id"], "access_token": token,
                                  "scope": "", "expires_in": str(ttl), "refresh_count": "0", "status": "approved"})

    async def _ups_track(self, request: web.Request) -> web.Response:
        fake = self.carriers["ups"]
        if not request.headers.get("transId") or not request.headers.get("transactionSrc"):
            return web.json_response({"response": {"errors": [{"code": "TV1001", "message": "Missing transId"}]}},
                                     status=400)
        if (early := await self._pre(fake)) is not None:
            return early
        if not self._bearer_ok(fake, request):
            return web.json_response({"response": {"errors": [{"code": "250002", "message": "Invalid Auth"}]}},
                                     status=401)
        number = request.match_info["number"].upper()
        fake.requested.append(number)
        j = self.journeys["ups"].get(number)
        seen = self._seen("ups", number)
        if not seen:
            body = {"trackResponse": {"shipment": [{"inquiryNumber": number, "warnings": [
                {"code": "TW0001", "message": "Tracking Information Not Found"}]}]}}
            return web.json_response(body, status=404 if fake.not_found_as_404 else 200)
        assert j is not None
        off = timedelta(minutes=j.utc_offset_minutes)
        sign = "-" if j.utc_offset_minutes < 0 else "+"
        gmt_offset = f"{sign}{abs(j.utc_offset_minutes) // 60:02d}:{abs(j.utc_offset_minutes) % 60:02d}"
        acts = []
        for when, step in reversed(seen):
            kind, code, status_code, desc = self.UPS_CODES[step.kind]
            desc += step.note
            local = when + off
            acts.append({
                "location": {"address": {"city": step.city.upper(), "stateProvince": step.state,
                                         "countryCode": step.country, "country": step.country}, "slic": "0761"},
                "status": {"type": kind, "description": desc, "code": code, "statusCode": status_code},
                "date": local.strftime("%Y%m%d"), "time": local.strftime("%H%M%S"),
                "gmtDate": when.strftime("%Y%m%d"), "gmtTime": when.strftime("%H%M%S").lstrip("0") or "0",
                "gmtOffset": gmt_offset,
            })
        pkg: dict[str, Any] = {"trackingNumber": number, "activity": acts, "packageCount": 1,
                               "currentStatus": {"type": acts[0]["status"]["type"], "code": acts[0]["status"]["code"],
                                                 "description": acts[0]["status"]["description"],
                                                 "statusCode": acts[0]["status"]["statusCode"]}}
        if not j.scans:
            pkg["activity"] = []
        delivered = seen[-1][1].kind == "delivered"
        if delivered:
            pkg["deliveryDate"] = [{"type": "DEL", "date": (seen[-1][0] + off).strftime("%Y%m%d")}]
            pkg["deliveryInformation"] = {"location": "Front Door", "receivedBy": j.signed_by or ""}
        elif j.expected():
            pkg["deliveryDate"] = [{"type": "SDD", "date": (j.expected() + off).strftime("%Y%m%d")}]
        return web.json_response({"trackResponse": {"shipment": [{"inquiryNumber": number, "package": [pkg]}]}})

    # --- FedEx -----------------------------------------------------------------------------------
    FEDEX_CODES = {
        "label": ("OC", "IN", "Shipment information sent to FedEx", ""),
        "picked_up": ("PU", "PU", "Picked up", ""),
        "in_transit": ("AR", "IT", "Arrived at FedEx location", ""),
        "out_for_delivery": ("OD", "IT", "On FedEx vehicle for delivery", ""),   # derived IT, as FedEx does
        "failed_attempt": ("DE", "DE", "Delivery exception", "08"),
        "ready_for_pickup": ("HP", "HP", "Ready for recipient pickup", ""),
        "delivered": ("DL", "DL", "Delivered", ""),
        "exception": ("SE", "SE", "Shipment exception", "A12"),
        "unknown": ("ZZ", "ZZ", "Mystery scan", ""),
    }

    async def _fedex_token(self, request: web.Request) -> web.Response:
        fake = self.carriers["fedex"]
        form = await request.post()
        if (fake.revoked or form.get("grant_type") != "client_credentials"
                or form.get("client_id") != fake.credentials["client_id"]
                or form.get("client_secret") != fake.credentials["client_secret"]):
            return web.json_response({"transactionId": "t", "errors": [
                {"code": "NOT.AUTHORIZED.ERROR", "message": "The given client credentials were not valid."}]},
                status=401)
        token, ttl = self._issue(fake)
        return web.json_response({"access_token": token, "token_type": "bearer", "expires_in": ttl,
                                  "scope": "CXS-TP"})

    def _fedex_iso(self, when: datetime, minutes: int) -> str:
        return when.astimezone(timezone(timedelta(minutes=minutes))).isoformat(timespec="seconds")

    async def _fedex_track(self, request: web.Request) -> web.Response:
        fake = self.carriers["fedex"]
        if (early := await self._pre(fake)) is not None:
            return early
        if not self._bearer_ok(fake, request):
            return web.json_response({"transactionId": "t", "errors": [
                {"code": "NOT.AUTHORIZED.ERROR", "message": "The given client credentials were not valid."}]},
                status=401)
        body = await request.json()
        infos = body.get("trackingInfo") or []
        if not infos:
            return web.json_response({"transactionId": "t", "errors": [
                {"code": "TRACKING.TRACKINGNUMBER.EMPTY", "message": "Please provide tracking number."}]}, status=400)
        if len(infos) > 30:
            return web.json_response({"transactionId": "t", "errors": [
                {"code": "TRACKING.TRACKINGNUMBER.LIMIT.EXCEEDED", "message": "Maximum 30."}]}, status=400)
        results = []
        for info in infos:
            number = info["trackingNumberInfo"]["trackingNumber"].upper()
            fake.requested.append(number)
            seen = self._seen("fedex", number)
            j = self.journeys["fedex"].get(number)
            if not seen or j is None:
                results.append({"trackingNumber": number, "trackResults": [{
                    "trackingNumberInfo": {"trackingNumber": number, "trackingNumberUniqueId": "", "carrierCode": ""},
                    "error": {"code": "TRACKING.TRACKINGNUMBER.NOTFOUND",
                              "message": "Tracking number cannot be found. Please correct the tracking number and "
                                         "try again."}}]})
                continue
            scans = []
            for when, step in reversed(seen):
                etype, derived, desc, exc = self.FEDEX_CODES[step.kind]
                desc += step.note
                scans.append({"date": self._fedex_iso(when, j.utc_offset_minutes), "eventType": etype,
                              "eventDescription": desc, "exceptionCode": exc,
                              "exceptionDescription": "Customer not available or business closed" if exc == "08"
                              else "", "scanLocation": {"city": step.city, "stateOrProvinceCode": step.state,
                                                        "countryCode": step.country, "residential": False},
                              "locationType": "FEDEX_FACILITY", "derivedStatusCode": derived,
                              "derivedStatus": desc})
            last_type, last_derived, last_desc, _ = self.FEDEX_CODES[seen[-1][1].kind]
            res: dict[str, Any] = {
                "trackingNumberInfo": {"trackingNumber": number, "trackingNumberUniqueId": f"1~{number}~FDEG",
                                       "carrierCode": "FDXG"},
                "latestStatusDetail": {"code": last_type, "derivedCode": last_derived, "statusByLocale": last_desc,
                                       "description": last_desc},
                "dateAndTimes": [], "scanEvents": scans if j.scans else [],
            }
            if seen[-1][1].kind == "delivered":
                res["dateAndTimes"].append({"type": "ACTUAL_DELIVERY",
                                            "dateTime": self._fedex_iso(seen[-1][0], j.utc_offset_minutes)})
                res["deliveryDetails"] = {"receivedByName": j.signed_by or "", "deliveryAttempts": "0"}
            elif j.expected():
                res["dateAndTimes"].append({"type": "ESTIMATED_DELIVERY",
                                            "dateTime": self._fedex_iso(j.expected(), j.utc_offset_minutes)})
            if seen[-1][1].kind == "ready_for_pickup":
                res.setdefault("deliveryDetails", {})["locationDescription"] = j.pickup_place
            results.append({"trackingNumber": number, "trackResults": [res]})
        return web.json_response({"transactionId": "t", "output": {"completeTrackResults": results}})

    # --- USPS ------------------------------------------------------------------------------------
    USPS_CODES = {
        "label": ("GX", "Shipping Label Created, USPS Awaiting Item"),
        "picked_up": ("03", "USPS in possession of item"),
        "in_transit": ("A1", "Arrived at USPS Regional Facility"),
        "out_for_delivery": ("OF", "Out for Delivery"),
        "failed_attempt": ("02", "Notice Left (No Authorized Recipient Available)"),
        "ready_for_pickup": ("16", "Available for Pickup"),
        "delivered": ("01", "Delivered, Front Door/Porch"),
        "exception": ("05", "Undeliverable as Addressed"),
        "unknown": ("Z9", "Mystery scan"),
    }
    USPS_CATEGORY = {"label": "Pre-Shipment", "picked_up": "Accepted", "in_transit": "In Transit",
                     "out_for_delivery": "Out for Delivery", "failed_attempt": "Delivery Attempt",
                     "ready_for_pickup": "Available for Pickup", "delivered": "Delivered", "exception": "Alert",
                     "unknown": "In Transit"}

    async def _usps_token(self, request: web.Request) -> web.Response:
        fake = self.carriers["usps"]
        form = await request.post()
        if (fake.revoked or form.get("client_id") != fake.credentials["client_id"]
                or form.get("client_secret") != fake.credentials["client_secret"]):
            return web.json_response({"error": "invalid_client", "error_description": "Client authentication failed."},
                                     status=401)
        token, ttl = self._issue(fake)
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": ttl,
                                  "scope": form.get("scope", "tracking"), "status": "approved"})

    async def _usps_track(self, request: web.Request) -> web.Response:
        fake = self.carriers["usps"]
        if (early := await self._pre(fake)) is not None:
            return early
        if not self._bearer_ok(fake, request):
            return web.json_response({"error": "invalid_token", "error_description": "Access token expired"},
                                     status=401)
        number = request.match_info["number"].upper()
        fake.requested.append(number)
        seen = self._seen("usps", number)
        j = self.journeys["usps"].get(number)
        if not seen or j is None:
            return web.json_response({"apiVersion": "v3", "error": {
                "code": "404", "message": "Tracking information not found",
                "errors": [{"status": "404", "code": "1", "title": "Not Found",
                            "detail": f"The tracking number {number} was not found"}]}}, status=404)
        off = timedelta(minutes=j.utc_offset_minutes)
        sign = "-" if j.utc_offset_minutes < 0 else "+"
        gmt_offset = f"{sign}{abs(j.utc_offset_minutes) // 60:02d}:{abs(j.utc_offset_minutes) % 60:02d}"
        events = []
        for when, step in reversed(seen):
            code, desc = self.USPS_CODES[step.kind]
            desc += step.note
            delivered = step.kind == "delivered"
            events.append({"eventType": desc, "eventTimestamp": (when + off).strftime("%Y-%m-%dT%H:%M:%S"),
                           "GMTTimestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "GMTOffset": gmt_offset,
                           "eventCountry": None, "eventCity": step.city.upper(), "eventState": step.state,
                           "eventZIP": "62701", "firm": None, "name": j.signed_by if delivered else None,
                           "authorizedAgent": "false", "eventCode": code, "additionalProp": None})
        last = seen[-1][1].kind
        body: dict[str, Any] = {"trackingNumber": number, "mailClass": "USPS Ground Advantage",
                                "status": self.USPS_CODES[last][1], "statusCategory": self.USPS_CATEGORY[last],
                                "statusSummary": "Your item is on its way.",
                                "trackingEvents": events if j.scans else []}
        if last != "delivered" and j.expected():
            body["expectedDeliveryDate"] = (j.expected() + off).strftime("%Y-%m-%d")
        return web.json_response(body)

    # --- DHL -------------------------------------------------------------------------------------
    DHL_CODES = {
        "label": ("pre-transit", "Shipment information received"),
        "picked_up": ("transit", "Shipment picked up"),
        "in_transit": ("transit", "Arrived at DHL Sort Facility"),
        "out_for_delivery": ("transit", "Shipment is out with courier for delivery"),
        "failed_attempt": ("failure", "Delivery attempted; recipient not home"),
        "ready_for_pickup": ("transit", "Shipment is ready for pick up at the DHL ServicePoint"),
        "delivered": ("delivered", "Delivered"),
        "exception": ("failure", "Shipment on hold: customs clearance delay"),
        "unknown": ("unknown", "Status not available"),
    }

    async def _dhl_track(self, request: web.Request) -> web.Response:
        fake = self.carriers["dhl"]
        if fake.revoked or request.headers.get("DHL-API-Key") != fake.credentials["api_key"]:
            return web.json_response({"status": 401, "title": "Unauthorized", "detail": "Invalid API key"},
                                     status=401)
        if (early := await self._pre(fake)) is not None:
            return early
        number = request.query.get("trackingNumber", "").upper()
        fake.requested.append(number)
        seen = self._seen("dhl", number)
        j = self.journeys["dhl"].get(number)
        if not seen or j is None:
            return web.json_response({"title": "No result found", "status": 404,
                                      "detail": "No shipment with given tracking number found.",
                                      "instance": f"/shipment/{number}"}, status=404)
        zone = timezone(timedelta(minutes=j.utc_offset_minutes))
        events = []
        for when, step in reversed(seen):
            code, desc = self.DHL_CODES[step.kind]
            desc += step.note
            events.append({"timestamp": when.astimezone(zone).isoformat(timespec="seconds"),
                           "location": {"address": {"addressLocality": f"{step.city.upper()} - {step.country}",
                                                    "countryCode": step.country}},
                           "statusCode": code, "status": desc, "description": desc})
        ship: dict[str, Any] = {"id": number, "service": "express", "status": dict(events[0]), "events": events,
                                "details": {"product": {"productName": "EXPRESS WORLDWIDE"}}}
        ship["status"]["timestamp"] = seen[-1][0].strftime("%Y-%m-%dT%H:%M:%SZ")
        if seen[-1][1].kind == "delivered":
            ship["details"]["proofOfDelivery"] = {"timestamp": ship["status"]["timestamp"],
                                                  "documentUrl": "https://example.invalid/pod",
                                                  "signed": {"@type": "Person", "name": j.signed_by or ""}}
        elif j.expected():
            ship["estimatedTimeOfDelivery"] = j.expected().strftime("%Y-%m-%dT%H:%M:%SZ")
        return web.json_response({"shipments": [ship]})

    # --- Correios --------------------------------------------------------------------------------
    CORREIOS_CODES = {
        "label": ("PO", "09", "Objeto postado após o horário limite da unidade"),
        "picked_up": ("PO", "01", "Objeto postado"),
        "in_transit": ("RO", "01", "Objeto em trânsito - por favor aguarde"),
        "out_for_delivery": ("OEC", "01", "Objeto saiu para entrega ao destinatário"),
        "failed_attempt": ("BDE", "20", "Carteiro não atendido - entrega não realizada"),
        "ready_for_pickup": ("LDI", "01", "Objeto aguardando retirada no endereço indicado"),
        "delivered": ("BDE", "01", "Objeto entregue ao destinatário"),
        "exception": ("BDE", "04", "Objeto recusado pelo destinatário"),
        "unknown": ("ZZZ", "99", "Evento misterioso"),
    }
    BRASILIA = ZoneInfo("America/Sao_Paulo")

    async def _correios_token(self, request: web.Request) -> web.Response:
        fake = self.carriers["correios"]
        creds = self._basic(request)
        try:
            body = await request.json()
        except ValueError:
            body = {}
        if (fake.revoked or creds != (fake.credentials["username"], fake.credentials["access_code"])
                or body.get("numero") != fake.credentials["posting_card"]):
            return web.json_response({"msgs": ["Usuário ou senha inválidos"]}, status=401)
        token, ttl = self._issue(fake)
        expires = (self.clock.now() + timedelta(seconds=ttl)).astimezone(self.BRASILIA)
        return web.json_response({"ambiente": "PRODUCAO", "id": fake.credentials["username"], "perfil": "PJ",
                                  "cartaoPostagem": {"numero": body["numero"]},
                                  "emissao": self.clock.now().astimezone(self.BRASILIA).strftime("%Y-%m-%dT%H:%M:%S"),
                                  "expiraEm": expires.strftime("%Y-%m-%dT%H:%M:%S"), "token": token}, status=201)

    async def _correios_track(self, request: web.Request) -> web.Response:
        fake = self.carriers["correios"]
        if (early := await self._pre(fake)) is not None:
            return early
        if not self._bearer_ok(fake, request):
            return web.json_response({"msgs": ["Token inválido ou expirado"]}, status=401)
        codes = [c.strip().upper() for c in request.query.get("codigosObjetos", "").split(",") if c.strip()]
        if not codes or len(codes) > 50:
            return web.json_response({"msgs": ["Informe de 1 a 50 objetos"]}, status=400)
        objetos = []
        for code in codes:
            fake.requested.append(code)
            seen = self._seen("correios", code)
            j = self.journeys["correios"].get(code)
            if not seen or j is None:
                objetos.append({"codObjeto": code,
                                "mensagem": "SRO-020: Objeto não encontrado na base de dados dos Correios."})
                continue
            eventos = []
            for when, step in reversed(seen):
                codigo, tipo, desc = self.CORREIOS_CODES[step.kind]
                desc += step.note
                ev: dict[str, Any] = {
                    "codigo": codigo, "tipo": tipo, "descricao": desc,
                    "dtHrCriado": when.astimezone(self.BRASILIA).strftime("%Y-%m-%dT%H:%M:%S"),
                    "unidade": {"tipo": "Unidade de Distribuição",
                                "endereco": {"cidade": step.city.upper(), "uf": "SP"}}}
                if step.kind == "ready_for_pickup":
                    ev["unidade"]["nome"] = j.pickup_place
                if step.kind == "delivered" and j.signed_by:
                    ev["recebedor"] = {"nome": j.signed_by}
                eventos.append(ev)
            obj: dict[str, Any] = {"codObjeto": code, "tipoPostal": {"sigla": code[:2], "descricao": "SEDEX",
                                                                     "categoria": "SEDEX"},
                                   "modalidade": "F", "formato": "Pacote", "eventos": eventos}
            if j.expected():
                obj["dtPrevista"] = j.expected().astimezone(self.BRASILIA).strftime("%Y-%m-%dT%H:%M:%S")
            objetos.append(obj)
        return web.json_response({"versao": "1.8.7", "quantidade": len(objetos), "resultado": "Todos os Eventos",
                                  "objetos": objetos})


@asynccontextmanager
async def fake_carriers(clock: Clock = SYSTEM) -> AsyncIterator[FakeCarriers]:
    """Start the fake on a random port of 127.0.0.1; stop it on exit."""
    fake = FakeCarriers(clock)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
