"""A fake Shopify GraphQL Admin API: real GraphQL (graphql-core, a subset of Shopify's schema), its cost
extension and a leaky bucket that throttles, the client credentials grant, and Shopify's refusals.

What it speaks (shopify.dev; the notes in docs/shops.md):
- `POST /admin/api/<version>/graphql.json` with `X-Shopify-Access-Token`; a wrong token: HTTP 401
  `{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}`.
- Cost: scalars and enums 0, objects 1, connections 2 + first x (node), lists `first` x (item), mutations
  10; a query may cost at most 1000 (else MAX_COST_EXCEEDED). The requested cost is taken from the bucket
  before the query runs and the difference to the actual cost (what was there) given back. A query costing
  more than the bucket holds: HTTP 200 `{"errors": [{"message": "Throttled", "extensions": {"code":
  "THROTTLED"}}]}`. Every answer: `extensions.cost {requestedQueryCost, actualQueryCost, throttleStatus
  {maximumAvailable, currentlyAvailable, restoreRate}}`.
- A field the app has no scope for: `errors[{message: "Access denied for orders field. Required access:
  `read_orders` access scope.", extensions: {code: ACCESS_DENIED, requiredAccess}}]`.
- `POST /admin/oauth/access_token` (form: grant_type=client_credentials, client_id, client_secret):
  `{"access_token", "scope", "expires_in": 86399}`; tokens stop working when they expire.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    OperationDefinitionNode,
    build_schema,
    execute,
    get_named_type,
    parse,
    validate,
)
from graphql.language import FragmentSpreadNode, InlineFragmentNode

from tests.fakes._base import FakeServer

SDL = """
scalar DateTime
scalar URL

enum WebhookSubscriptionTopic { ORDERS_PAID ORDERS_CANCELLED ORDERS_UPDATED ORDERS_CREATE FULFILLMENTS_CREATE
  FULFILLMENTS_UPDATE FULFILLMENT_EVENTS_CREATE APP_UNINSTALLED }
enum WebhookSubscriptionFormat { JSON XML }
enum OrderSortKeys { CREATED_AT UPDATED_AT ID PROCESSED_AT }
enum FulfillmentStatus { SUCCESS CANCELLED ERROR FAILURE OPEN PENDING }
enum FulfillmentDisplayStatus { ATTEMPTED_DELIVERY CANCELED CONFIRMED DELIVERED FAILURE FULFILLED IN_TRANSIT
  LABEL_PRINTED LABEL_PURCHASED LABEL_VOIDED MARKED_AS_FULFILLED NOT_DELIVERED OUT_FOR_DELIVERY PICKED_UP
  READY_FOR_PICKUP SUBMITTED }
enum OrderDisplayFinancialStatus { AUTHORIZED EXPIRED PAID PARTIALLY_PAID PARTIALLY_REFUNDED PENDING REFUNDED VOIDED }
enum OrderDisplayFulfillmentStatus { FULFILLED IN_PROGRESS ON_HOLD OPEN PARTIALLY_FULFILLED PENDING_FULFILLMENT
  REQUEST_DECLINED RESTOCKED SCHEDULED UNFULFILLED }
enum CountPrecision { EXACT AT_LEAST }

type Query {
  shop: Shop!
  currentAppInstallation: AppInstallation!
  orders(first: Int, last: Int, after: String, before: String, query: String, sortKey: OrderSortKeys,
         reverse: Boolean): OrderConnection!
  ordersCount(query: String, limit: Int): Count
  webhookSubscriptions(first: Int, after: String, topics: [WebhookSubscriptionTopic!], uri: String,
                       callbackUrl: URL): WebhookSubscriptionConnection!
}
type Mutation {
  webhookSubscriptionCreate(topic: WebhookSubscriptionTopic!,
                            webhookSubscription: WebhookSubscriptionInput!): WebhookSubscriptionCreatePayload
  webhookSubscriptionDelete(id: ID!): WebhookSubscriptionDeletePayload
}
type Shop { id: ID! name: String! myshopifyDomain: String! email: String }
type AppInstallation { id: ID! accessScopes: [AccessScope!]! }
type AccessScope { handle: String! description: String }
type Count { count: Int! precision: CountPrecision! }
type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }
type OrderConnection { nodes: [Order!]! edges: [OrderEdge!]! pageInfo: PageInfo! }
type OrderEdge { cursor: String! node: Order! }
type Order {
  id: ID! legacyResourceId: String! name: String! email: String phone: String customerLocale: String
  statusPageUrl: URL! createdAt: DateTime! updatedAt: DateTime! cancelledAt: DateTime closed: Boolean!
  displayFinancialStatus: OrderDisplayFinancialStatus displayFulfillmentStatus: OrderDisplayFulfillmentStatus!
  shippingAddress: MailingAddress billingAddress: MailingAddress customer: Customer
  fulfillments(first: Int): [Fulfillment!]!
}
type MailingAddress { firstName: String lastName: String address1: String city: String zip: String
  phone: String countryCodeV2: String country: String }
