"""A fake WooCommerce REST API v3: orders and webhooks, as woocommerce/woocommerce-rest-api-docs describe them.

- HTTP Basic auth with the consumer key and secret; a wrong key: 401 `{"code":
  "woocommerce_rest_authentication_error", "message": "Consumer key is invalid.", "data": {"status": 401}}`.
  A read-only key creating or editing: 401 `woocommerce_rest_cannot_create` / `woocommerce_rest_cannot_edit`.
- Lists: `per_page` (1-100, default 10), `page`; totals in X-WP-Total and X-WP-TotalPages. Orders filter
  by `after` (ISO 8601, GMT with dates_are_gmt) and `status` (comma-separated).
- Webhooks: `GET/POST /webhooks`, `PUT /webhooks/<id>`; the secret is kept (and not shown back).
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from tests.fakes._base import FakeServer

BASE = "/wp-json/wc/v3"


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "data": {"status": status}}, status=status)


class FakeWooCommerce(FakeServer):
    def __init__(self, *, key: str = "ck_fake", secret: str = "cs_fake", write: bool = True,
                 latency: float = 0.0, now: Callable[[], float] = time.time) -> None:
        super().__init__(latency=latency, now=now)
        self.key, self.secret, self.write = key, secret, write
        self.all_orders: list[dict[str, Any]] = []
        self.hooks: list[dict[str, Any]] = []
        self.secrets: dict[int, str] = {}  # webhook id -> secret (never shown back)
        self.requests: list[tuple[str, str]] = []
        self._seq = 700

    def add_order(self, *, created: datetime, status: str = "processing", email: str | None = None,
                  phone: str | None = None, country: str = "PT", tracking: list[tuple[str, str]] | None = None,
                  modified: datetime | None = None) -> dict[str, Any]:
        self._seq += 1
        stamp = (modified or created).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        order = {
            "id": self._seq, "number": str(self._seq), "status": status, "currency": "EUR", "total": "39.90",
            "date_created_gmt": created.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
            "date_modified_gmt": stamp,
            "billing": {"first_name": "Ana", "last_name": "Conceição", "email": email, "phone": phone,
                        "country": country, "city": "Porto"},
            "shipping": {"first_name": "Ana", "last_name": "Conceição", "country": country, "phone": ""},
            "meta_data": [],
        }
        if tracking:
            order["meta_data"].append({"id": 9000 + self._seq, "key": "_wc_shipment_tracking_items", "value": [
                {"tracking_provider": "", "custom_tracking_provider": provider, "custom_tracking_link": "",
                 "tracking_number": number, "date_shipped": str(int(created.timestamp())),
                 "tracking_id": f"t{self._seq}{i}"} for i, (provider, number) in enumerate(tracking)]})
        self.all_orders.append(order)
        return order

    def routes(self, app: web.Application) -> None:
        app.router.add_get(f"{BASE}/orders", self._orders)
        app.router.add_get(f"{BASE}/webhooks", self._webhooks)
        app.router.add_post(f"{BASE}/webhooks", self._create)
        app.router.add_put(f"{BASE}/webhooks/{{id}}", self._update)

    def _auth(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.method, request.path))
        header = request.headers.get("Authorization", "")
        try:
            key, _, secret = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            key = secret = ""
        if key != self.key:
            return _error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        if secret != self.secret:
            return _error(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        return None

    def _page(self, request: web.Request, rows: list) -> web.Response:
        try:
            per_page = int(request.query.get("per_page", "10"))
            page = int(request.query.get("page", "1"))
        except ValueError:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        if not 1 <= per_page <= 100:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        pages = max(1, math.ceil(len(rows) / per_page))
        chunk = rows[(page - 1) * per_page:page * per_page]
        return web.json_response(chunk, headers={"X-WP-Total": str(len(rows)), "X-WP-TotalPages": str(pages)})

    async def _orders(self, request: web.Request) -> web.Response:
        if (fault := await self._fault()) is not None:
            return fault
        if (refused := self._auth(request)) is not None:
            return refused
        rows = self.all_orders
        if after := request.query.get("after"):
            rows = [o for o in rows if o["date_created_gmt"] > after[:19]]
        if status := request.query.get("status"):
            wanted = set(status.split(","))
            rows = [o for o in rows if "any" in wanted or o["status"] in wanted]
        return self._page(request, sorted(rows, key=lambda o: (o["date_created_gmt"], o["id"])))

    def _shown(self, hook: dict) -> dict:
        return {k: v for k, v in hook.items() if k != "secret"}

    async def _webhooks(self, request: web.Request) -> web.Response:
        if (fault := await self._fault()) is not None:
            return fault
        if (refused := self._auth(request)) is not None:
            return refused
        return self._page(request, [self._shown(h) for h in self.hooks])

    async def _create(self, request: web.Request) -> web.Response:
        if (fault := await self._fault()) is not None:
            return fault
        if (refused := self._auth(request)) is not None:
            return refused
        if not self.write:
            return _error(401, "woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources.")
        body = await request.json()
        if not body.get("topic") or not body.get("delivery_url"):
            return _error(400, "rest_missing_callback_param", "Missing parameter(s): topic, delivery_url")
        self._seq += 1
        stamp = datetime.fromtimestamp(self.now(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        resource, _, event = body["topic"].partition(".")
        hook = {"id": self._seq, "name": body.get("name") or "", "status": body.get("status", "active"),
                "topic": body["topic"], "resource": resource, "event": event, "hooks": [],
                "delivery_url": body["delivery_url"], "date_created_gmt": stamp, "date_modified_gmt": stamp,
                "secret": body.get("secret") or ""}
        self.hooks.append(hook)
        return web.json_response(self._shown(hook), status=201)

    async def _update(self, request: web.Request) -> web.Response:
        if (fault := await self._fault()) is not None:
            return fault
        if (refused := self._auth(request)) is not None:
            return refused
        if not self.write:
            return _error(401, "woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource.")
        hook = next((h for h in self.hooks if str(h["id"]) == request.match_info["id"]), None)
        if hook is None:
            return _error(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
        body = await request.json()
        hook.update({k: v for k, v in body.items() if k in ("status", "secret", "name", "delivery_url", "topic")})
        return web.json_response(self._shown(hook))
