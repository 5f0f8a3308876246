"""A fake Twilio REST API (the Messages endpoint) that the real `twilio` SDK talks to, on 127.0.0.1.

It records every accepted message, can inject 429 / 5xx / hangs / Twilio error codes, refuse given
numbers permanently, and play Twilio's side of the webhooks: signed status callbacks and inbound SMS.

It speaks the WhatsApp form too: `From`/`To` both `whatsapp:+E164`; a business-initiated message is a
`ContentSid` (HX + 32 hex, one of `approved` when that set is given) with `ContentVariables` (a JSON
object string of at most 100 values, 21654 without a ContentSid); free-form `Body` is accepted but fails
with 63016 (reported by status callback, as Twilio does) unless the customer wrote within 24 hours
(`inbound()` to a whatsapp: sender opens that session, on the fake's clock).

Twilio's Content API lives here too (`GET /v1/Content/{HX...}`, the resource of content.twilio.com): a
template added with `add_template(sid, body)` is served with its `types["twilio/text"].body`, and a
message sent with it is listed with that body, its `{{n}}` filled from ContentVariables, as Twilio lists
a template message (the create answer's `body` is "" with a MessagingServiceSid, as Twilio answers).
`list_template_text = False` lists them with an empty body instead.

    async with FakeTwilio(auth_token="...") as tw:
        settings: providers.twilio.base_url = tw.url
        tw.inject(Fault(429, {...}, {"Retry-After": "5"}))     # or tw.fail_next(...)
        tw.refuse("+14155550101", 21610)
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import format_datetime
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from tests.fakes._base import Fault, FakeServer

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "fake-twilio-auth-token"


def twilio_error(code: int, message: str = "error", status: int = 400) -> Fault:
    return Fault(status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                          "status": status})


class FakeTwilio(FakeServer):
    def __init__(self, *, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN, latency: float = 0.0,
                 now: Callable[[], float] = time.time) -> None:
        super().__init__(latency=latency, now=now)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict] = []  # form fields of each accepted message, plus "sid"
        self.refused: dict[str, int] = {}  # number -> Twilio error code, for every send to it
        self.lookups = 0  # GETs of the message list
        self._sids = itertools.count(1)
        self.sessions: dict[str, float] = {}  # whatsapp:+... -> when the customer last wrote (fake's clock)
        self.approved: set[str] | None = None  # ContentSids WhatsApp approved; None: any well-formed one
        self.fates: list[tuple[dict, str, str]] = []  # (message, status, error code) to report by callback
        self.contents: dict[str, dict] = {}  # HX... -> Content API resource
        self.content_fetches = 0
        self.list_template_text = True

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create_message)
        app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self.list_messages)
        # base_url http://127.0.0.1:PORT/NAME: the same account, each message marked with who sent it
        app.router.add_post("/{via}/2010-04-01/Accounts/{sid}/Messages.json", self.create_message)
        app.router.add_get("/{via}/2010-04-01/Accounts/{sid}/Messages.json", self.list_messages)
        app.router.add_get("/v1/Content/{content}", self.fetch_content)
        app.router.add_get("/{via}/v1/Content/{content}", self.fetch_content)

    # --- Content API -------------------------------------------------------------------------------
    def add_template(self, sid: str, body: str, *, language: str = "en", defaults: dict | None = None) -> None:
        self.contents[sid] = {
            "sid": sid, "account_sid": self.account_sid, "friendly_name": f"tracker_{sid[-6:]}",
            "language": language, "variables": defaults or {}, "types": {"twilio/text": {"body": body}},
            "url": f"https://content.twilio.com/v1/Content/{sid}", "date_created": "2026-01-05T10:00:00Z",
            "date_updated": "2026-01-05T10:00:00Z",
            "links": {"approval_create": f"https://content.twilio.com/v1/Content/{sid}/ApprovalRequests/whatsapp",
                      "approval_fetch": f"https://content.twilio.com/v1/Content/{sid}/ApprovalRequests"}}

    async def fetch_content(self, request: web.Request) -> web.Response:
        self.content_fetches += 1
        if not self._authorized(request):
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        content = self.contents.get(request.match_info["content"])
        if content is None:
            return web.json_response({"code": 20404, "message": "The requested resource was not found",
                                      "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404},
                                     status=404)
        return web.json_response(content)

    def rendered(self, form: dict) -> str:
        """A template message's text as Twilio fills it in ("" for a template it does not know)."""
        content = self.contents.get(form.get("ContentSid", ""))
        if content is None:
            return ""
        values = {**content["variables"], **json.loads(form.get("ContentVariables") or "{}")}
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(values.get(m.group(1), m.group(0))),
                      content["types"]["twilio/text"]["body"])

    # --- injection ---------------------------------------------------------------------------------
    def fail_next(self, status: int = 500, *, code: int | None = None, times: int = 1,
                  retry_after: float | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {"code": code or status, "message": "injected", "more_info": "", "status": status} \
            if status < 500 else "<html>upstream error</html>"
        self.inject(Fault(status, body, headers), times)

    def hang_next(self, seconds: float = 5.0, times: int = 1) -> None:
        self.inject(Fault(504, "gateway timeout", hang=seconds), times)

    def lose_reply_next(self, status: int = 500, *, hang: float | None = None) -> None:
        """Take the next message (it goes out) but answer as if it failed: the ambiguous case."""
        self.inject(Fault(status, "<html>upstream error</html>", hang=hang, accept=True))

    def refuse(self, number: str, code: int) -> None:
        self.refused[number] = code

    # --- the endpoint ------------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return (user == self.account_sid and password == self.auth_token) or user.startswith("SK")

    async def create_message(self, request: web.Request) -> web.Response:
        self.draw()
        failed = await self.took_then_failed(request, self._accept)
        if failed is not None:
            return failed
        fault = await self._fault()
        if fault is not None and fault.status >= 300:
            return fault
        return await self._accept(request)

    async def _accept(self, request: web.Request) -> web.Response:
        if not self._authorized(request) or request.match_info["sid"] != self.account_sid:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        form = dict(parse_qsl(await request.text()))
        to = form.get("To", "")
        if to in self.refused:
            code = self.refused[to]
            return web.json_response({"code": code, "message": f"refused ({code})", "status": 400}, status=400)
        if to.startswith("whatsapp:") or form.get("From", "").startswith("whatsapp:"):
            refusal = self._whatsapp_refusal(form)
            if refusal is not None:
                code, message = refusal
                return web.json_response({"code": code, "message": message, "status": 400,
                                          "more_info": f"https://www.twilio.com/docs/errors/{code}"}, status=400)
        elif not form.get("Body") or not (form.get("From") or form.get("MessagingServiceSid")):
            return web.json_response({"code": 21602, "message": "Message body is required", "status": 400},
                                     status=400)
        sid = f"SM{next(self._sids):032x}"
        form["sid"] = sid
        form["_created"] = self.now()
        form["_via"] = request.match_info.get("via", "")
        self.messages.append(form)
        if to.startswith("whatsapp:") and not form.get("ContentSid") and not self._in_session(to):
            self.fates.append((form, "failed", "63016"))  # Twilio takes it, then WhatsApp refuses it
        self.accepted(form)
        return web.json_response(self._resource(form), status=201)

    def _in_session(self, to: str) -> bool:
        last = self.sessions.get(to)
        return last is not None and self.now() - last < 24 * 3600

    def _whatsapp_refusal(self, form: dict) -> tuple[int, str] | None:
        to, sender = form.get("To", ""), form.get("From", "")
        if not to.startswith("whatsapp:") or (sender and not sender.startswith("whatsapp:")):
            return 63007, "Twilio could not find a Channel with the specified From address"
        if not sender and not form.get("MessagingServiceSid"):
            return 21603, "A 'From' phone number is required"
        if form.get("ContentVariables") and not form.get("ContentSid"):
            return 21654, "ContentVariables were given without a ContentSid"
        sid = form.get("ContentSid")
        if sid:
            if not re.fullmatch(r"HX[0-9a-fA-F]{32}", sid) or (self.approved is not None and sid not in self.approved):
                return 21655, f"The ContentSid {sid} is invalid or not approved"
            if form.get("Body"):
                return 21619, "Body and ContentSid cannot be combined"
            try:
                variables = json.loads(form.get("ContentVariables") or "{}")
            except ValueError:
                return 21656, "ContentVariables is not valid JSON"
            if not isinstance(variables, dict) or len(variables) > 100 or \
                    not all(isinstance(v, str) for v in variables.values()):
                return 21656, "ContentVariables must be a JSON object of at most 100 string values"
        elif not form.get("Body"):
            return 21602, "Message body is required"
        return None

    async def report_fates(self) -> None:
        """Send the status callbacks of messages WhatsApp refused after Twilio took them (63016)."""
        fates, self.fates = self.fates, []
        for message, status, code in fates:
            if message.get("StatusCallback"):
                await self.status_callback(message, status, code)

    def _resource(self, form: dict, *, listed: bool = False) -> dict:
        sid = form["sid"]
        body = form.get("Body")
        if form.get("ContentSid"):
            body = self.rendered(form) if (listed and self.list_template_text) or (
                not listed and not form.get("MessagingServiceSid")) else ""
        return {
            "sid": sid, "account_sid": self.account_sid, "to": form.get("To"), "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "body": body,
            "status": "accepted" if form.get("MessagingServiceSid") else "queued", "num_segments": "1",
            "error_code": None, "error_message": None, "direction": "outbound-api",
            # RFC 2822, as Twilio writes them; date_sent stays null while the message waits in Twilio's queue
            "date_created": format_datetime(datetime.fromtimestamp(form.get("_created", 0), timezone.utc), usegmt=True),
            "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

    async def list_messages(self, request: web.Request) -> web.Response:
        """GET Messages.json?To=...: newest first, one page. (Injected faults are for sends only.)"""
        self.lookups += 1
        if not self._authorized(request):
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        to = request.query.get("To")
        size = int(request.query.get("PageSize", "50"))
        found = [self._resource(m, listed=True) for m in reversed(self.messages)
                 if to is None or m.get("To") == to][:size]
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        return web.json_response({"messages": found, "next_page_uri": None, "previous_page_uri": None,
                                  "first_page_uri": uri, "page": 0, "page_size": size, "start": 0,
                                  "end": max(0, len(found) - 1), "uri": uri})

    def to(self, number: str) -> list[dict]:
        return [m for m in self.messages if m.get("To") == number]

    # --- Twilio's side of the webhooks -------------------------------------------------------------
    def sign(self, url: str, params: dict) -> str:
        return RequestValidator(self.auth_token).compute_signature(url, params)

    async def post_signed(self, url: str, params: dict, *, tamper: bool = False,
                          headers: dict | None = None) -> aiohttp.ClientResponse:
        signature = self.sign(url, params)
        if tamper:
            params = {**params, "MessageStatus": "delivered", "Body": "START"}
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=params,
                                    headers={"X-Twilio-Signature": signature, **(headers or {})}) as r:
                await r.read()
                return r

    async def status_callback(self, message: dict, status: str, error_code: str | None = None,
                              **kw) -> aiohttp.ClientResponse:
        params = {"MessageSid": message["sid"], "MessageStatus": status, "SmsStatus": status,
                  "AccountSid": self.account_sid, "To": message.get("To", ""), "From": message.get("From", "")}
        if error_code:
            params["ErrorCode"] = error_code
        return await self.post_signed(message["StatusCallback"], params, **kw)

    async def inbound(self, url: str, sender: str, body: str, to: str = "+15005550006",
                      sid: str | None = None, **kw) -> aiohttp.ClientResponse:
        if sender.startswith("whatsapp:"):
            self.sessions[sender] = self.now()
            to = to if to.startswith("whatsapp:") else f"whatsapp:{to}"
        params = {"MessageSid": sid or f"SM{next(self._sids):032x}", "AccountSid": self.account_sid,
                  "From": sender, "To": to, "Body": body, "NumMedia": "0"}
        return await self.post_signed(url, params, **kw)
