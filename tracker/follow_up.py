"""The follow-up email's one-click rating links: `/rate/<shipment public token>/<score>?sig=<HMAC>`, the
HMAC-SHA256 (key `follow_up.secret`) of the token and the score, so nobody can rate a shipment, or
change the score, without the email. Built here for the templates; answered by tracker/web/rating.py."""

from __future__ import annotations

import base64
import hashlib
import hmac

from tracker.config import Settings
from tracker.models import Shipment

LABELS = {5: "Excellent", 4: "Good", 3: "OK", 2: "Poor", 1: "Bad"}


def sign(secret: str, token: str, score: int) -> str:
    mac = hmac.new(secret.encode(), f"rate|{token}|{score}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode().rstrip("=")


def verify(secret: str, token: str, score: int, sig: str) -> bool:
    return bool(secret) and hmac.compare_digest(sign(secret, token, score), sig or "")


def rating_links(settings: Settings, ship: Shipment) -> list[dict]:
    """[{score, label, url}] best first, for the follow-up template."""
    base = settings.server.public_url.rstrip("/")
    secret = settings.follow_up.secret
    return [dict(score=s, label=LABELS[s], url=f"{base}/rate/{ship.public_token}/{s}?sig={sign(secret, ship.public_token, s)}")
            for s in sorted(LABELS, reverse=True)]
