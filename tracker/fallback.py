"""Which channel a message takes when its own cannot carry it (a permanent failure, a missing WhatsApp
template): WhatsApp -> SMS -> email, SMS <-> email. WhatsApp is never a fallback: outside a session it
needs a template per milestone, and the customer chose it on purpose."""

from __future__ import annotations

from typing import Protocol

FALLBACK: dict[str, tuple[str, ...]] = {"whatsapp": ("sms", "email"), "sms": ("email",), "email": ("sms",)}


class Contact(Protocol):
    email: str | None
    phone: str | None


def address(order: Contact, channel: str) -> str | None:
    """Where a channel reaches the order's customer: the phone for SMS and WhatsApp, else the email."""
    return order.email if channel == "email" else order.phone


def fallbacks(order: Contact, failed: str) -> list[tuple[str, str]]:
    """(channel, address) to try after `failed`, best first, only those the order has an address for."""
    return [(c, a) for c in FALLBACK.get(failed, ()) if (a := address(order, c))]
