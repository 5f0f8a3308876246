"""SendGrid Inbound Parse: a signed multipart/form-data POST -> `Inbound`. Pure.

Parsed mode gives the fields `from`, `to`, `subject`, `text`, `html`, `headers` (the raw header block),
`envelope` (JSON), `charsets` (JSON), `attachments` (a count) and the files; raw mode (send_raw) gives
`email`, the whole MIME message, instead of headers/text/html. Either way the sender, the text, the
Message-ID (threading and deduplication) and the auto-responder signs come out of it.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from email import message_from_bytes, policy
from email.message import Message as MimeMessage
from email.parser import HeaderParser
from email.utils import parseaddr

from tracker.conversations.inbound import Inbound

TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.IGNORECASE | re.DOTALL)
AUTO_SUBJECT = re.compile(r"^\s*(auto:|automatic reply|autoreply|out of office|respuesta autom[aá]tica|"
                          r"resposta autom[aá]tica|fuera de la oficina|αυτόματη απάντηση|undeliverable|"
                          r"delivery status notification|mail delivery failed)", re.IGNORECASE)
ROBOT_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)[@+]", re.IGNORECASE)


class ParseError(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field, self.problem = field, problem


def form_fields(raw: bytes, content_type: str) -> dict[str, bytes]:
    """The fields of a multipart/form-data body (files included, by field name)."""
    if "multipart/form-data" not in content_type.lower() or "boundary=" not in content_type.lower():
        raise ParseError("Content-Type", "expected multipart/form-data with a boundary (SendGrid Inbound Parse)")
    mime = message_from_bytes(b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + raw,
                              policy=policy.compat32)
    if not mime.is_multipart():
        raise ParseError("body", "the multipart body has no parts")
    out: dict[str, bytes] = {}
    for part in mime.get_payload():
        if not isinstance(part, MimeMessage):
            continue
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        out[str(name)] = payload if isinstance(payload, bytes) else str(part.get_payload()).encode()
    return out


def _text(fields: dict[str, bytes], name: str, charsets: dict) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    charset = str(charsets.get(name) or "utf-8")
    try:
        return value.decode(charset, "replace")
    except LookupError:
        return value.decode("utf-8", "replace")


def _plain(html_text: str) -> str:
    return html.unescape(TAGS.sub(" ", html_text))


def _from_mime(raw: bytes) -> tuple[MimeMessage, str]:
    msg = message_from_bytes(raw, policy=policy.default)
    body = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        try:
            text = body.get_content()
        except (LookupError, ValueError):
            text = ""
        if body.get_content_type() == "text/html":
            text = _plain(text)
    return msg, text


def automatic(headers, sender: str, subject: str) -> bool:
    """Auto-responders and robots (RFC 3834 Auto-Submitted, Precedence, Microsoft's suppress header,
    list mail, empty return path, mailer-daemon): never answered, or two robots talk forever."""
    auto = (headers.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return True
    if (headers.get("Precedence") or "").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return True
    if re.search(r"\b(oof|autoreply|all)\b", headers.get("X-Auto-Response-Suppress") or "", re.IGNORECASE):
        return True
    if any(headers.get(h) is not None for h in ("X-Autoreply", "X-Autorespond", "X-Autoreply-From", "List-Id",
                                                "List-Unsubscribe")):
        return True
    if (headers.get("Return-Path") or "").strip() == "<>":
        return True
    return bool(ROBOT_SENDERS.match(sender) or AUTO_SUBJECT.match(subject))


def parse(raw: bytes, content_type: str) -> Inbound:
    """The customer's email as an Inbound, or ParseError naming what is missing."""
    fields = form_fields(raw, content_type)
    try:
        charsets = json.loads(_text(fields, "charsets", {}) or "{}")
    except ValueError:
        charsets = {}
    charsets = charsets if isinstance(charsets, dict) else {}
    if "email" in fields:  # raw mode: the whole MIME message
        mime, text = _from_mime(fields["email"])
        headers = mime
        subject = str(mime.get("Subject") or _text(fields, "subject", charsets))
    else:
        headers = HeaderParser().parsestr(_text(fields, "headers", charsets))
        text = _text(fields, "text", charsets) or _plain(_text(fields, "html", charsets))
        subject = _text(fields, "subject", charsets)
    sender = parseaddr(_text(fields, "from", charsets) or str(headers.get("From") or ""))[1]
    if not sender:
        try:
            sender = str(json.loads(_text(fields, "envelope", charsets) or "{}").get("from") or "")
        except (ValueError, AttributeError):
            sender = ""
    if "@" not in sender:
        raise ParseError("from", "no sender address in the email (from, or envelope.from)")
    message_id = str(headers.get("Message-ID") or headers.get("Message-Id") or "").strip()
    if not message_id:  # deduplication still needs a stable id
        message_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    try:
        attachments = int(_text(fields, "attachments", charsets) or 0)
    except ValueError:
        attachments = 0
    # one conversation per mailbox, however its owner capitalises it
    return Inbound("email", sender.strip().lower(), text, provider_id=message_id[:255], subject=subject,
                   automatic=automatic(headers, sender, subject), attachments=max(0, min(attachments, 1000)))
