"""WooCommerce's REST API v3, as `tracker woocommerce connect` uses it.

Limits and credentials (woocommerce/woocommerce-rest-api-docs; the reference notes in docs/shops.md):
- `{url}/wp-json/wc/v3/...`, the consumer key and secret as HTTP Basic auth (WooCommerce accepts it only
  over HTTPS; over plain HTTP it wants OAuth 1.0a, which tracker does not speak: use https://).
- Lists: `per_page` (at most 100) and `page`; the totals come in X-WP-Total and X-WP-TotalPages.
- No rate limit of its own (the host's may apply): requests go one at a time; 429 and 5xx are retried
  after Retry-After or a backoff.
- Webhooks: `POST /webhooks {name, topic, delivery_url, secret, status}`; WooCommerce pings the delivery
  URL when one is saved (`webhook_id=<id>`, answered 200 by tracker) and disables a webhook after more
  than 5 failed deliveries in a row, so connect turns a disabled or paused one of ours back on.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from tracker import redact
from tracker.config import WooCommerceSettings
from tracker.shops.shopify import CONNECT_TRIES, AdminError

TOPICS = ("order.created", "order.updated")
PER_PAGE = 100
MAX_TRIES = 6
# processing = paid, waiting to ship; completed = shipped (with its tracking data, if any)
BACKFILL_STATUSES = ("processing", "completed")


@dataclass
class Hooks:
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)


class Rest:
    """One shop's REST API v3. `call()` is the only IO."""

    def __init__(self, settings: WooCommerceSettings, http: aiohttp.ClientSession, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.s = settings
        self.http = http
        self.base = f"{settings.url}/wp-json/wc/v3"
        self.sleep = sleep
        self.requests = 0
        pair = f"{settings.consumer_key}:{settings.consumer_secret}".encode()
        self._auth = "Basic " + base64.b64encode(pair).decode()

    async def call(self, method: str, path: str, *, params: dict | None = None,
                   body: dict | None = None) -> tuple[Any, dict[str, str]]:
        failures = 0
        while True:
            try:
                async with self.http.request(method, f"{self.base}{path}", params=params, json=body,
                                             headers={"Authorization": self._auth},
                                             timeout=aiohttp.ClientTimeout(total=self.s.timeout_seconds)) as resp:
                    raw, status, headers = await resp.read(), resp.status, dict(resp.headers)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                failures += 1
                if failures >= CONNECT_TRIES:
                    raise AdminError("woocommerce.url", f"{redact.origin(self.base)} did not answer "
                                     f"({redact.connect_reason(exc)})", "check woocommerce.url and the network") from None
                await self.sleep(min(30.0, 2.0 ** failures))
                continue
            self.requests += 1
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = None
            if status == 429 or status >= 500:
                failures += 1
                if failures >= MAX_TRIES:
                    raise AdminError("woocommerce.url", f"the shop kept answering HTTP {status}", "try again later")
                try:
                    wait = float(headers.get("Retry-After") or 0)
                except ValueError:
                    wait = 0
                await self.sleep(wait or min(30.0, 2.0 ** failures))
                continue
            if status >= 400:
                raise _refused(status, data, self.s.url)
            return data, headers

    async def check(self) -> None:
        """The keys work and may read orders (nothing written yet)."""
        await self.call("GET", "/orders", params={"per_page": 1})

    async def ensure_webhooks(self, uri: str, secret: str, *, dry_run: bool = False) -> Hooks:
        hooks = Hooks()
        existing, page = [], 1
        while True:
            data, headers = await self.call("GET", "/webhooks", params={"per_page": PER_PAGE, "page": page})
            existing += [w for w in data or [] if isinstance(w, dict)]
            if page >= _int(headers.get("X-WP-TotalPages"), 1):
                break
            page += 1
        for topic in TOPICS:
            ours = [w for w in existing if w.get("topic") == topic and w.get("delivery_url") == uri]
            active = [w for w in ours if w.get("status") == "active"]
            if active:
                hooks.kept.append(topic)
            elif ours:  # disabled after failed deliveries, or paused by hand: on again, with our secret
                if not dry_run:
                    await self.call("PUT", f"/webhooks/{ours[0]['id']}", body={"status": "active", "secret": secret})
                hooks.reactivated.append(topic)
            else:
                if not dry_run:
                    await self.call("POST", "/webhooks", body={"name": f"tracker {topic}", "topic": topic,
                                                               "delivery_url": uri, "secret": secret,
                                                               "status": "active"})
                hooks.created.append(topic)
        return hooks

    async def orders(self, since: datetime) -> AsyncIterator[tuple[list[dict[str, Any]], int]]:
        """Pages of the paid (processing) and completed orders created since `since`, with the total count."""
        page = 1
        while True:
            data, headers = await self.call("GET", "/orders", params={
                "per_page": PER_PAGE, "page": page, "after": since.strftime("%Y-%m-%dT%H:%M:%S"),
                "dates_are_gmt": "true", "status": ",".join(BACKFILL_STATUSES), "orderby": "date", "order": "asc"})
            yield [o for o in data or [] if isinstance(o, dict)], _int(headers.get("X-WP-Total"), 0)
            if page >= _int(headers.get("X-WP-TotalPages"), 1):
                return
            page += 1


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _refused(status: int, data: Any, url: str) -> AdminError:
    code = data.get("code") if isinstance(data, dict) else None
    message = str(data.get("message"))[:200] if isinstance(data, dict) else f"HTTP {status}"
    if status == 404 and code in (None, "rest_no_route"):
        return AdminError("woocommerce.url", f"no WooCommerce REST API at {redact.origin(url)} (HTTP 404)",
                          "give the shop's address; WordPress needs pretty permalinks for /wp-json/")
    if status in (401, 403) and code in ("woocommerce_rest_cannot_create", "woocommerce_rest_cannot_edit"):
        return AdminError("woocommerce.consumer_key", f"the key may not write ({message})",
                          "make a key with Read/Write permissions (WooCommerce > Settings > Advanced > REST API)")
    if status in (401, 403):
        https = "" if url.startswith("https://") else "; over plain http WooCommerce ignores these keys, use https://"
        return AdminError("woocommerce.consumer_key", f"the shop refused the keys ({message}){https}",
                          "copy the consumer key and secret of a key of an administrator "
                          "(WooCommerce > Settings > Advanced > REST API)")
    return AdminError("woocommerce", f"the shop answered HTTP {status} ({message})", "fix what it says and try again")
