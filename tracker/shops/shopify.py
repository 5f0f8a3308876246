"""Shopify's GraphQL Admin API, as `tracker shopify connect` uses it.

Limits and credentials (shopify.dev, docs/apps/build/apis/graphql-admin/rate-limits; the reference notes
in docs/shops.md):
- `POST {base}/admin/api/{version}/graphql.json`, header `X-Shopify-Access-Token`.
- A token is either static (a custom app's Admin API access token) or comes from the client credentials
  grant of a Dev Dashboard app (`POST {base}/admin/oauth/access_token`, form grant_type/client_id/
  client_secret), valid 24 hours (`expires_in`): it is fetched on demand, renewed five minutes before it
  expires, and once more when Shopify answers 401.
- Cost-based throttling, a leaky bucket per app and shop (Standard 100 points/s, Advanced 200, Plus 1000):
  every answer carries `extensions.cost.throttleStatus` {maximumAvailable, currentlyAvailable,
  restoreRate}; a query costs its requested cost up front (refunded down to the actual cost after), and
  at most MAX_QUERY_COST. Before each query the client waits until the bucket (as last reported, refilled
  at restoreRate since) holds the query's expected cost; a THROTTLED answer (HTTP 200 or 429) waits for
  the refill and asks again. Nothing here is hard-coded but the single-query cap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from tracker import redact
from tracker.carriers.oauth import TokenCache
from tracker.clock import SYSTEM, Clock
from tracker.config import ShopifySettings

log = logging.getLogger("tracker.shops.shopify")

MAX_QUERY_COST = 1000  # a single query may cost at most this (requested cost)
TOKEN_MARGIN_SECONDS = 300
MAX_TRIES = 8  # throttled or failing answers in a row before giving up
CONNECT_TRIES = 3  # connections refused or lost in a row (about 6 s) before saying the shop does not answer
SCOPES = ("read_orders",)  # what connect needs: orders (and their fulfillments), and the webhooks on them

# The webhook topics tracker handles (tracker/web/intake.py), GraphQL enum -> delivered X-Shopify-Topic
TOPICS = {"ORDERS_PAID": "orders/paid", "ORDERS_CANCELLED": "orders/cancelled",
          "FULFILLMENTS_CREATE": "fulfillments/create", "FULFILLMENTS_UPDATE": "fulfillments/update"}
# Declared in the app's configuration, never created through the API (Shopify requires them of App Store apps)
PRIVACY_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")


class AdminError(Exception):
    """Shopify refused or failed: names the setting or the answer, and the fix."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        super().__init__(f"{field}: {problem}. Fix: {fix}.")
        self.field, self.problem, self.fix = field, problem, fix


SHOP_QUERY = """query Connect { shop { name myshopifyDomain }
  currentAppInstallation { accessScopes { handle } } }"""

HOOKS_QUERY = """query Hooks($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id topic uri format } } }"""

CREATE_HOOK = """mutation Hook($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription { id topic uri }
    userErrors { field message } } }"""

# One order costs 1 + 2 addresses + FULFILLMENTS x (1 + TRACKING) requested points; the actual cost counts
# what is there (most orders: one fulfillment with one number).
FULFILLMENTS, TRACKING = 5, 3
ORDERS_QUERY = f"""query Backfill($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: CREATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id name email phone customerLocale statusPageUrl createdAt updatedAt cancelledAt
      displayFinancialStatus displayFulfillmentStatus
      shippingAddress {{ phone countryCodeV2 }}
      billingAddress {{ phone countryCodeV2 }}
      fulfillments(first: {FULFILLMENTS}) {{ id name status displayStatus updatedAt deliveredAt
        trackingInfo(first: {TRACKING}) {{ company number url }} }} }} }} }}"""


