"""The shop's HTTP API, JSON under /api/v1, bearer API keys (`tracker apikey create NAME`).

Every error is `{"error": {"field", "problem", "fix"}}` with a 4xx status; request bodies are read up to
`api.max_body_bytes`; no input gets a 500 (a bug still answers JSON, and is logged).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from tracker import apikeys
from tracker.bulk import FIELDS, carriers_of, field_name, register_batch, validate_item
from tracker.conversations import CaseError, close_case
from tracker.conversations.cases import open_cases
from tracker.conversations.support import answer as conversation_answer
from tracker.db import sessionmaker
from tracker.models import Notification, Order, Shipment, TrackingEventRow
from tracker.orders import CONTACT, InputError
from tracker.web import common
from tracker.web.common import DAEMON

log = logging.getLogger("tracker.api")

PREFIX = "/api/v1"
API_USER = web.RequestKey("api_user", str) if hasattr(web, "RequestKey") else "api_user"  # aiohttp < 3.12


class ApiError(Exception):
    def __init__(self, status: int, field: str, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.status, self.field, self.problem, self.fix = status, field, problem, fix


def error_response(status: int, field: str, problem: str, fix: str = "", headers: dict | None = None) -> web.Response:
    return web.json_response({"error": {"field": field, "problem": problem, "fix": fix}}, status=status,
                             headers=headers)


# --- middleware: auth, JSON errors, never a traceback -------------------------------------------------

@web.middleware
async def api_middleware(request: web.Request, handler):
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        if request.path != f"{PREFIX}/openapi.json":
            await authenticate(request)
        return await handler(request)
    except ApiError as exc:
        headers = {"WWW-Authenticate": 'Bearer realm="tracker"'} if exc.status == 401 else None
        return error_response(exc.status, exc.field, exc.problem, exc.fix, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        problem = {404: "no such endpoint", 405: f"method {request.method} is not allowed here",
                   413: "the request body is too large"}.get(exc.status, exc.reason)
        return error_response(exc.status, "(request)", problem, f"see {PREFIX}/openapi.json")
    except Exception:  # a bug: say so in JSON, keep the details in the log
        log.exception("API %s %s failed", request.method, request.path)
        return error_response(500, "(server)", "internal error", "try again; the error was logged")


async def authenticate(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Authorization", "missing bearer API key",
                       "send `Authorization: Bearer <key>`; make a key with `tracker apikey create NAME`")
    daemon = request.app[DAEMON]
    name = await apikeys.check_key(daemon.engine, token.strip(), daemon.clock.now())
    if name is None:
        raise ApiError(401, "Authorization", "unknown or revoked API key", "use a live key (tracker apikey list)")
    request[API_USER] = f"apikey:{name}"
    return name


async def read_json(request: web.Request) -> Any:
    limit = request.app[DAEMON].settings.api.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "(body)", f"the body is larger than {limit} bytes",
                       "send fewer shipments per request")
    chunks, size = [], 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "(body)", f"the body is larger than {limit} bytes", "send fewer shipments per request")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ApiError(400, "(body)", "the body is empty", "send a JSON object")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, "(body)", f"the body is not valid JSON ({type(exc).__name__})",
                       "send a JSON object with Content-Type: application/json") from None


def _int_param(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(422, name, f"{raw!r} is not a positive whole number", f"use the {name} from a lookup")
    return int(raw)


# --- serializers ---------------------------------------------------------------------------------------

def _ts(dt) -> str | None:
    return dt.isoformat() if dt else None


def shipment_json(daemon, ship: Shipment, order: Order | None = None) -> dict:
    base = daemon.settings.server.public_url.rstrip("/")
    out = {
        "id": ship.id, "carrier": ship.carrier, "tracking_number": ship.tracking_number, "status": ship.status,
        "status_text": common.status_line(ship), "tracking_stopped": ship.stopped_at is not None,
        "stopped_at": _ts(ship.stopped_at), "stopped_by": ship.stopped_by,
        "status_at": _ts(ship.status_at), "expected_delivery": ship.expected_delivery.isoformat()
        if ship.expected_delivery else None,
        "delivered_at": _ts(ship.delivered_at), "signed_by": ship.signed_by, "pickup_location": ship.pickup_location,
        "next_check_at": _ts(ship.next_check_at), "last_checked_at": _ts(ship.last_checked_at),
        "last_error": ship.last_error, "tracking_url": f"{base}/t/{ship.public_token}",
    }
    if order is not None:
        out["order_number"] = order.number
    return out


def order_json(order: Order) -> dict:
    return {"number": order.number, "email": order.email, "phone": order.phone, "locale": order.locale,
            "timezone": order.timezone, "channels": order.channel_list, "created_at": _ts(order.created_at),
            "contact_problem": order.contact_problem}


def event_json(e: TrackingEventRow) -> dict:
    return {"occurred_at": _ts(e.occurred_at), "utc_offset_minutes": e.utc_offset_minutes, "status": e.status,
            "raw_code": e.raw_code, "raw_text": e.raw_text, "location": e.location}


def notification_json(n: Notification) -> dict:
    return {"id": n.id, "milestone": n.milestone, "channel": n.channel, "state": n.state, "attempts": n.attempts,
            "error": n.error, "created_at": _ts(n.created_at), "sent_at": _ts(n.sent_at),
            "next_attempt_at": _ts(n.next_attempt_at)}


# --- handlers ------------------------------------------------------------------------------------------

async def create_shipments(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(422, "(body)", "must be a JSON object", "send one registration, or {\"shipments\": [...]}")
    bulk = "shipments" in body
    if bulk:
        if set(body) != {"shipments"}:
            extra = sorted(set(body) - {"shipments"})[0]
            raise ApiError(422, field_name(extra), "is not allowed next to shipments", "send only {\"shipments\": [...]}")
        items = body["shipments"]
        if not isinstance(items, list) or not items:
            raise ApiError(422, "shipments", "must be a non-empty list", "send a list of registrations")
        cap = daemon.settings.api.max_bulk
        if len(items) > cap:
            raise ApiError(422, "shipments", f"holds {len(items)} items, more than {cap}", f"send at most {cap} per request")
    else:
        items = [body]
    regs, errors = [], {}
    carriers = carriers_of(daemon.settings)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors[i] = InputError("(item)", "must be a JSON object", "send a registration object")
            continue
        try:  # a contact field left out keeps its value; JSON null clears it
            regs.append((i, validate_item(daemon.settings, item, null_clears=True, carriers=carriers)))
        except InputError as exc:
            errors[i] = exc
    outcomes = []
    for attempt in range(3):
        if not regs:
            break
        try:
            async with sessionmaker(daemon.engine)() as session, session.begin():
                outcomes = await register_batch(session, regs, daemon.clock.now(),
                                                first_check_seconds=daemon.settings.poller.first_check_seconds)
            break
        except IntegrityError:  # another request registered the same order or shipment meanwhile: again
            if attempt == 2:
                raise ApiError(409, "(body)", "the same orders are being registered by another request",
                               "send the request again") from None
    results: dict[int, dict] = {}
    for i, exc in errors.items():
        results[i] = {"index": i, "error": {"field": exc.field, "problem": exc.problem, "fix": exc.fix}}
    created = updated = 0
    for o in outcomes:
        if o.error:
            results[o.index] = {"index": o.index, "error": {"field": o.error.field, "problem": o.error.problem,
                                                            "fix": o.error.fix}}
        else:
            created += o.created
            updated += not o.created
            results[o.index] = {"index": o.index, "created": o.created, "changed": list(o.changed),
                                "shipment": shipment_json(daemon, o.shipment, o.order) if o.shipment else None}
            if o.shipment is None:  # registered before shipping: the order waits for its first parcel
                results[o.index]["order_number"] = o.order.number
    if created:
        common.wake_poller(daemon)
    log.info("%s registered %d, updated %d, rejected %d shipments", request.get(API_USER), created, updated,
             len(items) - created - updated)
    if not bulk:
        r = results[0]
        if "error" in r:
            return web.json_response({"error": r["error"]}, status=422)
        return web.json_response({k: v for k, v in r.items() if k != "index"},
                                 status=201 if r["created"] else 200)
    return web.json_response({"created": created, "updated": updated, "rejected": len(items) - created - updated,
                              "results": [results[i] for i in range(len(items))]})


async def get_order(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    number = request.match_info["number"]
    view = await common.load_order(daemon, number) if 0 < len(number.strip()) <= 64 else None
    if view is None:
        raise ApiError(404, "number", f"no order {number!r}", "check the order number (exact match)")
    return web.json_response({
        "order": order_json(view.order),
        "shipments": [{**shipment_json(daemon, s, view.order),
                       "events": [event_json(e) for e in view.events[s.id]],
                       "notifications": [notification_json(n) for n in view.notifications[s.id]],
                       "alerts": [{"cause": a.cause, "message": a.message, "created_at": _ts(a.created_at)}
                                  for a in view.alerts[s.id]]}
                      for s in view.shipments],
        # news about the order itself, before it has a parcel ("still preparing")
        "notifications": [notification_json(n) for n in view.order_notifications],
        "conversation": [message_json(m, view.conversation) for m in view.conversation.messages],
        "cases": [case_json(c) for c in view.conversation.cases]})


def message_json(m, talk) -> dict:
    return {"id": m.id, "at": _ts(m.created_at), "channel": talk.channel_of(m),
            "from": "customer" if m.direction == "in" else m.author, "kind": m.kind, "subject": m.subject,
            "text": m.body, "state": talk.state_of(m)}


def case_json(c, number: str | None = None, channel: str | None = None) -> dict:
    out = {"id": c.id, "reason": c.reason, "state": c.state, "source": c.source, "opened_at": _ts(c.opened_at),
           "first_answer_at": _ts(c.first_answer_at), "closed_at": _ts(c.closed_at), "closed_by": c.closed_by}
    if number is not None or channel is not None:
        out |= {"order_number": number, "channel": channel}
    return out


async def _answer_text(request: web.Request) -> str:
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise ApiError(422, "text", "is missing or not a string", 'send {"text": "your answer to the customer"}')
    return body["text"]


async def _answer(request: web.Request, **where) -> web.Response:
    daemon = request.app[DAEMON]
    text = await _answer_text(request)
    try:
        msg = await conversation_answer(daemon.engine, daemon.settings, daemon.clock.now(), text=text,
                                        who=request.get(API_USER, "api"), **where)
    except CaseError as exc:
        status = 404 if exc.field in ("case_id", "order") and exc.problem.startswith("no ") else 422
        raise ApiError(status, exc.field, exc.problem, "answer a customer who wrote to us (GET /cases)") from None
    daemon.wake_dispatcher()
    return web.json_response({"message": {"id": msg.id, "text": msg.body, "notification_id": msg.notification_id}},
                             status=202)


async def answer_order(request: web.Request) -> web.Response:
    return await _answer(request, order_number=request.match_info["number"][:64])


async def answer_case(request: web.Request) -> web.Response:
    return await _answer(request, case_id=_int_param(request, "case_id"))


async def list_cases(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    return web.json_response({"cases": [case_json(c, n, ch) for c, n, ch in await open_cases(daemon.engine)]})


async def close_case_(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    try:
        case = await close_case(daemon.engine, _int_param(request, "case_id"), by=request.get(API_USER, "api"),
                                now=daemon.clock.now())
    except CaseError as exc:
        raise ApiError(404, exc.field, exc.problem, "use an id from GET /cases") from None
    return web.json_response({"case": case_json(case)})


async def search(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    q = request.query.get("q", "")
    if not q.strip():
        raise ApiError(422, "q", "is empty", "give an order number, email, phone or tracking number")
    if len(q) > 254:
        raise ApiError(422, "q", "is longer than 254 characters", "shorten it")
    rows = await common.search(daemon, q)
    return web.json_response({"query": q, "results": [
        {**(shipment_json(daemon, s, o) if s is not None else {"order_number": o.number, "id": None,
                                                                "status": "waiting_to_ship"}),
         "email": o.email, "phone": o.phone, "waiting_to_ship": s is None} for o, s in rows]})


async def recheck(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    sid = _int_param(request, "shipment_id")
    try:
        ship = await common.recheck(daemon, sid, request.get(API_USER, "api"))
    except common.NotFound as exc:
        raise ApiError(404, exc.field, exc.problem, "use an id from a lookup or search") from None
    return web.json_response({"shipment": shipment_json(daemon, ship)}, status=202)


async def stop(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    sid = _int_param(request, "shipment_id")
    try:
        ship = await common.stop(daemon, sid, request.get(API_USER, "api"))
    except common.NotFound as exc:
        raise ApiError(404, exc.field, exc.problem, "use an id from a lookup or search") from None
    return web.json_response({"shipment": shipment_json(daemon, ship)})


async def resend(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    nid = _int_param(request, "notification_id")
    try:
        note = await common.resend(daemon, nid, request.get(API_USER, "api"))
    except common.NotFound as exc:
        raise ApiError(404, exc.field, exc.problem, "use a notification id from the order lookup") from None
    except common.Conflict as exc:
        raise ApiError(409, exc.field, exc.problem, "wait a minute and look again") from None
    return web.json_response({"notification": notification_json(note)}, status=202)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app[DAEMON].settings.server.public_url))


ROUTES = [
    ("POST", "/shipments", create_shipments),
    ("GET", "/orders/{number}", get_order),
    ("GET", "/search", search),
    ("POST", "/shipments/{shipment_id}/recheck", recheck),
    ("POST", "/shipments/{shipment_id}/stop", stop),
    ("POST", "/notifications/{notification_id}/resend", resend),
    ("POST", "/orders/{number}/reply", answer_order),
    ("GET", "/cases", list_cases),
    ("POST", "/cases/{case_id}/reply", answer_case),
    ("POST", "/cases/{case_id}/close", close_case_),
    ("GET", "/openapi.json", openapi),
]


def setup(app: web.Application) -> None:
    app.middlewares.append(api_middleware)
    for method, path, handler in ROUTES:
        app.router.add_route(method, PREFIX + path, handler)


# --- OpenAPI -------------------------------------------------------------------------------------------

def _err(desc: str) -> dict:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(desc: str, schema: dict) -> dict:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def openapi_document(server_url: str) -> dict:
    s = lambda t, **kw: {"type": t, **kw}  # noqa: E731
    nullable = lambda t, **kw: {"type": [t, "null"], **kw}  # noqa: E731
    ref = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
    common_errors = {"401": _err("Missing, unknown or revoked API key"), "422": _err("A field is wrong")}
    id_param = lambda name, what: {"name": name, "in": "path", "required": True,  # noqa: E731
                                   "description": what, "schema": s("integer", minimum=1)}
    registration = {
        "type": "object", "additionalProperties": False, "required": ["order_number"],
        "properties": {
            "order_number": s("string", maxLength=64, example="ORDER-1001"),
            "carrier": nullable("string", description="carrier name (may be omitted where it can be detected)",
                                example="sandbox"),
            "tracking_number": nullable("string", maxLength=64, example="SBX-DELIVER-1",
                                        description="left out: the order is registered before shipping and "
                                                    "waits for its first parcel"),
            "email": nullable("string", format="email", description="null clears it on a known order"),
            "phone": nullable("string", description="international form, e.g. +14155550123"),
            "locale": nullable("string", description="en, pt-BR, es or el"),
            "timezone": nullable("string", description="IANA name, e.g. America/Sao_Paulo"),
            "channels": {"oneOf": [{"type": "array", "items": {"type": "string", "enum": ["whatsapp", "sms", "email"]}},
                                   {"type": "string", "example": "sms,email"}, {"type": "null"}]},
            "country": nullable("string", example="PT",
                                description="the customer's country (ISO 3166-1 alpha-2; \"PT,ES\": shipping "
                                            "address, then billing): the phone is read in it, then in "
                                            "shop.default_region"),
            "tracking_url": nullable("string", description="the carrier's tracking page of this parcel as the "
                                                          "shop has it: linked when no source can track the carrier"),
        },
    }
    assert set(registration["properties"]) == set(FIELDS)
    answer = {"type": "object", "required": ["text"], "properties": {"text": s("string", maxLength=1600)}}
    changed = {"type": "array", "items": s("string", enum=list(CONTACT)),
               "description": "contact fields of a known order this registration changed"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "tracker API", "version": "1",
                 "description": "Register shipments, look orders up, ask for rechecks and resends. "
                                "Authenticate with `Authorization: Bearer <key>` (tracker apikey create NAME)."},
        "servers": [{"url": server_url.rstrip("/") + PREFIX}],
        "security": [{"bearer": []}],
        "paths": {
            "/shipments": {"post": {
                "operationId": "registerShipments",
                "summary": "Register one shipment, or up to 1,000 with {\"shipments\": [...]}. Idempotent on "
                           "(carrier, tracking number). Re-posting a known order changes only the contact "
                           "fields sent (null clears one; a field left out keeps its value); `changed` "
                           "lists what changed.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                    ref("Registration"),
                    {"type": "object", "additionalProperties": False, "required": ["shipments"],
                     "properties": {"shipments": {"type": "array", "minItems": 1, "maxItems": 1000,
                                                  "items": ref("Registration")}}}]}}}},
                "responses": {
                    "201": _ok("Registered", {"type": "object", "properties": {
                        "created": s("boolean"), "changed": changed,
                        "shipment": {"oneOf": [ref("Shipment"), {"type": "null"}]},
                        "order_number": s("string", description="given when the order waits for its first parcel")}}),
                    "200": _ok("Already known (contact data updated), or the bulk report", {"oneOf": [
                        {"type": "object", "properties": {"created": s("boolean"), "changed": changed,
                                                          "shipment": {"oneOf": [ref("Shipment"), {"type": "null"}]},
                                                          "order_number": s("string")}},
                        {"type": "object", "properties": {
                            "created": s("integer"), "updated": s("integer"), "rejected": s("integer"),
                            "results": {"type": "array", "items": {"type": "object", "properties": {
                                "index": s("integer"), "created": s("boolean"), "changed": changed,
                                "shipment": {"oneOf": [ref("Shipment"), {"type": "null"}]},
                                "order_number": s("string"), "error": ref("ErrorDetail")}}}}}]}),
                    "400": _err("Body is not JSON"), "413": _err("Body too large"), **common_errors}}},
            "/orders/{number}": {"get": {
                "operationId": "getOrder", "summary": "An order with its shipments, carrier events and notifications",
                "parameters": [{"name": "number", "in": "path", "required": True, "description": "order number",
                                "schema": s("string", maxLength=64)}],
                "responses": {"200": _ok("The order", ref("OrderDetail")), "404": _err("No such order"),
                              **common_errors}}},
            "/search": {"get": {
                "operationId": "search", "summary": "Orders (each parcel, or the order waiting to ship) by order "
                                                    "number, email (any case), phone (any formatting) or tracking "
                                                    "number",
                "parameters": [{"name": "q", "in": "query", "required": True, "schema": s("string", maxLength=254)}],
                "responses": {"200": _ok("Matches (exact)", {"type": "object", "properties": {
                    "query": s("string"), "results": {"type": "array", "items": ref("Shipment")}}}),
                    **common_errors}}},
            "/shipments/{shipment_id}/recheck": {"post": {
                "operationId": "recheckShipment",
                "summary": "Check with the carrier now (also resumes a stopped shipment)",
                "parameters": [id_param("shipment_id", "shipment id")],
                "responses": {"202": _ok("Queued for a check now", {"type": "object", "properties": {
                    "shipment": ref("Shipment")}}), "404": _err("No such shipment"), **common_errors}}},
            "/shipments/{shipment_id}/stop": {"post": {
                "operationId": "stopShipment", "summary": "Stop tracking: no more checks and no more messages",
                "parameters": [id_param("shipment_id", "shipment id")],
                "responses": {"200": _ok("Stopped", {"type": "object", "properties": {
                    "shipment": ref("Shipment")}}), "404": _err("No such shipment"), **common_errors}}},
            "/notifications/{notification_id}/resend": {"post": {
                "operationId": "resendNotification", "summary": "Send a notification again, now",
                "parameters": [id_param("notification_id", "notification id")],
                "responses": {"202": _ok("Queued", {"type": "object", "properties": {
                    "notification": ref("Notification")}}), "404": _err("No such notification"),
                    "409": _err("Being sent right now"), **common_errors}}},
            "/orders/{number}/reply": {"post": {
                "operationId": "answerOrder",
                "summary": "Answer the order's customer on the channel they last wrote on (through the outbox)",
                "parameters": [{"name": "number", "in": "path", "required": True, "schema": s("string")}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": answer}}},
                "responses": {"202": _ok("Queued", {"type": "object"}), "404": _err("No such order"),
                              **common_errors}}},
            "/cases": {"get": {
                "operationId": "listCases", "summary": "Open cases, oldest first",
                "responses": {"200": _ok("Open cases", {"type": "object"}), **common_errors}}},
            "/cases/{case_id}/reply": {"post": {
                "operationId": "answerCase", "summary": "Answer the customer of a case on their channel",
                "parameters": [id_param("case_id", "case id")],
                "requestBody": {"required": True, "content": {"application/json": {"schema": answer}}},
                "responses": {"202": _ok("Queued", {"type": "object"}), "404": _err("No such case"),
                              **common_errors}}},
            "/cases/{case_id}/close": {"post": {
                "operationId": "closeCase", "summary": "Close a case",
                "parameters": [id_param("case_id", "case id")],
                "responses": {"200": _ok("Closed", {"type": "object"}), "404": _err("No such case"),
                              **common_errors}}},
            "/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This document", "security": [],
                "responses": {"200": _ok("OpenAPI 3 document", {"type": "object"})}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Registration": registration,
                "ErrorDetail": {"type": "object", "properties": {
                    "field": s("string"), "problem": s("string"), "fix": s("string")}},
                "Error": {"type": "object", "properties": {"error": ref("ErrorDetail")}},
                "Shipment": {"type": "object", "properties": {
                    "id": s("integer"), "order_number": s("string"), "carrier": s("string"),
                    "tracking_number": s("string"), "status": s("string"), "status_text": s("string"),
                    "tracking_stopped": s("boolean"), "expected_delivery": nullable("string", format="date"),
                    "next_check_at": nullable("string", format="date-time"), "tracking_url": s("string")}},
                "Notification": {"type": "object", "properties": {
                    "id": s("integer"), "milestone": s("string"), "channel": s("string"), "state": s("string"),
                    "attempts": s("integer"), "error": nullable("string")}},
                "OrderDetail": {"type": "object", "properties": {
                    "order": {"type": "object"},
                    "shipments": {"type": "array", "items": {"allOf": [ref("Shipment"), {"type": "object", "properties": {
                        "events": {"type": "array", "items": {"type": "object"}},
                        "notifications": {"type": "array", "items": ref("Notification")}}}]}},
                    "notifications": {"type": "array", "items": ref("Notification"),
                                      "description": "news about the order before it has a parcel"}}},
            },
        },
    }
