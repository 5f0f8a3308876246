"""A fake AfterShip Tracking API (shared/reference/carriers.md §8): POST /trackings (4003 when it exists),
GET /trackings?tracking_numbers=..., the `as-api-key` header, a per-second limit (429 + Retry-After), and
`tracking_update` webhooks signed `aftership-hmac-sha256` = base64(HMAC-SHA256(secret, body))."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

from aiohttp import web

from tests.fakes.pushing import Parcel, PushFake

API_KEY = "aftership-test-key"
WEBHOOK_SECRET = "aftership-webhook-secret"
TAGS = {"info": ("InfoReceived", "InfoReceived_001"), "transit": ("InTransit", "InTransit_002"),
        "ofd": ("OutForDelivery", "OutForDelivery_001"), "failed": ("AttemptFail", "AttemptFail_001"),
        "pickup": ("AvailableForPickup", "AvailableForPickup_001"), "delivered": ("Delivered", "Delivered_001"),
        "exception": ("Exception", "Exception_011")}


class FakeAfterShip(PushFake):
    label = "aftership"

    def __init__(self, *, api_key: str = API_KEY, secret: str = WEBHOOK_SECRET, per_second: float | None = 20,
                 **kw) -> None:
        super().__init__(per_second=per_second, **kw)
        self.api_key, self.secret = api_key, secret

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/trackings", self._create)
        app.router.add_get("/trackings", self._list)

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("as-api-key") != self.api_key:
            return web.json_response({"meta": {"code": 401, "message": "Invalid API key.", "type": "Unauthorized"},
                                      "data": {}}, status=401)
        return None

    async def _create(self, request: web.Request) -> web.Response:
        gate = await self._gate("create") or self._auth(request)
        if gate is not None:
            return gate
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"meta": {"code": 4001, "message": "Invalid JSON"}, "data": {}}, status=400)
        number = str(body.get("tracking_number", "")).upper()
        if not number.isalnum():
            return web.json_response({"meta": {"code": 4005, "message": "The value of `tracking_number` is invalid.",
                                               "type": "BadRequest"}, "data": {}}, status=400)
        parcel = self.parcels.setdefault(number, Parcel(number))
        if parcel.id:
            return web.json_response({"meta": {"code": 4003, "message": "Tracking already exists.", "type": "BadRequest"},
                                      "data": {"tracking": self.tracking(parcel)}}, status=400)
        parcel.id = uuid.uuid4().hex[:24]
        parcel.carrier = body.get("slug") or parcel.carrier or "acscourier"
        return web.json_response({"meta": {"code": 201}, "data": self.tracking(parcel)}, status=201)

    async def _list(self, request: web.Request) -> web.Response:
        numbers = [n for n in request.query.get("tracking_numbers", "").upper().split(",") if n]
        gate = await self._gate("list", len(numbers)) or self._auth(request)
        if gate is not None:
            return gate
        found = [self.tracking(self.parcels[n]) for n in numbers if n in self.parcels and self.parcels[n].id]
        return web.json_response({"meta": {"code": 200}, "data": {"trackings": found}})

    def tracking(self, parcel: Parcel) -> dict:
        tag, subtag = TAGS[parcel.scans[-1].kind] if parcel.scans else ("Pending", "Pending_001")
        return {"id": parcel.id, "tracking_number": parcel.number, "slug": parcel.carrier, "active": True,
                "tag": tag, "subtag": subtag, "subtag_message": tag, "expected_delivery": None,
                "checkpoints": [{"slug": parcel.carrier, "checkpoint_time": s.when.isoformat(),
                                 "location": s.location, "message": s.text, "tag": TAGS[s.kind][0],
                                 "subtag": TAGS[s.kind][1], "raw_tag": s.kind.upper()} for s in parcel.scans]}

    def body(self, parcel: Parcel) -> bytes:
        return json.dumps({"ts": int(self.clock_now().timestamp()), "event": "tracking_update",
                           "event_id": str(uuid.uuid4()), "is_tracking_first_tag": len(parcel.scans) == 1,
                           "msg": self.tracking(parcel)}).encode()

    def sign_headers(self, body: bytes, parcel: Parcel) -> dict[str, str]:
        digest = hmac.new(self.secret.encode(), body, hashlib.sha256).digest()
        return {"aftership-hmac-sha256": base64.b64encode(digest).decode()}
