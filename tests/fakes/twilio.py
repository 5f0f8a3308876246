"""A fake Twilio REST API (the Messages endpoint) that the real `twilio` SDK talks to, on 127.0.0.1.

It records every accepted message, can inject 429 / 5xx / hangs / Twilio error codes, refuse given
numbers permanently, and play Twilio's side of the webhooks: signed status callbacks and inbound SMS.

    async with FakeTwilio(auth_token="...") as tw:
        settings: providers.twilio.base_url = tw.url
        tw.inject(Fault(429, {...}, {"Retry-After": "5"}))     # or tw.fail_next(...)
        tw.refuse("+14155550101", 21610)
"""

from __future__ import annotations

import base64
import itertools
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

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create_message)
        app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self.list_messages)
        # base_url http://127.0.0.1:PORT/NAME: the same account, each message marked with who sent it
        app.router.add_post("/{via}/2010-04-01/Accounts/{sid}/Messages.json", self.create_message)
        app.router.add_get("/{via}/2010-04-01/Accounts/{sid}/Messages.json", self.list_messages)

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
        if not form.get("Body") or not (form.get("From") or form.get("MessagingServiceSid")):
            return web.json_response({"code": 21602, "message": "Message body is required", "status": 400},
                                     status=400)
        sid = f"SM{next(self._sids):032x}"
        form["sid"] = sid
        form["_created"] = self.now()
        form["_via"] = request.match_info.get("via", "")
        self.messages.append(form)
        self.accepted(form)
        return web.json_response(self._resource(form), status=201)

    def _resource(self, form: dict) -> dict:
        sid = form["sid"]
        return {
            "sid": sid, "account_sid": self.account_sid, "to": form.get("To"), "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "body": form["Body"],
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
        found = [self._resource(m) for m in reversed(self.messages) if to is None or m.get("To") == to][:size]
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
        params = {"MessageSid": sid or f"SM{next(self._sids):032x}", "AccountSid": self.account_sid,
                  "From": sender, "To": to, "Body": body, "NumMedia": "0"}
        return await self.post_signed(url, params, **kw)