@dataclass
class Bucket:
    """The leaky bucket as Shopify last reported it, refilled since at its restore rate."""

    maximum: float = 0.0
    available: float = 0.0
    restore: float = 0.0
    at: float = 0.0  # monotonic time of the report
    known: bool = False
    waited: float = 0.0  # seconds spent waiting for it, in all
    throttled: int = 0  # THROTTLED answers

    def update(self, cost: dict[str, Any] | None, now: float) -> None:
        status = (cost or {}).get("throttleStatus") or {}
        try:
            self.maximum = float(status["maximumAvailable"])
            self.available = float(status["currentlyAvailable"])
            self.restore = float(status["restoreRate"])
        except (KeyError, TypeError, ValueError):
            return
        self.at, self.known = now, True

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until the bucket holds `cost` points (0: now)."""
        if not self.known or self.restore <= 0:
            return 0.0
        need = min(cost, self.maximum)
        have = min(self.maximum, self.available + (now - self.at) * self.restore)
        return max(0.0, (need - have) / self.restore)


@dataclass
class Answer:
    data: dict[str, Any]
    requested: float | None = None
    actual: float | None = None


@dataclass
class Hooks:
    created: list[str] = field(default_factory=list)  # topics
    kept: list[str] = field(default_factory=list)  # already there
    elsewhere: list[tuple[str, str]] = field(default_factory=list)  # (topic, uri) of ours pointing elsewhere


class Admin:
    """One shop's GraphQL Admin API. `graphql()` is the only IO (with the token fetch)."""

    def __init__(self, settings: ShopifySettings, http: aiohttp.ClientSession, *, clock: Clock = SYSTEM,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.s = settings
        self.http = http
        self.base = settings.base_url or f"https://{settings.shop}"
        self.url = f"{self.base}/admin/api/{settings.api_version}/graphql.json"
        self.sleep, self.monotonic = sleep, monotonic
        self.bucket = Bucket()
        self.points = 0.0  # actual cost spent, in all
        self.queries = 0
        self.grant = not settings.access_token
        self.tokens = TokenCache(self._fetch_token, clock, margin_seconds=TOKEN_MARGIN_SECONDS)
        self.scopes: set[str] = set()

    # --- tokens ---
    async def _fetch_token(self) -> tuple[str, float]:
        if not self.grant:
            return self.s.access_token, 10 * 365 * 86400
        form = {"grant_type": "client_credentials", "client_id": self.s.client_id,
                "client_secret": self.s.client_secret}
        try:
            status, body = await self._post(f"{self.base}/admin/oauth/access_token", data=form)
        except ConnectionError as exc:
            raise AdminError("shopify.shop", f"Shopify did not answer ({exc})",
                             "check shopify.shop and the network, then run connect again") from None
        if status in (400, 401, 403) or (isinstance(body, dict) and body.get("error")):
            detail = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
            raise AdminError("shopify.client_id", f"Shopify refused the client ID and secret (HTTP {status}"
                             f"{': ' + str(detail)[:120] if detail else ''})",
                             "copy both from the app's Settings in the Dev Dashboard; the app must belong to "
                             "the organisation that owns this store and be installed on it")
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise AdminError("shopify.shop", f"the token request answered HTTP {status}",
                             "check shopify.shop, or try again later")
        self.scopes = {s.strip() for s in str(body.get("scope") or "").split(",") if s.strip()}
        lifetime = body.get("expires_in")
        return body["access_token"], float(lifetime) if isinstance(lifetime, int | float) else 86400.0

    async def _post(self, url: str, **kwargs) -> tuple[int, Any]:
        try:
            async with self.http.post(url, timeout=aiohttp.ClientTimeout(total=self.s.timeout_seconds),
                                      **kwargs) as resp:
                raw = await resp.read()
                status, headers = resp.status, resp.headers
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise ConnectionError(f"{redact.origin(url)}: {redact.connect_reason(exc)}") from None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw[:200].decode("utf-8", "replace")
        self._retry_after = headers.get("Retry-After")
        return status, body

    # --- queries ---
    async def graphql(self, query: str, variables: dict[str, Any] | None = None, *,
                      expected_cost: float = 10) -> Answer:
        """Run one query within the rate limit; THROTTLED, 429, 5xx and lost connections are retried."""
        failures = 0
        refreshed = False
        while True:
            wait = self.bucket.wait_for(expected_cost, self.monotonic())
            if wait > 0:
                self.bucket.waited += wait
                await self.sleep(wait)
            token = await self.tokens.get()
            try:
                status, body = await self._post(self.url, json={"query": query, "variables": variables or {}},
                                                headers={"X-Shopify-Access-Token": token,
                                                         "Content-Type": "application/json"})
            except ConnectionError as exc:
                failures += 1
                if failures >= CONNECT_TRIES:
                    raise AdminError("shopify.shop", f"Shopify did not answer ({exc})",
                                     "check shopify.shop and the network, then run connect again") from None
                await self.sleep(min(30.0, 2.0 ** failures))
                continue
            self.queries += 1
            cost = body.get("extensions", {}).get("cost") if isinstance(body, dict) else None
            self.bucket.update(cost, self.monotonic())
            if status == 401:
                if self.grant and not refreshed:
                    self.tokens.invalidate(token)
                    refreshed = True
                    continue
                raise AdminError("shopify.client_id" if self.grant else "shopify.access_token",
                                 "Shopify refused the access token (HTTP 401)",
                                 "give the app's current credentials (a token is shown once when the app is "
                                 "installed; an uninstalled app's token stops working)")
            if status == 402:
                raise AdminError("shopify.shop", "the shop is frozen or unpaid (HTTP 402)", "settle the plan in Shopify")
            if status == 404:
                raise AdminError("shopify.shop", f"no shop answers at {redact.origin(self.url)} "
                                 f"(HTTP 404, or API version {self.s.api_version} unknown)",
                                 "check shopify.shop and shopify.api_version")
            throttled = status == 429 or _code(body) == "THROTTLED"
            if throttled or status >= 500:
                failures += 1
                self.bucket.throttled += throttled
                if failures >= MAX_TRIES:
                    raise AdminError("shopify", f"Shopify kept answering {'THROTTLED' if throttled else status}",
                                     "run connect again later (it carries on where it stopped)")
                if throttled and cost:
                    expected_cost = max(expected_cost, float(cost.get("requestedQueryCost") or 0))
                    continue  # waits for the refill at the top
                await self.sleep(_seconds(self._retry_after) or min(30.0, 2.0 ** failures))
                continue
            if status != 200 or not isinstance(body, dict):
                raise AdminError("shopify", f"unexpected answer HTTP {status}", "run connect again later")
            errors = body.get("errors")
            if errors:
                raise _graphql_error(errors)
            self.points += float((cost or {}).get("actualQueryCost") or 0)
            return Answer(body.get("data") or {}, (cost or {}).get("requestedQueryCost"),
                          (cost or {}).get("actualQueryCost"))

    async def check(self) -> str:
        """The shop's name; refuses missing scopes before anything is written."""
        answer = await self.graphql(SHOP_QUERY, expected_cost=3)
        handles = {s.get("handle") for s in ((answer.data.get("currentAppInstallation") or {})
                                              .get("accessScopes") or []) if isinstance(s, dict)}
        self.scopes |= {h for h in handles if isinstance(h, str)}
        missing = [s for s in SCOPES if s not in self.scopes and s.replace("read_", "write_") not in self.scopes]
        if missing:
            raise AdminError("shopify", f"the app lacks the access scope {', '.join(missing)}",
                             f"give the app {', '.join(missing)} (Admin API access scopes), install it again, "
                             "and run connect again")
        return str((answer.data.get("shop") or {}).get("name") or self.s.shop)

    async def webhooks(self) -> list[dict[str, Any]]:
        out, after = [], None
        while True:
            page = (await self.graphql(HOOKS_QUERY, {"after": after}, expected_cost=110)).data["webhookSubscriptions"]
            out += [n for n in page.get("nodes") or [] if isinstance(n, dict)]
            if not (page.get("pageInfo") or {}).get("hasNextPage"):
                return out
            after = page["pageInfo"]["endCursor"]

    async def ensure_webhooks(self, uri: str, *, dry_run: bool = False) -> Hooks:
        """Create the subscriptions tracker needs that are missing (none twice: a second run creates none)."""
        hooks = Hooks()
        existing = await self.webhooks()
        have = {(h.get("topic"), h.get("uri") or h.get("callbackUrl")) for h in existing}
        for topic in TOPICS:
            if (topic, uri) in have:
                hooks.kept.append(topic)
                continue
            hooks.elsewhere += [(t, u) for t, u in have if t == topic and u != uri]
            if dry_run:
                hooks.created.append(topic)
                continue
            result = (await self.graphql(CREATE_HOOK, {"topic": topic, "sub": {"uri": uri, "format": "JSON"}}))
            payload = result.data.get("webhookSubscriptionCreate") or {}
            problems = payload.get("userErrors") or []
            if problems:
                first = problems[0] if isinstance(problems[0], dict) else {}
                raise AdminError("shopify", f"Shopify refused the {TOPICS[topic]} webhook: "
                                 f"{str(first.get('message'))[:200]}",
                                 "fix what it says (an https server.public_url that Shopify can reach; the "
                                 "app's access scopes), then run connect again: what was made stays")
            hooks.created.append(topic)
        return hooks

    async def orders(self, since: datetime, *, page_size: int | None = None) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of the orders created since `since` (not cancelled), oldest first."""
        search = f"created_at:>='{since.strftime('%Y-%m-%dT%H:%M:%SZ')}' AND -status:cancelled"
        first, per_order, after = page_size or 10, None, None
        while True:
            expected = 2 + first * (per_order or (3 + FULFILLMENTS * (1 + TRACKING)))
            try:
                answer = await self.graphql(ORDERS_QUERY, {"first": first, "after": after, "query": search},
                                            expected_cost=expected)
            except AdminError as exc:
                if "MAX_COST_EXCEEDED" in exc.problem and first > 1:
                    first = max(1, first // 2)
                    continue
                raise
            page = answer.data.get("orders") or {}
            yield [n for n in page.get("nodes") or [] if isinstance(n, dict)]
            if answer.requested and per_order is None and first:
                per_order = max(1.0, (float(answer.requested) - 2) / first)
                if page_size is None:  # as many a page as one query may cost
                    cap = min(MAX_QUERY_COST, self.bucket.maximum or MAX_QUERY_COST)
                    first = int(max(1, min(250, (cap - 2) // per_order)))
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            after = info.get("endCursor")


def _code(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        for e in body["errors"]:
            if isinstance(e, dict) and isinstance(e.get("extensions"), dict):
                return e["extensions"].get("code")
    return None


def _graphql_error(errors: Any) -> AdminError:
    if not isinstance(errors, list):  # REST-style {"errors": "..."}
        return AdminError("shopify", f"Shopify answered: {str(errors)[:200]}", "check the settings under shopify:")
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    ext = first.get("extensions") if isinstance(first.get("extensions"), dict) else {}
    code, message = ext.get("code"), str(first.get("message") or "")[:200]
    if code == "ACCESS_DENIED":
        need = ext.get("requiredAccess") or "more access scopes"
        return AdminError("shopify", f"access denied: {message}", f"give the app {str(need)[:120]}, install it "
                          "again, and run connect again")
    return AdminError("shopify", f"Shopify refused the query ({code or 'error'}): {message}",
                      "report it with this message")


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def fulfillment_open(f: dict) -> bool:
    """A REST fulfillment (payloads.rest_fulfillments) still worth tracking: not cancelled, not delivered."""
    return (f.get("status") not in ("cancelled", "error", "failure")
            and str(f.get("shipment_status") or "").upper() != "DELIVERED")


PAID = {"PAID", "PARTIALLY_PAID", "PARTIALLY_REFUNDED"}


def since(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)
