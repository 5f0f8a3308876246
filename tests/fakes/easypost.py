"""A fake EasyPost Trackers API (shared/reference/carriers.md §10): POST /trackers, GET /trackers with
tracking_codes[], HTTP Basic with the API key, a per-second limit (429), and `tracker.updated` Events
signed `X-Hmac-Signature: hmac-sha256-hex=<hex HMAC-SHA256(NFKD(secret), body)>`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import unicodedata
import uuid

from aiohttp import web

from tests.fakes.pushing import Parcel, PushFake

API_KEY = "EZTK-test-key"
WEBHOOK_SECRET = "easypost-webhook-secret"
STATUS = {"info": ("pre_transit", "label_created"), "transit": ("in_transit", "arrived_at_facility"),
          "ofd": ("out_for_delivery", "out_for_delivery"), "failed": ("failure", "failed_attempt"),
          "pickup": ("available_for_pickup", "arrived_at_pickup_location"), "delivered": ("delivered", "arrived_at_destination"),
          "exception": ("failure", "delivery_exception")}


class FakeEasyPost(PushFake):
    label = "easypost"

    def __init__(self, *, api_key: str = API_KEY, secret: str = WEBHOOK_SECRET, per_second: float | None = 20,
                 **kw) -> None:
        super().__init__(per_second=per_second, **kw)
        self.api_key, self.secret = api_key, secret

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/trackers", self._create)
        app.router.add_get("/trackers", self._list)

    def _auth(self, request: web.Request) -> web.Response | None:
        want = "Basic " + base64.b64encode(f"{self.api_key}:".encode()).decode()
        if request.headers.get("Authorization") != want:
            return web.json_response({"error": {"code": "APIKEY.INVALID", "message": "Invalid API key",
                                                "errors": []}}, status=401)
        return None

    async def _create(self, request: web.Request) -> web.Response:
        gate = await self._gate("create") or self._auth(request)
        if gate is not None:
            return gate
        body = (await request.json()).get("tracker") or {}
        number = str(body.get("tracking_code", "")).upper()
        if not number.isalnum():
            return web.json_response({"error": {"code": "TRACKER.CREATE.ERROR", "message": "Invalid tracking code",
                                                "errors": []}}, status=422)
        parcel = self.parcels.setdefault(number, Parcel(number))
        parcel.id = parcel.id or "trk_" + uuid.uuid4().hex[:24]
        parcel.carrier = body.get("carrier") or parcel.carrier or "USPS"
        return web.json_response(self.tracker(parcel), status=201)

    async def _list(self, request: web.Request) -> web.Response:
        numbers = [n.upper() for n in request.query.getall("tracking_codes[]", [])]
        gate = await self._gate("list", len(numbers)) or self._auth(request)
        if gate is not None:
            return gate
        found = [self.tracker(self.parcels[n]) for n in numbers if n in self.parcels and self.parcels[n].id]
        return web.json_response({"trackers": found, "has_more": False})

    def tracker(self, parcel: Parcel) -> dict:
        status, detail = STATUS[parcel.scans[-1].kind] if parcel.scans else ("unknown", "unknown")
        return {"id": parcel.id, "object": "Tracker", "mode": "test", "tracking_code": parcel.number,
                "status": status, "status_detail": detail, "carrier": parcel.carrier, "est_delivery_date": None,
                "signed_by": None, "tracking_details": [{
                    "object": "TrackingDetail", "message": s.text, "description": s.text, "status": STATUS[s.kind][0],
                    "status_detail": STATUS[s.kind][1], "datetime": s.when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "source": parcel.carrier, "tracking_location": {"object": "TrackingLocation",
                                                                    "city": s.location.split(",")[0], "state": None,
                                                                    "country": s.location[-2:], "zip": None}}
                    for s in parcel.scans]}

    def body(self, parcel: Parcel) -> bytes:
        now = self.clock_now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return json.dumps({"object": "Event", "id": "evt_" + uuid.uuid4().hex[:24], "mode": "test",
                           "description": "tracker.updated", "created_at": now, "updated_at": now,
                           "status": "pending", "previous_attributes": {}, "result": self.tracker(parcel)}).encode()

    def sign_headers(self, body: bytes, parcel: Parcel) -> dict[str, str]:
        key = unicodedata.normalize("NFKD", self.secret).encode()
        return {"X-Hmac-Signature": "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()}
