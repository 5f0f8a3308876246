"""Redaction for log lines and console output: never a full phone number or email address."""

from __future__ import annotations


def phone(value: str | None) -> str:
    if not value:
        return "-"
    digits = value.lstrip("+")
    if len(digits) <= 4:
        return "+" + "•" * len(digits)
    return f"+{digits[:1]}{'•' * (len(digits) - 3)}{digits[-2:]}"


def email(value: str | None) -> str:
    if not value:
        return "-"
    local, _, domain = value.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def address(channel: str, value: str | None) -> str:
    return phone(value) if channel in ("sms", "whatsapp") else email(value)