type Customer { id: ID! email: String phone: String firstName: String lastName: String }
type Fulfillment {
  id: ID! legacyResourceId: String! name: String! status: FulfillmentStatus! displayStatus: FulfillmentDisplayStatus
  createdAt: DateTime! updatedAt: DateTime! deliveredAt: DateTime inTransitAt: DateTime estimatedDeliveryAt: DateTime
  trackingInfo(first: Int): [FulfillmentTrackingInfo!]!
}
type FulfillmentTrackingInfo { company: String number: String url: URL }
type WebhookSubscriptionConnection { nodes: [WebhookSubscription!]! edges: [WebhookSubscriptionEdge!]!
  pageInfo: PageInfo! }
type WebhookSubscriptionEdge { cursor: String! node: WebhookSubscription! }
type WebhookSubscription { id: ID! topic: WebhookSubscriptionTopic! uri: String! callbackUrl: URL!
  format: WebhookSubscriptionFormat! createdAt: DateTime! updatedAt: DateTime! }
input WebhookSubscriptionInput { uri: String callbackUrl: URL format: WebhookSubscriptionFormat
  includeFields: [String!] filter: String }
type UserError { field: [String!] message: String! }
type WebhookSubscriptionCreatePayload { webhookSubscription: WebhookSubscription userErrors: [UserError!]! }
type WebhookSubscriptionDeletePayload { deletedWebhookSubscriptionId: ID userErrors: [UserError!]! }
"""

SCHEMA = build_schema(SDL)
MAX_COST = 1000
MUTATION_COST = 10
BAD_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
NEEDS = {"orders": "read_orders", "ordersCount": "read_orders"}  # field -> scope
TOPIC_NEEDS = {"ORDERS_PAID": "read_orders", "ORDERS_CANCELLED": "read_orders", "ORDERS_UPDATED": "read_orders",
               "ORDERS_CREATE": "read_orders", "FULFILLMENTS_CREATE": "read_orders",
               "FULFILLMENTS_UPDATE": "read_orders"}


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cursor(i: int) -> str:
    return base64.b64encode(json.dumps({"last_id": i}).encode()).decode()


def _index(cursor: str | None) -> int:
    if not cursor:
        return -1
    try:
        return int(json.loads(base64.b64decode(cursor))["last_id"])
    except (ValueError, KeyError, TypeError):
        raise GraphQLError("Invalid cursor for current pagination sort.") from None


class FakeShopify(FakeServer):
    def __init__(self, *, shop: str = "casa-azul.myshopify.com", token: str = "shpat_fake_static_token",
                 client_id: str = "fake-client-id", client_secret: str = "fake-client-secret",
                 scopes: tuple[str, ...] = ("read_orders", "write_orders", "read_customers"),
                 bucket_max: float = 2000, restore_rate: float = 100, latency: float = 0.0,
                 now: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(latency=latency, now=now)
        self.domain, self.client_id, self.client_secret = shop, client_id, client_secret
        self.scopes = list(scopes)
        self.tokens: dict[str, float] = {token: float("inf")}  # token -> expires (epoch seconds)
        self.bucket_max, self.restore_rate = bucket_max, restore_rate
        self.available, self._at = bucket_max, monotonic()
        self.monotonic = monotonic
        self.all_orders: list[dict[str, Any]] = []  # GraphQL-shaped Order objects
        self.hooks: list[dict[str, Any]] = []
        self.throttled = 0  # THROTTLED answers given
        self.queries = 0  # queries run (not throttled, not refused)
        self.points = 0.0  # actual cost taken, in all
        self.grants = 0  # tokens issued by the client credentials grant
        self.refused_tokens = 0
        self.token_lifetime = 86399
        self._seq = 0

    # --- data -----------------------------------------------------------------------------------
    def gid(self, kind: str) -> str:
        self._seq += 1
        return f"gid://shopify/{kind}/{4500000000 + self._seq}"

    def add_order(self, *, name: str, created: datetime, email: str | None = None, phone: str | None = None,
                  locale: str | None = "en", country: str | None = "US", address_phone: str | None = None,
                  financial: str = "PAID", fulfillments: list[dict] | None = None,
                  cancelled: bool = False, updated: datetime | None = None) -> dict[str, Any]:
        oid = self.gid("Order")
        token = secrets.token_hex(16)
        address = {"phone": address_phone, "countryCodeV2": country, "country": None, "firstName": "Ana",
                   "lastName": "Souza", "address1": "Rua Augusta 10", "city": "Lisboa", "zip": "1100-053"}
        order = {
            "id": oid, "legacyResourceId": oid.rsplit("/", 1)[1], "name": name, "email": email, "phone": phone,
            "customerLocale": locale, "createdAt": _iso(created), "updatedAt": _iso(updated or created),
            "statusPageUrl": f"https://{self.domain}/{oid.rsplit('/', 1)[1]}/orders/{token}/authenticate?key={token[:8]}",
            "cancelledAt": _iso(created + timedelta(hours=1)) if cancelled else None, "closed": False,
            "displayFinancialStatus": financial,
            "displayFulfillmentStatus": "FULFILLED" if fulfillments else "UNFULFILLED",
            "shippingAddress": address if country else None, "billingAddress": address if country else None,
            "customer": {"id": self.gid("Customer"), "email": email, "phone": phone},
            "fulfillments": [],
        }
        for i, f in enumerate(fulfillments or [], 1):
            fid = self.gid("Fulfillment")
            order["fulfillments"].append({
                "id": fid, "legacyResourceId": fid.rsplit("/", 1)[1], "name": f"{name}.{i}",
                "status": f.get("status", "SUCCESS"), "displayStatus": f.get("display", "IN_TRANSIT"),
                "createdAt": _iso(created + timedelta(days=1)), "updatedAt": _iso(created + timedelta(days=1)),
                "deliveredAt": None, "inTransitAt": None, "estimatedDeliveryAt": None,
                "trackingInfo": [{"company": f.get("company"), "number": n, "url": f.get("url")}
                                 for n in f.get("numbers", [])]})
        self.all_orders.append(order)
        return order

    # --- HTTP -----------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_post("/admin/oauth/access_token", self._grant)
        app.router.add_post("/admin/api/{version}/graphql.json", self._graphql)

    async def _grant(self, request: web.Request) -> web.Response:
        if (fault := await self._fault()) is not None:
            return fault
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return web.json_response({"error": "invalid_client", "error_description": "Client authentication "
                                      "failed due to unknown client, no client authentication included, or "
                                      "unsupported authentication method."}, status=400)
        token = "shpat_" + secrets.token_hex(16)
        self.tokens[token] = self.now() + self.token_lifetime
        self.grants += 1
        return web.json_response({"access_token": token, "scope": ",".join(self.scopes),
                                  "expires_in": self.token_lifetime})

    def _refill(self) -> None:
        now = self.monotonic()
        self.available = min(self.bucket_max, self.available + (now - self._at) * self.restore_rate)
        self._at = now

    def _cost(self, requested: float | None, actual: float | None) -> dict[str, Any]:
        return {"requestedQueryCost": requested, "actualQueryCost": actual,
                "throttleStatus": {"maximumAvailable": self.bucket_max,
                                   "currentlyAvailable": int(self.available), "restoreRate": self.restore_rate}}

    async def _graphql(self, request: web.Request) -> web.Response:
        if (fault := await self._fault()) is not None:
            return fault
        token = request.headers.get("X-Shopify-Access-Token", "")
        if self.tokens.get(token, 0) <= self.now():
            self.refused_tokens += 1
            return web.json_response({"errors": BAD_TOKEN}, status=401)
        try:
            body = await request.json()
            document = parse(body["query"])
        except Exception as exc:  # noqa: BLE001 - Shopify answers a parse error as a GraphQL error
            return web.json_response({"errors": [{"message": f"Parse error: {exc}"}]}, status=200)
        problems = validate(SCHEMA, document)
        if problems:
            return web.json_response({"errors": [e.formatted for e in problems]})
        variables = body.get("variables") or {}
        op = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        mutation = op.operation.value == "mutation"
        requested = MUTATION_COST if mutation else _requested(op, variables, document)
        self._refill()
        if requested > MAX_COST:
            return web.json_response({"errors": [{"message": f"Query cost is {requested}, which exceeds the single "
                                                  f"query max cost limit ({MAX_COST}).",
                                                  "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                                                                 "maxCost": MAX_COST}}],
                                      "extensions": {"cost": self._cost(requested, None)}})
        if requested > self.available:
            self.throttled += 1
            return web.json_response({"errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": self._cost(requested, None)}})
        self.available -= requested
        result = execute(SCHEMA, document, root_value=self, variable_values=variables)
        actual = MUTATION_COST if mutation else _actual(op, result.data, document) if result.data else 0
        self.available = min(self.bucket_max, self.available + max(0, requested - actual))
        self.queries += 1
        self.points += actual
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        out["extensions"] = {"cost": self._cost(requested, actual)}
        return web.json_response(out)

    # --- resolvers (graphql-core calls the root value's attributes) ------------------------------
    def _need(self, field: str, info) -> None:
        scope = NEEDS.get(field)
        if scope and scope not in self.scopes:
            raise GraphQLError(f"Access denied for {field} field. Required access: `{scope}` access scope.",
                               extensions={"code": "ACCESS_DENIED",
                                           "documentation": "https://shopify.dev/api/usage/access-scopes",
                                           "requiredAccess": f"`{scope}` access scope."})

    def shop(self, info) -> dict:
        return {"id": "gid://shopify/Shop/1", "name": "Casa Azul", "myshopifyDomain": self.domain, "email": None}

    def currentAppInstallation(self, info) -> dict:  # noqa: N802 - GraphQL's field name
        return {"id": "gid://shopify/AppInstallation/1", "accessScopes": [{"handle": s} for s in self.scopes]}

    def _matching(self, query: str | None) -> list[dict]:
        orders = sorted(self.all_orders, key=lambda o: (o["createdAt"], o["id"]))
        for op, value in re.findall(r"created_at:(>=|>|<=|<)'?([0-9T:\-Z.+]+)'?", query or ""):
            moment = value.replace("Z", "+00:00")
            orders = [o for o in orders if _compare(o["createdAt"].replace("Z", "+00:00"), op, moment)]
        if re.search(r"(-|NOT\s+)status:cancelled", query or ""):
            orders = [o for o in orders if not o["cancelledAt"]]
        return orders

    def orders(self, info, first=None, after=None, query=None, sortKey=None, **_) -> dict:  # noqa: N803
        self._need("orders", info)
        if first is None or not 0 < first <= 250:
            raise GraphQLError("you must provide one of first or last, at most 250")
        matching = self._matching(query)
        start = _index(after) + 1
        page = matching[start:start + first]
        end = start + len(page) - 1
        return {"nodes": page, "edges": [{"cursor": _cursor(start + i), "node": n} for i, n in enumerate(page)],
                "pageInfo": {"hasNextPage": end + 1 < len(matching), "hasPreviousPage": start > 0,
                             "startCursor": _cursor(start) if page else None,
                             "endCursor": _cursor(end) if page else None}}

    def ordersCount(self, info, query=None, limit=10000) -> dict:  # noqa: N802
        self._need("ordersCount", info)
        n = len(self._matching(query))
        if limit is not None and n > limit:
            return {"count": limit, "precision": "AT_LEAST"}
        return {"count": n, "precision": "EXACT"}

    def webhookSubscriptions(self, info, first=None, after=None, topics=None, uri=None, **_) -> dict:  # noqa: N802
        hooks = [h for h in self.hooks if (not topics or h["topic"] in topics) and (not uri or h["uri"] == uri)]
        start = _index(after) + 1
        page = hooks[start:start + (first or 0)]
        end = start + len(page) - 1
        return {"nodes": page, "edges": [{"cursor": _cursor(start + i), "node": n} for i, n in enumerate(page)],
                "pageInfo": {"hasNextPage": end + 1 < len(hooks), "hasPreviousPage": start > 0,
                             "startCursor": _cursor(start) if page else None,
                             "endCursor": _cursor(end) if page else None}}

    def webhookSubscriptionCreate(self, info, topic, webhookSubscription) -> dict:  # noqa: N802, N803
        scope = TOPIC_NEEDS.get(topic)
        if scope and scope not in self.scopes:
            raise GraphQLError(f"Access denied for webhookSubscriptionCreate field. Required access: `{scope}` "
                               "access scope.", extensions={"code": "ACCESS_DENIED", "requiredAccess": scope})
        uri = webhookSubscription.get("uri") or webhookSubscription.get("callbackUrl") or ""
        if not re.fullmatch(r"https://[^\s]+", uri):
            return {"webhookSubscription": None,
                    "userErrors": [{"field": ["webhookSubscription", "callbackUrl"], "message": "Address is invalid"}]}
        if any(h["topic"] == topic and h["uri"] == uri for h in self.hooks):
            return {"webhookSubscription": None, "userErrors": [
                {"field": ["webhookSubscription", "callbackUrl"],
                 "message": "Address for this topic has already been taken"}]}
        now = _iso(datetime.fromtimestamp(self.now(), timezone.utc))
        hook = {"id": self.gid("WebhookSubscription"), "topic": topic, "uri": uri, "callbackUrl": uri,
                "format": webhookSubscription.get("format") or "JSON", "createdAt": now, "updatedAt": now}
        self.hooks.append(hook)
        return {"webhookSubscription": hook, "userErrors": []}

    def webhookSubscriptionDelete(self, info, id) -> dict:  # noqa: A002
        before = len(self.hooks)
        self.hooks = [h for h in self.hooks if h["id"] != id]
        return {"deletedWebhookSubscriptionId": id if len(self.hooks) < before else None, "userErrors": []}


def _compare(a: str, op: str, b: str) -> bool:
    x, y = datetime.fromisoformat(a), datetime.fromisoformat(b)
    return {">=": x >= y, ">": x > y, "<=": x <= y, "<": x < y}[op]


# --- cost -------------------------------------------------------------------------------------------

def _fields(selection_set, fragments) -> list[FieldNode]:
    out = []
    for sel in selection_set.selections if selection_set else []:
        if isinstance(sel, FieldNode):
            out.append(sel)
        elif isinstance(sel, InlineFragmentNode):
            out += _fields(sel.selection_set, fragments)
        elif isinstance(sel, FragmentSpreadNode):
            out += _fields(fragments[sel.name.value].selection_set, fragments)
    return out


def _arg(node: FieldNode, name: str, variables: dict) -> Any:
    for a in node.arguments or []:
        if a.name.value == name:
            v = a.value
            if v.kind == "variable":
                return variables.get(v.name.value)
            return int(v.value) if v.kind == "int_value" else getattr(v, "value", None)
    return None


def _requested(op, variables: dict, document) -> float:
    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
    return _selection_cost(SCHEMA.query_type, op.selection_set, variables, fragments)


def _selection_cost(parent: GraphQLObjectType, selection_set, variables, fragments) -> float:
    total = 0.0
    for node in _fields(selection_set, fragments):
        name = node.name.value
        if name.startswith("__"):
            continue
        field = parent.fields[name]
        t = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
        named = get_named_type(t)
        if not isinstance(named, GraphQLObjectType) or named.name == "PageInfo":
            continue
        inner = _selection_cost(named, node.selection_set, variables, fragments)
        if parent.name.endswith("Connection") and name in ("nodes", "edges"):
            total += 1 + inner if name == "nodes" else inner  # per node: the connection multiplies
        elif named.name.endswith("Connection"):
            first = _arg(node, "first", variables) or _arg(node, "last", variables) or 0
            total += 2 + first * inner
        elif isinstance(t, GraphQLList):
            total += (_arg(node, "first", variables) or 10) * (1 + inner)
        else:
            total += 1 + inner
    return total


def _actual(op, data: dict | None, document) -> float:
    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
    return _value_cost(SCHEMA.query_type, op.selection_set, data or {}, fragments)


def _value_cost(parent: GraphQLObjectType, selection_set, data: Any, fragments) -> float:
    if not isinstance(data, dict):
        return 0.0
    total = 0.0
    for node in _fields(selection_set, fragments):
        name = node.name.value
        key = node.alias.value if node.alias else name
        field = parent.fields.get(name)
        if field is None:
            continue
        named = get_named_type(field.type)
        if not isinstance(named, GraphQLObjectType) or named.name == "PageInfo":
            continue
        value = data.get(key)
        if value is None:
            continue
        if named.name.endswith("Connection"):
            total += 2 + _value_cost(named, node.selection_set, value, fragments)
        elif isinstance(value, list):
            total += sum(1 + _value_cost(named, node.selection_set, v, fragments) for v in value)
        else:
            total += 1 + _value_cost(named, node.selection_set, value, fragments)
    return total
