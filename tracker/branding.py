"""The shop's look and name, from config to the parts that show them (email layout, SendGrid From name).

Channels never read config, so the daemon hands them these values when it builds them.
"""

from __future__ import annotations

from typing import Any

from tracker.config import Settings
from tracker.notify import CHANNELS
from tracker.notify.render import Brand


def brand(settings: Settings) -> Brand:
    shop = settings.shop
    return Brand(logo_url=shop.logo_url, primary=shop.colors.primary, on_primary=shop.colors.on_primary,
                 background=shop.colors.background)


def sender_name(settings: Settings) -> str:
    return settings.shop.sender_name or settings.shop.name


def with_sender(provider: str, raw: dict[str, Any] | None, settings: Settings) -> dict[str, Any]:
    """A provider's settings with the shop's sender name as its From name, unless it names its own."""
    raw = dict(raw or {})
    if "from_name" in CHANNELS[provider].Settings.model_fields and not raw.get("from_name"):
        raw["from_name"] = sender_name(settings)
    return raw
