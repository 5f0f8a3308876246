"""A fake UPS with Track Alert (shared/reference/carriers.md §1): OAuth token, `POST
/api/track/v1/subscription/standard/package` (at most 100 numbers; the destination URL and credential are
kept per number), `GET /api/track/v1/details/{n}` for safety polls, and one pushed JSON event per scan,
sent to the subscribed URL with the subscribed credential in the `credential` header."""

from __future__ import annotations

import base64
import json
import uuid

from aiohttp import web

from tests.fakes.pushing import Parcel, PushFake

CLIENT_ID, CLIENT_SECRET = "ups-client", "ups-secret"
# scan kind -> Track Alert activityStatus (type, code, description, descriptionCode)
STATUS = {"info": ("M", "MP", "Shipper created a label", 1), "transit": ("I", "AR", "Arrived at Facility", 5),
          "ofd": ("I", "OT", "Out for Delivery", 17), "failed": ("X", "48", "Delivery attempted", 22),
          "pickup": ("I", "ZP", "Delivered to UPS Access Point", 40), "delivered": ("D", "FS", "Delivered", 9),
          "exception": ("X", "RS", "Returned to shipper", 30)}


class FakeUPSTrackAlert(PushFake):
    label = "ups"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.tokens: set[str] = set()
        self.subscriptions: list[list[str]] = []
        self.tracks = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/security/v1/oauth/token", self._token)
        app.router.add_post("/api/track/v1/subscription/standard/package", self._subscribe)
        app.router.add_get("/api/track/v1/details/{number}", self._track)

    async def _token(self, request: web.Request) -> web.Response:
        want = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != want:
            return web.json_response({"response": {"errors": [{"code": "250002", "message": "Invalid Auth"}]}},
                                     status=401)
        token = uuid.uuid4().hex
        self.tokens.add(token)
        return web.json_response({"token_type": "Bearer", "access_token": token, "expires_in": "14399",
                                  "status": "approved"})

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "").removeprefix("Bearer ") in self.tokens

    async def _subscribe(self, request: web.Request) -> web.Response:
        body = await request.json()
        numbers = [str(n).upper() for n in body.get("trackingNumberList") or []]
        gate = await self._gate("subscribe", len(numbers))
        if gate is not None:
            return gate
        if not self._authorized(request):
            return web.json_response({"response": {"errors": [{"code": "UJ0001", "message": "Invalid token"}]}},
                                     status=401)
        if len(numbers) > 100:
            return web.json_response({"response": {"errors": [{"code": "TA0001", "message": "Too many numbers"}]}},
                                     status=400)
        dest = body.get("destination") or {}
        valid, invalid = [], []
        for n in numbers:
            if not n.startswith("1Z"):
                invalid.append(n)
                continue
            parcel = self.parcels.setdefault(n, Parcel(n))
            parcel.id, parcel.url, parcel.credential = n, dest.get("url", ""), dest.get("credential", "")
            valid.append(n)
        self.subscriptions.append(numbers)
        return web.json_response({"validTrackingNumbers": valid, "invalidTrackingNumbers": invalid})

    async def _track(self, request: web.Request) -> web.Response:
        gate = await self._gate("track")
        if gate is not None:
            return gate
        self.tracks += 1
        number = request.match_info["number"].upper()
        parcel = self.parcels.get(number)
        if parcel is None or not parcel.scans:
            return web.json_response({"trackResponse": {"shipment": [{"inquiryNumber": number, "warnings": [
                {"code": "TW0001", "message": "Tracking Information Not Found"}]}]}})
        acts = [{"date": s.when.strftime("%Y%m%d"), "time": s.when.strftime("%H%M%S"),
                 "gmtDate": s.when.strftime("%Y%m%d"), "gmtTime": s.when.strftime("%H%M%S"), "gmtOffset": "+00:00",
                 "location": {"address": {"city": s.location.split(",")[0], "countryCode": s.location[-2:]}},
                 "status": {"type": STATUS[s.kind][0], "code": STATUS[s.kind][1], "description": s.text}}
                for s in reversed(parcel.scans)]
        return web.json_response({"trackResponse": {"shipment": [{"inquiryNumber": number, "package": [
            {"trackingNumber": number, "activity": acts}]}]}})

    def body(self, parcel: Parcel) -> bytes:
        s = parcel.scans[-1]
        kind, code, description, dcode = STATUS[s.kind]
        event = {"trackingNumber": parcel.number, "localActivityDate": s.when.strftime("%Y%m%d"),
                 "localActivityTime": s.when.strftime("%H%M%S"), "gmtActivityDate": s.when.strftime("%Y%m%d"),
                 "gmtActivityTime": s.when.strftime("%H%M%S"),
                 "activityLocation": {"city": s.location.split(",")[0], "country": s.location[-2:]},
                 "activityStatus": {"type": kind, "code": code, "description": s.text or description,
                                    "descriptionCode": dcode},
                 "scheduledDeliveryDate": s.when.strftime("%Y%m%d")}
        if s.kind == "delivered":
            event.update(actualDeliveryDate=s.when.strftime("%Y%m%d"), actualDeliveryTime=s.when.strftime("%H%M%S"),
                         receivedBy="JOHN")
        return json.dumps(event).encode()

    def sign_headers(self, body: bytes, parcel: Parcel) -> dict[str, str]:
        return {"credential": parcel.credential, "User-Agent": "UPSPubSubTrackingService", "x-api-key": CLIENT_ID}
