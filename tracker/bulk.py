"""Many registrations at once, for every intake (HTTP API, CSV import, shop webhooks).

Each item goes through `validate_item()` (orders.validate() with the shop's defaults) then
`orders.register_batch()`, which writes a whole batch in a few statements: one bad item never leaves the
others half-written; the batch commits every good item and reports every bad one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from tracker.config import Settings
from tracker.orders import (
    CONTACT,
    InputError,
    Outcome,
    Registration,
    register_batch,
    validate,
)
from tracker.routing import accepted_carriers, router

__all__ = ["FIELDS", "Outcome", "carriers_of", "field_name", "register_batch", "validate_item"]

FIELDS = ("order_number", "carrier", "tracking_number", "email", "phone", "locale", "timezone", "channels", "country",
          "tracking_url")


def field_name(key: str) -> str:
    """A field name fit to show back in an error (never empty, never huge)."""
    return key[:64] if key.strip() else "(unnamed field)"


def carriers_of(settings: Settings) -> tuple[list[str], Callable]:
    """The accepted carriers and the router, worked out once for a whole batch of validate_item()."""
    return accepted_carriers(settings), lru_cache(maxsize=256)(router(settings))  # same carrier, same route


def validate_item(settings: Settings, data: dict[str, Any], *, null_clears: bool = False,
                  carriers: tuple[list[str], Callable] | None = None, untrackable: bool = False) -> Registration:
    """validate() with the shop's defaults. `data` holds the FIELDS; anything else is refused.

    A field left out is not given (a known order keeps its value); with `null_clears` a contact field
    given as None is cleared (the API's JSON null, the CSV's clear token), otherwise None = left out.
    """
    for key, value in data.items():
        if key not in FIELDS:
            raise InputError(field_name(key), f"{key[:64]!r} is not a known field", f"use only {', '.join(FIELDS)}")
        if key == "channels":
            if value is not None and not isinstance(value, str | list):
                raise InputError(key, "must be a list such as [\"sms\", \"email\"] or a string \"sms,email\"",
                                 "send a list of channel names")
            if isinstance(value, list) and not all(isinstance(v, str) for v in value):
                raise InputError(key, "holds something other than channel names", "use \"sms\" and/or \"email\"")
        elif value is not None and not isinstance(value, str):
            raise InputError(key, f"must be a string, not {type(value).__name__}", "send it as a JSON string")
        elif isinstance(value, str) and len(value) > 1000:
            raise InputError(key, "is longer than 1000 characters", "send the plain value")
    clear = [k for k in CONTACT if k in data and data[k] is None] if null_clears else []
    known, route = carriers or carriers_of(settings)
    s = settings.shop
    return validate(
        order_number=data.get("order_number"), carrier=data.get("carrier"),
        tracking_number=data.get("tracking_number"), email=data.get("email"), phone=data.get("phone"),
        locale=data.get("locale"), timezone=data.get("timezone"), channels=data.get("channels"), clear=clear,
        known_carriers=known, route=route, default_locale=s.default_locale,
        default_channels=s.default_channels, default_region=s.default_region, country=data.get("country"),
        tracking_url=data.get("tracking_url"), untrackable=untrackable)
