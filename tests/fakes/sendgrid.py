"""A fake SendGrid v3 Mail Send API on 127.0.0.1, plus SendGrid's side of the signed Event Webhook.

    async with FakeSendGrid() as sg:
        settings: providers.sendgrid.base_url = sg.url, webhook_public_key = sg.public_key_b64
        sg.fail_next(429, reset_in=30)         # X-RateLimit-Reset = now + 30
        await sg.send_events(url, [sg.event(mail, "bounce")])
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Callable

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes._base import Fault, FakeServer

API_KEY = "SG.fake-key"


class FakeSendGrid(FakeServer):
    def __init__(self, *, api_key: str = API_KEY, latency: float = 0.0,
                 now: Callable[[], float] = time.time) -> None:
        super().__init__(latency=latency, now=now)
        self.api_key = api_key
        self.mails: list[dict] = []  # JSON bodies accepted, each with "_message_id"
        self.refused: dict[str, int] = {}  # address -> HTTP status
        self._ids = itertools.count(1)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.public_key_b64 = base64.b64encode(self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v3/mail/send", self.mail_send)
        app.router.add_post("/{via}/v3/mail/send", self.mail_send)  # who sent it, as for FakeTwilio

    # --- injection ---------------------------------------------------------------------------------
    def fail_next(self, status: int = 500, *, times: int = 1, reset_in: float | None = None,
                  retry_after: float | None = None) -> None:
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        message = {429: "too many requests", 400: "The to email does not contain a valid address.",
                   401: "The provided authorization grant is invalid, expired, or revoked",
                   403: "access forbidden"}.get(status, "internal error")
        body = {"errors": [{"message": message, "field": None, "help": None}]} if status < 500 else "oops"
        self.inject(Fault(status, body, headers, reset_in=reset_in), times)

    def hang_next(self, seconds: float = 5.0, times: int = 1) -> None:
        self.inject(Fault(504, "gateway timeout", hang=seconds), times)

    def lose_reply_next(self, status: int = 500, *, hang: float | None = None) -> None:
        """Take the next mail (it goes out) but answer as if it failed: the ambiguous case."""
        self.inject(Fault(status, "oops", hang=hang, accept=True))

    def refuse(self, address: str, status: int = 400) -> None:
        self.refused[address] = status

    # --- the endpoint ------------------------------------------------------------------------------
    async def mail_send(self, request: web.Request) -> web.Response:
        self.draw()
        failed = await self.took_then_failed(request, self._accept)
        if failed is not None:
            return failed
        fault = await self._fault()
        if fault is not None and fault.status >= 300:
            return fault
        return await self._accept(request)

    async def _accept(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"errors": [{"message": "authorization required", "field": None}]}, status=401)
        body = await request.json()
        to = [t["email"] for p in body.get("personalizations", []) for t in p.get("to", [])]
        for address in to:
            if address in self.refused:
                status = self.refused[address]
                return web.json_response({"errors": [{"message": "invalid address", "field": "personalizations.0.to"}]},
                                         status=status)
        if not body.get("subject") or not body.get("content"):
            return web.json_response({"errors": [{"message": "subject and content are required"}]}, status=400)
        message_id = f"fake{next(self._ids):012d}"
        body["_message_id"] = message_id
        body["_via"] = request.match_info.get("via", "")
        self.mails.append(body)
        self.accepted(body)
        return web.Response(status=202, headers={"X-Message-Id": message_id})

    def to(self, address: str) -> list[dict]:
        return [m for m in self.mails
                if any(t["email"] == address for p in m["personalizations"] for t in p["to"])]

    @staticmethod
    def text_of(mail: dict, mime: str = "text/plain") -> str:
        return next(c["value"] for c in mail["content"] if c["type"] == mime)

    # --- SendGrid's side of the Event Webhook ------------------------------------------------------
    def event(self, mail: dict, kind: str, **extra) -> dict:
        to = mail["personalizations"][0]["to"][0]["email"]
        return {"email": to, "timestamp": int(self.now()), "event": kind,
                "sg_event_id": f"ev-{next(self._ids)}", "sg_message_id": f"{mail['_message_id']}.filter0001",
                **mail.get("custom_args", {}), **extra}

    def sign(self, raw: bytes, timestamp: str) -> str:
        return base64.b64encode(self._key.sign(timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))).decode()

    async def send_events(self, url: str, events: list[dict], *, timestamp: int | None = None,
                          tamper: bool = False, signature: str | None = None) -> aiohttp.ClientResponse:
        raw = json.dumps(events).encode()
        ts = str(int(self.now()) if timestamp is None else timestamp)
        sig = signature if signature is not None else self.sign(raw, ts)
        if tamper:
            raw = raw.replace(b'"delivered"', b'"bounce"').replace(b'"bounce"', b'"spamreport"') + b" "
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=raw, headers={
                    "Content-Type": "application/json",
                    "X-Twilio-Email-Event-Webhook-Signature": sig,
                    "X-Twilio-Email-Event-Webhook-Timestamp": ts}) as r:
                await r.read()
                return r

    # --- SendGrid's side of Inbound Parse (a customer's email reply) -------------------------------
    async def inbound_parse(self, url: str, sender: str, text: str, *, subject: str = "Re: your order",
                            to: str = "replies@reply.shop.example", headers: dict | None = None,
                            message_id: str | None = None, attachments: int = 0, tamper: bool = False,
                            timestamp: int | None = None, signed: bool = True,
                            html: str | None = None) -> aiohttp.ClientResponse:
        """POST a parsed email as Inbound Parse does: multipart/form-data (headers, from, to, subject, text,
        envelope, charsets, attachments...), signed with the security policy's key over timestamp + body."""
        mid = message_id or f"<reply-{next(self._ids)}@mail.customer.example>"
        head = {"Message-ID": mid, "From": sender, "To": to, "Subject": subject, **(headers or {})}
        fields = {"headers": "".join(f"{k}: {v}\n" for k, v in head.items()), "dkim": "{@customer.example : pass}",
                  "to": to, "from": sender, "subject": subject, "sender_ip": "127.0.0.1", "SPF": "pass",
                  "envelope": json.dumps({"to": [to], "from": sender.split("<")[-1].rstrip(">")}),
                  "charsets": json.dumps({"to": "UTF-8", "html": "UTF-8", "subject": "UTF-8", "from": "UTF-8",
                                          "text": "UTF-8"}),
                  "attachments": str(attachments)}
        if text is not None:
            fields["text"] = text
        if html is not None:
            fields["html"] = html
        form = aiohttp.FormData(charset="utf-8", default_to_multipart=True)
        for k, v in fields.items():
            form.add_field(k, v)
        for i in range(1, attachments + 1):
            form.add_field(f"attachment{i}", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), filename=f"photo{i}.png",
                           content_type="image/png")
        payload = form()
        body = bytearray()

        class _Sink:
            async def write(self, data: bytes) -> None:
                body.extend(data)

        await payload.write(_Sink())
        raw = bytes(body)
        ts = str(int(self.now()) if timestamp is None else timestamp)
        sig = self.sign(raw, ts)
        if tamper:
            raw = raw.replace(b"\r\n\r\n", b"\r\n\r\nX", 1)
        hdrs = {"Content-Type": payload.headers["Content-Type"]}
        if signed:
            hdrs |= {"X-Twilio-Email-Event-Webhook-Signature": sig, "X-Twilio-Email-Event-Webhook-Timestamp": ts}
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=raw, headers=hdrs) as r:
                await r.read()
                return r
