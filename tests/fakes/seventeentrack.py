"""A fake 17TRACK API v2.2 (shared/reference/carriers.md §9): register / gettrackinfo / stoptrack /
getquota with the `17token` header, at most 40 numbers a request (-18010014), 3 requests a second
(429 + Retry-After, counted), a registration quota, and TRACKING_UPDATED / TRACKING_STOPPED pushes
signed `sign` = sha256(body + "/" + key)."""

from __future__ import annotations

import hashlib
import json

from aiohttp import web

from tests.fakes.pushing import Parcel, PushFake

API_KEY = "17track-test-key"
STATUS = {"info": ("InfoReceived", "InfoReceived"), "transit": ("InTransit", "InTransit_PickedUp"),
          "ofd": ("OutForDelivery", "OutForDelivery_Other"), "failed": ("DeliveryFailure", "DeliveryFailure_Other"),
          "pickup": ("AvailableForPickup", "AvailableForPickup_Other"), "delivered": ("Delivered", "Delivered_Other"),
          "exception": ("Exception", "Exception_Other")}


class FakeSeventeenTrack(PushFake):
    label = "17track"

    def __init__(self, *, api_key: str = API_KEY, quota: int = 1_000_000, per_second: float | None = 3, **kw) -> None:
        super().__init__(per_second=per_second, **kw)
        self.api_key = api_key
        self.quota_total = quota
        self.quota_used = 0
        self.stopped: list[str] = []
        self.too_many_in_request = 0
        self.detects: dict[str, str] = {}  # number -> the carrier key 17TRACK's auto-detection finds
        self.registered: dict[str, dict] = {}  # number -> the last /register item sent for it

    def routes(self, app: web.Application) -> None:
        for endpoint in ("register", "gettrackinfo", "stoptrack", "getquota"):
            app.router.add_post(f"/{endpoint}", getattr(self, f"_{endpoint}"))

    async def _read(self, request: web.Request, endpoint: str):
        raw = await request.read()
        try:
            items = json.loads(raw or b"[]")
        except ValueError:
            items = None
        gate = await self._gate(endpoint, len(items) if isinstance(items, list) else 0)
        if gate is not None:
            return None, gate
        if request.headers.get("17token") != self.api_key:
            return None, web.json_response({"code": -18010002, "data": {"errors": [
                {"code": -18010002, "message": "Invalid access key."}]}}, status=401)
        if not isinstance(items, list):
            return None, web.json_response({"code": -18010012, "data": {"errors": [
                {"code": -18010012, "message": "The format of data is invalid."}]}})
        if len(items) > 40:
            self.too_many_in_request += 1
            return None, web.json_response({"code": -18010014, "data": {"errors": [
                {"code": -18010014, "message": "Tracking numbers exceed the 40 limit."}]}})
        return items, None

    async def _register(self, request: web.Request) -> web.Response:
        items, error = await self._read(request, "register")
        if error is not None:
            return error
        accepted, rejected = [], []
        for item in items:
            number = str(item.get("number", "")).upper()
            self.registered[number] = item
            if number in self.parcels and self.parcels[number].id:
                rejected.append({"number": number, "error": {"code": -18019901, "message":
                                 f"The tracking number '{number}' has been registered, don't need to repeat registration."}})
                continue
            if self.quota_used >= self.quota_total:
                rejected.append({"number": number, "error": {"code": -18019908, "message": "Quota is insufficient."}})
                continue
            parcel = self.parcels.setdefault(number, Parcel(number))
            parcel.carrier = str(item["carrier"]) if item.get("carrier") is not None else (parcel.carrier or
                                                                                 self.detects.get(number, "190271"))
            parcel.id = hashlib.sha1(number.encode()).hexdigest()[:12]
            self.quota_used += 1
            accepted.append({"origin": 1, "number": number, "carrier": int(parcel.carrier)})
        return web.json_response({"code": 0, "data": {"accepted": accepted, "rejected": rejected}})

    async def _gettrackinfo(self, request: web.Request) -> web.Response:
        items, error = await self._read(request, "gettrackinfo")
        if error is not None:
            return error
        accepted, rejected = [], []
        for item in items:
            number = str(item.get("number", "")).upper()
            parcel = self.parcels.get(number)
            if parcel is None or not parcel.id:
                rejected.append({"number": number, "error": {"code": -18019902, "message":
                                 f"The tracking number '{number}' does not register, please register first."}})
                continue
            accepted.append(self.data(parcel))
        return web.json_response({"code": 0, "data": {"accepted": accepted, "rejected": rejected}})

    async def _stoptrack(self, request: web.Request) -> web.Response:
        items, error = await self._read(request, "stoptrack")
        if error is not None:
            return error
        for item in items:
            self.stopped.append(str(item.get("number", "")).upper())
        return web.json_response({"code": 0, "data": {"accepted": [{"number": i.get("number")} for i in items],
                                                      "rejected": []}})

    async def _getquota(self, request: web.Request) -> web.Response:
        _, error = await self._read(request, "getquota")
        if error is not None:
            return error
        return web.json_response({"code": 0, "data": {
            "quota_total": self.quota_total, "quota_used": self.quota_used,
            "quota_remain": self.quota_total - self.quota_used, "today_used": self.quota_used,
            "max_track_daily": self.quota_total}})

    # --- wire format ---------------------------------------------------------------------------
    def data(self, parcel: Parcel, status: str | None = None) -> dict:
        events = []
        for s in reversed(parcel.scans):  # newest first, as 17TRACK sends them
            family, sub = STATUS[s.kind]
            events.append({"time_iso": s.when.isoformat(), "time_utc": s.when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "description": s.text, "location": s.location, "stage": None, "sub_status": sub,
                           "address": {"country": s.location[-2:], "city": s.location.split(",")[0]}})
        family, sub = STATUS[parcel.scans[-1].kind] if parcel.scans else ("NotFound", "NotFound_Other")
        return {"number": parcel.number, "carrier": int(parcel.carrier or 0), "param": None, "tag": None,
                "track_info": {
                    "latest_status": {"status": status or family, "sub_status": sub, "sub_status_descr": None},
                    "latest_event": events[0] if events else None,
                    "time_metrics": {"estimated_delivery_date": {"source": None, "from": None, "to": None}},
                    "tracking": {"providers_hash": 1, "providers": [{
                        "provider": {"key": int(parcel.carrier or 0), "name": "Carrier"}, "events": events}]}}}

    def body(self, parcel: Parcel, event: str = "TRACKING_UPDATED") -> bytes:
        return json.dumps({"event": event, "data": self.data(parcel)}).encode()

    def sign_headers(self, body: bytes, parcel: Parcel) -> dict[str, str]:
        return {"sign": hashlib.sha256(body + b"/" + self.api_key.encode()).hexdigest()}

    async def stop_pushing(self, number: str) -> int:
        parcel = self.parcels[number]
        return await self.push(parcel, body=self.body(parcel, "TRACKING_STOPPED"))
